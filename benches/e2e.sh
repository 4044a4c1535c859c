#!/usr/bin/env bash
# End to end: password changes completed per second through `passbroker serve --demo` (SQLite,
# or PostgreSQL with PASSBROKER_BENCH_DB=postgres; the simulated My-AD connector at zero
# latency), compared with the all-core RSA-2048 PKCS#1 v1.5 decryption rate of our decryption
# path (target/release/rsa_rate) measured in the same run, before and after. Goal: >= 80% of
# the all-core decryption rate.
# Also the latency from submission to FINISHED when idle: N_IDLE sequential set-password
# requests with `Prefer: wait=10` (the 202 then carries the final state), p50/p99.
# And the server's CPU time (user + system, /proc/PID/stat fields 14 and 15) over the
# throughput phase per completed request; on PostgreSQL also the whole cluster's CPU per
# completion (postmaster, backends and background processes), since it shares the machine.
# Usage: benches/e2e.sh [requests] [idle-requests]   (default 3000 200)
# Env: PASSBROKER_BENCH_DB=sqlite|postgres (default sqlite). postgres: a private cluster of the
# installed PostgreSQL (initdb in the temp dir, a free 127.0.0.1 port, PostgreSQL's default,
# durable settings plus PASSBROKER_BENCH_PG_SETTINGS="-c name=value ..."), stopped on exit;
# the server gets PASSBROKER_DATABASE_URL and PASSBROKER_DATABASE_PASSWORD_FILE.
# PASSBROKER_SQLITE_SYNCHRONOUS=normal|full and PASSBROKER_WORKERS=N are passed to the server.
# Prints: the machine and database, the idle latency line, the throughput lines (accepted,
# completed, completions/s, accepting and drain phases), the RSA rate, the ratio, the CPU per
# completion line, and peak RSS with the load average after.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
n="${1:-3000}"; n_idle="${2:-200}"
export BENCH_LUA_DIR="$PWD/benches/wrk"

need_wrk
build_passbroker
cargo build --release -q -p passbroker-crypto --bin rsa_rate || die "building rsa_rate failed"

db_env=()
case "${PASSBROKER_BENCH_DB:-sqlite}" in
  sqlite) db_desc="SQLite synchronous=${PASSBROKER_SQLITE_SYNCHRONOUS:-normal}" ;;
  postgres)
    note "starting a private PostgreSQL cluster"
    start_pg_cluster
    db_env=(PASSBROKER_DATABASE_URL="$PG_URL" PASSBROKER_DATABASE_PASSWORD_FILE="$PG_PASSWORD_FILE")
    db_desc="$PG_VERSION, private cluster on 127.0.0.1 ($PG_SETTINGS_DESC)" ;;
  *) die "PASSBROKER_BENCH_DB must be sqlite or postgres" ;;
esac
start_passbroker "$BENCH_TMP/data" "${db_env[@]}" \
  ${PASSBROKER_SQLITE_SYNCHRONOUS:+PASSBROKER_SQLITE_SYNCHRONOUS=$PASSBROKER_SQLITE_SYNCHRONOUS} \
  ${PASSBROKER_WORKERS:+PASSBROKER_WORKERS=$PASSBROKER_WORKERS}
pb_login "$BENCH_TMP/data"
note "making 2000 real ciphertexts with openssl pkeyutl"
export CIPHERTEXTS="$BENCH_TMP/ciphertexts.txt"
make_ciphertexts 2000 "$CIPHERTEXTS"
machine
echo "database: $db_desc; workers=${PASSBROKER_WORKERS:-16}"

# --- idle latency: submission to FINISHED, one request at a time --------------------------
: >"$BENCH_TMP/idle.txt"
mapfile -t pool <"$CIPHERTEXTS"
for i in $(seq 1 "$n_idle"); do
  enc=${pool[$(( (i - 1) % ${#pool[@]} ))]}
  body="{\"identityId\":\"$IDENTITY_ID\",\"publicKeyId\":\"$PUBLIC_KEY_ID\",\"accountId\":\"$ACCOUNT_ID\",\"sourceId\":\"$SOURCE_ID\",\"encryptedPassword\":\"$enc\"}"
  out=$(curl -sS -X POST "$PB_BASE/v3/set-password" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -H 'Prefer: wait=10' -H "Idempotency-Key: idle-$$-$i" -d "$body" -w '\n%{http_code} %{time_total}')
  state=$(echo "$out" | head -1 | jq -r .state); code_time=$(echo "$out" | tail -1)
  [ "${code_time%% *}" = 202 ] && [ "$state" = FINISHED ] || die "idle request $i: $out"
  echo "${code_time##* }" >>"$BENCH_TMP/idle.txt"
done
sort -n "$BENCH_TMP/idle.txt" | awk '{ v[NR] = $1 * 1000 } END {
  p50 = v[int(NR * 0.50 + 0.5)]; p99 = v[int(NR * 0.99 + 0.5)];
  printf "idle latency, submission to FINISHED (%d sequential requests, Prefer: wait=10): p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", NR, p50, p99, v[NR] }'

# --- throughput -----------------------------------------------------------------------------
# metric NAME: sum of a Prometheus series' values whose line matches NAME (a regex).
metric() { curl -fsS --max-time 2 "$PB_BASE/metrics" | awk -v re="$1" '$0 ~ re && $1 !~ /^#/ { s += $NF } END { printf "%d\n", s }'; }
accepted() { metric '^passbroker_http_requests_total\\{route="[^"]*set-password",method="POST",status="202"'; }
refused() { metric '^passbroker_http_requests_total\\{route="[^"]*set-password",method="POST",status="4'; }
completed() { metric '^passbroker_target_outcomes_total\\{source="My-AD",outcome="(SUCCEEDED|FAILED)"'; }
succeeded() { metric '^passbroker_target_outcomes_total\\{source="My-AD",outcome="SUCCEEDED"'; }

rsa_all() { target/release/rsa_rate 5 | awk -F= '/all_cores/ {print $2}'; }
note "RSA all-core rate (before)"
rsa_before=$(rsa_all)

a0=$(accepted); c0=$(completed); s0=$(succeeded)
note "submitting $n new set-password requests (wrk, 2 threads, 16 connections)"
cpu0=$(cpu_ticks "$PB_PID"); pgcpu0=0; [ -z "$PG_PID" ] || pgcpu0=$(pg_cpu_ticks)
t0=$(date +%s.%N)
MAX_REQUESTS=$((n / 2)) RUN_ID="e2e$RANDOM$RANDOM" wrk -t2 -c16 -d300s --timeout 10s -s benches/wrk/set-password.lua "$PB_BASE" >"$BENCH_TMP/wrk.txt" 2>&1 &
WRK_PID=$!; BENCH_PIDS+=("$WRK_PID")
t_acc=""; end=$((SECONDS + 300))
while [ $SECONDS -lt $end ]; do
  a=$(( $(accepted) - a0 )); c=$(( $(completed) - c0 ))
  if [ -z "$t_acc" ] && [ "$a" -ge "$n" ]; then t_acc=$(date +%s.%N); c_acc=$c; fi
  if [ "$a" -ge "$n" ] && [ "$c" -ge "$a" ]; then break; fi
  sleep 0.05
done
t1=$(date +%s.%N)
cpu1=$(cpu_ticks "$PB_PID"); pgcpu1=0; [ -z "$PG_PID" ] || pgcpu1=$(pg_cpu_ticks)
kill -INT "$WRK_PID" 2>/dev/null || true; wait "$WRK_PID" 2>/dev/null || true
a=$(( $(accepted) - a0 )); c=$(( $(completed) - c0 )); s=$(( $(succeeded) - s0 )); r=$(refused)
[ "$c" -ge "$n" ] || die "only $c of $a accepted requests completed within 300 s"
note "RSA all-core rate (after)"
rsa_after=$(rsa_all)

awk -v n="$n" -v a="$a" -v c="$c" -v s="$s" -v r="$r" -v t0="$t0" -v ta="$t_acc" -v ca="$c_acc" -v t1="$t1" -v rb="$rsa_before" -v ra="$rsa_after" 'BEGIN {
  rsa = (rb + ra) / 2; rate = c / (t1 - t0);
  printf "throughput: %d accepted (202), %d refused (4xx), %d completed (%d FINISHED) in %.2f s: %.0f completions/s\n", a, r, c, s, t1 - t0, rate;
  printf "  accepting phase: all %d accepted after %.2f s (%.0f 202/s), %d completed by then\n", n, ta - t0, n / (ta - t0), ca;
  if (t1 > ta + 0.2) printf "  drain phase (no more submissions): %.0f completions/s over %.2f s\n", (c - ca) / (t1 - ta), t1 - ta;
  printf "RSA-2048 decrypt, all cores (rsa_rate): %.0f/s (before %.0f, after %.0f)\n", rsa, rb, ra;
  printf "ratio completions/s : all-core decrypt/s = %.2f (goal >= 0.80) %s\n", rate / rsa, (rate / rsa >= 0.8 ? "met" : "NOT MET") }'
# CPU over the same window as completions/s (t0 to t1), per completed request.
awk -v c="$c" -v t0="$t0" -v t1="$t1" -v b="$cpu0" -v a="$cpu1" -v pb="$pgcpu0" -v pa="$pgcpu1" -v pg="${PG_PID:+1}" -v hz="$CLK_TCK" 'BEGIN {
  s = (a - b) / hz; printf "server CPU over the throughput phase: passbroker %.1f us per completion (%.2f s CPU in %.2f s: %.2f cores busy)", s * 1e6 / c, s, t1 - t0, s / (t1 - t0);
  if (pg) { p = (pa - pb) / hz; printf "; PostgreSQL %.1f us per completion (%.2f s CPU, %.2f cores)", p * 1e6 / c, p, p / (t1 - t0) }
  printf "\n" }'
echo "passbroker peak RSS: $(peak_rss_kb "$PB_PID") kB; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
