#!/bin/sh
# The one-minute demonstration (`make demo`): sixteen concurrent copies of
# scenario 5 (delete then insert of overlapping keys, one string each)
# straight to PostgreSQL at serializable and through pgsluice, then the
# final data checked against what the succeeded jobs must have written.
#
# Usage: sh bench/run-demo.sh BUILD
set -eu
BUILD=${1:-build}
. "$(dirname "$0")/bench-env.sh"

bench_start_pg
MODES=direct
if bench_start_proxy "$BUILD/pgsluice"; then
    MODES=direct,pgsluice
fi

echo "16 jobs at once, each: BEGIN; DELETE FROM results WHERE run_id = ...;"
echo "INSERT INTO results SELECT ...; COMMIT;   (PostgreSQL 15, serializable)"
echo
set +e
"$BUILD/pgsluice-bench" --dsn "$DIRECT_DSN" \
    ${PROXY_DSN:+--pgsluice-dsn "$PROXY_DSN"} \
    ${ADMIN_DSN:+--admin-dsn "$ADMIN_DSN"} --scenario 5 --concurrency 16 \
    --rows 2000 --reps 3 --modes "$MODES" --timeout 60 >"$BENCH_WORK/out" 2>&1
rc=$?
set -e
# The summary is the short table; per-run lines stay in the details.
sed -n '/^summary/,$p' "$BENCH_WORK/out"
grep '^DATA CHECK FAILED' "$BENCH_WORK/out" || true
echo
echo "fail: jobs that saw an error (40001: could not serialize access)."
echo "data exact: runs whose tables held exactly what the succeeded jobs wrote."
[ -z "$PROXY_DSN" ] && echo "NOTE: pgsluice is not available; only direct ran."
exit "$rc"
