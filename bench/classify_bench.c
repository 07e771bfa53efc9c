/*
 * Micro-benchmark of the write classifier: statements classified per
 * second of CPU time on one core, over the corpus in tests/classify, with
 * the cache warm and with it cleared before every call. Prints both for the
 * whole corpus and for the ETL shapes alone (etl.sql).
 * Usage: classify-bench [-t SECONDS] [CORPUS_DIR]
 */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/classify.h"

#define LINE_LEN 4096

typedef struct text {
    char *sql;
    int etl; /* from etl.sql */
} text_t;

typedef struct corpus {
    text_t *v;
    int n;
    int cap;
} corpus_t;

static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int is_header(const char *line)
{
    static const char *const heads[] = {
        "-- expect:", "-- case:",   "-- search_path:",
        "-- user:",   "-- target:", "-- procedure:"};

    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++)
        if (strncmp(line, heads[i], strlen(heads[i])) == 0)
            return 1;
    return 0;
}

static void add_text(corpus_t *c, char *sql, int etl)
{
    if (sql == NULL)
        return;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->v = realloc(c->v, (size_t)c->cap * sizeof(*c->v));
        if (c->v == NULL)
            exit(1);
    }
    c->v[c->n++] = (text_t){sql, etl};
}

static void append(char **sql, const char *line)
{
    size_t old = *sql ? strlen(*sql) : 0;
    char *n = realloc(*sql, old + strlen(line) + 1);

    if (n == NULL)
        exit(1);
    strcpy(n + old, line);
    *sql = n;
}

/* One text per corpus case; every file's targets go into one config. */
static void load_file(const char *path, corpus_t *c, classify_config_t *cfg)
{
    FILE *f = fopen(path, "r");
    char line[LINE_LEN], *sql = NULL;
    int etl = strstr(path, "/etl.sql") != NULL;

    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "-- target:", 10) == 0) {
            line[strcspn(line, "\n")] = '\0';
            classify_config_add_target(cfg, line + 10);
        }
        if (is_header(line)) {
            add_text(c, sql, etl);
            sql = NULL;
        } else {
            append(&sql, line);
        }
    }
    add_text(c, sql, etl);
    fclose(f);
}

typedef struct rate {
    double stmts_per_s;
    long calls;
} rate_t;

/* Runs the chosen texts over and over for secs of CPU time. */
static rate_t measure(const classify_config_t *cfg, const corpus_t *c,
                      int etl_only, int cached, double secs)
{
    double start = cpu_now(), now = start;
    long stmts = 0, calls = 0;

    while (now - start < secs) {
        for (int i = 0; i < c->n; i++) {
            classify_result_t *r;
            if (etl_only && !c->v[i].etl)
                continue;
            if (!cached)
                classify_cache_clear();
            r = classify_sql(cfg, c->v[i].sql, NULL, "etl");
            stmts += r ? r->n : 0;
            calls++;
            classify_result_free(r);
        }
        now = cpu_now();
    }
    return (rate_t){(double)stmts / (now - start), calls};
}

static void report(const classify_config_t *cfg, const corpus_t *c,
                   int etl_only, double secs)
{
    rate_t warm, cold;

    classify_cache_clear();
    measure(cfg, c, etl_only, 1, 0.05); /* fill the cache */
    warm = measure(cfg, c, etl_only, 1, secs);
    cold = measure(cfg, c, etl_only, 0, secs);
    printf("%-8s cached %10.0f stmts/s   uncached %9.0f stmts/s   (%ld + %ld "
           "calls)\n",
           etl_only ? "etl.sql" : "corpus", warm.stmts_per_s, cold.stmts_per_s,
           warm.calls, cold.calls);
}

int main(int argc, char **argv)
{
    const char *dir = "tests/classify";
    classify_config_t *cfg = classify_config_new();
    corpus_t c = {0};
    double secs = 2.0;
    char pattern[1024];
    glob_t g;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            secs = atof(argv[++i]);
        else
            dir = argv[i];
    }
    snprintf(pattern, sizeof(pattern), "%s/*.sql", dir);
    if (glob(pattern, 0, NULL, &g) != 0) {
        fprintf(stderr, "classify-bench: no corpus at %s\n", pattern);
        return 1;
    }
    for (size_t i = 0; i < g.gl_pathc; i++)
        load_file(g.gl_pathv[i], &c, cfg);
    globfree(&g);
    printf("%d texts from %s; rates are per second of CPU time on one core\n",
           c.n, dir);
    report(cfg, &c, 0, secs);
    report(cfg, &c, 1, secs);
    for (int i = 0; i < c.n; i++)
        free(c.v[i].sql);
    free(c.v);
    classify_config_free(cfg);
    classify_cache_clear();
    return 0;
}
