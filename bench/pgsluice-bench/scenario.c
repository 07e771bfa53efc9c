/*
 * SQL and expected results of the benchmark scenarios. Every job writes a
 * window of keys whose values depend only on the key, so the final state
 * is a function of which jobs succeeded, not of their commit order; the
 * initial rows carry different values, so a job that silently did nothing
 * shows too.
 */
#include "scenario.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define SQL_MAX 1024

/* Layout of a scenario's target tables. */
enum shape { SHAPE_TARGET, SHAPE_FACT, SHAPE_RESULTS };

static enum shape shape_of(int id)
{
    if (id == 4)
        return SHAPE_FACT;
    if (id == 5 || id == 8 || id == 9)
        return SHAPE_RESULTS;
    return SHAPE_TARGET;
}

static const char *table_prefix(int id)
{
    static const char *const names[] = {"bench.target_", "bench.fact_",
                                        "bench.results_"};
    return names[shape_of(id)];
}

const char *scenario_describe(int id)
{
    switch (id) {
    case 1:
        return "staging upsert: COPY to temp, DELETE USING, INSERT SELECT";
    case 2:
        return "replace without TRUNCATE: BEGIN; DELETE; COPY; COMMIT";
    case 3:
        return "upsert with the staging table loaded outside the txn";
    case 4:
        return "load own fact table plus shared checkpoint row";
    case 5:
        return "results table: BEGIN; DELETE run_id; INSERT; COMMIT";
    case 6:
        return "deduplicating INSERT ... WHERE NOT EXISTS";
    case 8:
        return "scenario 5 writers with readers alongside";
    case 9:
        return "scenario 5 shape, K jobs on K tables (no conflicts)";
    default:
        return NULL;
    }
}

int scenario_init(struct scenario *s, int id, int jobs, int rows, int tables,
                  int overlap, int readers)
{
    if (!scenario_describe(id) || jobs < 1 || jobs > SCENARIO_MAX_JOBS ||
        rows < 2 || rows > 10000000 || tables > SCENARIO_MAX_JOBS ||
        overlap < 0)
        return -EINVAL;
    s->id = id;
    s->jobs = jobs;
    s->rows = rows;
    if (tables <= 0)
        tables = (id == 4 || id == 9) ? jobs : 1;
    s->tables = tables;
    s->overlap = overlap > 0 ? overlap : 2;
    if (readers < 0)
        readers = id == 8 ? 4 : 0;
    s->readers = readers;
    return 0;
}

static int table_of(const struct scenario *s, int job)
{
    return job % s->tables;
}

/* Job's position among the jobs that share its table. */
static int slot_of(const struct scenario *s, int job)
{
    return job / s->tables;
}

static int jobs_on_table(const struct scenario *s, int t)
{
    return (s->jobs - t + s->tables - 1) / s->tables;
}

static int runs_on_table(const struct scenario *s, int t)
{
    return (jobs_on_table(s, t) + s->overlap - 1) / s->overlap;
}

/* Keys job writes: [*lo, *lo + rows). Neighbours in a table overlap by
 * half; fact loads are disjoint. */
static void job_window(const struct scenario *s, int job, long *lo)
{
    if (shape_of(s->id) == SHAPE_FACT)
        *lo = (long)job * s->rows;
    else if (s->id == 2 || shape_of(s->id) == SHAPE_RESULTS)
        *lo = 0;
    else
        *lo = (long)slot_of(s, job) * (s->rows / 2);
}

/* Rows a table holds before any job ran: keys [0, n) with old values. */
static long initial_rows(const struct scenario *s)
{
    if (shape_of(s->id) == SHAPE_FACT)
        return 0;
    return s->id == 6 ? s->rows / 2 : s->rows;
}

/* Runs one statement built from fmt; returns 0 or -1 with err set. */
static int execf(PGconn *conn, const struct db_copy *copy, struct db_error *err,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int execf(PGconn *conn, const struct db_copy *copy, struct db_error *err,
                 const char *fmt, ...)
{
    char sql[SQL_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    return db_exec(conn, sql, copy, err);
}

/* The SQL below writes g * 10 + 1 for old and g * 10 + 2 for new values,
 * mirroring db_value_old and db_value_new. */
static int reset_table(const struct scenario *s, PGconn *conn, int t,
                       struct db_error *err)
{
    const char *p = table_prefix(s->id);

    if (shape_of(s->id) == SHAPE_RESULTS)
        return execf(conn, NULL, err,
                     "CREATE TABLE %s%d (run_id int NOT NULL, k bigint NOT "
                     "NULL, v bigint NOT NULL); INSERT INTO %s%d SELECT r, g,"
                     " g * 10 + 1 FROM generate_series(0, %d) r, "
                     "generate_series(0, %d) g; ANALYZE %s%d",
                     p, t, p, t, runs_on_table(s, t) - 1, s->rows - 1, p, t);
    return execf(conn, NULL, err,
                 "CREATE TABLE %s%d (k bigint NOT NULL, v bigint NOT NULL); "
                 "INSERT INTO %s%d SELECT g, g * 10 + 1 FROM "
                 "generate_series(0, %ld) g; ANALYZE %s%d",
                 p, t, p, t, initial_rows(s) - 1, p, t);
}

int scenario_reset(const struct scenario *s, PGconn *conn, struct db_error *err)
{
    if (db_exec(conn,
                "DROP SCHEMA IF EXISTS bench CASCADE; "
                "CREATE SCHEMA bench",
                NULL, err) < 0)
        return -1;
    for (int t = 0; t < s->tables; t++)
        if (reset_table(s, conn, t, err) < 0)
            return -1;
    if (shape_of(s->id) != SHAPE_FACT)
        return 0;
    return execf(conn, NULL, err,
                 "CREATE TABLE bench.checkpoints (job_id int NOT NULL, "
                 "rows_loaded bigint NOT NULL); INSERT INTO bench.checkpoints"
                 " SELECT j, 0 FROM generate_series(0, %d) j; "
                 "ANALYZE bench.checkpoints",
                 s->jobs - 1);
}

/* Staging in a session temp table, loaded in autocommit (scenarios 3, 6). */
int scenario_prepare(const struct scenario *s, int job, PGconn *conn,
                     struct db_error *err)
{
    struct db_copy copy = {.run_id = -1, .count = s->rows};

    if (s->id != 3 && s->id != 6)
        return 0;
    job_window(s, job, &copy.lo);
    if (db_exec(conn, "CREATE TEMP TABLE stage (k bigint, v bigint)", NULL,
                err) < 0)
        return -1;
    return db_exec(conn, "COPY stage FROM STDIN", &copy, err);
}

/* Scenario 1: a loader that sends each statement on its own round trip. */
static int unit_staging_upsert(const struct scenario *s, int job, PGconn *conn,
                               struct db_error *err)
{
    struct db_copy copy = {.run_id = -1, .count = s->rows};
    const char *p = table_prefix(s->id);
    int t = table_of(s, job);

    job_window(s, job, &copy.lo);
    if (db_exec(conn, "BEGIN", NULL, err) < 0 ||
        db_exec(conn,
                "CREATE TEMP TABLE stage (k bigint, v bigint) "
                "ON COMMIT DROP",
                NULL, err) < 0 ||
        db_exec(conn, "COPY stage FROM STDIN", &copy, err) < 0 ||
        execf(conn, NULL, err,
              "DELETE FROM %s%d t USING stage s "
              "WHERE t.k = s.k",
              p, t) < 0 ||
        execf(conn, NULL, err, "INSERT INTO %s%d SELECT k, v FROM stage", p,
              t) < 0)
        return -1;
    return db_exec(conn, "COMMIT", NULL, err);
}

/* Scenario 4: COPY into the job's fact table, then its checkpoint row. */
static int unit_fact_checkpoint(const struct scenario *s, int job, PGconn *conn,
                                struct db_error *err)
{
    struct db_copy copy = {.run_id = -1, .count = s->rows};

    job_window(s, job, &copy.lo);
    if (db_exec(conn, "BEGIN", NULL, err) < 0 ||
        execf(conn, &copy, err, "COPY bench.fact_%d FROM STDIN",
              table_of(s, job)) < 0 ||
        execf(conn, NULL, err,
              "UPDATE bench.checkpoints SET rows_loaded = "
              "rows_loaded + %d WHERE job_id = %d",
              s->rows, job) < 0)
        return -1;
    return db_exec(conn, "COMMIT", NULL, err);
}

int scenario_unit(const struct scenario *s, int job, PGconn *conn,
                  struct db_error *err)
{
    struct db_copy copy = {.run_id = -1, .lo = 0, .count = s->rows};
    const char *p = table_prefix(s->id);
    int t = table_of(s, job);

    switch (s->id) {
    case 1:
        return unit_staging_upsert(s, job, conn, err);
    case 2:
        return execf(conn, &copy, err,
                     "BEGIN; DELETE FROM %s%d; COPY %s%d "
                     "FROM STDIN; COMMIT;",
                     p, t, p, t);
    case 3:
        return execf(conn, NULL, err,
                     "BEGIN; DELETE FROM %s%d t USING stage"
                     " s WHERE t.k = s.k; INSERT INTO %s%d SELECT k, v FROM "
                     "stage; COMMIT;",
                     p, t, p, t);
    case 4:
        return unit_fact_checkpoint(s, job, conn, err);
    case 6:
        return execf(conn, NULL, err,
                     "BEGIN; INSERT INTO %s%d SELECT s.k, "
                     "s.v FROM stage s WHERE NOT EXISTS (SELECT 1 FROM %s%d t"
                     " WHERE t.k = s.k); COMMIT;",
                     p, t, p, t);
    default:
        return execf(conn, NULL, err,
                     "BEGIN; DELETE FROM %s%d WHERE run_id "
                     "= %d; INSERT INTO %s%d SELECT %d, g, g * 10 + 2 FROM "
                     "generate_series(0, %d) g; COMMIT;",
                     p, t, slot_of(s, job) / s->overlap, p, t,
                     slot_of(s, job) / s->overlap, s->rows - 1);
    }
}

int scenario_read(const struct scenario *s, int iter, PGconn *conn,
                  struct db_error *err)
{
    return execf(conn, NULL, err,
                 "SELECT count(*), coalesce(sum(v), 0) "
                 "FROM %s%d",
                 table_prefix(s->id), iter % s->tables);
}

/* Reads (key, value) pairs selected by sql into rows; returns 0 or -1. */
static int fetch_rows(PGconn *conn, const char *sql, struct check_rows *rows)
{
    PGresult *res = PQexec(conn, sql);
    int rc = 0;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 2) {
        fprintf(stderr, "data check: %s: %s", sql, PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    for (int i = 0; i < PQntuples(res) && rc == 0; i++)
        rc = check_rows_add(rows, strtoll(PQgetvalue(res, i, 0), NULL, 10),
                            strtoll(PQgetvalue(res, i, 1), NULL, 10));
    PQclear(res);
    return rc;
}

/* Expected rows of a target or fact table: old initial rows, overwritten
 * (or, deduplicating, only added) by the windows of succeeded jobs. */
static int expect_keyed(const struct scenario *s, int t,
                        const unsigned char *ok, struct check_rows *rows)
{
    long n = initial_rows(s), lo;
    unsigned char *state;
    int rc = 0;

    for (int j = t; j < s->jobs; j += s->tables) {
        job_window(s, j, &lo);
        if (lo + s->rows > n)
            n = lo + s->rows;
    }
    state = calloc((size_t)n, 1);
    if (!state)
        return -ENOMEM;
    memset(state, 1, (size_t)initial_rows(s));
    for (int j = t; j < s->jobs; j += s->tables) {
        if (!ok[j])
            continue;
        job_window(s, j, &lo);
        for (long k = lo; k < lo + s->rows; k++)
            if (s->id != 6 || state[k] == 0)
                state[k] = 2;
    }
    for (long k = 0; k < n && rc == 0; k++)
        if (state[k])
            rc = check_rows_add(
                rows, k, state[k] == 1 ? db_value_old(k) : db_value_new(k));
    free(state);
    return rc;
}

/* Expected rows of a results table: a run's rows are new once any job of
 * that run succeeded. Keys pack run_id into the high 32 bits. */
static int expect_results(const struct scenario *s, int t,
                          const unsigned char *ok, struct check_rows *rows)
{
    int rc = 0;

    for (int r = 0; r < runs_on_table(s, t); r++) {
        int done = 0;

        for (int j = t; j < s->jobs; j += s->tables)
            if (ok[j] && slot_of(s, j) / s->overlap == r)
                done = 1;
        for (int64_t k = 0; k < s->rows && rc == 0; k++)
            rc = check_rows_add(rows, ((int64_t)r << 32) | k,
                                done ? db_value_new(k) : db_value_old(k));
    }
    return rc;
}

static int expect_checkpoints(const struct scenario *s, const unsigned char *ok,
                              struct check_rows *rows)
{
    int rc = 0;

    for (int j = 0; j < s->jobs && rc == 0; j++)
        rc = check_rows_add(rows, j, ok[j] ? s->rows : 0);
    return rc;
}

/* Compares one table; returns 0 match, 1 mismatch, -1 error. */
static int verify_table(PGconn *conn, const char *name, const char *sql,
                        struct check_rows *exp, FILE *out)
{
    struct check_rows act = {0};
    struct check_report rep;
    int rc = fetch_rows(conn, sql, &act);

    if (rc == 0) {
        rc = check_compare(exp->v, exp->n, act.v, act.n, &rep);
        check_print(out, name, &rep);
    }
    check_rows_free(&act);
    return rc;
}

int scenario_verify(const struct scenario *s, PGconn *conn,
                    const unsigned char *succeeded, FILE *out)
{
    char name[64], sql[256];
    int worst = 0;

    for (int t = 0; t <= s->tables; t++) {
        struct check_rows exp = {0};
        int rc;

        if (t < s->tables) {
            snprintf(name, sizeof(name), "%s%d", table_prefix(s->id), t);
            snprintf(sql, sizeof(sql), "SELECT %s, v FROM %s",
                     shape_of(s->id) == SHAPE_RESULTS
                         ? "(run_id::bigint << 32) | k"
                         : "k",
                     name);
            rc = shape_of(s->id) == SHAPE_RESULTS
                     ? expect_results(s, t, succeeded, &exp)
                     : expect_keyed(s, t, succeeded, &exp);
        } else if (shape_of(s->id) == SHAPE_FACT) {
            snprintf(name, sizeof(name), "bench.checkpoints");
            snprintf(sql, sizeof(sql), "SELECT job_id, rows_loaded FROM %s",
                     name);
            rc = expect_checkpoints(s, succeeded, &exp);
        } else {
            break;
        }
        if (rc == 0)
            rc = verify_table(conn, name, sql, &exp, out);
        check_rows_free(&exp);
        if (rc < 0)
            return -1;
        worst |= rc;
    }
    return worst;
}
