/*
 * Unit tests of the benchmark's data check (bench/pgsluice-bench/check.c):
 * a right table must pass, and planted duplicates, missing rows and wrong
 * values must each be reported with the right counts.
 */
#include "bench/pgsluice-bench/check.h"

#include <stdio.h>
#include <string.h>

#include "tests/unit/expect.h"

/* Rows (k, 10k+2) for k in [lo, lo+n), appended in descending order so the
 * comparison cannot rely on the caller's order. */
static void fill(struct check_rows *rows, int lo, int n)
{
    for (int k = lo + n - 1; k >= lo; k--)
        check_rows_add(rows, k, 10 * (int64_t)k + 2);
}

static void test_right_table(void)
{
    struct check_rows exp = {0}, act = {0};
    struct check_report rep;

    fill(&exp, 0, 100);
    for (int k = 0; k < 100; k++)
        check_rows_add(&act, k, 10 * (int64_t)k + 2);
    EXPECT(check_compare(exp.v, exp.n, act.v, act.n, &rep) == 0);
    EXPECT(rep.missing == 0 && rep.duplicate == 0 && rep.unexpected == 0);
    EXPECT(rep.expected == 100 && rep.actual == 100);
    EXPECT(rep.expected_sum == rep.actual_sum);
    EXPECT(check_compare_digest(exp.n, rep.expected_sum, act.n,
                                rep.actual_sum) == 0);
    check_rows_free(&exp);
    check_rows_free(&act);
}

/* One row lost and another written twice: the row count still matches,
 * so only a content check can notice. */
static void test_duplicate_and_missing(void)
{
    struct check_rows exp = {0}, act = {0};
    struct check_report rep;

    fill(&exp, 0, 100);
    for (int k = 0; k < 100; k++) {
        if (k == 42)
            continue;
        check_rows_add(&act, k, 10 * (int64_t)k + 2);
    }
    check_rows_add(&act, 7, 72);
    EXPECT(act.n == exp.n);
    EXPECT(check_compare(exp.v, exp.n, act.v, act.n, &rep) == 1);
    EXPECT(rep.missing == 1 && rep.missing_rows[0].key == 42);
    EXPECT(rep.duplicate == 1 && rep.duplicate_rows[0].key == 7);
    EXPECT(rep.unexpected == 0);
    EXPECT(rep.expected_sum != rep.actual_sum);
    EXPECT(check_compare_digest(exp.n, rep.expected_sum, act.n,
                                rep.actual_sum) == 1);
    check_rows_free(&exp);
    check_rows_free(&act);
}

/* An old value left in place counts as one missing and one unexpected. */
static void test_wrong_value(void)
{
    struct check_rows exp = {0}, act = {0};
    struct check_report rep;

    fill(&exp, 0, 10);
    fill(&act, 0, 10);
    act.v[3].value = 9999;
    EXPECT(check_compare(exp.v, exp.n, act.v, act.n, &rep) == 1);
    EXPECT(rep.missing == 1 && rep.unexpected == 1 && rep.duplicate == 0);
    EXPECT(rep.unexpected_rows[0].value == 9999);
    check_rows_free(&exp);
    check_rows_free(&act);
}

/* Expected duplicates (a table without a key) must be matched by count. */
static void test_multiset_counts(void)
{
    struct check_row exp[] = {{1, 1}, {1, 1}, {2, 2}};
    struct check_row same[] = {{2, 2}, {1, 1}, {1, 1}};
    struct check_row fewer[] = {{1, 1}, {2, 2}};
    struct check_row more[] = {{1, 1}, {1, 1}, {1, 1}, {2, 2}};
    struct check_report rep;

    EXPECT(check_compare(exp, 3, same, 3, &rep) == 0);
    EXPECT(check_compare(exp, 3, fewer, 2, &rep) == 1 && rep.missing == 1);
    EXPECT(check_compare(exp, 3, more, 4, &rep) == 1 && rep.duplicate == 1);
}

static void test_empty_and_lost_table(void)
{
    struct check_rows exp = {0};
    struct check_report rep;
    char buf[4096] = "";
    FILE *out;

    EXPECT(check_compare(NULL, 0, NULL, 0, &rep) == 0);
    fill(&exp, 0, 20);
    EXPECT(check_compare(exp.v, exp.n, NULL, 0, &rep) == 1);
    EXPECT(rep.missing == 20);

    out = fmemopen(buf, sizeof(buf) - 1, "w");
    check_print(out, "bench.results_0", &rep);
    fclose(out);
    EXPECT(strstr(buf, "DATA CHECK FAILED: bench.results_0") != NULL);
    EXPECT(strstr(buf, "20 missing") != NULL);
    check_rows_free(&exp);
}

int main(void)
{
    test_right_table();
    test_duplicate_and_missing();
    test_wrong_value();
    test_multiset_counts();
    test_empty_and_lost_table();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
