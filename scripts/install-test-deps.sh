#!/usr/bin/env bash
# Installs what the test suite needs, only when it is missing. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v javac >/dev/null 2>&1 || need_apt+=(openjdk-17-jdk-headless)   # the Java interop test
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)                  # the TypeScript SDK run
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)          # the package test checks the unit
command -v objdump >/dev/null 2>&1 || need_apt+=(binutils)                 # scripts/build-deb.sh
if [ "${#need_apt[@]}" -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_apt[@]}"
fi

# The official SailPoint Python SDK, for the Rust suite's TLS test (the conformance run
# reuses the same venv).
CONF_SETUP_ONLY=1 CONF_SUITES=py1 bash scripts/conformance.sh

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "cargo-nextest not found; the suite will run with cargo test"
fi

# Target servers for the connector tests (slapd, PostgreSQL, MariaDB, a SCIM server).
if [ -f scripts/install-services.sh ]; then
  bash scripts/install-services.sh
fi
