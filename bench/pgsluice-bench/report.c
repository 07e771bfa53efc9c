/*
 * Text and CSV output of the benchmark. Columns are documented in
 * docs/benchmarks.md; keep the two in step.
 */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#define CSV_HEADER                                                             \
    "scenario,mode,concurrency,rep,jobs,succeeded,failures,retries,"           \
    "makespan_ms,p50_ms,p95_ms,max_ms,rows_per_s,reader_p50_ms,"               \
    "reader_p95_ms,data_ok\n"

static const char *data_word(int data_ok)
{
    return data_ok == 1 ? "ok" : data_ok == 0 ? "BAD" : "n/a";
}

void report_print_header(FILE *out)
{
    fprintf(out,
            "%-3s %-17s %3s %3s %9s %5s %7s %9s %7s %7s %7s %8s %6s "
            "%6s %-4s %s\n",
            "scn", "mode", "K", "rep", "ok/jobs", "fail", "retries", "makespan",
            "p50", "p95", "max", "rows/s", "rd_p50", "rd_p95", "data",
            "failures by SQLSTATE");
}

void report_print_row(FILE *out, const struct report_entry *e)
{
    const struct run_result *r = &e->r;
    char fails[160], retries[24], rd50[16] = "-", rd95[16] = "-", ok[16];

    stats_tally_format(&r->failures, fails, sizeof(fails));
    snprintf(ok, sizeof(ok), "%d/%d", r->succeeded, r->jobs);
    if (r->retries < 0)
        snprintf(retries, sizeof(retries), "n/a");
    else
        snprintf(retries, sizeof(retries), "%ld", r->retries);
    if (r->reads) {
        snprintf(rd50, sizeof(rd50), "%.1f", r->reader_p50_ms);
        snprintf(rd95, sizeof(rd95), "%.1f", r->reader_p95_ms);
    }
    fprintf(out,
            "%-3d %-17s %3d %3d %9s %5ld %7s %9.0f %7.0f %7.0f %7.0f "
            "%8.0f %6s %6s %-4s %s\n",
            e->scenario, e->mode, e->concurrency, e->rep, ok, r->failures.total,
            retries, r->makespan_ms, r->p50_ms, r->p95_ms, r->max_ms,
            r->rows_per_s, rd50, rd95, data_word(r->data_ok), fails);
    if (r->read_failures.total) {
        stats_tally_format(&r->read_failures, fails, sizeof(fails));
        fprintf(out, "    readers: %ld queries, failures %s\n", r->reads,
                fails);
    }
    fflush(out);
}

int report_append_csv(const char *path, const struct report_entry *e)
{
    const struct run_result *r = &e->r;
    FILE *f = fopen(path, "a");

    if (!f)
        return -1;
    if (ftell(f) == 0)
        fputs(CSV_HEADER, f);
    fprintf(f,
            "%d,%s,%d,%d,%d,%d,%ld,%ld,%.1f,%.1f,%.1f,%.1f,%.0f,%.1f,"
            "%.1f,%d\n",
            e->scenario, e->mode, e->concurrency, e->rep, r->jobs, r->succeeded,
            r->failures.total, r->retries, r->makespan_ms, r->p50_ms, r->p95_ms,
            r->max_ms, r->rows_per_s, r->reader_p50_ms, r->reader_p95_ms,
            r->data_ok == 1);
    return fclose(f) == 0 ? 0 : -1;
}

/* Aggregate of every repetition of one (scenario, concurrency, mode). */
struct group {
    int scenario, concurrency, reps, jobs, succeeded, data_ok;
    const char *mode;
    long failures, retries;
    double makespan[256], p95[256];
};

static struct group *find_group(struct group *g, size_t *ng,
                                const struct report_entry *e)
{
    for (size_t i = 0; i < *ng; i++)
        if (g[i].scenario == e->scenario &&
            g[i].concurrency == e->concurrency &&
            strcmp(g[i].mode, e->mode) == 0)
            return &g[i];
    memset(&g[*ng], 0, sizeof(g[*ng]));
    g[*ng].scenario = e->scenario;
    g[*ng].concurrency = e->concurrency;
    g[*ng].mode = e->mode;
    return &g[(*ng)++];
}

static double group_median(const struct group *g, const char *mode,
                           const struct group *all, size_t n)
{
    double v[256];

    for (size_t i = 0; i < n; i++) {
        if (all[i].scenario != g->scenario ||
            all[i].concurrency != g->concurrency ||
            strcmp(all[i].mode, mode) != 0)
            continue;
        memcpy(v, all[i].makespan, sizeof(double) * (size_t)all[i].reps);
        return stats_median(v, (size_t)all[i].reps);
    }
    return 0;
}

static void print_ratios(FILE *out, const struct group *g, size_t n)
{
    static const char *const others[] = {"serial", "direct", "direct-retry",
                                         "direct-retry-fast"};
    const size_t nothers = sizeof(others) / sizeof(others[0]);

    for (size_t i = 0; i < n; i++) {
        int shown = 0;
        double mine;

        if (strcmp(g[i].mode, "pgsluice") != 0)
            continue;
        mine = group_median(&g[i], "pgsluice", g, n);
        for (size_t k = 0; k < nothers; k++) {
            double other = group_median(&g[i], others[k], g, n);

            if (other <= 0)
                continue;
            if (!shown++)
                fprintf(out, "scenario %d K=%d pgsluice makespan",
                        g[i].scenario, g[i].concurrency);
            fprintf(out, "  /%s %.2f", others[k], mine / other);
        }
        if (shown)
            fputc('\n', out);
    }
}

static void accumulate(struct group *g, const struct report_entry *e)
{
    if (g->reps < 256) {
        g->makespan[g->reps] = e->r.makespan_ms;
        g->p95[g->reps] = e->r.p95_ms;
        g->reps++;
    }
    g->jobs += e->r.jobs;
    g->succeeded += e->r.succeeded;
    g->failures += e->r.failures.total;
    g->retries =
        (e->r.retries < 0 || g->retries < 0) ? -1 : g->retries + e->r.retries;
    g->data_ok += e->r.data_ok == 1;
}

void report_print_summary(FILE *out, const struct report_entry *e, size_t n)
{
    struct group *g = calloc(n ? n : 1, sizeof(*g));
    size_t ng = 0;

    if (!g)
        return;
    for (size_t i = 0; i < n; i++)
        accumulate(find_group(g, &ng, &e[i]), &e[i]);
    fprintf(out, "\nsummary (medians over repetitions)\n");
    fprintf(out, "%-3s %3s %-17s %4s %11s %6s %7s %11s %9s %s\n", "scn", "K",
            "mode", "reps", "ok/jobs", "fail", "retries", "makespan", "p95",
            "data exact");
    for (size_t i = 0; i < ng; i++) {
        char ok[24], retries[24];

        snprintf(ok, sizeof(ok), "%d/%d", g[i].succeeded, g[i].jobs);
        if (g[i].retries < 0)
            snprintf(retries, sizeof(retries), "n/a");
        else
            snprintf(retries, sizeof(retries), "%ld", g[i].retries);
        fprintf(out, "%-3d %3d %-17s %4d %11s %6ld %7s %11.0f %9.0f %d/%d\n",
                g[i].scenario, g[i].concurrency, g[i].mode, g[i].reps, ok,
                g[i].failures, retries,
                stats_median(g[i].makespan, (size_t)g[i].reps),
                stats_median(g[i].p95, (size_t)g[i].reps), g[i].data_ok,
                g[i].reps);
    }
    print_ratios(out, g, ng);
    free(g);
}
