//! JSON Patch (RFC 6902) over `serde_json::Value`: add, remove, replace, move, copy, test,
//! with JSON Pointers (RFC 6901). All or nothing: the patch works on a copy, and the first
//! failing operation is reported with its index, op and path.
//!
//! The work a patch may do is bounded: `copy` doubles a document in one small operation, so
//! forty of them in a 2.4 KB body once asked for terabytes and killed the server, and ten
//! copies into the document's own deepest point nested it thousands of levels deep and
//! overflowed a thread's stack. A patch has at most [`Limits::operations`] operations, and
//! after every operation the document must stay within [`Limits`]' values, bytes and depth
//! (or within the original document's own size, when that is larger). Checking costs one walk
//! of the document per operation, and the walk stops at the first limit crossed.

use serde_json::Value;
use std::fmt;

/// How much a patch may make the document grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most operations in one patch.
    pub operations: usize,
    /// Most JSON values (each object, array, string, number, boolean and null counts one).
    pub values: usize,
    /// Most bytes of the document as compact JSON (strings counted without escapes).
    pub bytes: usize,
    /// Deepest nesting (a scalar at the top is depth 1).
    pub depth: usize,
}

impl Default for Limits {
    /// A source document is about 60 values and 2 KB; these leave room for large connector
    /// settings while keeping a patch's working set to a few MB. The depth stays well under
    /// the 128 levels serde_json parses, so a patched document can always be read back.
    fn default() -> Self {
        Limits {
            operations: 100,
            values: 10_000,
            bytes: 256 * 1024,
            depth: 64,
        }
    }
}

impl Limits {
    /// These limits, raised to `doc`'s own size where `doc` is already larger (a document
    /// stored through PUT with a larger body limit stays patchable).
    pub fn at_least(self, doc: &Value) -> Limits {
        let unbounded = Limits {
            operations: self.operations,
            values: usize::MAX,
            bytes: usize::MAX,
            depth: usize::MAX,
        };
        let size = measure(doc, &unbounded).unwrap_or_default();
        Limits {
            operations: self.operations,
            values: self.values.max(size.values),
            bytes: self.bytes.max(size.bytes),
            depth: self.depth.max(size.depth),
        }
    }
}

/// What [`measure`] counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Size {
    values: usize,
    bytes: usize,
    depth: usize,
}

/// Counts `doc`'s values, compact-JSON bytes and depth, stopping at the first limit crossed
/// (so the cost is bounded by the limits, not by the document). Iterative: no recursion on
/// a document that may be deeper than the stack allows.
fn measure(doc: &Value, limits: &Limits) -> Result<Size, String> {
    let mut size = Size::default();
    let mut stack: Vec<(&Value, usize)> = vec![(doc, 1)];
    while let Some((v, depth)) = stack.pop() {
        size.values += 1;
        size.depth = size.depth.max(depth);
        size.bytes = size.bytes.saturating_add(match v {
            Value::Null => 4,
            Value::Bool(b) => 4 + usize::from(!b),
            // At most 24 characters (`-1.7976931348623157e308`); exact enough for a bound.
            Value::Number(_) => 24,
            Value::String(s) => s.len() + 2,
            // Brackets and commas.
            Value::Array(a) => 2 + a.len(),
            // Braces, commas, and each key with its quotes and colon.
            Value::Object(m) => 2 + m.keys().map(|k| k.len() + 4).sum::<usize>(),
        });
        if size.values > limits.values {
            return Err(format!(
                "the document would hold more than {} JSON values after this operation; a patch may not grow it beyond that",
                limits.values
            ));
        }
        if size.bytes > limits.bytes {
            return Err(format!(
                "the document would be larger than {} bytes after this operation; a patch may not grow it beyond that",
                limits.bytes
            ));
        }
        if size.depth > limits.depth {
            return Err(format!(
                "the document would be nested more than {} levels deep after this operation; a patch may not nest it deeper",
                limits.depth
            ));
        }
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, depth + 1))),
            Value::Object(m) => stack.extend(m.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    Ok(size)
}

/// Why a patch was refused: the operation at fault (when one is), and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchError {
    /// `(index, op, path)` of the failing operation; `None` when the patch as a whole is wrong.
    pub operation: Option<(usize, String, String)>,
    pub message: String,
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.operation {
            Some((index, op, path)) => {
                write!(f, "operation {index} ({op} {path}): {}", self.message)
            }
            None => f.write_str(&self.message),
        }
    }
}

/// Applies `patch` (a JSON array of operations) to a copy of `doc` within the default
/// [`Limits`] (raised to `doc`'s own size) and returns the copy.
pub fn apply(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    apply_within(doc, patch, Limits::default().at_least(doc))
}

/// Applies `patch` to a copy of `doc`, refusing it as soon as an operation takes the
/// document past `limits`.
pub fn apply_within(doc: &Value, patch: &Value, limits: Limits) -> Result<Value, PatchError> {
    let whole = |message: String| PatchError {
        operation: None,
        message,
    };
    let ops = patch
        .as_array()
        .ok_or_else(|| whole("the body must be a JSON array of operations".into()))?;
    if ops.len() > limits.operations {
        return Err(whole(format!(
            "the patch has {} operations; at most {} are allowed in one request",
            ops.len(),
            limits.operations
        )));
    }
    let mut out = doc.clone();
    for (index, op) in ops.iter().enumerate() {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let path = op.get("path").and_then(Value::as_str).map(str::to_owned);
        let fail = |message: String| PatchError {
            operation: Some((index, name.clone(), path.clone().unwrap_or_default())),
            message,
        };
        let path = path
            .clone()
            .ok_or_else(|| fail("\"path\" is required and must be a string".into()))?;
        let tokens = parse_pointer(&path).map_err(&fail)?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| fail("\"value\" is required".into()))
        };
        let from = || -> Result<Vec<String>, PatchError> {
            let f = op
                .get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| fail("\"from\" is required and must be a string".into()))?;
            parse_pointer(f).map_err(&fail)
        };
        match name.as_str() {
            "add" => add(&mut out, &tokens, value()?).map_err(&fail)?,
            "remove" => {
                remove(&mut out, &tokens).map_err(&fail)?;
            }
            "replace" => {
                let v = value()?;
                remove(&mut out, &tokens).map_err(&fail)?;
                add(&mut out, &tokens, v).map_err(&fail)?;
            }
            "move" => {
                let from = from()?;
                if tokens.len() > from.len() && tokens[..from.len()] == from[..] {
                    return Err(fail(
                        "cannot move a value into one of its own children".into(),
                    ));
                }
                let v = remove(&mut out, &from).map_err(&fail)?;
                add(&mut out, &tokens, v).map_err(&fail)?;
            }
            "copy" => {
                let from = from()?;
                let v = get(&out, &from)
                    .cloned()
                    .ok_or_else(|| fail("\"from\" does not exist".into()))?;
                add(&mut out, &tokens, v).map_err(&fail)?;
            }
            "test" => {
                let expected = value()?;
                if get(&out, &tokens) != Some(&expected) {
                    return Err(fail("the test failed: the value differs".into()));
                }
            }
            "" => return Err(fail("\"op\" is required".into())),
            other => {
                return Err(fail(format!(
                    "unknown op {other:?}; use add, remove, replace, move, copy or test"
                )))
            }
        }
        // Every kind of operation is measured: even `move` can deepen the document.
        measure(&out, &limits).map_err(&fail)?;
    }
    Ok(out)
}

/// Splits a JSON Pointer into unescaped reference tokens.
pub fn parse_pointer(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("the path {path:?} must be empty or start with /"))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    let valid = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    let i: usize = if valid {
        token
            .parse()
            .map_err(|_| format!("{token:?} is not an array index"))?
    } else {
        return Err(format!("{token:?} is not an array index"));
    };
    let max = if allow_end {
        len
    } else {
        len.saturating_sub(1)
    };
    if i > max || (!allow_end && len == 0) {
        return Err(format!(
            "index {i} is out of bounds (the array has {len} items)"
        ));
    }
    Ok(i)
}

fn get<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(doc, |v, t| match v {
        Value::Object(m) => m.get(t),
        Value::Array(a) => index(t, a.len(), false).ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

fn parent<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, String> {
    let mut v = doc;
    for t in tokens {
        v = match v {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| format!("{t:?} does not exist"))?,
            Value::Array(a) => {
                let i = index(t, a.len(), false)?;
                a.get_mut(i)
                    .ok_or_else(|| format!("index {i} does not exist"))?
            }
            _ => {
                return Err(format!(
                    "{t:?} is inside a value that is neither an object nor an array"
                ))
            }
        };
    }
    Ok(v)
}

fn add(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), String> {
    let Some((last, init)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent(doc, init)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let i = index(last, a.len(), true)?;
            a.insert(i, value);
            Ok(())
        }
        _ => Err("the parent of the path is neither an object nor an array".into()),
    }
}

fn remove(doc: &mut Value, tokens: &[String]) -> Result<Value, String> {
    let (last, init) = tokens
        .split_last()
        .ok_or("the whole document cannot be removed")?;
    match parent(doc, init)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("{last:?} does not exist")),
        Value::Array(a) => {
            let i = index(last, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err("the parent of the path is neither an object nor an array".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rfc6902_operations() {
        let doc = json!({"name": "a", "features": ["X"], "c": {"k": 1}});
        let patch = json!([
            {"op": "add", "path": "/features/-", "value": "PASSWORD"},
            {"op": "replace", "path": "/name", "value": "b"},
            {"op": "copy", "from": "/c/k", "path": "/c/j"},
            {"op": "move", "from": "/c/k", "path": "/k"},
            {"op": "test", "path": "/features/1", "value": "PASSWORD"},
            {"op": "remove", "path": "/features/0"},
            {"op": "add", "path": "/a~1b", "value": true}
        ]);
        let out = apply(&doc, &patch).unwrap();
        assert_eq!(
            out,
            json!({"name": "b", "features": ["PASSWORD"], "c": {"j": 1}, "k": 1, "a/b": true})
        );
    }

    #[test]
    fn errors_name_the_operation() {
        let doc = json!({"features": []});
        for (patch, needle) in [
            (
                json!([{"op": "replace", "path": "/nope", "value": 1}]),
                "operation 0 (replace /nope)",
            ),
            (
                json!([{"op": "add", "path": "/features/-", "value": 1}, {"op": "remove", "path": "/features/5"}]),
                "operation 1 (remove /features/5)",
            ),
            (
                json!([{"op": "test", "path": "/features", "value": [1]}]),
                "test failed",
            ),
            (json!([{"op": "frobnicate", "path": "/x"}]), "unknown op"),
            (
                json!([{"op": "add", "path": "x", "value": 1}]),
                "must be empty or start with /",
            ),
            (
                json!([{"op": "add", "path": "/features/01", "value": 1}]),
                "not an array index",
            ),
            (
                json!([{"op": "move", "from": "/features", "path": "/features/0"}]),
                "own children",
            ),
            (json!({"op": "add"}), "JSON array"),
        ] {
            let err = apply(&doc, &patch).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} should contain {needle}");
        }
    }

    /// The finding: forty copies of `/features` into `/features/-` double the document forty
    /// times (a 2.4 KB body, terabytes of work). Refused at the first copy past the limits.
    #[test]
    fn hardening_copy_bomb_stops_at_the_limits() {
        let doc = json!({"name": "a", "features": ["PASSWORD", "AUTHENTICATE"]});
        let bomb = Value::Array(vec![
            json!({"op": "copy", "from": "/features", "path": "/features/-"});
            40
        ]);
        let err = apply(&doc, &bomb).unwrap_err();
        let (index, op, path) = err.operation.clone().expect("an operation is named");
        assert_eq!((op.as_str(), path.as_str()), ("copy", "/features/-"));
        // 5 values, then 2 + 3·2^k after k copies: 10,000 is crossed by the 12th (index 11).
        assert_eq!(index, 11, "{err}");
        assert!(err.message.contains("10000 JSON values"), "{err}");
    }

    /// Copying a value into its own deepest point doubles its depth at each operation: ten
    /// of them once overflowed a worker thread's stack.
    #[test]
    fn hardening_nesting_bomb_stops_at_the_depth_limit() {
        let mut doc = json!({"c": {"deep": [[[[[[[[[[]]]]]]]]]]}});
        let mut ops = Vec::new();
        let mut depth = 10;
        for _ in 0..10 {
            let path = format!("/c/deep{}/-", "/0".repeat(depth - 1));
            ops.push(json!({"op": "copy", "from": "/c/deep", "path": path}));
            depth *= 2;
        }
        let err = apply(&doc, &Value::Array(ops)).unwrap_err();
        assert!(err.message.contains("64 levels deep"), "{err}");
        // A value sent deep in one `add` is refused too.
        let mut deep = json!(1);
        for _ in 0..100 {
            deep = json!([deep]);
        }
        let err = apply(&doc, &json!([{"op": "add", "path": "/c/x", "value": deep}])).unwrap_err();
        assert!(err.message.contains("levels deep"), "{err}");
        // Moves are measured as well: nesting two 40-deep values is 80 deep.
        let mut forty = json!({});
        for _ in 0..39 {
            forty = json!({"k": forty});
        }
        doc = json!({"a": forty.clone(), "b": forty});
        let leaf = format!("/a{}/m", "/k".repeat(38));
        let err = apply(&doc, &json!([{"op": "move", "from": "/b", "path": leaf}])).unwrap_err();
        assert!(err.message.contains("levels deep"), "{err}");
    }

    #[test]
    fn hardening_operation_count_and_bytes_are_bounded() {
        let doc = json!({"features": []});
        let many = Value::Array(vec![
            json!({"op": "test", "path": "/features", "value": []});
            101
        ]);
        let err = apply(&doc, &many).unwrap_err();
        assert_eq!(err.operation, None);
        assert!(
            err.to_string().contains("101 operations; at most 100"),
            "{err}"
        );
        // 4 KiB strings: the byte limit (256 KiB) comes long before the value limit.
        let big = "x".repeat(4096);
        let grow = Value::Array(
            (0..100)
                .map(|i| json!({"op": "add", "path": format!("/s{i}"), "value": big}))
                .collect(),
        );
        let err = apply(&doc, &grow).unwrap_err();
        assert!(err.message.contains("262144 bytes"), "{err}");
    }

    /// A document already larger than the limits (stored through PUT on a server with a
    /// larger body limit) stays patchable, as long as the patch does not grow it further.
    #[test]
    fn hardening_large_documents_stay_patchable() {
        let doc = json!({"name": "a", "big": vec![0; 20_000]});
        let out = apply(
            &doc,
            &json!([{"op": "replace", "path": "/name", "value": "b"}]),
        )
        .unwrap();
        assert_eq!(out["name"], "b");
        let err = apply(&doc, &json!([{"op": "add", "path": "/big/-", "value": 1}])).unwrap_err();
        assert!(err.message.contains("after this operation"), "{err}");
    }
}
