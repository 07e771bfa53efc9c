/*
 * Threads of one benchmark run: each job and reader owns a libpq session,
 * all start at a barrier, and the main thread waits, cancels a run that
 * hangs, gathers timings and runs the data check straight against
 * PostgreSQL. What the jobs send is the scenario's.
 */
#include "run.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* State every thread of a run shares. */
struct shared {
    const struct run_config *cfg;
    pthread_barrier_t barrier;
    pthread_mutex_t serial_lock;
    atomic_int writers_left;
};

struct worker {
    struct shared *sh;
    pthread_t thread;
    int index;
    int reader;
    PGcancel *cancel;
    int ok;
    int retries;
    double start, end;
    struct db_error err;
    double *lat; /* reader query latencies */
    size_t nlat, cap;
    struct stats_tally read_failures;
};

double run_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(double ms)
{
    struct timespec ts = {(time_t)(ms / 1e3),
                          (long)((ms - (time_t)(ms / 1e3) * 1e3) * 1e6)};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Connects and applies the isolation level; NULL with w->err on failure. */
static PGconn *open_session(struct worker *w)
{
    const struct run_config *cfg = w->sh->cfg;
    PGconn *conn = db_connect(cfg->dsn, &w->err);
    char sql[128];

    if (!conn || !cfg->isolation)
        return conn;
    snprintf(sql, sizeof(sql), "SET default_transaction_isolation = '%s'",
             cfg->isolation);
    if (db_exec(conn, sql, NULL, &w->err) == 0)
        return conn;
    PQfinish(conn);
    return NULL;
}

/* Whether a retry may wait ms more under the run's deadline. */
static int may_wait(const struct worker *w, double ms)
{
    double limit = w->sh->cfg->policy.deadline_s * 1e3;

    return limit <= 0 || run_now_ms() + ms - w->start <= limit;
}

/* The job's transaction under the client retry policy. */
static void run_job(struct worker *w, PGconn *conn)
{
    const struct run_config *cfg = w->sh->cfg;
    const struct run_policy *pol = &cfg->policy;
    double wait = pol->base_ms;

    if (scenario_prepare(cfg->sc, w->index, conn, &w->err) < 0)
        return;
    for (int attempt = 1;; attempt++) {
        if (scenario_unit(cfg->sc, w->index, conn, &w->err) == 0) {
            w->ok = 1;
            return;
        }
        db_rollback_open(conn);
        if (attempt >= pol->tries || !db_error_retryable(&w->err) ||
            !may_wait(w, wait))
            return;
        w->retries++;
        sleep_ms(wait);
        wait *= 2;
    }
}

static void add_latency(struct worker *w, double ms)
{
    if (w->nlat == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1024;
        double *v = realloc(w->lat, cap * sizeof(*v));

        if (!v)
            return;
        w->lat = v;
        w->cap = cap;
    }
    w->lat[w->nlat++] = ms;
}

/* A dashboard: queries the targets back to back until the writers end. */
static void run_reader(struct worker *w, PGconn *conn)
{
    struct db_error err;

    for (int i = w->index; atomic_load(&w->sh->writers_left) > 0; i++) {
        double t = run_now_ms();

        if (scenario_read(w->sh->cfg->sc, i, conn, &err) < 0) {
            stats_tally_add(&w->read_failures, err.sqlstate, 1);
            db_rollback_open(conn);
            if (PQstatus(conn) == CONNECTION_BAD)
                return;
            continue;
        }
        add_latency(w, run_now_ms() - t);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;
    PGconn *conn = open_session(w);

    if (conn)
        w->cancel = PQgetCancel(conn);
    pthread_barrier_wait(&sh->barrier);
    w->start = run_now_ms();

    if (w->reader) {
        if (conn)
            run_reader(w, conn);
        else
            stats_tally_add(&w->read_failures, w->err.sqlstate, 1);
    } else {
        if (sh->cfg->policy.serial)
            pthread_mutex_lock(&sh->serial_lock);
        if (conn)
            run_job(w, conn);
        if (sh->cfg->policy.serial)
            pthread_mutex_unlock(&sh->serial_lock);
        w->end = run_now_ms();
        atomic_fetch_sub(&sh->writers_left, 1);
    }
    PQfinish(conn);
    return NULL;
}

static void deadline_in(struct timespec *ts, double seconds)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t)seconds;
}

/* Joins every thread; cancels the sessions of a run that overran. */
static void join_all(struct worker *w, int n, double timeout_s)
{
    struct timespec until;
    int i = 0;

    deadline_in(&until, timeout_s);
    for (; i < n; i++)
        if (pthread_timedjoin_np(w[i].thread, NULL, &until) == ETIMEDOUT)
            break;
    if (i == n)
        return;
    fprintf(stderr, "run exceeded %.0f s: cancelling its queries\n", timeout_s);
    for (int k = 0; k < n; k++) {
        char msg[256];

        if (w[k].cancel)
            PQcancel(w[k].cancel, msg, sizeof(msg));
    }
    deadline_in(&until, 15);
    for (; i < n; i++) {
        if (pthread_timedjoin_np(w[i].thread, NULL, &until) == ETIMEDOUT) {
            fprintf(stderr, "FATAL: run still stuck after cancelling; "
                            "giving up\n");
            _exit(3);
        }
    }
}

static void collect_jobs(const struct run_config *cfg, struct worker *w,
                         double t0, struct run_result *res)
{
    int k = cfg->sc->jobs;
    double lat[SCENARIO_MAX_JOBS], end = t0;

    for (int j = 0; j < k; j++) {
        lat[j] = w[j].end - w[j].start;
        if (w[j].end > end)
            end = w[j].end;
        res->retries += w[j].retries;
        if (w[j].ok) {
            res->succeeded++;
            continue;
        }
        stats_tally_add(&res->failures, w[j].err.sqlstate, 1);
        if (!res->first_error[0])
            snprintf(res->first_error, sizeof(res->first_error), "%s %s",
                     w[j].err.sqlstate, w[j].err.message);
    }
    res->makespan_ms = end - t0;
    res->max_ms = stats_percentile(lat, (size_t)k, 100);
    res->p95_ms = stats_percentile(lat, (size_t)k, 95);
    res->p50_ms = stats_percentile(lat, (size_t)k, 50);
    if (res->makespan_ms > 0)
        res->rows_per_s =
            (double)res->succeeded * cfg->sc->rows / (res->makespan_ms / 1e3);
}

static void collect_readers(struct worker *w, int n, struct run_result *res)
{
    double *all = NULL;
    size_t total = 0;

    for (int i = 0; i < n; i++)
        total += w[i].nlat;
    if (total)
        all = malloc(total * sizeof(*all));
    total = 0;
    for (int i = 0; i < n; i++) {
        if (all)
            memcpy(all + total, w[i].lat, w[i].nlat * sizeof(*all));
        total += w[i].nlat;
        for (int e = 0; e < w[i].read_failures.n; e++)
            stats_tally_add(&res->read_failures, w[i].read_failures.e[e].state,
                            w[i].read_failures.e[e].count);
        free(w[i].lat);
    }
    res->reads = (long)total;
    if (all) {
        res->reader_p95_ms = stats_percentile(all, total, 95);
        res->reader_p50_ms = stats_percentile(all, total, 50);
    }
    free(all);
}

/* Starts all threads, releases them together and waits for them. */
static int run_threads(const struct run_config *cfg, struct worker *w,
                       struct run_result *res)
{
    int k = cfg->sc->jobs, n = k + cfg->sc->readers;
    struct shared sh = {.cfg = cfg};
    double t0;

    atomic_init(&sh.writers_left, k);
    pthread_barrier_init(&sh.barrier, NULL, (unsigned)n + 1);
    pthread_mutex_init(&sh.serial_lock, NULL);
    for (int i = 0; i < n; i++) {
        w[i] = (struct worker){
            .sh = &sh, .index = i < k ? i : i - k, .reader = i >= k};
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
            fprintf(stderr, "FATAL: cannot start thread %d\n", i);
            _exit(3);
        }
    }
    pthread_barrier_wait(&sh.barrier);
    t0 = run_now_ms();
    join_all(w, n, cfg->timeout_s);

    collect_jobs(cfg, w, t0, res);
    collect_readers(w + k, n - k, res);
    for (int i = 0; i < n; i++)
        PQfreeCancel(w[i].cancel);
    pthread_barrier_destroy(&sh.barrier);
    pthread_mutex_destroy(&sh.serial_lock);
    return 0;
}

int run_once(const struct run_config *cfg, struct run_result *res)
{
    const struct scenario *sc = cfg->sc;
    struct worker *w = calloc((size_t)(sc->jobs + sc->readers), sizeof(*w));
    unsigned char ok[SCENARIO_MAX_JOBS];
    struct db_error err;
    PGconn *setup = NULL;
    int rc = -1;

    memset(res, 0, sizeof(*res));
    res->jobs = sc->jobs;
    res->data_ok = -1;
    if (!w)
        goto out;
    setup = db_connect(cfg->setup_dsn, &err);
    if (setup)
        db_exec(setup, "SET client_min_messages = warning", NULL, &err);
    if (!setup || scenario_reset(sc, setup, &err) < 0) {
        fprintf(stderr, "cannot reset tables: %s %s\n", err.sqlstate,
                err.message);
        goto out;
    }
    run_threads(cfg, w, res);

    for (int j = 0; j < sc->jobs; j++)
        ok[j] = (unsigned char)w[j].ok;
    rc = scenario_verify(sc, setup, ok, stderr);
    res->data_ok = rc == 0 ? 1 : rc == 1 ? 0 : -1;
    rc = 0;
out:
    PQfinish(setup);
    free(w);
    return rc;
}
