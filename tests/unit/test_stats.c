/*
 * Unit tests of the console and metrics counters (proxy/stats.c): retry
 * outcomes per table and SQLSTATE, histogram buckets, the error ring and
 * the Redshift cycle parser. No network.
 */
#include "proxy/stats.h"

#include <stdio.h>
#include <string.h>

#include "tests/unit/expect.h"

typedef struct seen {
    char names[8][32];
    stats_table_t t[8];
    int n;
} seen_t;

static void collect(void *arg, const stats_table_t *t)
{
    seen_t *s = arg;

    if (s->n < 8) {
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", t->table);
        s->t[s->n++] = *t;
    }
}

static void test_retry_counters(void)
{
    const char *two[] = {"public.b", "public.a"};
    seen_t s = {0};

    stats_retry(two, 2, STATS_RETRY_ATTEMPT, "40001");
    stats_retry(two, 2, STATS_RETRY_ATTEMPT, "XX000");
    stats_retry(two, 1, STATS_RETRY_SUCCEEDED, NULL);
    stats_retry(NULL, 0, STATS_RETRY_GAVE_UP, "40P01");
    stats_error_passed(two + 1, 1, "40001");
    stats_foreach_table(collect, &s);
    EXPECT(s.n == 3);
    EXPECT(strcmp(s.names[0], "") == 0 && s.t[0].gave_up == 1);
    EXPECT(strcmp(s.names[1], "public.a") == 0);
    EXPECT(s.t[1].retries == 2 && s.t[1].retries_succeeded == 0);
    EXPECT(s.t[1].errors_passed == 1);
    EXPECT(strcmp(s.names[2], "public.b") == 0);
    EXPECT(s.t[2].retries == 2 && s.t[2].retries_succeeded == 1);
    EXPECT(s.t[2].errors_passed == 0);
}

static void test_histograms(void)
{
    seen_t s = {0};

    stats_free();
    stats_observe_wait("t", 0);
    stats_observe_wait("t", 1);
    stats_observe_wait("t", 2);
    stats_observe_wait("t", 7200000); /* over the last bound: only count */
    stats_observe_hold("t", 1500);
    stats_foreach_table(collect, &s);
    EXPECT(s.n == 1);
    EXPECT(s.t[0].wait.counts[0] == 2); /* le 0.001 s */
    EXPECT(s.t[0].wait.counts[1] == 1); /* le 0.005 s */
    EXPECT(s.t[0].wait.count == 4 && s.t[0].wait.sum_ms == 7200003);
    EXPECT(s.t[0].hold.counts[8] == 1); /* le 2.5 s */
    EXPECT(stats_bucket_le[8] == 2.5);
}

static void test_cycle(void)
{
    char out[64];

    EXPECT(
        stats_parse_cycle("Serializable isolation violation on table - 156989, "
                          "transactions forming the cycle are: 4412, 4419 "
                          "(pid:21190)",
                          out, sizeof(out)) == 2);
    EXPECT(strcmp(out, "4412,4419") == 0);
    EXPECT(stats_parse_cycle("transactions forming the cycle are: 7", out,
                             sizeof(out)) == 1 &&
           strcmp(out, "7") == 0);
    EXPECT(stats_parse_cycle("could not serialize access", out, sizeof(out)) ==
           0);
    EXPECT(out[0] == '\0');
    EXPECT(stats_parse_cycle(NULL, out, sizeof(out)) == 0);
    EXPECT(stats_parse_cycle("forming the cycle are: 11111, 22222, 33333", out,
                             12) == 2);
    EXPECT(strcmp(out, "11111,22222") == 0);
}

typedef struct errs {
    int n;
    int first_attempt;
    char first_cycle[64];
    char first_msg[64];
} errs_t;

static void count_err(void *arg, const stats_error_t *e, const char *cycle)
{
    errs_t *x = arg;

    if (x->n++ == 0) {
        x->first_attempt = e->attempt;
        snprintf(x->first_cycle, sizeof(x->first_cycle), "%s", cycle);
        snprintf(x->first_msg, sizeof(x->first_msg), "%s", e->message);
    }
}

static void test_ring(void)
{
    errs_t x = {0};
    stats_error_t e = {
        .sqlstate = "XX000", .message = "1023", .outcome = "retried"};

    for (int i = 1; i <= STATS_ERRORS_KEPT + 5; i++) {
        e.attempt = i;
        e.detail =
            i % 2 ? "transactions forming the cycle are: 1, 2 (pid:3)" : NULL;
        stats_record_error(&e);
    }
    stats_foreach_error(count_err, &x);
    EXPECT(x.n == STATS_ERRORS_KEPT);
    EXPECT(x.first_attempt == STATS_ERRORS_KEPT + 5); /* newest first */
    EXPECT(strcmp(x.first_cycle, "1,2") == 0);
    EXPECT(strcmp(x.first_msg, "1023") == 0);
}

int main(void)
{
    test_retry_counters();
    test_histograms();
    test_cycle();
    test_ring();
    stats_free();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
