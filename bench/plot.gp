# SPDX-License-Identifier: GPL-2.0
# The picture README shows: bench/run.sh writes the three data files
# (one row per workload; per implementation its median, min and max) and
# runs
#   gnuplot -e "dir='build/bench'; out='build/bench/bench.png'; n=6; ttl='...'; ceil=4.9" bench/plot.gp
# n is the number of implementations (column triples; the header names
# them: veth, both wireguard-go versions, xwgd's data paths); "-" is a
# figure not measured. ceil (optional) is the ceiling in Gbit/s, the bare
# veth plus one seal and one open per byte (bench/run.sh says how it is
# computed): a dashed line on the TCP panel, for the single stream.

set terminal pngcairo size 1650,640 font ",10"
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

# A log scale here: the bare veth (TSO, no tunnel) runs ten times faster or
# more than any tunnel, which would flatten the tunnels' bars.
set title "TCP throughput, Gbit/s (log scale), by streams and direction;\n2 clients: 3 namespaces (higher is better)"
set logscale y
set yrange [0.1:*]
set mytics 10
if (exists("ceil")) {
	plot for [i=0:n-1] dir.'/plot-tcp.dat' using (column(2+3*i)):(column(3+3*i)):(column(4+3*i)):xtic(1) \
		title columnheader(2+3*i), \
		ceil with lines dt 2 lw 2 lc rgb "black" title sprintf("tunnel ceiling, 1 stream: %.2f", ceil)
} else {
	plot for [i=0:n-1] dir.'/plot-tcp.dat' using (column(2+3*i)):(column(3+3*i)):(column(4+3*i)):xtic(1) \
		title columnheader(2+3*i)
}

unset logscale y
set yrange [0:*]
set mytics default
set title "UDP at the highest rate, by payload size:\nthousand packets/s received (higher is better)"
plot for [i=0:n-1] dir.'/plot-udp.dat' using (column(2+3*i)):(column(3+3*i)):(column(4+3*i)):xtic(1) \
	title columnheader(2+3*i)

set title "ping RTT through the tunnel, ms, idle and\nunder one TCP stream (lower is better)"
plot for [i=0:n-1] dir.'/plot-ping.dat' using (column(2+3*i)):(column(3+3*i)):(column(4+3*i)):xtic(1) \
	title columnheader(2+3*i)

unset multiplot
