#!/usr/bin/env bash
# The breach corpus at scale: a synthetic Pwned Passwords file of N SHA-1 hashes (random
# hashes, real format, skewed counts, sorted as the real file is) imported with
# `passbroker breach import`; index size; lookup latency with a cold page cache (caches
# dropped first; needs root) and warm; the server's RSS growth when it loads the index; and
# GET /passbroker/v1/pwned/range/{random prefix} (Add-Padding) req/s against the do-nothing
# server's GET in the same run, with the ratio.
# Goals (issue): 100,000,000 hashes imported in <= 120 s, index <= 2.2 GB, lookup p99 <= 50 us
# cold and <= 5 us warm, RSS growth <= 64 MB, /range >= 0.5 of the do-nothing rate.
# Usage: benches/breach.sh [N] [seconds-per-run]   (default 100000000 10). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
n="${1:-100000000}"
secs="${2:-10}"
export BENCH_LUA_DIR="$PWD/benches/wrk"

need_wrk
build_passbroker
cargo build --release -q -p passbroker-breach --bin breach-bench || die "building breach-bench failed"
BB=target/release/breach-bench
cargo build --release -q --manifest-path benches/noop-server/Cargo.toml --target-dir target/bench-noop \
  || die "building benches/noop-server failed"
NOOP=target/bench-noop/release/noop-server
machine

corpus="$BENCH_TMP/pwned-sha1.txt"
t0=$(date +%s.%N)
"$BB" generate "$n" "$corpus"
note "generated $(du -h "$corpus" | cut -f1) of text in $(echo "$(date +%s.%N) - $t0" | bc) s"

start_passbroker "$BENCH_TMP/data" PASSBROKER_BREACH_RANGE_PUBLIC=true PASSBROKER_BREACH_RANGE_REQUESTS_PER_IP=1000000
rss_before=$(awk '/^VmRSS:/ {print $2}' "/proc/$PB_PID/status")

t0=$(date +%s.%N)
"$PB" --data-dir "$BENCH_TMP/data" breach import "$corpus" 2>/dev/null
import_s=$(echo "$(date +%s.%N) - $t0" | bc)
index="$BENCH_TMP/data/breach/sha1.pbidx"
index_bytes=$(stat -c %s "$index")
rm -f "$corpus"

# The server picks the new index up within 2 s; wait until the range answers.
for _ in $(seq 1 100); do
  [ "$(curl -fsS -o /dev/null -w '%{http_code}' "$PB_BASE/passbroker/v1/pwned/range/5BAA6" 2>/dev/null)" = 200 ] && break
  sleep 0.1
done
rss_after=$(awk '/^VmRSS:/ {print $2}' "/proc/$PB_PID/status")

cold="not measured (dropping the page cache needs root)"
if sync && echo 1 > /proc/sys/vm/drop_caches 2>/dev/null; then
  cold=$("$BB" lookups "$index" 2000)
fi
# Warm: the whole index in the page cache (as on a server that has been answering for a
# while with enough memory for it), then random lookups.
cat "$index" >/dev/null
warm=$("$BB" lookups "$index" 200000)

noop_port=$(free_port)
"$NOOP" "127.0.0.1:$noop_port" 2>/dev/null &
NOOP_PID=$!; BENCH_PIDS+=("$NOOP_PID")
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$noop_port/v3/password-change-status/x" 2>/dev/null && break; sleep 0.1; done

rate() { # BASE PATH_PREFIX -> req/s
  local out
  out=$(BASE_PATH="$2" TOKEN=x PATH_TO_GET=/ wrk -t2 -c16 -d"${secs}s" -s benches/wrk/pwned-range.lua "$1")
  echo "$out" | awk '/^RESULT/ { for (i=2;i<=NF;i++) { split($i,kv,"="); r[kv[1]]=kv[2] } printf "%.0f %s %s", r["requests"]/(r["duration_us"]/1e6), r["p99_us"], r["status_errors"] }'
}
read -r pb_rate pb_p99 pb_err <<<"$(rate "$PB_BASE" /passbroker/v1/pwned/range/)"
read -r plain_rate plain_p99 plain_err <<<"$(NO_PADDING=1 rate "$PB_BASE" /passbroker/v1/pwned/range/)"
read -r noop_rate noop_p99 _ <<<"$(rate "http://127.0.0.1:$noop_port" /v3/password-change-status/)"

echo "hashes: $n"
echo "import: ${import_s} s (goal <= 120 s at 100,000,000)"
echo "index: $index_bytes bytes ($(echo "scale=1; $index_bytes / $n" | bc) bytes a hash; goal <= 2.2 GB at 100,000,000)"
echo "lookup cold: $cold (goal p99 <= 50 us)"
echo "lookup warm: $warm (goal p99 <= 5 us)"
echo "server RSS: ${rss_before} kB before, ${rss_after} kB with the index loaded, growth $(( (rss_after - rss_before) / 1024 )) MB (goal <= 64 MB)"
echo "range (c=16, warm): padded (800-1000 lines) ${pb_rate} req/s p99 ${pb_p99} us (non-2xx: ${pb_err}), ratio $(echo "scale=2; $pb_rate / $noop_rate" | bc); unpadded ${plain_rate} req/s p99 ${plain_p99} us (non-2xx: ${plain_err}), ratio $(echo "scale=2; $plain_rate / $noop_rate" | bc); do-nothing GET ${noop_rate} req/s p99 ${noop_p99} us (goal >= 0.5)"
