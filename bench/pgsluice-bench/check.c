/*
 * Multiset comparison behind the benchmark's final data check: sorts the
 * expected and actual rows and walks them together, counting missing,
 * duplicated and unexpected rows. What a table should hold is the
 * scenario's business; fetching it is the runner's.
 */
#include "check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int check_rows_add(struct check_rows *rows, int64_t key, int64_t value)
{
    if (rows->n == rows->cap) {
        size_t cap = rows->cap ? rows->cap * 2 : 256;
        struct check_row *v = realloc(rows->v, cap * sizeof(*v));

        if (!v)
            return -ENOMEM;
        rows->v = v;
        rows->cap = cap;
    }
    rows->v[rows->n].key = key;
    rows->v[rows->n].value = value;
    rows->n++;
    return 0;
}

void check_rows_free(struct check_rows *rows)
{
    free(rows->v);
    memset(rows, 0, sizeof(*rows));
}

/* splitmix64's finaliser: every input bit reaches every output bit. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t check_digest(const struct check_row *rows, size_t n)
{
    uint64_t sum = 0;

    for (size_t i = 0; i < n; i++)
        sum += mix(mix((uint64_t)rows[i].key) ^ (uint64_t)rows[i].value);
    return sum;
}

static int row_cmp(const void *a, const void *b)
{
    const struct check_row *x = a, *y = b;

    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return 0;
}

/* Number of copies of rows[*i] starting at *i; advances *i past them. */
static size_t take_run(const struct check_row *rows, size_t n, size_t *i,
                       const struct check_row *r)
{
    size_t count = 0;

    while (*i < n && row_cmp(&rows[*i], r) == 0) {
        (*i)++;
        count++;
    }
    return count;
}

static void note(struct check_row *samples, size_t seen, size_t add,
                 const struct check_row *r)
{
    for (size_t k = seen; k < seen + add && k < CHECK_SAMPLES; k++)
        samples[k] = *r;
}

/* Accounts for one distinct row found ce times expected, ca times actual. */
static void tally(struct check_report *rep, const struct check_row *r,
                  size_t ce, size_t ca)
{
    if (ca < ce) {
        note(rep->missing_rows, rep->missing, ce - ca, r);
        rep->missing += ce - ca;
    } else if (ca > ce && ce > 0) {
        note(rep->duplicate_rows, rep->duplicate, ca - ce, r);
        rep->duplicate += ca - ce;
    } else if (ca > ce) {
        note(rep->unexpected_rows, rep->unexpected, ca, r);
        rep->unexpected += ca;
    }
}

int check_compare(struct check_row *expected, size_t n_expected,
                  struct check_row *actual, size_t n_actual,
                  struct check_report *rep)
{
    size_t i = 0, j = 0;

    memset(rep, 0, sizeof(*rep));
    rep->expected = n_expected;
    rep->actual = n_actual;
    rep->expected_sum = check_digest(expected, n_expected);
    rep->actual_sum = check_digest(actual, n_actual);
    if (n_expected)
        qsort(expected, n_expected, sizeof(*expected), row_cmp);
    if (n_actual)
        qsort(actual, n_actual, sizeof(*actual), row_cmp);

    while (i < n_expected || j < n_actual) {
        struct check_row r;

        if (j >= n_actual ||
            (i < n_expected && row_cmp(&expected[i], &actual[j]) <= 0))
            r = expected[i];
        else
            r = actual[j];
        size_t ce = take_run(expected, n_expected, &i, &r);
        size_t ca = take_run(actual, n_actual, &j, &r);
        tally(rep, &r, ce, ca);
    }
    return rep->missing || rep->duplicate || rep->unexpected;
}

int check_compare_digest(size_t n_expected, uint64_t expected_sum,
                         size_t n_actual, uint64_t actual_sum)
{
    return n_expected != n_actual || expected_sum != actual_sum;
}

static void print_samples(FILE *out, const char *table, const char *what,
                          size_t count, const struct check_row *samples)
{
    if (!count)
        return;
    fprintf(out, "DATA CHECK FAILED: %s: %zu %s row(s), e.g.", table, count,
            what);
    for (size_t k = 0; k < count && k < CHECK_SAMPLES; k++)
        fprintf(out, " (%" PRId64 ", %" PRId64 ")", samples[k].key,
                samples[k].value);
    fputc('\n', out);
}

void check_print(FILE *out, const char *table, const struct check_report *rep)
{
    if (!rep->missing && !rep->duplicate && !rep->unexpected &&
        rep->expected_sum == rep->actual_sum)
        return;
    fprintf(out,
            "DATA CHECK FAILED: %s: expected %zu rows (checksum %016" PRIx64
            "), found %zu (checksum %016" PRIx64 ")\n",
            table, rep->expected, rep->expected_sum, rep->actual,
            rep->actual_sum);
    print_samples(out, table, "missing", rep->missing, rep->missing_rows);
    print_samples(out, table, "duplicate", rep->duplicate, rep->duplicate_rows);
    print_samples(out, table, "unexpected", rep->unexpected,
                  rep->unexpected_rows);
}
