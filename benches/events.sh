#!/usr/bin/env bash
# Events: the lag from a change's commit to its event's delivery, under the end-to-end
# benchmark's load (benches/e2e.sh: N set-password requests through wrk, 2 threads, 16
# connections, `passbroker serve --demo` on SQLite, the simulated My-AD at zero latency), with
# one subscription to every event (`passbroker:all`) whose receiver answers at once
# (benches/noop-server's POST /hook, 204). The lag is passbroker's own histogram
# (passbroker_event_delivery_lag_seconds: delivery time minus the event's time, which is its
# change's commit time within milliseconds). Goal: p99 < 1 s.
# Usage: benches/events.sh [requests]   (default 3000)
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
n="${1:-3000}"
export BENCH_LUA_DIR="$PWD/benches/wrk"

need_wrk
build_passbroker
cargo build --release -q --manifest-path benches/noop-server/Cargo.toml --target-dir target/bench-noop \
  || die "building benches/noop-server failed"
receiver_port=$(free_port)
target/bench-noop/release/noop-server "127.0.0.1:$receiver_port" 2>/dev/null &
BENCH_PIDS+=("$!")

start_passbroker "$BENCH_TMP/data" ${PASSBROKER_WORKERS:+PASSBROKER_WORKERS=$PASSBROKER_WORKERS}
pb_login "$BENCH_TMP/data"
note "making 2000 real ciphertexts with openssl pkeyutl"
export CIPHERTEXTS="$BENCH_TMP/ciphertexts.txt"
make_ciphertexts 2000 "$CIPHERTEXTS"
machine

curl -fsS -X POST "$PB_BASE/beta/trigger-subscriptions" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' \
  -d "{\"name\":\"bench\",\"triggerId\":\"passbroker:all\",\"type\":\"HTTP\",\"httpConfig\":{\"url\":\"http://127.0.0.1:$receiver_port/hook\",\"httpDispatchMode\":\"SYNC\"}}" \
  >/dev/null || die "creating the subscription failed"

metric() { curl -fsS --max-time 2 "$PB_BASE/metrics" | awk -v re="$1" '$0 ~ re && $1 !~ /^#/ { s += $NF } END { printf "%d\n", s }'; }
accepted() { metric '^passbroker_http_requests_total\\{route="[^"]*set-password",method="POST",status="202"'; }
completed() { metric '^passbroker_target_outcomes_total\\{source="My-AD",outcome="(SUCCEEDED|FAILED)"'; }
delivered() { metric '^passbroker_event_deliveries_total '; }

note "submitting $n set-password requests (wrk, 2 threads, 16 connections)"
t0=$(date +%s.%N)
MAX_REQUESTS=$((n / 2)) RUN_ID="ev$RANDOM$RANDOM" wrk -t2 -c16 -d300s --timeout 10s -s benches/wrk/set-password.lua "$PB_BASE" >"$BENCH_TMP/wrk.txt" 2>&1 &
WRK_PID=$!; BENCH_PIDS+=("$WRK_PID")
end=$((SECONDS + 300))
while [ $SECONDS -lt $end ]; do
  a=$(accepted); c=$(completed)
  if [ "$a" -ge "$n" ] && [ "$c" -ge "$a" ]; then break; fi
  sleep 0.05
done
t1=$(date +%s.%N)
kill -INT "$WRK_PID" 2>/dev/null || true; wait "$WRK_PID" 2>/dev/null || true
# Every change has ended; wait until the deliveries stop growing (the outbox is drained).
last=-1; end=$((SECONDS + 120))
while [ $SECONDS -lt $end ]; do
  d=$(delivered); [ "$d" = "$last" ] && break; last=$d; sleep 1
done
t2=$(date +%s.%N)

curl -fsS --max-time 2 "$PB_BASE/metrics" | grep '^passbroker_event_' >"$BENCH_TMP/events.txt"
awk -v n="$n" -v a="$(accepted)" -v c="$(completed)" -v t0="$t0" -v t1="$t1" -v t2="$t2" '
  /^passbroker_event_delivery_lag_seconds_bucket/ { match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); b[++k] = le; v[k] = $NF }
  /^passbroker_event_delivery_lag_seconds_count/ { count = $NF }
  /^passbroker_event_delivery_lag_seconds_sum/ { sum = $NF }
  /^passbroker_event_deliveries_total/ { d = $NF }
  /^passbroker_event_delivery_failures_total/ { f = $NF }
  END {
    printf "load: %d accepted, %d completed in %.2f s (%.0f completions/s); all events delivered %.2f s after the last completion\n", a, c, t1 - t0, c / (t1 - t0), t2 - t1 - 1;
    printf "events delivered: %d (%.1f per change), failed attempts: %d, mean lag %.1f ms\n", d, d / c, f, count ? 1000 * sum / count : 0;
    for (i = 1; i <= k; i++) if (!p50 && v[i] >= 0.50 * count) p50 = b[i];
    for (i = 1; i <= k; i++) if (!p99 && v[i] >= 0.99 * count) p99 = b[i];
    for (i = 1; i <= k; i++) if (b[i] == "1") under1 = v[i];
    printf "lag, commit to delivery (histogram buckets): p50 <= %s s, p99 <= %s s; %.2f%% within 1 s (goal p99 < 1 s) %s\n",
      p50, p99, 100 * under1 / count, (under1 >= 0.99 * count ? "met" : "NOT MET") }' "$BENCH_TMP/events.txt"
echo "passbroker peak RSS: $(peak_rss_kb "$PB_PID") kB; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
