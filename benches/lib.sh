# Shared helpers for the benchmark scripts (sourced, not run). Everything runs on 127.0.0.1:
# servers on free ports, stopped by PID on exit; temporary data in a temp dir, removed on exit.

die() { echo "error: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

BENCH_TMP="$(mktemp -d "${TMPDIR:-/tmp}/passbroker-bench.XXXXXX")"
BENCH_PIDS=()
PG_PID=""
bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${BENCH_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  # PostgreSQL last, once its clients are gone (see start_pg_cluster).
  stop_pg_cluster
  rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

machine() {
  echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

need_wrk() {
  command -v wrk >/dev/null && return
  note "installing wrk (Debian)"
  { apt-get update -qq && apt-get install -y -qq wrk; } >/dev/null 2>&1 || die "wrk is missing: apt-get install wrk"
}

# PASSBROKER_BIN=path uses that binary instead of building target/release/passbroker (so that
# several benchmarks measure the same build while the tree is being edited).
build_passbroker() {
  if [ -n "${PASSBROKER_BIN:-}" ]; then PB="$PASSBROKER_BIN"; return; fi
  cargo build --release -q -p passbroker || die "cargo build --release -p passbroker failed"
  PB=target/release/passbroker
}

# start_passbroker DATA_DIR [extra env assignments...]: starts `serve --demo` on a free port,
# sets PB_PID, PB_BASE; waits for /health/ready and demo-credentials.json.
start_passbroker() {
  local dir="$1"; shift
  local port; port=$(free_port)
  mkdir -p "$dir"
  env PASSBROKER_LOG="${PASSBROKER_LOG:-warn}" \
      PASSBROKER_RATE_LIMIT_REQUESTS=1000000 \
      PASSBROKER_CLIENT_RATE_LIMIT_REQUESTS=1000000 \
      PASSBROKER_TOKEN_LIFETIME_SECS=7200 \
      "$@" \
      "$PB" serve --demo --data-dir "$dir" --listen "127.0.0.1:$port" >"$dir/server.log" 2>&1 &
  PB_PID=$!
  BENCH_PIDS+=("$PB_PID")
  PB_BASE="http://127.0.0.1:$port"
  local i
  for i in $(seq 1 600); do
    if curl -fsS -o /dev/null --max-time 1 "$PB_BASE/health/ready" 2>/dev/null && [ -s "$dir/demo-credentials.json" ]; then
      return 0
    fi
    kill -0 "$PB_PID" 2>/dev/null || { cat "$dir/server.log" >&2; die "passbroker exited"; }
    sleep 0.1
  done
  die "passbroker did not become ready"
}

# pb_login DATA_DIR: sets TOKEN, and from query-password-info IDENTITY_ID SOURCE_ID
# PUBLIC_KEY_ID ACCOUNT_ID; writes $BENCH_TMP/pub.pem.
pb_login() {
  local creds="$1/demo-credentials.json"
  local id secret
  id=$(jq -r .clientId "$creds"); secret=$(jq -r .clientSecret "$creds")
  TOKEN=$(curl -fsS -X POST "$PB_BASE/oauth/token" -d grant_type=client_credentials \
          -d "client_id=$id" -d "client_secret=$secret" | jq -r .access_token)
  [ -n "$TOKEN" ] && [ "$TOKEN" != null ] || die "no token"
  curl -fsS -X POST "$PB_BASE/v3/query-password-info" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d '{"userName":"Abby.Smith","sourceName":"My-AD"}' >"$BENCH_TMP/info.json" \
    || die "query-password-info failed"
  IDENTITY_ID=$(jq -r .identityId "$BENCH_TMP/info.json")
  SOURCE_ID=$(jq -r .sourceId "$BENCH_TMP/info.json")
  PUBLIC_KEY_ID=$(jq -r .publicKeyId "$BENCH_TMP/info.json")
  ACCOUNT_ID=$(jq -r '.accounts[0].accountId' "$BENCH_TMP/info.json")
  { echo '-----BEGIN PUBLIC KEY-----'; jq -r .publicKey "$BENCH_TMP/info.json" | fold -w 64; echo '-----END PUBLIC KEY-----'; } >"$BENCH_TMP/pub.pem"
  export TOKEN IDENTITY_ID SOURCE_ID PUBLIC_KEY_ID ACCOUNT_ID
}

# make_ciphertexts N FILE: N real RSA PKCS#1 v1.5 ciphertexts (base64, one a line) of distinct
# passwords that meet the demo policy, made with `openssl pkeyutl -encrypt -pubin`.
make_ciphertexts() {
  local n="$1" out="$2"
  # Passwords like Bench-1a2b3c-7d0e9f-x9: every digit followed by a letter, so that no
  # character repeats more than 3 times in a row (the demo policy), and all distinct.
  seq 1 "$n" | xargs -P "$(nproc)" -n 50 sh -c '
    for i in "$@"; do
      pw=$(printf "Bench-%s-%s-x9" "$i" "$(od -An -N2 -tu2 /dev/urandom | tr -d " ")" | sed "s/\([0-9]\)/\1q/g")
      ct=$(printf "%s" "$pw" | openssl pkeyutl -encrypt -pubin -inkey "$0" | base64 -w0)
      printf "%s\n" "$ct"  # one write per line: the parallel writers do not interleave
    done' "$BENCH_TMP/pub.pem" >"$out"
  [ "$(grep -c . "$out")" = "$n" ] || die "made $(grep -c . "$out") of $n ciphertexts"
}

# queue_in_progress: the server's passbroker_queue_in_progress gauge.
queue_in_progress() {
  curl -fsS --max-time 2 "$PB_BASE/metrics" | awk '$1 == "passbroker_queue_in_progress" {print $2}'
}

# wait_queue_empty MAX_SECONDS: waits until no request is in progress; returns 1 on timeout.
wait_queue_empty() {
  local end=$((SECONDS + $1)) q
  while [ $SECONDS -lt $end ]; do
    q=$(queue_in_progress)
    [ "${q%.*}" = 0 ] && return 0
    sleep 0.2
  done
  return 1
}

# peak_rss_kb PID: VmHWM of a running process, in kB.
peak_rss_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# --- CPU time ---------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID: the process's user + system CPU time so far (all its threads), in clock ticks
# (fields 14 and 15 of /proc/PID/stat; counted after the ")" that ends field 2, the command
# name, which may contain spaces).
# Prints 0 for a process that is gone.
cpu_ticks() {
  awk '{ sub(/^.*\) /, ""); split($0, f, " "); t = f[12] + f[13] } END { print t + 0 }' "/proc/$1/stat" 2>/dev/null \
    || echo 0
}

# cpu_us_per TICKS_BEFORE TICKS_AFTER COUNT: CPU microseconds per counted request ("-" if none).
cpu_us_per() {
  awk -v b="$1" -v a="$2" -v n="$3" -v hz="$CLK_TCK" 'BEGIN {
    if (n > 0) printf "%.1f\n", (a - b) * 1e6 / hz / n; else print "-" }'
}

# --- a private PostgreSQL cluster -------------------------------------------------------------
# start_pg_cluster: initdb in $BENCH_TMP/pg, postgres on a free 127.0.0.1 port (as nobody via
# setpriv when we are root: initdb refuses root), a database "passbroker". Sets PG_PID,
# PG_PORT, PG_VERSION, PG_SETTINGS_DESC (the settings that matter, as the server reports them),
# PG_URL (no password in it) and PG_PASSWORD_FILE (for PASSBROKER_DATABASE_PASSWORD_FILE;
# the superuser's random password, never printed). TCP needs the password (scram-sha-256); the
# Unix socket, in a directory only the cluster's user can enter, is trusted.
# Settings: PostgreSQL's defaults (fsync on, synchronous_commit on: a commit is durable) plus
# PASSBROKER_BENCH_PG_SETTINGS, extra "-c name=value" arguments for postgres.
# The cleanup trap stops it (fast shutdown) after the other processes.
# PG_BIN (default: the newest /usr/lib/postgresql/N/bin) selects the installation.
start_pg_cluster() {
  local bin="${PG_BIN:-}"
  if [ -z "$bin" ]; then
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4n | tail -1)
  fi
  [ -n "$bin" ] && [ -x "$bin/initdb" ] && [ -x "$bin/postgres" ] \
    || die "PostgreSQL is not installed (apt-get install postgresql), or set PG_BIN"
  PG_RUN=()
  if [ "$(id -u)" = 0 ]; then
    command -v setpriv >/dev/null || die "setpriv (util-linux) is needed to run PostgreSQL as nobody"
    PG_RUN=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
    chmod 711 "$BENCH_TMP" # nobody may pass through to its own directory (not list the rest)
  fi
  local dir="$BENCH_TMP/pg"
  mkdir -p "$dir"
  PG_PASSWORD_FILE="$BENCH_TMP/pg-password"
  ( umask 077; od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$PG_PASSWORD_FILE" )
  install -m 600 "$PG_PASSWORD_FILE" "$dir/pw"
  if [ "$(id -u)" = 0 ]; then chown -R 65534:65534 "$dir"; fi
  chmod 700 "$dir"
  env LC_ALL=C "${PG_RUN[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth-host=scram-sha-256 \
    --auth-local=trust -E UTF8 --no-locale --no-sync --pwfile="$dir/pw" >"$BENCH_TMP/initdb.log" 2>&1 \
    || { cat "$BENCH_TMP/initdb.log" >&2; die "initdb failed"; }
  rm -f "$dir/pw"
  PG_PORT=$(free_port)
  # shellcheck disable=SC2086 # PASSBROKER_BENCH_PG_SETTINGS is a list of arguments
  env LC_ALL=C "${PG_RUN[@]}" "$bin/postgres" -D "$dir/data" -p "$PG_PORT" -k "$dir" \
    -c listen_addresses=127.0.0.1 -c max_connections=200 -c logging_collector=off \
    ${PASSBROKER_BENCH_PG_SETTINGS:-} >"$BENCH_TMP/postgres.log" 2>&1 &
  PG_PID=$!  # setpriv execs postgres: this is the postmaster
  local end=$((SECONDS + 60))
  until "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres; do
    kill -0 "$PG_PID" 2>/dev/null || { cat "$BENCH_TMP/postgres.log" >&2; PG_PID=""; die "postgres exited"; }
    [ $SECONDS -lt $end ] || { cat "$BENCH_TMP/postgres.log" >&2; die "postgres did not become ready in 60 s"; }
    sleep 0.1
  done
  "${PG_RUN[@]}" "$bin/psql" -X -q -h "$dir" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 \
    -c 'CREATE DATABASE passbroker' >/dev/null || die "CREATE DATABASE failed"
  PG_VERSION=$("$bin/postgres" --version)
  PG_SETTINGS_DESC=$("${PG_RUN[@]}" "$bin/psql" -X -q -A -t -h "$dir" -p "$PG_PORT" -U postgres -d postgres -c \
    "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings
     WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'max_connections')")
  PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/passbroker?sslmode=disable"
}

# stop_pg_cluster: fast shutdown (sessions cut, no wait for clients), at most 30 s, then an
# immediate one.
stop_pg_cluster() {
  [ -n "${PG_PID:-}" ] || return 0
  kill -INT "$PG_PID" 2>/dev/null || { PG_PID=""; return 0; }
  local end=$((SECONDS + 30))
  while kill -0 "$PG_PID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
  kill -QUIT "$PG_PID" 2>/dev/null || true
  wait "$PG_PID" 2>/dev/null || true
  PG_PID=""
}

# pg_cpu_ticks: CPU time of the whole cluster so far, in clock ticks: the postmaster's own and
# that of its children that have exited (fields 14-17), plus its live children's (backends,
# walwriter, checkpointer ...; fields 14 and 15).
pg_cpu_ticks() {
  local total child
  total=$(awk '{ sub(/^.*\) /, ""); split($0, f, " "); print f[12] + f[13] + f[14] + f[15] }' "/proc/$PG_PID/stat")
  for child in $(pgrep -P "$PG_PID"); do
    total=$(( total + $(cpu_ticks "$child") ))
  done
  echo "$total"
}
