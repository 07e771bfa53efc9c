/*
 * Counters and recent events that the admin console and the metrics
 * endpoint show: per-table retry outcomes, wait and hold time histograms,
 * and a ring of the latest serialization errors. Sessions record; nothing
 * here acts on what it records.
 */
#ifndef PGSLUICE_STATS_H
#define PGSLUICE_STATS_H

#include <stdint.h>

typedef enum stats_retry_outcome {
    STATS_RETRY_ATTEMPT,   /* one replay started */
    STATS_RETRY_SUCCEEDED, /* a unit succeeded after one or more replays */
    STATS_RETRY_GAVE_UP,   /* retryable error passed to the client after all */
} stats_retry_outcome_t;

/* Tables may be empty (n = 0): the event is then counted under "" (no
 * target table), which the console shows as "(none)". */
void stats_retry(const char *const *tables, int n, stats_retry_outcome_t outcome,
                 const char *sqlstate);
void stats_error_passed(const char *const *tables, int n, const char *sqlstate);
void stats_observe_wait(const char *table, uint64_t ms);
void stats_observe_hold(const char *table, uint64_t ms);

/* A serialization error as the console lists it; strings are copied. */
typedef struct stats_error {
    uint64_t time_ms;       /* wall clock, ms since the epoch */
    uint64_t session;
    const char *tables;     /* "a.b, c.d" or "" */
    const char *sqlstate;
    const char *message;
    const char *detail;     /* may be NULL */
    int attempt;            /* 1 for the first try */
    const char *outcome;    /* "retried", "passed to client", "gave up: <why>" */
    const char *statement;  /* truncated SQL, may be NULL */
} stats_error_t;

void stats_record_error(const stats_error_t *e);

#endif
