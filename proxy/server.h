/*
 * The process-wide state of a running proxy: loop, configuration, listener,
 * the registry of sessions, signals, shutdown and reload. Sessions reach
 * shared services (queues, classifier config, TLS contexts) through it.
 */
#ifndef PGSLUICE_SERVER_H
#define PGSLUICE_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "proxy/classify.h"
#include "proxy/config.h"
#include "proxy/queue.h"
#include "proxy/tls.h"

struct session;

typedef struct server_stats {
    uint64_t sessions_total;
    uint64_t upstream_connect_failures;
    uint64_t protocol_errors;
    uint64_t bytes_client_to_server;
    uint64_t bytes_server_to_client;
    uint64_t retries_attempted, retries_succeeded, retries_gave_up;
    uint64_t errors_passed;
} server_stats_t;

typedef struct server {
    uv_loop_t *loop;
    config_t *cfg;
    classify_config_t *ccfg;
    queue_mgr_t *queue;
    tls_ctx_t *client_tls;
    tls_ctx_t *upstream_tls;
    uv_tcp_t listener;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t tick;
    uv_timer_t shutdown_timer;
    int shutting_down;
    int listening;
    int retry_enabled; /* from config, switchable at run time */
    uint64_t next_sid;
    struct session *sessions; /* doubly linked, newest first */
    int nsessions;
    struct session **by_pid; /* open-addressing table keyed by issued pid */
    size_t by_pid_cap;
    server_stats_t stats;
    uint64_t started_ms;
} server_t;

extern server_t *g_server;

/* Sets up everything from cfg (takes ownership) and starts listening.
 * Returns 0, or -1 after logging why. */
int server_start(uv_loop_t *loop, config_t *cfg);
/* Re-reads the config file; applies what may change at run time. Returns 0
 * or -1 (the old config stays) with the reason in err. */
int server_reload(char *err, size_t errlen);
/* Stops accepting and closes sessions gently within shutdown_timeout. */
void server_shutdown(void);
void server_free(void);

/* The writer limit of a resolved table name, per [tables]. */
int server_table_limit(const char *table);

/* Registry, used by sessions. */
void server_add_session(struct session *s);
void server_remove_session(struct session *s);
struct session *server_find_by_pid(uint32_t pid);
struct session *server_find_by_sid(uint64_t sid);

#endif
