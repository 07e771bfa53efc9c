/*
 * The relay of an established session: frames messages in both directions,
 * classifies what the client sends, takes write slots before forwarding a
 * write, tracks transaction state from ReadyForQuery, and applies
 * backpressure. Startup and closing belong to session.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/classify.h"
#include "proxy/retry.h"
#include "proxy/stats.h"
#include "proxy/server.h"
#include "proxy/session_int.h"

/* Messages at least this long stream through instead of being held whole,
 * when their type needs no inspection (CopyData, DataRow). */
#define STREAM_THRESHOLD (256u * 1024u)
#define LEN_UNLIMITED 0x7fffffffu

static void on_grant(void *arg, int status, const queue_refusal_t *info);
static void forward_head(session_t *s, size_t n, unsigned last_cflags);

/* ---- small helpers ---- */

void relay_to_upstream(session_t *s, const void *p, size_t n)
{
    g_server->stats.bytes_client_to_server += n;
    link_send(&s->upstream, p, n);
}

void relay_to_client(session_t *s, const void *p, size_t n)
{
    g_server->stats.bytes_server_to_client += n;
    link_send(&s->client, p, n);
}

static void protocol_violation(session_t *s, const char *msg)
{
    sess_fail(s, "08P01", msg, NULL);
}

static int holds(const session_t *s, const char *table)
{
    for (int i = 0; i < s->nheld; i++)
        if (strcmp(s->held[i], table) == 0)
            return 1;
    return 0;
}

static void strv_free(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void note_sql(session_t *s, const char *sql)
{
    size_t n = strnlen(sql, sizeof(s->current_sql) - 1);

    memcpy(s->current_sql, sql, n);
    s->current_sql[n] = '\0';
}

/* Joins tables into "a, b" for messages and logs. */
static void join_tables(char *out, size_t len, char *const *t, int n)
{
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "", t[i]);
}

/* ---- refusing a held message ---- */

/* Hands each message of a stand-in batch to the retry engine. */
static void record_standin(session_t *s, const buf_t *out)
{
    size_t off = 0, len;

    while (off + 5 <= out->len) {
        len = buf_get_u32(out->data + off + 1) + 1;
        retry_client_msg(s, out->data + off, len, 0, RETRY_MSG_NORETRY, NULL, NULL);
        off += len;
    }
}

/*
 * Fails the client's message at the head of its buffer with our own error,
 * keeping the upstream's transaction state identical to what the client
 * will believe: a message that always fails is sent in its place (a failing
 * query, or the Execute of a portal that does not exist, which answers
 * nothing but its error), and the server's error for it is replaced by ours
 * on the way back.
 */
void relay_refuse_head(session_t *s, const char *sqlstate, const char *msg,
                       const char *detail)
{
    /* Fails at parse analysis, before any RowDescription, and reads plainly
     * in the server's log. */
    static const char failing[] = "SELECT pgsluice_refused_this_statement()";
    buf_t *in = &s->client.in;
    buf_t out = {0};
    frame_t f;
    size_t m;

    if (s->deferred)
        forward_head(s, s->deferred, 0); /* the batch's preparing messages run */
    if (frame_read(buf_head(in), buf_avail(in), LEN_UNLIMITED, &f) != FRAME_OK ||
        !f.body)
        return;
    buf_free(&s->replace_error);
    frame_put_error(&s->replace_error, "ERROR", sqlstate, msg, detail);
    s->injecting = 1;
    /* Its error comes after the answers to everything already sent. */
    s->inject_skip_z = s->inflight;
    if (f.type == 'Q') {
        frame_put_query(&out, failing);
        s->inflight++;
    } else {
        m = frame_begin(&out, 'E');
        buf_put_str(&out, "pgsluice refused");
        buf_put_u32(&out, 0);
        frame_end(&out, m);
    }
    relay_to_upstream(s, buf_head(&out), buf_avail(&out));
    record_standin(s, &out);
    buf_free(&out);
    buf_consume(in, f.total);
}

/* ---- write slots ---- */

static void add_held(session_t *s, char **tables, int n)
{
    char **v;

    if (s->nheld == 0)
        s->hold_started_ms = sess_now();
    v = realloc(s->held, sizeof(char *) * (size_t)(s->nheld + n));
    if (!v)
        return;
    s->held = v;
    for (int i = 0; i < n; i++)
        s->held[s->nheld++] = strdup(tables[i]);
}

static void log_slot(session_t *s, log_level_t lv, const char *event, char **t, int n,
                     const char *field, uint64_t ms)
{
    log_line_t l;
    char tables[512];

    join_tables(tables, sizeof(tables), t, n);
    sess_log(s, &l, lv, event);
    log_str(&l, "table", tables);
    if (field)
        log_u64(&l, field, ms);
    /* Every line about a wait says where in line the session arrived. */
    if (s->wait_position)
        log_u64(&l, "position", (uint64_t)s->wait_position);
    log_end(&l);
}

/* Describes a cycle as "session 3 waits for a.b held by session 7, ...". */
static void describe_cycle(const queue_refusal_t *info, char *out, size_t len)
{
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; info && i < info->ncycle && used < len; i++) {
        session_t *w = server_find_by_sid(info->cycle_sids[i]);
        used += (size_t)snprintf(out + used, len - used, "%s%s waits for %s",
                                 i ? "; " : "", w ? w->client_addr : "a session",
                                 info->cycle_tables[i]);
    }
}

static void deadlock_refusal(session_t *s, char **missing, int n,
                             const queue_refusal_t *info)
{
    char tables[512], msg[700], detail[1024];

    join_tables(tables, sizeof(tables), missing, n);
    snprintf(msg, sizeof(msg),
             "deadlock detected by pgsluice: waiting for the write slot of %s would "
             "close a cycle of sessions waiting for each other's tables",
             tables);
    describe_cycle(info, detail, sizeof(detail));
    log_slot(s, LOG_WARN, "deadlock_broken", missing, n, NULL, 0);
    relay_refuse_head(s, "40P01", msg, detail[0] ? detail : NULL);
}

typedef struct position_query {
    const char *table;
    uint64_t sid;
    int position;
} position_query_t;

static void find_position(void *arg, const queue_table_info_t *info)
{
    position_query_t *pq = arg;

    if (strcmp(info->table, pq->table) != 0)
        return;
    for (int i = 0; i < info->nwaiters; i++)
        if (info->waiters[i].sid == pq->sid)
            pq->position = i + 1;
}

/* Where the session stands in the line of table, 1 being next. Walks the
 * tables, so it is only asked when a session starts waiting. */
static int wait_position(session_t *s, const char *table)
{
    position_query_t pq = {table, s->sid, 0};

    queue_foreach(g_server->queue, find_position, &pq);
    return pq.position;
}

/*
 * Makes sure the session holds every table in tables before the message at
 * the head of its buffer goes upstream. Returns 1 when all are held, 0 when
 * the session now waits (the message stays unconsumed), -1 when the message
 * was refused and consumed.
 */
static int need_slots(session_t *s, char **tables, int n)
{
    char **missing = NULL;
    int nm = 0, rc;

    for (int i = 0; i < n; i++)
        if (!holds(s, tables[i]))
            nm++;
    if (nm == 0)
        return 1;
    missing = calloc((size_t)nm, sizeof(char *));
    if (!missing)
        return 1;
    nm = 0;
    for (int i = 0; i < n; i++)
        if (!holds(s, tables[i]))
            missing[nm++] = strdup(tables[i]);
    rc = queue_acquire(g_server->queue, s->sid, (const char *const *)missing, nm,
                       on_grant, s);
    if (rc == QUEUE_GRANTED) {
        add_held(s, missing, nm);
        for (int i = 0; i < nm; i++)
            stats_observe_wait(missing[i], 0);
        log_slot(s, LOG_DEBUG, "slot_granted", missing, nm, "wait_ms", 0);
        strv_free(missing, nm);
        return 1;
    }
    if (rc == QUEUE_WAITING) {
        s->blocked |= BLOCK_QUEUE;
        s->want = missing;
        s->nwant = nm;
        s->wait_started_ms = sess_now();
        s->wait_position = wait_position(s, missing[0]);
        log_slot(s, LOG_INFO, "slot_queued", missing, nm, NULL, 0);
        return 0;
    }
    if (rc == QUEUE_EDEADLK)
        deadlock_refusal(s, missing, nm, queue_last_refusal(g_server->queue));
    else
        relay_refuse_head(s, "53200", "pgsluice could not queue the write", NULL);
    strv_free(missing, nm);
    return -1;
}

static void timeout_refusal(session_t *s, const queue_refusal_t *info)
{
    session_t *h = info ? server_find_by_sid(info->holder) : NULL;
    char msg[700];

    snprintf(msg, sizeof(msg),
             "pgsluice: gave up after waiting %llu ms for the write slot of table %s, "
             "held by client %s (application_name \"%s\")",
             (unsigned long long)(info ? info->waited_ms : 0),
             info && info->table ? info->table : "?", h ? h->client_addr : "?",
             h && h->application_name ? h->application_name : "");
    log_slot(s, LOG_WARN, "slot_wait_timeout", s->want, s->nwant, "wait_ms",
             info ? info->waited_ms : 0);
    relay_refuse_head(s, "55P03", msg, NULL);
}

static void on_grant(void *arg, int status, const queue_refusal_t *info)
{
    session_t *s = arg;
    uint64_t waited = sess_now() - s->wait_started_ms;

    s->blocked &= ~BLOCK_QUEUE;
    if (status == QUEUE_GRANTED) {
        s->hold_waited = 1;
        add_held(s, s->want, s->nwant);
        for (int i = 0; i < s->nwant; i++)
            stats_observe_wait(s->want[i], waited);
        log_slot(s, LOG_INFO, "slot_granted", s->want, s->nwant, "wait_ms", waited);
    } else if (status == QUEUE_ETIMEDOUT) {
        timeout_refusal(s, info);
    } else {
        deadlock_refusal(s, s->want, s->nwant, info);
    }
    strv_free(s->want, s->nwant);
    s->want = NULL;
    s->nwant = 0;
    s->wait_position = 0;
    if (status == QUEUE_GRANTED && retry_refresh(s))
        return; /* the client goes on when the replay is done */
    relay_client_data(s);
}

void relay_cancel_wait(session_t *s)
{
    queue_cancel(g_server->queue, s->sid);
    s->blocked &= ~BLOCK_QUEUE;
    s->wait_position = 0;
    log_slot(s, LOG_INFO, "slot_wait_cancelled", s->want, s->nwant, "wait_ms",
             sess_now() - s->wait_started_ms);
    strv_free(s->want, s->nwant);
    s->want = NULL;
    s->nwant = 0;
    relay_refuse_head(s, "57014", "canceling statement due to user request", NULL);
    relay_client_data(s);
}

void relay_release_slots(session_t *s)
{
    uint64_t held_ms = sess_now() - s->hold_started_ms;

    if (s->nheld == 0 && !(s->blocked & BLOCK_QUEUE))
        return;
    if (s->nheld)
        log_slot(s, s->hold_waited ? LOG_INFO : LOG_DEBUG, "slot_released", s->held,
                 s->nheld, "hold_ms", held_ms);
    for (int i = 0; i < s->nheld; i++)
        stats_observe_hold(s->held[i], held_ms);
    strv_free(s->held, s->nheld);
    s->held = NULL;
    s->nheld = 0;
    s->hold_waited = 0;
    s->wait_position = 0;
    strv_free(s->want, s->nwant);
    s->want = NULL;
    s->nwant = 0;
    s->blocked &= ~BLOCK_QUEUE;
    /* Last: granting the next waiters runs their sessions' code. */
    queue_release_all(g_server->queue, s->sid);
}

/* ---- what the client sends ---- */

static int classifying(void)
{
    return g_server->cfg->ntables > 0 || g_server->cfg->nprocs > 0 ||
           g_server->retry_enabled;
}

/* A message body that must be one NUL-terminated string and nothing else. */
static const char *body_string(const frame_t *f)
{
    if (f->body_len == 0 || memchr(f->body, 0, f->body_len) != f->body + f->body_len - 1)
        return NULL;
    return (const char *)f->body;
}

static void apply_session_effects(session_t *s, const classify_result_t *r,
                                  stmt_info_t *acc)
{
    for (int i = 0; i < r->n; i++) {
        const classify_stmt_t *st = &r->stmts[i];
        stmt_info_t info = {.writes = st->writes, .nwrites = st->nwrites,
                            .flags = st->flags};
        if ((st->flags & CLASSIFY_F_SEARCH_PATH) && !(st->flags & CLASSIFY_F_LOCAL)) {
            free(s->search_path);
            s->search_path = st->new_search_path ? strdup(st->new_search_path) : NULL;
        }
        if (st->prepare_name) {
            stmtmap_put(&s->sql_prepared, st->prepare_name, &info);
            if (!s->msg_prepare)
                s->msg_prepare = strdup(st->prepare_name);
        }
        if (st->deallocate_name && st->deallocate_name[0])
            stmtmap_del(&s->sql_prepared, st->deallocate_name);
        else if (st->deallocate_name)
            stmtmap_clear(&s->sql_prepared);
        acc->flags |= st->flags;
        if (!(st->flags & CLASSIFY_F_BEGIN))
            acc->flags |= RETRY_F_WORK;
    }
}

/* Adds tables to a sorted unique list. */
static void merge_writes(stmt_info_t *acc, char *const *t, int n)
{
    for (int i = 0; i < n; i++) {
        int j = 0, k;
        while (j < acc->nwrites && strcmp(acc->writes[j], t[i]) < 0)
            j++;
        if (j < acc->nwrites && strcmp(acc->writes[j], t[i]) == 0)
            continue;
        char **v = realloc(acc->writes, sizeof(char *) * (size_t)(acc->nwrites + 1));
        if (!v)
            return;
        acc->writes = v;
        for (k = acc->nwrites; k > j; k--)
            v[k] = v[k - 1];
        v[j] = strdup(t[i]);
        acc->nwrites++;
    }
}

/* What sql writes, with the session's prepared statements resolved. */
static void classify_text(session_t *s, const char *sql, stmt_info_t *acc)
{
    classify_result_t *r;
    const stmt_info_t *p;
    log_line_t l;

    memset(acc, 0, sizeof(*acc));
    if (!classifying())
        return;
    r = classify_sql(g_server->ccfg, sql, s->search_path, s->user);
    if (!r)
        return;
    apply_session_effects(s, r, acc);
    for (int i = 0; i < r->n; i++) {
        const classify_stmt_t *st = &r->stmts[i];
        if (st->prepare_name)
            continue; /* PREPARE itself writes nothing */
        merge_writes(acc, st->writes, st->nwrites);
        if (st->execute_name && (p = stmtmap_get(&s->sql_prepared, st->execute_name)))
            merge_writes(acc, p->writes, p->nwrites);
        if (st->reason && log_enabled(LOG_DEBUG)) {
            sess_log(s, &l, LOG_DEBUG, "classify_guess");
            log_str(&l, "reason", st->reason);
            log_strn(&l, "sql", sql, 120);
            log_end(&l);
        }
    }
    classify_result_free(r);
}

static int on_query(session_t *s, const frame_t *f)
{
    const char *sql = body_string(f);
    stmt_info_t info;
    int rc;

    if (!sql) {
        protocol_violation(s, "invalid Query message");
        return -1;
    }
    classify_text(s, sql, &info);
    s->msg_cflags = info.flags;
    note_sql(s, sql);
    rc = need_slots(s, info.writes, info.nwrites);
    stmt_info_free(&info);
    if (rc <= 0)
        return rc == 0 ? 0 : 2;
    s->inflight++;
    return 1;
}

static int on_parse(session_t *s, const frame_t *f)
{
    frame_cur_t c;
    const char *name, *sql;
    stmt_info_t info;

    frame_cur_init(&c, f->body, f->body_len);
    name = frame_get_str(&c);
    sql = frame_get_str(&c);
    if (!name || !sql) {
        protocol_violation(s, "invalid Parse message");
        return -1;
    }
    classify_text(s, sql, &info);
    s->msg_stmt = name;
    if (info.nwrites || info.flags || name[0] == '\0')
        stmtmap_put(&s->stmts, name, &info);
    stmt_info_free(&info);
    note_sql(s, sql);
    return 1;
}

static int on_bind(session_t *s, const frame_t *f)
{
    frame_cur_t c;
    const char *portal, *stmt;
    const stmt_info_t *info;
    stmt_info_t none = {0};

    frame_cur_init(&c, f->body, f->body_len);
    portal = frame_get_str(&c);
    stmt = frame_get_str(&c);
    if (!portal || !stmt) {
        protocol_violation(s, "invalid Bind message");
        return -1;
    }
    info = stmtmap_get(&s->stmts, stmt);
    if (info && (info->nwrites || info->flags))
        stmtmap_put(&s->portals, portal, info);
    else if (s->portals.count)
        stmtmap_put(&s->portals, portal, &none);
    return 1;
}

static int on_execute(session_t *s, const frame_t *f)
{
    frame_cur_t c;
    const char *portal;
    const stmt_info_t *info;
    int rc;

    frame_cur_init(&c, f->body, f->body_len);
    portal = frame_get_str(&c);
    if (!portal) {
        protocol_violation(s, "invalid Execute message");
        return -1;
    }
    info = stmtmap_get(&s->portals, portal);
    if (!info || !info->nwrites) {
        s->msg_cflags = info ? info->flags : 0;
        return 1;
    }
    s->msg_cflags = info->flags;
    rc = need_slots(s, info->writes, info->nwrites);
    return rc <= 0 ? (rc == 0 ? 0 : 2) : 1;
}

static int on_close(session_t *s, const frame_t *f)
{
    frame_cur_t c;
    uint8_t kind;
    const char *name;

    frame_cur_init(&c, f->body, f->body_len);
    kind = frame_get_u8(&c);
    name = frame_get_str(&c);
    if (!name || (kind != 'S' && kind != 'P')) {
        protocol_violation(s, "invalid Close message");
        return -1;
    }
    stmtmap_del(kind == 'S' ? &s->stmts : &s->portals, name);
    return 1;
}

/*
 * One whole client message. Returns 1 to forward it, 0 to hold it (the
 * session waits for a slot), 2 when it was consumed here, -1 when the
 * session failed.
 */
static int client_message(session_t *s, const frame_t *f)
{
    switch (f->type) {
    case 'Q':
        return on_query(s, f);
    case 'P':
        return on_parse(s, f);
    case 'B':
        return on_bind(s, f);
    case 'E':
        return on_execute(s, f);
    case 'C':
        return on_close(s, f);
    case 'S':
    case 'F':
        s->inflight++;
        return 1;
    case 'X':
        s->terminated = 1;
        return 1;
    default:
        return 1;
    }
}

/* Starts passing a long CopyData through as it arrives. */
static void start_stream(session_t *s, buf_t *in, const frame_t *f, int to_server)
{
    size_t n = buf_avail(in);

    if (to_server) {
        relay_to_upstream(s, buf_head(in), n);
        retry_client_stream(s, buf_head(in), n);
        s->c_stream_left = f->total - n;
    } else {
        retry_server_stream(s);
        relay_to_client(s, buf_head(in), n);
        s->s_stream_left = f->total - n;
    }
    buf_consume(in, n);
}

/* Passes on bytes of a streamed message; returns 1 while bytes remain. */
static int continue_stream(session_t *s, buf_t *in, size_t *left, int to_server)
{
    size_t n = buf_avail(in) < *left ? buf_avail(in) : *left;

    if (to_server) {
        relay_to_upstream(s, buf_head(in), n);
        retry_client_stream(s, buf_head(in), n);
    } else
        relay_to_client(s, buf_head(in), n);
    buf_consume(in, n);
    *left -= n;
    return *left > 0;
}

/* Reads the message that starts skip bytes into in. */
static int read_frame(session_t *s, buf_t *in, size_t skip, int from_client, frame_t *f)
{
    const uint8_t *p = buf_head(in) + skip;
    uint8_t t = p[0];
    int streamable = from_client ? t == 'd'
                                 : (t == 'd' || t == 'D') && retry_may_stream(s);
    size_t max = streamable ? LEN_UNLIMITED : g_server->cfg->max_message_size;
    int rc = frame_read(p, buf_avail(in) - skip, max, f);
    char msg[200];

    if (rc == FRAME_NEED_MORE || rc == FRAME_OK)
        return rc;
    if (!from_client) {
        sess_fail(s, "08P01", "lost synchronization with the upstream server", NULL);
    } else if (rc == FRAME_ETOOBIG) {
        snprintf(msg, sizeof(msg),
                 "message of type '%c' with %u bytes exceeds max_message_size (%zu)",
                 t >= 32 && t < 127 ? t : '?', buf_get_u32(p + 1),
                 g_server->cfg->max_message_size);
        sess_fail(s, "54000", msg, NULL);
    } else {
        protocol_violation(s, "invalid message length");
    }
    return -1;
}

static void apply_backpressure(session_t *s)
{
    int over = link_backlog(&s->upstream) > s->upstream.high_water;

    if (over)
        s->blocked |= BLOCK_PRESSURE;
    /* Stop reading the client while its messages cannot move on. */
    if (over || ((s->blocked & BLOCK_QUEUE) &&
                 buf_avail(&s->client.in) > s->client.high_water))
        link_pause(&s->client, 1);
    else if (!s->blocked)
        link_pause(&s->client, 0);
}

/* Parse, Bind, Describe and Close only prepare: they wait with the message
 * that runs them, so that if that one must wait for a write slot, nothing
 * of its batch is upstream yet (and the transaction can still be replayed
 * for a fresh snapshot first). */
static int prepares(uint8_t type)
{
    return type == 'P' || type == 'B' || type == 'D' || type == 'C';
}

/* Sends the first n bytes of the client's buffer upstream, whole messages,
 * and shows each to the retry engine; the last one carries the flags of
 * what it runs. */
static void forward_head(session_t *s, size_t n, unsigned last_cflags)
{
    buf_t *in = &s->client.in;
    const uint8_t *p = buf_head(in);
    size_t off = 0, len;
    int last;

    relay_to_upstream(s, p, n);
    while (off < n) {
        len = buf_get_u32(p + off + 1) + 1;
        last = off + len == n;
        retry_client_msg(s, p + off, len, last ? last_cflags : 0, 0,
                         p[off] == 'P' ? (const char *)p + off + 5 : NULL,
                         last ? s->msg_prepare : NULL);
        off += len;
    }
    buf_consume(in, n);
    s->deferred = 0;
}

static void message_done(session_t *s)
{
    s->msg_cflags = 0;
    s->msg_stmt = NULL;
    free(s->msg_prepare);
    s->msg_prepare = NULL;
}

/*
 * Handles the client message that starts `*held` bytes into the buffer.
 * Returns 1 to go on, 0 to stop (blocked, or more bytes needed), -1 when
 * the session failed.
 */
static int client_step(session_t *s, size_t *held)
{
    buf_t *in = &s->client.in;
    frame_t f;
    int rc = read_frame(s, in, *held, 1, &f);

    if (rc <= 0)
        return rc;
    if (!f.body || f.type == 'd') {
        if (*held)
            forward_head(s, *held, 0); /* COPY data follows no batch: flush */
        *held = 0;
        if (!f.body && f.type == 'd' && f.total >= STREAM_THRESHOLD)
            start_stream(s, in, &f, 1);
        if (!f.body)
            return 0;
    }
    /* Held-back messages go, or are refused, with this one. */
    s->deferred = *held;
    rc = client_message(s, &f);
    if (rc == 1 && prepares(f.type)) {
        *held += f.total;
        message_done(s);
        return 1;
    }
    if (rc == 1)
        forward_head(s, *held + f.total, s->msg_cflags);
    if (rc == 1 || rc == 2)
        *held = 0;
    message_done(s);
    return rc < 0 ? -1 : rc != 0;
}

void relay_client_data(session_t *s)
{
    buf_t *in = &s->client.in;
    size_t held = 0;
    int rc = 1;

    while ((s->state == SESS_AUTH || s->state == SESS_READY) && !s->blocked) {
        if (s->c_stream_left) {
            if (continue_stream(s, in, &s->c_stream_left, 1))
                break;
            continue;
        }
        if (buf_avail(in) <= held)
            break;
        rc = client_step(s, &held);
        if (rc <= 0)
            break;
    }
    if (rc < 0 || s->state == SESS_CLOSING)
        return;
    /* Nothing more has come: what was held back goes as it is. */
    if (held && !s->blocked)
        forward_head(s, held, 0);
    link_flush(&s->upstream);
    apply_backpressure(s);
}

void relay_upstream_drained(session_t *s)
{
    if (s->state == SESS_CLOSING)
        return;
    s->blocked &= ~BLOCK_PRESSURE;
    if (!(s->blocked & BLOCK_QUEUE))
        link_pause(&s->client, 0);
    relay_client_data(s);
}

/* ---- what the server sends ---- */

/* Drops SCRAM-SHA-256-PLUS from a SASL offer: channel binding cannot hold
 * across a proxy, since the client's TLS channel is not the server's. */
static void forward_sasl_offer(session_t *s, const frame_t *f)
{
    buf_t out = {0};
    frame_cur_t c;
    const char *mech;
    size_t m = frame_begin(&out, 'R');

    frame_cur_init(&c, f->body, f->body_len);
    buf_put_u32(&out, frame_get_u32(&c));
    while ((mech = frame_get_str(&c)) && *mech)
        if (strcmp(mech, "SCRAM-SHA-256-PLUS") != 0)
            buf_put_str(&out, mech);
    buf_put_u8(&out, 0);
    frame_end(&out, m);
    relay_to_client(s, buf_head(&out), buf_avail(&out));
    buf_free(&out);
}

static int on_auth(session_t *s, const frame_t *f)
{
    if (f->body_len >= 4 && buf_get_u32(f->body) == 10) {
        forward_sasl_offer(s, f);
        return 0;
    }
    return 1;
}

static int on_backend_key(session_t *s, const frame_t *f)
{
    buf_t out = {0};

    if (f->body_len != 8)
        return 1;
    s->server_pid = buf_get_u32(f->body);
    s->server_key = buf_get_u32(f->body + 4);
    frame_put_backend_key(&out, s->pid, s->key);
    relay_to_client(s, buf_head(&out), buf_avail(&out));
    buf_free(&out);
    return 0;
}

static void on_parameter(session_t *s, const frame_t *f)
{
    frame_cur_t c;
    const char *k, *v;

    if (s->dialect >= 0)
        return;
    frame_cur_init(&c, f->body, f->body_len);
    k = frame_get_str(&c);
    v = frame_get_str(&c);
    if (k && v && strcmp(k, "server_version") == 0)
        s->dialect = strncmp(v, "8.0.2", 5) == 0 ? CLASSIFY_DIALECT_REDSHIFT
                                                  : CLASSIFY_DIALECT_POSTGRES;
}

void relay_on_ready(session_t *s, char status)
{
    log_line_t l;

    s->txn = status;
    if (s->inflight > 0)
        s->inflight--;
    if (s->state == SESS_AUTH) {
        s->state = SESS_READY;
        sess_log(s, &l, LOG_INFO, "session_opened");
        log_u64(&l, "setup_ms", sess_now() - s->started_ms);
        log_end(&l);
    }
    if (s->txn == 'I' && s->inflight == 0) {
        stmtmap_clear(&s->portals);
        relay_release_slots(s);
    }
}

/* Returns 1 when it sent the client its own version of the error. */
static int on_server_error(session_t *s, const frame_t *f)
{
    frame_error_t e;
    buf_t out = {0};
    char detail[600];

    if (frame_parse_error(f, &e) != FRAME_OK || !e.severity)
        return 0;
    if (strcmp(e.severity, "FATAL") == 0 || strcmp(e.severity, "PANIC") == 0)
        s->server_fatal = 1;
    if (s->state == SESS_READY && !s->injecting)
        retry_note_untracked_error(s, e.sqlstate, e.message, e.detail);
    /* A client on TLS that can do channel binding tells the server so, and
     * the server, on its own TLS session, refuses: explain what to change. */
    if (s->state != SESS_AUTH || !e.message || !strstr(e.message, "channel binding"))
        return 0;
    snprintf(detail, sizeof(detail),
             "The server said: %s %s Channel binding cannot pass through a proxy, "
             "because the client's TLS session ends at pgsluice. Connect with "
             "channel_binding=disable, or to pgsluice without TLS.",
             e.message, e.detail ? e.detail : "");
    frame_put_error(&out, "FATAL", e.sqlstate ? e.sqlstate : "08P01",
                    "SCRAM channel binding cannot be used through pgsluice", detail);
    relay_to_client(s, buf_head(&out), buf_avail(&out));
    buf_free(&out);
    return 1;
}

/* Passes one server message on, through the retry engine once the session
 * is up. p may differ from the frame when the proxy replaced the message. */
static void pass_on(session_t *s, const uint8_t *p, size_t n)
{
    if (s->state == SESS_READY && !retry_server_msg(s, p, n))
        return;
    if (p[0] == 'Z' && n == 6)
        relay_on_ready(s, (char)p[5]);
    relay_to_client(s, p, n);
}

/* The server's error for a refused message's stand-in becomes ours. */
static int stand_in(session_t *s, const frame_t *f)
{
    if (f->type == 'Z' && s->inject_skip_z > 0)
        s->inject_skip_z--;
    if (f->type != 'E' || s->inject_skip_z > 0)
        return 0;
    s->injecting = 0;
    pass_on(s, s->replace_error.data, s->replace_error.len);
    buf_free(&s->replace_error);
    return 1;
}

static void server_message(session_t *s, const frame_t *f)
{
    if (s->injecting && stand_in(s, f))
        return;
    switch (f->type) {
    case 'R':
        if (!on_auth(s, f))
            return;
        break;
    case 'K':
        if (!on_backend_key(s, f))
            return;
        break;
    case 'S':
        on_parameter(s, f);
        break;
    case 'E':
        if (on_server_error(s, f))
            return;
        break;
    }
    pass_on(s, f->body - 5, f->total);
}

void relay_server_data(session_t *s)
{
    buf_t *in = &s->upstream.in;
    frame_t f;
    int rc;

    while (s->state == SESS_AUTH || s->state == SESS_READY) {
        if (s->s_stream_left) {
            if (continue_stream(s, in, &s->s_stream_left, 0))
                break;
            continue;
        }
        if (buf_avail(in) == 0)
            break;
        rc = read_frame(s, in, 0, 0, &f);
        if (rc < 0)
            return;
        if (rc == FRAME_NEED_MORE)
            break;
        if (!f.body) {
            if ((f.type == 'd' || f.type == 'D') && f.total >= STREAM_THRESHOLD &&
                retry_may_stream(s))
                start_stream(s, in, &f, 0);
            break;
        }
        server_message(s, &f);
        buf_consume(in, f.total);
    }
    if (s->state == SESS_CLOSING)
        return;
    link_flush(&s->client);
    link_flush(&s->upstream);
    if (link_backlog(&s->client) > s->client.high_water)
        link_pause(&s->upstream, 1);
    /* A replay may have ended, or a grant come: go on with the client. */
    if (!s->blocked && buf_avail(&s->client.in) > 0)
        relay_client_data(s);
    if (g_server->shutting_down && s->state == SESS_READY)
        session_stop_if_idle(s);
}

void relay_client_drained(session_t *s)
{
    if (s->state == SESS_CLOSING || !s->upstream_open)
        return;
    link_pause(&s->upstream, 0);
    relay_server_data(s);
}

void relay_upstream_lost(session_t *s, int err)
{
    retry_flush_held(s);
    if (s->terminated || s->server_fatal || s->state == SESS_AUTH) {
        link_flush(&s->client);
        sess_close(s, s->terminated ? "client terminated" : "server closed the session");
        return;
    }
    if (retry_commit_in_flight(s)) {
        sess_fail(s, "08007",
                  "the upstream connection was lost while COMMIT was in progress: "
                  "the transaction may or may not have committed",
                  err ? uv_strerror(err) : NULL);
        return;
    }
    sess_fail(s, "08006", "the upstream server closed the connection unexpectedly",
              err ? uv_strerror(err) : NULL);
}

void relay_free(session_t *s)
{
    stmtmap_clear(&s->stmts);
    stmtmap_clear(&s->portals);
    stmtmap_clear(&s->sql_prepared);
    strv_free(s->held, s->nheld);
    strv_free(s->want, s->nwant);
    buf_free(&s->replace_error);
    free(s->msg_prepare);
    retry_free(s);
}
