/*
 * Thin libpq helpers for the benchmark: run one SQL string (one or many
 * statements) and stream generated COPY data whenever the server asks for
 * it, keeping the first error's SQLSTATE. Which SQL to send is the
 * scenario's business.
 */
#ifndef PGSLUICE_BENCH_DB_H
#define PGSLUICE_BENCH_DB_H

#include <libpq-fe.h>
#include <stdint.h>

/* SQLSTATE given to a failure that never reached the server's reply. */
#define DB_STATE_CONN "08006"

struct db_error {
    char sqlstate[6];
    char message[240];
};

/*
 * Rows a COPY ... FROM STDIN receives: keys lo .. lo+count-1, each with
 * value db_value_new(key); with run_id >= 0 every line starts with run_id.
 */
struct db_copy {
    int64_t run_id;
    int64_t lo;
    int64_t count;
};

/* The two values a row can carry: before any job ran, and after one did. */
static inline int64_t db_value_old(int64_t key)
{
    return key * 10 + 1;
}

static inline int64_t db_value_new(int64_t key)
{
    return key * 10 + 2;
}

/*
 * Sends sql as one Query message and reads every result. Each COPY FROM
 * STDIN in it receives copy's rows (or is refused when copy is NULL).
 * Returns 0 when no statement failed, -1 with err filled otherwise.
 */
int db_exec(PGconn *conn, const char *sql, const struct db_copy *copy,
            struct db_error *err);

/* Rolls back when the session is inside a (possibly failed) transaction. */
void db_rollback_open(PGconn *conn);

/* Opens a session; returns NULL with err filled when it failed. */
PGconn *db_connect(const char *dsn, struct db_error *err);

/* Fills err from a failed result, or from the connection when res is NULL. */
void db_error_set(struct db_error *err, PGconn *conn, const PGresult *res);

/* True for the SQLSTATEs a serialization retry policy retries. */
int db_error_retryable(const struct db_error *err);

#endif
