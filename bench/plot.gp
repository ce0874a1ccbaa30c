# SPDX-License-Identifier: GPL-2.0
# The picture README shows: bench/run.sh writes the three data files
# (one row per workload; per implementation its median, min and max) and
# runs
#   gnuplot -e "dir='build/bench'; out='build/bench/bench.png'; n=4; ttl='...'" bench/plot.gp
# n is the number of implementations (column triples); "-" is a figure not
# measured.

set terminal pngcairo size 1500,600 font ",10"
set output out
set datafile missing "-"
set style data histogram
set style histogram errorbars gap 1 lw 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set yrange [0:*]
set key outside bottom center horizontal
set xtics nomirror
set ytics nomirror

set multiplot layout 1,3 title ttl font ",11"

set title "TCP throughput, Gbit/s, by streams and direction;\n2 clients: 3 namespaces (higher is better)"
plot for [i=0:n-1] dir.'/plot-tcp.dat' using (column(2+3*i)):(column(3+3*i)):(column(4+3*i)):xtic(1) \
	title columnheader(2+3*i)

set title "UDP at the highest rate, by payload size:\nthousand packets/s received (higher is better)"
plot for [i=0:n-1] dir.'/plot-udp.dat' using (column(2+3*i)):(column(3+3*i)):(column(4+3*i)):xtic(1) \
	title columnheader(2+3*i)

set title "ping RTT through the tunnel, ms, idle and\nunder one TCP stream (lower is better)"
plot for [i=0:n-1] dir.'/plot-ping.dat' using (column(2+3*i)):(column(3+3*i)):(column(4+3*i)):xtic(1) \
	title columnheader(2+3*i)

unset multiplot
