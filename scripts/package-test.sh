#!/usr/bin/env bash
# The Debian package, tried as an operator would: build it from target/debug/passbroker,
# install it with dpkg, check what it installed (user, directories, modes, the unit with
# `systemd-analyze verify`), start the installed binary as the packaged user with the packaged
# configuration and the master key handed over the way the unit's LoadCredential= does, change
# a password through it, then purge the package.
#
# Where systemd is PID 1, the service is started with systemctl; elsewhere (containers, CI)
# the same command line runs under setpriv as the passbroker user, with $CREDENTIALS_DIRECTORY made by hand: the unit's
# sandboxing is then checked by systemd-analyze only.
#
#   scripts/package-test.sh [BINARY]     # needs root, dpkg and a built binary
#
# Refuses to run on a machine where passbroker is already installed (it purges the package).
# Skips (exit 0, saying why) without root or dpkg, unless PASSBROKER_REQUIRE_SERVICES=1.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/debug/passbroker}

skip() {
  if [ "${PASSBROKER_REQUIRE_SERVICES:-0}" = 1 ]; then echo "FAIL [package] $*"; exit 1; fi
  echo "SKIPPED [package] $*"; exit 0
}
fail() { echo "FAIL [package] $*"; exit 1; }
step() { echo "-- $*"; }

[ "$(id -u)" -eq 0 ] || skip "needs root (dpkg -i)"
command -v dpkg >/dev/null || skip "dpkg is missing"
command -v systemd-analyze >/dev/null || skip "systemd-analyze is missing (apt-get install systemd)"
if dpkg -s passbroker >/dev/null 2>&1 || [ -e /var/lib/passbroker ] || getent passwd passbroker >/dev/null; then
  fail "passbroker is already installed here; this test installs and purges its own"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/passbroker-package.XXXXXX")
SERVER_PID=
cleanup() {
  local rc=$?
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -d /run/systemd/system ]; then systemctl stop passbroker.service >/dev/null 2>&1 || true; fi
  dpkg -P passbroker >/dev/null 2>&1 || true
  userdel passbroker >/dev/null 2>&1 || true
  groupdel passbroker >/dev/null 2>&1 || true
  rm -rf /var/lib/passbroker /etc/passbroker "$WORK"
  exit "$rc"
}
trap cleanup EXIT

step "build"
DEB=$(bash scripts/build-deb.sh "$BIN")
echo "   $DEB ($(du -h "$DEB" | cut -f1))"

step "install"
dpkg -i "$DEB" >"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log"; fail "dpkg -i failed"; }
getent passwd passbroker | grep -q nologin || fail "no system user passbroker"
[ "$(stat -c '%U:%G %a' /var/lib/passbroker)" = "passbroker:passbroker 750" ] || fail "/var/lib/passbroker: $(stat -c '%U:%G %a' /var/lib/passbroker)"
[ "$(stat -c '%U:%G %a' /etc/passbroker/master.key)" = "root:root 600" ] || fail "master.key: $(stat -c '%U:%G %a' /etc/passbroker/master.key)"
dpkg-query -W -f='${Conffiles}\n' passbroker | grep -q /etc/passbroker/passbroker.toml || fail "passbroker.toml is not a conffile"
/usr/bin/passbroker --version

step "systemd-analyze verify"
# --man=no: the unit's documentation link is a local file; warnings about other units on
# the machine are not ours.
if ! systemd-analyze verify --man=no /lib/systemd/system/passbroker.service >"$WORK/verify.log" 2>&1; then
  cat "$WORK/verify.log"; fail "systemd-analyze verify failed"
fi
if grep -i 'passbroker' "$WORK/verify.log"; then fail "systemd-analyze verify warns about the unit"; fi
SECURITY=$(systemd-analyze security --offline=yes /lib/systemd/system/passbroker.service 2>/dev/null | tail -n1 || true)
[ -n "$SECURITY" ] && echo "   $SECURITY"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
# What the unit's LoadCredential= gives the service: a private copy of the key.
CREDS="$WORK/credentials"
install -d -o passbroker -g passbroker -m 0500 "$CREDS"
install -o passbroker -g passbroker -m 0400 /etc/passbroker/master.key "$CREDS/master-key"
# setpriv execs (no child process), so the server's $! is the server itself.
AS_SERVICE=(setpriv --reuid=passbroker --regid=passbroker --init-groups -- env HOME=/var/lib/passbroker
  PASSBROKER_MASTER_KEY_FILE="$CREDS/master-key" PASSBROKER_LISTEN="127.0.0.1:$PORT"
  /usr/bin/passbroker --config /etc/passbroker/passbroker.toml)
as_service() { "${AS_SERVICE[@]}" "$@"; }

step "a tenant, an API client"
cat >"$WORK/tenant.yaml" <<'TENANT'
identities:
  - userName: Package.User
sources:
  - name: Sim
    features: [PASSWORD]
    connector: simulated
accounts:
  - { identity: Package.User, source: Sim, accountId: package-user }
TENANT
chmod 0644 "$WORK/tenant.yaml"; chmod 0755 "$WORK"
as_service tenant apply "$WORK/tenant.yaml" >/dev/null || fail "tenant apply failed"
CLIENT=$(as_service clients create --name package-test --json) || fail "clients create failed"

step "serve"
if [ -d /run/systemd/system ]; then
  mkdir -p /etc/systemd/system/passbroker.service.d
  printf '[Service]\nEnvironment=PASSBROKER_LISTEN=127.0.0.1:%s\n' "$PORT" >/etc/systemd/system/passbroker.service.d/test.conf
  systemctl daemon-reload
  systemctl start passbroker.service || { journalctl -u passbroker --no-pager | tail -n 30; fail "systemctl start failed"; }
else
  echo "   systemd is not PID 1 here: starting the unit's command as the passbroker user"
  "${AS_SERVICE[@]}" serve >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  as_service healthcheck --wait 60 >/dev/null || { tail -n 30 "$WORK/server.log"; fail "the installed server never became ready"; }
fi
[ "$(stat -c '%U' /var/lib/passbroker/passbroker.db)" = passbroker ] || fail "the database is not owned by passbroker"

step "a password change through the installed service"
ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["clientId"])' "$CLIENT")
SECRET=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["clientSecret"])' "$CLIENT")
OUT=$(printf 'Package-Passw0rd-1\n' | PASSBROKER_CLIENT_ID=$ID PASSBROKER_CLIENT_SECRET=$SECRET \
  /usr/bin/passbroker set-password --base-url "$BASE" --user Package.User --source Sim --password-stdin 2>"$WORK/set-password.err") \
  || { echo "$OUT"; cat "$WORK/set-password.err"; fail "set-password failed"; }
grep -q "^FINISHED" <<<"$OUT" || { echo "$OUT"; fail "the change did not finish"; }
echo "   $(grep "^FINISHED" <<<"$OUT")"

step "stop, remove, purge"
if [ -n "$SERVER_PID" ]; then
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=
else
  systemctl stop passbroker.service; rm -rf /etc/systemd/system/passbroker.service.d; systemctl daemon-reload
fi
dpkg -r passbroker >/dev/null
[ ! -e /usr/bin/passbroker ] || fail "dpkg -r left /usr/bin/passbroker"
[ -e /etc/passbroker/passbroker.toml ] || fail "dpkg -r removed the conffile"
dpkg -P passbroker >/dev/null
[ ! -e /etc/passbroker/passbroker.toml ] || fail "dpkg -P left the conffile"
[ -e /var/lib/passbroker/passbroker.db ] || fail "the purge removed the database"
echo "package: 1 passed, 0 failed"
