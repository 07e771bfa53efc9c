/*
 * Loads the INI configuration through inih and validates every value.
 * Callers decide what to do with a loaded config (start, or apply a reload).
 */
#include "proxy/config.h"

#include <errno.h>
#include <fnmatch.h>
#include <ini.h>
#include <math.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/log.h"

typedef struct load_ctx {
    config_t *c;
    char *err;
    size_t errlen;
    int failed;
} load_ctx_t;

static char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");

    if (!p) {
        fprintf(stderr, "pgsluice: out of memory\n");
        abort();
    }
    return p;
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = xstrdup(v);
}

config_t *config_defaults(void)
{
    config_t *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->listen_addr = xstrdup("127.0.0.1");
    c->listen_port = 6432;
    c->upstream_host = xstrdup("127.0.0.1");
    c->upstream_port = 5432;
    c->connect_timeout = 10;
    c->startup_timeout = 15;
    c->max_message_size = 64u << 20;
    c->high_water = 1u << 20;
    c->client_tls = CLIENT_TLS_DISABLE;
    c->server_sslmode = SERVER_TLS_PREFER;
    c->dialect = -1;
    c->log_level = LOG_INFO;
    c->shutdown_timeout = 30;
    c->metrics_addr = xstrdup("127.0.0.1");
    c->retry_enabled = 1;
    c->max_attempts = 5;
    c->base_delay_ms = 100;
    c->max_delay_ms = 5000;
    c->retry_buffer = 1u << 20;
    c->budget_ratio = 0.1;
    c->budget_floor = 10;
    return c;
}

static int parse_int(const char *v, long min, long max, long *out)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || end == v || *end != '\0' || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

static int parse_size(const char *v, size_t *out)
{
    char *end;
    unsigned long long n;
    unsigned long long mult = 1;

    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno || end == v || v[0] == '-')
        return -1;
    while (*end == ' ')
        end++;
    if (strcasecmp(end, "kb") == 0 || strcasecmp(end, "k") == 0)
        mult = 1ull << 10;
    else if (strcasecmp(end, "mb") == 0 || strcasecmp(end, "m") == 0)
        mult = 1ull << 20;
    else if (strcasecmp(end, "gb") == 0 || strcasecmp(end, "g") == 0)
        mult = 1ull << 30;
    else if (*end != '\0' && strcasecmp(end, "b") != 0)
        return -1;
    if (n > (1ull << 34) / mult) /* 16 GB: beyond any sane buffer */
        return -1;
    *out = (size_t)(n * mult);
    return 0;
}

static int parse_bool(const char *v, int *out)
{
    static const char *yes[] = {"on", "true", "yes", "1"};
    static const char *no[] = {"off", "false", "no", "0"};

    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int parse_enum(const char *v, const char *const *names, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (strcasecmp(v, names[i]) == 0) {
            *out = i;
            return 0;
        }
    return -1;
}

static int int_key(const char *v, long min, long max, int *dst)
{
    long n;

    if (parse_int(v, min, max, &n) < 0)
        return -1;
    *dst = (int)n;
    return 0;
}

static const char *const client_tls_names[] = {"disable", "allow", "require"};
static const char *const server_tls_names[] = {"disable", "prefer", "require",
                                               "verify-ca", "verify-full"};
static const char *const dialect_names[] = {"postgres", "redshift"};

static int main_key2(config_t *c, const char *k, const char *v)
{
    int n;

    if (strcmp(k, "client_tls") == 0)
        return parse_enum(v, client_tls_names, 3, (int *)&c->client_tls);
    if (strcmp(k, "server_sslmode") == 0)
        return parse_enum(v, server_tls_names, 5, (int *)&c->server_sslmode);
    if (strcmp(k, "dialect") == 0) {
        if (strcasecmp(v, "auto") == 0) {
            c->dialect = -1;
            return 0;
        }
        return parse_enum(v, dialect_names, 2, &c->dialect);
    }
    if (strcmp(k, "log_level") == 0) {
        n = log_level_parse(v);
        c->log_level = n;
        return n < 0 ? -1 : 0;
    }
    if (strcmp(k, "log_format") == 0) {
        static const char *const names[] = {"text", "json"};
        return parse_enum(v, names, 2, &c->log_json);
    }
    if (strcmp(k, "client_tls_cert") == 0)
        set_str(&c->client_tls_cert, v);
    else if (strcmp(k, "client_tls_key") == 0)
        set_str(&c->client_tls_key, v);
    else if (strcmp(k, "server_tls_ca") == 0)
        set_str(&c->server_tls_ca, v);
    else if (strcmp(k, "metrics_addr") == 0)
        set_str(&c->metrics_addr, v);
    else
        return -2;
    return 0;
}

static int main_key(config_t *c, const char *k, const char *v)
{
    if (strcmp(k, "listen_addr") == 0)
        set_str(&c->listen_addr, v);
    else if (strcmp(k, "upstream_host") == 0)
        set_str(&c->upstream_host, v);
    else if (strcmp(k, "listen_port") == 0)
        return int_key(v, 1, 65535, &c->listen_port);
    else if (strcmp(k, "upstream_port") == 0)
        return int_key(v, 1, 65535, &c->upstream_port);
    else if (strcmp(k, "connect_timeout") == 0)
        return int_key(v, 1, 3600, &c->connect_timeout);
    else if (strcmp(k, "startup_timeout") == 0)
        return int_key(v, 1, 3600, &c->startup_timeout);
    else if (strcmp(k, "shutdown_timeout") == 0)
        return int_key(v, 0, 86400, &c->shutdown_timeout);
    else if (strcmp(k, "metrics_port") == 0)
        return int_key(v, 0, 65535, &c->metrics_port);
    else if (strcmp(k, "max_message_size") == 0)
        return parse_size(v, &c->max_message_size) < 0 ||
                       c->max_message_size < 1024
                   ? -1
                   : 0;
    else if (strcmp(k, "high_water") == 0)
        return parse_size(v, &c->high_water) < 0 || c->high_water < 1024 ? -1
                                                                          : 0;
    else
        return main_key2(c, k, v);
    return 0;
}

static int add_table(config_t *c, const char *k, const char *v)
{
    long n;
    config_table_t *t;

    if (parse_int(v, 1, 100000, &n) < 0)
        return -1;
    t = realloc(c->tables, sizeof(*t) * (size_t)(c->ntables + 1));
    if (!t)
        return -1;
    c->tables = t;
    t[c->ntables].pattern = xstrdup(k);
    t[c->ntables++].limit = (int)n;
    return 0;
}

static int add_proc(config_t *c, const char *k, const char *v)
{
    config_proc_t *p = realloc(c->procs, sizeof(*p) * (size_t)(c->nprocs + 1));

    if (!p)
        return -1;
    c->procs = p;
    p[c->nprocs].name = xstrdup(k);
    p[c->nprocs++].tables = xstrdup(v);
    return 0;
}

static int queue_key(config_t *c, const char *k, const char *v)
{
    if (strcmp(k, "wait_timeout") == 0)
        return int_key(v, 0, 86400 * 7, &c->wait_timeout);
    if (strcmp(k, "hold_timeout") == 0)
        return int_key(v, 0, 86400 * 7, &c->hold_timeout);
    return -2;
}

static int add_retry_rule(config_t *c, const char *v)
{
    config_retry_rule_t *r;
    const char *colon = strchr(v, ':');
    size_t n = colon ? (size_t)(colon - v) : strlen(v);

    if (n != 5)
        return -1;
    r = realloc(c->retry_rules, sizeof(*r) * (size_t)(c->nretry_rules + 1));
    if (!r)
        return -1;
    c->retry_rules = r;
    memcpy(r[c->nretry_rules].sqlstate, v, 5);
    r[c->nretry_rules].sqlstate[5] = '\0';
    r[c->nretry_rules++].substring =
        colon && colon[1] ? xstrdup(colon + 1) : NULL;
    return 0;
}

static int retry_key(config_t *c, const char *k, const char *v)
{
    char *end;

    if (strcmp(k, "enabled") == 0)
        return parse_bool(v, &c->retry_enabled);
    if (strcmp(k, "max_attempts") == 0)
        return int_key(v, 1, 100, &c->max_attempts);
    if (strcmp(k, "base_delay_ms") == 0)
        return int_key(v, 0, 600000, &c->base_delay_ms);
    if (strcmp(k, "max_delay_ms") == 0)
        return int_key(v, 0, 3600000, &c->max_delay_ms);
    if (strcmp(k, "buffer_size") == 0)
        return parse_size(v, &c->retry_buffer);
    if (strcmp(k, "retry_on") == 0)
        return add_retry_rule(c, v);
    if (strcmp(k, "budget_ratio") == 0 || strcmp(k, "budget_floor") == 0) {
        double d = strtod(v, &end);
        if (end == v || *end != '\0' || !isfinite(d) || d < 0 || d > 1e6)
            return -1;
        *(k[7] == 'r' ? &c->budget_ratio : &c->budget_floor) = d;
        return 0;
    }
    return -2;
}

static int add_admin(config_t *c, const char *k, const char *v)
{
    config_admin_t *a = realloc(c->admins, sizeof(*a) * (size_t)(c->nadmins + 1));

    if (!a)
        return -1;
    c->admins = a;
    a[c->nadmins].user = xstrdup(k);
    a[c->nadmins++].verifier = xstrdup(v);
    return 0;
}

/* inih calls this once per key; returning 0 stops the parse. */
static int on_key(void *arg, const char *section, const char *k, const char *v)
{
    load_ctx_t *ctx = arg;
    config_t *c = ctx->c;
    int rc;

    if (strcmp(section, "pgsluice") == 0)
        rc = main_key(c, k, v);
    else if (strcmp(section, "tables") == 0)
        rc = add_table(c, k, v);
    else if (strcmp(section, "procedures") == 0)
        rc = add_proc(c, k, v);
    else if (strcmp(section, "queue") == 0)
        rc = queue_key(c, k, v);
    else if (strcmp(section, "retry") == 0)
        rc = retry_key(c, k, v);
    else if (strcmp(section, "admin") == 0)
        rc = add_admin(c, k, v);
    else
        rc = -3;
    if (rc == 0)
        return 1;
    if (!ctx->failed)
        snprintf(ctx->err, ctx->errlen, "%s: [%s] %s = %s: %s", c->path,
                 section, k, v,
                 rc == -2   ? "unknown key"
                 : rc == -3 ? "unknown section"
                            : "invalid value");
    ctx->failed = 1;
    return 0;
}

config_t *config_load(const char *path, char *err, size_t errlen)
{
    load_ctx_t ctx = {.err = err, .errlen = errlen};
    struct stat st;
    int rc;

    ctx.c = config_defaults();
    if (!ctx.c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ctx.c->path = xstrdup(path);
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        config_free(ctx.c);
        return NULL;
    }
    rc = ini_parse(path, on_key, &ctx);
    if (rc < 0)
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    else if (rc > 0 && !ctx.failed)
        snprintf(err, errlen, "%s: line %d: syntax error", path, rc);
    if (rc == 0 && ctx.c->client_tls != CLIENT_TLS_DISABLE &&
        (!ctx.c->client_tls_cert || !ctx.c->client_tls_key)) {
        snprintf(err, errlen, "%s: client_tls needs client_tls_cert and client_tls_key",
                 path);
        rc = 1;
    }
    if (rc != 0) {
        config_free(ctx.c);
        return NULL;
    }
    return ctx.c;
}

void config_free(config_t *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->ntables; i++)
        free(c->tables[i].pattern);
    for (int i = 0; i < c->nprocs; i++) {
        free(c->procs[i].name);
        free(c->procs[i].tables);
    }
    for (int i = 0; i < c->nretry_rules; i++)
        free(c->retry_rules[i].substring);
    for (int i = 0; i < c->nadmins; i++) {
        free(c->admins[i].user);
        free(c->admins[i].verifier);
    }
    free(c->tables);
    free(c->procs);
    free(c->retry_rules);
    free(c->admins);
    free(c->path);
    free(c->listen_addr);
    free(c->upstream_host);
    free(c->client_tls_cert);
    free(c->client_tls_key);
    free(c->server_tls_ca);
    free(c->metrics_addr);
    free(c);
}

int config_table_limit(const config_t *c, const char *table)
{
    for (int i = 0; i < c->ntables; i++)
        if (fnmatch(c->tables[i].pattern, table, 0) == 0)
            return c->tables[i].limit;
    return 1;
}

static int differs(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

int config_restart_changes(const config_t *a, const config_t *b, char *out,
                           size_t outlen)
{
    int n = 0;
    size_t used = 0;
    struct {
        const char *name;
        int changed;
    } keys[] = {
        {"listen_addr", differs(a->listen_addr, b->listen_addr)},
        {"listen_port", a->listen_port != b->listen_port},
        {"upstream_host", differs(a->upstream_host, b->upstream_host)},
        {"upstream_port", a->upstream_port != b->upstream_port},
        {"client_tls", a->client_tls != b->client_tls},
        {"client_tls_cert", differs(a->client_tls_cert, b->client_tls_cert)},
        {"client_tls_key", differs(a->client_tls_key, b->client_tls_key)},
        {"server_sslmode", a->server_sslmode != b->server_sslmode},
        {"server_tls_ca", differs(a->server_tls_ca, b->server_tls_ca)},
        {"metrics_port", a->metrics_port != b->metrics_port},
        {"metrics_addr", differs(a->metrics_addr, b->metrics_addr)},
        {"max_message_size", a->max_message_size != b->max_message_size},
        {"high_water", a->high_water != b->high_water},
    };

    out[0] = '\0';
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (!keys[i].changed)
            continue;
        used += (size_t)snprintf(out + used, used < outlen ? outlen - used : 0,
                                 "%s%s", n ? ", " : "", keys[i].name);
        if (used >= outlen)
            used = outlen;
        n++;
    }
    return n;
}
