#!/bin/sh
# Benchmark smoke test for `make check`: a few jobs of scenarios 5 and 1
# straight to PostgreSQL and, when the proxy starts, through pgsluice, with
# the final data checked. Fails on lost or duplicated rows, and on any
# client-visible failure through pgsluice. Takes a few seconds.
#
# Usage: sh bench/smoke.sh BUILD [pgsluice-bench options, e.g. --scenario 5]
set -eu
BUILD=${1:-build}
[ $# -gt 0 ] && shift
. "$(dirname "$0")/bench-env.sh"

bench_start_pg
bench_start_proxy "$BUILD/pgsluice" || true
set +e
"$BUILD/pgsluice-bench" --smoke --dsn "$DIRECT_DSN" \
    ${PROXY_DSN:+--pgsluice-dsn "$PROXY_DSN"} \
    ${ADMIN_DSN:+--admin-dsn "$ADMIN_DSN"} --timeout 60 "$@"
rc=$?
set -e
if [ "$rc" -ne 0 ] && [ -n "$PROXY_PID" ]; then
    echo "pgsluice log (last lines):"
    tail -n 30 "$BENCH_WORK/pgsluice.log" || true
fi
exit "$rc"
