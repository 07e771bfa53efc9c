/*
 * pgsluice-bench: runs the same concurrent ETL jobs straight to PostgreSQL
 * (with and without client retries) and through pgsluice, interleaving the
 * modes run by run, and reports failures, latency, throughput and whether
 * the final data is exact. Scenarios, runs and output live in their own
 * modules; this file owns options and the order of runs.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "report.h"
#include "run.h"
#include "scenario.h"

#define MAX_LIST 16

enum endpoint { EP_DIRECT, EP_PGSLUICE };

struct mode {
    const char *name;
    enum endpoint ep;
    struct run_policy pol;
};

struct options {
    int scenarios[MAX_LIST], nscenarios;
    int conc[MAX_LIST], nconc;
    struct mode modes[MAX_LIST];
    int nmodes;
    const char *mode_list;
    int rows, tables, per_job_tables, overlap, readers, reps;
    int tries, base_ms, fast_ms;
    double deadline_s, timeout_s;
    const char *dsn, *pg_dsn, *admin_dsn, *admin_query, *isolation, *csv;
    int smoke, verbose;
};

static void usage(FILE *out)
{
    fputs("usage: pgsluice-bench [options]\n"
          "  --scenario LIST       scenarios, e.g. 5,4 (default 5)\n"
          "  --concurrency LIST    concurrent jobs K, 1-64 (default 16)\n"
          "  --rows N              rows per job (default 1000)\n"
          "  --tables N|per-job    target tables; job j writes table j%N\n"
          "  --overlap N           scenario 5: jobs sharing a run_id (2)\n"
          "  --readers N           reader sessions (scenario 8: 4, else 0)\n"
          "  --isolation LEVEL     serializable|repeatable read|read committed"
          "\n                        (default: the server's setting)\n"
          "  --modes LIST          serial,direct,direct-retry,\n"
          "                        direct-retry-fast,pgsluice\n"
          "  --reps N              repetitions of every mode (default 3)\n"
          "  --dsn DSN             PostgreSQL itself (libpq conninfo)\n"
          "  --pgsluice-dsn DSN    the same database through pgsluice\n"
          "  --admin-dsn DSN       pgsluice admin console, for its retries\n"
          "  --admin-query SQL     admin command (default " ADMIN_DEFAULT_QUERY
          ")\n"
          "  --retry-tries N       client tries per job (default 5)\n"
          "  --retry-base-ms MS    direct-retry first wait (default 2000)\n"
          "  --retry-fast-ms MS    direct-retry-fast first wait (default 100)\n"
          "  --retry-deadline S    no retry wait may end later than S s\n"
          "                        after the job started (default: none)\n"
          "  --timeout S           cancel a run after S s (default 600)\n"
          "  --csv FILE            append one row per run to FILE\n"
          "  --smoke               short self-check; non-zero exit on bad\n"
          "                        data or on failures through pgsluice\n"
          "  -v, --verbose         print each run's first error\n",
          out);
}

/* Parses "5,4,1" into v; returns the count, or -1 on junk or overflow. */
static int parse_list(const char *s, int *v, int max)
{
    int n = 0;

    while (*s) {
        char *end;
        long x = strtol(s, &end, 10);

        if (end == s || n == max || (*end && *end != ','))
            return -1;
        v[n++] = (int)x;
        s = *end ? end + 1 : end;
    }
    return n;
}

/* Fills the policy of one named mode; returns 0 or -EINVAL. */
static int mode_init(struct mode *m, const char *name, const struct options *o)
{
    struct run_policy retry = {.tries = o->tries, .deadline_s = o->deadline_s};

    m->ep = EP_DIRECT;
    m->pol = (struct run_policy){.tries = 1};
    if (strcmp(name, "serial") == 0) {
        m->name = "serial";
        m->pol.serial = 1;
    } else if (strcmp(name, "direct") == 0) {
        m->name = "direct";
    } else if (strcmp(name, "direct-retry") == 0) {
        m->name = "direct-retry";
        m->pol = retry;
        m->pol.base_ms = o->base_ms;
    } else if (strcmp(name, "direct-retry-fast") == 0) {
        m->name = "direct-retry-fast";
        m->pol = retry;
        m->pol.base_ms = o->fast_ms;
    } else if (strcmp(name, "pgsluice") == 0) {
        m->name = "pgsluice";
        m->ep = EP_PGSLUICE;
    } else {
        return -EINVAL;
    }
    return 0;
}

static int parse_modes(struct options *o)
{
    char buf[256], *save = NULL;
    const char *list = o->mode_list;

    if (!list)
        list = o->pg_dsn ? "direct,direct-retry,direct-retry-fast,pgsluice"
                         : "direct,direct-retry,direct-retry-fast";
    snprintf(buf, sizeof(buf), "%s", list);
    o->nmodes = 0;
    for (char *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        if (o->nmodes == MAX_LIST || mode_init(&o->modes[o->nmodes], t, o)) {
            fprintf(stderr, "unknown mode: %s\n", t);
            return -1;
        }
        if (o->modes[o->nmodes].ep == EP_PGSLUICE && !o->pg_dsn) {
            fprintf(stderr, "mode pgsluice needs --pgsluice-dsn\n");
            return -1;
        }
        o->nmodes++;
    }
    return o->nmodes ? 0 : -1;
}

/* The short self-check for `make check`: two scenarios, four jobs, one
 * repetition, unless the command line chose otherwise. */
static void smoke_defaults(struct options *o, const struct options *given)
{
    if (!given->nscenarios) {
        o->scenarios[0] = 5;
        o->scenarios[1] = 1;
        o->nscenarios = 2;
    }
    if (!given->nconc) {
        o->conc[0] = 4;
        o->nconc = 1;
    }
    if (!given->rows)
        o->rows = 200;
    if (!given->reps)
        o->reps = 1;
    if (!o->mode_list)
        o->mode_list = o->pg_dsn ? "direct,direct-retry-fast,pgsluice"
                                 : "direct,direct-retry-fast";
}

/* Defaults of the options a smoke run may also set. */
static void default_if_unset(struct options *o)
{
    if (!o->nscenarios) {
        o->scenarios[0] = 5;
        o->nscenarios = 1;
    }
    if (!o->nconc) {
        o->conc[0] = 16;
        o->nconc = 1;
    }
    if (!o->rows)
        o->rows = 1000;
    if (!o->reps)
        o->reps = 3;
}

static const struct option long_opts[] = {
    {"scenario", required_argument, NULL, 's'},
    {"concurrency", required_argument, NULL, 'k'},
    {"rows", required_argument, NULL, 'n'},
    {"tables", required_argument, NULL, 't'},
    {"overlap", required_argument, NULL, 'o'},
    {"readers", required_argument, NULL, 'R'},
    {"isolation", required_argument, NULL, 'i'},
    {"modes", required_argument, NULL, 'm'},
    {"reps", required_argument, NULL, 'r'},
    {"dsn", required_argument, NULL, 'd'},
    {"pgsluice-dsn", required_argument, NULL, 'p'},
    {"admin-dsn", required_argument, NULL, 'a'},
    {"admin-query", required_argument, NULL, 'A'},
    {"retry-tries", required_argument, NULL, 'T'},
    {"retry-base-ms", required_argument, NULL, 'B'},
    {"retry-fast-ms", required_argument, NULL, 'F'},
    {"retry-deadline", required_argument, NULL, 'D'},
    {"timeout", required_argument, NULL, 'W'},
    {"csv", required_argument, NULL, 'c'},
    {"smoke", no_argument, NULL, 'S'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Endpoints, client policy and output options; -1 when c is none. */
static int parse_client_option(struct options *o, int c, const char *arg)
{
    switch (c) {
    case 'd':
        o->dsn = arg;
        return 0;
    case 'p':
        o->pg_dsn = arg;
        return 0;
    case 'a':
        o->admin_dsn = arg;
        return 0;
    case 'A':
        o->admin_query = arg;
        return 0;
    case 'T':
        o->tries = atoi(arg);
        return o->tries > 0 ? 0 : -1;
    case 'B':
        o->base_ms = atoi(arg);
        return 0;
    case 'F':
        o->fast_ms = atoi(arg);
        return 0;
    case 'D':
        o->deadline_s = atof(arg);
        return 0;
    case 'W':
        o->timeout_s = atof(arg);
        return o->timeout_s > 0 ? 0 : -1;
    case 'c':
        o->csv = arg;
        return 0;
    case 'S':
        o->smoke = 1;
        return 0;
    case 'v':
        o->verbose = 1;
        return 0;
    default:
        return -1;
    }
}

/* Workload options, then the rest; returns 0 or -1. */
static int parse_option(struct options *o, int c, const char *arg)
{
    switch (c) {
    case 's':
        return (o->nscenarios = parse_list(arg, o->scenarios, MAX_LIST)) > 0
                   ? 0
                   : -1;
    case 'k':
        return (o->nconc = parse_list(arg, o->conc, MAX_LIST)) > 0 ? 0 : -1;
    case 'n':
        o->rows = atoi(arg);
        return 0;
    case 't':
        o->per_job_tables = strcmp(arg, "per-job") == 0;
        o->tables = atoi(arg);
        return 0;
    case 'o':
        o->overlap = atoi(arg);
        return 0;
    case 'R':
        o->readers = atoi(arg);
        return 0;
    case 'i':
        o->isolation = arg;
        return 0;
    case 'm':
        o->mode_list = arg;
        return 0;
    case 'r':
        o->reps = atoi(arg);
        return o->reps > 0 ? 0 : -1;
    default:
        return parse_client_option(o, c, arg);
    }
}

static int parse_options(struct options *o, int argc, char **argv)
{
    struct options given = {0};
    int c;

    *o = (struct options){.readers = -1,
                          .tries = 5,
                          .base_ms = 2000,
                          .fast_ms = 100,
                          .timeout_s = 600,
                          .dsn = ""};
    while ((c = getopt_long(argc, argv, "vh", long_opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            exit(0);
        }
        if (parse_option(o, c, optarg) < 0) {
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return -1;
    }
    given = *o;
    if (o->smoke)
        smoke_defaults(o, &given);
    default_if_unset(o);
    return parse_modes(o);
}

/* Outcome flags of the whole invocation. */
struct verdict {
    int bad_data;
    int pgsluice_failures;
    int errors;
};

/* One repetition of one mode; fills e and updates v. */
static void run_mode(const struct options *o, const struct scenario *sc,
                     const struct mode *m, struct report_entry *e,
                     struct verdict *v)
{
    struct run_config cfg = {.sc = sc,
                             .setup_dsn = o->dsn,
                             .isolation = o->isolation,
                             .policy = m->pol,
                             .timeout_s = o->timeout_s};
    long before = -1, after = -1;

    cfg.dsn = m->ep == EP_PGSLUICE ? o->pg_dsn : o->dsn;
    if (m->ep == EP_PGSLUICE)
        before = admin_read_retries(o->admin_dsn, o->admin_query);
    if (run_once(&cfg, &e->r) < 0) {
        v->errors++;
        e->r.data_ok = -1;
    }
    if (m->ep == EP_PGSLUICE) {
        after = admin_read_retries(o->admin_dsn, o->admin_query);
        e->r.retries = before >= 0 && after >= 0 ? after - before : -1;
        v->pgsluice_failures += e->r.failures.total != 0;
    }
    if (e->r.data_ok == 0)
        v->bad_data++;
    else if (e->r.data_ok < 0)
        v->errors++;
    report_print_row(stdout, e);
    if (o->verbose && e->r.first_error[0])
        printf("    first error: %s\n", e->r.first_error);
    if (o->csv && report_append_csv(o->csv, e) < 0)
        fprintf(stderr, "cannot append to %s\n", o->csv);
}

/* Builds the scenario for one (id, K); exits on impossible options. */
static void make_scenario(const struct options *o, int id, int k,
                          struct scenario *sc)
{
    int tables = o->per_job_tables ? k : o->tables;

    if (scenario_init(sc, id, k, o->rows, tables, o->overlap, o->readers) < 0) {
        fprintf(stderr, "invalid scenario %d with K=%d rows=%d tables=%d\n", id,
                k, o->rows, tables);
        exit(2);
    }
}

/* Runs every scenario x K x repetition x mode, modes interleaved. */
static size_t run_all(const struct options *o, struct report_entry *e,
                      struct verdict *v)
{
    size_t n = 0;

    report_print_header(stdout);
    for (int s = 0; s < o->nscenarios; s++) {
        for (int c = 0; c < o->nconc; c++) {
            struct scenario sc;

            make_scenario(o, o->scenarios[s], o->conc[c], &sc);
            for (int rep = 1; rep <= o->reps; rep++) {
                for (int m = 0; m < o->nmodes; m++, n++) {
                    e[n] = (struct report_entry){.scenario = sc.id,
                                                 .mode = o->modes[m].name,
                                                 .concurrency = sc.jobs,
                                                 .rep = rep};
                    run_mode(o, &sc, &o->modes[m], &e[n], v);
                }
            }
        }
    }
    return n;
}

int main(int argc, char **argv)
{
    struct options o;
    struct verdict v = {0};
    struct report_entry *e;
    size_t n;

    if (parse_options(&o, argc, argv) < 0)
        return 2;
    if (!o.pg_dsn && !o.mode_list)
        fprintf(stderr, "no --pgsluice-dsn: running without the pgsluice "
                        "mode\n");
    e = calloc((size_t)(o.nscenarios * o.nconc * o.reps * o.nmodes),
               sizeof(*e));
    if (!e)
        return 2;
    n = run_all(&o, e, &v);
    report_print_summary(stdout, e, n);
    free(e);

    if (v.bad_data)
        printf("\nDATA CHECK FAILED in %d run(s): rows lost or duplicated, "
               "see the messages above\n",
               v.bad_data);
    if (v.errors)
        printf("\n%d run(s) could not be set up or checked\n", v.errors);
    if (o.smoke && v.pgsluice_failures)
        printf("\nSMOKE FAILED: %d pgsluice run(s) showed client-visible "
               "failures\n",
               v.pgsluice_failures);
    if (v.bad_data || v.errors || (o.smoke && v.pgsluice_failures))
        return 1;
    if (o.smoke)
        printf("\nsmoke ok\n");
    return 0;
}
