#!/usr/bin/env python3
"""Checks the workspace's layout rules (ARCHITECTURE.md, "Code map"):

- no import circle between the modules (files) of any crate, nor between the server's
  top-level folders;
- in passbroker-server, no file under `http/` is used from `pipeline/` or `ops/`, and
  `pipeline/` uses nothing from `ops/`;
- no non-test function over 100 lines, no non-test source file over 500 lines, no two
  non-test files with the same name in one crate.

`--report` prints the measurements (cycles, the longest functions and files) without failing.
Crates listed in SKIP (none today) are measured but not enforced. Plain Python, no dependencies: it reads
`crate::` paths (in `use` lines and in code) and brace-matches `fn` bodies.
"""
import os
import re
import sys
from collections import defaultdict

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MAX_FN = 100
MAX_FILE = 500
SKIP: set[str] = set()
LAYER_RULES = {
    # crate: (folder, folders it must not use)
    "passbroker-server": [("pipeline", {"http", "ops"}), ("ops", {"http"})],
}


def crate_dirs():
    base = os.path.join(ROOT, "crates")
    for name in sorted(os.listdir(base)):
        src = os.path.join(base, name, "src")
        if os.path.isdir(src):
            yield name, src


def rust_files(src):
    for dirpath, _, files in os.walk(src):
        for f in sorted(files):
            if f.endswith(".rs"):
                yield os.path.join(dirpath, f)


def module_of(src, path):
    """`src/a/b.rs` and `src/a/b/mod.rs` -> ('a', 'b'); lib.rs/main.rs -> ()."""
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel in (["lib"], ["main"]):
        rel = []
    return tuple(rel)


def is_test_file(path):
    name = os.path.basename(path)
    parts = path.split(os.sep)
    return name == "tests.rs" or name.endswith("_tests.rs") or "tests" in parts[-2:-1]


def strip_comments_and_strings(text):
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r(#*)"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]) or text.startswith("'\\u{", i):
            j = text.find("'", i + 1 if not text.startswith("'\\", i) else i + 3) + 1
            out.append(" " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def test_blocks(code):
    """Line ranges (1-based, inclusive) of `#[cfg(test)]` items."""
    ranges = []
    for m in re.finditer(r"#\[cfg\(test\)\]", code):
        start = code.count("\n", 0, m.start()) + 1
        brace = code.find("{", m.end())
        semi = code.find(";", m.end())
        if semi >= 0 and (brace < 0 or semi < brace):
            ranges.append((start, code.count("\n", 0, semi) + 1))
            continue
        end = match_brace(code, brace)
        ranges.append((start, code.count("\n", 0, end) + 1))
    return ranges


def match_brace(code, open_at):
    depth = 0
    for k in range(open_at, len(code)):
        if code[k] == "{":
            depth += 1
        elif code[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(code) - 1


def in_ranges(line, ranges):
    return any(a <= line <= b for a, b in ranges)


def functions(code, tests):
    for m in re.finditer(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)", code):
        # the body starts at the first `{` at this nesting level before any `;`
        k, depth = m.end(), 0
        while k < len(code):
            ch = code[k]
            if ch in "(<[":
                depth += 1
            elif ch in ")>]":
                depth -= 1
            elif ch == ";" and depth <= 0:
                k = -1
                break
            elif ch == "{" and depth <= 0:
                break
            k += 1
        if k < 0 or k >= len(code):
            continue
        end = match_brace(code, k)
        start_line = code.count("\n", 0, m.start()) + 1
        if in_ranges(start_line, tests):
            continue
        yield m.group(1), start_line, code.count("\n", 0, end) + 1 - start_line + 1


def resolve(mods, path):
    """The longest prefix of `path` that is a module of the crate."""
    for k in range(len(path), 0, -1):
        if tuple(path[:k]) in mods:
            return tuple(path[:k])
    return None


USE_RE = re.compile(r"\buse\s+crate::([^;]*);", re.S)
PATH_RE = re.compile(r"\bcrate::((?:[a-z_][a-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)")


def expand_use(tree):
    """`a::{b, c::{d}}` -> [['a','b'], ['a','c','d']] (`as` renames and `self` dropped)."""
    tree = re.sub(r"\s+as\s+[A-Za-z0-9_]+", "", tree)
    tree = re.sub(r"\s+", "", tree)
    out = []

    def split_top(t):
        parts, depth, cur = [], 0, ""
        for ch in t:
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += ch == "{"
            depth -= ch == "}"
            cur += ch
        parts.append(cur)
        return [p for p in parts if p]

    def walk(prefix, t):
        brace = t.find("{")
        if brace < 0:
            out.append(prefix + [x for x in t.split("::") if x and x not in ("self", "*")])
            return
        head = [x for x in t[:brace].split("::") if x and x != "self"]
        out.append(prefix + head)
        for part in split_top(t[brace + 1 : t.rindex("}")]):
            walk(prefix + head, part)

    walk([], tree)
    return out


def sccs(graph):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            strong(v)
    return out


def name(mod):
    return "::".join(mod) or "(root)"


def main():
    report = "--report" in sys.argv
    problems = []
    long_fns, long_files = [], []
    for crate, src in crate_dirs():
        files = list(rust_files(src))
        mods = {module_of(src, f): f for f in files}
        graph = defaultdict(set)
        names = defaultdict(list)
        for f in files:
            mod = module_of(src, f)
            raw = open(f, encoding="utf-8").read()
            code = strip_comments_and_strings(raw)
            tests = test_blocks(code)
            test_file = is_test_file(f)
            lines = code.count("\n") + 1
            non_test_lines = lines - sum(b - a + 1 for a, b in tests)
            rel = os.path.relpath(f, ROOT)
            enforce = crate not in SKIP
            if not test_file:
                names[os.path.basename(f)].append(rel)
                long_files.append((non_test_lines, rel))
                if non_test_lines > MAX_FILE and enforce:
                    problems.append(f"{rel}: {non_test_lines} non-test lines (at most {MAX_FILE})")
                for fn_name, line, length in functions(code, tests):
                    long_fns.append((length, f"{rel}:{line} {fn_name}"))
                    if length > MAX_FN and enforce:
                        problems.append(f"{rel}:{line}: fn {fn_name} has {length} lines (at most {MAX_FN})")
            # imports of test code do not count
            live = "\n".join(
                l if not in_ranges(i + 1, tests) else ""
                for i, l in enumerate(code.split("\n"))
            )
            if test_file:
                continue
            targets = set()
            for m in USE_RE.finditer(live):
                for p in expand_use(m.group(1)):
                    targets.add(resolve(mods, p))
            for m in PATH_RE.finditer(live):
                targets.add(resolve(mods, m.group(1).split("::")))
            for t in targets:
                if t is not None and t != mod and t != () and t[: len(mod)] != mod:
                    graph[mod].add(t)
        for comp in sccs(graph):
            msg = f"{crate}: import circle between modules " + ", ".join(name(c) for c in comp)
            problems.append(msg) if crate not in SKIP else print("(not enforced) " + msg)
        folder_graph = defaultdict(set)
        for a, bs in graph.items():
            for b in bs:
                if a[:1] != b[:1] and len(a) > 1 and len(b) > 1:
                    folder_graph[a[0]].add(b[0])
        for comp in sccs(folder_graph):
            problems.append(f"{crate}: import circle between folders " + ", ".join(comp))
        for folder, banned in LAYER_RULES.get(crate, []):
            for a, bs in graph.items():
                for b in bs:
                    if a[:1] == (folder,) and b[:1] and b[0] in banned:
                        problems.append(f"{crate}: {name(a)} uses {name(b)} ({folder}/ must not use {', '.join(sorted(banned))}/)")
        for base, rels in names.items():
            if len(rels) > 1 and base not in ("mod.rs", "lib.rs", "main.rs"):
                msg = f"{crate}: {len(rels)} files named {base}: " + ", ".join(rels)
                problems.append(msg) if crate not in SKIP else print("(not enforced) " + msg)
    if report:
        print("longest functions:")
        for length, where in sorted(long_fns, reverse=True)[:15]:
            print(f"  {length:5} {where}")
        print("longest files (non-test lines):")
        for length, where in sorted(long_files, reverse=True)[:15]:
            print(f"  {length:5} {where}")
    for p in problems:
        print(p)
    if problems and not report:
        print(f"{len(problems)} layout problem(s)")
        return 1
    if not problems:
        print("layout: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
