#!/usr/bin/env bash
# HTTP acceptance: set-password (202/s, each a NEW request: real ciphertext, unique
# Idempotency-Key; the request row is committed before the 202), query-password-info and
# password-change-status (requests/s), at concurrency 16 and 64, with p50/p99 latency, against
# `passbroker serve --demo` (release, SQLite) and against benches/noop-server (a do-nothing axum
# server with the same routes and fixed bodies) in the same run, with the ratio.
# Goals: set-password >= 30% of the noop rate, reads >= 50%.
# CPU per request: each run also reads the server's user + system CPU time (/proc/PID/stat,
# fields 14 and 15) before and after wrk, for passbroker and for the noop server alike, and
# prints server CPU microseconds per request wrk counted (2xx or not) at the end of the line:
# "cpu us/req: pb X noop Y (pb/noop Z)". Less sensitive to a noisy machine than req/s (time
# spent waiting for a core is not counted). For set-password it is the intake plus whatever the
# workers did during the run; a line of its own then adds the drain (server CPU from the run's
# start until the queue is empty, per 202). The diagnostic lines carry the same figure.
# Load generator: wrk (Debian), 2 threads, loopback only, each run bounded to SECONDS_PER_RUN.
# Usage: benches/http.sh [seconds-per-run]   (default 10)
# Env: PASSBROKER_SQLITE_SYNCHRONOUS=normal|full, PASSBROKER_WORKERS=N are passed to the server
# (PASSBROKER_WORKERS=0: an intake-only node, issue 14's intake figure; nothing is drained,
# and PASSBROKER_ADMISSION_MIN_BACKLOG defaults to 10,000,000 so admission does not end the run);
# ENDPOINTS="set-password ..." selects the endpoints (default: all three).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
secs="${1:-10}"
export BENCH_LUA_DIR="$PWD/benches/wrk"

need_wrk
build_passbroker
cargo build --release -q --manifest-path benches/noop-server/Cargo.toml --target-dir target/bench-noop \
  || die "building benches/noop-server failed"
NOOP=target/bench-noop/release/noop-server

# An intake-only node drains nothing itself: without a larger admission floor its backlog
# cap (admission_min_backlog, 10,000 by default) ends the run in 429s within seconds.
if [ "${PASSBROKER_WORKERS:-}" = 0 ]; then
  PASSBROKER_ADMISSION_MIN_BACKLOG="${PASSBROKER_ADMISSION_MIN_BACKLOG:-10000000}"
fi
start_passbroker "$BENCH_TMP/data" \
  ${PASSBROKER_SQLITE_SYNCHRONOUS:+PASSBROKER_SQLITE_SYNCHRONOUS=$PASSBROKER_SQLITE_SYNCHRONOUS} \
  ${PASSBROKER_WORKERS:+PASSBROKER_WORKERS=$PASSBROKER_WORKERS} \
  ${PASSBROKER_ADMISSION_MIN_BACKLOG:+PASSBROKER_ADMISSION_MIN_BACKLOG=$PASSBROKER_ADMISSION_MIN_BACKLOG}
noop_port=$(free_port)
"$NOOP" "127.0.0.1:$noop_port" 2>/dev/null &
NOOP_PID=$!; BENCH_PIDS+=("$NOOP_PID")
NOOP_BASE="http://127.0.0.1:$noop_port"
for _ in $(seq 1 100); do curl -fsS -o /dev/null -X POST "$NOOP_BASE/v3/set-password" 2>/dev/null && break; sleep 0.1; done

pb_login "$BENCH_TMP/data"
note "making 2000 real ciphertexts with openssl pkeyutl"
export CIPHERTEXTS="$BENCH_TMP/ciphertexts.txt"
make_ciphertexts 2000 "$CIPHERTEXTS"

# One real, finished request for the status reads.
body=$(jq -nc --arg enc "$(head -1 "$CIPHERTEXTS")" '{identityId:env.IDENTITY_ID, publicKeyId:env.PUBLIC_KEY_ID,
  accountId:env.ACCOUNT_ID, sourceId:env.SOURCE_ID, encryptedPassword:$enc}')
first=$(curl -fsS -X POST "$PB_BASE/v3/set-password" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -H 'Prefer: wait=10' -H "Idempotency-Key: status-$$" -d "$body") || die "set-password failed"
export REQUEST_ID; REQUEST_ID=$(echo "$first" | jq -r .requestId)
# With PASSBROKER_WORKERS=0 (an intake-only node) nothing finishes: the status reads then read
# a request in progress.
[ "$(echo "$first" | jq -r .state)" = FINISHED ] || [ "${PASSBROKER_WORKERS:-}" = 0 ] \
  || die "first request did not finish: $first"

# sample_response ENDPOINT: the status line and body of one request like the load's.
sample_response() {
  local ct
  case "$1" in
    set-password)
      ct=$(head -1 "$CIPHERTEXTS")
      curl -sS -o - -w ' (HTTP %{http_code})' -X POST "$PB_BASE/v3/set-password" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' -H "Idempotency-Key: sample-$RANDOM$RANDOM" \
        -d "{\"identityId\":\"$IDENTITY_ID\",\"publicKeyId\":\"$PUBLIC_KEY_ID\",\"accountId\":\"$ACCOUNT_ID\",\"sourceId\":\"$SOURCE_ID\",\"encryptedPassword\":\"$ct\"}" ;;
    query-password-info)
      curl -sS -o - -w ' (HTTP %{http_code})' -X POST "$PB_BASE/v3/query-password-info" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' -d '{"userName":"Abby.Smith","sourceName":"My-AD"}' ;;
    *)
      curl -sS -o - -w ' (HTTP %{http_code})' "$PB_BASE/v3/password-change-status/$REQUEST_ID" -H "Authorization: Bearer $TOKEN" ;;
  esac
}

# run_wrk SCRIPT BASE CONCURRENCY SECONDS SERVER_PID
#   -> "2xx_rate p50_ms p99_ms non2xx all_rate cpu_us_per_request 2xx_count"
# (the server's CPU time over the run divided by every request wrk counted).
run_wrk() {
  local out line t0 t1
  t0=$(cpu_ticks "$5")
  out=$(RUN_ID="r$RANDOM$RANDOM" wrk -t2 -c"$3" -d"${4}s" --timeout 10s -s "benches/wrk/$1.lua" "$2" 2>&1) || { echo "$out" >&2; die "wrk failed"; }
  t1=$(cpu_ticks "$5")
  line=$(echo "$out" | grep '^RESULT ') || { echo "$out" >&2; die "no RESULT from wrk"; }
  echo "$line" | awk -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    good = v["requests"] - v["status_errors"] - v["socket_errors"];
    d = v["duration_us"] / 1e6;
    cpu = v["requests"] > 0 ? (t1 - t0) * 1e6 / hz / v["requests"] : 0;
    printf "%.0f %.2f %.2f %d %.0f %.1f %d\n", good / d, v["p50_us"] / 1000, v["p99_us"] / 1000, v["status_errors"] + v["socket_errors"], v["requests"] / d, cpu, good }'
}

machine
echo "wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), 2 threads, ${secs}s per run; passbroker serve --demo (SQLite synchronous=${PASSBROKER_SQLITE_SYNCHRONOUS:-normal}, workers=${PASSBROKER_WORKERS:-16}); CPU clock ${CLK_TCK} ticks/s"
note "warm-up"
run_wrk query-password-info "$NOOP_BASE" 16 2 "$NOOP_PID" >/dev/null
run_wrk query-password-info "$PB_BASE" 16 2 "$PB_PID" >/dev/null

printf '%-24s %4s | %12s %8s %8s | %12s %8s %8s %6s | %6s %-15s | %s\n' endpoint conc "noop req/s" "p50 ms" "p99 ms" "pb req/s" "p50 ms" "p99 ms" "non2xx" ratio goal "server CPU"
for ep in ${ENDPOINTS:-set-password query-password-info password-change-status}; do
  goal=0.50; [ "$ep" = set-password ] && goal=0.30
  for c in 16 64; do
    read -r nr n50 n99 nbad _ ncpu _ < <(run_wrk "$ep" "$NOOP_BASE" "$c" "$secs" "$NOOP_PID")
    pb_ticks0=$(cpu_ticks "$PB_PID")
    read -r pr p50 p99 pbad _ pcpu pgood < <(run_wrk "$ep" "$PB_BASE" "$c" "$secs" "$PB_PID")
    awk -v ep="$ep" -v c="$c" -v nr="$nr" -v n50="$n50" -v n99="$n99" -v pr="$pr" -v p50="$p50" -v p99="$p99" -v bad="$pbad" -v g="$goal" \
        -v pc="$pcpu" -v nc="$ncpu" 'BEGIN {
      r = pr / nr; printf "%-24s %4d | %12.0f %8.2f %8.2f | %12.0f %8.2f %8.2f %6d | %6.2f >= %.2f %-7s | cpu us/req: pb %.1f noop %.1f (pb/noop %.1f)\n",
        ep, c, nr, n50, n99, pr, p50, p99, bad, r, g, (r >= g ? "met" : "NOT MET"), pc, nc, (nc > 0 ? pc / nc : 0) }'
    if [ "$pbad" -gt 0 ]; then
      # Say what the failures were: one more request of the same kind, by hand.
      note "$ep c=$c: $pbad non-2xx; one request now answers: $(sample_response "$ep")"
    fi
    if [ "$ep" = set-password ] && [ "${PASSBROKER_WORKERS:-}" != 0 ]; then
      # Let the workers drain what was accepted before the next run (bounded).
      wait_queue_empty 300 || note "queue still not empty after 300 s: $(queue_in_progress) in progress"
      # The server's CPU from the run's start until the queue was empty, per 202 of the run:
      # intake and completion together.
      printf '%-24s %4d   server CPU incl. draining the queue: %s us per 202 (%d 202s)\n' \
        "$ep" "$c" "$(cpu_us_per "$pb_ticks0" "$(cpu_ticks "$PB_PID")" "$pgood")" "$pgood"
    fi
  done
done
# Where passbroker's time goes (passbroker only, concurrency 64): its HTTP stack without auth,
# and auth alone (token verification + rate limit; a malformed id is a 404 before any query).
for diag in "/health/live|no auth, no database" "/v3/password-change-status/x|auth only (404 before any query)"; do
  read -r _ d50 d99 _ dr dcpu _ < <(PATH_TO_GET="${diag%%|*}" run_wrk get "$PB_BASE" 64 "$secs" "$PB_PID")
  printf 'diagnostic: GET %-32s %-36s %8.0f req/s  p50 %.2f ms  p99 %.2f ms  cpu %.1f us/req\n' "${diag%%|*}" "(${diag##*|})" "$dr" "$d50" "$d99" "$dcpu"
done
echo "passbroker peak RSS: $(peak_rss_kb "$PB_PID") kB; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
