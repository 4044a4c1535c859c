#!/usr/bin/env bash
# Crypto limit: RSA-2048 PKCS#1 v1.5 decryptions per second through passbroker's decryption
# path (implicit rejection, vendored OpenSSL) against `openssl speed rsa2048` private ops/s,
# both measured in this run. Baseline runs before and after ours; the ratio uses their mean.
# Usage: benches/crypto.sh [seconds-per-phase]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-5}"
cores="$(nproc)"
cargo build --release -q -p passbroker-crypto --bin rsa_rate --bin marvin

baseline() { # $1 = number of processes
  if [ "$1" = 1 ]; then
    openssl speed -seconds "$secs" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $(NF-1)}'
  else
    openssl speed -seconds "$secs" -multi "$1" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $(NF-1)}'
  fi
}

b1a=$(baseline 1); bNa=$(baseline "$cores")
ours=$(target/release/rsa_rate "$secs")
b1b=$(baseline 1); bNb=$(baseline "$cores")
single=$(echo "$ours" | awk -F= '/single_thread/ {print $2}')
all=$(echo "$ours" | awk -F= '/all_cores/ {print $2}')

echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "openssl CLI: $(openssl version)"
awk -v s="$single" -v a="$all" -v b1a="$b1a" -v b1b="$b1b" -v bNa="$bNa" -v bNb="$bNb" -v c="$cores" 'BEGIN {
  b1 = (b1a + b1b) / 2; bN = (bNa + bNb) / 2;
  printf "single thread: passbroker %.0f/s  openssl speed %.0f/s (%.0f, %.0f)  ratio %.2f (goal >= 0.90)\n", s, b1, b1a, b1b, s / b1;
  printf "all %d cores:   passbroker %.0f/s  openssl speed -multi %d %.0f/s (%.0f, %.0f)  ratio %.2f\n", c, a, c, bN, bNa, bNb, a / bN;
}'
