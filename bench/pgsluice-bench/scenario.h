/*
 * The benchmark's ETL scenarios (shared/context/workloads.md): the tables
 * each one uses, their initial state, the SQL every job and reader sends,
 * and the table contents expected once a given set of jobs has succeeded.
 * Threads, timing and retries belong to the runner.
 */
#ifndef PGSLUICE_BENCH_SCENARIO_H
#define PGSLUICE_BENCH_SCENARIO_H

#include <stdio.h>

#include "db.h"

#define SCENARIO_MAX_JOBS 64

struct scenario {
    int id;      /* 1-6, 8, 9 as in scenario_describe */
    int jobs;    /* K concurrent jobs */
    int rows;    /* rows each job loads */
    int tables;  /* target tables; job j writes table j % tables */
    int overlap; /* scenario 5: jobs sharing one run_id */
    int readers; /* reader sessions running alongside the jobs */
};

/*
 * Fills s for scenario id. tables <= 0 picks the scenario's default (one
 * per job for 4 and 9, otherwise one shared table), readers < 0 likewise.
 * Returns 0, or -EINVAL for an unknown id or out-of-range numbers.
 */
int scenario_init(struct scenario *s, int id, int jobs, int rows, int tables,
                  int overlap, int readers);

/* One line naming the shape of scenario id; NULL when there is none. */
const char *scenario_describe(int id);

/* Drops and recreates schema bench with the scenario's initial rows. */
int scenario_reset(const struct scenario *s, PGconn *conn,
                   struct db_error *err);

/* The part of job j that runs before its transaction and is never retried
 * (staging outside the transaction); most scenarios have none. */
int scenario_prepare(const struct scenario *s, int job, PGconn *conn,
                     struct db_error *err);

/* Job j's transaction, from BEGIN to COMMIT; the unit a client retries.
 * On failure the session may be left inside a failed transaction. */
int scenario_unit(const struct scenario *s, int job, PGconn *conn,
                  struct db_error *err);

/* One query of a reader (a dashboard's select); iter rotates the table. */
int scenario_read(const struct scenario *s, int iter, PGconn *conn,
                  struct db_error *err);

/*
 * Compares every table with what it must hold when exactly the jobs with
 * succeeded[j] != 0 took effect. Prints findings to out. Returns 0 when all
 * match, 1 on a mismatch, -1 when the tables could not be read.
 */
int scenario_verify(const struct scenario *s, PGconn *conn,
                    const unsigned char *succeeded, FILE *out);

#endif
