#!/usr/bin/env bash
# API schema check: runs schemathesis against demo passbroker servers, using the OpenAPI
# document the server itself serves at /openapi.json (crates/passbroker-server/openapi.json).
#
#   cargo build -p passbroker && scripts/schemathesis.sh
#
# Builds nothing. Every operation gets a bounded number of generated requests, valid and
# invalid, and every response is checked: no 5xx, and status code, content type, headers and
# body as the document declares them for that operation. The operations are run in two
# halves, at once, each against its own `serve --demo` (generated requests delete and change
# what they find, so the halves must not share a tenant):
#   client  everything an API client (client_credentials) may call, with the demo client's token;
#   admin   the operations only (ORG_ADMIN) users may call (`x-passbroker-access: admins-only`,
#           `users-only`), with an ORG_ADMIN user's token (from a personal access token).
# Environment:
#   PASSBROKER_BIN        server binary (default: target/debug/passbroker, relative to the repo root)
#   PASSBROKER_VENV_DIR   cache for the schemathesis venv (default: /opt/passbroker-venvs):
#                           schemathesis/  python venv, schemathesis==4.32.5
#   ST_MAX_EXAMPLES       generated requests per operation and phase (default: 50)
#   ST_SEED               hypothesis seed, to replay a run (default: random, printed)
#   ST_EXTRA_ARGS         more `st run` arguments, e.g. "--include-path-regex ^/v3/"
#   ST_REPORT_DIR         keep JUnit and HAR reports here, per half (default: a temp dir, removed)
# Prints schemathesis' reports, then "N passed, N failed" counting API operations; exits
# non-zero on any failure or error.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(git -C "$SCRIPT_DIR" rev-parse --show-toplevel 2>/dev/null || (cd "$SCRIPT_DIR/.." && pwd))
cd "$ROOT"

PASSBROKER_BIN=${PASSBROKER_BIN:-target/debug/passbroker}
case "$PASSBROKER_BIN" in /*) ;; *) PASSBROKER_BIN="$ROOT/$PASSBROKER_BIN" ;; esac
CACHE=${PASSBROKER_VENV_DIR:-/opt/passbroker-venvs}
ST_SPEC='schemathesis==4.32.5'
ST_VENV="$CACHE/schemathesis"
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-50}
SEED=${ST_SEED:-$((RANDOM * 32768 + RANDOM))}
HALVES=(client admin)

T0=$(date +%s)
log() { printf '== %s\n' "$*" >&2; }
die() { printf 'FAIL [setup] %s\n0 passed, 1 failed\n' "$*"; exit 1; }

[ -x "$PASSBROKER_BIN" ] || die "no passbroker binary at $PASSBROKER_BIN (run: cargo build -p passbroker, or set PASSBROKER_BIN)"
for tool in python3 curl openssl; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

# ---- schemathesis venv (created once, reused while the pinned version matches) -----------
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
command -v flock >/dev/null && flock -w 600 9
if ! "$ST_VENV/bin/python" - "${ST_SPEC#*==}" >/dev/null 2>&1 <<'PY'
import sys, importlib.metadata as m
sys.exit(0 if m.version("schemathesis") == sys.argv[1] else 1)
PY
then
  log "creating venv $ST_VENV ($ST_SPEC)"
  rm -rf "$ST_VENV"
  python3 -m venv "$ST_VENV" || die "python3 -m venv failed (install python3-venv)"
  "$ST_VENV/bin/pip" install --quiet --disable-pip-version-check "$ST_SPEC" || die "pip install $ST_SPEC failed"
fi
flock -u 9 2>/dev/null || true
ST="$ST_VENV/bin/st"

# ---- servers: one per half ------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/passbroker-schemathesis.XXXXXX")
declare -A SERVER_PID=() BASE=()
stop_server() { # pid
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$? pid
  for pid in "${SERVER_PID[@]}"; do stop_server "$pid"; done
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

server_log_tail() { # half [lines]; never echo the demo client secret
  grep -v -i 'secret' "$WORK/$1/server.log" 2>/dev/null | tail -n "${2:-20}" \
    | sed -e 's/\x1b\[[0-9;]*m//g' -e "s/^/  server($1)| /" || true
}

start_server() { # half
  local half=$1 port dir=$WORK/$1 pid
  mkdir -p "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  BASE[$half]="http://127.0.0.1:$port"
  # The per-token and per-address limits would otherwise answer most generated requests with
  # 429 (tests/api/rate_limit.rs covers them). `Prefer: wait=N` is capped so that a generated
  # header cannot hold a request for a minute.
  PASSBROKER_RATE_LIMIT_REQUESTS=1000000 PASSBROKER_CLIENT_RATE_LIMIT_REQUESTS=1000000 \
  PASSBROKER_AUTH_FAILURES_PER_IP=1000000 PASSBROKER_TOKEN_RATE_LIMIT_REQUESTS=1000000 PASSBROKER_MAX_PREFER_WAIT_SECS=2 \
    "$PASSBROKER_BIN" serve --demo --data-dir "$dir" --listen "127.0.0.1:$port" >"$dir/server.log" 2>&1 &
  pid=$!
  SERVER_PID[$half]=$pid
  for _ in $(seq 100); do                     # ≤ ~30 s: 0.2 s sleep + ≤ 0.1..1 s curl
    kill -0 "$pid" 2>/dev/null || return 1
    if curl -fsS -o /dev/null --max-time 1 "${BASE[$half]}/health/ready" 2>/dev/null \
       && [ -s "$dir/demo-credentials.json" ]; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

for half in "${HALVES[@]}"; do
  ready=
  for attempt in 1 2 3; do                    # a new port if the one picked got taken meanwhile
    if start_server "$half"; then ready=1; break; fi
    log "$half server did not become ready (attempt $attempt); log tail:"; server_log_tail "$half" >&2
    stop_server "${SERVER_PID[$half]}"; unset "SERVER_PID[$half]"
    rm -rf "${WORK:?}/$half"
  done
  [ -n "$ready" ] || die "passbroker serve --demo never answered /health/ready"
  log "$half: passbroker ready at ${BASE[$half]} (pid ${SERVER_PID[$half]}) after $(( $(date +%s) - T0 ))s"
done

# ---- per half: a token, and the document with this run's demo data as examples ---------------
# The served document is used as is, restricted to the half's operations, plus request
# examples that reach the success paths: the demo's names for query-password-info, real RSA
# ciphertexts (PKCS#1 v1.5 and OAEP) for set-password, a real request id for
# password-change-status, a real personal access token id to delete, real source ids.
prepare() { # half
  python3 - "$1" "${BASE[$1]}" "$WORK/$1" "$PASSBROKER_BIN" <<'PY'
import base64, json, os, subprocess, sys, tempfile, textwrap, urllib.parse, urllib.request
half, base, data_dir, binary = sys.argv[1:5]
creds = json.load(open(os.path.join(data_dir, "demo-credentials.json")))

def token(client_id, secret):
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}).encode()
    with urllib.request.urlopen(urllib.request.Request(base + "/oauth/token", data=body), timeout=10) as r:
        return json.load(r)["access_token"]

def call(method, path, token, body=None):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)

with urllib.request.urlopen(base + "/openapi.json", timeout=10) as r:
    assert r.headers.get_content_type() == "application/json", r.headers.get("content-type")
    doc = json.load(r)
def pat_of(user, name):
    return json.loads(subprocess.run([binary, "pats", "create", "--data-dir", data_dir, "--user", user, "--name", name,
                                      "--json"], capture_output=True, check=True).stdout)

app = token(creds["clientId"], creds["clientSecret"])
# Digit tokens and custom password instructions answer 400 until the org config enables them.
call("PUT", "/v3/password-org-config", app, {"digitTokenEnabled": True, "customInstructionsEnabled": True})
examples = {}
if half == "client":
    use = app
    query = {"userName": creds["userName"], "sourceName": creds["sourceName"]}
    info = call("POST", "/v3/query-password-info", app, query)
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
        f.write("-----BEGIN PUBLIC KEY-----\n" + "\n".join(textwrap.wrap(info["publicKey"], 64)) + "\n-----END PUBLIC KEY-----\n")
    def encrypt(*opts):
        args = ["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", f.name]
        for o in opts:
            args += ["-pkeyopt", o]
        ct = subprocess.run(args, input=b"Blue7-Kite-Rum9", capture_output=True, check=True).stdout
        return base64.b64encode(ct).decode()
    common = {"identityId": info["identityId"], "publicKeyId": info["publicKeyId"],
              "accountId": info["accounts"][0]["accountId"], "sourceId": info["sourceId"]}
    pkcs1 = dict(common, encryptedPassword=encrypt())
    oaep = dict(common, encryptedPassword=encrypt("rsa_padding_mode:oaep", "rsa_oaep_md:sha256", "rsa_mgf1_md:sha256"),
                encryption="RSA-OAEP-256")
    os.unlink(f.name)
    request_id = call("POST", "/v3/set-password", app, pkcs1)["requestId"]
    victim = pat_of(creds["userName"], "to be deleted")["clientId"]
    # The built-in source (nothing else in the run needs it) for the source operations.
    builtin = call("GET", "/v3/sources?filters=" + urllib.parse.quote('name eq "passbroker"'), app)[0]["id"]
    source_ops = ("getSource", "putSource", "updateSource", "deleteSource", "updatePasswordPolicyHolders")
    examples = {op: ("id", {"demo": {"value": builtin}}) for op in source_ops}
    examples |= {"queryPasswordInfo": ("body", {"demo": {"value": query}}),
                "setPassword": ("body", {"pkcs1": {"value": pkcs1}, "oaep": {"value": oaep}}),
                "getPasswordChangeStatus": ("id", {"demo": {"value": request_id}}),
                "deletePersonalAccessToken": ("id", {"demo": {"value": victim}})}
else:
    # An ORG_ADMIN identity and a personal access token of it. (This half lists and deletes
    # no PATs: generated requests would find this one and revoke it.)
    call("POST", "/passbroker/v1/identities", app, {"name": "schemathesis.admin", "userLevel": "ORG_ADMIN"})
    pat = pat_of("schemathesis.admin", "schemathesis")
    use = token(pat["clientId"], pat["clientSecret"])
    demo_source = call("POST", "/v3/query-password-info", app,
                       {"userName": creds["userName"], "sourceName": creds["sourceName"]})["sourceId"]
    examples = {"listPasswordPolicyHoldersOnSource": ("id", {"demo": {"value": demo_source}})}

paths = {}
for path, item in doc["paths"].items():
    for method, op in item.items():
        oid = op.get("operationId", "")
        if (op.get("x-passbroker-access") in ("admins-only", "users-only")) != (half == "admin"):
            continue
        if op.get("x-passbroker-no-fuzz"):
            continue  # e.g. webhook target URLs: generated ones would send traffic off this machine
        for prefix, (where, ex) in examples.items():
            if oid.startswith(prefix):
                if where == "body":
                    op["requestBody"]["content"]["application/json"]["examples"] = ex
                else:
                    next(p for p in op["parameters"] if p.get("name") == where)["examples"] = ex
        paths.setdefault(path, {})[method] = op
json.dump(dict(doc, paths=paths), open(os.path.join(data_dir, "openapi.json"), "w"))
fd = os.open(os.path.join(data_dir, "token"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, use.encode())
os.close(fd)
PY
}
for half in "${HALVES[@]}"; do
  prepare "$half" || die "could not prepare the $half half (token, document from ${BASE[$half]}/openapi.json)"
done

# ---- run: the halves at once, one process each ----------------------------------------------
# (Processes rather than `--workers 2`: schemathesis' threads can trip a CPython 3.11 race in
# `ast.parse`, "AST constructor recursion depth mismatch".)
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance
REPORTS=${ST_REPORT_DIR:-$WORK/reports}
log "schemathesis $ST_SPEC: $MAX_EXAMPLES examples per operation and phase, seed $SEED"
run_half() { # half
  local dir=$WORK/$1 out=$REPORTS/$1
  mkdir -p "$out"
  # shellcheck disable=SC2086 # ST_EXTRA_ARGS is a list of words
  "$ST" run "$dir/openapi.json" --url "${BASE[$1]}" \
    --checks "$CHECKS" \
    --header "Authorization: Bearer $(cat "$dir/token")" \
    --max-examples "$MAX_EXAMPLES" \
    --workers 1 \
    --seed "$SEED" \
    --phases examples,coverage,fuzzing \
    --generation-database none \
    --request-timeout 10 \
    --no-color \
    --output-sanitize true \
    --report "junit${ST_REPORT_DIR:+,har}" --report-dir "$out" \
    --report-junit-path "$out/junit.xml" ${ST_REPORT_DIR:+--report-har-path "$out/requests.har"} \
    ${ST_EXTRA_ARGS:-} >"$dir/st.log" 2>&1
}
declare -A RUN_PID=()
for half in "${HALVES[@]}"; do
  run_half "$half" & RUN_PID[$half]=$!
done
rc=0
for half in "${HALVES[@]}"; do
  wait "${RUN_PID[$half]}" || rc=$?
done
for half in "${HALVES[@]}"; do
  printf '\n== schemathesis, %s half\n' "$half"
  cat "$WORK/$half/st.log"
done

# ---- summary (operations, from the JUnit reports) ---------------------------------------------
read -r PASSED FAILED < <(python3 - "$REPORTS/client/junit.xml" "$REPORTS/admin/junit.xml" <<'PY' || echo "0 1"
import sys, xml.etree.ElementTree as ET
cases = []
for path in sys.argv[1:]:
    try:
        cases += list(ET.parse(path).getroot().iter("testcase"))
    except Exception:
        print("0 1"); sys.exit()
passed = failed = 0
for c in cases:
    if c.find("failure") is not None or c.find("error") is not None:
        failed += 1
    elif c.find("skipped") is None:
        passed += 1
print(passed, failed)
PY
)
if [ "$rc" -ne 0 ] && [ "$FAILED" -eq 0 ]; then
  echo "FAIL [schemathesis] exited $rc without a failed operation"; FAILED=1
fi
for half in "${HALVES[@]}"; do
  if ! kill -0 "${SERVER_PID[$half]}" 2>/dev/null; then
    echo "FAIL [server] the $half half's passbroker exited during the run"; FAILED=$((FAILED + 1))
  fi
done
if [ "$FAILED" -ne 0 ]; then
  for half in "${HALVES[@]}"; do
    log "$half server log, last lines:"; server_log_tail "$half" 10 >&2
  done
fi
log "schemathesis finished in $(( $(date +%s) - T0 ))s (seed $SEED; replay with ST_SEED=$SEED)"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
