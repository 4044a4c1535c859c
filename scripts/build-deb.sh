#!/usr/bin/env bash
# Builds a Debian package of passbroker from a built binary, with dpkg-deb (no debhelper):
#
#   cargo build --release -p passbroker && scripts/build-deb.sh            # target/release
#   scripts/build-deb.sh target/debug/passbroker                            # what CI packages
#
# Writes dist/passbroker_<version>_<arch>.deb and prints its path. The package holds
# /usr/bin/passbroker (symbols stripped), /etc/passbroker/passbroker.toml (a conffile), the
# hardened systemd unit /lib/systemd/system/passbroker.service, the PAM capture module
# /usr/share/passbroker/pam/passbroker_capture.py (packaging/pam/), and the docs; its postinst
# makes the `passbroker` system user, /var/lib/passbroker, and /etc/passbroker/master.key on
# first install. The sources of all of it are in packaging/debian/.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-target/release/passbroker}
[ -x "$BIN" ] || { echo "build-deb.sh: no binary at $BIN (cargo build --release -p passbroker)" >&2; exit 1; }
for tool in dpkg-deb dpkg objdump strip; do
  command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool is required (apt-get install dpkg-dev binutils)" >&2; exit 1; }
done

VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
ARCH=$(dpkg --print-architecture)
# The newest glibc symbol version the binary needs.
GLIBC=$(objdump -T "$BIN" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n1)

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/passbroker-deb.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
install -d "$STAGE/usr/bin"
strip --strip-unneeded -o "$STAGE/usr/bin/passbroker" "$BIN"
chmod 0755 "$STAGE/usr/bin/passbroker"
install -D -m 0644 packaging/debian/passbroker.toml "$STAGE/etc/passbroker/passbroker.toml"
install -D -m 0644 packaging/debian/passbroker.service "$STAGE/lib/systemd/system/passbroker.service"
# The PAM capture module for pam_python (README: Password capture).
install -D -m 0644 packaging/pam/passbroker_capture.py "$STAGE/usr/share/passbroker/pam/passbroker_capture.py"
DOC="$STAGE/usr/share/doc/passbroker"
install -d "$DOC"
install -m 0644 README.md CHANGELOG.md SECURITY.md ARCHITECTURE.md passbroker.example.toml "$DOC/"
cat >"$DOC/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: passbroker

Files: *
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
COPYRIGHT

install -d "$STAGE/DEBIAN"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$STAGE/DEBIAN/"
echo /etc/passbroker/passbroker.toml >"$STAGE/DEBIAN/conffiles"
SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
cat >"$STAGE/DEBIAN/control" <<CONTROL
Package: passbroker
Version: $VERSION
Architecture: $ARCH
Maintainer: passbroker maintainers <passbroker@localhost>
Installed-Size: $SIZE
Depends: libc6 (>= $GLIBC), adduser
Section: net
Priority: optional
Description: password management speaking SailPoint ISC's Password Management API
 A self-hosted service that receives password changes over SailPoint Identity Security
 Cloud's Password Management API (the official SDKs work against it unchanged) and sets
 them in its own directory and on LDAP / Active Directory, PostgreSQL, MariaDB and SCIM 2.0
 targets.
CONTROL

mkdir -p dist
OUT="dist/passbroker_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zgzip -z3 --build "$STAGE" "$OUT" >/dev/null
echo "$OUT"
