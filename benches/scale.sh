#!/usr/bin/env bash
# Scale: a tenant of IDENTITIES identities and IDENTITIES x ACCOUNTS_PER accounts (default
# 1,000,000 and 3,000,000: one account on each of My-AD and two more simulated sources),
# imported with `passbroker tenant import identities FILE.csv`, then `accounts FILE.csv` once
# per source (IDENTITIES rows each), each import timed with its peak RSS; then
# query-password-info for random identities under load
# (wrk, concurrency 16 and 64, SECONDS_PER_RUN each) with p50/p99, and the server's peak RSS
# (VmHWM). Goals: import <= 60 s, p99 <= 5 ms, server RSS <= 200 MB.
# The generated files and the data dir live in a temp dir that is removed at the end.
# Usage: benches/scale.sh [identities] [accounts-per-identity] [seconds-per-run]  (1000000 3 10)
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
ids="${1:-1000000}"; per="${2:-3}"; secs="${3:-10}"
export BENCH_LUA_DIR="$PWD/benches/wrk"
[ -x /usr/bin/time ] || { apt-get install -y -qq time >/dev/null 2>&1 || die "apt-get install time"; }

need_wrk
build_passbroker
"$PB" tenant import --help >/dev/null 2>&1 || die "this passbroker has no 'tenant import'"
data="$BENCH_TMP/data"

# Seed the demo tenant (My-AD, the API client), then stop the server.
start_passbroker "$data"
kill "$PB_PID"; wait "$PB_PID" 2>/dev/null || true
# Two more simulated sources, so that every identity has accounts on three sources.
cat >"$BENCH_TMP/sources.json" <<'JSON'
{"sources": [
  {"name": "Bench-LDAP", "connector": "simulated", "features": ["PASSWORD"], "description": "bench"},
  {"name": "Bench-DB", "connector": "simulated", "features": ["PASSWORD"], "description": "bench"}
]}
JSON
PASSBROKER_LOG=warn PASSBROKER_DATA_DIR="$data" "$PB" tenant apply "$BENCH_TMP/sources.json" >/dev/null \
  || die "tenant apply of the extra sources failed"

note "generating $ids identities and $((ids * per)) accounts (CSV)"
awk -v n="$ids" 'BEGIN {
  print "name,displayName,emailAddress,department";
  for (i = 1; i <= n; i++) printf "user%07d,User %07d,user%07d@bench.example,dept%03d\n", i, i, i, i % 997 }' >"$BENCH_TMP/identities.csv"
# One accounts file per source (as an operator exporting each source would have them).
for j in $(seq 1 "$per"); do
  src=$(echo "My-AD Bench-LDAP Bench-DB" | cut -d' ' -f$(( (j - 1) % 3 + 1 )))
  awk -v n="$ids" -v j="$j" -v s="$src" 'BEGIN {
    print "userName,sourceName,nativeIdentity,name";
    for (i = 1; i <= n; i++) printf "user%07d,%s,\"CN=User %07d-%d,OU=Bench,DC=bench,DC=example\",user%07d\n", i, s, i, j, i }' \
    >"$BENCH_TMP/accounts-$j.csv"
done
ls -la "$BENCH_TMP"/*.csv | awk '{print "# " $5 " bytes " $NF}' >&2

machine
timed_import() { # kind file -> prints "seconds peak_rss_kb"
  /usr/bin/time -f '%e %M' -o "$BENCH_TMP/time.txt" timeout 3600 env PASSBROKER_LOG=warn PASSBROKER_DATA_DIR="$data" \
    "$PB" tenant import "$1" "$2" >"$BENCH_TMP/import-$1.log" 2>&1 \
    || { cat "$BENCH_TMP/import-$1.log" "$BENCH_TMP/time.txt" >&2; die "import $1 failed"; }
  cat "$BENCH_TMP/time.txt"
}
read -r ti ri < <(timed_import identities "$BENCH_TMP/identities.csv")
echo "import identities: $ids in ${ti} s (peak RSS of the import ${ri} kB): $(tail -1 "$BENCH_TMP/import-identities.log")"
ta=0; ra=0
for j in $(seq 1 "$per"); do
  read -r t r < <(timed_import accounts "$BENCH_TMP/accounts-$j.csv")
  echo "import accounts file $j of $per: $ids in ${t} s (peak RSS of the import ${r} kB): $(tail -1 "$BENCH_TMP/import-accounts.log")"
  ta=$(awk -v a="$ta" -v b="$t" 'BEGIN { print a + b }'); [ "$r" -gt "$ra" ] && ra=$r
done
echo "import accounts:   $((ids * per)) in ${ta} s (largest peak RSS of an import ${ra} kB)"
awk -v a="$ti" -v b="$ta" 'BEGIN { t = a + b; printf "import total: %.1f s (goal <= 60 s) %s\n", t, (t <= 60 ? "met" : "NOT MET") }'
echo "database: $(du -sh "$data" | cut -f1)"

# Serve the big tenant and read it under load.
start_passbroker "$data"
pb_login "$data"
echo "server RSS after start: $(awk '/^VmRSS:/ {print $2}' /proc/$PB_PID/status) kB"
awk -v n="$ids" 'BEGIN { srand(42); for (i = 0; i < 100000; i++) printf "user%07d\n", int(rand() * n) + 1 }' >"$BENCH_TMP/names.txt"
export USER_NAMES="$BENCH_TMP/names.txt"
body=$(curl -fsS -X POST "$PB_BASE/v3/query-password-info" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d "{\"userName\":\"user$(printf %07d "$ids")\",\"sourceName\":\"My-AD\"}") || die "query-password-info for an imported identity failed"
echo "$body" | jq -e '.accounts | length == 1' >/dev/null || die "unexpected answer: $body"
read_load() { # label concurrency...
  local label="$1" c out; shift
  for c in "$@"; do
    out=$(wrk -t2 -c"$c" -d"${secs}s" --timeout 10s -s benches/wrk/query-password-info-many.lua "$PB_BASE" 2>&1)
    echo "$out" | grep '^RESULT ' | awk -v c="$c" -v ids="$ids" -v label="$label" '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      p99 = v["p99_us"] / 1000;
      printf "%squery-password-info, random identity of %s, concurrency %d: %.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d (goal p99 <= 5 ms) %s\n",
        label, ids, c, (v["requests"] - v["status_errors"]) / (v["duration_us"] / 1e6), v["p50_us"] / 1000, p99,
        v["status_errors"] + v["socket_errors"], (p99 <= 5 ? "met" : "NOT MET") }'
  done
}
read_load "" 16 64
hwm=$(peak_rss_kb "$PB_PID")
awk -v k="$hwm" 'BEGIN { printf "server peak RSS (VmHWM): %.1f MB (goal <= 200 MB) %s\n", k / 1024, (k / 1024 <= 200 ? "met" : "NOT MET") }'

# Diagnostic: SQLite's plans for query-password-info's account look-up, written as before and
# after commit 03a7e85 (`ORDER BY +native_id`), then the same load after `ANALYZE` (statistics
# let the planner pick the (identity_id, source_id) index whichever way the query is written).
if command -v sqlite3 >/dev/null; then
  plan() { sqlite3 "$data/passbroker.db" "EXPLAIN QUERY PLAN SELECT * FROM accounts WHERE identity_id = 'x' AND source_id = 'y' ORDER BY $1" | grep -o 'SEARCH.*' | head -1; }
  echo "diagnostic: plan with ORDER BY native_id: $(plan native_id); with ORDER BY +native_id: $(plan +native_id)"
  kill "$PB_PID"; wait "$PB_PID" 2>/dev/null || true
  t=$(date +%s.%N); sqlite3 "$data/passbroker.db" 'ANALYZE;'; t=$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  echo "diagnostic: after sqlite3 ANALYZE (${t} s): plan with ORDER BY native_id: $(plan native_id)"
  start_passbroker "$data"
  pb_login "$data"
  read_load "diagnostic, after ANALYZE: " 16
  echo "diagnostic, after ANALYZE: server peak RSS (VmHWM) $(( $(peak_rss_kb "$PB_PID") / 1024 )) MB"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
