# SPDX-License-Identifier: Apache-2.0
# gnuplot -e "csv='...'; outdir='...'[; label='netns']" bench/plot.gp
# label: the CSV's transport column to draw (default shm); files for other
# labels are named latency-LABEL.png and bandwidth-LABEL.png.
if (!exists("label")) label = "shm"
sfx = label eq "shm" ? "" : "-".label
where = label eq "shm" ? "shared memory" : label eq "netns" ? "two namespace hosts (TCP on veth)" : label
set datafile separator ","
set terminal pngcairo size 1000,600 noenhanced
set logscale x 2
set key left top
set grid
set xlabel "message size (bytes)"
set output outdir."/latency".sfx.".png"
set logscale y
set ylabel "one-way latency (us), ".where
plot csv using (strcol(1) eq label && strcol(2) eq "aes-256-gcm" ? $3 : 1/0):4 with linespoints title "plain", \
     csv using (strcol(1) eq label && strcol(2) eq "aes-256-gcm" ? $3 : 1/0):5 with linespoints title "esmpi aes-256-gcm", \
     csv using (strcol(1) eq label && strcol(2) eq "chacha20-poly1305" ? $3 : 1/0):5 with linespoints title "esmpi chacha20-poly1305", \
     csv using (strcol(1) eq label && strcol(2) eq "aes-256-gcm" ? $3 : 1/0):($4+$6) with lines dt 2 title "plain + seal + open"
set output outdir."/bandwidth".sfx.".png"
unset logscale y
set ylabel "streaming bandwidth (MB/s), ".where
plot csv using (strcol(1) eq label && strcol(2) eq "aes-256-gcm" ? $3 : 1/0):7 with linespoints title "plain", \
     csv using (strcol(1) eq label && strcol(2) eq "aes-256-gcm" ? $3 : 1/0):8 with linespoints title "esmpi aes-256-gcm", \
     csv using (strcol(1) eq label && strcol(2) eq "chacha20-poly1305" ? $3 : 1/0):8 with linespoints title "esmpi chacha20-poly1305", \
     csv using (strcol(1) eq label && strcol(2) eq "aes-256-gcm" ? $3 : 1/0):10 with lines dt 2 title "L = 1/(1/B_plain + 1/B_aead)"
