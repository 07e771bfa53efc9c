#!/bin/sh
# Installs the Debian 12 packages pgsluice builds, tests and benchmarks with.
# Runs apt-get only when something is missing; uses sudo when not root.
set -e
PKGS="build-essential pkg-config clang libclang-rt-14-dev libuv1-dev
libssl-dev libpg-query-dev libprotobuf-c-dev libinih-dev libpq-dev
libmicrohttpd-dev postgresql-15 postgresql-client-15
pgbouncer python3 python3-psycopg2 python3-pytest gnuplot-nox openssl
procps iproute2 ca-certificates"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
        || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "installing:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
# The Debian package creates and starts a default cluster; pgsluice's
# scripts start their own throwaway clusters instead.
