/*
 * The admin console: a session whose startup names the database "pgsluice"
 * authenticates with SCRAM-SHA-256 against [admin] and then talks to the
 * proxy itself over the simple query protocol, never to the upstream. Owns
 * the console's message loop, command parsing and the commands that act;
 * the SHOW result sets are admin_show.c's.
 */
#include "proxy/admin.h"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "proxy/admin_int.h"
#include "proxy/scram.h"
#include "proxy/server.h"
#include "proxy/session_int.h"

/* Console commands are short; anything longer is not one. */
#define ADMIN_MAX_MESSAGE (64u * 1024u)
#define MAX_WORDS 16

#define COMMANDS                                                               \
    "SHOW QUEUES | LOCKS | CLIENTS | STATS | ERRORS | CONFIG | HELP; PAUSE "   \
    "table; "                                                                  \
    "RESUME table; RETRY ON | OFF; RELOAD; SHUTDOWN"

typedef enum admin_phase {
    ADMIN_SASL_INITIAL, /* AuthenticationSASL sent */
    ADMIN_SASL_FINAL,   /* SASLContinue sent */
    ADMIN_READY,
} admin_phase_t;

typedef struct admin {
    admin_phase_t phase;
    scram_exchange_t *scram;
    int skip_to_sync; /* an extended-protocol message was refused */
} admin_t;

/* A token of a console command as libpg_query's scanner sees it. */
typedef enum word_kind { W_NAME, W_DOT, W_OTHER } word_kind_t;

typedef struct word {
    word_kind_t kind;
    char *text; /* names folded (unquoted) or unquoted (quoted) */
} word_t;

typedef struct command {
    word_t w[MAX_WORDS];
    int n;
    int too_long;
} command_t;

/* ---- sending ---- */

static void send_buf(session_t *s, buf_t *out)
{
    link_send(&s->client, buf_head(out), buf_avail(out));
    link_flush(&s->client);
    buf_free(out);
}

/* ErrorResponse or NoticeResponse with an optional hint. */
static void put_report(buf_t *out, char type, const char *severity,
                       const char *code, const char *msg, const char *hint)
{
    size_t m = frame_begin(out, (uint8_t)type);

    buf_put_u8(out, 'S');
    buf_put_str(out, severity);
    buf_put_u8(out, 'V');
    buf_put_str(out, severity);
    buf_put_u8(out, 'C');
    buf_put_str(out, code);
    buf_put_u8(out, 'M');
    buf_put_str(out, msg);
    if (hint) {
        buf_put_u8(out, 'H');
        buf_put_str(out, hint);
    }
    buf_put_u8(out, 0);
    frame_end(out, m);
}

static void put_error(buf_t *out, const char *code, const char *msg,
                      const char *hint)
{
    put_report(out, 'E', "ERROR", code, msg, hint);
}

static void put_notice(buf_t *out, const char *msg)
{
    put_report(out, 'N', "NOTICE", "00000", msg, NULL);
}

static void put_complete(buf_t *out, const char *tag)
{
    size_t m = frame_begin(out, 'C');

    buf_put_str(out, tag);
    frame_end(out, m);
}

/* EmptyQueryResponse, for a query of only blanks, comments or ';'. */
static void put_empty(buf_t *out)
{
    frame_end(out, frame_begin(out, 'I'));
}

static void put_auth(buf_t *out, uint32_t code, const char *data, size_t len)
{
    size_t m = frame_begin(out, 'R');

    buf_put_u32(out, code);
    if (data)
        buf_append(out, data, len);
    frame_end(out, m);
}

static void put_param(buf_t *out, const char *k, const char *v)
{
    size_t m = frame_begin(out, 'S');

    buf_put_str(out, k);
    buf_put_str(out, v);
    frame_end(out, m);
}

/* ---- result sets (used by admin_show.c too) ---- */

void admin_rows_begin(admin_rows_t *r, buf_t *out, const char *const *cols,
                      int n)
{
    size_t m = frame_begin(out, 'T');

    r->out = out;
    r->ncols = n;
    r->nrows = 0;
    buf_put_u16(out, (uint16_t)n);
    for (int i = 0; i < n; i++) {
        buf_put_str(out, cols[i]);
        buf_put_u32(out, 0);           /* table oid */
        buf_put_u16(out, 0);           /* column number */
        buf_put_u32(out, 25);          /* text */
        buf_put_u16(out, 0xffff);      /* typlen -1: variable */
        buf_put_u32(out, 0xffffffffu); /* typmod -1 */
        buf_put_u16(out, 0);           /* text format */
    }
    frame_end(out, m);
}

void admin_rows_add(admin_rows_t *r, const char *const *vals)
{
    size_t m = frame_begin(r->out, 'D');

    buf_put_u16(r->out, (uint16_t)r->ncols);
    for (int i = 0; i < r->ncols; i++) {
        if (!vals[i]) {
            buf_put_u32(r->out, 0xffffffffu);
            continue;
        }
        buf_put_u32(r->out, (uint32_t)strlen(vals[i]));
        buf_append(r->out, vals[i], strlen(vals[i]));
    }
    frame_end(r->out, m);
    r->nrows++;
}

void admin_rows_end(admin_rows_t *r, const char *tag)
{
    put_complete(r->out, tag);
}

/* ---- time ---- */

uint64_t admin_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t admin_loop_to_wall(uint64_t loop_ms)
{
    uint64_t now = uv_now(g_server->loop);

    return admin_wall_ms() - (now > loop_ms ? now - loop_ms : 0);
}

void admin_iso_time(uint64_t wall_ms, char *out, size_t len)
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    char day[32];

    gmtime_r(&t, &tm);
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%03uZ", day, (unsigned)(wall_ms % 1000));
}

/* ---- authentication ---- */

static void auth_failed(session_t *s, const char *why)
{
    log_line_t l;
    char msg[300];

    sess_log(s, &l, LOG_WARN, "admin_auth_failed");
    log_str(&l, "reason", why);
    log_end(&l);
    snprintf(msg, sizeof(msg), "password authentication failed for user \"%s\"",
             s->user);
    sess_fail(s, "28P01", msg, NULL);
}

static void on_auth_timeout(uv_timer_t *t)
{
    sess_fail(t->data, "08P01", "timeout during admin console authentication",
              NULL);
}

/* The verifier for s->user, or NULL (then the exchange is a mock). */
static const scram_verifier_t *find_verifier(session_t *s, scram_verifier_t *v)
{
    const config_t *c = g_server->cfg;
    log_line_t l;

    for (int i = 0; i < c->nadmins; i++) {
        if (strcmp(c->admins[i].user, s->user) != 0)
            continue;
        if (scram_verifier_parse(c->admins[i].verifier, v) == 0)
            return v;
        sess_log(s, &l, LOG_ERROR, "admin_verifier_invalid");
        log_str(&l, "hint", "make one with: pgsluice passwd USER");
        log_end(&l);
        return NULL;
    }
    return NULL;
}

void admin_session_start(session_t *s, const frame_startup_t *st)
{
    static const char offer[] = "SCRAM-SHA-256\0";
    scram_verifier_t v;
    admin_t *a = calloc(1, sizeof(*a));
    buf_t out = {0};

    (void)st;
    if (!a) {
        sess_fail(s, "53200", "out of memory", NULL);
        return;
    }
    s->admin = a;
    s->state = SESS_READY;
    a->scram = scram_exchange_new(find_verifier(s, &v), s->user);
    if (!a->scram) {
        sess_fail(s, "53200", "out of memory", NULL);
        return;
    }
    put_auth(&out, 10, offer,
             sizeof(offer)); /* the list ends with an empty name */
    send_buf(s, &out);
    uv_timer_start(&s->timer, on_auth_timeout,
                   (uint64_t)g_server->cfg->startup_timeout * 1000, 0);
}

static void send_welcome(session_t *s)
{
    buf_t out = {0};

    put_auth(&out, 0, NULL, 0);
    put_param(&out, "server_version", "15.0 (pgsluice " PGSLUICE_VERSION ")");
    put_param(&out, "server_encoding", "UTF8");
    put_param(&out, "client_encoding", "UTF8");
    put_param(&out, "DateStyle", "ISO, MDY");
    put_param(&out, "TimeZone", "UTC");
    put_param(&out, "integer_datetimes", "on");
    put_param(&out, "standard_conforming_strings", "on");
    put_param(&out, "application_name",
              s->application_name ? s->application_name : "");
    frame_put_backend_key(&out, s->pid, s->key);
    frame_put_ready(&out, 'I');
    send_buf(s, &out);
}

/* SASLInitialResponse: mechanism, length, client-first-message. */
static void sasl_initial(session_t *s, admin_t *a, const frame_t *f)
{
    char reply[512];
    frame_cur_t c;
    const char *mech;
    const uint8_t *data;
    uint32_t len;
    buf_t out = {0};
    int rc;

    frame_cur_init(&c, f->body, f->body_len);
    mech = frame_get_str(&c);
    len = frame_get_u32(&c);
    data = c.err || len > c.left ? NULL : frame_get_bytes(&c, len);
    if (!mech || !data || c.left != 0) {
        sess_fail(s, "08P01", "malformed SASLInitialResponse message", NULL);
        return;
    }
    if (strcmp(mech, "SCRAM-SHA-256") != 0) {
        sess_fail(s, "28000",
                  "client selected an invalid SASL authentication mechanism",
                  NULL);
        return;
    }
    rc = scram_exchange_first(a->scram, (const char *)data, len, reply,
                              sizeof(reply));
    if (rc < 0) {
        sess_fail(s, "08P01", "malformed SCRAM message",
                  scram_exchange_error(a->scram));
        return;
    }
    put_auth(&out, 11, reply, strlen(reply));
    send_buf(s, &out);
    a->phase = ADMIN_SASL_FINAL;
}

static void sasl_final(session_t *s, admin_t *a, const frame_t *f)
{
    char reply[256];
    buf_t out = {0};
    log_line_t l;
    int rc;

    rc = scram_exchange_final(a->scram, (const char *)f->body, f->body_len,
                              reply, sizeof(reply));
    if (rc == SCRAM_EAUTH) {
        auth_failed(s, scram_exchange_error(a->scram));
        return;
    }
    if (rc < 0) {
        sess_fail(s, "08P01", "malformed SCRAM message",
                  scram_exchange_error(a->scram));
        return;
    }
    uv_timer_stop(&s->timer);
    scram_exchange_free(a->scram);
    a->scram = NULL;
    put_auth(&out, 12, reply, strlen(reply));
    send_buf(s, &out);
    send_welcome(s);
    a->phase = ADMIN_READY;
    sess_log(s, &l, LOG_INFO, "admin_session_opened");
    log_end(&l);
}

/* ---- reading commands with libpg_query's scanner ---- */

static char *word_text(const char *sql, const PgQuery__ScanToken *t)
{
    const char *p = sql + t->start;
    size_t n = (size_t)(t->end - t->start), j = 0;
    char *w = malloc(n + 1);

    if (!w)
        return NULL;
    if (t->token == PG_QUERY__TOKEN__IDENT && n >= 2 && p[0] == '"') {
        for (size_t i = 1; i + 1 < n; i++) {
            w[j++] = p[i];
            if (p[i] == '"')
                i++; /* "" inside a quoted name is one quote */
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            char c = p[i];
            w[j++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
    }
    w[j] = '\0';
    return w;
}

static void commands_free(command_t *cmds, int n)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < cmds[i].n; k++)
            free(cmds[i].w[k].text);
    free(cmds);
}

static int add_word(command_t *c, const char *sql, const PgQuery__ScanToken *t)
{
    word_t *w;

    if (c->n == MAX_WORDS) {
        c->too_long = 1;
        return 0;
    }
    w = &c->w[c->n];
    if (t->token == PG_QUERY__TOKEN__ASCII_46)
        w->kind = W_DOT;
    else if (t->token == PG_QUERY__TOKEN__IDENT ||
             t->keyword_kind != PG_QUERY__KEYWORD_KIND__NO_KEYWORD)
        w->kind = W_NAME;
    else
        w->kind = W_OTHER;
    w->text = word_text(sql, t);
    if (!w->text)
        return -1;
    c->n++;
    return 0;
}

/* Splits sql into commands of words at ';'. Returns the count (empty
 * commands dropped) or -1 with err set. */
static int scan_commands(const char *sql, command_t **out, char *err,
                         size_t errlen)
{
    PgQueryScanResult res = pg_query_scan(sql);
    PgQuery__ScanResult *scan = NULL;
    command_t *cmds = NULL;
    int n = 0;

    if (res.error) {
        snprintf(err, errlen, "%s", res.error->message);
        goto fail;
    }
    scan = pg_query__scan_result__unpack(NULL, res.pbuf.len,
                                         (const uint8_t *)res.pbuf.data);
    cmds = calloc(scan ? scan->n_tokens + 1 : 1, sizeof(*cmds));
    if (!scan || !cmds) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < scan->n_tokens; i++) {
        const PgQuery__ScanToken *t = scan->tokens[i];
        if (t->token == PG_QUERY__TOKEN__SQL_COMMENT ||
            t->token == PG_QUERY__TOKEN__C_COMMENT)
            continue;
        if (t->token == PG_QUERY__TOKEN__ASCII_59) {
            n += cmds[n].n > 0;
            continue;
        }
        if (add_word(&cmds[n], sql, t) < 0) {
            snprintf(err, errlen, "out of memory");
            n++;
            goto fail;
        }
    }
    n += cmds[n].n > 0;
    pg_query__scan_result__free_unpacked(scan, NULL);
    pg_query_free_scan_result(res);
    *out = cmds;
    return n;
fail:
    if (cmds)
        commands_free(cmds, n + 1);
    if (scan)
        pg_query__scan_result__free_unpacked(scan, NULL);
    pg_query_free_scan_result(res);
    return -1;
}

/* name or schema.name from words w[0..n). */
static int name_from_words(const word_t *w, int n, char *out, size_t len)
{
    int r;

    if (n == 1 && w[0].kind == W_NAME && w[0].text[0])
        r = snprintf(out, len, "public.%s", w[0].text);
    else if (n == 3 && w[0].kind == W_NAME && w[1].kind == W_DOT &&
             w[2].kind == W_NAME && w[0].text[0] && w[2].text[0])
        r = snprintf(out, len, "%s.%s", w[0].text, w[2].text);
    else
        return -1;
    return r < 0 || (size_t)r >= len ? -1 : 0;
}

int admin_table_name(const char *text, char *out, size_t len)
{
    char err[256];
    command_t *cmds = NULL;
    int n = scan_commands(text, &cmds, err, sizeof(err)), rc = -1;

    if (n == 1 && !cmds[0].too_long)
        rc = name_from_words(cmds[0].w, cmds[0].n, out, len);
    if (n >= 0)
        commands_free(cmds, n + 1);
    return rc;
}

/* ---- commands that act ---- */

static void log_action(session_t *s, const char *event, const char *table)
{
    log_line_t l;

    sess_log(s, &l, LOG_WARN, event);
    if (table)
        log_str(&l, "table", table);
    log_end(&l);
}

/* PAUSE or RESUME: the table must be one [tables] makes a target. Returns 0
 * or -1 after writing an error. */
static int pause_resume(session_t *s, const command_t *c, int pause, buf_t *out)
{
    char table[512], msg[700];
    const char *verb = pause ? "PAUSE" : "RESUME";

    if (name_from_words(c->w + 1, c->n - 1, table, sizeof(table)) < 0) {
        snprintf(msg, sizeof(msg), "%s takes one table name", verb);
        put_error(out, "42601", msg,
                  pause ? "e.g. PAUSE public.fact_sales"
                        : "e.g. RESUME public.fact_sales");
        return -1;
    }
    if (!classify_target_match(g_server->ccfg, table, NULL)) {
        snprintf(msg, sizeof(msg), "table %s is not a target in [tables]",
                 table);
        put_error(out, "42P01", msg,
                  "SHOW CONFIG lists the targets; names without a "
                  "schema mean public");
        return -1;
    }
    if ((pause ? queue_pause : queue_resume)(g_server->queue, table) < 0) {
        put_error(out, "53200", "out of memory", NULL);
        return -1;
    }
    log_action(s, pause ? "admin_pause" : "admin_resume", table);
    snprintf(
        msg, sizeof(msg),
        pause ? "table %s paused: current holders keep their slots until their "
                "transactions end; new writers wait until RESUME"
              : "table %s resumed: waiting writers are admitted in order",
        table);
    put_notice(out, msg);
    put_complete(out, verb);
    return 0;
}

static int retry_switch(session_t *s, const command_t *c, buf_t *out)
{
    int on;

    if (c->n != 2 ||
        (strcmp(c->w[1].text, "on") != 0 && strcmp(c->w[1].text, "off") != 0)) {
        put_error(out, "42601", "RETRY takes ON or OFF", NULL);
        return -1;
    }
    on = strcmp(c->w[1].text, "on") == 0;
    g_server->retry_enabled = on;
    log_action(s, on ? "admin_retry_on" : "admin_retry_off", NULL);
    put_notice(
        out,
        on ? "transparent retry is on"
           : "transparent retry is off: retryable errors now reach clients "
             "(RELOAD restores the file's [retry] enabled)");
    put_complete(out, "RETRY");
    return 0;
}

static int reload(session_t *s, buf_t *out)
{
    char err[600];

    log_action(s, "admin_reload", NULL);
    if (server_reload(err, sizeof(err)) < 0) {
        put_error(out, "F0000", err, "the running configuration is unchanged");
        return -1;
    }
    put_complete(out, "RELOAD");
    return 0;
}

static int shutdown_cmd(session_t *s, buf_t *out)
{
    char msg[200];

    log_action(s, "admin_shutdown", NULL);
    snprintf(
        msg, sizeof(msg),
        "pgsluice is shutting down: it accepts no new connections, and open "
        "sessions have %d s to finish",
        g_server->cfg->shutdown_timeout);
    put_notice(out, msg);
    put_complete(out, "SHUTDOWN");
    return 0;
}

static int unknown_command(const command_t *c, buf_t *out)
{
    char msg[300];

    snprintf(msg, sizeof(msg), "unknown admin console command \"%s%s%s\"",
             c->w[0].text, c->n > 1 ? " " : "", c->n > 1 ? c->w[1].text : "");
    put_error(out, "42601", msg, "commands: " COMMANDS);
    return -1;
}

static int show(const command_t *c, buf_t *out)
{
    char msg[200];

    if (c->n == 2 && c->w[1].kind == W_NAME &&
        admin_show(c->w[1].text, out) == 0)
        return 0;
    if (c->n == 1) {
        put_error(out, "42601", "SHOW needs what to show", "SHOW " COMMANDS);
        return -1;
    }
    snprintf(msg, sizeof(msg), "unknown SHOW \"%s\"", c->w[1].text);
    put_error(out, "42601", msg,
              "SHOW takes one of: QUEUES, LOCKS, CLIENTS, STATS, "
              "ERRORS, CONFIG, HELP");
    return -1;
}

/* Runs one command into out; returns 0, or -1 when it wrote an error. A
 * SHUTDOWN is reported by *shutdown so it starts after the reply is out. */
static int run_command(session_t *s, const command_t *c, buf_t *out,
                       int *shutdown)
{
    const char *verb = c->w[0].text;

    if (c->too_long || c->w[0].kind != W_NAME)
        return unknown_command(c, out);
    if (strcmp(verb, "show") == 0)
        return show(c, out);
    if (strcmp(verb, "help") == 0 && c->n == 1)
        return admin_show("help", out);
    if (strcmp(verb, "pause") == 0 || strcmp(verb, "resume") == 0)
        return pause_resume(s, c, verb[0] == 'p', out);
    if (strcmp(verb, "retry") == 0)
        return retry_switch(s, c, out);
    if (strcmp(verb, "reload") == 0 && c->n == 1)
        return reload(s, out);
    if (strcmp(verb, "shutdown") == 0 && c->n == 1) {
        *shutdown = 1;
        return shutdown_cmd(s, out);
    }
    return unknown_command(c, out);
}

/* A simple Query: one or more commands separated by ';'. */
static void on_query(session_t *s, const frame_t *f)
{
    const char *sql = (const char *)f->body;
    command_t *cmds = NULL;
    char err[300];
    buf_t out = {0};
    int n, shutdown = 0;

    if (f->body_len == 0 ||
        memchr(sql, 0, f->body_len) != sql + f->body_len - 1) {
        sess_fail(s, "08P01", "invalid Query message", NULL);
        return;
    }
    snprintf(s->current_sql, sizeof(s->current_sql), "%s", sql);
    n = scan_commands(sql, &cmds, err, sizeof(err));
    if (n < 0)
        put_error(&out, "42601", err, "commands: " COMMANDS);
    else if (n == 0)
        put_empty(&out);
    for (int i = 0; i < n; i++)
        if (run_command(s, &cmds[i], &out, &shutdown) < 0)
            break;
    if (n >= 0)
        commands_free(cmds, n + 1);
    frame_put_ready(&out, 'I');
    send_buf(s, &out);
    if (shutdown)
        server_shutdown();
}

/* ---- the message loop ---- */

static void refuse_extended(session_t *s, admin_t *a, char type)
{
    buf_t out = {0};

    if (!a->skip_to_sync)
        put_error(
            &out, "0A000",
            "the pgsluice admin console accepts only the simple query protocol",
            "psql works; from a driver send plain queries (psycopg2 does; "
            "JDBC: "
            "preferQueryMode=simple)");
    /* A FunctionCall stands alone; the others wait for their Sync. */
    if (type == 'F')
        frame_put_ready(&out, 'I');
    else
        a->skip_to_sync = 1;
    send_buf(s, &out);
}

static void ready_message(session_t *s, admin_t *a, const frame_t *f)
{
    buf_t out = {0};
    char msg[64];

    if (f->type == 'X') {
        s->terminated = 1;
        sess_close(s, "client terminated");
        return;
    }
    if (f->type == 'S') {
        a->skip_to_sync = 0;
        frame_put_ready(&out, 'I');
        send_buf(s, &out);
        return;
    }
    if (a->skip_to_sync)
        return;
    if (f->type == 'Q') {
        on_query(s, f);
    } else if (strchr("PBDECHF", f->type)) {
        if (f->type != 'H')
            refuse_extended(s, a, (char)f->type);
    } else if (!strchr("dcf",
                       f->type)) { /* copy messages outside COPY: ignored */
        snprintf(msg, sizeof(msg), "invalid frontend message type %d", f->type);
        sess_fail(s, "08P01", msg, NULL);
    }
}

static void auth_message(session_t *s, admin_t *a, const frame_t *f)
{
    char msg[100];

    if (f->type == 'X') {
        sess_close(s, "client terminated during authentication");
        return;
    }
    if (f->type != 'p') {
        snprintf(msg, sizeof(msg),
                 "expected SASL response, got message type %d", f->type);
        sess_fail(s, "08P01", msg, NULL);
        return;
    }
    if (a->phase == ADMIN_SASL_INITIAL)
        sasl_initial(s, a, f);
    else
        sasl_final(s, a, f);
}

void admin_client_data(session_t *s)
{
    buf_t *in = &s->client.in;
    frame_t f;
    int rc;

    while (s->admin && s->state != SESS_CLOSING && buf_avail(in) > 0) {
        rc = frame_read(buf_head(in), buf_avail(in), ADMIN_MAX_MESSAGE, &f);
        if (rc == FRAME_NEED_MORE || (rc == FRAME_OK && !f.body))
            break;
        if (rc == FRAME_ETOOBIG) {
            sess_fail(s, "54000", "message too long for the admin console",
                      NULL);
            return;
        }
        if (rc < 0) {
            sess_fail(s, "08P01", "invalid message length", NULL);
            return;
        }
        if (((admin_t *)s->admin)->phase == ADMIN_READY)
            ready_message(s, s->admin, &f);
        else
            auth_message(s, s->admin, &f);
        if (s->state == SESS_CLOSING)
            return;
        buf_consume(in, f.total);
    }
}

void admin_session_closed(session_t *s)
{
    admin_t *a = s->admin;

    if (a)
        scram_exchange_free(a->scram);
    free(a);
    s->admin = NULL;
}
