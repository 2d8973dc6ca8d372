#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Run the esmpi benchmark: starts a private esmpid with the bench policy,
# runs 2 ranks on shared memory and, with --tcp, over TCP loopback;
# with --netns also across two namespace hosts joined by a veth link
# (scripts/nshosts.sh: one CA, an esmpid with the bench policy on each,
# TCP on the link), label "netns" in the same CSV;
# writes bench/out/results.csv and bench/out/bandwidth.png, latency.png.
# --init also measures MPI_Init (key establishment) for 2 to 32 ranks.
# --sign runs only the signed suite (plain vs aead vs aead+ecdsa, its own
# daemon and policy bench/bench-sign-policy.yaml) into bench/out/sign.csv.
# --coll also runs the collective benchmark (esmpi_coll_bench) at 2 and 4
# ranks: bench/out/coll.csv and coll.png.
# --dtype runs only the derived-datatype benchmark (esmpi_dtype_bench,
# plain vs esmpi per shape): bench/out/dtype.csv.
# --instr counts executed instructions per small message (valgrind):
# plain, esmpi (all, and on the message's path: without the preparation
# done while waiting) and one seal + one open, into bench/out/instr.csv.
# --aead runs only the record AEAD on one core, each engine (OpenSSL,
# ipsec-mb), 16 B to 1 MiB, into bench/out/aead.csv (no MPI, no daemon).
# Every run says which AEAD engine libesmpi uses (ESMPI_CRYPTO forces one).
# Usage: bench/run.sh [--quick] [--tcp] [--netns] [--init] [--sign] [--coll] [--dtype] [--instr] [--aead]   (as root, after scripts/build.sh)
set -eu
cd "$(dirname "$0")/.."
b=$PWD/build
out=$PWD/bench/out
quick=""
tcp=0
netns=0
init=0
sign=0
coll=0
instr=0
aead=0
dtype=0
for a in "$@"; do
	case $a in
	--quick) quick=--quick ;;
	--tcp) tcp=1 ;;
	--netns) netns=1 ;;
	--init) init=1 ;;
	--sign) sign=1 ;;
	--coll) coll=1 ;;
	--instr) instr=1 ;;
	--aead) aead=1 ;;
	--dtype) dtype=1 ;;
	*) echo "usage: bench/run.sh [--quick] [--tcp] [--netns] [--init] [--sign] [--coll] [--dtype] [--instr] [--aead]" >&2; exit 2 ;;
	esac
done
mkdir -p "$out"
if [ "$aead" -eq 1 ]; then
	rounds=9
	[ -n "$quick" ] && rounds=3
	"$b/bench/esmpi_aead_bench" --rounds $rounds --csv "$out/aead.csv"
	echo "csv: $out/aead.csv"
	exit 0
fi
dir=$(mktemp -d /tmp/esmpi-bench.XXXXXX)
policy=bench/bench-policy.yaml
[ "$sign" -eq 1 ] && policy=bench/bench-sign-policy.yaml
"$b/daemon/esmpid" --state-dir "$dir/state" --socket "$dir/c.sock" \
	--admin-socket "$dir/a.sock" --policy "$policy" \
	--foreground --log-stderr 2>"$dir/esmpid.log" &
daemon=$!
trap 'kill $daemon 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do [ -S "$dir/c.sock" ] && break; sleep 0.1; done
export ESMPI_SOCKET="$dir/c.sock"
if [ "$sign" -eq 1 ]; then
	"$b/libclient/esmpirun" -np 2 "$b/bench/esmpi_sign_bench" $quick \
		--csv "$out/sign.csv"
	echo "csv: $out/sign.csv"
	exit 0
fi
if [ "$dtype" -eq 1 ]; then
	"$b/libclient/esmpirun" -np 2 "$b/bench/esmpi_dtype_bench" $quick \
		--csv "$out/dtype.csv"
	echo "csv: $out/dtype.csv"
	exit 0
fi
if [ "$instr" -eq 1 ]; then
	command -v valgrind >/dev/null || { echo "bench: --instr needs valgrind" >&2; exit 2; }
	# Instructions of N2 minus N1 messages, over N2 - N1: start-up cancels.
	# "prep" counts only what esmpi_prepare_send/_recv do (the AEAD set-up
	# of the record expected next, done while a rank waits for its peer);
	# esmpi minus prep is the path of one message.
	count() {	# mode bytes iters
		mode=$1 vgopt=""
		[ "$mode" = prep ] && mode=esmpi vgopt="--collect-atstart=no
			--toggle-collect=esmpi_prepare_send --toggle-collect=esmpi_prepare_recv"
		shift
		"$b/libclient/esmpirun" -np 1 valgrind --tool=callgrind $vgopt \
			--callgrind-out-file="$dir/cg" "$b/bench/esmpi_msg_cost" "$mode" "$@" \
			>/dev/null 2>&1
		awk '/^(summary|totals):/ { print $2; exit }' "$dir/cg"
	}
	echo "bytes,plain_instr,esmpi_instr,esmpi_path_instr,seal_open_instr,path_overhead_over_seal_open" >"$out/instr.csv"
	printf '%8s %12s %12s %12s %12s %8s\n' bytes plain esmpi path seal+open ovh/so
	for n in 1 64 256; do	# blocking send to self: eager sizes only
		for m in plain esmpi prep aead; do
			a=$(count $m $n 2000)
			z=$(count $m $n 12000)
			eval "i_$m=\$(( (z - a) / 10000 ))"
		done
		i_path=$((i_esmpi - i_prep))
		r=$(awk "BEGIN { printf \"%.2f\", ($i_path - $i_plain) / $i_aead }")
		printf '%8d %12d %12d %12d %12d %8s\n' "$n" "$i_plain" "$i_esmpi" "$i_path" "$i_aead" "$r"
		echo "$n,$i_plain,$i_esmpi,$i_path,$i_aead,$r" >>"$out/instr.csv"
	done
	echo "csv: $out/instr.csv"
	exit 0
fi
csv=$out/results.csv
echo "transport,suite,bytes,lat_plain_us,lat_esmpi_us,seal_open_us,bw_plain_MBs,bw_esmpi_MBs,aead_MBs,L_MBs,lat_plain_rec_us,seal_open_openssl_us,seal_open_ipsecmb_us,aead_openssl_MBs,aead_ipsecmb_MBs,engine" >"$csv"
"$b/libclient/esmpirun" -np 2 "$b/bench/esmpi_bench" $quick --label shm --csv "$csv"
if [ "$tcp" -eq 1 ]; then
	"$b/libclient/esmpirun" -np 2 --mca btl tcp,self --mca btl_tcp_if_include lo \
		"$b/bench/esmpi_bench" $quick --label tcp --csv "$csv"
fi
if [ "$netns" -eq 1 ]; then
	. ./scripts/nshosts.sh
	trap 'nshosts_down; kill $daemon 2>/dev/null; rm -rf "$dir"' EXIT
	mkdir -m 700 "$dir/hosts"
	nshosts_up "$dir/hosts" "$b" "$PWD/$policy"
	nshosts_mpirun -x "LD_PRELOAD=$b/libclient/libesmpi.so" \
		"$b/bench/esmpi_bench" $quick --label netns --csv "$csv"
fi
if [ "$init" -eq 1 ]; then
	echo "ranks,init_plain_ms,init_esmpi_ms" >"$out/init.csv"
	for n in 2 4 8 16 32; do
		best_p=""; best_e=""
		for _ in 1 2 3; do
			p=$(mpirun --allow-run-as-root --oversubscribe -np $n \
				"$b/bench/esmpi_init_cost" | sed 's/.*Init \([0-9.]*\) ms/\1/')
			e=$("$b/libclient/esmpirun" --oversubscribe -np $n \
				"$b/bench/esmpi_init_cost" | sed 's/.*Init \([0-9.]*\) ms/\1/')
			best_p=$(printf '%s\n%s\n' "$p" "$best_p" | grep . | sort -g | head -1)
			best_e=$(printf '%s\n%s\n' "$e" "$best_e" | grep . | sort -g | head -1)
		done
		echo "$n,$best_p,$best_e" | tee -a "$out/init.csv"
	done
fi
if [ "$coll" -eq 1 ]; then
	echo "transport,ranks,coll,bytes,plain_us,esmpi_us,ideal_us,aead_MBs" >"$out/coll.csv"
	for n in 2 4; do
		"$b/libclient/esmpirun" --oversubscribe -np $n "$b/bench/esmpi_coll_bench" \
			$quick --label shm --csv "$out/coll.csv"
	done
	if command -v gnuplot >/dev/null; then
		gnuplot -e "csv='$out/coll.csv'; outdir='$out'" bench/plot_coll.gp
		echo "plot: $out/coll.png"
	fi
fi
if command -v gnuplot >/dev/null; then
	gnuplot -e "csv='$csv'; outdir='$out'" bench/plot.gp
	echo "plots: $out/latency.png $out/bandwidth.png"
	for l in tcp netns; do
		grep -q "^$l," "$csv" || continue
		gnuplot -e "csv='$csv'; outdir='$out'; label='$l'" bench/plot.gp
		echo "plots: $out/latency-$l.png $out/bandwidth-$l.png"
	done
fi
echo "csv: $csv"
