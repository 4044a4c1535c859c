#!/usr/bin/env bash
# Runs every test passbroker has, the way CI does:
#   1. installs what the tests need when it is missing (Debian and PyPI packages),
#   2. builds once, runs the Rust suite in parallel (cargo nextest when present),
#   3. runs the Password Manager page's browser tests (chromium), schemathesis against
#      /openapi.json and the SailPoint SDK conformance, each against a real
#      `passbroker serve --demo`.
# With PASSBROKER_REQUIRE_SERVICES=1 (set here) a test whose service is missing fails
# instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."

export PASSBROKER_REQUIRE_SERVICES="${PASSBROKER_REQUIRE_SERVICES:-1}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if [ "${PASSBROKER_SKIP_INSTALL:-0}" != "1" ]; then
  bash scripts/install-test-deps.sh
fi

echo "== build"
cargo build --workspace --all-targets --locked

echo "== lint"
cargo fmt --all -- --check
python3 scripts/layout-check.py
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

if [ -f scripts/browser-tests.sh ]; then
  echo "== Password Manager page in a real browser (chromium, playwright-core, axe-core)"
  PASSBROKER_BIN="$(pwd)/target/debug/passbroker" bash scripts/browser-tests.sh
fi

if [ -f scripts/schemathesis.sh ]; then
  echo "== OpenAPI schema check (schemathesis)"
  PASSBROKER_BIN="$(pwd)/target/debug/passbroker" bash scripts/schemathesis.sh
fi

# Last, so its closing "N passed, N failed" line ends the run.
if [ -f scripts/conformance.sh ]; then
  echo "== SailPoint SDK conformance"
  PASSBROKER_BIN="$(pwd)/target/debug/passbroker" bash scripts/conformance.sh
fi
