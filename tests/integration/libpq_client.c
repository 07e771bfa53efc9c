/*
 * A small libpq client the integration tests drive through pgsluice: it
 * exercises what psycopg2 cannot reach (pipeline mode, named prepared
 * statements, PQcancel) and reports one summary line plus an exit code.
 * It owns no test logic beyond checking each result it asked for; the
 * Python tests decide what a pass means.
 *
 *   libpq_client pipeline N CONNINFO   N queries in one pipeline, one Sync
 *   libpq_client prepared N CONNINFO   PQprepare once, PQexecPrepared N times
 *   libpq_client cancel CONNINFO       pg_sleep(30), PQcancel after 0.5 s
 *
 * Exit codes: 0 success, 1 a wrong or failed result, 2 usage or connect.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define PIPELINE_MAX 1000000

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static PGconn *connect_or_die(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);

    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "connect failed: %s", PQerrorMessage(conn));
        PQfinish(conn);
        exit(2);
    }
    return conn;
}

static int parse_count(const char *text)
{
    char *end;
    long n = strtol(text, &end, 10);

    if (*end != '\0' || n <= 0 || n > PIPELINE_MAX)
        return -1;
    return (int)n;
}

/* Checks one tuples result holds exactly the integer `want` in one cell. */
static int check_int_result(PGresult *res, int want, const char *what)
{
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "%s %d: status %s: %s", what, want,
                PQresStatus(PQresultStatus(res)), PQresultErrorMessage(res));
        return -1;
    }
    if (PQntuples(res) != 1 || PQnfields(res) != 1 ||
        atoi(PQgetvalue(res, 0, 0)) != want) {
        fprintf(stderr, "%s %d: got %d rows, first value '%s'\n", what, want,
                PQntuples(res), PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
        return -1;
    }
    return 0;
}

static int pipeline_send(PGconn *conn, int n)
{
    char num[16];
    const char *params[1] = {num};

    for (int i = 0; i < n; i++) {
        snprintf(num, sizeof(num), "%d", i);
        if (!PQsendQueryParams(conn, "SELECT $1::int", 1, NULL, params, NULL,
                               NULL, 0)) {
            fprintf(stderr, "send %d: %s", i, PQerrorMessage(conn));
            return -1;
        }
    }
    if (!PQpipelineSync(conn)) {
        fprintf(stderr, "sync: %s", PQerrorMessage(conn));
        return -1;
    }
    return 0;
}

/*
 * Reads the n results in order: each query yields its tuples result and then
 * a NULL that separates it from the next; the Sync yields PGRES_PIPELINE_SYNC.
 */
static int pipeline_collect(PGconn *conn, int n)
{
    PGresult *res;
    int bad = 0;

    for (int i = 0; i < n; i++) {
        res = PQgetResult(conn);
        if (res == NULL) {
            fprintf(stderr, "result %d missing: %s", i, PQerrorMessage(conn));
            return -1;
        }
        if (check_int_result(res, i, "pipeline") < 0)
            bad++;
        PQclear(res);
        res = PQgetResult(conn);
        if (res != NULL) {
            fprintf(stderr, "result %d: extra result %s\n", i,
                    PQresStatus(PQresultStatus(res)));
            PQclear(res);
            return -1;
        }
    }
    res = PQgetResult(conn);
    if (res == NULL || PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
        fprintf(stderr, "no pipeline sync result\n");
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return bad ? -1 : 0;
}

static int run_pipeline(int n, const char *conninfo)
{
    PGconn *conn = connect_or_die(conninfo);
    double start = now_seconds();
    int rc = 1;

    if (!PQenterPipelineMode(conn)) {
        fprintf(stderr, "enter pipeline: %s", PQerrorMessage(conn));
        goto out;
    }
    if (pipeline_send(conn, n) < 0 || pipeline_collect(conn, n) < 0)
        goto out;
    if (!PQexitPipelineMode(conn)) {
        fprintf(stderr, "exit pipeline: %s", PQerrorMessage(conn));
        goto out;
    }
    printf("pipeline ok queries=%d elapsed_ms=%.0f\n", n,
           (now_seconds() - start) * 1000);
    rc = 0;
out:
    PQfinish(conn);
    return rc;
}

static int run_prepared(int n, const char *conninfo)
{
    PGconn *conn = connect_or_die(conninfo);
    PGresult *res;
    char num[16];
    const char *params[1] = {num};
    int rc = 1;

    res = PQprepare(conn, "double_it", "SELECT $1::int * 2", 1, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "prepare: %s", PQresultErrorMessage(res));
        PQclear(res);
        goto out;
    }
    PQclear(res);
    for (int i = 0; i < n; i++) {
        snprintf(num, sizeof(num), "%d", i);
        res = PQexecPrepared(conn, "double_it", 1, params, NULL, NULL, 0);
        if (check_int_result(res, 2 * i, "execute") < 0) {
            PQclear(res);
            goto out;
        }
        PQclear(res);
    }
    printf("prepared ok executions=%d\n", n);
    rc = 0;
out:
    PQfinish(conn);
    return rc;
}

static int send_cancel(PGconn *conn)
{
    char errbuf[256];
    PGcancel *cancel = PQgetCancel(conn);
    int ok;

    if (cancel == NULL) {
        fprintf(stderr, "no cancel handle\n");
        return -1;
    }
    ok = PQcancel(cancel, errbuf, sizeof(errbuf));
    PQfreeCancel(cancel);
    if (!ok) {
        fprintf(stderr, "cancel failed: %s\n", errbuf);
        return -1;
    }
    return 0;
}

/* Prints the SQLSTATE the sleep ended with and how long it ran. */
static int run_cancel(const char *conninfo)
{
    PGconn *conn = connect_or_die(conninfo);
    PGresult *res;
    const char *state;
    double start;
    int rc = 1;

    if (!PQsendQuery(conn, "SELECT pg_sleep(30)")) {
        fprintf(stderr, "send: %s", PQerrorMessage(conn));
        goto out;
    }
    start = now_seconds();
    usleep(500 * 1000);
    if (send_cancel(conn) < 0)
        goto out;
    res = PQgetResult(conn);
    state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    printf("cancel sqlstate=%s elapsed_ms=%.0f\n", state ? state : "none",
           (now_seconds() - start) * 1000);
    rc = state && strcmp(state, "57014") == 0 ? 0 : 1;
    PQclear(res);
    while ((res = PQgetResult(conn)) != NULL)
        PQclear(res);
out:
    PQfinish(conn);
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: libpq_client pipeline N CONNINFO\n"
                    "       libpq_client prepared N CONNINFO\n"
                    "       libpq_client cancel CONNINFO\n");
    return 2;
}

int main(int argc, char **argv)
{
    int n;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "cancel") == 0)
        return run_cancel(argv[2]);
    if (argc != 4 || (n = parse_count(argv[2])) < 0)
        return usage();
    if (strcmp(argv[1], "pipeline") == 0)
        return run_pipeline(n, argv[3]);
    if (strcmp(argv[1], "prepared") == 0)
        return run_prepared(n, argv[3]);
    return usage();
}
