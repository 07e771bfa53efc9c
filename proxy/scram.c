/*
 * SCRAM-SHA-256 verifiers and the server side of the exchange, as
 * PostgreSQL runs it, built only from OpenSSL's PBKDF2, HMAC, SHA-256,
 * base64 and random bytes. The console (admin.c) moves the messages.
 */
#include "proxy/scram.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define PREFIX "SCRAM-SHA-256$"
#define NONCE_RAW 18 /* random bytes in the server's nonce part */
#define B64_LEN(n) (4 * (((n) + 2) / 3))

struct scram_exchange {
    scram_verifier_t v;
    int mock;
    int step; /* 0: expects client-first, 1: client-final, 2: done */
    char server_nonce[96];
    char *gs2; /* the client's gs2 header, e.g. "n,," */
    char *client_first_bare;
    char *server_first;
    char *nonce; /* client nonce followed by ours */
    const char *err;
};

/* ---- primitives ---- */

static void b64_encode(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* Decodes standard padded base64 of exactly n characters; returns the byte
 * count, or -1 when the text is not base64 or does not fit max. */
static int b64_decode(const char *in, size_t n, unsigned char *out, size_t max)
{
    unsigned char tmp[256];
    size_t pad = 0;
    int len;

    if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(tmp))
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        int alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (c == '=' && i >= n - 2 && (i == n - 1 || in[n - 1] == '='))
            pad++;
        else if (!alnum || pad)
            return -1;
    }
    len = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)n);
    if (len < 0 || (size_t)len < pad || (size_t)len - pad > max)
        return -1;
    len -= (int)pad;
    memcpy(out, tmp, (size_t)len);
    OPENSSL_cleanse(tmp, sizeof(tmp));
    return len;
}

static void hmac256(const unsigned char *key, size_t klen, const void *data,
                    size_t dlen, unsigned char out[SCRAM_KEY_LEN])
{
    unsigned int olen = SCRAM_KEY_LEN;

    HMAC(EVP_sha256(), key, (int)klen, data, dlen, out, &olen);
}

/* ---- verifiers ---- */

int scram_verifier_make(const char *password, const unsigned char *salt,
                        size_t salt_len, int iterations, scram_verifier_t *v)
{
    unsigned char salted[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN];

    if (salt_len > SCRAM_SALT_MAX || iterations < 1)
        return SCRAM_EPROTO;
    memset(v, 0, sizeof(*v));
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len,
                          iterations, EVP_sha256(), SCRAM_KEY_LEN, salted) != 1)
        return SCRAM_ENOMEM;
    v->iterations = iterations;
    memcpy(v->salt, salt, salt_len);
    v->salt_len = salt_len;
    hmac256(salted, sizeof(salted), "Client Key", 10, client_key);
    SHA256(client_key, sizeof(client_key), v->stored_key);
    hmac256(salted, sizeof(salted), "Server Key", 10, v->server_key);
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(client_key, sizeof(client_key));
    return 0;
}

/* Decodes the base64 field [p, end) into exactly want bytes (0: any up to
 * max). Returns the byte count or -1. */
static int field_b64(const char *p, const char *end, unsigned char *out,
                     size_t max, size_t want)
{
    int n;

    if (!end)
        return -1;
    n = b64_decode(p, (size_t)(end - p), out, max);
    if (n < 0 || (want && (size_t)n != want))
        return -1;
    return n;
}

int scram_verifier_parse(const char *text, scram_verifier_t *v)
{
    const char *p, *colon, *dollar;
    char *end;
    long iter;
    int n;

    memset(v, 0, sizeof(*v));
    if (!text || strncmp(text, PREFIX, strlen(PREFIX)) != 0)
        return SCRAM_EPROTO;
    p = text + strlen(PREFIX);
    errno = 0;
    iter = strtol(p, &end, 10);
    if (errno || end == p || *end != ':' || iter < 1 || iter > 100000000)
        return SCRAM_EPROTO;
    p = end + 1;
    dollar = strchr(p, '$');
    n = field_b64(p, dollar, v->salt, sizeof(v->salt), 0);
    if (n <= 0)
        return SCRAM_EPROTO;
    v->salt_len = (size_t)n;
    p = dollar + 1;
    colon = strchr(p, ':');
    if (field_b64(p, colon, v->stored_key, SCRAM_KEY_LEN, SCRAM_KEY_LEN) < 0)
        return SCRAM_EPROTO;
    p = colon + 1;
    if (field_b64(p, p + strlen(p), v->server_key, SCRAM_KEY_LEN,
                  SCRAM_KEY_LEN) < 0)
        return SCRAM_EPROTO;
    v->iterations = (int)iter;
    return 0;
}

int scram_verifier_format(const scram_verifier_t *v, char *out, size_t outlen)
{
    char salt[B64_LEN(SCRAM_SALT_MAX) + 1];
    char stored[B64_LEN(SCRAM_KEY_LEN) + 1], server[B64_LEN(SCRAM_KEY_LEN) + 1];
    int n;

    b64_encode(v->salt, v->salt_len, salt);
    b64_encode(v->stored_key, SCRAM_KEY_LEN, stored);
    b64_encode(v->server_key, SCRAM_KEY_LEN, server);
    n = snprintf(out, outlen, PREFIX "%d:%s$%s:%s", v->iterations, salt, stored,
                 server);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* ---- the exchange ---- */

/* A per-process secret so a mock salt is stable for one user name but
 * cannot be predicted from it. */
static int mock_verifier(const char *user, scram_verifier_t *v)
{
    static unsigned char secret[32];
    static int have_secret;
    unsigned char mac[SCRAM_KEY_LEN];

    if (!have_secret && RAND_bytes(secret, sizeof(secret)) != 1)
        return -1;
    have_secret = 1;
    memset(v, 0, sizeof(*v));
    hmac256(secret, sizeof(secret), user, strlen(user), mac);
    memcpy(v->salt, mac, SCRAM_SALT_LEN);
    v->salt_len = SCRAM_SALT_LEN;
    v->iterations = SCRAM_ITERATIONS;
    if (RAND_bytes(v->stored_key, SCRAM_KEY_LEN) != 1 ||
        RAND_bytes(v->server_key, SCRAM_KEY_LEN) != 1)
        return -1;
    return 0;
}

scram_exchange_t *scram_exchange_new(const scram_verifier_t *v,
                                     const char *user)
{
    scram_exchange_t *x = calloc(1, sizeof(*x));
    unsigned char raw[NONCE_RAW];

    if (!x)
        return NULL;
    if (v) {
        x->v = *v;
    } else {
        x->mock = 1;
        if (mock_verifier(user ? user : "", &x->v) < 0)
            goto fail;
    }
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        goto fail;
    b64_encode(raw, sizeof(raw), x->server_nonce);
    return x;
fail:
    free(x);
    return NULL;
}

void scram_exchange_free(scram_exchange_t *x)
{
    if (!x)
        return;
    free(x->gs2);
    free(x->client_first_bare);
    free(x->server_first);
    free(x->nonce);
    OPENSSL_cleanse(&x->v, sizeof(x->v));
    free(x);
}

int scram_exchange_set_nonce(scram_exchange_t *x, const char *nonce)
{
    if (strlen(nonce) >= sizeof(x->server_nonce) || x->step != 0)
        return SCRAM_EPROTO;
    strcpy(x->server_nonce, nonce);
    return 0;
}

const char *scram_exchange_error(const scram_exchange_t *x)
{
    return x->err ? x->err : "";
}

static int fail(scram_exchange_t *x, int code, const char *why)
{
    x->err = why;
    x->step = 2;
    return code;
}

/* A message as a C string; NULL when it holds a NUL byte. */
static char *message_str(const char *msg, size_t len)
{
    char *s;

    if (memchr(msg, '\0', len))
        return NULL;
    s = malloc(len + 1);
    if (s) {
        memcpy(s, msg, len);
        s[len] = '\0';
    }
    return s;
}

/* RFC 5802 "printable": %x21-2B / %x2D-7E, so never a comma. */
static int nonce_ok(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
            return 0;
    return 1;
}

/* Splits the gs2 header off a client-first-message; returns the bare part
 * or NULL with x->err set. */
static const char *parse_gs2(scram_exchange_t *x, const char *s)
{
    const char *p = s;

    if (p[0] == 'p') {
        x->err =
            "client requires channel binding, which the console does not offer";
        return NULL;
    }
    if ((p[0] != 'n' && p[0] != 'y') || p[1] != ',') {
        x->err = "malformed gs2 header";
        return NULL;
    }
    p += 2;
    if (p[0] == 'a' && p[1] == '=') {
        x->err = "authorization identities are not supported";
        return NULL;
    }
    if (p[0] != ',') {
        x->err = "malformed gs2 header";
        return NULL;
    }
    x->gs2 = strndup(s, (size_t)(p + 1 - s));
    return x->gs2 ? p + 1 : NULL;
}

/* Reads client-first-message-bare: "n=user,r=nonce[,ext...]". The user name
 * in it is ignored, as PostgreSQL does: the startup packet's user counts. */
static int parse_bare(scram_exchange_t *x, const char *bare, const char **nonce,
                      size_t *nlen)
{
    const char *p = bare, *comma;

    if (strncmp(p, "m=", 2) == 0) {
        x->err = "mandatory SCRAM extensions are not supported";
        return -1;
    }
    if (strncmp(p, "n=", 2) != 0 || !(comma = strchr(p, ','))) {
        x->err = "malformed client-first-message";
        return -1;
    }
    p = comma + 1;
    if (strncmp(p, "r=", 2) != 0) {
        x->err = "malformed client-first-message";
        return -1;
    }
    p += 2;
    *nonce = p;
    *nlen = strcspn(p, ",");
    if (!nonce_ok(p, *nlen)) {
        x->err = "invalid client nonce";
        return -1;
    }
    return 0;
}

int scram_exchange_first(scram_exchange_t *x, const char *msg, size_t len,
                         char *out, size_t outlen)
{
    char *s = message_str(msg, len);
    char salt[B64_LEN(SCRAM_SALT_MAX) + 1];
    const char *bare, *cnonce;
    size_t clen;
    int n;

    if (x->step != 0)
        return fail(x, SCRAM_EPROTO, "unexpected client-first-message");
    if (!s)
        return fail(x, SCRAM_EPROTO, "malformed client-first-message");
    bare = parse_gs2(x, s);
    if (!bare || parse_bare(x, bare, &cnonce, &clen) < 0) {
        free(s);
        return fail(x, SCRAM_EPROTO, x->err ? x->err : "out of memory");
    }
    x->client_first_bare = strdup(bare);
    if (!x->client_first_bare ||
        asprintf(&x->nonce, "%.*s%s", (int)clen, cnonce, x->server_nonce) < 0) {
        x->nonce = NULL;
        free(s);
        return fail(x, SCRAM_ENOMEM, "out of memory");
    }
    free(s);
    b64_encode(x->v.salt, x->v.salt_len, salt);
    n = snprintf(out, outlen, "r=%s,s=%s,i=%d", x->nonce, salt,
                 x->v.iterations);
    if (n < 0 || (size_t)n >= outlen || !(x->server_first = strdup(out)))
        return fail(x, SCRAM_ENOMEM, "out of memory");
    x->step = 1;
    return 0;
}

/* Checks "c=<b64 gs2>,r=<nonce>" at the start of a client-final-message and
 * finds the proof, which must be the last attribute. */
static int parse_final(scram_exchange_t *x, const char *s,
                       size_t *without_proof,
                       unsigned char proof[SCRAM_KEY_LEN])
{
    unsigned char cb[64];
    const char *comma = strchr(s, ','), *p;
    size_t nlen = strlen(x->nonce);
    int n;

    if (strncmp(s, "c=", 2) != 0 || !comma)
        return -1;
    n = b64_decode(s + 2, (size_t)(comma - s - 2), cb, sizeof(cb));
    if (n < 0 || (size_t)n != strlen(x->gs2) ||
        memcmp(cb, x->gs2, (size_t)n) != 0) {
        x->err = "channel binding data does not match the gs2 header";
        return -1;
    }
    p = comma + 1;
    if (strncmp(p, "r=", 2) != 0 || strncmp(p + 2, x->nonce, nlen) != 0 ||
        (p[2 + nlen] != ',' && p[2 + nlen] != '\0')) {
        x->err = "nonce does not match";
        return -1;
    }
    p = strstr(p, ",p=");
    while (p && strstr(p + 1, ",p="))
        p = strstr(p + 1, ",p=");
    if (!p || strchr(p + 3, ',') ||
        b64_decode(p + 3, strlen(p + 3), proof, SCRAM_KEY_LEN) !=
            SCRAM_KEY_LEN) {
        x->err = "malformed client proof";
        return -1;
    }
    *without_proof = (size_t)(p - s);
    return 0;
}

/* Verifies the proof over auth_message; 1 when it holds. */
static int proof_holds(const scram_verifier_t *v, const char *auth, size_t alen,
                       const unsigned char proof[SCRAM_KEY_LEN])
{
    unsigned char sig[SCRAM_KEY_LEN], key[SCRAM_KEY_LEN], h[SCRAM_KEY_LEN];
    int ok;

    hmac256(v->stored_key, SCRAM_KEY_LEN, auth, alen, sig);
    for (int i = 0; i < SCRAM_KEY_LEN; i++)
        key[i] = proof[i] ^ sig[i];
    SHA256(key, sizeof(key), h);
    ok = CRYPTO_memcmp(h, v->stored_key, SCRAM_KEY_LEN) == 0;
    OPENSSL_cleanse(key, sizeof(key));
    return ok;
}

int scram_exchange_final(scram_exchange_t *x, const char *msg, size_t len,
                         char *out, size_t outlen)
{
    char *s = message_str(msg, len), *auth = NULL;
    unsigned char proof[SCRAM_KEY_LEN], sig[SCRAM_KEY_LEN];
    char sig64[B64_LEN(SCRAM_KEY_LEN) + 1];
    size_t wp;
    int alen, rc = 0;

    if (x->step != 1 || !s) {
        free(s);
        return fail(x, SCRAM_EPROTO,
                    "unexpected or malformed client-final-message");
    }
    if (parse_final(x, s, &wp, proof) < 0) {
        rc = fail(x, SCRAM_EPROTO,
                  x->err ? x->err : "malformed client-final-message");
        goto out;
    }
    alen = asprintf(&auth, "%s,%s,%.*s", x->client_first_bare, x->server_first,
                    (int)wp, s);
    if (alen < 0) {
        auth = NULL;
        rc = fail(x, SCRAM_ENOMEM, "out of memory");
        goto out;
    }
    if (!proof_holds(&x->v, auth, (size_t)alen, proof) || x->mock) {
        rc = fail(x, SCRAM_EAUTH, x->mock ? "no such user" : "wrong password");
        goto out;
    }
    hmac256(x->v.server_key, SCRAM_KEY_LEN, auth, (size_t)alen, sig);
    b64_encode(sig, sizeof(sig), sig64);
    if (snprintf(out, outlen, "v=%s", sig64) >= (int)outlen)
        rc = fail(x, SCRAM_ENOMEM, "output buffer too small");
    x->step = 2;
out:
    free(s);
    free(auth);
    return rc;
}

/* ---- pgsluice passwd ---- */

/* Reads one line from stdin, without echo on a terminal. Returns 0, or -1
 * with a message on stderr. */
static int read_password(const char *user, char *pw, size_t len)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    char *ok;

    if (tty) {
        fprintf(stderr, "Password for %s: ", user);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    ok = fgets(pw, (int)len, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!ok) {
        fprintf(stderr, "pgsluice passwd: no password on standard input\n");
        return -1;
    }
    if (!strchr(pw, '\n') && !feof(stdin)) {
        fprintf(stderr, "pgsluice passwd: password longer than %zu bytes\n",
                len - 2);
        return -1;
    }
    pw[strcspn(pw, "\r\n")] = '\0';
    return 0;
}

/* The name becomes an INI key: it may not hold what inih splits or strips
 * on, nor start a comment. */
static int user_ok(const char *u)
{
    if (!u[0] || u[0] == ';' || u[0] == '#' || u[0] == '[')
        return 0;
    for (const char *p = u; *p; p++)
        if (*p == '=' || *p == ':' || *p == ' ' || *p == '\t' ||
            (unsigned char)*p < 0x20)
            return 0;
    return 1;
}

static int password_ok(const char *pw)
{
    if (!pw[0]) {
        fprintf(stderr, "pgsluice passwd: empty password\n");
        return 0;
    }
    /* Clients apply SASLprep to non-ASCII passwords and we do not, so such
     * a verifier could refuse the right password. */
    for (const char *p = pw; *p; p++)
        if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20) {
            fprintf(stderr, "pgsluice passwd: use printable ASCII characters "
                            "only (SASLprep is not implemented)\n");
            return 0;
        }
    return 1;
}

int scram_passwd_main(int argc, char **argv)
{
    char pw[1024], line[256];
    unsigned char salt[SCRAM_SALT_LEN];
    scram_verifier_t v;
    int rc = 1;

    if (argc != 2 || !user_ok(argv[1])) {
        fprintf(stderr, "usage: pgsluice passwd USER < password\n"
                        "USER may not contain spaces, '=' or ':'\n");
        return 2;
    }
    if (read_password(argv[1], pw, sizeof(pw)) < 0 || !password_ok(pw))
        goto out;
    if (RAND_bytes(salt, sizeof(salt)) != 1 ||
        scram_verifier_make(pw, salt, sizeof(salt), SCRAM_ITERATIONS, &v) < 0 ||
        scram_verifier_format(&v, line, sizeof(line)) < 0) {
        fprintf(stderr, "pgsluice passwd: cannot compute the verifier\n");
        goto out;
    }
    printf("%s = %s\n", argv[1], line);
    rc = 0;
out:
    OPENSSL_cleanse(pw, sizeof(pw));
    return rc;
}
