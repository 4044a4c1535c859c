#!/usr/bin/env bash
# Installs the target servers that the passbroker-connectors integration tests start on
# 127.0.0.1 (slapd, PostgreSQL, MariaDB, the scim2-server SCIM server), and the SMTP server
# the mail tests start (aiosmtpd, in the same venv), and the Samba AD DC, GnuPG and pamtester
# the capture tests use, only those missing.
# Idempotent: a second run installs nothing. Debian packages are installed without starting
# their system services (and any that did start are stopped), so no service keeps a port.
#
#   scripts/install-services.sh            # slapd, ldap-utils, postgresql, mariadb-server,
#                                          # samba-ad-dc, gnupg, python3-gpg, pamtester,
#                                          # libpam-python, SCIM venv
#   (--samba is accepted and changes nothing: Samba is always installed now)
#
# Environment: PASSBROKER_SCIM_VENV (default /opt/passbroker-test-venv).
set -euo pipefail

SCIM_VENV=${PASSBROKER_SCIM_VENV:-/opt/passbroker-test-venv}
SCIM_SERVER_VERSION=0.8.3
AIOSMTPD_VERSION=1.4.6
# The webhook receiver of the event tests (tests/webhooks/receiver.py).
STANDARDWEBHOOKS_VERSION=1.1.0
CLOUDEVENTS_VERSION=2.2.0
WITH_SAMBA=1
for arg in "$@"; do
  case "$arg" in
    --samba) WITH_SAMBA=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); else
    echo "install-services.sh: needs root (or sudo) to install Debian packages" >&2; exit 1
  fi
fi

have_pg() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; }

missing=()
{ [ -x /usr/sbin/slapd ] && [ -x /usr/sbin/slapadd ]; } || missing+=(slapd)
command -v ldapwhoami >/dev/null 2>&1 || missing+=(ldap-utils)
have_pg || missing+=(postgresql)
{ [ -x /usr/sbin/mariadbd ] && command -v mariadb-install-db >/dev/null 2>&1; } || missing+=(mariadb-server)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ "$WITH_SAMBA" = 1 ]; then
  command -v samba-tool >/dev/null 2>&1 || missing+=(samba-ad-dc)
  [ -d /usr/share/samba/setup/ad-schema ] || missing+=(samba-ad-provision)
  command -v ldbsearch >/dev/null 2>&1 || missing+=(ldb-tools)
  # samba-tool user syncpasswords --decrypt-samba-gpg (the capture agent's Samba test).
  command -v gpg >/dev/null 2>&1 || missing+=(gnupg)
  /usr/bin/python3 -c 'import gpg' >/dev/null 2>&1 || missing+=(python3-gpg)
fi
command -v pamtester >/dev/null 2>&1 || missing+=(pamtester)
# The PAM capture module runs under pam_python (Debian 12's pam_exec cannot pass it the new password).
[ -e /lib/security/pam_python.so ] || [ -e /usr/lib/security/pam_python.so ] || missing+=(libpam-python)

if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing: ${missing[*]}"
  # Keep maintainer scripts from starting services: the standard Debian policy-rc.d hook.
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  cleanup_policy() { if [ "$created_policy" = 1 ]; then "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d; fi; }
  trap cleanup_policy EXIT
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  cleanup_policy
  trap - EXIT
else
  echo "== Debian packages: all present"
fi

# Stop any system instance that may have started anyway (e.g. a pre-existing install), so
# that none holds 389/5432/3306. The tests start their own servers on random ports.
stop_service() {
  local name=$1
  if command -v service >/dev/null 2>&1 && [ -e "/etc/init.d/$name" ]; then
    "${SUDO[@]}" service "$name" stop >/dev/null 2>&1 || true
  fi
}
for s in slapd postgresql mariadb samba-ad-dc; do stop_service "$s"; done
if command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters -h 2>/dev/null | while read -r ver cluster _port status _rest; do
    if [ "$status" = online ]; then "${SUDO[@]}" pg_ctlcluster "$ver" "$cluster" stop || true; fi
  done
fi

# SCIM test server in a virtualenv.
scim_installed() {
  [ -x "$SCIM_VENV/bin/scim2-server" ] || return 1
  local shown
  shown=$("$SCIM_VENV/bin/pip" show scim2-server 2>/dev/null) || return 1
  [[ "$shown" == *"Version: $SCIM_SERVER_VERSION"* ]] || return 1
  "$SCIM_VENV/bin/pip" show precis-i18n >/dev/null 2>&1
}
if scim_installed; then
  echo "== SCIM venv: scim2-server $SCIM_SERVER_VERSION present in $SCIM_VENV"
else
  echo "== SCIM venv: installing scim2-server $SCIM_SERVER_VERSION into $SCIM_VENV"
  PY=$(command -v python3 || true)
  if [ -z "$PY" ]; then
    "${SUDO[@]}" apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv
    PY=$(command -v python3)
  fi
  if [ ! -x "$SCIM_VENV/bin/pip" ]; then
    if ! "${SUDO[@]}" "$PY" -m venv "$SCIM_VENV"; then
      # Debian's python3 needs python3-venv for ensurepip.
      "${SUDO[@]}" rm -rf "$SCIM_VENV"
      "${SUDO[@]}" apt-get update
      "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv
      "${SUDO[@]}" "$PY" -m venv "$SCIM_VENV"
    fi
  fi
  "${SUDO[@]}" "$SCIM_VENV/bin/pip" install --quiet --disable-pip-version-check "scim2-server[precis]==$SCIM_SERVER_VERSION"
fi

# The test SMTP server (tests/smtp/smtp_sink.py) runs on aiosmtpd, in the same venv.
if "$SCIM_VENV/bin/pip" show aiosmtpd 2>/dev/null | grep -qx "Version: $AIOSMTPD_VERSION"; then
  echo "== SMTP test server: aiosmtpd $AIOSMTPD_VERSION present in $SCIM_VENV"
else
  echo "== SMTP test server: installing aiosmtpd $AIOSMTPD_VERSION into $SCIM_VENV"
  "${SUDO[@]}" "$SCIM_VENV/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
fi

# The event tests' webhook receiver checks signatures with standardwebhooks and parses
# bodies with the CloudEvents SDK, in the same venv.
if "$SCIM_VENV/bin/pip" show standardwebhooks 2>/dev/null | grep -qx "Version: $STANDARDWEBHOOKS_VERSION" \
  && "$SCIM_VENV/bin/pip" show cloudevents 2>/dev/null | grep -qx "Version: $CLOUDEVENTS_VERSION"; then
  echo "== webhook receiver: standardwebhooks $STANDARDWEBHOOKS_VERSION, cloudevents $CLOUDEVENTS_VERSION present in $SCIM_VENV"
else
  echo "== webhook receiver: installing standardwebhooks $STANDARDWEBHOOKS_VERSION, cloudevents $CLOUDEVENTS_VERSION into $SCIM_VENV"
  "${SUDO[@]}" "$SCIM_VENV/bin/pip" install --quiet --disable-pip-version-check \
    "standardwebhooks==$STANDARDWEBHOOKS_VERSION" "cloudevents==$CLOUDEVENTS_VERSION"
fi

echo "== ready:"
echo "   slapd:    $(command -v slapd || echo /usr/sbin/slapd)"
echo "   postgres: $(compgen -G '/usr/lib/postgresql/*/bin/postgres' | head -1)"
echo "   mariadbd: /usr/sbin/mariadbd"
echo "   scim:     $SCIM_VENV/bin/scim2-server"
echo "   smtp:     $SCIM_VENV/bin/python (aiosmtpd $AIOSMTPD_VERSION)"
echo "   webhooks: $SCIM_VENV/bin/python (standardwebhooks $STANDARDWEBHOOKS_VERSION, cloudevents $CLOUDEVENTS_VERSION)"
if [ "$WITH_SAMBA" = 1 ]; then echo "   samba:    $(command -v samba-tool)"; fi
