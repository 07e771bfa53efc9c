#!/bin/sh
# Throwaway PostgreSQL 15 clusters for tests, the benchmark and `make run`.
#   pgtemp.sh start DIR PORT   initdb into DIR (if empty) and start on PORT
#   pgtemp.sh stop DIR         stop the cluster in DIR (fast shutdown)
#   pgtemp.sh freeport         print a free TCP port on 127.0.0.1
# PostgreSQL refuses to run as root, so as root the server runs as the
# unprivileged "postgres" user that Debian's package creates.
# Extra postgresql.conf lines may be given in PGTEMP_CONF.
set -e
BIN=/usr/lib/postgresql/15/bin
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}
cmd=$1
case "$cmd" in
freeport)
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
    ;;
start)
    dir=$2 port=$3
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        chmod a+x "$(dirname "$dir")"
        chown postgres "$dir"
        chmod 700 "$dir"
    fi
    if [ ! -f "$dir/PG_VERSION" ]; then
        as_pg "$BIN/initdb" -D "$dir" -U postgres --auth=trust \
            -E UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 || {
            cat "$dir.initdb.log" >&2; exit 1; }
        {
            echo "listen_addresses = '127.0.0.1'"
            echo "port = $port"
            echo "unix_socket_directories = '$dir'"
            echo "max_connections = 300"
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
            echo "shared_buffers = 256MB"
            echo "max_pred_locks_per_transaction = 256"
            [ -n "$PGTEMP_CONF" ] && printf '%s\n' "$PGTEMP_CONF"
        } >>"$dir/postgresql.conf"
    fi
    as_pg "$BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null
    ;;
stop)
    dir=$2
    [ -f "$dir/postmaster.pid" ] || exit 0
    as_pg "$BIN/pg_ctl" -D "$dir" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    ;;
*)
    echo "usage: pgtemp.sh start DIR PORT | stop DIR | freeport" >&2
    exit 2
    ;;
esac
