/*
 * The retry engine. Responses of each unit (a Query, or a batch up to Sync)
 * are held until its ReadyForQuery; the units of an open transaction are
 * kept with a digest of what the client received. On a retryable error the
 * transaction is rolled back, replayed step by step (each step's responses
 * must match the digest) and the failed unit sent again; the client sees
 * only the attempt that succeeded, or the original error.
 */
#include "proxy/retry.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/classify.h"
#include "proxy/server.h"
#include "proxy/session_int.h"
#include "proxy/stats.h"

typedef struct runit {
    struct runit *next;
    buf_t msgs;             /* client messages, replayed as they are */
    int closed;             /* its Query/Sync has gone upstream */
    unsigned cflags;        /* CLASSIFY_F_* of what it runs */
    int noretry;            /* pipelined, stand-in, or over the buffer */
    int streaming;          /* responses no longer held */
    char start_txn;         /* transaction status when it began */
    buf_t held;             /* responses held back */
    EVP_MD_CTX *md;         /* digest of the responses delivered so far */
    int md_on;              /* md was started for this unit */
    int ndelivered;         /* responses delivered before the unit ended */
    uint8_t prefix[32];     /* digest of those, at the time of failure */
    char **names;           /* statements its Parse messages create */
    int nnames;
    char *sql_prepare;      /* a SQL PREPARE it runs */
    int errored, failed;    /* saw an error; saw a retryable one */
    int standin;            /* the proxy's own stand-in for a refused message */
    const char *why;        /* why it cannot be replayed, when noretry */
    int passthrough;        /* pipelined: answers pass at once */
    int zcount;             /* ReadyForQuery messages it still expects */
    char sqlstate[6];
    char *message, *detail;
} runit_t;

typedef struct rstep {
    struct rstep *next;
    int work;               /* ran more than transaction control */
    buf_t msgs;
    uint8_t digest[32];
    char **names;
    int nnames;
    char *sql_prepare;
} rstep_t;

typedef enum rphase {
    RP_IDLE,
    RP_CLEANUP, /* rollback and statement cleanup under way */
    RP_BACKOFF, /* waiting before the next attempt */
    RP_STEP,    /* replaying a completed step of the transaction */
    RP_UNIT,    /* the failed unit itself, sent again */
    RP_RESTORE, /* giving up: putting the upstream back as the client saw it */
} rphase_t;

struct retry {
    runit_t *head, *tail;
    runit_t *spare;        /* a finished unit kept for reuse */
    rstep_t *steps, *steps_tail;
    size_t recorded;       /* bytes of client messages in steps */
    int txn_noretry;       /* the open transaction cannot be replayed */
    const char *txn_why;   /* and why */
    rphase_t phase;
    int attempt;           /* replays started for the current unit */
    int expect_z;          /* ReadyForQuery still due in CLEANUP/RESTORE */
    rstep_t *cur;          /* step being replayed */
    EVP_MD_CTX *md;        /* digest of the replay */
    int count;             /* responses of the replay so far */
    int replay_failed;     /* retryable error during the replay */
    int replay_differs;    /* other error or different result */
    buf_t original;        /* the first failure as the client would see it */
    char orig_status;
    int refreshing;        /* replaying a transaction whose slot came late */
    uint64_t began_ms;
    uint64_t delay_ms;
};

#define DIGEST_LEN 32

static double g_tokens = -1;
static uint64_t g_refill_ms;
static uint64_t g_warned_ms;

/* ---- retryable errors and the budget ---- */

int retry_is_retryable(const config_t *cfg, const char *sqlstate, const char *message,
                       const char *detail)
{
    if (!sqlstate)
        return 0;
    if (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0)
        return 1;
    if (strcmp(sqlstate, "XX000") == 0) {
        if (message && (strcmp(message, "1023") == 0 ||
                        strstr(message, "could not complete because of conflict with "
                                        "concurrent transaction")))
            return 1;
        if (detail && strncmp(detail, "Serializable isolation violation", 32) == 0)
            return 1;
    }
    for (int i = 0; i < cfg->nretry_rules; i++) {
        const config_retry_rule_t *r = &cfg->retry_rules[i];
        if (strcmp(r->sqlstate, sqlstate) != 0)
            continue;
        if (!r->substring || (message && strstr(message, r->substring)))
            return 1;
    }
    return 0;
}

static double budget_cap(void)
{
    return 10.0 + g_server->cfg->budget_floor * 10.0;
}

static void budget_refill(void)
{
    uint64_t now = uv_now(g_server->loop);
    double cap = budget_cap();

    if (g_tokens < 0) {
        g_tokens = cap;
        g_refill_ms = now;
    }
    g_tokens += (double)(now - g_refill_ms) / 1000.0 * g_server->cfg->budget_floor;
    g_refill_ms = now;
    if (g_tokens > cap)
        g_tokens = cap;
}

double retry_budget_remaining(void)
{
    if (!g_server)
        return 0;
    budget_refill();
    return g_tokens;
}

static void budget_earn(void)
{
    budget_refill();
    g_tokens += g_server->cfg->budget_ratio;
    if (g_tokens > budget_cap())
        g_tokens = budget_cap();
}

static int budget_take(void)
{
    uint64_t now = uv_now(g_server->loop);

    budget_refill();
    if (g_tokens >= 1.0) {
        g_tokens -= 1.0;
        return 1;
    }
    if (now - g_warned_ms >= 10000 || g_warned_ms == 0) {
        g_warned_ms = now;
        log_simple(LOG_WARN, "retry_budget_spent",
                   "retryable errors now reach clients until the budget refills");
    }
    return 0;
}

/* ---- small helpers ---- */

static int digestible(uint8_t type)
{
    /* Notices, parameter changes and notifications may differ between
     * attempts without the results differing. */
    return type != 'N' && type != 'S' && type != 'A';
}

static void md_reset(EVP_MD_CTX **md)
{
    if (!*md)
        *md = EVP_MD_CTX_new();
    if (*md)
        EVP_DigestInit_ex(*md, EVP_sha256(), NULL);
}

static void md_final(EVP_MD_CTX *md, uint8_t out[DIGEST_LEN])
{
    unsigned len = DIGEST_LEN;
    EVP_MD_CTX *copy = EVP_MD_CTX_new();

    memset(out, 0, DIGEST_LEN);
    if (md && copy && EVP_MD_CTX_copy_ex(copy, md))
        EVP_DigestFinal_ex(copy, out, &len);
    EVP_MD_CTX_free(copy);
}

static void strv_free(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void unit_free(runit_t *u)
{
    buf_free(&u->msgs);
    buf_free(&u->held);
    EVP_MD_CTX_free(u->md);
    strv_free(u->names, u->nnames);
    free(u->sql_prepare);
    free(u->message);
    free(u->detail);
    free(u);
}

/* Keeps one finished unit per session for the next one, with its buffers,
 * so an ordinary query costs no allocation here. */
static void unit_recycle(struct retry *r, runit_t *u)
{
    if (r->spare || u->msgs.cap > 65536 || u->held.cap > 65536) {
        unit_free(u);
        return;
    }
    strv_free(u->names, u->nnames);
    free(u->sql_prepare);
    free(u->message);
    free(u->detail);
    buf_reset(&u->msgs);
    buf_reset(&u->held);
    *u = (runit_t){.msgs = u->msgs, .held = u->held, .md = u->md};
    r->spare = u;
}

static void step_free(rstep_t *st)
{
    buf_free(&st->msgs);
    strv_free(st->names, st->nnames);
    free(st->sql_prepare);
    free(st);
}

static void steps_clear(struct retry *r)
{
    rstep_t *st, *next;

    for (st = r->steps; st; st = next) {
        next = st->next;
        step_free(st);
    }
    r->steps = r->steps_tail = NULL;
    r->recorded = 0;
}

static struct retry *state(session_t *s)
{
    if (!s->retry)
        s->retry = calloc(1, sizeof(struct retry));
    return s->retry;
}

void retry_free(session_t *s)
{
    struct retry *r = s->retry;
    runit_t *u, *next;

    if (!r)
        return;
    for (u = r->head; u; u = next) {
        next = u->next;
        unit_free(u);
    }
    if (r->spare)
        unit_free(r->spare);
    steps_clear(r);
    EVP_MD_CTX_free(r->md);
    buf_free(&r->original);
    free(r);
    s->retry = NULL;
}

static void tables_of(session_t *s, char *out, size_t len)
{
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; i < s->nheld && used < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "",
                                 s->held[i]);
}

/* ---- recording what the client sends ---- */

static void record(struct retry *r, runit_t *u, const uint8_t *p, size_t n)
{
    if (u->noretry)
        return;
    if (r->recorded + u->msgs.len + n > g_server->cfg->retry_buffer ||
        buf_append(&u->msgs, p, n) < 0) {
        u->noretry = 1, u->why = "its statements outgrew buffer_size";
        buf_free(&u->msgs);
    }
}

static runit_t *unit_new(session_t *s, struct retry *r, uint8_t type)
{
    runit_t *u = r->spare ? r->spare : calloc(1, sizeof(*u));
    int own = type == 'Q' || type == 'S' || type == 'F';

    if (!u)
        return NULL;
    r->spare = NULL;
    u->start_txn = s->txn;
    /* Units sent before the previous one was answered cannot be replayed
     * alone: the server ran them in an order a replay would change. */
    u->noretry = s->inflight > own || r->phase != RP_IDLE;
    u->why = u->noretry ? "sent before the previous statement was answered" : NULL;
    /* Pipelined units can never be replayed: their answers pass at once. */
    u->passthrough = u->streaming = u->noretry;
    u->zcount = 1;
    if (r->tail)
        r->tail->next = u;
    else
        r->head = u;
    r->tail = u;
    return u;
}

static void add_name(runit_t *u, const char *name)
{
    char **v = realloc(u->names, sizeof(char *) * (size_t)(u->nnames + 1));

    if (!v)
        return;
    u->names = v;
    v[u->nnames++] = strdup(name);
}

static void deliver_held(session_t *s, runit_t *u, int digest);

void retry_client_msg(session_t *s, const uint8_t *p, size_t n, unsigned cflags,
                      unsigned rflags, const char *stmt_name, const char *sql_prepare)
{
    struct retry *r;
    runit_t *u;
    uint8_t type = p[0];

    if (s->state != SESS_READY || (!s->retry && !g_server->retry_enabled))
        return;
    r = state(s);
    if (!r)
        return;
    if (type == 'd' || type == 'c' || type == 'f') {
        if (r->tail)
            record(r, r->tail, p, n); /* COPY data belongs to its COPY's unit */
        return;
    }
    u = r->tail;
    if (u && u->closed && u->passthrough && s->inflight > (type == 'Q' || type == 'S')) {
        /* Another pipelined unit: counted on the last one, not allocated,
         * so a client that pipelines without reading costs no memory here. */
        u->closed = 0;
        u->zcount++;
    } else if (!u || u->closed) {
        if (!g_server->retry_enabled)
            return;
        u = unit_new(s, r, type);
        if (!u)
            return;
    }
    record(r, u, p, n);
    u->cflags |= cflags;
    if (rflags & RETRY_MSG_NORETRY)
        u->noretry = u->standin = 1;
    if ((cflags & CLASSIFY_F_IMPLICIT_COMMIT) && s->dialect == CLASSIFY_DIALECT_REDSHIFT) {
        u->noretry = 1; /* it committed what came before: no replay can undo it */
        u->why = "a statement that commits at once on Redshift ran";
        r->txn_why = u->why;
        r->txn_noretry = 1;
    }
    if (stmt_name && stmt_name[0])
        add_name(u, stmt_name);
    if (sql_prepare && !u->sql_prepare)
        u->sql_prepare = strdup(sql_prepare);
    if (type == 'H') {
        /* The client wants responses before Sync: they cannot be held. */
        deliver_held(s, u, 0);
        u->streaming = 1;
        u->noretry = 1;
        u->why = "the client asked for results before Sync (Flush)";
    }
    if (type == 'Q' || type == 'S' || type == 'F')
        u->closed = 1;
}

void retry_client_stream(session_t *s, const uint8_t *p, size_t n)
{
    struct retry *r = s->retry;

    if (r && r->tail)
        record(r, r->tail, p, n);
}

int retry_commit_in_flight(const session_t *s)
{
    const runit_t *u;

    if (!s->retry)
        return 0;
    for (u = s->retry->head; u; u = u->next)
        if (u->cflags & CLASSIFY_F_END)
            return 1;
    return 0;
}

/* ---- responses ---- */

/* Sends the held responses to the client. With digest, they are added to
 * the unit's digest, which a replay must reproduce; autocommit units that
 * end idle never need one, so the common case skips the hashing. */
static void deliver_held(session_t *s, runit_t *u, int digest)
{
    const uint8_t *p = u->held.data;
    size_t off = 0, len;

    if (digest && !u->md_on) {
        md_reset(&u->md);
        u->md_on = 1;
    }
    while (off + 5 <= u->held.len) {
        len = buf_get_u32(p + off + 1) + 1;
        if (digestible(p[off])) {
            if (digest && u->md)
                EVP_DigestUpdate(u->md, p + off, len);
            u->ndelivered++;
        }
        off += len;
    }
    relay_to_client(s, u->held.data, u->held.len);
    buf_reset(&u->held);
}

static void note_error(runit_t *u, const uint8_t *p, size_t n)
{
    frame_t f = {.type = p[0], .body = p + 5, .body_len = n - 5};
    frame_error_t e;

    u->errored = 1;
    if (frame_parse_error(&f, &e) != FRAME_OK)
        return;
    snprintf(u->sqlstate, sizeof(u->sqlstate), "%s", e.sqlstate ? e.sqlstate : "");
    free(u->message);
    free(u->detail);
    u->message = e.message ? strdup(e.message) : NULL;
    u->detail = e.detail ? strdup(e.detail) : NULL;
    u->failed = retry_is_retryable(g_server->cfg, e.sqlstate, e.message, e.detail);
}

/* Adds an entry to the ring SHOW ERRORS lists. */
static void ring_error(session_t *s, const char *sqlstate, const char *message,
                       const char *detail, int attempt, const char *outcome)
{
    char tables[300];
    stats_error_t e = {0};
    uv_timeval64_t tv;

    tables_of(s, tables, sizeof(tables));
    if (uv_gettimeofday(&tv) == 0)
        e.time_ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
    e.session = s->sid;
    e.tables = tables;
    e.sqlstate = sqlstate;
    e.message = message ? message : "";
    e.detail = detail;
    e.attempt = attempt;
    e.outcome = outcome;
    e.statement = s->current_sql;
    stats_record_error(&e);
}

static const char *why_not(session_t *s, struct retry *r, runit_t *u)
{
    if (u->standin)
        return "raised by pgsluice itself (write queue)";
    if (!g_server->retry_enabled)
        return "retry is off";
    if (u->noretry || u->streaming)
        return u->why ? u->why : "not replayable";
    if (u != r->head || u->next)
        return "later units already sent";
    if (u->start_txn != 'I' && (r->txn_noretry || !r->steps))
        return r->txn_why ? r->txn_why : "the transaction was not recorded from its start";
    if (s->terminated)
        return "client terminated";
    if (r->attempt + 1 >= g_server->cfg->max_attempts)
        return "max_attempts reached";
    if (!budget_take())
        return "retry budget spent";
    return NULL;
}

/* The end of a run of replays: logged and counted once. */
static void replays_ended(session_t *s, runit_t *u, int ok, const char *why)
{
    log_line_t l;
    char tables[300];

    tables_of(s, tables, sizeof(tables));
    sess_log(s, &l, ok ? LOG_INFO : LOG_WARN, ok ? "retry_succeeded" : "retry_gave_up");
    if (tables[0])
        log_str(&l, "table", tables);
    log_u64(&l, "attempts", (uint64_t)s->retry->attempt + 1);
    log_str(&l, "sqlstate", u->sqlstate);
    if (why)
        log_str(&l, "reason", why);
    log_u64(&l, "elapsed_ms", uv_now(g_server->loop) - s->retry->began_ms);
    log_end(&l);
    stats_retry((const char *const *)s->held, s->nheld,
                ok ? STATS_RETRY_SUCCEEDED : STATS_RETRY_GAVE_UP, ok ? NULL : u->sqlstate);
    if (ok)
        g_server->stats.retries_succeeded++;
    else
        g_server->stats.retries_gave_up++;
}

/* A retryable error reaches the client after all: logged, counted and
 * kept for SHOW ERRORS. */
static void pass_error(session_t *s, const char *sqlstate, const char *message,
                       const char *detail, int attempt, const char *why)
{
    log_line_t l;
    char tables[300];

    tables_of(s, tables, sizeof(tables));
    sess_log(s, &l, LOG_WARN, "serialization_error_passed");
    if (tables[0])
        log_str(&l, "table", tables);
    log_str(&l, "sqlstate", sqlstate);
    log_str(&l, "msg", message);
    log_str(&l, "reason", why);
    log_end(&l);
    stats_error_passed((const char *const *)s->held, s->nheld, sqlstate);
    g_server->stats.errors_passed++;
    ring_error(s, sqlstate, message, detail, attempt, why);
}

/* A retryable error that no unit tracked (retry off, or a session that
 * began while it was off): logged and counted all the same. */
void retry_note_untracked_error(session_t *s, const char *sqlstate, const char *message,
                                const char *detail)
{
    if ((s->retry && (s->retry->head || s->retry->phase != RP_IDLE)) ||
        !retry_is_retryable(g_server->cfg, sqlstate, message, detail))
        return;
    pass_error(s, sqlstate, message, detail, 1,
               g_server->retry_enabled ? "not recorded for replay" : "retry is off");
}

/* ---- replay ---- */

static void on_backoff(uv_timer_t *t);
static void send_next(session_t *s, struct retry *r);
static void unblock(session_t *s, struct retry *r);
static void steps_clear(struct retry *r);
static void refresh_failed(session_t *s, struct retry *r);
static void refresh_refused(session_t *s, struct retry *r);

static void put_close_statements(buf_t *out, char **names, int n)
{
    size_t m;

    for (int i = 0; i < n; i++) {
        m = frame_begin(out, 'C');
        buf_put_u8(out, 'S');
        buf_put_str(out, names[i]);
        frame_end(out, m);
    }
}

static void put_deallocate(buf_t *out, const char *name, int *expect)
{
    char sql[300];
    char quoted[260];
    size_t j = 0;

    /* Quote as an identifier; names longer than the server keeps are cut by
     * the server the same way when they were created. */
    for (size_t i = 0; name[i] && j + 3 < sizeof(quoted); i++) {
        if (name[i] == '"')
            quoted[j++] = '"';
        quoted[j++] = name[i];
    }
    quoted[j] = '\0';
    snprintf(sql, sizeof(sql), "DEALLOCATE \"%s\"", quoted);
    frame_put_query(out, sql);
    (*expect)++;
}

/* Rolls back and drops what the failed attempt created that a rollback
 * leaves behind (prepared statements), so the replay can create them anew. */
static int send_cleanup(session_t *s, struct retry *r, runit_t *u, char status)
{
    buf_t out = {0};
    int expect = 0, closes = 0;
    rstep_t *st;

    if (status != 'I') {
        frame_put_query(&out, "ROLLBACK");
        expect++;
    }
    for (st = !u || u->start_txn != 'I' ? r->steps : NULL; st; st = st->next) {
        put_close_statements(&out, st->names, st->nnames);
        closes += st->nnames;
        if (st->sql_prepare)
            put_deallocate(&out, st->sql_prepare, &expect);
    }
    if (u) {
        put_close_statements(&out, u->names, u->nnames);
        closes += u->nnames;
        if (u->sql_prepare)
            put_deallocate(&out, u->sql_prepare, &expect);
    }
    if (closes) {
        size_t m = frame_begin(&out, 'S');
        frame_end(&out, m);
        expect++;
    }
    relay_to_upstream(s, buf_head(&out), buf_avail(&out));
    link_flush(&s->upstream);
    buf_free(&out);
    return expect;
}

static uint64_t backoff_ms(int attempt)
{
    uint64_t cap = (uint64_t)g_server->cfg->max_delay_ms;
    uint64_t d = (uint64_t)g_server->cfg->base_delay_ms;

    for (int i = 1; i < attempt && d < cap; i++)
        d *= 2;
    if (d > cap)
        d = cap;
    /* Full jitter: anywhere between zero and the exponential bound. */
    return d ? (uint64_t)random() % (d + 1) : 0;
}

static void start_retry(session_t *s, struct retry *r, runit_t *u, const uint8_t *z,
                        size_t zn)
{
    uint64_t delay;
    log_line_t l;
    char tables[300];

    if (r->phase == RP_IDLE) {
        buf_reset(&r->original);
        buf_append(&r->original, u->held.data, u->held.len);
        buf_append(&r->original, z, zn);
        r->orig_status = (char)z[5];
        r->attempt = 0;
        r->began_ms = uv_now(g_server->loop);
        md_final(u->md_on ? u->md : NULL, u->prefix);
    }
    r->attempt++;
    delay = backoff_ms(r->attempt);
    tables_of(s, tables, sizeof(tables));
    sess_log(s, &l, LOG_INFO, "retry_attempt");
    if (tables[0])
        log_str(&l, "table", tables);
    log_u64(&l, "attempt", (uint64_t)r->attempt + 1);
    log_str(&l, "sqlstate", u->sqlstate);
    log_str(&l, "msg", u->message);
    if (u->detail)
        log_str(&l, "detail", u->detail);
    log_u64(&l, "backoff_ms", delay);
    log_end(&l);
    stats_retry((const char *const *)s->held, s->nheld, STATS_RETRY_ATTEMPT, u->sqlstate);
    ring_error(s, u->sqlstate, u->message, u->detail, r->attempt, "retried");
    g_server->stats.retries_attempted++;
    buf_reset(&u->held);
    u->errored = u->failed = 0;
    s->blocked |= BLOCK_RETRY;
    r->replay_failed = r->replay_differs = 0;
    r->delay_ms = delay;
    r->expect_z = send_cleanup(s, r, u, (char)z[5]);
    if (r->expect_z > 0) {
        r->phase = RP_CLEANUP; /* the backoff starts when the cleanup is done */
        return;
    }
    r->phase = RP_BACKOFF;
    uv_timer_start(&s->timer, on_backoff, delay, 0);
}

static void on_backoff(uv_timer_t *t)
{
    session_t *s = t->data;
    struct retry *r = s->retry;

    if (!r || s->state != SESS_READY || r->phase != RP_BACKOFF)
        return;
    r->cur = !r->head || r->head->start_txn != 'I' ? r->steps : NULL;
    send_next(s, r);
}

static void refresh_done(session_t *s, struct retry *r);

static void send_next(session_t *s, struct retry *r)
{
    const buf_t *msgs;

    if (!r->cur && r->refreshing) {
        refresh_done(s, r);
        return;
    }
    msgs = r->cur ? &r->cur->msgs : &r->head->msgs;

    r->phase = r->cur ? RP_STEP : RP_UNIT;
    r->count = 0;
    md_reset(&r->md);
    if (!r->cur) {
        md_reset(&r->head->md);
        r->head->md_on = 1;
    }
    relay_to_upstream(s, msgs->data, msgs->len);
    link_flush(&s->upstream);
}

/* Ends a replay that cannot succeed: the upstream is put back in the state
 * the original failure left it in, then the client gets that failure. */
static void give_up(session_t *s, struct retry *r, const char *why)
{
    runit_t *u = r->head;
    buf_t out = {0};

    replays_ended(s, u, 0, why);
    pass_error(s, u->sqlstate, u->message, u->detail, r->attempt + 1, why);
    frame_put_query(&out, r->orig_status == 'E'
                              ? "ROLLBACK; BEGIN; SELECT pgsluice_restores_failed_transaction()"
                              : "ROLLBACK");
    relay_to_upstream(s, buf_head(&out), buf_avail(&out));
    link_flush(&s->upstream);
    buf_free(&out);
    r->phase = RP_RESTORE;
    r->expect_z = 1;
}

static void unblock(session_t *s, struct retry *r)
{
    r->phase = RP_IDLE;
    r->attempt = 0;
    buf_free(&r->original);
    s->blocked &= ~BLOCK_RETRY;
}

static void unlink_head(struct retry *r)
{
    runit_t *u = r->head;

    r->head = u->next;
    if (!r->head)
        r->tail = NULL;
    unit_recycle(r, u);
}

static void restored(session_t *s, struct retry *r)
{
    steps_clear(r);
    r->txn_noretry = r->orig_status != 'I';
    r->txn_why = "an earlier statement of the transaction failed";
    relay_on_ready(s, r->orig_status);
    relay_to_client(s, r->original.data, r->original.len);
    unlink_head(r);
    unblock(s, r);
}

/* Keeps a delivered unit of an open transaction for replay. */
static void keep_step(struct retry *r, runit_t *u)
{
    rstep_t *st;

    if (u->start_txn == 'I')
        steps_clear(r);
    if (u->noretry || (u->start_txn != 'I' && !r->steps) || r->txn_noretry) {
        if (!r->txn_noretry)
            r->txn_why = u->noretry && u->why ? u->why
                                              : "the transaction was not recorded from its start";
        r->txn_noretry = 1;
        return;
    }
    st = calloc(1, sizeof(*st));
    if (!st) {
        r->txn_noretry = 1;
        return;
    }
    st->msgs = u->msgs;
    st->work = (u->cflags & RETRY_F_WORK) != 0;
    memset(&u->msgs, 0, sizeof(u->msgs));
    md_final(u->md_on ? u->md : NULL, st->digest);
    st->names = u->names;
    st->nnames = u->nnames;
    st->sql_prepare = u->sql_prepare;
    u->names = NULL;
    u->nnames = 0;
    u->sql_prepare = NULL;
    r->recorded += st->msgs.len;
    if (r->steps_tail)
        r->steps_tail->next = st;
    else
        r->steps = st;
    r->steps_tail = st;
}

static void track_txn(struct retry *r, runit_t *u, char status)
{
    if (status == 'T' && u) {
        keep_step(r, u);
    } else if (status != 'T') {
        steps_clear(r);
        r->txn_noretry = status == 'E';
        r->txn_why = "an earlier statement of the transaction failed";
    }
}

/* The unit's ReadyForQuery: replay it, or let the client have it. */
static int unit_end(session_t *s, struct retry *r, runit_t *u, const uint8_t *z, size_t n)
{
    const char *why = NULL;

    if (u->failed && !(why = why_not(s, r, u))) {
        start_retry(s, r, u, z, n);
        return 0;
    }
    if (u->failed)
        pass_error(s, u->sqlstate, u->message, u->detail, r->attempt + 1, why);
    if (r->phase != RP_IDLE)
        replays_ended(s, u, !u->errored,
                      u->failed    ? why
                      : u->errored ? "the replay failed with another error"
                                   : NULL);
    else if (!u->failed)
        budget_earn();
    deliver_held(s, u, z[5] == 'T');
    if (z[5] == 'T' && u->md_on)
        EVP_DigestUpdate(u->md, z, n);
    track_txn(r, u, (char)z[5]);
    unlink_head(r);
    if (r->phase != RP_IDLE)
        unblock(s, r);
    return 1;
}

static void replay_error(struct retry *r, const uint8_t *p, size_t n)
{
    frame_t f = {.type = p[0], .body = p + 5, .body_len = n - 5};
    frame_error_t e;

    if (frame_parse_error(&f, &e) == FRAME_OK &&
        retry_is_retryable(g_server->cfg, e.sqlstate, e.message, e.detail))
        r->replay_failed = 1;
    else
        r->replay_differs = 1;
}

/* After a replayed step or prefix fails again with a retryable error. */
static void replay_failed_again(session_t *s, struct retry *r, const uint8_t *z, size_t n)
{
    runit_t *u = r->head;
    const char *why = why_not(s, r, u);

    if (why) {
        give_up(s, r, why);
        return;
    }
    /* start_retry keeps the original failure; only the attempt advances. */
    start_retry(s, r, u, z, n);
}

/* ---- replaying at once when a write slot came after a wait ---- */

/*
 * A transaction that waited for its write slot took its snapshot before
 * the holder committed; under snapshot isolation it would fail later, or
 * act on stale data. Replaying what it did so far right after the grant
 * gives it a fresh snapshot before its first write goes upstream.
 */
int retry_refresh(session_t *s)
{
    struct retry *r = s->retry;
    log_line_t l;
    int nsteps = 0, work = 0;

    if (!r || !g_server->retry_enabled || s->txn != 'T' || r->head || s->inflight ||
        r->phase != RP_IDLE || r->txn_noretry || s->terminated)
        return 0;
    for (rstep_t *st = r->steps; st; st = st->next, nsteps++)
        work |= st->work;
    if (!work)
        return 0; /* nothing but BEGIN ran: no snapshot was taken yet */
    sess_log(s, &l, LOG_INFO, "retry_refresh");
    log_u64(&l, "steps", (uint64_t)nsteps);
    log_end(&l);
    r->refreshing = 1;
    r->attempt = 0;
    r->began_ms = uv_now(g_server->loop);
    r->delay_ms = 0;
    r->replay_failed = r->replay_differs = 0;
    s->blocked |= BLOCK_RETRY;
    r->expect_z = send_cleanup(s, r, NULL, 'T');
    r->phase = RP_CLEANUP;
    return 1;
}

static void refresh_done(session_t *s, struct retry *r)
{
    log_line_t l;

    sess_log(s, &l, LOG_INFO, "retry_refreshed");
    log_u64(&l, "elapsed_ms", uv_now(g_server->loop) - r->began_ms);
    log_end(&l);
    r->refreshing = 0;
    unblock(s, r);
}

/* The early replay did not reproduce what the client saw: the transaction
 * cannot go on as it was, so its next statement fails as a serialization
 * failure, which is what it would have met anyway. */
static void refresh_failed(session_t *s, struct retry *r)
{
    buf_t out = {0};

    frame_put_query(&out, "ROLLBACK; BEGIN");
    relay_to_upstream(s, buf_head(&out), buf_avail(&out));
    link_flush(&s->upstream);
    buf_free(&out);
    r->phase = RP_RESTORE;
    r->expect_z = 1;
}

static void refresh_refused(session_t *s, struct retry *r)
{
    log_line_t l;

    sess_log(s, &l, LOG_WARN, "retry_refresh_failed");
    log_str(&l, "reason", "a replayed statement returned a different result");
    log_end(&l);
    r->refreshing = 0;
    steps_clear(r);
    unblock(s, r);
    r->txn_noretry = 1;
    r->txn_why = "its replay after waiting for a write slot returned different results";
    relay_refuse_head(s, "40001",
                      "could not serialize access: data this transaction read changed "
                      "while it waited for its write slot",
                      "pgsluice replayed the transaction after the wait and its "
                      "earlier statements returned different results");
}

static void step_msg(session_t *s, struct retry *r, const uint8_t *p, size_t n)
{
    uint8_t d[DIGEST_LEN];

    if (p[0] == 'E')
        replay_error(r, p, n);
    if (digestible(p[0]) && r->md)
        EVP_DigestUpdate(r->md, p, n);
    if (p[0] != 'Z')
        return;
    md_final(r->md, d);
    if (r->refreshing && (r->replay_failed || r->replay_differs || p[5] != 'T' ||
                          memcmp(d, r->cur->digest, DIGEST_LEN) != 0)) {
        refresh_failed(s, r);
        return;
    }
    if (r->replay_failed) {
        replay_failed_again(s, r, p, n);
        return;
    }
    if (r->replay_differs || p[5] != 'T' || memcmp(d, r->cur->digest, DIGEST_LEN) != 0) {
        give_up(s, r, "a replayed statement returned a different result");
        return;
    }
    r->cur = r->cur->next;
    send_next(s, r);
}

/* The replayed unit's first responses, which the client already has. */
static int prefix_msg(session_t *s, struct retry *r, const uint8_t *p, size_t n)
{
    runit_t *u = r->head;
    uint8_t d[DIGEST_LEN];

    if (p[0] == 'E' || p[0] == 'Z') {
        if (p[0] == 'E')
            replay_error(r, p, n);
        if (p[0] == 'Z') {
            if (r->replay_failed)
                replay_failed_again(s, r, p, n);
            else
                give_up(s, r, "the replay ended before repeating what the client saw");
        }
        return 0;
    }
    if (!digestible(p[0]))
        return 0;
    if (r->md)
        EVP_DigestUpdate(r->md, p, n);
    if (u->md_on)
        EVP_DigestUpdate(u->md, p, n); /* the unit's digest covers the prefix too */
    if (++r->count < u->ndelivered)
        return 0;
    md_final(r->md, d);
    if (memcmp(d, u->prefix, DIGEST_LEN) != 0)
        give_up(s, r, "a replayed statement returned a different result");
    return 0;
}

static int unit_msg(session_t *s, struct retry *r, runit_t *u, const uint8_t *p, size_t n)
{
    if (p[0] == 'E' && !u->errored)
        note_error(u, p, n);
    if (p[0] == 'Z' && u->zcount > 1) {
        u->zcount--; /* one of several pipelined units that share u */
        track_txn(r, NULL, (char)p[5]);
        return 1;
    }
    if (p[0] == 'Z')
        return unit_end(s, r, u, p, n);
    if (u->streaming)
        return 1;
    if (u->held.len + n > g_server->cfg->retry_buffer) {
        deliver_held(s, u, 0);
        u->streaming = 1;
        u->noretry = 1;
        u->why = "its results outgrew buffer_size and streamed";
        return 1;
    }
    buf_append(&u->held, p, n);
    /* The client must see these to go on (send COPY data): deliver them
     * and what came before; a replay must then repeat them exactly. */
    if (p[0] == 'G' || p[0] == 'W')
        deliver_held(s, u, 1);
    return 0;
}

static void swallow_ready(session_t *s, struct retry *r, const uint8_t *p)
{
    if (p[0] != 'Z' || --r->expect_z > 0)
        return;
    if (r->phase == RP_RESTORE && r->refreshing) {
        refresh_refused(s, r);
        return;
    }
    if (r->phase == RP_RESTORE) {
        restored(s, r);
        return;
    }
    r->phase = RP_BACKOFF;
    uv_timer_start(&s->timer, on_backoff, r->delay_ms, 0);
}

int retry_server_msg(session_t *s, const uint8_t *p, size_t n)
{
    struct retry *r = s->retry;

    if (!r)
        return 1;
    switch (r->phase) {
    case RP_CLEANUP:
    case RP_RESTORE:
        swallow_ready(s, r, p);
        return 0;
    case RP_STEP:
        step_msg(s, r, p, n);
        return 0;
    case RP_UNIT:
        if (r->count < r->head->ndelivered)
            return prefix_msg(s, r, p, n);
        break;
    case RP_BACKOFF:
        return 1; /* only asynchronous messages arrive while nothing runs */
    case RP_IDLE:
        break;
    }
    if (!r->head) {
        if (p[0] == 'Z')
            track_txn(r, NULL, (char)p[5]);
        return 1;
    }
    return unit_msg(s, r, r->head, p, n);
}

int retry_may_stream(const session_t *s)
{
    const struct retry *r = s->retry;

    return !r || r->phase == RP_IDLE ||
           (r->phase == RP_UNIT && r->count >= r->head->ndelivered);
}

void retry_server_stream(session_t *s)
{
    struct retry *r = s->retry;

    if (!r || !r->head || !retry_may_stream(s))
        return;
    deliver_held(s, r->head, 0);
    r->head->streaming = 1;
    r->head->noretry = 1;
    r->head->why = "a result row too long to hold streamed";
}

void retry_flush_held(session_t *s)
{
    struct retry *r = s->retry;

    if (r && r->head && r->phase == RP_IDLE)
        deliver_held(s, r->head, 0);
}
