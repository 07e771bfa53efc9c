/*
 * The classifier's public face: configuration of targets and procedures,
 * name resolution against the search path, the result cache, and the order
 * in which a text is tried (token fast path, parse tree, token fallback).
 * The tree walk lives in classify_tree.c, the token rules in classify_tokens.c.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/classify_int.h"

#define DEFAULT_SEARCH_PATH "\"$user\", public"

/* Statements whose estimated tree depth exceeds this are not handed to the
 * parser: libpg_query and protobuf-c recurse once per level and overflow the
 * stack on a few thousand levels. Such statements are decided by tokens. */
#define MAX_TREE_DEPTH 2000

struct cl_name {
    char *schema; /* NULL: any schema */
    char *rel;
};

struct cl_target {
    char *schema; /* pattern */
    char *rel;    /* pattern */
    char *text;   /* as configured */
};

struct cl_proc {
    struct cl_name name;
    struct cl_name *tables;
    int ntables;
};

struct classify_config {
    struct cl_target *targets;
    int ntargets;
    struct cl_proc *procs;
    int nprocs;
    classify_dialect_t dialect;
    unsigned gen; /* bumped on every change, so stale cache entries miss */
};

static int fast_path_on = 1;

void classify_debug_set_fast_path(int on)
{
    fast_path_on = on;
    classify_cache_clear();
}

/* ---- small string helpers ---- */

int cl_strv_push(cl_strv_t *v, const char *s, size_t len)
{
    char *copy;

    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        char **nv = realloc(v->v, (size_t)cap * sizeof(*nv));
        if (nv == NULL)
            return -ENOMEM;
        v->v = nv;
        v->cap = cap;
    }
    copy = malloc(len + 1);
    if (copy == NULL)
        return -ENOMEM;
    memcpy(copy, s, len);
    copy[len] = '\0';
    v->v[v->n++] = copy;
    return 0;
}

void cl_strv_clear(cl_strv_t *v)
{
    for (int i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}

char *cl_strdup(cl_ctx_t *ctx, const char *s)
{
    char *copy = strdup(s);

    if (copy == NULL)
        ctx->nomem = 1;
    return copy;
}

void cl_set_str(cl_ctx_t *ctx, char **dst, const char *s)
{
    free(*dst);
    *dst = s ? cl_strdup(ctx, s) : NULL;
}

void cl_set_reason(cl_ctx_t *ctx, cl_stmt_t *st, const char *why)
{
    if (st->reason == NULL)
        st->reason = cl_strdup(ctx, why);
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

int cl_is_temp_schema(const char *schema)
{
    return strcmp(schema, "pg_temp") == 0 ||
           strncmp(schema, "pg_temp_", 8) == 0;
}

/* PostgreSQL's parse_bool: anything it would not read as false counts as
 * true, so that an odd EXPLAIN option errs toward a write. */
int cl_is_truthy(const char *s)
{
    static const char *const falses[] = {"f", "fa", "fal", "fals", "false",
                                         "n", "no", "of",  "off",  "0"};
    char low[8];
    size_t i;

    for (i = 0; s[i] && i < sizeof(low) - 1; i++)
        low[i] = ascii_lower(s[i]);
    if (s[i])
        return 1;
    low[i] = '\0';
    for (i = 0; i < sizeof(falses) / sizeof(falses[0]); i++)
        if (strcmp(low, falses[i]) == 0)
            return 0;
    return 1;
}

/* ---- configuration ---- */

/*
 * Reads one dotted name from a configuration value, stopping at ',' or the
 * end: "quoted" parts stay exact ("" is a quote), bare parts fold to lower
 * case, as in SQL. Returns the number of parts (1..3) or -EINVAL.
 */
static int cfg_name(const char **sp, char parts[3][CL_NAMEDATALEN])
{
    const char *s = *sp;
    int n = 0;

    for (;;) {
        size_t len = 0;
        while (isspace((unsigned char)*s))
            s++;
        if (n == 3)
            return -EINVAL;
        if (*s == '"') {
            for (s++; *s != '"' || s[1] == '"'; s++) {
                if (*s == '\0' || len + 1 >= CL_NAMEDATALEN)
                    return -EINVAL;
                if (*s == '"')
                    s++;
                parts[n][len++] = *s;
            }
            s++;
        } else {
            for (; *s && *s != '.' && *s != ',' && !isspace((unsigned char)*s);
                 s++) {
                if (len + 1 >= CL_NAMEDATALEN)
                    return -EINVAL;
                parts[n][len++] = ascii_lower(*s);
            }
        }
        if (len == 0)
            return -EINVAL;
        parts[n++][len] = '\0';
        while (isspace((unsigned char)*s))
            s++;
        if (*s == '\0' || *s == ',') {
            *sp = s;
            return n;
        }
        if (*s++ != '.')
            return -EINVAL;
    }
}

/* Reads a comma-separated list of names of min_parts to 2 parts; 0 or
 * -EINVAL. */
static int cfg_name_list(const char *s, int min_parts, int allow_star,
                         struct cl_name **out, int *nout)
{
    char parts[3][CL_NAMEDATALEN];
    struct cl_name *v = NULL;
    int n = 0, np;

    for (;;) {
        struct cl_name *nv;
        np = cfg_name(&s, parts);
        if (np < min_parts || np > 2)
            goto bad;
        if (!allow_star &&
            (strchr(parts[0], '*') || (np > 1 && strchr(parts[1], '*'))))
            goto bad;
        nv = realloc(v, (size_t)(n + 1) * sizeof(*v));
        if (nv == NULL)
            goto bad;
        v = nv;
        v[n].schema = np == 2 ? strdup(parts[0]) : NULL;
        v[n].rel = strdup(parts[np - 1]);
        n++;
        if (v[n - 1].rel == NULL || (np == 2 && v[n - 1].schema == NULL))
            goto bad;
        if (*s == '\0')
            break;
        s++; /* the comma */
    }
    *out = v;
    *nout = n;
    return 0;
bad:
    for (int i = 0; i < n; i++) {
        free(v[i].schema);
        free(v[i].rel);
    }
    free(v);
    return -EINVAL;
}

classify_config_t *classify_config_new(void)
{
    return calloc(1, sizeof(classify_config_t));
}

void classify_config_free(classify_config_t *cfg)
{
    if (cfg == NULL)
        return;
    /* cached results point at nothing in cfg, but their key does */
    classify_cache_clear();
    for (int i = 0; i < cfg->ntargets; i++) {
        free(cfg->targets[i].schema);
        free(cfg->targets[i].rel);
        free(cfg->targets[i].text);
    }
    for (int i = 0; i < cfg->nprocs; i++) {
        struct cl_proc *p = &cfg->procs[i];
        free(p->name.schema);
        free(p->name.rel);
        for (int j = 0; j < p->ntables; j++) {
            free(p->tables[j].schema);
            free(p->tables[j].rel);
        }
        free(p->tables);
    }
    free(cfg->targets);
    free(cfg->procs);
    free(cfg);
}

int classify_config_add_target(classify_config_t *cfg, const char *pattern)
{
    struct cl_name *name;
    struct cl_target *nt;
    int n;

    if (cfg == NULL || pattern == NULL)
        return -EINVAL;
    if (cfg_name_list(pattern, 2, 1, &name, &n) != 0)
        return -EINVAL;
    if (n != 1 || name->schema == NULL) {
        for (int i = 0; i < n; i++) {
            free(name[i].schema);
            free(name[i].rel);
        }
        free(name);
        return -EINVAL;
    }
    nt = realloc(cfg->targets, (size_t)(cfg->ntargets + 1) * sizeof(*nt));
    if (nt == NULL)
        goto nomem;
    cfg->targets = nt;
    nt += cfg->ntargets;
    nt->schema = name->schema;
    nt->rel = name->rel;
    nt->text = strdup(pattern);
    free(name);
    if (nt->text == NULL) {
        free(nt->schema);
        free(nt->rel);
        return -ENOMEM;
    }
    cfg->ntargets++;
    cfg->gen++;
    return 0;
nomem:
    free(name->schema);
    free(name->rel);
    free(name);
    return -ENOMEM;
}

int classify_config_add_procedure(classify_config_t *cfg, const char *proc,
                                  const char *tables_csv)
{
    struct cl_name *name, *tables;
    struct cl_proc *np;
    int n, ntables;

    if (cfg == NULL || proc == NULL || tables_csv == NULL)
        return -EINVAL;
    if (cfg_name_list(proc, 1, 0, &name, &n) != 0)
        return -EINVAL;
    if (n != 1 || cfg_name_list(tables_csv, 2, 0, &tables, &ntables) != 0) {
        for (int i = 0; i < n; i++) {
            free(name[i].schema);
            free(name[i].rel);
        }
        free(name);
        return -EINVAL;
    }
    np = realloc(cfg->procs, (size_t)(cfg->nprocs + 1) * sizeof(*np));
    if (np == NULL) {
        free(name);
        free(tables);
        return -ENOMEM;
    }
    cfg->procs = np;
    np[cfg->nprocs].name = *name;
    np[cfg->nprocs].tables = tables;
    np[cfg->nprocs].ntables = ntables;
    free(name);
    cfg->nprocs++;
    cfg->gen++;
    return 0;
}

void classify_config_set_dialect(classify_config_t *cfg, classify_dialect_t d)
{
    cfg->dialect = d;
    cfg->gen++;
}

/* ---- targets ---- */

/* '*' matches any run of characters; every other character is literal. */
static int glob_match(const char *p, const char *s)
{
    const char *star = NULL, *resume = NULL;

    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

static const struct cl_target *target_find(const classify_config_t *cfg,
                                           const char *schema, const char *rel)
{
    for (int i = 0; i < cfg->ntargets; i++) {
        const struct cl_target *t = &cfg->targets[i];
        if (glob_match(t->schema, schema) && glob_match(t->rel, rel))
            return t;
    }
    return NULL;
}

int classify_target_match(const classify_config_t *cfg, const char *table,
                          const char **pattern)
{
    char schema[CL_NAMEDATALEN * 4];
    const char *dot;

    /* a '.' inside a quoted schema name makes the split ambiguous: try all */
    for (dot = strchr(table, '.'); dot; dot = strchr(dot + 1, '.')) {
        const struct cl_target *t;
        size_t len = (size_t)(dot - table);
        if (len >= sizeof(schema))
            break;
        memcpy(schema, table, len);
        schema[len] = '\0';
        t = target_find(cfg, schema, dot + 1);
        if (t) {
            if (pattern)
                *pattern = t->text;
            return 1;
        }
    }
    return 0;
}

/* ---- search path and name resolution ---- */

/*
 * Splits a stored search_path value the way the server's
 * SplitIdentifierString does (this is the setting's list syntax, not SQL):
 * names separated by commas, "quoted" ones exact with "" for a quote, bare
 * ones folded to lower case. "$user" becomes the user; pg_catalog and the
 * temporary schema are dropped because no target lives there.
 */
static void path_parse(cl_ctx_t *ctx, const char *raw)
{
    const char *s = raw;

    cl_strv_clear(&ctx->path);
    while (*s) {
        char name[CL_NAMEDATALEN * 4];
        size_t len = 0;
        while (isspace((unsigned char)*s) || *s == ',')
            s++;
        if (*s == '"') {
            for (s++; *s && (*s != '"' || s[1] == '"'); s++) {
                if (*s == '"')
                    s++;
                if (len < CL_NAMEDATALEN - 1)
                    name[len++] = *s;
            }
            if (*s)
                s++;
        } else {
            for (; *s && *s != ',' && !isspace((unsigned char)*s); s++)
                if (len < CL_NAMEDATALEN - 1)
                    name[len++] = ascii_lower(*s);
        }
        name[len] = '\0';
        if (strcmp(name, "$user") == 0) {
            if (ctx->user && *ctx->user &&
                cl_strv_push(&ctx->path, ctx->user, strlen(ctx->user)) != 0)
                ctx->nomem = 1;
        } else if (len && strcmp(name, "pg_catalog") != 0 &&
                   !cl_is_temp_schema(name)) {
            if (cl_strv_push(&ctx->path, name, len) != 0)
                ctx->nomem = 1;
        }
    }
}

static void add_write(cl_ctx_t *ctx, cl_stmt_t *st, const char *schema,
                      const char *rel)
{
    char buf[CL_NAMEDATALEN * 8];
    int len;

    if (target_find(ctx->cfg, schema, rel) == NULL)
        return;
    len = snprintf(buf, sizeof(buf), "%s.%s", schema, rel);
    if (len < 0 || (size_t)len >= sizeof(buf))
        return;
    if (cl_strv_push(&st->writes, buf, (size_t)len) != 0)
        ctx->nomem = 1;
}

/*
 * Unqualified names: the server takes the first schema of the path that
 * holds the table, and we cannot see the catalog. So a name counts as
 * written in every schema of the path where it would be a target; when in
 * doubt, queue. A temporary table that shadows a target is therefore
 * queued as the target too.
 */
void cl_write_name(cl_ctx_t *ctx, cl_stmt_t *st, const char *schema,
                   const char *rel)
{
    if (rel == NULL || *rel == '\0' || *rel == '#')
        return;
    if (schema && *schema) {
        if (!cl_is_temp_schema(schema))
            add_write(ctx, st, schema, rel);
        return;
    }
    for (int i = 0; i < ctx->path.n; i++)
        add_write(ctx, st, ctx->path.v[i], rel);
}

static int proc_matches(const cl_ctx_t *ctx, const struct cl_proc *p,
                        const char *schema, const char *name)
{
    if (strcmp(p->name.rel, name) != 0)
        return 0;
    if (p->name.schema == NULL)
        return 1;
    if (schema && *schema)
        return strcmp(p->name.schema, schema) == 0;
    for (int i = 0; i < ctx->path.n; i++)
        if (strcmp(ctx->path.v[i], p->name.schema) == 0)
            return 1;
    return 0;
}

void cl_write_call(cl_ctx_t *ctx, cl_stmt_t *st, const char *schema,
                   const char *name)
{
    for (int i = 0; i < ctx->cfg->nprocs; i++) {
        const struct cl_proc *p = &ctx->cfg->procs[i];
        if (!proc_matches(ctx, p, schema, name))
            continue;
        for (int j = 0; j < p->ntables; j++)
            add_write(ctx, st, p->tables[j].schema, p->tables[j].rel);
    }
}

void cl_set_search_path(cl_ctx_t *ctx, cl_stmt_t *st, const char *value,
                        int local)
{
    st->flags |= CLASSIFY_F_SEARCH_PATH | (local ? CLASSIFY_F_LOCAL : 0);
    cl_set_str(ctx, &st->new_search_path, value);
    /* later statements of the same text resolve against the new path */
    path_parse(ctx, value ? value : DEFAULT_SEARCH_PATH);
}

/* quote_identifier(): bare when lower-case letters, digits and '_' that
 * are not a keyword the grammar reserves in any way. */
int cl_quote_ident(const char *name, char *buf, size_t size)
{
    int safe = (*name >= 'a' && *name <= 'z') || *name == '_';
    size_t len = 0;

    for (const char *p = name; *p && safe; p++)
        safe =
            (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
    if (safe) {
        cl_tok_t *tok = NULL;
        int n = 0, errpos;
        if (cl_scan(name, &tok, &n, &errpos) != 0 || n != 1 ||
            (tok[0].kw != PG_QUERY__KEYWORD_KIND__NO_KEYWORD &&
             tok[0].kw != PG_QUERY__KEYWORD_KIND__UNRESERVED_KEYWORD))
            safe = 0;
        free(tok);
    }
    if (safe)
        return snprintf(buf, size, "%s", name);
    if (len + 1 < size)
        buf[len] = '"';
    len++;
    for (const char *p = name; *p; p++) {
        if (*p == '"' && ++len < size)
            buf[len - 1] = '"';
        if (++len < size)
            buf[len - 1] = *p;
    }
    if (++len < size)
        buf[len - 1] = '"';
    if (size)
        buf[len < size ? len : size - 1] = '\0';
    return (int)len;
}

/* ---- protobuf arenas ---- */

/* Unpacking allocates per node; a bump allocator makes that cheap and
 * frees a whole tree at once. The scan arena is separate because a DO body
 * is scanned while its statement's tree is still being walked. */
#define ARENA_CHUNK (64 * 1024)

struct arena_chunk {
    struct arena_chunk *next;
    size_t used;
    size_t cap;
    max_align_t data[];
};

typedef struct cl_arena_s {
    ProtobufCAllocator pa;
    struct arena_chunk *head;
} cl_arena_s;

static void *arena_alloc(void *data, size_t size)
{
    cl_arena_s *a = data;
    struct arena_chunk *c = a->head;
    void *p;

    size = (size + 15) & ~(size_t)15;
    if (c == NULL || c->cap - c->used < size) {
        size_t cap = size > ARENA_CHUNK ? size : ARENA_CHUNK;
        c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    p = (char *)c->data + c->used;
    c->used += size;
    return p;
}

static void arena_free(void *data, void *p)
{
}

static cl_arena_s arenas[2] = {
    {{arena_alloc, arena_free, &arenas[0]}, NULL},
    {{arena_alloc, arena_free, &arenas[1]}, NULL},
};

ProtobufCAllocator *cl_arena(int which)
{
    return &arenas[which].pa;
}

/* Frees everything but one standard chunk, so memory stays bounded. */
void cl_arena_reset(int which)
{
    struct arena_chunk *keep = NULL, *c = arenas[which].head;

    while (c) {
        struct arena_chunk *next = c->next;
        if (keep == NULL && c->cap == ARENA_CHUNK) {
            keep = c;
            keep->used = 0;
            keep->next = NULL;
        } else {
            free(c);
        }
        c = next;
    }
    arenas[which].head = keep;
}

/* ---- results ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and drops repeats in place. */
static void strv_sort_unique(cl_strv_t *v)
{
    int out = 0;

    if (v->n < 2)
        return;
    qsort(v->v, (size_t)v->n, sizeof(char *), cmp_str);
    for (int i = 0; i < v->n; i++) {
        if (out > 0 && strcmp(v->v[out - 1], v->v[i]) == 0)
            free(v->v[i]);
        else
            v->v[out++] = v->v[i];
    }
    v->n = out;
}

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static size_t stmt_size(cl_stmt_t *st)
{
    size_t size = (size_t)st->writes.n * sizeof(char *);

    for (int i = 0; i < st->writes.n; i++)
        size += strlen(st->writes.v[i]) + 1;
    return size + str_size(st->prepare_name) + str_size(st->execute_name) +
           str_size(st->deallocate_name) + str_size(st->new_search_path) +
           str_size(st->reason);
}

static char *put_str(char **cursor, const char *s)
{
    char *out;
    size_t len;

    if (s == NULL)
        return NULL;
    len = strlen(s) + 1;
    out = *cursor;
    memcpy(out, s, len);
    *cursor += len;
    return out;
}

static void pack_stmt(cl_stmt_t *st, classify_stmt_t *out, char ***ptrs,
                      char **cursor)
{
    out->kind = st->kind;
    out->flags = st->flags;
    out->nwrites = st->writes.n;
    out->writes = st->writes.n ? *ptrs : NULL;
    *ptrs += st->writes.n;
    for (int i = 0; i < st->writes.n; i++)
        out->writes[i] = put_str(cursor, st->writes.v[i]);
    out->prepare_name = put_str(cursor, st->prepare_name);
    out->execute_name = put_str(cursor, st->execute_name);
    out->deallocate_name = put_str(cursor, st->deallocate_name);
    out->new_search_path = put_str(cursor, st->new_search_path);
    out->reason = put_str(cursor, st->reason);
    out->location = st->location;
    out->length = st->length;
}

/* Lays a result out in one block so that copying it is one memcpy. */
static classify_result_t *pack(cl_stmt_t *st, int n, size_t *bytes)
{
    size_t size =
        sizeof(classify_result_t) + (size_t)n * sizeof(classify_stmt_t);
    size_t nptrs = 0;
    classify_result_t *res;
    char **ptrs, *cursor;

    for (int i = 0; i < n; i++) {
        strv_sort_unique(&st[i].writes);
        size += stmt_size(&st[i]);
        nptrs += (size_t)st[i].writes.n;
    }
    res = malloc(size);
    if (res == NULL)
        return NULL;
    res->n = n;
    res->stmts = n ? (classify_stmt_t *)(res + 1) : NULL;
    ptrs = (char **)((classify_stmt_t *)(res + 1) + n);
    cursor = (char *)(ptrs + nptrs);
    for (int i = 0; i < n; i++)
        pack_stmt(&st[i], &res->stmts[i], &ptrs, &cursor);
    *bytes = size;
    return res;
}

static void *relocate(const void *p, const void *from, void *to)
{
    return p ? (char *)to + ((const char *)p - (const char *)from) : NULL;
}

static classify_result_t *result_copy(const classify_result_t *src,
                                      size_t bytes)
{
    classify_result_t *dst = malloc(bytes);

    if (dst == NULL)
        return NULL;
    memcpy(dst, src, bytes);
    dst->stmts = relocate(src->stmts, src, dst);
    for (int i = 0; i < dst->n; i++) {
        classify_stmt_t *s = &dst->stmts[i];
        s->writes = relocate(s->writes, src, dst);
        for (int j = 0; j < s->nwrites; j++)
            s->writes[j] = relocate(s->writes[j], src, dst);
        s->prepare_name = relocate(s->prepare_name, src, dst);
        s->execute_name = relocate(s->execute_name, src, dst);
        s->deallocate_name = relocate(s->deallocate_name, src, dst);
        s->new_search_path = relocate(s->new_search_path, src, dst);
        s->reason = relocate(s->reason, src, dst);
    }
    return dst;
}

void classify_result_free(classify_result_t *res)
{
    free(res); /* one block: see pack() */
}

char **classify_result_writes(const classify_result_t *res, int *n)
{
    cl_strv_t all = {0};

    *n = 0;
    for (int i = 0; res && i < res->n; i++)
        for (int j = 0; j < res->stmts[i].nwrites; j++) {
            const char *w = res->stmts[i].writes[j];
            if (cl_strv_push(&all, w, strlen(w)) != 0) {
                cl_strv_clear(&all);
                return NULL;
            }
        }
    strv_sort_unique(&all);
    *n = all.n;
    return all.v;
}

void classify_strv_free(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- cache ---- */

/* Direct-mapped: a new entry replaces whatever held its slot. Texts over
 * CACHE_MAX_SQL bytes are never cached (bulk INSERTs rarely repeat), and
 * the whole cache is dropped when it would outgrow CACHE_MAX_BYTES. */
#define CACHE_SLOTS 4096
#define CACHE_MAX_SQL (64 * 1024)
#define CACHE_MAX_BYTES (32u * 1024 * 1024)

struct cache_slot {
    uint64_t hash;
    const classify_config_t *cfg;
    unsigned gen;
    char *key; /* sql NUL tag search_path NUL tag user NUL */
    size_t keylen;
    classify_result_t *res;
    size_t res_bytes;
};

static struct cache_slot cache[CACHE_SLOTS];
static int cache_used[CACHE_SLOTS]; /* slots that may hold an entry */
static unsigned char cache_listed[CACHE_SLOTS];
static int cache_nused;
static size_t cache_bytes;

/* Builds the key parts: a NULL search_path or user differs from "". */
static size_t key_parts(const char *sql, const char *sp, const char *user,
                        const char *p[5], size_t len[5])
{
    static const char nul_tag[] = "\1", val_tag[] = "\2";

    p[0] = sql;
    p[1] = sp ? val_tag : nul_tag;
    p[2] = sp ? sp : "";
    p[3] = user ? val_tag : nul_tag;
    p[4] = user ? user : "";
    for (int i = 0; i < 5; i++)
        len[i] = strlen(p[i]) + (i != 1 && i != 3);
    return len[0] + len[1] + len[2] + len[3] + len[4];
}

static uint64_t key_hash(const char *p[5], const size_t len[5],
                         const classify_config_t *cfg)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)(uintptr_t)cfg;

    for (int i = 0; i < 5; i++)
        for (size_t j = 0; j < len[i]; j++)
            h = (h ^ (unsigned char)p[i][j]) * 1099511628211ULL;
    return h;
}

static int key_equal(const struct cache_slot *s, const char *p[5],
                     const size_t len[5])
{
    size_t off = 0;

    for (int i = 0; i < 5; i++) {
        if (off + len[i] > s->keylen || memcmp(s->key + off, p[i], len[i]) != 0)
            return 0;
        off += len[i];
    }
    return off == s->keylen;
}

static void slot_drop(struct cache_slot *s)
{
    cache_bytes -= s->keylen + s->res_bytes;
    free(s->key);
    free(s->res);
    memset(s, 0, sizeof(*s));
}

void classify_cache_clear(void)
{
    for (int i = 0; i < cache_nused; i++) {
        if (cache[cache_used[i]].key)
            slot_drop(&cache[cache_used[i]]);
        cache_listed[cache_used[i]] = 0;
    }
    cache_nused = 0;
    cache_bytes = 0;
}

static classify_result_t *cache_get(const classify_config_t *cfg,
                                    const char *p[5], const size_t len[5],
                                    uint64_t h)
{
    struct cache_slot *s = &cache[h & (CACHE_SLOTS - 1)];

    if (s->key == NULL || s->hash != h || s->cfg != cfg || s->gen != cfg->gen ||
        !key_equal(s, p, len))
        return NULL;
    return result_copy(s->res, s->res_bytes);
}

static void cache_put(const classify_config_t *cfg, const char *p[5],
                      const size_t len[5], uint64_t h,
                      const classify_result_t *res, size_t bytes)
{
    int idx = (int)(h & (CACHE_SLOTS - 1));
    struct cache_slot *s = &cache[idx];
    size_t keylen = len[0] + len[1] + len[2] + len[3] + len[4], off = 0;

    if (len[0] > CACHE_MAX_SQL)
        return;
    if (s->key)
        slot_drop(s);
    if (cache_bytes + keylen + bytes > CACHE_MAX_BYTES)
        classify_cache_clear();
    s->key = malloc(keylen);
    s->res = result_copy(res, bytes);
    if (s->key == NULL || s->res == NULL) {
        free(s->key);
        free(s->res);
        memset(s, 0, sizeof(*s));
        return;
    }
    for (int i = 0; i < 5; i++) {
        memcpy(s->key + off, p[i], len[i]);
        off += len[i];
    }
    s->keylen = keylen;
    s->res_bytes = bytes;
    s->hash = h;
    s->cfg = cfg;
    s->gen = cfg->gen;
    cache_bytes += keylen + bytes;
    if (!cache_listed[idx]) {
        cache_listed[idx] = 1;
        cache_used[cache_nused++] = idx;
    }
}

/* ---- one classify_sql call ---- */

typedef struct cl_run {
    cl_ctx_t ctx;
    const char *sql;
    int len;
    cl_tok_t *tok;
    int ntok;
    cl_stmt_t *st;
    int nst;
    int capst;
} cl_run_t;

static void stmt_clear(cl_stmt_t *st)
{
    cl_strv_clear(&st->writes);
    free(st->prepare_name);
    free(st->execute_name);
    free(st->deallocate_name);
    free(st->new_search_path);
    free(st->reason);
    memset(st, 0, sizeof(*st));
}

static cl_stmt_t *run_add(cl_run_t *r, int location, int length)
{
    cl_stmt_t *st;

    if (r->nst == r->capst) {
        int cap = r->capst ? r->capst * 2 : 8;
        cl_stmt_t *nv = realloc(r->st, (size_t)cap * sizeof(*nv));
        if (nv == NULL) {
            r->ctx.nomem = 1;
            return NULL;
        }
        r->st = nv;
        r->capst = cap;
    }
    st = &r->st[r->nst++];
    memset(st, 0, sizeof(*st));
    st->kind = "UNKNOWN";
    st->location = location;
    st->length = length;
    return st;
}

static void run_drop_stmts(cl_run_t *r)
{
    for (int i = 0; i < r->nst; i++)
        stmt_clear(&r->st[i]);
    r->nst = 0;
}

/* The tokens lying within [from, to) of the text; tokens are in text
 * order, so the first is found by bisection (texts of many statements). */
static cl_toks_t run_slice(const cl_run_t *r, int from, int to)
{
    cl_toks_t ts = {r->sql, r->tok, 0};
    int lo = 0, hi = r->ntok;

    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (r->tok[mid].start < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    ts.t = r->tok + lo;
    while (lo + ts.n < r->ntok && r->tok[lo + ts.n].end <= to)
        ts.n++;
    return ts;
}

/* A statement's tokens: split at ';' outside parentheses, exactly as
 * pg_query_split_with_scanner does (an unbalanced ')' stops splitting), so
 * that both ways of splitting agree. */
typedef struct cl_group {
    int first;
    int n;
    int location;
    int length;
} cl_group_t;

static int is_tok(const cl_tok_t *t, char c)
{
    return t->tok == (int)(unsigned char)c;
}

static int group_tokens(const cl_run_t *r, cl_group_t **out)
{
    cl_group_t *g = malloc((size_t)(r->ntok + 1) * sizeof(*g));
    int ng = 0, depth = 0, start = 0, loc = 0;

    if (g == NULL)
        return -1;
    for (int i = 0; i <= r->ntok; i++) {
        const cl_tok_t *t = i < r->ntok ? &r->tok[i] : NULL;
        if (t && is_tok(t, '('))
            depth++;
        else if (t && is_tok(t, ')'))
            depth--;
        if (t && !(is_tok(t, ';') && depth == 0))
            continue;
        if (i > start)
            g[ng++] =
                (cl_group_t){start, i - start, loc, t ? t->start - loc : 0};
        start = i + 1;
        loc = t ? t->end : 0;
    }
    *out = g;
    return ng;
}

/* Decides one statement by tokens, sure rules or guesses alike. */
static void stmt_by_tokens(cl_run_t *r, cl_stmt_t *st, int from, int to,
                           const char *why)
{
    cl_toks_t ts = run_slice(r, from, to);

    if (cl_tokens_stmt(&r->ctx, st, ts, 0) != CL_TOK_SURE)
        cl_set_reason(&r->ctx, st, why);
}

static int stmt_end(const cl_run_t *r, int location, int length)
{
    return length > 0 ? location + length : r->len;
}

/* Parses text and classifies each statement it holds, shifting locations
 * by base; a statement that runs to the end of text gets length tail_len.
 * Returns 0, or -1 (parse error message in *err) and adds nothing. */
static int parse_and_walk(cl_run_t *r, const char *text, int base, int tail_len,
                          char *err, size_t errsize)
{
    PgQueryProtobufParseResult pr = pg_query_parse_protobuf(text);
    PgQuery__ParseResult *tree = NULL;

    if (pr.error) {
        snprintf(err, errsize, "not parsed: %s", pr.error->message);
        pg_query_free_protobuf_parse_result(pr);
        return -1;
    }
    tree = pg_query__parse_result__unpack(cl_arena(CL_ARENA_TREE),
                                          pr.parse_tree.len,
                                          (const uint8_t *)pr.parse_tree.data);
    pg_query_free_protobuf_parse_result(pr);
    if (tree == NULL) {
        cl_arena_reset(CL_ARENA_TREE);
        snprintf(err, errsize, "parse tree unreadable");
        return -1;
    }
    for (size_t i = 0; i < tree->n_stmts; i++) {
        const PgQuery__RawStmt *raw = tree->stmts[i];
        cl_stmt_t *st = run_add(r, base + raw->stmt_location,
                                raw->stmt_len ? raw->stmt_len : tail_len);
        if (st == NULL)
            break;
        cl_tree_stmt(&r->ctx, st, raw->stmt);
        if (st->too_deep) {
            int loc = st->location, len = st->length;
            stmt_clear(st);
            *st =
                (cl_stmt_t){.kind = "UNKNOWN", .location = loc, .length = len};
            stmt_by_tokens(r, st, loc, stmt_end(r, loc, len),
                           "too deeply nested to parse");
        }
    }
    cl_arena_reset(CL_ARENA_TREE);
    return 0;
}

static int deepest(const cl_run_t *r, const cl_group_t *g, int ng)
{
    int max = 0;

    for (int i = 0; i < ng; i++) {
        cl_toks_t ts = {r->sql, r->tok + g[i].first, g[i].n};
        int d = cl_tokens_depth(ts);
        if (d > max)
            max = d;
    }
    return max;
}

/* One statement of a text the parser rejected as a whole. */
static void split_stmt(cl_run_t *r, int loc, int len)
{
    int end = stmt_end(r, loc, len);
    cl_toks_t ts = run_slice(r, loc, end);
    char err[256] = "too deeply nested to parse";
    cl_stmt_t *st;
    char *text;

    if (ts.n == 0)
        return;
    if (end >= r->len)
        len = 0; /* to the end of the text, as the parser reports it */
    if (fast_path_on) {
        st = run_add(r, loc, len);
        if (st == NULL || cl_tokens_stmt(&r->ctx, st, ts, 1) == CL_TOK_SURE)
            return;
        r->nst--;
    }
    text = strndup(r->sql + loc, (size_t)(end - loc));
    if (text == NULL) {
        r->ctx.nomem = 1;
        return;
    }
    if (cl_tokens_depth(ts) > MAX_TREE_DEPTH ||
        parse_and_walk(r, text, loc, len, err, sizeof(err)) != 0) {
        st = run_add(r, loc, len);
        if (st)
            stmt_by_tokens(r, st, loc, end, err);
    }
    free(text);
}

/* Whether the split kept every token but the separators: libpg_query's
 * splitter drops a statement that holds no keyword ("foo bar t"), and a
 * dropped statement could hide a write. */
static int split_covers(const cl_run_t *r, const PgQuerySplitResult *sp)
{
    int inside = 0, total = 0;

    for (int i = 0; i < r->ntok; i++)
        total += !is_tok(&r->tok[i], ';');
    for (int k = 0; k < sp->n_stmts; k++) {
        int loc = sp->stmts[k]->stmt_location;
        cl_toks_t ts =
            run_slice(r, loc, stmt_end(r, loc, sp->stmts[k]->stmt_len));
        for (int i = 0; i < ts.n; i++)
            inside += !is_tok(&ts.t[i], ';');
    }
    return inside == total;
}

/* The text did not parse as a whole (Redshift dialect, a typo): each
 * statement is parsed alone, and decided by tokens where that fails. */
static void classify_split(cl_run_t *r, const cl_group_t *g, int ng)
{
    PgQuerySplitResult sp = pg_query_split_with_scanner(r->sql);

    if (sp.error == NULL && split_covers(r, &sp)) {
        for (int i = 0; i < sp.n_stmts; i++)
            split_stmt(r, sp.stmts[i]->stmt_location, sp.stmts[i]->stmt_len);
    } else {
        for (int i = 0; i < ng; i++)
            split_stmt(r, g[i].location, g[i].length);
    }
    pg_query_free_split_result(sp);
}

/* The scanner gave up (an unterminated quote or comment): the server
 * rejects such a text whole, but we cannot tell how far it reads, so any
 * target named before the error counts. */
static void classify_unscannable(cl_run_t *r)
{
    cl_stmt_t *st = run_add(r, 0, 0);
    cl_toks_t ts = {r->sql, r->tok, r->ntok};

    if (st == NULL)
        return;
    cl_tokens_doubt(&r->ctx, st, ts);
    st->flags |= CLASSIFY_F_GUESSED;
    cl_set_reason(&r->ctx, st, "not scannable: unterminated quote or comment");
}

/* CREATE FUNCTION ... BEGIN ATOMIC ... END holds ';' that do not end the
 * statement: only the parser splits such a text right. */
static int has_begin_atomic(const cl_run_t *r)
{
    for (int i = 0; i + 1 < r->ntok; i++)
        if (r->tok[i].tok == PG_QUERY__TOKEN__BEGIN_P &&
            r->tok[i + 1].tok == PG_QUERY__TOKEN__ATOMIC)
            return 1;
    return 0;
}

/*
 * The fast path decides each statement by sure token rules and parses only
 * the statements those rules leave open, one at a time; protobuf output is
 * most of the cost of a parse. With the fast path off (tests), the parse
 * tree decides everything it can, and the parser's split is authoritative.
 */
static void classify_text(cl_run_t *r)
{
    cl_group_t *g = NULL;
    int errpos, ng;
    char err[256];

    if (cl_scan(r->sql, &r->tok, &r->ntok, &errpos) != 0) {
        classify_unscannable(r);
        return;
    }
    ng = group_tokens(r, &g);
    if (ng < 0) {
        r->ctx.nomem = 1;
        return;
    }
    if (ng == 0) {
        free(g);
        return;
    }
    if (fast_path_on && !has_begin_atomic(r)) {
        for (int i = 0; i < ng; i++)
            split_stmt(r, g[i].location, g[i].length);
    } else if (deepest(r, g, ng) > MAX_TREE_DEPTH ||
               parse_and_walk(r, r->sql, 0, 0, err, sizeof(err)) != 0) {
        run_drop_stmts(r);
        classify_split(r, g, ng);
    }
    free(g);
}

classify_result_t *classify_sql(const classify_config_t *cfg, const char *sql,
                                const char *search_path, const char *user)
{
    cl_run_t r = {.sql = sql ? sql : ""};
    classify_result_t *res = NULL;
    const char *p[5];
    size_t len[5], bytes;
    uint64_t h = 0;

    if (cfg == NULL)
        return NULL;
    key_parts(r.sql, search_path, user, p, len);
    if (len[0] > INT_MAX)
        return NULL; /* offsets are int, as in libpg_query */
    if (len[0] <= CACHE_MAX_SQL) {
        h = key_hash(p, len, cfg);
        res = cache_get(cfg, p, len, h);
        if (res)
            return res;
    }
    r.len = (int)len[0] - 1;
    r.ctx.cfg = cfg;
    r.ctx.user = user;
    path_parse(&r.ctx, search_path ? search_path : DEFAULT_SEARCH_PATH);
    classify_text(&r);
    if (!r.ctx.nomem)
        res = pack(r.st, r.nst, &bytes);
    if (res)
        cache_put(cfg, p, len, h, res, bytes);
    run_drop_stmts(&r);
    free(r.st);
    free(r.tok);
    cl_strv_clear(&r.ctx.path);
    return res;
}
