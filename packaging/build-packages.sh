#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Build the Debian (.deb) and RPM (.rpm) packages of esmpi into OUTDIR.
#
#   packaging/build-packages.sh [--deb|--rpm] OUTDIR
#
# Works on a temporary copy of the tree (the files a clone has: tracked
# files plus untracked, non-ignored ones), so the source tree is never
# written to. Needs the packages of packaging/install-deps.sh. RPMs are
# built with Debian's rpmbuild, --nodeps (rpm's database does not know
# Debian's packages). No -dbgsym packages unless DEB_BUILD_OPTIONS is set
# (to "" for the defaults); no -debuginfo RPMs (Debian has no
# find-debuginfo).
set -eu

usage() {
	echo "usage: $0 [--deb|--rpm] OUTDIR" >&2
	exit 2
}

do_deb=1 do_rpm=1
while [ $# -gt 0 ]; do
	case "$1" in
	--deb) do_rpm=0 ;;
	--rpm) do_deb=0 ;;
	-h|--help) usage ;;
	-*) usage ;;
	*) break ;;
	esac
	shift
done
[ $# -eq 1 ] || usage

src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
version=$(sed -n 's/^project(esmpi VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[ -n "$version" ] || { echo "$0: no version in CMakeLists.txt" >&2; exit 1; }
debversion=$(sed -n '1s/^esmpi (\([^)]*\)).*/\1/p' "$src/packaging/deb/changelog")
case "$debversion" in
"$version"|"$version"-*) ;;
*) echo "$0: packaging/deb/changelog has $debversion, CMakeLists.txt $version" >&2
   exit 1 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/esmpi-pkg.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
tree="$work/esmpi-$version"
mkdir "$tree"

echo "== copying the source tree to $tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Files deleted in the work tree but still tracked are skipped.
	(cd "$src" && git ls-files -z --cached --others --exclude-standard) |
		tar -C "$src" --null --ignore-failed-read -T - -cf - 2>/dev/null |
		tar -C "$tree" -xf -
else
	tar -C "$src" --exclude=./.git --exclude='./build*' --exclude='./obj-*' \
		--exclude=./debian -cf - . | tar -C "$tree" -xf -
fi
rm -rf "$tree/debian"

jobs=$(nproc 2>/dev/null || echo 2)

if [ "$do_rpm" -eq 1 ]; then
	echo "== rpmbuild"
	top="$work/rpmbuild"
	mkdir -p "$top/SOURCES"
	tar -C "$work" -czf "$top/SOURCES/esmpi-$version.tar.gz" "esmpi-$version"
	cp "$tree/packaging/systemd/esmpi.sysusers" "$top/SOURCES/"
	# Debian's rpm has no debugedit/find-debuginfo: no -debuginfo packages.
	rpmbuild -bb --nodeps \
		--define "_topdir $top" \
		--define "_smp_build_ncpus $jobs" \
		--define "debug_package %{nil}" \
		"$tree/packaging/rpm/esmpi.spec"
	find "$top/RPMS" -name '*.rpm' -exec cp {} "$out/" \;
fi

if [ "$do_deb" -eq 1 ]; then
	echo "== dpkg-buildpackage"
	cp -rL "$tree/packaging/deb" "$tree/debian"
	(cd "$tree" &&
		DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS-noautodbgsym}" \
		dpkg-buildpackage -us -uc -b)
	for f in "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo; do
		[ -e "$f" ] && cp "$f" "$out/"
	done
fi

echo "== packages in $out"
ls -1 "$out"
