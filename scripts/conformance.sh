#!/usr/bin/env bash
# Conformance: drive the official SailPoint SDKs, unmodified, against a demo passbroker.
#
#   cargo build -p passbroker && scripts/conformance.sh
#
# Builds nothing. Environment:
#   PASSBROKER_BIN        server binary (default: target/debug/passbroker, relative to the repo root)
#   PASSBROKER_VENV_DIR   cache for the SDK installs (default: /opt/passbroker-venvs):
#                           sdk1/  python venv, sailpoint==1.4.2  (/v3, /beta, /v2024, /v2025)
#                           sdk2/  python venv, sailpoint==2.1.72 (/…/v1)
#                           ts/    npm project from conformance/ts/package{,-lock}.json
#                                  (sailpoint-api-client, TypeScript SDK: /v3, /beta, /v2024)
#   CONF_PY_SCRIPT        the Python driver (default: <repo>/conformance/sailpoint_sdk_py.py)
#   CONF_GOOD_PASSWORD / CONF_BAD_PASSWORD   passwords the demo policy accepts / rejects
#   CONF_SUITES           comma list of suites to run (default: py1,py2,ts,admin1,admin2)
#   CONF_SETUP_ONLY=1     only install the SDKs of CONF_SUITES into the cache, then exit
#                         (scripts/install-test-deps.sh does this for the Rust TLS test)
# Prints PASS/FAIL lines, then "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(git -C "$SCRIPT_DIR" rev-parse --show-toplevel 2>/dev/null || (cd "$SCRIPT_DIR/.." && pwd))
cd "$ROOT"

PASSBROKER_BIN=${PASSBROKER_BIN:-target/debug/passbroker}
case "$PASSBROKER_BIN" in /*) ;; *) PASSBROKER_BIN="$ROOT/$PASSBROKER_BIN" ;; esac
CACHE=${PASSBROKER_VENV_DIR:-/opt/passbroker-venvs}
PY_SCRIPT=${CONF_PY_SCRIPT:-$ROOT/conformance/sailpoint_sdk_py.py}
TS_SRC="$ROOT/conformance/ts"
GOOD_PASSWORD=${CONF_GOOD_PASSWORD:-Blue7-Kite-Rum9}
BAD_PASSWORD=${CONF_BAD_PASSWORD:-short}
SUITES=",${CONF_SUITES:-py1,py2,ts,admin1,admin2},"
PY1_SPEC='sailpoint==1.4.2'
PY2_SPEC='sailpoint==2.1.72'

T0=$(date +%s)
log() { printf '== %s\n' "$*" >&2; }
die() { printf 'FAIL [setup] %s\n0 passed, 1 failed\n' "$*"; exit 1; }

SETUP_ONLY=${CONF_SETUP_ONLY:-0}
[ "$SETUP_ONLY" = 1 ] || [ -x "$PASSBROKER_BIN" ] || die "no passbroker binary at $PASSBROKER_BIN (run: cargo build -p passbroker, or set PASSBROKER_BIN)"
[ -f "$PY_SCRIPT" ] || die "Python driver not found: $PY_SCRIPT (set CONF_PY_SCRIPT)"
tools="python3 curl node npm"; [ "$SETUP_ONLY" = 1 ] && tools="python3"
for tool in $tools; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

mkdir -p "$CACHE"
# Serialise cache set-up between concurrent runs.
exec 9>"$CACHE/.lock"
command -v flock >/dev/null && flock -w 600 9

# ---- Python venvs (created once, reused while the pinned version matches) ----------------
ensure_venv() { # dir spec
  local dir=$1 spec=$2 want=${2#*==}
  if "$dir/bin/python" - "$want" >/dev/null 2>&1 <<'EOF'
import sys, importlib.metadata as m, cryptography  # noqa: F401
sys.exit(0 if m.version("sailpoint") == sys.argv[1] else 1)
EOF
  then return 0; fi
  log "creating venv $dir ($spec cryptography)"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$spec" cryptography \
    || die "pip install $spec failed"
}
case $SUITES in *,py1,*|*,admin1,*) ensure_venv "$CACHE/sdk1" "$PY1_SPEC" ;; esac
case $SUITES in *,py2,*|*,admin2,*) ensure_venv "$CACHE/sdk2" "$PY2_SPEC" ;; esac

# ---- npm project for the TypeScript SDK (npm ci when the lock file changes) -----------------
TS_DIR="$CACHE/ts"
if [[ $SUITES == *,ts,* ]]; then
  want=$(cat "$TS_SRC/package.json" "$TS_SRC/package-lock.json" | sha256sum | cut -d' ' -f1)
  have=$(cat "$TS_DIR/.stamp" 2>/dev/null || true)
  if [ "$want" != "$have" ] || [ ! -f "$TS_DIR/node_modules/sailpoint-api-client/package.json" ]; then
    log "npm ci in $TS_DIR"
    mkdir -p "$TS_DIR"
    cp "$TS_SRC/package.json" "$TS_SRC/package-lock.json" "$TS_DIR/"
    (cd "$TS_DIR" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in $TS_DIR"
    echo "$want" >"$TS_DIR/.stamp"
  fi
fi
flock -u 9 2>/dev/null || true
if [ "$SETUP_ONLY" = 1 ]; then
  log "SDKs for ${SUITES//,/ } ready in $CACHE"
  exit 0
fi

# ---- server ---------------------------------------------------------------------------------
DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/passbroker-conformance.XXXXXX")
SERVER_PID=
cleanup() {
  local rc=$?
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DATA_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

server_log_tail() { # never echo the demo client secret
  grep -v -i 'secret' "$DATA_DIR/server.log" 2>/dev/null | tail -n "${1:-20}" \
    | sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^/  server| /' || true
}

start_server() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  BASE="http://127.0.0.1:$port"
  # Every SDK suite runs on the demo client within seconds: lift the per-client budget (all
  # of a client's tokens together; tests/api/hardening_auth.rs covers it). ISC's per-token
  # limit stays at its default.
  PASSBROKER_CLIENT_RATE_LIMIT_REQUESTS=1000000 \
    "$PASSBROKER_BIN" serve --demo --data-dir "$DATA_DIR" --listen "127.0.0.1:$port" >"$DATA_DIR/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do                     # ≤ ~30 s: 0.2 s sleep + ≤ 0.1..1 s curl
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    if curl -fsS -o /dev/null --max-time 1 "$BASE/health/ready" 2>/dev/null \
       && [ -s "$DATA_DIR/demo-credentials.json" ]; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

ready=
for attempt in 1 2 3; do                      # a new port if the one picked got taken meanwhile
  if start_server; then ready=1; break; fi
  log "server did not become ready (attempt $attempt); log tail:"; server_log_tail >&2
  kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
  rm -rf "${DATA_DIR:?}"/*
done
[ -n "$ready" ] || die "passbroker serve --demo never answered /health/ready"
log "passbroker $("$PASSBROKER_BIN" --version 2>/dev/null | awk '{print $NF}') ready at $BASE (pid $SERVER_PID) after $(( $(date +%s) - T0 ))s"

cred() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$DATA_DIR/demo-credentials.json" "$1"; }
export SAIL_BASE_URL=$BASE
SAIL_CLIENT_ID=$(cred clientId); SAIL_CLIENT_SECRET=$(cred clientSecret)
CONF_USER_NAME=$(cred userName); CONF_SOURCE_NAME=$(cred sourceName)
export SAIL_CLIENT_ID SAIL_CLIENT_SECRET CONF_USER_NAME CONF_SOURCE_NAME
export CONF_POLL_INTERVAL_S=${CONF_POLL_INTERVAL_S:-0.25} CONF_DEADLINE_S=${CONF_DEADLINE_S:-90}
[ "$(cred baseUrl)" = "$BASE" ] || log "note: demo-credentials.json baseUrl $(cred baseUrl) != $BASE"

# ---- runs -----------------------------------------------------------------------------------
PASSED=0 FAILED=0 FAILED_RUNS=()
run() { # name, then env assignments, then -- command...
  local name=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
  log "$name"
  local out rc=0 t=$SECONDS
  out=$(env "${envs[@]}" "$@" 2>&1) || rc=$?
  printf '%s\n' "$out" | grep -v -F -- "$SAIL_CLIENT_SECRET" || true
  local summary p f
  summary=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n1 || true)
  p=$(sed -nE 's/^([0-9]+) passed.*/\1/p' <<<"$summary"); f=$(sed -nE 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/p' <<<"$summary")
  p=${p:-0}; f=${f:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL [$name] exited $rc without a failed check"; f=1
  fi
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
  [ "$f" -eq 0 ] || FAILED_RUNS+=("$name")
  log "$name: $p passed, $f failed in $((SECONDS - t))s"
}

PY1="$CACHE/sdk1/bin/python" PY2="$CACHE/sdk2/bin/python"
if [[ $SUITES == *,py1,* ]]; then
  run "python $PY1_SPEC v3,beta,v2024,v2025 FINISHED" CONF_API_VERSIONS=v3,beta,v2024,v2025 \
      CONF_PASSWORD="$GOOD_PASSWORD" CONF_EXPECT_STATE=FINISHED -- "$PY1" "$PY_SCRIPT"
  run "python $PY1_SPEC v3,beta,v2024,v2025 FAILED" CONF_API_VERSIONS=v3,beta,v2024,v2025 \
      CONF_PASSWORD="$BAD_PASSWORD" CONF_EXPECT_STATE=FAILED CONF_NEGATIVE=0 -- "$PY1" "$PY_SCRIPT"
fi
if [[ $SUITES == *,py2,* ]]; then
  run "python $PY2_SPEC v1 FINISHED" CONF_API_VERSIONS=v1 \
      CONF_PASSWORD="$GOOD_PASSWORD" CONF_EXPECT_STATE=FINISHED -- "$PY2" "$PY_SCRIPT"
  run "python $PY2_SPEC v1 FAILED" CONF_API_VERSIONS=v1 \
      CONF_PASSWORD="$BAD_PASSWORD" CONF_EXPECT_STATE=FAILED CONF_NEGATIVE=0 -- "$PY2" "$PY_SCRIPT"
fi
if [[ $SUITES == *,ts,* ]]; then
  run "typescript sailpoint-api-client v3,beta,v2024 FINISHED" CONF_TS_MODULES_DIR="$TS_DIR" \
      CONF_PASSWORD="$GOOD_PASSWORD" CONF_EXPECT_STATE=FINISHED -- node "$TS_SRC/flow.mjs"
  run "typescript sailpoint-api-client v3,beta,v2024 FAILED" CONF_TS_MODULES_DIR="$TS_DIR" \
      CONF_PASSWORD="$BAD_PASSWORD" CONF_EXPECT_STATE=FAILED CONF_NEGATIVE=0 -- node "$TS_SRC/flow.mjs"
fi
# The administration APIs last: they change the tenant (policies, org config, a digit-token
# password change for the demo user).
ADMIN_SCRIPT="$(dirname "$TS_SRC")/admin_sdk_py.py"
if [[ $SUITES == *,admin1,* ]]; then
  run "admin APIs python $PY1_SPEC v3,beta,v2024,v2025" CONF_API_VERSIONS=v3,beta,v2024,v2025 \
      PASSBROKER_BIN="$PASSBROKER_BIN" PASSBROKER_DATA_DIR="$DATA_DIR" CONF_PASSWORD="$GOOD_PASSWORD" -- "$PY1" "$ADMIN_SCRIPT"
fi
if [[ $SUITES == *,admin2,* ]]; then
  run "admin APIs python $PY2_SPEC v1" CONF_API_VERSIONS=v1 \
      PASSBROKER_BIN="$PASSBROKER_BIN" PASSBROKER_DATA_DIR="$DATA_DIR" CONF_PASSWORD="$GOOD_PASSWORD" -- "$PY2" "$ADMIN_SCRIPT"
fi

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "FAIL [server] passbroker exited during the run"; FAILED=$((FAILED + 1)); FAILED_RUNS+=("server")
fi
if [ "$FAILED" -ne 0 ]; then
  log "failed: ${FAILED_RUNS[*]}; server log tail:"; server_log_tail 15 >&2
fi
log "conformance finished in $(( $(date +%s) - T0 ))s"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
