/*
 * SCRAM-SHA-256 for the admin console: verifiers in PostgreSQL's text form
 * and the server side of the exchange (RFC 5802, RFC 7677), composed from
 * OpenSSL's primitives. Knows nothing of sockets or protocol framing.
 */
#ifndef PGSLUICE_SCRAM_H
#define PGSLUICE_SCRAM_H

#include <stddef.h>

#define SCRAM_KEY_LEN 32
#define SCRAM_SALT_LEN 16 /* what `pgsluice passwd` and PostgreSQL make */
#define SCRAM_SALT_MAX 64 /* longest salt a parsed verifier may carry */
#define SCRAM_ITERATIONS 4096

/* Errors of the exchange. */
#define SCRAM_EPROTO (-1) /* malformed or unsupported message */
#define SCRAM_EAUTH (-2)  /* wrong password, or a mock exchange */
#define SCRAM_ENOMEM (-3)

/* A stored verifier: what the server keeps instead of the password. */
typedef struct scram_verifier {
    int iterations;
    unsigned char salt[SCRAM_SALT_MAX];
    size_t salt_len;
    unsigned char stored_key[SCRAM_KEY_LEN];
    unsigned char server_key[SCRAM_KEY_LEN];
} scram_verifier_t;

/* Parses "SCRAM-SHA-256$<iter>:<salt b64>$<StoredKey b64>:<ServerKey b64>",
 * PostgreSQL's pg_authid.rolpassword form. Returns 0 or SCRAM_EPROTO. */
int scram_verifier_parse(const char *text, scram_verifier_t *v);
/* Derives the verifier of password (used as bytes: no SASLprep) for salt
 * and iterations. Returns 0 or SCRAM_ENOMEM. */
int scram_verifier_make(const char *password, const unsigned char *salt,
                        size_t salt_len, int iterations, scram_verifier_t *v);
/* Writes v in the text form scram_verifier_parse reads; 0, or -1 when out
 * is too small. */
int scram_verifier_format(const scram_verifier_t *v, char *out, size_t outlen);

/*
 * One server-side exchange. With v NULL the exchange is a mock for a user
 * who may not log in: it runs to the end with a salt derived from the user
 * name (stable for the process), so a client cannot tell unknown users from
 * wrong passwords, and then fails with SCRAM_EAUTH.
 */
typedef struct scram_exchange scram_exchange_t;

scram_exchange_t *scram_exchange_new(const scram_verifier_t *v,
                                     const char *user);
void scram_exchange_free(scram_exchange_t *x);
/* Replaces the random server nonce part (tests with fixed vectors). */
int scram_exchange_set_nonce(scram_exchange_t *x, const char *nonce);

/* client-first-message in (len bytes, not NUL terminated), server-first-
 * message out as a NUL-terminated string. 0 or a SCRAM_E* code. */
int scram_exchange_first(scram_exchange_t *x, const char *msg, size_t len,
                         char *out, size_t outlen);
/* client-final-message in, server-final-message ("v=...") out. 0 when the
 * proof holds, else a SCRAM_E* code. */
int scram_exchange_final(scram_exchange_t *x, const char *msg, size_t len,
                         char *out, size_t outlen);
/* Why the last step failed, for the log (never secret material). */
const char *scram_exchange_error(const scram_exchange_t *x);

/* `pgsluice passwd USER`: reads a password on stdin, prints a config line. */
int scram_passwd_main(int argc, char **argv);

#endif
