# pgsluice container image: a Debian 12 build stage compiles the proxy, a
# slim runtime stage runs it as an unprivileged user.
#
#   docker build -t pgsluice .
#   docker run -p 6432:6432 -v $PWD/my.ini:/etc/pgsluice/pgsluice.ini:ro pgsluice
#
# The image's default configuration is config/docker.ini (upstream host
# "postgres", as in docker-compose.yml); mount your own file over it.

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config libuv1-dev libssl-dev libpg-query-dev \
        libprotobuf-c-dev libinih-dev libpq-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the proxy is built from, so edits elsewhere keep the cache.
COPY Makefile ./
COPY protocol/ protocol/
COPY proxy/ proxy/
RUN make BUILD=build build/pgsluice \
 && install -m 0755 -s build/pgsluice /usr/local/bin/pgsluice

FROM debian:bookworm-slim
# Runtime libraries of the binary (libpg_query is linked as a shared
# library on Debian); ca-certificates for server_sslmode = verify-ca or
# verify-full without server_tls_ca.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libuv1 libssl3 libinih1 libpq5 libmicrohttpd12 libpg-query1504.0 \
        ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin pgsluice
COPY --from=build /usr/local/bin/pgsluice /usr/local/bin/pgsluice
COPY config/docker.ini /etc/pgsluice/pgsluice.ini
USER pgsluice
# 6432: client connections and the admin console; 9187: Prometheus metrics.
EXPOSE 6432 9187
# pgsluice runs in the foreground and logs to stderr; SIGTERM drains
# sessions for up to shutdown_timeout seconds, SIGHUP reloads the file.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/pgsluice", "-c", "/etc/pgsluice/pgsluice.ini"]
