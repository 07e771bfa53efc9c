#!/bin/sh
# The headline benchmark (`make bench`): scenarios 5 and 4 at 1, 4, 16 and
# 64 concurrent jobs in every mode, then K jobs on K tables (scenario 9),
# against a throwaway PostgreSQL 15 at serializable and pgsluice in front.
# Writes bench/results/bench.csv, bench.txt and the chart bench.png.
#
# Usage: sh bench/run-bench.sh BUILD
# Knobs (environment): BENCH_ROWS (rows per job, 5000), BENCH_REPS (3),
# BENCH_RETRY_DEADLINE (seconds a direct-retry job may spend retrying, 16:
# the runbook's waits 2, 4, 8 s fit, the fourth wait of 16 s does not).
set -eu
BUILD=${1:-build}
. "$(dirname "$0")/bench-env.sh"

BENCH="$BUILD/pgsluice-bench"
ROWS=${BENCH_ROWS:-5000}
REPS=${BENCH_REPS:-3}
DEADLINE=${BENCH_RETRY_DEADLINE:-16}
RESULTS="$REPO/bench/results"
CSV="$RESULTS/bench.csv"
mkdir -p "$RESULTS"
rm -f "$CSV" "$RESULTS/bench.png" "$RESULTS/bench.txt"

bench_start_pg
MODES=serial,direct,direct-retry,direct-retry-fast
K_MODES=direct
if bench_start_proxy "$BUILD/pgsluice"; then
    MODES=$MODES,pgsluice
    K_MODES=direct,pgsluice
fi

# Runs the benchmark with the common options; its status goes to $STATUS.
STATUS="$BENCH_WORK/status"
echo 0 >"$STATUS"
run() {
    { "$BENCH" --dsn "$DIRECT_DSN" ${PROXY_DSN:+--pgsluice-dsn "$PROXY_DSN"} \
        ${ADMIN_DSN:+--admin-dsn "$ADMIN_DSN"} \
        --rows "$ROWS" --reps "$REPS" --retry-deadline "$DEADLINE" \
        --csv "$CSV" "$@" 2>&1 || echo $? >"$STATUS"; } |
        tee -a "$RESULTS/bench.txt"
}

echo "== scenarios 5 and 4: $ROWS rows per job, $REPS repetitions, modes $MODES"
run --scenario 5,4 --concurrency 1,4,16,64 --modes "$MODES"
echo "== scenario 9: K jobs on K tables"
run --scenario 9 --concurrency 16,64 --modes "$K_MODES"

sh "$REPO/bench/plot.sh" "$CSV" "$RESULTS/bench.png" &&
    echo "chart: $RESULTS/bench.png"
[ -n "$PROXY_PID" ] && bench_keep_proxy_log "$RESULTS/pgsluice.log"
[ -z "$PROXY_DSN" ] && echo "NOTE: the pgsluice mode did not run (see above)"
exit "$(cat "$STATUS")"
