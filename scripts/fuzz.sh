#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Build the libFuzzer targets (tests/fuzz/) with clang into build-fuzz/,
# replay every regression input once, then fuzz each target for SECONDS
# seconds (default 60) on a scratch copy of its seed corpus, so the
# committed corpus never grows. Exits non-zero if any target crashes,
# leaks, times out or runs out of memory; the input that did it is kept
# under build-fuzz/artifacts/<target>/ (add it to tests/fuzz/regress/
# <target>/ once fixed).
#
#   scripts/fuzz.sh [SECONDS]
#   FUZZ_TARGETS="fuzz_record fuzz_reply" scripts/fuzz.sh 30
set -eu
cd "$(dirname "$0")/.."

secs=${1:-60}
case $secs in
''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
targets=${FUZZ_TARGETS:-"fuzz_dispatch fuzz_policy fuzz_record fuzz_reply"}
build="build-fuzz"
bin=$build/tests/fuzz
start=$(date +%s)

echo "== configure and build ($build, clang)"
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo -DESMPI_FUZZ=ON \
	-DESMPI_ONLY_UNIT=OFF -DESMPI_BUILD_TESTS=OFF >/dev/null
# Only the targets: the rest of a fuzz tree is instrumented but unused.
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" --target $targets >/dev/null

scratch=$(mktemp -d "${TMPDIR:-/tmp}/esmpi-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT INT TERM
# The targets make their temporary state (node identity, project files)
# under TMPDIR; keep it in the scratch directory.
TMPDIR=$scratch
export TMPDIR
# Leaks are errors; UBSan reports abort (-fno-sanitize-recover) with a
# stack.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS

failed=""
summary=""

# Keep what libFuzzer left behind and show the end of its log.
report() {
	t=$1
	log=$2
	mkdir -p "$build/artifacts/$t"
	for a in "$scratch/art-$t"/*; do
		[ -e "$a" ] || continue
		cp "$a" "$build/artifacts/$t/"
		echo "   input kept: $build/artifacts/$t/$(basename "$a")"
	done
	echo "   --- last lines of $log:"
	grep -v '^#[0-9]' "$log" | tail -n 40 | sed 's/^/   | /'
	failed="$failed $t"
}

echo "== regression inputs"
for t in $targets; do
	reg=tests/fuzz/regress/$t
	[ -d "$reg" ] || continue
	n=$(find "$reg" -type f | wc -l)
	[ "$n" -gt 0 ] || continue
	mkdir -p "$scratch/art-$t"
	log=$scratch/$t-regress.log
	# shellcheck disable=SC2046
	if "$bin/$t" -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix="$scratch/art-$t/" \
	    $(find "$reg" -type f | sort) >"$log" 2>&1; then
		echo "$t: $n regression inputs ok"
	else
		echo "$t: REGRESSION FAILED"
		report "$t" "$log"
	fi
done

echo "== fuzzing, ${secs}s per target"
for t in $targets; do
	corpus=$scratch/corpus-$t
	mkdir -p "$corpus" "$scratch/art-$t"
	cp tests/fuzz/corpus/"$t"/* "$corpus"/
	seeds=$(find "$corpus" -type f | wc -l)
	log=$scratch/$t.log
	dict=""
	[ ! -f "tests/fuzz/$t.dict" ] || dict="-dict=tests/fuzz/$t.dict"
	rc=0
	# shellcheck disable=SC2086
	"$bin/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$scratch/art-$t/" $dict \
	    "$corpus" >"$log" 2>&1 || rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(grep '^#[0-9]' "$log" | tail -n 1 |
	    sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	found=$(find "$corpus" -type f | wc -l)
	if [ "$rc" -eq 0 ]; then
		line=$(printf '%-14s ok      %10s execs in %4ss (%6s/s), cov %5s, corpus %s -> %s' \
		    "$t" "${runs:-?}" "${took:-?}" "${rate:-?}" "${cov:-?}" \
		    "$seeds" "$found")
	else
		line=$(printf '%-14s FAILED  %10s execs (exit %s)' "$t" \
		    "${runs:-?}" "$rc")
	fi
	echo "$line"
	summary="$summary$line
"
	[ "$rc" -eq 0 ] || report "$t" "$log"
done

echo "== summary ($(($(date +%s) - start))s in all)"
printf '%s' "$summary"
if [ -n "$failed" ]; then
	echo "FAILED:$failed"
	exit 1
fi
