#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian package that building the esmpi packages
# (packaging/build-packages.sh) and testing them (tests/packaging) needs:
# the build dependencies of packaging/deb/control, debhelper, lintian,
# Debian's rpm (rpmbuild), scdoc for the man pages, systemd's tools
# (systemd-analyze, systemd-sysusers, systemd-socket-activate).
# Idempotent and non-interactive; run as root on Debian 12.
set -eu

PKGS="build-essential cmake pkg-config git
libssl-dev libprotobuf-c-dev protobuf-c-compiler libyaml-dev libsystemd-dev
openmpi-bin libopenmpi-dev
python3 python3-pytest
scdoc
debhelper dpkg-dev fakeroot lintian init-system-helpers
rpm
systemd man-db"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "packaging/install-deps: all packages present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "packaging/install-deps: missing packages:$missing (run as root)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # one word per package
apt-get install -y -q --no-install-recommends $missing
