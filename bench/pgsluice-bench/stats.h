/*
 * Small statistics for benchmark runs: percentiles of latencies and a tally
 * of failures by SQLSTATE. Pure computation; the runner gathers the inputs.
 */
#ifndef PGSLUICE_BENCH_STATS_H
#define PGSLUICE_BENCH_STATS_H

#include <stddef.h>

#define STATS_TALLY_MAX 16

struct stats_tally {
    int n;
    long total;
    struct {
        char state[6];
        long count;
    } e[STATS_TALLY_MAX];
};

/* Counts one failure under state; states past the table's room are
 * counted under "other". */
void stats_tally_add(struct stats_tally *t, const char *state, long count);

/* Writes "40001:10 08006:1", or "-" when empty, into buf. */
void stats_tally_format(const struct stats_tally *t, char *buf, size_t len);

/* Nearest-rank percentile p (0-100) of v; sorts v in place. 0 when n = 0. */
double stats_percentile(double *v, size_t n, double p);

/* Median of v (sorts v in place); 0 when n = 0. */
double stats_median(double *v, size_t n);

#endif
