#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Configure and build esmpi into build/ (Open MPI; warnings are errors),
# then libesmpi with its examples and benchmarks for MPICH into
# build-mpich/ (ESMPI_MPI=mpich, MPICH's mpicc.mpich; the daemon and the
# CLI are those of build/).
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DESMPI_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)"
cmake -S . -B build-mpich -DCMAKE_BUILD_TYPE=RelWithDebInfo -DESMPI_WERROR=ON \
	-DESMPI_MPI=mpich >/dev/null
cmake --build build-mpich -j"$(nproc)"
