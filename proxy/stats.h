/*
 * Counters and recent events that the admin console and the metrics
 * endpoint show: per-table retry outcomes, wait and hold time histograms,
 * and a ring of the latest serialization errors. Sessions record; nothing
 * here acts on what it records.
 */
#ifndef PGSLUICE_STATS_H
#define PGSLUICE_STATS_H

#include <stddef.h>
#include <stdint.h>

typedef enum stats_retry_outcome {
    STATS_RETRY_ATTEMPT,   /* one replay started */
    STATS_RETRY_SUCCEEDED, /* a unit succeeded after one or more replays */
    STATS_RETRY_GAVE_UP,   /* retryable error passed to the client after all */
} stats_retry_outcome_t;

/* Tables may be empty (n = 0): the event is then counted under "" (no
 * target table), which the console shows as "(none)". */
void stats_retry(const char *const *tables, int n,
                 stats_retry_outcome_t outcome, const char *sqlstate);
void stats_error_passed(const char *const *tables, int n, const char *sqlstate);
void stats_observe_wait(const char *table, uint64_t ms);
void stats_observe_hold(const char *table, uint64_t ms);

/* A serialization error as the console lists it; strings are copied. */
typedef struct stats_error {
    uint64_t time_ms; /* wall clock, ms since the epoch */
    uint64_t session;
    const char *tables; /* "a.b, c.d" or "" */
    const char *sqlstate;
    const char *message;
    const char *detail;    /* may be NULL */
    int attempt;           /* 1 for the first try */
    const char *outcome;   /* "retried", "passed to client", "gave up: <why>" */
    const char *statement; /* truncated SQL, may be NULL */
} stats_error_t;

void stats_record_error(const stats_error_t *e);

/* ---- read side, for the console and the metrics endpoint ---- */

/* Histogram upper bounds in seconds, as Prometheus buckets. */
#define STATS_NBUCKETS 18
extern const double stats_bucket_le[STATS_NBUCKETS];

typedef struct stats_hist {
    uint64_t counts[STATS_NBUCKETS]; /* per bucket, not cumulative */
    uint64_t count;                  /* includes values over the last bound */
    uint64_t sum_ms;
} stats_hist_t;

/* One table's totals; "" is the "(none)" table. */
typedef struct stats_table {
    const char *table;
    stats_hist_t wait, hold;
    uint64_t retries, retries_succeeded, gave_up, errors_passed;
} stats_table_t;

/* One (table, sqlstate) pair of retry and pass-through counters. */
typedef struct stats_series {
    const char *table;
    const char *sqlstate; /* "" when the recorder gave none */
    uint64_t attempts, succeeded, gave_up, passed;
} stats_series_t;

/* Each visits in table order (then sqlstate); data valid during the call. */
void stats_foreach_table(void (*fn)(void *arg, const stats_table_t *t),
                         void *arg);
void stats_foreach_series(void (*fn)(void *arg, const stats_series_t *s),
                          void *arg);
/* Recorded errors, newest first; cycle is the transaction ids of a Redshift
 * serializable violation ("4412,4419") or "". */
void stats_foreach_error(void (*fn)(void *arg, const stats_error_t *e,
                                    const char *cycle),
                         void *arg);
/* Number of errors kept: the ring's size. */
#define STATS_ERRORS_KEPT 100

/* Pulls the transaction ids out of a Redshift 1023 detail ("... transactions
 * forming the cycle are: 4412, 4419 (pid:21190)") into out as "4412,4419";
 * returns how many ids it found (0 leaves out empty). */
int stats_parse_cycle(const char *text, char *out, size_t len);

/* Forgets everything (tests; shutdown). */
void stats_free(void);

#endif
