/*
 * Prometheus metrics over HTTP on metrics_addr:metrics_port. libmicrohttpd
 * runs without threads of its own: its epoll descriptor is watched by a
 * uv_poll on the proxy's loop and its timeouts by a uv_timer, so every
 * request is answered on the loop thread and reads the live queues,
 * sessions and stats directly. Reads; changes nothing.
 */
#include "proxy/metrics.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/buf.h"
#include "proxy/log.h"
#include "proxy/retry.h"
#include "proxy/server.h"
#include "proxy/stats.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static struct {
    struct MHD_Daemon *daemon;
    uv_poll_t poll;
    uv_timer_t timer;
    int poll_open, timer_open;
} g;

/* ---- text format 0.0.4 ---- */

static void put(buf_t *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        buf_append(b, small, (size_t)n);
        return;
    }
    if (buf_reserve(b, (size_t)n + 1) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* A label value with \, " and newline escaped, as the format requires. */
static const char *label(const char *v, char *out, size_t len)
{
    size_t j = 0;

    for (; v && *v && j + 3 < len; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n') {
            out[j++] = '\\';
            out[j++] = *v == '\n' ? 'n' : *v;
        } else {
            out[j++] = *v;
        }
    }
    out[j] = '\0';
    return out;
}

static void family(buf_t *b, const char *name, const char *type,
                   const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---- process-wide values ---- */

static void put_server(buf_t *b)
{
    const server_stats_t *st = &g_server->stats;

    family(b, "pgsluice_info", "gauge", "Version of the running pgsluice.");
    put(b, "pgsluice_info{version=\"%s\"} 1\n", PGSLUICE_VERSION);
    family(b, "pgsluice_sessions", "gauge",
           "Client sessions open now, console included.");
    put(b, "pgsluice_sessions %d\n", g_server->nsessions);
    family(b, "pgsluice_sessions_total", "counter",
           "Client connections accepted.");
    put(b, "pgsluice_sessions_total %" PRIu64 "\n", st->sessions_total);
    family(b, "pgsluice_retry_enabled", "gauge",
           "1 while transparent retry is on (config or RETRY ON/OFF).");
    put(b, "pgsluice_retry_enabled %d\n", g_server->retry_enabled ? 1 : 0);
    family(b, "pgsluice_retry_budget_remaining", "gauge",
           "Replays the global retry budget allows now.");
    put(b, "pgsluice_retry_budget_remaining %g\n", retry_budget_remaining());
    family(b, "pgsluice_upstream_connect_failures_total", "counter",
           "Upstream connections that could not be established.");
    put(b, "pgsluice_upstream_connect_failures_total %" PRIu64 "\n",
        st->upstream_connect_failures);
    family(b, "pgsluice_bytes_total", "counter",
           "Bytes relayed, by direction.");
    put(b, "pgsluice_bytes_total{direction=\"client_to_server\"} %" PRIu64 "\n",
        st->bytes_client_to_server);
    put(b, "pgsluice_bytes_total{direction=\"server_to_client\"} %" PRIu64 "\n",
        st->bytes_server_to_client);
    family(b, "pgsluice_protocol_errors_total", "counter",
           "Sessions closed for a protocol violation (SQLSTATE 08xxx).");
    put(b, "pgsluice_protocol_errors_total %" PRIu64 "\n", st->protocol_errors);
}

/* ---- queues: copied first, since each family lists every table ---- */

typedef struct qcopy {
    char *table;
    queue_table_info_t info; /* pointers in it are not kept */
} qcopy_t;

typedef struct qlist {
    qcopy_t *v;
    int n, cap;
} qlist_t;

static void copy_queue(void *arg, const queue_table_info_t *t)
{
    qlist_t *q = arg;
    qcopy_t *v;

    if (q->n == q->cap) {
        int cap = q->cap ? q->cap * 2 : 16;
        v = realloc(q->v, sizeof(*v) * (size_t)cap);
        if (!v)
            return;
        q->v = v;
        q->cap = cap;
    }
    v = &q->v[q->n];
    v->info = *t;
    v->info.holders = v->info.waiters = NULL;
    v->table = strdup(t->table);
    if (v->table)
        q->n++;
}

enum qfield {
    Q_WAITING,
    Q_HOLDERS,
    Q_LIMIT,
    Q_PAUSED,
    Q_GRANTS,
    Q_WAITS,
    Q_TIMEOUTS,
    Q_DEADLOCKS
};

static uint64_t qvalue(const queue_table_info_t *t, enum qfield f)
{
    switch (f) {
    case Q_WAITING:
        return (uint64_t)t->nwaiters;
    case Q_HOLDERS:
        return (uint64_t)t->nholders;
    case Q_LIMIT:
        return (uint64_t)t->limit;
    case Q_PAUSED:
        return t->paused ? 1 : 0;
    case Q_GRANTS:
        return t->grants;
    case Q_WAITS:
        return t->waits;
    case Q_TIMEOUTS:
        return t->timeouts;
    default:
        return t->deadlocks;
    }
}

static void put_queues(buf_t *b)
{
    static const struct {
        const char *name, *type, *help;
        enum qfield f;
    } fams[] = {
        {"pgsluice_queue_waiting", "gauge",
         "Sessions waiting for a write slot.", Q_WAITING},
        {"pgsluice_queue_holders", "gauge", "Sessions holding a write slot.",
         Q_HOLDERS},
        {"pgsluice_queue_limit", "gauge",
         "Writer transactions admitted at once.", Q_LIMIT},
        {"pgsluice_queue_paused", "gauge", "1 while PAUSE holds new writers.",
         Q_PAUSED},
        {"pgsluice_queue_grants_total", "counter", "Write slots granted.",
         Q_GRANTS},
        {"pgsluice_queue_waits_total", "counter", "Grants that had to wait.",
         Q_WAITS},
        {"pgsluice_queue_timeouts_total", "counter",
         "Waits refused after wait_timeout.", Q_TIMEOUTS},
        {"pgsluice_queue_deadlocks_total", "counter",
         "Requests refused to break a cycle.", Q_DEADLOCKS},
    };
    qlist_t q = {0};
    char t[600];

    queue_foreach(g_server->queue, copy_queue, &q);
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        family(b, fams[f].name, fams[f].type, fams[f].help);
        for (int i = 0; i < q.n; i++)
            put(b, "%s{table=\"%s\"} %" PRIu64 "\n", fams[f].name,
                label(q.v[i].table, t, sizeof(t)),
                qvalue(&q.v[i].info, fams[f].f));
    }
    for (int i = 0; i < q.n; i++)
        free(q.v[i].table);
    free(q.v);
}

/* ---- histograms and retry counters from the stats module ---- */

typedef struct hist_pass {
    buf_t *b;
    const char *name;
    int hold;
} hist_pass_t;

static void put_hist(void *arg, const stats_table_t *st)
{
    hist_pass_t *p = arg;
    const stats_hist_t *h = p->hold ? &st->hold : &st->wait;
    char t[600];
    uint64_t cum = 0;

    if (h->count == 0)
        return;
    label(st->table, t, sizeof(t));
    for (int i = 0; i < STATS_NBUCKETS; i++) {
        cum += h->counts[i];
        put(p->b, "%s_bucket{table=\"%s\",le=\"%g\"} %" PRIu64 "\n", p->name, t,
            stats_bucket_le[i], cum);
    }
    put(p->b, "%s_bucket{table=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", p->name, t,
        h->count);
    put(p->b, "%s_sum{table=\"%s\"} %.3f\n", p->name, t,
        (double)h->sum_ms / 1000.0);
    put(p->b, "%s_count{table=\"%s\"} %" PRIu64 "\n", p->name, t, h->count);
}

static void put_retry_series(void *arg, const stats_series_t *s)
{
    static const char *outcomes[] = {"attempt", "succeeded", "gave_up"};
    uint64_t v[] = {s->attempts, s->succeeded, s->gave_up};
    char t[600], st[16];

    label(s->table, t, sizeof(t));
    label(s->sqlstate, st, sizeof(st));
    for (int i = 0; i < 3; i++)
        if (v[i])
            put(arg,
                "pgsluice_retries_total{table=\"%s\",outcome=\"%s\",sqlstate="
                "\"%s\"} "
                "%" PRIu64 "\n",
                t, outcomes[i], st, v[i]);
}

static void put_passed_series(void *arg, const stats_series_t *s)
{
    char t[600], st[16];

    if (s->passed)
        put(arg,
            "pgsluice_errors_passed_total{table=\"%s\",sqlstate=\"%s\"} "
            "%" PRIu64 "\n",
            label(s->table, t, sizeof(t)), label(s->sqlstate, st, sizeof(st)),
            s->passed);
}

static void put_stats(buf_t *b)
{
    hist_pass_t wait = {b, "pgsluice_wait_seconds", 0};
    hist_pass_t hold = {b, "pgsluice_hold_seconds", 1};

    family(b, wait.name, "histogram",
           "Time writers waited for a slot, per table.");
    stats_foreach_table(put_hist, &wait);
    family(b, hold.name, "histogram", "Time writers held a slot, per table.");
    stats_foreach_table(put_hist, &hold);
    family(b, "pgsluice_retries_total", "counter",
           "Replays (outcome=attempt) and replayed units that succeeded or "
           "gave up.");
    stats_foreach_series(put_retry_series, b);
    family(b, "pgsluice_errors_passed_total", "counter",
           "Retryable errors passed to the client unretried.");
    stats_foreach_series(put_passed_series, b);
}

/* ---- HTTP ---- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             buf_t *body, const char *type, const char *allow)
{
    size_t len = 0;
    uint8_t *data = buf_avail(body) ? buf_steal(body, &len) : NULL;
    struct MHD_Response *r;
    enum MHD_Result rc;

    r = data ? MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"",
                                               MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **ctx)
{
    static int first_call_seen;
    buf_t body = {0};

    (void)cls;
    (void)version;
    (void)upload;
    /* Other methods are refused before any body is read. */
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        put(&body, "only GET and HEAD are served\n");
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, &body, "text/plain",
                     "GET, HEAD");
    }
    /* The first call brings only the headers; answer on the second. */
    if (*ctx == NULL) {
        *ctx = &first_call_seen;
        return MHD_YES;
    }
    if (*upload_size != 0) { /* a GET with a body: ignore the body */
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") == 0) {
        put_server(&body);
        put_queues(&body);
        put_stats(&body);
        return reply(c, MHD_HTTP_OK, &body, CONTENT_TYPE, NULL);
    }
    put(&body, "pgsluice: metrics are at /metrics\n");
    return reply(c, strcmp(url, "/") == 0 ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND,
                 &body, "text/plain", NULL);
}

/* ---- driving MHD from the loop ---- */

static void on_timer(uv_timer_t *t);

/* Arms the timer for MHD's next deadline: 0 when it has work left over. */
static void schedule(void)
{
    MHD_UNSIGNED_LONG_LONG ms;

    if (MHD_get_timeout(g.daemon, &ms) == MHD_YES)
        uv_timer_start(&g.timer, on_timer, ms, 0);
    else
        uv_timer_stop(&g.timer);
}

static void on_timer(uv_timer_t *t)
{
    (void)t;
    MHD_run(g.daemon);
    schedule();
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)p;
    (void)status;
    (void)events;
    MHD_run(g.daemon);
    schedule();
}

static void log_failure(const config_t *cfg, const char *why)
{
    log_line_t l;

    log_begin(&l, LOG_ERROR, "metrics_failed");
    log_str(&l, "addr", cfg->metrics_addr);
    log_u64(&l, "port", (uint64_t)cfg->metrics_port);
    log_str(&l, "error", why);
    log_end(&l);
}

static struct MHD_Daemon *start_daemon(const config_t *cfg)
{
    struct sockaddr_storage addr;
    unsigned flags = MHD_USE_EPOLL;
    uint16_t port = (uint16_t)cfg->metrics_port;

    memset(&addr, 0, sizeof(addr));
    if (uv_ip4_addr(cfg->metrics_addr, port, (struct sockaddr_in *)&addr) !=
        0) {
        if (uv_ip6_addr(cfg->metrics_addr, port,
                        (struct sockaddr_in6 *)&addr) != 0)
            return NULL;
        flags |= MHD_USE_IPv6;
    }
    return MHD_start_daemon(flags, port, NULL, NULL, on_request, NULL,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                            MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_END);
}

int metrics_start(struct server *sv)
{
    const union MHD_DaemonInfo *info;
    log_line_t l;

    if (sv->cfg->metrics_port == 0)
        return 0;
    g.daemon = start_daemon(sv->cfg);
    if (!g.daemon) {
        log_failure(sv->cfg,
                    "cannot listen (address in use or invalid metrics_addr)");
        return -1;
    }
    info = MHD_get_daemon_info(g.daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info || uv_poll_init(sv->loop, &g.poll, info->epoll_fd) < 0) {
        log_failure(sv->cfg,
                    "cannot watch the HTTP daemon from the event loop");
        MHD_stop_daemon(g.daemon);
        g.daemon = NULL;
        return -1;
    }
    g.poll_open = 1;
    uv_poll_start(&g.poll, UV_READABLE, on_poll);
    uv_timer_init(sv->loop, &g.timer);
    g.timer_open = 1;
    /* Neither keeps the loop alive: shutdown ends with the sessions. */
    uv_unref((uv_handle_t *)&g.poll);
    uv_unref((uv_handle_t *)&g.timer);
    schedule();
    log_begin(&l, LOG_INFO, "metrics_listening");
    log_str(&l, "addr", sv->cfg->metrics_addr);
    log_u64(&l, "port", (uint64_t)sv->cfg->metrics_port);
    log_end(&l);
    return 0;
}

void metrics_stop(void)
{
    /* The poll handle must leave epoll before MHD closes the descriptor. */
    if (g.poll_open) {
        uv_close((uv_handle_t *)&g.poll, NULL);
        g.poll_open = 0;
    }
    if (g.timer_open) {
        uv_close((uv_handle_t *)&g.timer, NULL);
        g.timer_open = 0;
    }
    if (g.daemon) {
        MHD_stop_daemon(g.daemon);
        g.daemon = NULL;
    }
}
