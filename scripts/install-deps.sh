#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian package that building and testing esmpi needs,
# plus any package names given as arguments (packaging/install-deps.sh).
# Idempotent and non-interactive; run as root on Debian 12.
set -eu

PKGS="build-essential cmake pkg-config git
libssl-dev openssl
libprotobuf-c-dev protobuf-c-compiler
libyaml-dev
libsystemd-dev systemd
openmpi-bin libopenmpi-dev gfortran
mpich libmpich-dev netpipe-mpich2 scalapack-mpi-test
python3 python3-pytest python3-yaml
iproute2 tshark ethtool util-linux procps
netpipe-openmpi python3-mpi4py gnuplot-nox valgrind
lammps hpcc
libhdf5-openmpi-dev
munge slurmctld slurmd slurm-client slurm-wlm-basic-plugins libslurm-dev
clang libclang-rt-14-dev
libcoarrays-openmpi-dev
$*"
# Intel's ipsec-mb, the faster record AEAD engine beside OpenSSL: Debian
# ships it for amd64 only; elsewhere esmpi builds with OpenSSL alone.
if [ "$(dpkg --print-architecture)" = amd64 ]; then
	PKGS="$PKGS libipsec-mb-dev"
fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing (run as root)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -q
apt-get install -y -q --no-install-recommends $missing
