#!/usr/bin/env bash
# Runs every test passbroker has, the way CI does:
#   1. installs what the tests need when it is missing (Debian and PyPI packages),
#   2. builds once, lints, checks the supply chain (cargo deny), runs the Rust suite in
#      parallel (cargo nextest when present),
#   3. builds, installs and tries the Debian package,
#   4. runs the Password Manager page's browser tests (chromium), schemathesis against
#      /openapi.json and the SailPoint SDK conformance, each against a real
#      `passbroker serve --demo`.
# With PASSBROKER_REQUIRE_SERVICES=1 (set here) a test whose service is missing fails
# instead of skipping. The chatter of installs, the build and the linters goes to
# target/test-logs/<stage>.log (shown when the stage fails); the terminal gets a line per
# stage, a progress line every 30 s of a long stage, and the test results.
set -euo pipefail
cd "$(dirname "$0")/.."

export PASSBROKER_REQUIRE_SERVICES="${PASSBROKER_REQUIRE_SERVICES:-1}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
LOGS=${PASSBROKER_TEST_LOG_DIR:-target/test-logs}
mkdir -p "$LOGS"
T0=$SECONDS

# quiet NAME CMD…: runs CMD with its output in $LOGS/NAME.log; one line when it ends.
quiet() {
  local name=$1; shift
  local log="$LOGS/$name.log" start=$SECONDS
  echo "== $name (log: $log)"
  "$@" >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "   … $name: $((SECONDS - start)) s, last: $(tail -n1 "$log" | cut -c1-100)"
    fi
  done
  if wait "$pid"; then
    echo "   $name: ok in $((SECONDS - start)) s"
  else
    echo "!! $name failed after $((SECONDS - start)) s; the end of $log:"
    tail -n 60 "$log"
    exit 1
  fi
}

if [ "${PASSBROKER_SKIP_INSTALL:-0}" != "1" ]; then
  quiet install bash scripts/install-test-deps.sh
fi

quiet build cargo build --workspace --all-targets --locked
quiet lint sh -c 'cargo fmt --all -- --check && python3 scripts/layout-check.py && cargo clippy --workspace --all-targets --locked -- -D warnings'
quiet supply-chain bash scripts/supply-chain.sh

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

echo "== Debian package (build, install, a password change as the packaged user, purge)"
bash scripts/package-test.sh "$(pwd)/target/debug/passbroker"

if [ -f scripts/browser-tests.sh ]; then
  echo "== Password Manager page in a real browser (chromium, playwright-core, axe-core)"
  PASSBROKER_BIN="$(pwd)/target/debug/passbroker" bash scripts/browser-tests.sh
fi

if [ -f scripts/schemathesis.sh ]; then
  echo "== OpenAPI schema check (schemathesis)"
  PASSBROKER_BIN="$(pwd)/target/debug/passbroker" bash scripts/schemathesis.sh
fi

echo "== all stages before the conformance run passed in $((SECONDS - T0)) s"
# Last, so its closing "N passed, N failed" line ends the run.
if [ -f scripts/conformance.sh ]; then
  echo "== SailPoint SDK conformance"
  PASSBROKER_BIN="$(pwd)/target/debug/passbroker" bash scripts/conformance.sh
fi
