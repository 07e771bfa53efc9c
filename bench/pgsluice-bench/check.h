/*
 * Final data check of a benchmark run: compares the (key, value) multiset a
 * scenario expects in a table with the one the database holds.
 * Pure computation with no database access, so it is unit-testable alone.
 */
#ifndef PGSLUICE_BENCH_CHECK_H
#define PGSLUICE_BENCH_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CHECK_SAMPLES 5

struct check_row {
    int64_t key;
    int64_t value;
};

/* A growable array of rows; zero-initialise, free with check_rows_free. */
struct check_rows {
    struct check_row *v;
    size_t n;
    size_t cap;
};

struct check_report {
    size_t expected;       /* rows expected */
    size_t actual;         /* rows found */
    size_t missing;        /* expected rows not found, counting multiplicity */
    size_t duplicate;      /* extra copies of rows that are expected */
    size_t unexpected;     /* rows found that are not expected at all */
    uint64_t expected_sum; /* order-independent checksums, see check_digest */
    uint64_t actual_sum;
    struct check_row missing_rows[CHECK_SAMPLES];
    struct check_row duplicate_rows[CHECK_SAMPLES];
    struct check_row unexpected_rows[CHECK_SAMPLES];
};

/* Appends one row; returns 0 or -ENOMEM. */
int check_rows_add(struct check_rows *rows, int64_t key, int64_t value);
void check_rows_free(struct check_rows *rows);

/*
 * Order-independent checksum of a multiset: a sum of a strong per-row hash,
 * so that a duplicate and a missing row do not cancel out.
 */
uint64_t check_digest(const struct check_row *rows, size_t n);

/*
 * Compares expected with actual as multisets. Both arrays are sorted in
 * place. Fills rep (first few offending rows included) and returns 0 when
 * they are equal, 1 when they differ.
 */
int check_compare(struct check_row *expected, size_t n_expected,
                  struct check_row *actual, size_t n_actual,
                  struct check_report *rep);

/*
 * Compares only counts and checksums, for when the rows themselves are not
 * at hand. Returns 0 when both match, 1 otherwise.
 */
int check_compare_digest(size_t n_expected, uint64_t expected_sum,
                         size_t n_actual, uint64_t actual_sum);

/* Prints one line per finding about table; nothing when the table is right. */
void check_print(FILE *out, const char *table, const struct check_report *rep);

#endif
