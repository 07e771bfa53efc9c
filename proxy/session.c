/*
 * Session life cycle: accepting a client, the startup and TLS negotiation on
 * both sides, connecting upstream, and the one path that closes a session.
 * What flows once the session is up is relay.c's business.
 */
#include "proxy/session.h"

#include <errno.h>
#include <netdb.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/admin.h"
#include "proxy/cancel.h"
#include "proxy/server.h"
#include "proxy/session_int.h"

/* How long a closing session may wait for its last bytes to be read. */
#define SESS_LINGER_MS 5000

static void client_data(link_t *l);
static void client_eof(link_t *l, int err);
static void client_drain(link_t *l);
static void upstream_data(link_t *l);
static void upstream_eof(link_t *l, int err);
static void upstream_drain(link_t *l);
static void link_closed(link_t *l);

static const link_ops_t client_ops = {client_data, client_eof, client_drain,
                                      link_closed};
static const link_ops_t upstream_ops = {upstream_data, upstream_eof,
                                        upstream_drain, link_closed};

uint64_t sess_now(void)
{
    return uv_now(g_server->loop);
}

void sess_log(session_t *s, log_line_t *l, log_level_t level, const char *event)
{
    log_begin(l, level, event);
    log_u64(l, "session", s->sid);
    log_str(l, "client", s->client_addr);
    if (s->user)
        log_str(l, "user", s->user);
    if (s->database)
        log_str(l, "database", s->database);
    if (s->application_name && s->application_name[0])
        log_str(l, "application_name", s->application_name);
}

static void maybe_free(session_t *s)
{
    if (s->client_open || s->upstream_open || s->timer_open || s->resolving)
        return;
    server_remove_session(s);
    relay_free(s);
    free(s->startup);
    free(s->user);
    free(s->database);
    free(s->application_name);
    free(s->search_path);
    free(s);
}

static void timer_closed(uv_handle_t *h)
{
    session_t *s = h->data;

    s->timer_open = 0;
    maybe_free(s);
}

static void link_closed(link_t *l)
{
    session_t *s = l->owner;

    if (l == &s->client)
        s->client_open = 0;
    else
        s->upstream_open = 0;
    /* Both sockets are gone: the linger timer has nothing left to do. */
    if (!s->client_open && !s->upstream_open && s->timer_open &&
        !uv_is_closing((uv_handle_t *)&s->timer))
        uv_close((uv_handle_t *)&s->timer, timer_closed);
    maybe_free(s);
}

/* A peer that never reads what is left for it must not keep a closing
 * session, and the process, alive. */
static void on_linger(uv_timer_t *t)
{
    session_t *s = t->data;

    link_close(&s->client);
    if (s->upstream_open)
        link_close(&s->upstream);
    if (!uv_is_closing((uv_handle_t *)&s->timer))
        uv_close((uv_handle_t *)&s->timer, timer_closed);
}

void sess_close(session_t *s, const char *reason)
{
    log_line_t l;
    int was_up = s->state >= SESS_AUTH;

    if (s->state == SESS_CLOSING)
        return;
    if (s->admin)
        admin_session_closed(s);
    relay_release_slots(s);
    sess_log(s, &l, LOG_INFO, "session_closed");
    log_str(&l, "reason", reason);
    log_u64(&l, "duration_ms", sess_now() - s->started_ms);
    log_u64(&l, "bytes_in", s->client.bytes_in);
    log_u64(&l, "bytes_out", s->client.bytes_out);
    log_end(&l);
    s->state = SESS_CLOSING;
    if (s->resolving)
        uv_cancel((uv_req_t *)&s->resolve);
    if (s->timer_open && !uv_is_closing((uv_handle_t *)&s->timer))
        uv_timer_start(&s->timer, on_linger, SESS_LINGER_MS, 0);
    link_close_gently(&s->client);
    if (s->upstream_open) {
        if (was_up && !s->terminated) {
            uint8_t x[5] = {'X', 0, 0, 0, 4};
            link_send(&s->upstream, x, sizeof(x));
        }
        link_close_gently(&s->upstream);
    }
}

void sess_fail(session_t *s, const char *sqlstate, const char *msg,
               const char *detail)
{
    log_line_t l;
    buf_t out = {0};

    if (s->state == SESS_CLOSING)
        return;
    sess_log(s, &l, LOG_WARN, "session_error");
    log_str(&l, "sqlstate", sqlstate);
    log_str(&l, "msg", msg);
    if (detail)
        log_str(&l, "detail", detail);
    log_end(&l);
    if (sqlstate[0] == '0' && sqlstate[1] == '8')
        g_server->stats.protocol_errors++;
    /* A client in the middle of its TLS handshake cannot read an error. */
    if (!s->client.tls || link_tls_ready(&s->client)) {
        if (frame_put_error(&out, "FATAL", sqlstate, msg, detail) == 0) {
            link_send(&s->client, buf_head(&out), buf_avail(&out));
            link_flush(&s->client);
        }
        buf_free(&out);
    }
    sess_close(s, msg);
}

void session_terminate(session_t *s, const char *sqlstate, const char *msg)
{
    sess_fail(s, sqlstate, msg, NULL);
}

static void on_timeout(uv_timer_t *t)
{
    session_t *s = t->data;
    char msg[300];

    if (s->state == SESS_STARTUP) {
        sess_fail(s, "08P01", "timeout waiting for the startup packet", NULL);
        return;
    }
    snprintf(msg, sizeof(msg),
             "could not connect to upstream server at %s:%d: timeout after %d s",
             g_server->cfg->upstream_host, g_server->cfg->upstream_port,
             g_server->cfg->connect_timeout);
    g_server->stats.upstream_connect_failures++;
    sess_fail(s, "08001", msg, NULL);
}

static void arm_timer(session_t *s, int seconds)
{
    uv_timer_start(&s->timer, on_timeout, (uint64_t)seconds * 1000, 0);
}

static void upstream_fail(session_t *s, const char *why)
{
    char msg[512];

    snprintf(msg, sizeof(msg), "could not connect to upstream server at %s:%d: %s",
             g_server->cfg->upstream_host, g_server->cfg->upstream_port, why);
    g_server->stats.upstream_connect_failures++;
    sess_fail(s, "08001", msg, NULL);
}

static void send_startup(session_t *s)
{
    uv_timer_stop(&s->timer);
    s->state = SESS_AUTH;
    link_send(&s->upstream, s->startup, s->startup_len);
    link_flush(&s->upstream);
    /* Anything the client sent early waits in its buffer for relay.c. */
    relay_client_data(s);
}

static void on_connected(uv_connect_t *req, int status)
{
    session_t *s = req->data;
    buf_t out = {0};

    s->connecting = 0;
    if (s->state == SESS_CLOSING)
        return;
    if (status < 0) {
        upstream_fail(s, uv_strerror(status));
        return;
    }
    link_start(&s->upstream);
    if (g_server->cfg->server_sslmode == SERVER_TLS_DISABLE) {
        send_startup(s);
        return;
    }
    s->state = SESS_UP_SSL;
    frame_put_ssl_request(&out);
    link_send(&s->upstream, buf_head(&out), buf_avail(&out));
    link_flush(&s->upstream);
    buf_free(&out);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
    session_t *s = req->data;

    s->resolving = 0;
    if (s->state == SESS_CLOSING) {
        uv_freeaddrinfo(ai);
        maybe_free(s);
        return;
    }
    if (status < 0) {
        uv_freeaddrinfo(ai);
        upstream_fail(s, uv_strerror(status));
        return;
    }
    if (link_init(&s->upstream, g_server->loop, &upstream_ops, s,
                  g_server->cfg->high_water) < 0) {
        uv_freeaddrinfo(ai);
        upstream_fail(s, "cannot create socket");
        return;
    }
    s->upstream_open = 1;
    s->upstream_started = 1;
    s->connect.data = s;
    s->connecting = 1;
    status = uv_tcp_connect(&s->connect, &s->upstream.tcp, ai->ai_addr, on_connected);
    uv_freeaddrinfo(ai);
    if (status < 0) {
        s->connecting = 0;
        upstream_fail(s, uv_strerror(status));
    }
}

static void start_upstream(session_t *s)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    char port[16];
    int rc;

    s->state = SESS_CONNECTING;
    arm_timer(s, g_server->cfg->connect_timeout);
    snprintf(port, sizeof(port), "%d", g_server->cfg->upstream_port);
    s->resolve.data = s;
    rc = uv_getaddrinfo(g_server->loop, &s->resolve, on_resolved,
                        g_server->cfg->upstream_host, port, &hints);
    if (rc < 0) {
        upstream_fail(s, uv_strerror(rc));
        return;
    }
    s->resolving = 1;
}

static char *dup_or_null(const char *v)
{
    return v ? strdup(v) : NULL;
}

/* Pulls search_path out of "-c search_path=a,b" style startup options. */
static void startup_search_path(session_t *s, const char *opts)
{
    const char *p = opts ? strstr(opts, "search_path=") : NULL;
    size_t n;

    if (!p)
        return;
    p += strlen("search_path=");
    for (n = 0; p[n] && p[n] != ' '; n++)
        if (p[n] == '\\' && p[n + 1])
            n++;
    free(s->search_path);
    s->search_path = strndup(p, n);
    /* libpq escapes spaces in options with a backslash. */
    for (char *q = s->search_path; q && *q; q++)
        if (*q == '\\' && q[1])
            memmove(q, q + 1, strlen(q));
}

static int accept_startup(session_t *s, const frame_t *f)
{
    frame_startup_t st;
    const char *db;

    if (frame_parse_startup(f, &st) != FRAME_OK) {
        sess_fail(s, "08P01", "invalid startup packet layout", NULL);
        return -1;
    }
    s->user = dup_or_null(frame_startup_get(&st, "user"));
    db = frame_startup_get(&st, "database");
    s->database = dup_or_null(db ? db : s->user);
    s->application_name = dup_or_null(frame_startup_get(&st, "application_name"));
    startup_search_path(s, frame_startup_get(&st, "options"));
    if (!s->user) {
        sess_fail(s, "28000", "no PostgreSQL user name specified in startup packet",
                  NULL);
        return -1;
    }
    if (g_server->cfg->client_tls == CLIENT_TLS_REQUIRE && !s->client.tls) {
        sess_fail(s, "28000", "pgsluice requires TLS: connect with sslmode=require",
                  NULL);
        return -1;
    }
    s->startup = malloc(f->total);
    if (!s->startup) {
        sess_fail(s, "53200", "out of memory", NULL);
        return -1;
    }
    memcpy(s->startup, f->body - 4, f->total);
    s->startup_len = f->total;
    if (s->database && strcmp(s->database, ADMIN_DATABASE) == 0) {
        uv_timer_stop(&s->timer);
        admin_session_start(s, &st);
        return -1;
    }
    start_upstream(s);
    return 0;
}

/* Answers SSLRequest per client_tls; returns -1 when the session ended.
 * rest is how many bytes the client sent after the request. */
static int answer_ssl(session_t *s, size_t rest)
{
    char answer = 'N';
    tls_t *t;

    if (s->ssl_answered) {
        sess_fail(s, "08P01", "SSLRequest sent twice", NULL);
        return -1;
    }
    s->ssl_answered = 1;
    if (g_server->client_tls)
        answer = 'S';
    link_send(&s->client, &answer, 1);
    link_flush(&s->client);
    if (answer == 'N')
        return 0;
    if (rest > 0) {
        sess_fail(s, "08P01", "received unencrypted data after SSL request", NULL);
        return -1;
    }
    t = tls_new(g_server->client_tls, 1, NULL);
    if (!t || link_start_tls(&s->client, t) < 0) {
        sess_fail(s, "08P01", "TLS handshake with the client failed", NULL);
        return -1;
    }
    return 0;
}

static void unsupported_version(session_t *s, uint32_t code)
{
    char msg[128];

    snprintf(msg, sizeof(msg),
             "unsupported frontend protocol %u.%u: pgsluice supports 3.0",
             code >> 16, code & 0xffff);
    sess_fail(s, "0A000", msg, NULL);
}

/* One startup-phase packet; returns 1 to keep reading, 0 to stop. */
static int startup_packet(session_t *s, const frame_t *f)
{
    uint32_t code = frame_startup_code(f);

    if (code == FRAME_CODE_SSL)
        return answer_ssl(s, buf_avail(&s->client.in) - f->total) == 0;
    if (code == FRAME_CODE_GSSENC) {
        link_send(&s->client, "N", 1);
        link_flush(&s->client);
        return 1;
    }
    if (code == FRAME_CODE_CANCEL) {
        if (f->body_len == 12)
            session_cancel_request(buf_get_u32(f->body + 4), buf_get_u32(f->body + 8));
        sess_close(s, "cancel request");
        return 0;
    }
    if ((code >> 16) != 3) {
        unsupported_version(s, code);
        return 0;
    }
    accept_startup(s, f);
    return 0;
}

static void handle_startup(session_t *s)
{
    frame_t f;
    buf_t *in = &s->client.in;
    int rc;

    while (s->state == SESS_STARTUP) {
        if (s->client.tls && !link_tls_ready(&s->client))
            return;
        rc = frame_read_startup(buf_head(in), buf_avail(in), &f);
        if (rc == FRAME_NEED_MORE)
            return;
        if (rc < 0) {
            sess_fail(s, "08P01", "invalid length of startup packet", NULL);
            return;
        }
        rc = startup_packet(s, &f);
        if (s->state != SESS_CLOSING)
            buf_consume(in, f.total);
        if (!rc)
            return;
    }
}

static void client_data(link_t *l)
{
    session_t *s = l->owner;

    s->last_client_ms = sess_now();
    if (s->state == SESS_STARTUP)
        handle_startup(s);
    else if (s->admin)
        admin_client_data(s);
    else if (s->state == SESS_AUTH || s->state == SESS_READY)
        relay_client_data(s);
    else if (buf_avail(&l->in) > g_server->cfg->max_message_size)
        link_pause(l, 1); /* early bytes while connecting: bounded */
}

static void client_eof(link_t *l, int err)
{
    session_t *s = l->owner;

    if (err == -EPROTO && l->tls) {
        sess_close(s, tls_error(l->tls));
        return;
    }
    sess_close(s, err ? uv_strerror(err)
                      : s->terminated ? "client terminated" : "client disconnected");
}

static void client_drain(link_t *l)
{
    relay_client_drained(l->owner);
}

static void upstream_tls_start(session_t *s)
{
    tls_t *t = tls_new(g_server->upstream_tls, 0, g_server->cfg->upstream_host);

    if (!t || link_start_tls(&s->upstream, t) < 0) {
        upstream_fail(s, t ? tls_error(t) : "cannot start TLS");
        return;
    }
    if (link_tls_ready(&s->upstream))
        send_startup(s);
}

/* The upstream's one-byte answer to our SSLRequest, then its handshake. */
static void upstream_ssl_answer(session_t *s)
{
    buf_t *in = &s->upstream.in;
    uint8_t c;

    if (s->upstream.tls) {
        if (link_tls_ready(&s->upstream))
            send_startup(s);
        return;
    }
    if (buf_avail(in) == 0)
        return;
    c = buf_head(in)[0];
    buf_consume(in, 1);
    if (c == 'S') {
        if (buf_avail(in) > 0) {
            upstream_fail(s, "received unencrypted data after SSL response");
            return;
        }
        upstream_tls_start(s);
    } else if (c == 'N' && g_server->cfg->server_sslmode == SERVER_TLS_PREFER) {
        send_startup(s);
    } else if (c == 'N') {
        upstream_fail(s, "the server does not support TLS, and server_sslmode "
                         "requires it");
    } else {
        upstream_fail(s, "unexpected answer to SSLRequest");
    }
}

static void upstream_data(link_t *l)
{
    session_t *s = l->owner;

    if (s->state == SESS_UP_SSL)
        upstream_ssl_answer(s);
    else if (s->state == SESS_AUTH || s->state == SESS_READY)
        relay_server_data(s);
}

static void upstream_eof(link_t *l, int err)
{
    session_t *s = l->owner;
    char why[300];

    if (s->state == SESS_CLOSING)
        return;
    if (s->state == SESS_UP_SSL && err == -EPROTO && l->tls) {
        snprintf(why, sizeof(why), "TLS: %s", tls_error(l->tls));
        upstream_fail(s, why);
        return;
    }
    if (s->state < SESS_AUTH) {
        upstream_fail(s, err ? uv_strerror(err) : "server closed the connection");
        return;
    }
    relay_upstream_lost(s, err);
}

static void upstream_drain(link_t *l)
{
    relay_upstream_drained(l->owner);
}

int session_accept(uv_stream_t *listener)
{
    session_t *s = calloc(1, sizeof(*s));
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "?";
    log_line_t l;

    if (!s)
        return -ENOMEM;
    if (link_init(&s->client, g_server->loop, &client_ops, s,
                  g_server->cfg->high_water) < 0) {
        free(s);
        return -ENOMEM;
    }
    s->client_open = 1;
    s->sid = ++g_server->next_sid;
    s->txn = 'I';
    s->dialect = g_server->cfg->dialect;
    s->started_ms = s->last_client_ms = sess_now();
    if (RAND_bytes((unsigned char *)&s->key, sizeof(s->key)) != 1)
        s->key = (uint32_t)random();
    uv_timer_init(g_server->loop, &s->timer);
    s->timer.data = s;
    s->timer_open = 1;
    server_add_session(s);
    if (uv_accept(listener, (uv_stream_t *)&s->client.tcp) < 0) {
        sess_close(s, "accept failed");
        return -1;
    }
    if (uv_tcp_getpeername(&s->client.tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
        else if (ss.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
        snprintf(s->client_addr, sizeof(s->client_addr), "%s:%d", host,
                 ntohs(((struct sockaddr_in *)&ss)->sin_port));
    }
    g_server->stats.sessions_total++;
    sess_log(s, &l, LOG_DEBUG, "session_accepted");
    log_end(&l);
    arm_timer(s, g_server->cfg->startup_timeout);
    link_start(&s->client);
    return 0;
}

void session_cancel_request(uint32_t pid, uint32_t key)
{
    session_t *s = server_find_by_pid(pid);
    log_line_t l;

    /* Console commands never run long, and the console has no upstream. */
    if (!s || s->key != key || s->state != SESS_READY || s->admin)
        return;
    sess_log(s, &l, LOG_INFO, "cancel_request");
    log_str(&l, "target", s->blocked & BLOCK_QUEUE ? "queue" : "server");
    log_end(&l);
    if (s->blocked & BLOCK_QUEUE) {
        relay_cancel_wait(s);
        return;
    }
    cancel_forward(s->server_pid, s->server_key, s->sid);
}

void session_tick(session_t *s, uint64_t now_ms)
{
    uint64_t limit = (uint64_t)g_server->cfg->hold_timeout * 1000;
    char msg[256];

    if (s->state != SESS_CLOSING && link_peer_gone(&s->client)) {
        sess_close(s, "client disconnected");
        return;
    }
    if (!limit || s->nheld == 0 || s->state != SESS_READY || s->inflight > 0)
        return;
    if (s->txn == 'I' || now_ms - s->last_client_ms < limit)
        return;
    snprintf(msg, sizeof(msg),
             "terminating connection: idle in a transaction holding the write slot of "
             "%s for more than hold_timeout (%d s)",
             s->held[0], g_server->cfg->hold_timeout);
    sess_fail(s, "25P03", msg, NULL);
}

void session_stop_if_idle(session_t *s)
{
    if (s->state == SESS_CLOSING)
        return;
    if (s->state == SESS_READY && (s->txn != 'I' || s->inflight > 0 || s->blocked))
        return;
    sess_fail(s, "57P01", "terminating connection due to administrator command", NULL);
}
