/*
 * Unit tests of the console's SCRAM-SHA-256 (proxy/scram.c): the RFC 7677
 * example exchange, a verifier that PostgreSQL 15 computed itself, a client
 * written here from the RFC, and the malformed messages a server must
 * refuse. No network.
 */
#include "proxy/scram.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "tests/unit/expect.h"

/* From PostgreSQL 15: SET password_encryption = 'scram-sha-256'; CREATE ROLE
 * sluice_op PASSWORD 'correct horse battery'; then pg_authid.rolpassword. */
static const char PG_PASSWORD[] = "correct horse battery";
static const char PG_VERIFIER[] =
    "SCRAM-SHA-256$4096:URDqsCosCNhD67H6edB0Cw==$"
    "aHWmFDYG4yqQ4FzuVk2mEDKPWKPYuH9gH7EuLyC8a7Y=:"
    "NycbZGIDb571rIJ3OaF8l4XE16b4Ee+vSOb8dgB/aI8=";

/* ---- a client, written from RFC 5802 section 3 ---- */

typedef struct client {
    const char *password;
    char first_bare[128];
    char final[512];
    char server_sig64[64];
} client_t;

static void client_first(client_t *c, const char *nonce, char *out, size_t len)
{
    snprintf(c->first_bare, sizeof(c->first_bare), "n=,r=%s", nonce);
    snprintf(out, len, "n,,%s", c->first_bare);
}

/* Reads r=, s=, i= from server-first and builds client-final with its proof.
 * Returns 0, or -1 when server-first cannot be read. */
static int client_final(client_t *c, const char *server_first)
{
    char nonce[128], salt64[128], without[300], auth[1024], proof64[64];
    unsigned char salt[64], salted[32], ckey[32], skey[32], stored[32], sig[32];
    unsigned char proof[32], ssig[32];
    unsigned int l = 32;
    int iter, slen;

    if (sscanf(server_first, "r=%127[^,],s=%127[^,],i=%d", nonce, salt64,
               &iter) != 3)
        return -1;
    slen = EVP_DecodeBlock(salt, (unsigned char *)salt64, (int)strlen(salt64));
    slen -= (int)(strlen(salt64) - strcspn(salt64, "="));
    PKCS5_PBKDF2_HMAC(c->password, (int)strlen(c->password), salt, slen, iter,
                      EVP_sha256(), 32, salted);
    HMAC(EVP_sha256(), salted, 32, (unsigned char *)"Client Key", 10, ckey, &l);
    HMAC(EVP_sha256(), salted, 32, (unsigned char *)"Server Key", 10, skey, &l);
    SHA256(ckey, 32, stored);
    snprintf(without, sizeof(without), "c=biws,r=%s", nonce);
    snprintf(auth, sizeof(auth), "%s,%s,%s", c->first_bare, server_first,
             without);
    HMAC(EVP_sha256(), stored, 32, (unsigned char *)auth, strlen(auth), sig,
         &l);
    for (int i = 0; i < 32; i++)
        proof[i] = ckey[i] ^ sig[i];
    EVP_EncodeBlock((unsigned char *)proof64, proof, 32);
    snprintf(c->final, sizeof(c->final), "%s,p=%s", without, proof64);
    HMAC(EVP_sha256(), skey, 32, (unsigned char *)auth, strlen(auth), ssig, &l);
    memcpy(c->server_sig64, "v=", 2);
    EVP_EncodeBlock((unsigned char *)c->server_sig64 + 2, ssig, 32);
    return 0;
}

/* Runs a whole exchange of the client against verifier v (NULL: mock).
 * Returns what scram_exchange_final returned; *sig_ok says whether the
 * server's signature matched what the client expects. */
static int login(const scram_verifier_t *v, const char *password, int *sig_ok)
{
    scram_exchange_t *x = scram_exchange_new(v, "sluice_op");
    client_t c = {.password = password};
    char msg[256], sfirst[256], sfinal[256];
    int rc;

    *sig_ok = 0;
    client_first(&c, "fyko+d2lbbFgONRv9qkxdawL", msg, sizeof(msg));
    rc = scram_exchange_first(x, msg, strlen(msg), sfirst, sizeof(sfirst));
    if (rc == 0 && client_final(&c, sfirst) < 0)
        rc = -100;
    if (rc == 0) {
        rc = scram_exchange_final(x, c.final, strlen(c.final), sfinal,
                                  sizeof(sfinal));
        *sig_ok = rc == 0 && strcmp(sfinal, c.server_sig64) == 0;
    }
    scram_exchange_free(x);
    return rc;
}

/* ---- tests ---- */

/* RFC 7677 section 3: user "user", password "pencil". */
static void test_rfc7677_vector(void)
{
    static const char salt64[] = "W22ZaJ0SNY7soEsUEjb6gQ==";
    static const char cfirst[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    static const char sfirst_want[] =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    static const char cfinal[] =
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    unsigned char salt[32];
    scram_verifier_t v;
    scram_exchange_t *x;
    char out[256];

    EVP_DecodeBlock(salt, (const unsigned char *)salt64, (int)strlen(salt64));
    EXPECT(scram_verifier_make("pencil", salt, 16, 4096, &v) == 0);
    x = scram_exchange_new(&v, "user");
    EXPECT(scram_exchange_set_nonce(x, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0") == 0);
    EXPECT(scram_exchange_first(x, cfirst, strlen(cfirst), out, sizeof(out)) ==
           0);
    EXPECT(strcmp(out, sfirst_want) == 0);
    EXPECT(scram_exchange_final(x, cfinal, strlen(cfinal), out, sizeof(out)) ==
           0);
    EXPECT(strcmp(out, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") == 0);
    scram_exchange_free(x);
}

/* Our derivation must reproduce PostgreSQL's verifier bit for bit. */
static void test_postgres_verifier(void)
{
    scram_verifier_t pg, mine;
    char text[256];
    int sig_ok;

    EXPECT(scram_verifier_parse(PG_VERIFIER, &pg) == 0);
    EXPECT(pg.iterations == 4096 && pg.salt_len == 16);
    EXPECT(scram_verifier_make(PG_PASSWORD, pg.salt, pg.salt_len, 4096,
                               &mine) == 0);
    EXPECT(memcmp(mine.stored_key, pg.stored_key, 32) == 0);
    EXPECT(memcmp(mine.server_key, pg.server_key, 32) == 0);
    EXPECT(scram_verifier_format(&mine, text, sizeof(text)) == 0);
    EXPECT(strcmp(text, PG_VERIFIER) == 0);

    EXPECT(login(&pg, PG_PASSWORD, &sig_ok) == 0);
    EXPECT(sig_ok);
    EXPECT(login(&pg, "correct horse batteryx", &sig_ok) == SCRAM_EAUTH);
    EXPECT(login(&pg, "", &sig_ok) == SCRAM_EAUTH);
}

static void test_make_and_round_trip(void)
{
    unsigned char salt[SCRAM_SALT_LEN];
    scram_verifier_t v, back;
    char text[256];
    int sig_ok;

    RAND_bytes(salt, sizeof(salt));
    EXPECT(scram_verifier_make("s3cret!", salt, sizeof(salt), 4096, &v) == 0);
    EXPECT(scram_verifier_format(&v, text, sizeof(text)) == 0);
    EXPECT(scram_verifier_parse(text, &back) == 0);
    EXPECT(memcmp(&v, &back, sizeof(v)) == 0);
    EXPECT(login(&back, "s3cret!", &sig_ok) == 0 && sig_ok);
    EXPECT(login(&back, "S3cret!", &sig_ok) == SCRAM_EAUTH);
    EXPECT(scram_verifier_format(&v, text, 20) == -1);
}

/* An unknown user goes through the whole exchange with a stable salt and is
 * refused at the end, whatever the proof. */
static void test_mock(void)
{
    scram_exchange_t *a = scram_exchange_new(NULL, "nobody");
    scram_exchange_t *b = scram_exchange_new(NULL, "nobody");
    scram_exchange_t *c = scram_exchange_new(NULL, "somebody");
    const char *first = "n,,n=,r=abc";
    char oa[256], ob[256], oc[256];
    int sig_ok;

    EXPECT(scram_exchange_first(a, first, strlen(first), oa, sizeof(oa)) == 0);
    EXPECT(scram_exchange_first(b, first, strlen(first), ob, sizeof(ob)) == 0);
    EXPECT(scram_exchange_first(c, first, strlen(first), oc, sizeof(oc)) == 0);
    EXPECT(strcmp(strstr(oa, ",s="), strstr(ob, ",s=")) == 0);
    EXPECT(strcmp(strstr(oa, ",s="), strstr(oc, ",s=")) != 0);
    EXPECT(strcmp(oa, ob) != 0); /* fresh server nonces */
    EXPECT(login(NULL, "anything", &sig_ok) == SCRAM_EAUTH);
    scram_exchange_free(a);
    scram_exchange_free(b);
    scram_exchange_free(c);
}

static int first_rc(const char *msg, size_t len)
{
    scram_verifier_t v;
    scram_exchange_t *x;
    char out[256];
    int rc;

    scram_verifier_parse(PG_VERIFIER, &v);
    x = scram_exchange_new(&v, "u");
    rc = scram_exchange_first(x, msg, len, out, sizeof(out));
    scram_exchange_free(x);
    return rc;
}

static void test_bad_first(void)
{
    EXPECT(first_rc("n,,n=,r=abc", 11) == 0);
    EXPECT(first_rc("y,,n=,r=abc,x=ext", 17) == 0);
    EXPECT(first_rc("p=tls-server-end-point,,n=,r=abc", 32) == SCRAM_EPROTO);
    EXPECT(first_rc("n,a=admin,n=,r=abc", 18) == SCRAM_EPROTO);
    EXPECT(first_rc("n,,m=x,n=,r=abc", 15) == SCRAM_EPROTO);
    EXPECT(first_rc("n,,n=,r=", 8) == SCRAM_EPROTO);
    EXPECT(first_rc("n,,r=abc", 8) == SCRAM_EPROTO);
    EXPECT(first_rc("x,,n=,r=abc", 11) == SCRAM_EPROTO);
    EXPECT(first_rc("n,,n=,r=a\0c", 11) == SCRAM_EPROTO);
    EXPECT(first_rc("", 0) == SCRAM_EPROTO);
}

/* Runs client-first, then replaces client-final by edit(final). */
static int final_rc(void (*edit)(char *final, size_t len))
{
    scram_verifier_t v;
    scram_exchange_t *x;
    client_t c = {.password = PG_PASSWORD};
    char msg[256], out[256];
    int rc;

    scram_verifier_parse(PG_VERIFIER, &v);
    x = scram_exchange_new(&v, "u");
    client_first(&c, "abcdef", msg, sizeof(msg));
    scram_exchange_first(x, msg, strlen(msg), out, sizeof(out));
    client_final(&c, out);
    edit(c.final, sizeof(c.final));
    rc = scram_exchange_final(x, c.final, strlen(c.final), out, sizeof(out));
    if (rc == 0) /* a second final is a protocol error */
        EXPECT(scram_exchange_final(x, c.final, strlen(c.final), out,
                                    sizeof(out)) == SCRAM_EPROTO);
    scram_exchange_free(x);
    return rc;
}

static void keep(char *f, size_t len)
{
    (void)f;
    (void)len;
}

static void wrong_binding(char *f, size_t len)
{
    (void)len;
    memcpy(f, "c=eSws", 6); /* "y,," while the client sent "n,," */
}

static void wrong_nonce(char *f, size_t len)
{
    (void)len;
    f[9] = f[9] == 'a' ? 'b' : 'a'; /* inside r=abcdef... */
}

static void flip_proof(char *f, size_t len)
{
    char *p = strstr(f, ",p=") + 3;

    (void)len;
    p[0] = p[0] == 'A' ? 'B' : 'A';
}

static void short_proof(char *f, size_t len)
{
    (void)len;
    strcpy(strstr(f, ",p=") + 3, "AAAA");
}

static void proof_not_last(char *f, size_t len)
{
    strncat(f, ",x=1", len - strlen(f) - 1);
}

static void test_bad_final(void)
{
    EXPECT(final_rc(keep) == 0);
    EXPECT(final_rc(wrong_binding) == SCRAM_EPROTO);
    EXPECT(final_rc(wrong_nonce) == SCRAM_EPROTO);
    EXPECT(final_rc(flip_proof) == SCRAM_EAUTH);
    EXPECT(final_rc(short_proof) == SCRAM_EPROTO);
    EXPECT(final_rc(proof_not_last) == SCRAM_EPROTO);
}

static void test_bad_verifiers(void)
{
    scram_verifier_t v;

    EXPECT(scram_verifier_parse("md5abcdef", &v) == SCRAM_EPROTO);
    EXPECT(scram_verifier_parse("SCRAM-SHA-256$0:URDqsCosCNhD67H6edB0Cw==$"
                                "aHWmFDYG4yqQ4FzuVk2mEDKPWKPYuH9gH7EuLyC8a7Y=:"
                                "NycbZGIDb571rIJ3OaF8l4XE16b4Ee+vSOb8dgB/aI8=",
                                &v) == SCRAM_EPROTO);
    EXPECT(scram_verifier_parse("SCRAM-SHA-256$4096:URDqsCosCNhD67H6edB0Cw==$"
                                "aHWmFDYG4yqQ4FzuVk2mEDKPWKPYuH9gH7EuLyC8a7Y=",
                                &v) == SCRAM_EPROTO);
    EXPECT(scram_verifier_parse("SCRAM-SHA-256$4096:URDq*CosCNhD67H6edB0Cw==$"
                                "aHWmFDYG4yqQ4FzuVk2mEDKPWKPYuH9gH7EuLyC8a7Y=:"
                                "NycbZGIDb571rIJ3OaF8l4XE16b4Ee+vSOb8dgB/aI8=",
                                &v) == SCRAM_EPROTO);
    EXPECT(scram_verifier_parse("SCRAM-SHA-256$4096:URDqsCosCNhD67H6edB0Cw==$"
                                "aHWmFDYG4yqQ4FzuVk2mEDKP:"
                                "NycbZGIDb571rIJ3OaF8l4XE16b4Ee+vSOb8dgB/aI8=",
                                &v) == SCRAM_EPROTO);
    EXPECT(scram_verifier_parse(NULL, &v) == SCRAM_EPROTO);
    EXPECT(scram_verifier_parse(PG_VERIFIER, &v) == 0);
}

int main(void)
{
    test_rfc7677_vector();
    test_postgres_verifier();
    test_make_and_round_trip();
    test_mock();
    test_bad_first();
    test_bad_final();
    test_bad_verifiers();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
