#!/bin/sh
# Relay overhead: pgbench with 8 clients straight to PostgreSQL, through
# pgsluice and through PgBouncer 1.18 in session mode, endpoints taking
# turns round by round; first select-only (-S), then the default TPC-B-like
# script. pgbench's tables are not pgsluice targets, so this measures the
# relay and classifier, not the queues.
#
# Usage: sh bench/overhead.sh BUILD
# Knobs: OVERHEAD_ROUNDS (3), OVERHEAD_SECONDS (10), OVERHEAD_SCALE (10).
set -eu
BUILD=${1:-build}
ROUNDS=${OVERHEAD_ROUNDS:-3}
SECS=${OVERHEAD_SECONDS:-10}
SCALE=${OVERHEAD_SCALE:-10}
# pgbench's TPC-B at serializable measures conflicts, not the relay.
BENCH_PG_CONF=""
. "$(dirname "$0")/bench-env.sh"

bench_start_pg
bench_start_proxy "$BUILD/pgsluice" || true

# PgBouncer refuses to run as root; it runs as postgres from its own dir.
start_pgbouncer() {
    dir="$BENCH_WORK/pgbouncer"
    PGB_PORT=$(sh "$PGTEMP" freeport)
    mkdir -p "$dir"
    echo '"postgres" ""' >"$dir/userlist.txt"
    cat >"$dir/pgbouncer.ini" <<INI
[databases]
postgres = host=127.0.0.1 port=$PG_PORT dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = session
max_client_conn = 200
default_pool_size = 50
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
    chown -R postgres "$dir"
    runuser -u postgres -- /usr/sbin/pgbouncer "$dir/pgbouncer.ini" \
        >"$dir/stdout.log" 2>&1 &
    PGB_PID=$!
    PGB_DSN="host=127.0.0.1 port=$PGB_PORT dbname=postgres user=postgres"
    bench_wait_dsn "$PGB_DSN" 10 && return 0
    echo "PgBouncer did not start:"
    cat "$dir/stdout.log" "$dir/pgbouncer.log" 2>/dev/null | tail -n 10
    PGB_DSN=""
}
start_pgbouncer

echo "initialising pgbench at scale $SCALE ..."
pgbench -i -q -s "$SCALE" "$DIRECT_DSN" >"$BENCH_WORK/init.log" 2>&1 ||
    { cat "$BENCH_WORK/init.log"; exit 1; }

ENDPOINTS="direct"
[ -n "$PROXY_DSN" ] && ENDPOINTS="$ENDPOINTS pgsluice"
[ -n "$PGB_DSN" ] && ENDPOINTS="$ENDPOINTS pgbouncer"

dsn_of() {
    case $1 in
    direct) echo "$DIRECT_DSN" ;;
    pgsluice) echo "$PROXY_DSN" ;;
    pgbouncer) echo "$PGB_DSN" ;;
    esac
}

# One pgbench run; prints its TPS (without connection time) or "fail".
tps() {
    pgbench -n -c 8 -j 2 -T "$SECS" "$@" >"$BENCH_WORK/pgbench.out" 2>&1 ||
        { echo fail; return 0; }
    awk '/^tps = .*without initial connection time/ {print $3}' \
        "$BENCH_WORK/pgbench.out"
}

# Runs workload $1 (extra pgbench options in $2) over all endpoints in
# turn, $ROUNDS times, and prints the mean TPS of each and the ratios.
measure() {
    name=$1
    opts=$2
    : >"$BENCH_WORK/$name.tps"
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        for ep in $ENDPOINTS; do
            t=$(tps $opts "$(dsn_of "$ep")")
            echo "  $name round $r $ep: $t tps"
            echo "$ep $t" >>"$BENCH_WORK/$name.tps"
        done
        r=$((r + 1))
    done
    awk -v name="$name" '
    $2 != "fail" { sum[$1] += $2; n[$1]++ }
    $2 == "fail" { bad[$1]++ }
    END {
        for (ep in n) mean[ep] = sum[ep] / n[ep]
        printf "%s: mean tps", name
        split("direct pgsluice pgbouncer", order, " ")
        for (i = 1; i <= 3; i++) {
            ep = order[i]
            if (ep in mean) printf "  %s %.0f", ep, mean[ep]
            if (ep in bad) printf "  %s FAILED %d run(s)", ep, bad[ep]
        }
        printf "\n"
        if (mean["direct"] > 0 && ("pgsluice" in mean))
            printf "  pgsluice/direct    %.3f\n", mean["pgsluice"] / mean["direct"]
        if (mean["direct"] > 0 && ("pgbouncer" in mean))
            printf "  pgbouncer/direct   %.3f\n", mean["pgbouncer"] / mean["direct"]
        if (mean["pgbouncer"] > 0 && ("pgsluice" in mean))
            printf "  pgsluice/pgbouncer %.3f\n", mean["pgsluice"] / mean["pgbouncer"]
    }' "$BENCH_WORK/$name.tps" | tee -a "$BENCH_WORK/summary"
}

echo "pgbench: 8 clients, 2 threads, $SECS s per run, $ROUNDS rounds;" \
    "endpoints: $ENDPOINTS"
measure select-only "-S"
measure tpcb-like ""
echo
echo "== overhead summary"
cat "$BENCH_WORK/summary"
