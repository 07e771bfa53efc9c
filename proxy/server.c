/*
 * The running proxy as a whole: builds shared services from the config,
 * accepts connections, keeps the session registry, and handles signals,
 * reload and graceful shutdown. Per-session work is in session.c.
 */
#include "proxy/server.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/log.h"
#include "proxy/metrics.h"
#include "proxy/session.h"
#include "proxy/session_int.h"

server_t *g_server;

/* The limit of the first [tables] entry that matches, matched the way the
 * classifier matches names (quoted identifiers kept exact). */
static int table_limit(void *arg, const char *table)
{
    (void)arg;
    return server_table_limit(table);
}

int server_table_limit(const char *table)
{
    const char *pattern = NULL;

    if (!classify_target_match(g_server->ccfg, table, &pattern) || !pattern)
        return 1;
    for (int i = 0; i < g_server->cfg->ntables; i++)
        if (strcmp(g_server->cfg->tables[i].pattern, pattern) == 0)
            return g_server->cfg->tables[i].limit;
    return 1;
}

/* The classifier's view of [tables] and [procedures]; on a bad entry,
 * NULL and the entry named in err. */
static classify_config_t *build_classifier(const config_t *cfg, char *err, size_t errlen)
{
    classify_config_t *cc = classify_config_new();

    if (!cc)
        return NULL;
    for (int i = 0; i < cfg->ntables; i++)
        if (classify_config_add_target(cc, cfg->tables[i].pattern) < 0) {
            snprintf(err, errlen, "%s: [tables] %s: not a table name or pattern "
                     "(write schema.table, quoting names as in SQL)",
                     cfg->path ? cfg->path : "config", cfg->tables[i].pattern);
            goto fail;
        }
    for (int i = 0; i < cfg->nprocs; i++)
        if (classify_config_add_procedure(cc, cfg->procs[i].name, cfg->procs[i].tables) < 0) {
            snprintf(err, errlen, "%s: [procedures] %s = %s: invalid entry",
                     cfg->path ? cfg->path : "config", cfg->procs[i].name,
                     cfg->procs[i].tables);
            goto fail;
        }
    if (cfg->dialect >= 0)
        classify_config_set_dialect(cc, (classify_dialect_t)cfg->dialect);
    return cc;
fail:
    classify_config_free(cc);
    return NULL;
}

static int build_tls(server_t *sv)
{
    char err[300];
    const config_t *c = sv->cfg;
    int verify = c->server_sslmode == SERVER_TLS_VERIFY_FULL ? TLS_VERIFY_FULL
                 : c->server_sslmode == SERVER_TLS_VERIFY_CA ? TLS_VERIFY_CA
                                                             : TLS_VERIFY_NONE;

    if (c->client_tls != CLIENT_TLS_DISABLE) {
        sv->client_tls = tls_ctx_server(c->client_tls_cert, c->client_tls_key, err,
                                        sizeof(err));
        if (!sv->client_tls)
            goto fail;
    }
    if (c->server_sslmode != SERVER_TLS_DISABLE) {
        sv->upstream_tls = tls_ctx_client(c->server_tls_ca, verify, err, sizeof(err));
        if (!sv->upstream_tls)
            goto fail;
    }
    return 0;
fail:
    log_simple(LOG_ERROR, "tls_setup_failed", err);
    return -1;
}

static void on_connection(uv_stream_t *listener, int status)
{
    if (status < 0) {
        log_simple(LOG_WARN, "accept_failed", uv_strerror(status));
        return;
    }
    if (session_accept(listener) < 0)
        log_simple(LOG_WARN, "accept_failed", "cannot set up session");
}

/* listen_addr may be a name such as localhost; the first address wins. */
static int resolve_listen(const char *host, const char *port, struct sockaddr_storage *out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    uv_getaddrinfo_t req;
    int rc = uv_getaddrinfo(g_server->loop, &req, NULL, host, port, &hints);

    if (rc < 0)
        return rc;
    memcpy(out, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
    return 0;
}

static int start_listener(server_t *sv)
{
    struct sockaddr_storage addr;
    char port[16];
    int rc;

    snprintf(port, sizeof(port), "%d", sv->cfg->listen_port);
    rc = resolve_listen(sv->cfg->listen_addr, port, &addr);
    if (rc == 0) {
        uv_tcp_init(sv->loop, &sv->listener);
        sv->listening = 1;
        rc = uv_tcp_bind(&sv->listener, (struct sockaddr *)&addr, 0);
    }
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&sv->listener, 511, on_connection);
    if (rc < 0) {
        log_line_t l;
        log_begin(&l, LOG_ERROR, "listen_failed");
        log_str(&l, "addr", sv->cfg->listen_addr);
        log_str(&l, "port", port);
        log_str(&l, "error", uv_strerror(rc));
        log_end(&l);
        return -1;
    }
    return 0;
}

static void on_tick(uv_timer_t *t)
{
    uint64_t now = uv_now(t->loop);
    session_t *s, *next;

    for (s = g_server->sessions; s; s = next) {
        next = s->next;
        session_tick(s, now);
    }
}

static void close_handle(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

/* Stops the loop's own handles once no session is left. */
static void maybe_finish(void)
{
    if (!g_server->shutting_down || g_server->nsessions > 0)
        return;
    metrics_stop();
    close_handle((uv_handle_t *)&g_server->tick);
    close_handle((uv_handle_t *)&g_server->shutdown_timer);
    close_handle((uv_handle_t *)&g_server->sig_term);
    close_handle((uv_handle_t *)&g_server->sig_int);
    close_handle((uv_handle_t *)&g_server->sig_hup);
    queue_mgr_free(g_server->queue);
    g_server->queue = NULL;
}

static void on_shutdown_timeout(uv_timer_t *t)
{
    session_t *s, *next;

    (void)t;
    log_simple(LOG_WARN, "shutdown_timeout", "closing remaining sessions");
    for (s = g_server->sessions; s; s = next) {
        next = s->next;
        session_terminate(s, "57P01", "terminating connection due to administrator command");
    }
}

void server_shutdown(void)
{
    log_line_t l;
    session_t *s, *next;

    if (g_server->shutting_down)
        return;
    g_server->shutting_down = 1;
    log_begin(&l, LOG_INFO, "shutdown_started");
    log_u64(&l, "sessions", (uint64_t)g_server->nsessions);
    log_u64(&l, "timeout_s", (uint64_t)g_server->cfg->shutdown_timeout);
    log_end(&l);
    if (g_server->listening) {
        uv_close((uv_handle_t *)&g_server->listener, NULL);
        g_server->listening = 0;
    }
    uv_timer_start(&g_server->shutdown_timer, on_shutdown_timeout,
                   (uint64_t)g_server->cfg->shutdown_timeout * 1000, 0);
    /* Idle sessions go now; the others when their transaction ends. */
    for (s = g_server->sessions; s; s = next) {
        next = s->next;
        session_stop_if_idle(s);
    }
    maybe_finish();
}

static void on_signal(uv_signal_t *h, int signum)
{
    char err[512];

    (void)h;
    if (signum != SIGHUP) {
        server_shutdown();
        return;
    }
    if (server_reload(err, sizeof(err)) < 0)
        log_simple(LOG_ERROR, "reload_failed", err);
}

static void keep_str(char **dst, const char *running)
{
    free(*dst);
    *dst = running ? strdup(running) : NULL;
}

static void apply_runtime(server_t *sv, config_t *n, classify_config_t *cc)
{
    config_t *old = sv->cfg;
    char restart[512];
    log_line_t l;

    if (config_restart_changes(old, n, restart, sizeof(restart)) > 0) {
        log_begin(&l, LOG_WARN, "reload_needs_restart");
        log_str(&l, "keys", restart);
        log_end(&l);
    }
    /* Settings that need a restart keep their running values. */
    keep_str(&n->listen_addr, old->listen_addr);
    n->listen_port = old->listen_port;
    keep_str(&n->upstream_host, old->upstream_host);
    n->upstream_port = old->upstream_port;
    n->client_tls = old->client_tls;
    n->server_sslmode = old->server_sslmode;
    n->metrics_port = old->metrics_port;
    keep_str(&n->metrics_addr, old->metrics_addr);
    keep_str(&n->client_tls_cert, old->client_tls_cert);
    keep_str(&n->client_tls_key, old->client_tls_key);
    keep_str(&n->server_tls_ca, old->server_tls_ca);
    n->max_message_size = old->max_message_size;
    n->high_water = old->high_water;
    sv->cfg = n;
    classify_cache_clear();
    classify_config_free(sv->ccfg);
    sv->ccfg = cc;
    sv->retry_enabled = n->retry_enabled;
    log_setup((log_level_t)n->log_level, n->log_json, stderr);
    queue_set_wait_timeout(sv->queue, (uint64_t)n->wait_timeout * 1000);
    queue_limits_changed(sv->queue);
    config_free(old);
}

int server_reload(char *err, size_t errlen)
{
    config_t *n = config_load(g_server->cfg->path, err, errlen);
    classify_config_t *cc;
    log_line_t l;

    if (!n)
        return -1;
    cc = build_classifier(n, err, errlen);
    if (!cc) {
        config_free(n);
        return -1;
    }
    apply_runtime(g_server, n, cc);
    log_begin(&l, LOG_INFO, "config_reloaded");
    log_str(&l, "path", g_server->cfg->path);
    log_u64(&l, "tables", (uint64_t)g_server->cfg->ntables);
    log_end(&l);
    return 0;
}

static void setup_signals(server_t *sv)
{
    uv_signal_init(sv->loop, &sv->sig_term);
    uv_signal_init(sv->loop, &sv->sig_int);
    uv_signal_init(sv->loop, &sv->sig_hup);
    uv_signal_start(&sv->sig_term, on_signal, SIGTERM);
    uv_signal_start(&sv->sig_int, on_signal, SIGINT);
    uv_signal_start(&sv->sig_hup, on_signal, SIGHUP);
    signal(SIGPIPE, SIG_IGN);
}

int server_start(uv_loop_t *loop, config_t *cfg)
{
    server_t *sv = calloc(1, sizeof(*sv));
    log_line_t l;
    char err[600];

    if (!sv)
        return -1;
    g_server = sv;
    sv->loop = loop;
    sv->cfg = cfg;
    sv->retry_enabled = cfg->retry_enabled;
    sv->started_ms = uv_now(loop);
    sv->ccfg = build_classifier(cfg, err, sizeof(err));
    if (!sv->ccfg) {
        log_simple(LOG_ERROR, "config_invalid", err);
        return -1;
    }
    sv->queue = queue_mgr_new(loop, table_limit, NULL);
    if (!sv->queue || build_tls(sv) < 0)
        return -1;
    queue_set_wait_timeout(sv->queue, (uint64_t)cfg->wait_timeout * 1000);
    if (start_listener(sv) < 0)
        return -1;
    if (metrics_start(sv) < 0)
        return -1;
    uv_timer_init(loop, &sv->tick);
    uv_timer_start(&sv->tick, on_tick, 1000, 1000);
    uv_unref((uv_handle_t *)&sv->tick);
    uv_timer_init(loop, &sv->shutdown_timer);
    uv_unref((uv_handle_t *)&sv->shutdown_timer);
    setup_signals(sv);
    log_begin(&l, LOG_INFO, "listening");
    log_str(&l, "addr", cfg->listen_addr);
    log_u64(&l, "port", (uint64_t)cfg->listen_port);
    log_str(&l, "upstream_host", cfg->upstream_host);
    log_u64(&l, "upstream_port", (uint64_t)cfg->upstream_port);
    log_u64(&l, "tables", (uint64_t)cfg->ntables);
    log_str(&l, "version", PGSLUICE_VERSION);
    log_end(&l);
    return 0;
}

void server_free(void)
{
    if (!g_server)
        return;
    queue_mgr_free(g_server->queue);
    classify_config_free(g_server->ccfg);
    classify_cache_clear();
    tls_ctx_free(g_server->client_tls);
    tls_ctx_free(g_server->upstream_tls);
    config_free(g_server->cfg);
    free(g_server->by_pid);
    free(g_server);
    g_server = NULL;
}

/* ---- registry: a list for iteration, a hash by issued pid for cancel ---- */

static size_t pid_slot(uint32_t pid, size_t cap)
{
    return (pid * 2654435761u) & (cap - 1);
}

static int pid_table_grow(server_t *sv)
{
    size_t cap = sv->by_pid_cap ? sv->by_pid_cap * 2 : 256;
    session_t **t = calloc(cap, sizeof(*t));

    if (!t)
        return -1;
    for (size_t i = 0; i < sv->by_pid_cap; i++) {
        session_t *s = sv->by_pid[i], *next;
        for (; s; s = next) {
            next = s->pid_next;
            s->pid_next = t[pid_slot(s->pid, cap)];
            t[pid_slot(s->pid, cap)] = s;
        }
    }
    free(sv->by_pid);
    sv->by_pid = t;
    sv->by_pid_cap = cap;
    return 0;
}

void server_add_session(session_t *s)
{
    server_t *sv = g_server;
    size_t i;

    s->next = sv->sessions;
    if (sv->sessions)
        sv->sessions->prev = s;
    sv->sessions = s;
    sv->nsessions++;
    /* Issued pids are never 0 and wrap around after 2^32 sessions. */
    s->pid = (uint32_t)s->sid ? (uint32_t)s->sid : 1;
    if ((size_t)sv->nsessions > sv->by_pid_cap / 2 && pid_table_grow(sv) < 0)
        return;
    i = pid_slot(s->pid, sv->by_pid_cap);
    s->pid_next = sv->by_pid[i];
    sv->by_pid[i] = s;
}

void server_remove_session(session_t *s)
{
    server_t *sv = g_server;
    session_t **p;

    if (s->prev)
        s->prev->next = s->next;
    else if (sv->sessions == s)
        sv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    sv->nsessions--;
    if (sv->by_pid_cap) {
        p = &sv->by_pid[pid_slot(s->pid, sv->by_pid_cap)];
        for (; *p; p = &(*p)->pid_next)
            if (*p == s) {
                *p = s->pid_next;
                break;
            }
    }
    maybe_finish();
}

session_t *server_find_by_pid(uint32_t pid)
{
    session_t *s;

    if (!g_server->by_pid_cap)
        return NULL;
    for (s = g_server->by_pid[pid_slot(pid, g_server->by_pid_cap)]; s; s = s->pid_next)
        if (s->pid == pid)
            return s;
    return NULL;
}

session_t *server_find_by_sid(uint64_t sid)
{
    session_t *s = server_find_by_pid((uint32_t)sid ? (uint32_t)sid : 1);

    return s && s->sid == sid ? s : NULL;
}
