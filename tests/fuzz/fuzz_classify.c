/* fuzz-sources: proxy/classify.c proxy/classify_tree.c proxy/classify_tokens.c */
/* fuzz-seeds: tests/classify */
/*
 * libFuzzer target for the write classifier: any bytes, taken as SQL, must
 * classify without a crash, a leak or a sanitizer report. It also checks
 * what must hold of every result: a cached copy equals the first answer,
 * every write matches a target, and the token fast path agrees with the
 * parse tree alone.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/classify.h"
#include "proxy/classify_int.h"

static classify_config_t *cfg;

static void setup(void)
{
    cfg = classify_config_new();
    classify_config_add_target(cfg, "public.fact_sales");
    classify_config_add_target(cfg, "analytics.fact_*");
    classify_config_add_target(cfg, "etl.checkpoints");
    classify_config_add_target(cfg, "\"Sales\".\"Daily Totals\"");
    classify_config_add_procedure(cfg, "etl.load_sales",
                                  "public.fact_sales, etl.checkpoints");
}

static int str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static int stmt_eq(const classify_stmt_t *a, const classify_stmt_t *b)
{
    if (strcmp(a->kind, b->kind) != 0 || a->flags != b->flags ||
        a->nwrites != b->nwrites || a->location != b->location ||
        a->length != b->length || !str_eq(a->prepare_name, b->prepare_name) ||
        !str_eq(a->execute_name, b->execute_name) ||
        !str_eq(a->deallocate_name, b->deallocate_name) ||
        !str_eq(a->new_search_path, b->new_search_path))
        return 0;
    for (int i = 0; i < a->nwrites; i++)
        if (strcmp(a->writes[i], b->writes[i]) != 0)
            return 0;
    return 1;
}

static void expect_same(const classify_result_t *a, const classify_result_t *b,
                        const char *what, const char *sql)
{
    int same = a && b && a->n == b->n;

    for (int i = 0; same && i < a->n; i++)
        same = stmt_eq(&a->stmts[i], &b->stmts[i]);
    if (!same) {
        fprintf(stderr, "%s differ for input:\n%s\n", what, sql);
        for (int i = 0; a && b && i < a->n && i < b->n; i++)
            fprintf(stderr, "  %d: %s/%u/%d@%d+%d vs %s/%u/%d@%d+%d\n", i,
                    a->stmts[i].kind, a->stmts[i].flags, a->stmts[i].nwrites,
                    a->stmts[i].location, a->stmts[i].length, b->stmts[i].kind,
                    b->stmts[i].flags, b->stmts[i].nwrites,
                    b->stmts[i].location, b->stmts[i].length);
        abort();
    }
}

static void expect_targets(const classify_result_t *r)
{
    for (int i = 0; r && i < r->n; i++)
        for (int j = 0; j < r->stmts[i].nwrites; j++)
            if (!classify_target_match(cfg, r->stmts[i].writes[j], NULL)) {
                fprintf(stderr, "write %s matches no target\n",
                        r->stmts[i].writes[j]);
                abort();
            }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *sql = malloc(size + 1);
    classify_result_t *a, *b, *c, *d;

    if (sql == NULL)
        return 0;
    memcpy(sql, data, size);
    sql[size] = '\0';
    if (cfg == NULL)
        setup();
    a = classify_sql(cfg, sql, NULL, "etl");
    b = classify_sql(cfg, sql, "analytics, \"Sales\", public", NULL);
    c = classify_sql(cfg, sql, NULL, "etl");
    expect_same(a, c, "fresh and cached results", sql);
    expect_targets(a);
    expect_targets(b);
    classify_debug_set_fast_path(0);
    d = classify_sql(cfg, sql, NULL, "etl");
    classify_debug_set_fast_path(1);
    expect_same(a, d, "fast path and parse tree", sql);
    classify_result_free(a);
    classify_result_free(b);
    classify_result_free(c);
    classify_result_free(d);
    classify_cache_clear();
    free(sql);
    return 0;
}
