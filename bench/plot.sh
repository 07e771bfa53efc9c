#!/bin/sh
# Draws bench.png from bench.csv: per scenario, the share of jobs that
# failed and the makespan, per mode against the number of concurrent jobs
# (means over repetitions). Usage: sh bench/plot.sh CSV PNG
set -eu
CSV=$1
PNG=$2
DIR=$(mktemp -d /tmp/pgsluice-plot.XXXXXX)
trap 'rm -rf "$DIR"' EXIT

# One data file per scenario and mode: K, failed %, makespan ms.
awk -F, -v dir="$DIR" '
NR > 1 && ($1 == 5 || $1 == 4) {
    key = $1 SUBSEP $2 SUBSEP $3
    n[key]++; fail[key] += 100 * $7 / $5; span[key] += $9
}
END {
    for (key in n) {
        split(key, p, SUBSEP)
        f = dir "/s" p[1] "_" p[2] ".dat"
        printf "%d %.2f %.1f\n", p[3], fail[key] / n[key],
            span[key] / n[key] | "sort -n > " f
    }
}' "$CSV"

TERM_LINE="set terminal pngcairo size 1200,900 font ',10'"
echo 'set terminal' | gnuplot 2>&1 | grep -q pngcairo ||
    TERM_LINE="set terminal png size 1200,900"
MODES="serial direct direct-retry direct-retry-fast pgsluice"

{
    echo "$TERM_LINE"
    echo "set output '$PNG'"
    echo "set multiplot layout 2,2 title 'pgsluice-bench: PostgreSQL 15, serializable'"
    echo "set logscale x 2; set xrange [0.8:80]; set xtics (1, 4, 16, 64); set grid"
    echo "set key below; set xlabel 'concurrent jobs'"
    for s in 5 4; do
        for what in fail span; do
            if [ "$what" = fail ]; then
                echo "set ylabel 'jobs failed (%)'; set yrange [0:105]"
                echo "unset logscale y"
                echo "set title 'scenario $s: client-visible failures'"
                col=2
            else
                echo "set ylabel 'makespan (ms)'; set yrange [*:*]"
                echo "set logscale y"
                echo "set title 'scenario $s: makespan'"
                col=3
            fi
            sep="plot"
            for m in $MODES; do
                f="$DIR/s${s}_$m.dat"
                [ -s "$f" ] || continue
                style="lw 2"
                [ "$m" = pgsluice ] && style="lw 3 lc rgb '#c00000'"
                printf "%s '%s' using 1:%d with linespoints %s title '%s'" \
                    "$sep" "$f" "$col" "$style" "$m"
                sep=","
            done
            [ "$sep" = "plot" ] && echo "plot 0 notitle" || echo
        done
    done
    echo "unset multiplot"
} >"$DIR/plot.gp"
gnuplot "$DIR/plot.gp"
