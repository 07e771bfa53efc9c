#!/bin/sh
# `make run`: pgsluice in front of a throwaway local PostgreSQL 15.
# Without PGSLUICE_CONFIG it starts its own cluster (serializable by
# default, like the warehouse) with a demo table, writes a config whose
# [tables] queue public.fact_sales, and runs the proxy in the foreground.
# With PGSLUICE_CONFIG=FILE it just runs the proxy with that file.
set -e
BIN=${1:-build/pgsluice}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "$PGSLUICE_CONFIG" ]; then
    exec "$BIN" -c "$PGSLUICE_CONFIG"
fi
work=$(mktemp -d /tmp/pgsluice-run.XXXXXX)
pgport=$(sh "$here/scripts/pgtemp.sh" freeport)
port=${PGSLUICE_PORT:-6432}
cleanup() {
    sh "$here/scripts/pgtemp.sh" stop "$work/data"
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
PGTEMP_CONF="default_transaction_isolation = 'serializable'" \
    sh "$here/scripts/pgtemp.sh" start "$work/data" "$pgport"
psql -q -h 127.0.0.1 -p "$pgport" -U postgres -d postgres <<'SQL'
CREATE TABLE IF NOT EXISTS public.fact_sales (id bigint, amount numeric, loaded_at timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS public.staging_sales (id bigint, amount numeric);
SQL
cat >"$work/pgsluice.ini" <<INI
[pgsluice]
listen_addr = 127.0.0.1
listen_port = $port
upstream_host = 127.0.0.1
upstream_port = $pgport
server_sslmode = disable

[tables]
public.fact_sales = 1

[retry]
enabled = on
max_attempts = 5
INI
echo "PostgreSQL 15 (throwaway, serializable) on port $pgport; config $work/pgsluice.ini"
echo "Connect through pgsluice with:"
echo "    psql \"host=127.0.0.1 port=$port user=postgres dbname=postgres\""
echo "Stop with Ctrl-C (the cluster is removed)."
"$BIN" -c "$work/pgsluice.ini" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; cleanup; exit 0' INT TERM
wait $pid
