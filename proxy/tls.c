/*
 * OpenSSL over memory BIOs. Owns SSL objects and their error text; the
 * caller owns the sockets and moves ciphertext between them and this filter.
 */
#include "proxy/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

struct tls_ctx {
    SSL_CTX *ssl;
    int verify;
};

struct tls {
    SSL *ssl;
    BIO *in, *out;
    int closed; /* the peer sent close_notify */
    char err[256];
};

static void take_error(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char reason[200] = "unknown error";

    if (e)
        ERR_error_string_n(e, reason, sizeof(reason));
    snprintf(err, errlen, "%s: %s", what, reason);
    ERR_clear_error();
}

tls_ctx_t *tls_ctx_server(const char *cert, const char *key, char *err, size_t errlen)
{
    tls_ctx_t *c = calloc(1, sizeof(*c));

    if (!c || !(c->ssl = SSL_CTX_new(TLS_server_method()))) {
        snprintf(err, errlen, "cannot create TLS context");
        free(c);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(c->ssl, cert) != 1) {
        take_error(err, errlen, cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(c->ssl, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(c->ssl) != 1) {
        take_error(err, errlen, key);
        goto fail;
    }
    return c;
fail:
    tls_ctx_free(c);
    return NULL;
}

tls_ctx_t *tls_ctx_client(const char *ca_file, int verify, char *err, size_t errlen)
{
    tls_ctx_t *c = calloc(1, sizeof(*c));

    if (!c || !(c->ssl = SSL_CTX_new(TLS_client_method()))) {
        snprintf(err, errlen, "cannot create TLS context");
        free(c);
        return NULL;
    }
    c->verify = verify;
    SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
    if (verify != TLS_VERIFY_NONE) {
        int ok = ca_file ? SSL_CTX_load_verify_locations(c->ssl, ca_file, NULL)
                         : SSL_CTX_set_default_verify_paths(c->ssl);
        if (ok != 1) {
            take_error(err, errlen, ca_file ? ca_file : "default CA paths");
            tls_ctx_free(c);
            return NULL;
        }
        SSL_CTX_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
    }
    return c;
}

void tls_ctx_free(tls_ctx_t *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

static int is_ip(const char *host)
{
    unsigned char addr[16];

    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* verify-full: the certificate must name host, as a DNS name or an IP
 * address, the way libpq checks it. */
static void check_host(SSL *ssl, const char *host)
{
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);

    if (is_ip(host))
        X509_VERIFY_PARAM_set1_ip_asc(param, host);
    else
        SSL_set1_host(ssl, host);
}

tls_t *tls_new(tls_ctx_t *ctx, int server, const char *host)
{
    tls_t *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->ssl = SSL_new(ctx->ssl);
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->in || !t->out) {
        BIO_free(t->in);
        BIO_free(t->out);
        SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    BIO_set_mem_eof_return(t->in, -1);
    SSL_set_bio(t->ssl, t->in, t->out);
    if (server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (host && !is_ip(host))
            SSL_set_tlsext_host_name(t->ssl, host); /* SNI takes names only */
        if (host && ctx->verify == TLS_VERIFY_FULL)
            check_host(t->ssl, host);
    }
    return t;
}

void tls_free(tls_t *t)
{
    if (!t)
        return;
    SSL_free(t->ssl); /* frees both BIOs */
    free(t);
}

int tls_feed(tls_t *t, const void *p, size_t n)
{
    return BIO_write(t->in, p, (int)n) == (int)n ? 0 : -ENOMEM;
}

static int failed(tls_t *t, int rc, const char *what)
{
    int e = SSL_get_error(t->ssl, rc);
    long vr;

    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    vr = SSL_get_verify_result(t->ssl);
    if (vr != X509_V_OK)
        snprintf(t->err, sizeof(t->err), "%s: certificate verify failed: %s",
                 what, X509_verify_cert_error_string(vr));
    else if (e == SSL_ERROR_ZERO_RETURN)
        snprintf(t->err, sizeof(t->err), "%s: peer closed the TLS session", what);
    else
        take_error(t->err, sizeof(t->err), what);
    return -1;
}

int tls_handshake(tls_t *t)
{
    int rc;

    ERR_clear_error();
    rc = SSL_do_handshake(t->ssl);
    if (rc == 1)
        return 1;
    return failed(t, rc, "TLS handshake");
}

int tls_read(tls_t *t, buf_t *out)
{
    int total = 0, rc;

    for (;;) {
        if (buf_reserve(out, 16384) < 0)
            return -1;
        ERR_clear_error();
        rc = SSL_read(t->ssl, out->data + out->len, 16384);
        if (rc <= 0)
            break;
        out->len += (size_t)rc;
        total += rc;
    }
    if (SSL_get_error(t->ssl, rc) == SSL_ERROR_ZERO_RETURN) {
        t->closed = 1; /* a clean end: what was read before it still counts */
        return total;
    }
    if (failed(t, rc, "TLS read") < 0)
        return total > 0 ? total : -1;
    return total;
}

int tls_write(tls_t *t, const void *p, size_t n)
{
    int rc;

    if (n == 0)
        return 0;
    ERR_clear_error();
    rc = SSL_write(t->ssl, p, (int)n);
    if (rc == (int)n)
        return 0;
    failed(t, rc, "TLS write");
    return -1;
}

int tls_take_output(tls_t *t, buf_t *out)
{
    size_t pending = BIO_ctrl_pending(t->out);
    int rc;

    if (pending == 0)
        return 0;
    if (buf_reserve(out, pending) < 0)
        return -ENOMEM;
    rc = BIO_read(t->out, out->data + out->len, (int)pending);
    if (rc > 0)
        out->len += (size_t)rc;
    return 0;
}

int tls_closed(const tls_t *t)
{
    return t->closed;
}

const char *tls_error(const tls_t *t)
{
    return t->err[0] ? t->err : "TLS error";
}
