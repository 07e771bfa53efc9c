/*
 * libpq glue for the benchmark: one Query per call, COPY data generated on
 * the fly, and errors reduced to SQLSTATE plus a short message. Blocking
 * calls only; each job thread owns its connection.
 */
#include "db.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define COPY_CHUNK 65536

void db_error_set(struct db_error *err, PGconn *conn, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg =
        res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

    if (!msg)
        msg = conn ? PQerrorMessage(conn) : "out of memory";
    snprintf(err->sqlstate, sizeof(err->sqlstate), "%s",
             state && strlen(state) == 5 ? state : DB_STATE_CONN);
    snprintf(err->message, sizeof(err->message), "%s", msg);
    err->message[strcspn(err->message, "\n")] = '\0';
}

int db_error_retryable(const struct db_error *err)
{
    return strcmp(err->sqlstate, "40001") == 0 ||
           strcmp(err->sqlstate, "40P01") == 0;
}

PGconn *db_connect(const char *dsn, struct db_error *err)
{
    PGconn *conn = PQconnectdb(dsn);

    if (conn && PQstatus(conn) == CONNECTION_OK)
        return conn;
    db_error_set(err, conn, NULL);
    PQfinish(conn);
    return NULL;
}

/* Streams the generated rows of one COPY; returns 0 or -1. */
static int send_copy(PGconn *conn, const struct db_copy *copy)
{
    char buf[COPY_CHUNK];
    size_t used = 0;

    if (!copy)
        return PQputCopyEnd(conn, "benchmark has no data for this COPY") == 1
                   ? 0
                   : -1;
    for (int64_t k = copy->lo; k < copy->lo + copy->count; k++) {
        int n;

        if (copy->run_id >= 0)
            n = snprintf(buf + used, sizeof(buf) - used,
                         "%" PRId64 "\t%" PRId64 "\t%" PRId64 "\n",
                         copy->run_id, k, db_value_new(k));
        else
            n = snprintf(buf + used, sizeof(buf) - used,
                         "%" PRId64 "\t%" PRId64 "\n", k, db_value_new(k));
        used += (size_t)n;
        if (sizeof(buf) - used < 80) {
            if (PQputCopyData(conn, buf, (int)used) != 1)
                return -1;
            used = 0;
        }
    }
    if (used && PQputCopyData(conn, buf, (int)used) != 1)
        return -1;
    return PQputCopyEnd(conn, NULL) == 1 ? 0 : -1;
}

int db_exec(PGconn *conn, const char *sql, const struct db_copy *copy,
            struct db_error *err)
{
    PGresult *res;
    int failed = 0;

    if (!PQsendQuery(conn, sql)) {
        db_error_set(err, conn, NULL);
        return -1;
    }
    while ((res = PQgetResult(conn)) != NULL) {
        ExecStatusType st = PQresultStatus(res);

        if (st == PGRES_COPY_IN && send_copy(conn, copy) < 0 && !failed) {
            db_error_set(err, conn, NULL);
            failed = 1;
        } else if ((st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE) &&
                   !failed) {
            db_error_set(err, conn, res);
            failed = 1;
        }
        PQclear(res);
        if (PQstatus(conn) == CONNECTION_BAD)
            break;
    }
    if (!failed && PQstatus(conn) == CONNECTION_BAD) {
        db_error_set(err, conn, NULL);
        failed = 1;
    }
    return failed ? -1 : 0;
}

void db_rollback_open(PGconn *conn)
{
    PGTransactionStatusType ts = PQtransactionStatus(conn);
    struct db_error ignored;

    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
        db_exec(conn, "ROLLBACK", NULL, &ignored);
}
