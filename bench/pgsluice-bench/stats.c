/*
 * Percentiles and SQLSTATE tallies for the benchmark's report. No I/O;
 * the report module decides how the numbers are shown.
 */
#include "stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void stats_tally_add(struct stats_tally *t, const char *state, long count)
{
    int i;

    for (i = 0; i < t->n; i++)
        if (strcmp(t->e[i].state, state) == 0)
            break;
    if (i == t->n) {
        if (t->n == STATS_TALLY_MAX)
            i = STATS_TALLY_MAX - 1;
        else
            t->n++;
        snprintf(t->e[i].state, sizeof(t->e[i].state), "%s",
                 i == STATS_TALLY_MAX - 1 ? "other" : state);
    }
    t->e[i].count += count;
    t->total += count;
}

void stats_tally_format(const struct stats_tally *t, char *buf, size_t len)
{
    size_t used = 0;

    snprintf(buf, len, "-");
    for (int i = 0; i < t->n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s:%ld",
                                 i ? " " : "", t->e[i].state, t->e[i].count);
}

static int double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

double stats_percentile(double *v, size_t n, double p)
{
    size_t rank;

    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), double_cmp);
    rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    return v[(rank > n ? n : rank) - 1];
}

double stats_median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), double_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
