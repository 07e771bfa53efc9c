/*
 * Unit test of the write classifier: runs every case of the corpus under
 * tests/classify, once with the token fast path and once with the
 * parse tree alone (both must agree with the corpus), then API checks.
 * Prints each failure with its input and the difference; last line
 * "N passed, M failed".
 */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/classify.h"
#include "proxy/classify_int.h"

#define MAX_EXPECT 64
#define LINE_MAX_LEN 4096

typedef struct tcase {
    const char *file;
    int line;
    char *sql;
    size_t sqllen;
    char *search_path;
    char *user;
    char *expect[MAX_EXPECT];
    int nexpect;
} tcase_t;

static int passed, failed, verbose;

static void check(int ok, const char *what)
{
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL: %s\n", what);
    }
}

/* ---- canonical text of a statement ---- */

static const struct {
    unsigned flag;
    const char *word;
} flag_words[] = {
    {CLASSIFY_F_BEGIN, "begin"},
    {CLASSIFY_F_END, "end"},
    {CLASSIFY_F_SAVEPOINT, "savepoint"},
    {CLASSIFY_F_IMPLICIT_COMMIT, "implicit_commit"},
    {CLASSIFY_F_SEARCH_PATH, "search_path"},
    {CLASSIFY_F_LOCAL, "local"},
    {CLASSIFY_F_GUESSED, "guessed"},
};
#define NFLAGS (sizeof(flag_words) / sizeof(flag_words[0]))

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void append(char *buf, size_t size, const char *fmt, const char *a,
                   const char *b)
{
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, fmt, a, b);
}

static void canon(char *buf, size_t size, const char *kind, char **writes,
                  int nwrites, unsigned flags, const char *names[3],
                  const char *path)
{
    static const char *const name_keys[3] = {"prepare", "execute",
                                             "deallocate"};
    int first = 1;

    snprintf(buf, size, "%s", kind);
    qsort(writes, (size_t)nwrites, sizeof(char *), cmp_str);
    for (int i = 0; i < nwrites; i++)
        append(buf, size, "%s%s", i ? "," : " writes=", writes[i]);
    for (size_t i = 0; i < NFLAGS; i++)
        if (flags & flag_words[i].flag) {
            append(buf, size, "%s%s", first ? " flags=" : ",",
                   flag_words[i].word);
            first = 0;
        }
    for (int i = 0; i < 3; i++)
        if (names[i])
            append(buf, size, " %s=%s", name_keys[i],
                   *names[i] ? names[i] : "ALL");
    if (path)
        append(buf, size, " %s%s", "path=", path);
}

static void canon_stmt(char *buf, size_t size, const classify_stmt_t *s)
{
    char *w[256];
    const char *names[3] = {s->prepare_name, s->execute_name,
                            s->deallocate_name};
    int n = s->nwrites < 256 ? s->nwrites : 256;

    if (n > 0)
        memcpy(w, s->writes, (size_t)n * sizeof(char *));
    canon(buf, size, s->kind, w, n, s->flags, names, s->new_search_path);
}

/* Applies one "key=value" attribute of an expect line. */
static void expect_attr(char *attr, char **writes, int *nwrites,
                        unsigned *flags, const char *names[3])
{
    static const char *const keys[3] = {"prepare=", "execute=", "deallocate="};
    char *eq = strchr(attr, '='), *save = NULL;

    if (strncmp(attr, "writes=", 7) == 0) {
        for (char *w = strtok_r(eq + 1, ",", &save); w && *nwrites < 256;
             w = strtok_r(NULL, ",", &save))
            writes[(*nwrites)++] = w;
    } else if (strncmp(attr, "flags=", 6) == 0) {
        for (char *f = strtok_r(eq + 1, ",", &save); f;
             f = strtok_r(NULL, ",", &save))
            for (size_t i = 0; i < NFLAGS; i++)
                if (strcmp(f, flag_words[i].word) == 0)
                    *flags |= flag_words[i].flag;
    } else {
        for (int i = 0; i < 3; i++)
            if (strncmp(attr, keys[i], strlen(keys[i])) == 0)
                names[i] = strcmp(eq + 1, "ALL") == 0 ? "" : eq + 1;
    }
}

/* Parses "KIND [writes=a,b] [flags=x,y] [prepare=p] ... [path=rest of line]".
 * A word without '=' after an attribute continues it (names with spaces). */
static void canon_expect(char *buf, size_t size, const char *line)
{
    char copy[LINE_MAX_LEN], kind[256] = "", *writes[256], *attrs[16];
    const char *names[3] = {NULL, NULL, NULL}, *path = NULL;
    char *p = strstr(line, " path="), *save = NULL, *tok;
    unsigned flags = 0;
    int nwrites = 0, nattrs = 0;

    snprintf(copy, sizeof(copy), "%s", line);
    if (p) {
        copy[p - line] = '\0';
        path = p + 6;
    }
    for (tok = strtok_r(copy, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save)) {
        if (strchr(tok, '=') && nattrs < 16)
            attrs[nattrs++] = tok;
        else if (nattrs == 0)
            append(kind, sizeof(kind), "%s%s", *kind ? " " : "", tok);
        else
            tok[-1] = ' '; /* rejoin with the attribute before it */
    }
    for (int i = 0; i < nattrs; i++)
        expect_attr(attrs[i], writes, &nwrites, &flags, names);
    canon(buf, size, kind, writes, nwrites, flags, names, path);
}

/* ---- corpus ---- */

static void show_case(const tcase_t *c, const char *mode)
{
    printf("FAIL %s:%d (%s)\n--- input ---\n%s", c->file, c->line, mode,
           c->sql);
    if (c->sqllen == 0 || c->sql[c->sqllen - 1] != '\n')
        printf("\n");
    if (c->search_path)
        printf("--- search_path: %s\n", c->search_path);
}

static void run_case(const classify_config_t *cfg, const tcase_t *c,
                     const char *mode)
{
    classify_result_t *res = classify_sql(cfg, c->sql, c->search_path, c->user);
    char got[LINE_MAX_LEN], want[LINE_MAX_LEN];
    int ok = res != NULL && res->n == c->nexpect, shown = 0;

    for (int i = 0; res && i < res->n && i < c->nexpect; i++) {
        canon_stmt(got, sizeof(got), &res->stmts[i]);
        canon_expect(want, sizeof(want), c->expect[i]);
        if (strcmp(got, want) != 0 || verbose) {
            if (!shown++ && strcmp(got, want) != 0)
                show_case(c, mode);
            printf("  statement %d\n    want: %s\n    got:  %s%s%s\n", i + 1,
                   want, got, res->stmts[i].reason ? "  reason: " : "",
                   res->stmts[i].reason ? res->stmts[i].reason : "");
            ok &= strcmp(got, want) == 0;
        }
    }
    if (res == NULL || res->n != c->nexpect) {
        if (!shown++)
            show_case(c, mode);
        printf("  want %d statements, got %d\n", c->nexpect, res ? res->n : -1);
        for (int i = 0; res && i < res->n; i++) {
            canon_stmt(got, sizeof(got), &res->stmts[i]);
            printf("    got %d: %s\n", i + 1, got);
        }
    }
    ok ? passed++ : failed++;
    classify_result_free(res);
}

static void run_both(const classify_config_t *cfg, tcase_t *c)
{
    if (c->nexpect == 0 && c->sql == NULL)
        return;
    if (c->sql == NULL)
        c->sql = strdup("");
    classify_debug_set_fast_path(1);
    run_case(cfg, c, "fast path");
    classify_debug_set_fast_path(0);
    run_case(cfg, c, "parse tree");
    classify_debug_set_fast_path(1);
}

static void case_free(tcase_t *c, const char *file)
{
    free(c->sql);
    free(c->search_path);
    free(c->user);
    for (int i = 0; i < c->nexpect; i++)
        free(c->expect[i]);
    memset(c, 0, sizeof(*c));
    c->file = file;
}

static char *trim(char *s)
{
    size_t len;

    while (*s == ' ' || *s == '\t')
        s++;
    len = strlen(s);
    while (len &&
           (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' '))
        s[--len] = '\0';
    return s;
}

/* File directives: targets, procedures. */
static int directive(classify_config_t *cfg, const char *line, const char *file,
                     int lineno)
{
    char buf[LINE_MAX_LEN], *eq;
    int rc = 0;

    if (strncmp(line, "-- target:", 10) == 0) {
        snprintf(buf, sizeof(buf), "%s", line + 10);
        rc = classify_config_add_target(cfg, trim(buf));
    } else if (strncmp(line, "-- procedure:", 13) == 0) {
        snprintf(buf, sizeof(buf), "%s", line + 13);
        eq = strchr(buf, '=');
        rc = eq ? (*eq = '\0',
                   classify_config_add_procedure(cfg, trim(buf), trim(eq + 1)))
                : -EINVAL;
    } else {
        return 0;
    }
    if (rc != 0) {
        printf("FAIL %s:%d: bad directive: %s", file, lineno, line);
        failed++;
    }
    return 1;
}

static int header(tcase_t *c, const char *line)
{
    char buf[LINE_MAX_LEN];

    if (strncmp(line, "-- expect:", 10) == 0) {
        snprintf(buf, sizeof(buf), "%s", line + 10);
        if (strcmp(trim(buf), "none") != 0 && c->nexpect < MAX_EXPECT)
            c->expect[c->nexpect++] = strdup(trim(buf));
        return 1;
    }
    if (strncmp(line, "-- search_path:", 15) == 0) {
        snprintf(buf, sizeof(buf), "%s", line + 15);
        free(c->search_path);
        c->search_path = strdup(trim(buf));
        return 1;
    }
    if (strncmp(line, "-- user:", 8) == 0) {
        snprintf(buf, sizeof(buf), "%s", line + 8);
        free(c->user);
        c->user = strdup(trim(buf));
        return 1;
    }
    return strncmp(line, "-- case:", 8) == 0;
}

static void add_sql(tcase_t *c, const char *line)
{
    size_t len = strlen(line);
    char *n = realloc(c->sql, c->sqllen + len + 1);

    if (n == NULL)
        return;
    memcpy(n + c->sqllen, line, len + 1);
    c->sql = n;
    c->sqllen += len;
}

static void finish(const classify_config_t *cfg, tcase_t *c, const char *file)
{
    if (c->user == NULL)
        c->user = strdup("etl");
    run_both(cfg, c);
    case_free(c, file);
}

static int is_header(const char *line)
{
    return strncmp(line, "-- expect:", 10) == 0 ||
           strncmp(line, "-- search_path:", 15) == 0 ||
           strncmp(line, "-- user:", 8) == 0 ||
           strncmp(line, "-- case:", 8) == 0;
}

/* A case is its header lines and the SQL lines after them, up to the
 * next header line. */
static void run_file(const char *path)
{
    classify_config_t *cfg = classify_config_new();
    FILE *f = fopen(path, "r");
    char line[LINE_MAX_LEN];
    tcase_t c = {.file = path};
    int lineno = 0;

    if (f == NULL) {
        printf("FAIL: cannot open %s\n", path);
        failed++;
        classify_config_free(cfg);
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        if (directive(cfg, line, path, lineno))
            continue;
        if (is_header(line)) {
            if (c.sql)
                finish(cfg, &c, path);
            if (c.line == 0)
                c.line = lineno;
            header(&c, line);
        } else if (c.line != 0) {
            add_sql(&c, line);
        }
    }
    if (c.line != 0)
        finish(cfg, &c, path);
    case_free(&c, path);
    fclose(f);
    classify_config_free(cfg);
}

static void run_corpus(const char *dir)
{
    char pattern[1024];
    glob_t g;

    snprintf(pattern, sizeof(pattern), "%s/*.sql", dir);
    if (glob(pattern, 0, NULL, &g) != 0) {
        printf("FAIL: no corpus at %s\n", pattern);
        failed++;
        return;
    }
    for (size_t i = 0; i < g.gl_pathc; i++)
        run_file(g.gl_pathv[i]);
    globfree(&g);
}

/* ---- API checks ---- */

static void test_config(void)
{
    classify_config_t *cfg = classify_config_new();
    const char *pat = NULL;

    check(classify_config_add_target(cfg, "fact_sales") == -EINVAL,
          "one-part target refused");
    check(classify_config_add_target(cfg, "a.b.c") == -EINVAL,
          "three-part target refused");
    check(classify_config_add_target(cfg, "") == -EINVAL,
          "empty target refused");
    check(classify_config_add_target(cfg, "\"open.x") == -EINVAL,
          "unterminated quote refused");
    check(classify_config_add_target(cfg, "a.") == -EINVAL,
          "empty table part refused");
    check(classify_config_add_target(cfg, "Public.\"Fact Sales\"") == 0,
          "quoted target");
    check(classify_config_add_target(cfg, "analytics.fact_*") == 0,
          "pattern target");
    check(classify_target_match(cfg, "public.Fact Sales", &pat) == 1 && pat &&
              strcmp(pat, "Public.\"Fact Sales\"") == 0,
          "quoted target matches exact name and reports its entry");
    check(classify_target_match(cfg, "public.fact sales", NULL) == 0,
          "quoted stays exact");
    check(classify_target_match(cfg, "analytics.fact_orders", NULL) == 1,
          "pattern matches");
    check(classify_target_match(cfg, "analytics.dim_date", NULL) == 0,
          "pattern refuses");
    check(classify_target_match(cfg, "nodot", NULL) == 0,
          "name without schema");
    check(classify_config_add_procedure(cfg, "etl.load", "public.a, \"X\".b") ==
              0,
          "procedure added");
    check(classify_config_add_procedure(cfg, "etl.load", "public.a*") ==
              -EINVAL,
          "procedure tables must be exact");
    check(classify_config_add_procedure(cfg, "etl.load", "a") == -EINVAL,
          "procedure tables need a schema");
    classify_config_free(cfg);
}

static classify_config_t *small_config(void)
{
    classify_config_t *cfg = classify_config_new();

    classify_config_add_target(cfg, "public.fact_sales");
    classify_config_add_target(cfg, "public.manifest");
    return cfg;
}

static void test_cache_and_union(void)
{
    classify_config_t *cfg = small_config();
    const char *sql =
        "BEGIN; INSERT INTO fact_sales SELECT 1; UPDATE manifest SET n = 1; "
        "INSERT INTO public.fact_sales VALUES (2); COMMIT";
    classify_result_t *a = classify_sql(cfg, sql, NULL, "etl");
    classify_result_t *b = classify_sql(cfg, sql, NULL, "etl");
    char **w;
    int n = 0;

    check(a && b && a != b && a->n == 5 && b->n == 5,
          "cached copy is a separate result");
    check(a && b && a->stmts[1].writes != b->stmts[1].writes &&
              strcmp(b->stmts[1].writes[0], "public.fact_sales") == 0,
          "cached copy owns its strings");
    w = classify_result_writes(a, &n);
    check(n == 2 && strcmp(w[0], "public.fact_sales") == 0 &&
              strcmp(w[1], "public.manifest") == 0,
          "union of writes is sorted and unique");
    classify_strv_free(w, n);
    classify_result_free(a);
    classify_result_free(b);
    a = classify_sql(cfg, sql, "etl", "etl");
    check(a && a->stmts[1].nwrites == 0,
          "search_path is part of the cache key");
    classify_result_free(a);
    classify_config_add_target(cfg, "etl.*");
    a = classify_sql(cfg, sql, "etl", "etl");
    check(a && a->stmts[1].nwrites == 1 &&
              strcmp(a->stmts[1].writes[0], "etl.fact_sales") == 0,
          "changing the config invalidates cached results");
    classify_result_free(a);
    classify_config_free(cfg);
}

static void test_locations(void)
{
    classify_config_t *cfg = small_config();
    const char *sql = "BEGIN; SELECT 1;\n-- c\n COMMIT";
    int want[3][2] = {{0, 5}, {6, 9}, {16, 0}};

    for (int fast = 1; fast >= 0; fast--) {
        classify_result_t *r;
        int ok;
        classify_debug_set_fast_path(fast);
        r = classify_sql(cfg, sql, NULL, NULL);
        ok = r && r->n == 3;
        for (int i = 0; ok && i < 3; i++)
            ok = r->stmts[i].location == want[i][0] &&
                 r->stmts[i].length == want[i][1];
        check(ok, fast ? "statement locations (fast path)"
                       : "statement locations (tree)");
        classify_result_free(r);
    }
    classify_debug_set_fast_path(1);
    classify_config_free(cfg);
}

static void test_odd_inputs(void)
{
    classify_config_t *cfg = small_config();
    classify_result_t *r = classify_sql(cfg, NULL, NULL, NULL);
    size_t big = 200000;
    char *s = malloc(big * 2 + 64);

    check(r && r->n == 0, "NULL text has no statements");
    classify_result_free(r);
    r = classify_sql(cfg, " -- only a comment\n", NULL, NULL);
    check(r && r->n == 0, "comment-only text has no statements");
    classify_result_free(r);
    strcpy(s, "INSERT INTO fact_sales SELECT 1");
    for (size_t i = 0, len = strlen(s); i < 20000; i++, len += 2)
        memcpy(s + len, "+1", 3);
    r = classify_sql(cfg, s, NULL, NULL);
    check(r && r->n == 1 && r->stmts[0].nwrites == 1,
          "20000 chained operators");
    classify_result_free(r);
    memset(s, '(', big);
    strcpy(s + big, "1");
    r = classify_sql(cfg, s, NULL, NULL);
    check(r != NULL, "200000 open parentheses do not crash");
    classify_result_free(r);
    free(s);
    classify_config_free(cfg);
}

int main(int argc, char **argv)
{
    const char *dir = getenv("CLASSIFY_CORPUS");

    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else
            dir = argv[i];
    run_corpus(dir ? dir : "tests/classify");
    test_config();
    test_cache_and_union();
    test_locations();
    test_odd_inputs();
    classify_cache_clear();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
