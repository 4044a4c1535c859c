#!/usr/bin/env bash
# The Password Manager page in a real browser (tests/browser/page.test.mjs, and recovery.test.mjs:
# forgot password by email against a real SMTP server, the help desk): Debian's chromium
# driven by playwright-core, axe-core for accessibility, against target/debug/passbroker
# (`serve --demo` on 127.0.0.1, a random port, a temp data dir; the tests start it).
#
# Installs chromium (apt-get) when /usr/bin/chromium is missing and runs `npm ci` when the
# lock file changed; builds nothing (run `cargo build -p passbroker` first). Screenshots of
# each screen go to docs/ (PASSBROKER_SCREENSHOT_DIR=none to skip them).
# Without chromium or node the tests are skipped loudly, and fail with
# PASSBROKER_REQUIRE_SERVICES=1.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
BIN="${PASSBROKER_BIN:-$(pwd)/target/debug/passbroker}"
DIR=tests/browser

missing() {
  echo "!! browser tests SKIPPED: $1" >&2
  if [ "${PASSBROKER_REQUIRE_SERVICES:-0}" = "1" ]; then
    echo "!! PASSBROKER_REQUIRE_SERVICES=1: a missing browser is a failure" >&2
    exit 1
  fi
  exit 0
}

if [ ! -x "$CHROMIUM" ] && [ "$CHROMIUM" = /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 \
   && [ "$(id -u)" = 0 ]; then
  echo "== installing chromium (apt-get)"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
    || echo "!! apt-get could not install chromium" >&2
fi
[ -x "$CHROMIUM" ] || missing "$CHROMIUM is not installed (apt-get install chromium)"
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || missing "node and npm are not installed"
[ -x "$BIN" ] || { echo "!! $BIN is missing: cargo build -p passbroker" >&2; exit 1; }

want=$(cat "$DIR/package.json" "$DIR/package-lock.json" | sha256sum | cut -d' ' -f1)
have=$(cat "$DIR/node_modules/.passbroker-stamp" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  echo "== npm ci in $DIR"
  (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$DIR/node_modules/.passbroker-stamp"
fi

echo "== browser tests ($("$CHROMIUM" --version 2>/dev/null || echo chromium))"
cd "$DIR"
PASSBROKER_BIN="$BIN" CHROMIUM="$CHROMIUM" node --test --test-concurrency=1 --test-reporter=spec page.test.mjs recovery.test.mjs
