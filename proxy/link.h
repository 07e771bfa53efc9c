/*
 * One TCP connection with optional TLS: plaintext bytes in, plaintext bytes
 * out, write-queue accounting for backpressure. Knows nothing of the
 * PostgreSQL protocol; the owner parses what arrives in `in`.
 */
#ifndef PGSLUICE_LINK_H
#define PGSLUICE_LINK_H

#include <uv.h>

#include "protocol/buf.h"
#include "proxy/tls.h"

typedef struct link link_t;

typedef struct link_ops {
    void (*on_data)(link_t *l);          /* new plaintext in l->in */
    void (*on_eof)(link_t *l, int err);  /* peer closed or read error (<0) */
    void (*on_drain)(link_t *l);         /* queued writes fell below low water */
    void (*on_closed)(link_t *l);        /* handle closed; owner may free */
} link_ops_t;

struct link {
    uv_tcp_t tcp;
    const link_ops_t *ops;
    void *owner;
    tls_t *tls;
    int tls_handshaking;
    buf_t in;            /* plaintext received, not yet consumed by owner */
    buf_t out;           /* plaintext waiting for link_flush */
    buf_t cipher;        /* TLS output on its way to the socket */
    size_t queued;       /* bytes handed to libuv and not yet written */
    size_t high_water;
    int reading;         /* uv_read_start active */
    int want_read;       /* owner wants reads (cleared under backpressure) */
    int closing;
    int handle_closing;
    uv_shutdown_t shutdown;
    int open;
    uint64_t bytes_in, bytes_out;
};

/* Initializes the handle on loop; the owner then connects or accepts. */
int link_init(link_t *l, uv_loop_t *loop, const link_ops_t *ops, void *owner,
              size_t high_water);
/* Starts delivering reads. */
int link_start(link_t *l);
/* Pauses or resumes delivery without closing. */
void link_pause(link_t *l, int paused);
/* Begins TLS over the connection (after the plaintext SSLRequest dance).
 * The handshake runs on incoming data; on_data fires once plaintext flows.
 * link_tls_ready tells whether the handshake finished. */
int link_start_tls(link_t *l, tls_t *t);
int link_tls_ready(const link_t *l);
/* Appends plaintext to the outgoing batch; link_flush sends the batch. */
int link_send(link_t *l, const void *p, size_t n);
int link_flush(link_t *l);
/* Bytes queued to the kernel or waiting in the batch. */
size_t link_backlog(const link_t *l);
/* For a link whose reads are paused: whether the peer has closed or reset
 * the connection (a non-blocking peek). */
int link_peer_gone(const link_t *l);
/* Closes the socket; on_closed fires later. Idempotent. */
void link_close(link_t *l);
/* Flushes, lets queued writes reach the peer (bounded by a short timer),
 * then closes. A later link_close still closes at once. */
void link_close_gently(link_t *l);

#endif
