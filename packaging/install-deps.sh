#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian package that building the esmpi packages
# (packaging/build-packages.sh) and testing them (tests/packaging) needs:
# the build dependencies of packaging/deb/control, debhelper, lintian,
# Debian's rpm (rpmbuild), scdoc for the man pages, systemd's tools
# (systemd-analyze, systemd-sysusers, systemd-socket-activate).
# Idempotent and non-interactive; run as root on Debian 12.
set -eu

# The project's installer does the work; these are the packaging extras.
exec "$(dirname "$0")/../scripts/install-deps.sh" \
	scdoc debhelper dpkg-dev fakeroot lintian init-system-helpers rpm man-db
