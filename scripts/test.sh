#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Install what is needed, build, and run every test: unit tests (ctest),
# the same unit tests under ASan+UBSan, the integration suite (pytest:
# real esmpid, journald, mpirun, network namespaces), the daemon's suites
# again on an ASan+UBSan esmpid with a short fuzz run beside them, and the
# packaging suite.
# Run as root.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./packaging/install-deps.sh
./scripts/build.sh

echo "== unit tests (ctest)"
ctest --test-dir build --output-on-failure
ctest --test-dir build-mpich --output-on-failure	# libclient for MPICH

echo "== unit tests under ASan+UBSan"
# One sanitized build serves three steps: these unit tests, test_asan.py
# (libesmpi inside MPI jobs) and the daemon's suites below.
cmake -S . -B build-asan-mpi -DCMAKE_BUILD_TYPE=Debug -DESMPI_SANITIZE=ON \
	-DESMPI_BUILD_TESTS=ON >/dev/null
# What those steps run (not the examples and benchmarks: test_asan.py
# runs build/'s examples under the sanitized library).
cmake --build build-asan-mpi -j"$(nproc)" --target esmpi esmpid esmpictl \
	esmpi-testclient client_test crypto_test record_test policy_test \
	frame_test sig_test engine_test large_test
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build-asan-mpi --output-on-failure

echo "== integration tests (pytest)"
# Debian's python3 carries python3-pytest (and mpi4py); a pyenv python3
# earlier on PATH would not.
ESMPI_BUILD="$PWD/build" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
	--durations=12 tests/integration "$@"

echo "== esmpid under ASan+UBSan: the daemon and attack suites"
# Beside them, the fuzz run (its log follows): each libFuzzer target runs
# for a fixed time on one core, and these suites, mostly a daemon waiting
# for a client, leave the other core idle.
fuzz_log=$(mktemp "${TMPDIR:-/tmp}/esmpi-fuzz-log.XXXXXX")
./scripts/fuzz.sh 8 >"$fuzz_log" 2>&1 &
fuzz_pid=$!
# The daemons fixture fails on any sanitizer report.
asan_rc=0
ESMPI_BUILD="$PWD/build-asan-mpi" \
	ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=8 \
	UBSAN_OPTIONS=print_stacktrace=1 /usr/bin/python3 -m pytest -q \
	-p no:cacheprovider tests/integration/test_daemon.py \
	tests/integration/test_attacks.py || asan_rc=$?
fuzz_rc=0
wait "$fuzz_pid" || fuzz_rc=$?

echo "== fuzzing: every parser, 8 s each (libFuzzer, clang; ran beside the above)"
cat "$fuzz_log"
rm -f "$fuzz_log"
[ "$asan_rc" -eq 0 ] && [ "$fuzz_rc" -eq 0 ] || exit 1

echo "== packages (build .deb/.rpm, lintian, install, encrypted job, purge)"
ESMPI_BUILD="$PWD/build" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
	tests/packaging
