/*
 * The session struct, shared by the files that make up the session module
 * (session.c: life cycle and startup; relay.c: the relay and the queues).
 * Nothing outside proxy/session*.c and proxy/relay.c includes this.
 */
#ifndef PGSLUICE_SESSION_INT_H
#define PGSLUICE_SESSION_INT_H

#include <stdint.h>
#include <uv.h>

#include "protocol/buf.h"
#include "protocol/frame.h"
#include "proxy/link.h"
#include "proxy/log.h"
#include "proxy/session.h"
#include "proxy/stmtmap.h"

typedef enum sess_state {
    SESS_STARTUP,    /* waiting for the client's startup packet */
    SESS_CONNECTING, /* resolving and connecting upstream */
    SESS_UP_SSL,     /* SSLRequest sent upstream, TLS handshake */
    SESS_AUTH,       /* startup relayed; authentication until ReadyForQuery */
    SESS_READY,      /* relaying queries */
    SESS_CLOSING,
} sess_state_t;

/* Why the client side is stopped from forwarding. */
#define BLOCK_QUEUE 0x01    /* waiting for a write slot */
#define BLOCK_PRESSURE 0x02 /* upstream backlog over high water */
#define BLOCK_RETRY 0x04    /* a replay is under way */

struct session {
    struct session *next, *prev; /* server registry */
    struct session *pid_next;
    uint64_t sid;
    uint32_t pid, key;                  /* keys issued to the client */
    uint32_t server_pid, server_key;    /* the upstream's own */
    sess_state_t state;
    link_t client, upstream;
    int client_open, upstream_open;     /* handle still to be closed */
    int upstream_started;               /* upstream handle initialized */
    uv_timer_t timer;                   /* startup and connect timeouts */
    int timer_open;
    uv_getaddrinfo_t resolve;
    uv_connect_t connect;
    int resolving, connecting;
    uint64_t started_ms;
    char client_addr[64];
    /* startup */
    uint8_t *startup;                   /* the client's packet, relayed as is */
    size_t startup_len;
    char *user, *database, *application_name;
    int client_tls;                     /* client side runs TLS */
    int ssl_answered;                   /* SSLRequest already answered */
    /* protocol state */
    char txn;                           /* last ReadyForQuery status */
    int inflight;                       /* Query/Sync sent, ReadyForQuery not yet seen */
    int terminated;                     /* client sent Terminate */
    int server_fatal;                   /* the server sent FATAL: it will close */
    int copy_in;                        /* in COPY FROM STDIN */
    size_t c_stream_left, s_stream_left; /* bytes of a streamed message still to pass */
    int injecting;                      /* a refused message's stand-in is upstream */
    int inject_skip_z;                  /* ReadyForQuery due before its answer */
    buf_t replace_error;                /* our ErrorResponse for the stand-in's */
    char *search_path;                  /* NULL: server default */
    int dialect;                        /* classify_dialect_t, -1 not known yet */
    stmtmap_t stmts, portals, sql_prepared;
    /* queues */
    unsigned blocked;
    char **held;                        /* tables whose slots we hold */
    int nheld;
    char **want;                        /* tables of the outstanding request */
    int nwant;
    uint64_t wait_started_ms;
    int wait_position;                  /* place in line on arrival, 1 = next */
    uint64_t hold_started_ms;
    int hold_waited;                    /* the slots held now were waited for */
    uint64_t last_client_ms;            /* last message from the client */
    int cancel_pending;                 /* CancelRequest while waiting */
    void *admin;                        /* admin console state, if one */
    struct retry *retry;                /* retry.c's state, NULL until needed */
    size_t deferred;                    /* held-back Parse/Bind bytes before a waiting message */
    unsigned msg_cflags;                /* what the message being relayed runs */
    const char *msg_stmt;               /* the statement name a Parse creates */
    char *msg_prepare;                  /* the name a SQL PREPARE creates */
    char current_sql[256];              /* last statement, truncated, for the console */
};

/* session.c */
void sess_log(session_t *s, log_line_t *l, log_level_t level, const char *event);
/* Logs, sends a FATAL ErrorResponse if the client can take one, closes. */
void sess_fail(session_t *s, const char *sqlstate, const char *msg,
               const char *detail);
void sess_close(session_t *s, const char *reason);
uint64_t sess_now(void);

/* relay.c */
void relay_client_data(session_t *s);
void relay_server_data(session_t *s);
void relay_upstream_drained(session_t *s);
void relay_client_drained(session_t *s);
void relay_cancel_wait(session_t *s);
void relay_release_slots(session_t *s);
void relay_free(session_t *s);
void relay_upstream_lost(session_t *s, int err);
void relay_to_upstream(session_t *s, const void *p, size_t n);
void relay_to_client(session_t *s, const void *p, size_t n);
/* Fails the client message at the head of its buffer with our own error,
 * keeping the upstream's transaction state the one the client will see. */
void relay_refuse_head(session_t *s, const char *sqlstate, const char *msg,
                       const char *detail);
/* ReadyForQuery bookkeeping for a message about to reach the client. */
void relay_on_ready(session_t *s, char status);

#endif
