/*
 * Reads pgsluice's retry counter through its admin console with libpq.
 * The console's layout is the proxy's to define, so this accepts either a
 * "retries" column or name/value rows, and reports "unknown" otherwise.
 */
#include "admin.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

/* Counters that mean "replays started"; the proxy's server counts them as
 * retries_attempted. Succeeded/gave-up counters must not be added in. */
static const char *const retry_names[] = {"retries", "retries_attempted",
                                          "retries_total"};

static int retry_name(const char *name)
{
    for (size_t i = 0; i < sizeof(retry_names) / sizeof(retry_names[0]); i++)
        if (strcmp(name, retry_names[i]) == 0)
            return 1;
    return 0;
}

/* Sums a retry counter column; -1 when there is none. */
static long sum_column(const PGresult *res)
{
    int col = -1;
    long sum = 0;

    for (int f = 0; f < PQnfields(res) && col < 0; f++)
        if (retry_name(PQfname(res, f)))
            col = f;
    if (col < 0)
        return -1;
    for (int i = 0; i < PQntuples(res); i++)
        sum += strtol(PQgetvalue(res, i, col), NULL, 10);
    return sum;
}

/* Sums name/value rows naming a retry counter; -1 when there is none. */
static long sum_rows(const PGresult *res)
{
    long sum = -1;

    if (PQnfields(res) < 2)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        if (!retry_name(PQgetvalue(res, i, 0)))
            continue;
        sum = (sum < 0 ? 0 : sum) + strtol(PQgetvalue(res, i, 1), NULL, 10);
    }
    return sum;
}

long admin_read_retries(const char *dsn, const char *query)
{
    PGconn *conn;
    PGresult *res;
    long n = -1;

    if (!dsn || !*dsn)
        return -1;
    conn = PQconnectdb(dsn);
    if (PQstatus(conn) != CONNECTION_OK) {
        PQfinish(conn);
        return -1;
    }
    res = PQexec(conn, query ? query : ADMIN_DEFAULT_QUERY);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        n = sum_column(res);
        if (n < 0)
            n = sum_rows(res);
    }
    PQclear(res);
    PQfinish(conn);
    return n;
}
