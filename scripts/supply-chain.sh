#!/usr/bin/env bash
# Supply-chain checks: `cargo deny check` (advisories, licences, bans, duplicate versions,
# sources) against deny.toml, where every exception is written down with its reason.
# Installs cargo-deny with `cargo install --locked` when it is missing (about 10 minutes of
# compiling on 2 cores, once per machine).
#
# The advisories check needs RustSec's advisory database from github.com. Where that cannot
# be reached, the other four checks still run and the advisories check is reported SKIPPED,
# loudly, rather than failing the run.
set -euo pipefail
cd "$(dirname "$0")/.."
DENY_VERSION=0.20.2
if ! cargo deny --version >/dev/null 2>&1; then
  echo "installing cargo-deny $DENY_VERSION (cargo install --locked)"
  cargo install --locked --version "$DENY_VERSION" cargo-deny
fi
cargo deny --version
if cargo deny fetch db >/dev/null 2>&1; then
  cargo deny --locked check
else
  echo "*** SKIPPED [supply-chain] advisories: the RustSec advisory database (github.com/RustSec/advisory-db) cannot be fetched from here ***"
  cargo deny --locked check bans licenses sources
fi
