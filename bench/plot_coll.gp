# SPDX-License-Identifier: Apache-2.0
# gnuplot -e "csv='.../coll.csv'; outdir='...'" bench/plot_coll.gp
# esmpi / plain time per collective and size, 2 and 4 ranks; dashed: the
# ideal (plain + unavoidable AEAD work) / plain.
set datafile separator ","
set terminal pngcairo size 1200,800 noenhanced
set output outdir."/coll.png"
set multiplot layout 2,2
set logscale x 2
set logscale y
set grid
set key left top
set xlabel "bytes per rank"
set xtics 8
set format x "%.0b%B"
set ylabel "time / plain time"
do for [c in "bcast allreduce allgather alltoall"] {
	set title sprintf("%s (esmpi / plain)", c)
	plot for [n in "2 4"] csv using (strcol(3) eq c && strcol(2) eq n ? $4 : 1/0):($6/$5) \
		with linespoints title n." ranks", \
	     for [n in "2 4"] csv using (strcol(3) eq c && strcol(2) eq n ? $4 : 1/0):($7/$5) \
		with lines dt 2 title n." ranks ideal"
}
unset multiplot
