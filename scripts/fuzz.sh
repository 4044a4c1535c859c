#!/usr/bin/env bash
# Runs the property-based "fuzz" tests at scale for a bounded time: request parsing, the
# policy evaluator and the dictionary parser. (cargo-fuzz needs a nightly toolchain, which
# this project's machines do not have; proptest explores the same inputs on stable.)
#
#   scripts/fuzz.sh [cases] [seconds]     defaults: 20000 cases, 300 s per target
#
# Run longer by raising both, e.g. scripts/fuzz.sh 1000000 3600.
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-20000}"
secs="${2:-300}"
export PROPTEST_CASES="$cases"
cargo build --release --tests -q -p passbroker-core -p passbroker-server
status=0
for target in "passbroker-core --test policy_props" "passbroker-server --test parse_props"; do
  echo "== $target ($cases cases, at most $secs s)"
  # shellcheck disable=SC2086
  timeout "$secs" cargo test --release -q -p $target || { rc=$?; [ "$rc" = 124 ] && echo "time bound reached" || status=$rc; }
done
exit "$status"
