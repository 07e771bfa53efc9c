/*
 * One upstream connection per forwarded CancelRequest. The server answers
 * a cancel with nothing but closing, so this only connects, negotiates TLS
 * when configured, sends 16 bytes and closes.
 */
#include "proxy/cancel.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/frame.h"
#include "proxy/link.h"
#include "proxy/log.h"
#include "proxy/server.h"

typedef struct canceller {
    link_t link;
    uv_getaddrinfo_t resolve;
    uv_connect_t connect;
    uint32_t pid, key;
    uint64_t sid;
    int ssl_asked;
    int done;
} canceller_t;

static void cancel_log(canceller_t *c, const char *what)
{
    log_line_t l;

    log_begin(&l, LOG_WARN, "cancel_failed");
    log_u64(&l, "session", c->sid);
    log_str(&l, "reason", what);
    log_end(&l);
}

static void finish(canceller_t *c)
{
    buf_t out = {0};

    c->done = 1;
    frame_put_cancel(&out, c->pid, c->key);
    link_send(&c->link, buf_head(&out), buf_avail(&out));
    buf_free(&out);
    link_close_gently(&c->link);
}

static void on_data(link_t *l)
{
    canceller_t *c = l->owner;
    tls_t *t;
    uint8_t answer;

    if (c->done)
        return;
    if (l->tls) {
        if (link_tls_ready(l))
            finish(c);
        return;
    }
    if (buf_avail(&l->in) == 0)
        return;
    answer = buf_head(&l->in)[0];
    buf_consume(&l->in, 1);
    if (answer != 'S') {
        if (g_server->cfg->server_sslmode == SERVER_TLS_PREFER)
            finish(c);
        else {
            cancel_log(c, "server refused TLS");
            link_close(l);
        }
        return;
    }
    t = tls_new(g_server->upstream_tls, 0, g_server->cfg->upstream_host);
    if (!t || link_start_tls(l, t) < 0) {
        cancel_log(c, "TLS failed");
        link_close(l);
    }
}

static void on_eof(link_t *l, int err)
{
    canceller_t *c = l->owner;

    if (!c->done)
        cancel_log(c, err ? uv_strerror(err) : "server closed");
    link_close(l);
}

static void on_closed(link_t *l)
{
    free(l->owner);
}

static const link_ops_t ops = {on_data, on_eof, NULL, on_closed};

static void on_connected(uv_connect_t *req, int status)
{
    canceller_t *c = req->data;
    buf_t out = {0};

    if (status < 0) {
        cancel_log(c, uv_strerror(status));
        link_close(&c->link);
        return;
    }
    link_start(&c->link);
    if (g_server->cfg->server_sslmode == SERVER_TLS_DISABLE) {
        finish(c);
        return;
    }
    frame_put_ssl_request(&out);
    link_send(&c->link, buf_head(&out), buf_avail(&out));
    link_flush(&c->link);
    buf_free(&out);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
    canceller_t *c = req->data;

    if (status < 0 || link_init(&c->link, g_server->loop, &ops, c, 65536) < 0) {
        cancel_log(c, status < 0 ? uv_strerror(status) : "no socket");
        uv_freeaddrinfo(ai);
        free(c);
        return;
    }
    c->connect.data = c;
    status = uv_tcp_connect(&c->connect, &c->link.tcp, ai->ai_addr, on_connected);
    uv_freeaddrinfo(ai);
    if (status < 0) {
        cancel_log(c, uv_strerror(status));
        link_close(&c->link);
    }
}

void cancel_forward(uint32_t server_pid, uint32_t server_key, uint64_t sid)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    canceller_t *c = calloc(1, sizeof(*c));
    char port[16];

    if (!c)
        return;
    c->pid = server_pid;
    c->key = server_key;
    c->sid = sid;
    c->resolve.data = c;
    snprintf(port, sizeof(port), "%d", g_server->cfg->upstream_port);
    if (uv_getaddrinfo(g_server->loop, &c->resolve, on_resolved,
                       g_server->cfg->upstream_host, port, &hints) < 0) {
        cancel_log(c, "cannot resolve upstream");
        free(c);
    }
}
