# Sourced by the benchmark scripts (run-bench.sh, run-demo.sh, smoke.sh,
# overhead.sh): starts a throwaway PostgreSQL 15 at serializable and
# pgsluice (and PgBouncer) in front of it, and stops all of them on exit.
# The caller sets BUILD before sourcing; it must not set its own EXIT trap.

REPO=$(cd "$(dirname "$0")/.." && pwd)
PGTEMP="$REPO/scripts/pgtemp.sh"
BENCH_WORK=$(mktemp -d /tmp/pgsluice-bench.XXXXXX)
PROXY_PID=""
PGB_PID=""
PROXY_DSN=""
ADMIN_DSN=""

bench_cleanup() {
    if [ -f "$BENCH_WORK/pgbouncer/pgbouncer.pid" ]; then
        kill "$(cat "$BENCH_WORK/pgbouncer/pgbouncer.pid")" 2>/dev/null || true
    fi
    if [ -n "$PROXY_PID" ]; then
        kill "$PROXY_PID" 2>/dev/null || true
        wait "$PROXY_PID" 2>/dev/null || true
    fi
    if [ -n "$PGB_PID" ]; then
        kill "$PGB_PID" 2>/dev/null || true
        wait "$PGB_PID" 2>/dev/null || true
    fi
    sh "$PGTEMP" stop "$BENCH_WORK/pg" || true
    rm -rf "$BENCH_WORK"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM HUP

# Starts the cluster (at serializable unless BENCH_PG_CONF says otherwise);
# sets PG_PORT and DIRECT_DSN.
bench_start_pg() {
    PG_PORT=$(sh "$PGTEMP" freeport)
    PGTEMP_CONF=${BENCH_PG_CONF-"default_transaction_isolation = 'serializable'"} \
        sh "$PGTEMP" start "$BENCH_WORK/pg" "$PG_PORT"
    DIRECT_DSN="host=127.0.0.1 port=$PG_PORT dbname=postgres user=postgres"
}

# Waits up to $2 seconds for "SELECT 1" to work over DSN $1.
bench_wait_dsn() {
    i=0
    while [ "$i" -lt "$(($2 * 10))" ]; do
        psql "$1 connect_timeout=2" -XAtqc 'SELECT 1' >/dev/null 2>&1 && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# Writes the proxy's configuration: every table the scenarios write is a
# target with one writer at a time; pgbench's tables are not targets.
bench_proxy_ini() {
    cat <<INI
[pgsluice]
listen_addr = 127.0.0.1
listen_port = $1
upstream_host = 127.0.0.1
upstream_port = $PG_PORT
server_sslmode = disable
log_level = ${PGSLUICE_LOG_LEVEL:-warn}

[tables]
bench.results_* = 1
bench.target_* = 1
bench.fact_* = 1
bench.checkpoints = 1

[retry]
enabled = on
max_attempts = 5

[admin]
$ADMIN_LINE
INI
}

# Starts pgsluice binary $1 in front of the cluster; sets PROXY_DSN (and
# ADMIN_DSN for its console), or leaves them empty (and says why) when the
# binary is missing or fails.
bench_start_proxy() {
    PROXY_DSN=""
    if [ ! -x "$1" ]; then
        echo "pgsluice binary $1 not found: running without the pgsluice mode"
        return 1
    fi
    port=$(sh "$PGTEMP" freeport)
    # The console account lets the benchmark read the proxy's retry count.
    ADMIN_LINE=$(echo benchadmin-pw | "$1" passwd benchadmin 2>/dev/null) ||
        ADMIN_LINE=""
    bench_proxy_ini "$port" >"$BENCH_WORK/pgsluice.ini"
    "$1" -c "$BENCH_WORK/pgsluice.ini" >"$BENCH_WORK/pgsluice.log" 2>&1 &
    PROXY_PID=$!
    dsn="host=127.0.0.1 port=$port dbname=postgres user=postgres"
    if bench_wait_dsn "$dsn" 10; then
        PROXY_DSN=$dsn
        [ -n "$ADMIN_LINE" ] && ADMIN_DSN="host=127.0.0.1 port=$port \
dbname=pgsluice user=benchadmin password=benchadmin-pw"
        return 0
    fi
    echo "pgsluice did not start: running without the pgsluice mode; its log:"
    tail -n 20 "$BENCH_WORK/pgsluice.log" || true
    kill "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
    PROXY_PID=""
    return 1
}

# Keeps the proxy's log for the record when it found problems.
bench_keep_proxy_log() {
    [ -s "$BENCH_WORK/pgsluice.log" ] && cp "$BENCH_WORK/pgsluice.log" "$1"
    return 0
}
