# Shared helpers for the benchmark scripts (sourced, not run). Everything runs on 127.0.0.1:
# servers on free ports, stopped by PID on exit; temporary data in a temp dir, removed on exit.

die() { echo "error: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

BENCH_TMP="$(mktemp -d "${TMPDIR:-/tmp}/passbroker-bench.XXXXXX")"
BENCH_PIDS=()
bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${BENCH_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
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
