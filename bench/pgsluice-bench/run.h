/*
 * One benchmark run: reset the tables, start K job threads (and readers)
 * against one endpoint at the same instant, apply the client retry policy,
 * time everything and check the final data. Choosing modes, repeating and
 * reporting are main's and report's.
 */
#ifndef PGSLUICE_BENCH_RUN_H
#define PGSLUICE_BENCH_RUN_H

#include "scenario.h"
#include "stats.h"

struct run_policy {
    int tries;         /* attempts per job; 1 means no client retry */
    int base_ms;       /* wait before the first retry; doubles each time */
    int serial;        /* run the jobs one at a time (the serial limit) */
    double deadline_s; /* 0, or: start no retry wait ending later than this
                          many seconds after the run began */
};

struct run_config {
    const struct scenario *sc;
    const char *dsn;       /* endpoint of the jobs and readers */
    const char *setup_dsn; /* straight to PostgreSQL: reset and data check */
    const char *isolation; /* default_transaction_isolation, NULL: server's */
    struct run_policy policy;
    double timeout_s; /* a run taking longer is cancelled */
};

struct run_result {
    int jobs;
    int succeeded;
    struct stats_tally failures; /* client-visible, by SQLSTATE */
    long retries;                /* client retries; -1 when unknown */
    double makespan_ms;
    double p50_ms, p95_ms, max_ms; /* job latency, success or final failure */
    double rows_per_s;             /* rows of succeeded jobs / makespan */
    long reads;
    struct stats_tally read_failures;
    double reader_p50_ms, reader_p95_ms;
    int data_ok; /* 1 exact, 0 loss or duplicates, -1 could not check */
    char first_error[200];
};

/*
 * Runs one repetition. Returns 0 when the run completed (whatever its
 * failures and data check say), -1 when it could not be set up; a run
 * stuck past timeout_s after cancelling ends the process.
 */
int run_once(const struct run_config *cfg, struct run_result *res);

/* Monotonic clock in milliseconds. */
double run_now_ms(void);

#endif
