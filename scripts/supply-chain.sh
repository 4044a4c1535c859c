#!/usr/bin/env bash
# Supply-chain checks: `cargo deny check` (advisories, licences, bans, duplicate versions,
# sources) against deny.toml, where every exception is written down with its reason.
# Installs cargo-deny with `cargo install --locked` when it is missing (about 10 minutes of
# compiling on 2 cores, once per machine).
set -euo pipefail
cd "$(dirname "$0")/.."
DENY_VERSION=0.20.2
if ! cargo deny --version >/dev/null 2>&1; then
  echo "installing cargo-deny $DENY_VERSION (cargo install --locked)"
  cargo install --locked --version "$DENY_VERSION" cargo-deny
fi
cargo deny --version
cargo deny --locked check
