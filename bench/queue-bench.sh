#!/bin/sh
# Queue benchmark: many sessions cycling short autocommit writes of one
# target table (limit 1) through pgsluice. Reports grants per second (rows
# the writes added during a steady window: each autocommit INSERT takes one
# slot), the proxy's CPU per grant (utime + stime from /proc/PID/stat over
# the same window), the same for a table that is not a target (the relay
# alone), and the proxy's resident memory (VmRSS) with the sessions idle.
#
# Usage: sh bench/queue-bench.sh BUILD
# Knobs: QB_CLIENTS (1000), QB_SECONDS (20, the measured window),
#        QB_THREADS (2, pgbench threads), QB_ROUNDS (1, write runs per table,
#        alternating; VmRSS after each round shows whether memory is kept).
set -eu
BUILD=${1:-build}
CLIENTS=${QB_CLIENTS:-1000}
SECS=${QB_SECONDS:-20}
THREADS=${QB_THREADS:-2}
ROUNDS=${QB_ROUNDS:-1}
# Read committed: autocommit INSERTs never conflict, so this measures the
# queue and the relay, not the server's serializable checks.
BENCH_PG_CONF="max_connections = $((CLIENTS + 50))"
. "$(dirname "$0")/bench-env.sh"

[ -x "$BUILD/pgsluice" ] || { echo "no $BUILD/pgsluice" >&2; exit 1; }
TCK=$(getconf CLK_TCK)

bench_start_pg
psql "$DIRECT_DSN" -XqAt -c "CREATE TABLE qb_target (v int)" \
    -c "CREATE TABLE qb_other (v int)"

PORT=$(sh "$PGTEMP" freeport)
cat >"$BENCH_WORK/queue.ini" <<INI
[pgsluice]
listen_addr = 127.0.0.1
listen_port = $PORT
upstream_host = 127.0.0.1
upstream_port = $PG_PORT
server_sslmode = disable
log_level = warn

[tables]
public.qb_target = 1
INI
"$BUILD/pgsluice" -c "$BENCH_WORK/queue.ini" >"$BENCH_WORK/pgsluice.log" 2>&1 &
PROXY_PID=$!
PROXY="host=127.0.0.1 port=$PORT dbname=postgres user=postgres"
bench_wait_dsn "$PROXY" 10 || { cat "$BENCH_WORK/pgsluice.log"; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$PROXY_PID/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$PROXY_PID/status"; }
rows() { psql "$DIRECT_DSN" -XqAt -c "SELECT count(*) FROM $1"; }
sessions() {
    psql "$DIRECT_DSN" -XqAt -c "SELECT count(*) FROM pg_stat_activity \
WHERE application_name = 'pgbench'"
}

# Waits (up to 120 s) until all clients are connected upstream.
wait_clients() {
    i=0
    while [ "$(sessions)" -lt "$CLIENTS" ]; do
        i=$((i + 1))
        [ "$i" -lt 1200 ] || { echo "only $(sessions) of $CLIENTS connected"; return 1; }
        sleep 0.1
    done
}

# Starts pgbench on script $1 in the background; PGB is its pid.
start_pgbench() {
    pgbench -n -c "$CLIENTS" -j "$THREADS" -T $((SECS + 120)) -f "$1" \
        "$PROXY" >"$BENCH_WORK/pgbench.log" 2>&1 &
    PGB=$!
}

stop_pgbench() {
    kill "$PGB" 2>/dev/null || true
    wait "$PGB" 2>/dev/null || true
    # The proxy closes the upstream sessions; let them go before the next run.
    i=0
    while [ "$(sessions)" -gt 0 ] && [ "$i" -lt 300 ]; do
        sleep 0.1
        i=$((i + 1))
    done
}

# Measures one write run against table $1; prints a result line.
measure_writes() {
    echo "INSERT INTO $1 VALUES (:client_id);" >"$BENCH_WORK/w.sql"
    start_pgbench "$BENCH_WORK/w.sql"
    wait_clients
    sleep 2
    r0=$(rows "$1"); c0=$(cpu_ticks); t0=$(date +%s.%N)
    sleep "$SECS"
    r1=$(rows "$1"); c1=$(cpu_ticks); t1=$(date +%s.%N); rss=$(rss_kb)
    load=$(cut -d' ' -f1 /proc/loadavg)
    stop_pgbench
    awk -v t="$1" -v r0="$r0" -v r1="$r1" -v c0="$c0" -v c1="$c1" \
        -v t0="$t0" -v t1="$t1" -v tck="$TCK" -v rss="$rss" -v load="$load" 'BEGIN {
        n = r1 - r0; s = t1 - t0; cpu = (c1 - c0) / tck
        printf "%-10s %8d writes in %.1f s = %7.0f /s; proxy CPU %.2f s = %.1f%% of a core, %.1f us per write; VmRSS %d kB; load %s\n",
            t, n, s, n / s, cpu, 100 * cpu / s, n ? 1e6 * cpu / n : 0, rss, load }'
}

rss0=$(rss_kb)
echo "$CLIENTS sessions, pgbench -j $THREADS, ${SECS} s window; proxy $BUILD/pgsluice pid $PROXY_PID"
# Idle sessions first, while the heap has only ever held them.
printf 'SELECT 1;\n\\sleep %d s\n' $((SECS + 120)) >"$BENCH_WORK/idle.sql"
start_pgbench "$BENCH_WORK/idle.sql"
wait_clients
sleep 3
rss1=$(rss_kb)
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$PROXY_PID/status")
stop_pgbench
echo "VmRSS: $rss0 kB with no session, $rss1 kB with $CLIENTS idle sessions" \
     "($(( (rss1 - rss0) / CLIENTS )) kB each); VmHWM $hwm kB"
echo "qb_target is a target (limit 1); qb_other is not (relay only)"
round=1
while [ "$round" -le "$ROUNDS" ]; do
    measure_writes qb_target
    measure_writes qb_other
    echo "VmRSS after round $round, no session left: $(rss_kb) kB"
    round=$((round + 1))
done

grep -E '"level":"(warn|error)"|level=(warn|error)| (warn|error) ' \
    "$BENCH_WORK/pgsluice.log" | head -n 5 || true
