/*
 * TLS as a filter over bytes: ciphertext in and out through memory BIOs,
 * plaintext to and from the caller. Knows nothing of sockets or of the
 * PostgreSQL protocol.
 */
#ifndef PGSLUICE_TLS_H
#define PGSLUICE_TLS_H

#include <stddef.h>

#include "protocol/buf.h"

typedef struct tls tls_t;
typedef struct tls_ctx tls_ctx_t;

#define TLS_VERIFY_NONE 0
#define TLS_VERIFY_CA 1
#define TLS_VERIFY_FULL 2

/* Contexts: a server side with certificate and key, a client side with an
 * optional root certificate file. NULL on failure, reason in err. */
tls_ctx_t *tls_ctx_server(const char *cert, const char *key, char *err, size_t errlen);
tls_ctx_t *tls_ctx_client(const char *ca_file, int verify, char *err, size_t errlen);
void tls_ctx_free(tls_ctx_t *ctx);

/* A connection; host is checked against the certificate for
 * TLS_VERIFY_FULL and sent as SNI. */
tls_t *tls_new(tls_ctx_t *ctx, int server, const char *host);
void tls_free(tls_t *t);

/* Ciphertext received from the peer. Returns 0 or -ENOMEM. */
int tls_feed(tls_t *t, const void *p, size_t n);
/* Advances the handshake: 1 done, 0 needs more input, -1 failed. */
int tls_handshake(tls_t *t);
/* Decrypts what it can into out: returns bytes added, 0 for none yet,
 * -1 on failure or close_notify. */
int tls_read(tls_t *t, buf_t *out);
/* Encrypts n plaintext bytes. Returns 0 or -1. */
int tls_write(tls_t *t, const void *p, size_t n);
/* Moves pending ciphertext for the peer into out. */
int tls_take_output(tls_t *t, buf_t *out);
/* Whether the peer ended the TLS session (close_notify). */
int tls_closed(const tls_t *t);
/* The last failure's reason, e.g. "certificate verify failed". */
const char *tls_error(const tls_t *t);

#endif
