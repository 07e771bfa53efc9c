/*
 * The admin console's SHOW result sets: queues, locks, clients, stats,
 * recent errors, configuration and help. Reads the queue manager, the
 * session registry, the stats module and the config; changes nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/admin_int.h"
#include "proxy/server.h"
#include "proxy/session_int.h"
#include "proxy/stats.h"

#define STATEMENT_CHARS 100

typedef char num_t[24];

static const char *u64s(num_t buf, uint64_t v)
{
    snprintf(buf, sizeof(num_t), "%" PRIu64, v);
    return buf;
}

static const char *none_if_empty(const char *t)
{
    return t && t[0] ? t : "(none)";
}

/* SQL for a one-line column: whitespace runs become one space, cut to at
 * most STATEMENT_CHARS characters on a UTF-8 boundary. */
static void one_line(const char *sql, char *out, size_t len)
{
    size_t j = 0, chars = 0;
    int space = 0;

    for (const unsigned char *p = (const unsigned char *)sql; *p && j + 5 < len;
         p++) {
        if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
            space = j > 0;
            continue;
        }
        if ((*p & 0xc0) != 0x80) { /* a character starts here */
            if (chars + space >= STATEMENT_CHARS)
                break;
            if (space)
                out[j++] = ' ', chars++;
            chars++;
        }
        space = 0;
        out[j++] = (char)*p;
    }
    out[j] = '\0';
}

/* ---- SHOW QUEUES ---- */

typedef struct qrow {
    char *table;
    int limit, paused, holders, waiting;
    uint64_t longest_wait_ms;
} qrow_t;

typedef struct qrows {
    qrow_t *v;
    int n, cap;
} qrows_t;

/* Makes room for one more row in a growing array of rows of size bytes. */
static int rows_room(void **v, int n, int *cap, size_t size)
{
    void *p;
    int c;

    if (n < *cap)
        return 0;
    c = *cap ? *cap * 2 : 16;
    p = realloc(*v, size * (size_t)c);
    if (!p)
        return -1;
    *v = p;
    *cap = c;
    return 0;
}

static qrow_t *qrow_add(qrows_t *q, const char *table)
{
    qrow_t *v;

    if (rows_room((void **)&q->v, q->n, &q->cap, sizeof(*q->v)) < 0)
        return NULL;
    v = &q->v[q->n];
    memset(v, 0, sizeof(*v));
    v->table = strdup(table);
    if (!v->table)
        return NULL;
    q->n++;
    return v;
}

static void qrow_from_queue(void *arg, const queue_table_info_t *t)
{
    qrow_t *r = qrow_add(arg, t->table);
    uint64_t now = uv_now(g_server->loop);

    if (!r)
        return;
    r->limit = t->limit;
    r->paused = t->paused;
    r->holders = t->nholders;
    r->waiting = t->nwaiters;
    for (int i = 0; i < t->nwaiters; i++)
        if (now - t->waiters[i].since_ms > r->longest_wait_ms)
            r->longest_wait_ms = now - t->waiters[i].since_ms;
}

static int qrow_cmp(const void *a, const void *b)
{
    return strcmp(((const qrow_t *)a)->table, ((const qrow_t *)b)->table);
}

/* Configured exact names the queue has not met yet show with zeros, so an
 * operator sees every target. Patterns show once a table matches them. */
static void add_configured(qrows_t *q)
{
    const config_t *c = g_server->cfg;
    char name[512];
    int seen;
    qrow_t *r;

    for (int i = 0; i < c->ntables; i++) {
        if (strpbrk(c->tables[i].pattern, "*?[") ||
            admin_table_name(c->tables[i].pattern, name, sizeof(name)) < 0)
            continue;
        seen = 0;
        for (int k = 0; k < q->n && !seen; k++)
            seen = strcmp(q->v[k].table, name) == 0;
        if (!seen && (r = qrow_add(q, name)))
            r->limit = server_table_limit(name);
    }
}

static void show_queues(buf_t *out)
{
    static const char *cols[] = {"table",   "limit",           "holders",
                                 "waiting", "longest_wait_ms", "paused"};
    qrows_t q = {0};
    admin_rows_t rs;
    num_t a, b, c, d;

    queue_foreach(g_server->queue, qrow_from_queue, &q);
    add_configured(&q);
    if (q.n > 1)
        qsort(q.v, (size_t)q.n, sizeof(*q.v), qrow_cmp);
    admin_rows_begin(&rs, out, cols, 6);
    for (int i = 0; i < q.n; i++) {
        const qrow_t *r = &q.v[i];
        const char *vals[] = {r->table,
                              u64s(a, (uint64_t)r->limit),
                              u64s(b, (uint64_t)r->holders),
                              u64s(c, (uint64_t)r->waiting),
                              u64s(d, r->longest_wait_ms),
                              r->paused ? "yes" : "no"};
        admin_rows_add(&rs, vals);
        free(r->table);
    }
    free(q.v);
    admin_rows_end(&rs, "SHOW");
}

/* ---- SHOW LOCKS ---- */

/* The statement a session is waiting to run: the relay keeps the message
 * that needs the slot at the head of the client buffer until the grant, and
 * notes a statement only once it is forwarded. */
static const char *statement_of(const session_t *s, int waiting)
{
    const buf_t *in = &s->client.in;
    const uint8_t *p = buf_head(in);
    uint32_t len;

    if (!waiting || s->c_stream_left || buf_avail(in) < 6 || p[0] != 'Q')
        return s->current_sql;
    len = buf_get_u32(p + 1);
    if (len < 5 || buf_avail(in) < 1 + (size_t)len || p[len] != '\0')
        return s->current_sql;
    return (const char *)p + 5;
}

static void lock_row(admin_rows_t *rs, const char *table,
                     const queue_entry_info_t *e, int waiting, int position)
{
    session_t *s = server_find_by_sid(e->sid);
    char since[40], sql[STATEMENT_CHARS * 4 + 8];
    num_t sid, pos, ms;

    admin_iso_time(admin_loop_to_wall(e->since_ms), since, sizeof(since));
    one_line(s ? statement_of(s, waiting) : "", sql, sizeof(sql));
    {
        const char *vals[] = {
            table,
            u64s(sid, e->sid),
            s ? s->client_addr : NULL,
            s ? s->user : NULL,
            s ? s->database : NULL,
            s ? s->application_name : NULL,
            waiting ? "waiting" : "holding",
            waiting ? u64s(pos, (uint64_t)position) : NULL,
            since,
            u64s(ms, uv_now(g_server->loop) - e->since_ms),
            s ? sql : NULL,
        };
        admin_rows_add(rs, vals);
    }
}

static void lock_rows(void *arg, const queue_table_info_t *t)
{
    for (int i = 0; i < t->nholders; i++)
        lock_row(arg, t->table, &t->holders[i], 0, 0);
    for (int i = 0; i < t->nwaiters; i++)
        lock_row(arg, t->table, &t->waiters[i], 1, i + 1);
}

static void show_locks(buf_t *out)
{
    static const char *cols[] = {"table",       "session",  "client_addr",
                                 "user",        "database", "application_name",
                                 "state",       "position", "since",
                                 "duration_ms", "statement"};
    admin_rows_t rs;

    admin_rows_begin(&rs, out, cols, 11);
    queue_foreach(g_server->queue, lock_rows, &rs);
    admin_rows_end(&rs, "SHOW");
}

/* ---- SHOW CLIENTS ---- */

static const char *session_state(const session_t *s)
{
    switch (s->state) {
    case SESS_STARTUP:
        return "startup";
    case SESS_CONNECTING:
    case SESS_UP_SSL:
        return "connecting";
    case SESS_AUTH:
        return "authenticating";
    case SESS_READY:
        if (s->admin)
            return "console";
        if (s->blocked & BLOCK_QUEUE)
            return "waiting";
        return s->inflight > 0 ? "active" : "idle";
    default:
        return "closing";
    }
}

static const char *txn_status(const session_t *s)
{
    if (s->state != SESS_READY || s->admin)
        return NULL;
    return s->txn == 'T'   ? "in transaction"
           : s->txn == 'E' ? "failed transaction"
                           : "idle";
}

static void held_tables(const session_t *s, char *out, size_t len)
{
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; i < s->nheld && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "",
                                 s->held[i]);
}

static void client_row(admin_rows_t *rs, const session_t *s)
{
    char since[40], held[300];
    num_t sid, in, out;

    admin_iso_time(admin_loop_to_wall(s->started_ms), since, sizeof(since));
    held_tables(s, held, sizeof(held));
    {
        const char *vals[] = {u64s(sid, s->sid),
                              s->client_addr,
                              s->user,
                              s->database,
                              s->application_name,
                              session_state(s),
                              txn_status(s),
                              held,
                              since,
                              u64s(in, s->client.bytes_in),
                              u64s(out, s->client.bytes_out)};
        admin_rows_add(rs, vals);
    }
}

static void show_clients(buf_t *out)
{
    static const char *cols[] = {
        "session",          "client_addr", "user",     "database",
        "application_name", "state",       "txn",      "holds",
        "connected_since",  "bytes_in",    "bytes_out"};
    const session_t *s = g_server->sessions;
    admin_rows_t rs;

    admin_rows_begin(&rs, out, cols, 11);
    while (s && s->next) /* the registry is newest first; show oldest first */
        s = s->next;
    for (; s; s = s->prev)
        client_row(&rs, s);
    admin_rows_end(&rs, "SHOW");
}

/* ---- SHOW STATS ---- */

typedef struct srow {
    char *table;
    uint64_t grants, waits, wait_total, wait_max, timeouts, deadlocks;
    uint64_t retries, succeeded, gave_up, passed;
} srow_t;

typedef struct srows {
    srow_t *v;
    int n, cap;
} srows_t;

static srow_t *srow_get(srows_t *q, const char *table)
{
    srow_t *v;

    for (int i = 0; i < q->n; i++)
        if (strcmp(q->v[i].table, table) == 0)
            return &q->v[i];
    if (rows_room((void **)&q->v, q->n, &q->cap, sizeof(*q->v)) < 0)
        return NULL;
    v = &q->v[q->n];
    memset(v, 0, sizeof(*v));
    if (!(v->table = strdup(table)))
        return NULL;
    q->n++;
    return v;
}

static void srow_from_queue(void *arg, const queue_table_info_t *t)
{
    srow_t *r = srow_get(arg, t->table);

    if (!r)
        return;
    r->grants = t->grants;
    r->waits = t->waits;
    r->wait_total = t->wait_ms_total;
    r->wait_max = t->wait_ms_max;
    r->timeouts = t->timeouts;
    r->deadlocks = t->deadlocks;
}

static void srow_from_stats(void *arg, const stats_table_t *t)
{
    srow_t *r = srow_get(arg, t->table);

    if (!r)
        return;
    r->retries = t->retries;
    r->succeeded = t->retries_succeeded;
    r->gave_up = t->gave_up;
    r->passed = t->errors_passed;
}

static int srow_cmp(const void *a, const void *b)
{
    return strcmp(((const srow_t *)a)->table, ((const srow_t *)b)->table);
}

static void stats_row(admin_rows_t *rs, const srow_t *r)
{
    num_t n[10];
    const char *vals[] = {
        none_if_empty(r->table),
        u64s(n[0], r->grants),
        u64s(n[1], r->waits),
        u64s(n[2], r->waits ? r->wait_total / r->waits : 0),
        u64s(n[3], r->wait_max),
        u64s(n[4], r->timeouts),
        u64s(n[5], r->deadlocks),
        u64s(n[6], r->retries),
        u64s(n[7], r->succeeded),
        u64s(n[8], r->gave_up),
        u64s(n[9], r->passed),
    };

    admin_rows_add(rs, vals);
}

static void show_stats(buf_t *out)
{
    static const char *cols[] = {
        "table",       "transactions", "waits",
        "avg_wait_ms", "max_wait_ms",  "wait_timeouts",
        "deadlocks",   "retries",      "retries_succeeded",
        "gave_up",     "errors_passed"};
    srows_t q = {0};
    admin_rows_t rs;

    queue_foreach(g_server->queue, srow_from_queue, &q);
    stats_foreach_table(srow_from_stats, &q);
    if (q.n > 1)
        qsort(q.v, (size_t)q.n, sizeof(*q.v), srow_cmp);
    admin_rows_begin(&rs, out, cols, 11);
    for (int i = 0; i < q.n; i++) {
        stats_row(&rs, &q.v[i]);
        free(q.v[i].table);
    }
    free(q.v);
    admin_rows_end(&rs, "SHOW");
}

/* ---- SHOW ERRORS ---- */

static void error_row(void *arg, const stats_error_t *e, const char *cycle)
{
    char time[40], sql[STATEMENT_CHARS * 4 + 8];
    num_t sid, attempt;
    const char *vals[] = {time,
                          u64s(sid, e->session),
                          none_if_empty(e->tables),
                          e->sqlstate,
                          e->message,
                          e->detail,
                          cycle[0] ? cycle : NULL,
                          u64s(attempt, (uint64_t)e->attempt),
                          e->outcome,
                          e->statement ? sql : NULL};

    admin_iso_time(e->time_ms, time, sizeof(time));
    one_line(e->statement ? e->statement : "", sql, sizeof(sql));
    admin_rows_add(arg, vals);
}

static void show_errors(buf_t *out)
{
    static const char *cols[] = {"time",    "session",  "tables", "sqlstate",
                                 "message", "detail",   "cycle",  "attempt",
                                 "outcome", "statement"};
    admin_rows_t rs;

    admin_rows_begin(&rs, out, cols, 10);
    stats_foreach_error(error_row, &rs);
    admin_rows_end(&rs, "SHOW");
}

/* ---- SHOW HELP ---- */

static void show_help(buf_t *out)
{
    static const char *cols[] = {"command", "description"};
    static const char *rows[][2] = {
        {"SHOW QUEUES",
         "per target table: limit, holders, waiting, longest wait, paused"},
        {"SHOW LOCKS", "every session holding or waiting for a write slot"},
        {"SHOW CLIENTS", "every session: address, user, state, bytes"},
        {"SHOW STATS", "per table: grants, waits, retries and their outcomes"},
        {"SHOW ERRORS",
         "the latest serialization errors and what became of them"},
        {"SHOW CONFIG", "every setting and whether RELOAD changes it"},
        {"PAUSE table", "admit no new writers of table; holders finish"},
        {"RESUME table", "admit writers of table again, in arrival order"},
        {"RETRY OFF | ON", "stop or restart transparent retry at run time"},
        {"RELOAD", "re-read the config file (as SIGHUP)"},
        {"SHUTDOWN", "stop accepting; let open sessions finish (as SIGTERM)"},
    };
    admin_rows_t rs;

    admin_rows_begin(&rs, out, cols, 2);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        admin_rows_add(&rs, rows[i]);
    admin_rows_end(&rs, "SHOW");
}

/* ---- SHOW CONFIG ---- */

static const char *size_text(size_t v, char *buf, size_t len)
{
    static const char *units[] = {"B", "kB", "MB", "GB"};
    int u = 0;

    while (u < 3 && v >= 1024 && v % 1024 == 0) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%zu%s", v, units[u]);
    return buf;
}

static void config_row(admin_rows_t *rs, const char *key, const char *value,
                       int reload)
{
    const char *vals[] = {key, value ? value : "", reload ? "yes" : "no"};

    admin_rows_add(rs, vals);
}

static void config_int(admin_rows_t *rs, const char *key, long v, int reload)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%ld", v);
    config_row(rs, key, buf, reload);
}

static void config_main(admin_rows_t *rs, const config_t *c)
{
    static const char *client_tls[] = {"disable", "allow", "require"};
    static const char *sslmode[] = {"disable", "prefer", "require", "verify-ca",
                                    "verify-full"};
    static const char *levels[] = {"debug", "info", "warn", "error"};
    char a[32], b[32];

    config_row(rs, "pgsluice.listen_addr", c->listen_addr, 0);
    config_int(rs, "pgsluice.listen_port", c->listen_port, 0);
    config_row(rs, "pgsluice.upstream_host", c->upstream_host, 0);
    config_int(rs, "pgsluice.upstream_port", c->upstream_port, 0);
    config_int(rs, "pgsluice.connect_timeout", c->connect_timeout, 1);
    config_int(rs, "pgsluice.startup_timeout", c->startup_timeout, 1);
    config_row(rs, "pgsluice.max_message_size",
               size_text(c->max_message_size, a, 32), 0);
    config_row(rs, "pgsluice.high_water", size_text(c->high_water, b, 32), 0);
    config_row(rs, "pgsluice.client_tls", client_tls[c->client_tls], 0);
    config_row(rs, "pgsluice.client_tls_cert", c->client_tls_cert, 0);
    config_row(rs, "pgsluice.client_tls_key", c->client_tls_key, 0);
    config_row(rs, "pgsluice.server_sslmode", sslmode[c->server_sslmode], 0);
    config_row(rs, "pgsluice.server_tls_ca", c->server_tls_ca, 0);
    config_row(rs, "pgsluice.dialect",
               c->dialect < 0    ? "auto"
               : c->dialect == 0 ? "postgres"
                                 : "redshift",
               1);
    config_row(rs, "pgsluice.log_level", levels[c->log_level & 3], 1);
    config_row(rs, "pgsluice.log_format", c->log_json ? "json" : "text", 1);
    config_int(rs, "pgsluice.shutdown_timeout", c->shutdown_timeout, 1);
    config_int(rs, "pgsluice.metrics_port", c->metrics_port, 0);
    config_row(rs, "pgsluice.metrics_addr", c->metrics_addr, 0);
}

static void config_retry(admin_rows_t *rs, const config_t *c)
{
    char buf[600];

    snprintf(buf, sizeof(buf), "%s", c->retry_enabled ? "on" : "off");
    if (g_server->retry_enabled != c->retry_enabled)
        snprintf(buf, sizeof(buf), "%s (set by RETRY %s; the file says %s)",
                 g_server->retry_enabled ? "on" : "off",
                 g_server->retry_enabled ? "ON" : "OFF",
                 c->retry_enabled ? "on" : "off");
    config_row(rs, "retry.enabled", buf, 1);
    config_int(rs, "retry.max_attempts", c->max_attempts, 1);
    config_int(rs, "retry.base_delay_ms", c->base_delay_ms, 1);
    config_int(rs, "retry.max_delay_ms", c->max_delay_ms, 1);
    config_row(rs, "retry.buffer_size",
               size_text(c->retry_buffer, buf, sizeof(buf)), 1);
    snprintf(buf, sizeof(buf), "%g", c->budget_ratio);
    config_row(rs, "retry.budget_ratio", buf, 1);
    snprintf(buf, sizeof(buf), "%g", c->budget_floor);
    config_row(rs, "retry.budget_floor", buf, 1);
    for (int i = 0; i < c->nretry_rules; i++) {
        snprintf(buf, sizeof(buf), "%s%s%s", c->retry_rules[i].sqlstate,
                 c->retry_rules[i].substring ? ":" : "",
                 c->retry_rules[i].substring ? c->retry_rules[i].substring
                                             : "");
        config_row(rs, "retry.retry_on", buf, 1);
    }
}

static void show_config(buf_t *out)
{
    static const char *cols[] = {"key", "value", "reloadable"};
    const config_t *c = g_server->cfg;
    char key[600];
    admin_rows_t rs;

    admin_rows_begin(&rs, out, cols, 3);
    config_main(&rs, c);
    for (int i = 0; i < c->ntables; i++) {
        snprintf(key, sizeof(key), "tables.%s", c->tables[i].pattern);
        config_int(&rs, key, c->tables[i].limit, 1);
    }
    for (int i = 0; i < c->nprocs; i++) {
        snprintf(key, sizeof(key), "procedures.%s", c->procs[i].name);
        config_row(&rs, key, c->procs[i].tables, 1);
    }
    config_int(&rs, "queue.wait_timeout", c->wait_timeout, 1);
    config_int(&rs, "queue.hold_timeout", c->hold_timeout, 1);
    config_retry(&rs, c);
    for (int i = 0; i < c->nadmins; i++) {
        snprintf(key, sizeof(key), "admin.%s", c->admins[i].user);
        config_row(&rs, key, "(SCRAM-SHA-256 verifier)", 1);
    }
    admin_rows_end(&rs, "SHOW");
}

int admin_show(const char *what, buf_t *out)
{
    static const struct {
        const char *name;
        void (*fn)(buf_t *out);
    } shows[] = {
        {"queues", show_queues},   {"locks", show_locks},
        {"clients", show_clients}, {"stats", show_stats},
        {"errors", show_errors},   {"config", show_config},
        {"help", show_help},
    };

    for (size_t i = 0; i < sizeof(shows) / sizeof(shows[0]); i++)
        if (strcmp(what, shows[i].name) == 0) {
            shows[i].fn(out);
            return 0;
        }
    return -1;
}
