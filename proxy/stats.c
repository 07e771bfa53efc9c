/*
 * Counters the console and the metrics endpoint read: per-table wait and
 * hold histograms, retry outcomes per (table, SQLSTATE), and a ring of
 * recent serialization errors. Sessions and the retry engine record;
 * nothing here acts on what it holds. Single-threaded: the loop's.
 */
#include "proxy/stats.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds keep a flood of distinct names from growing memory without end;
 * past them new names are not counted (existing ones still are). */
#define MAX_TABLES 10000
#define MAX_SERIES 20000

const double stats_bucket_le[STATS_NBUCKETS] = {
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1,    2.5,
    5,     10,    30,   60,   120, 300,  600, 1800, 3600,
};

typedef struct tentry {
    char *table;
    stats_hist_t wait, hold;
} tentry_t;

typedef struct sentry {
    char *table;
    char sqlstate[6];
    uint64_t attempts, succeeded, gave_up, passed;
} sentry_t;

typedef struct ring_entry {
    stats_error_t e; /* strings owned */
    char cycle[128];
} ring_entry_t;

static struct {
    tentry_t *tables;
    int ntables, cap_tables;
    sentry_t *series;
    int nseries, cap_series;
    ring_entry_t ring[STATS_ERRORS_KEPT];
    int ring_next, ring_count;
} g;

/* ---- lookups: both arrays stay sorted ---- */

static int table_pos(const char *table, int *found)
{
    int lo = 0, hi = g.ntables;

    while (lo < hi) {
        int mid = (lo + hi) / 2, c = strcmp(g.tables[mid].table, table);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static tentry_t *table_get(const char *table)
{
    int found, i = table_pos(table ? table : "", &found);
    tentry_t *v;

    if (found)
        return &g.tables[i];
    if (g.ntables >= MAX_TABLES)
        return NULL;
    if (g.ntables == g.cap_tables) {
        int cap = g.cap_tables ? g.cap_tables * 2 : 16;
        v = realloc(g.tables, sizeof(*v) * (size_t)cap);
        if (!v)
            return NULL;
        g.tables = v;
        g.cap_tables = cap;
    }
    memmove(&g.tables[i + 1], &g.tables[i],
            sizeof(*v) * (size_t)(g.ntables - i));
    memset(&g.tables[i], 0, sizeof(g.tables[i]));
    g.tables[i].table = strdup(table ? table : "");
    if (!g.tables[i].table) {
        memmove(&g.tables[i], &g.tables[i + 1],
                sizeof(*v) * (size_t)(g.ntables - i));
        return NULL;
    }
    g.ntables++;
    return &g.tables[i];
}

static int series_cmp(const sentry_t *e, const char *table,
                      const char *sqlstate)
{
    int c = strcmp(e->table, table);

    return c ? c : strcmp(e->sqlstate, sqlstate);
}

static sentry_t *series_get(const char *table, const char *sqlstate)
{
    char st[6];
    int lo = 0, hi = g.nseries, mid, c;
    tentry_t *t;
    sentry_t *v;

    snprintf(st, sizeof(st), "%s", sqlstate ? sqlstate : "");
    while (lo < hi) {
        mid = (lo + hi) / 2;
        c = series_cmp(&g.series[mid], table, st);
        if (c == 0)
            return &g.series[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (g.nseries >= MAX_SERIES || !(t = table_get(table)))
        return NULL;
    if (g.nseries == g.cap_series) {
        int cap = g.cap_series ? g.cap_series * 2 : 16;
        v = realloc(g.series, sizeof(*v) * (size_t)cap);
        if (!v)
            return NULL;
        g.series = v;
        g.cap_series = cap;
    }
    memmove(&g.series[lo + 1], &g.series[lo],
            sizeof(*v) * (size_t)(g.nseries - lo));
    memset(&g.series[lo], 0, sizeof(g.series[lo]));
    g.series[lo].table = t->table; /* owned by the table entry */
    memcpy(g.series[lo].sqlstate, st, sizeof(st));
    g.nseries++;
    return &g.series[lo];
}

/* ---- recording ---- */

/* Calls fn for each of tables[0..n), or once for "" when n is 0. */
static void each_table(const char *const *tables, int n, const char *sqlstate,
                       void (*fn)(sentry_t *e, int arg), int arg)
{
    sentry_t *e;

    for (int i = 0; i < (n > 0 ? n : 1); i++) {
        e = series_get(n > 0 && tables[i] ? tables[i] : "", sqlstate);
        if (e)
            fn(e, arg);
    }
}

static void count_retry(sentry_t *e, int outcome)
{
    if (outcome == STATS_RETRY_ATTEMPT)
        e->attempts++;
    else if (outcome == STATS_RETRY_SUCCEEDED)
        e->succeeded++;
    else
        e->gave_up++;
}

static void count_passed(sentry_t *e, int unused)
{
    (void)unused;
    e->passed++;
}

void stats_retry(const char *const *tables, int n,
                 stats_retry_outcome_t outcome, const char *sqlstate)
{
    each_table(tables, n, sqlstate, count_retry, (int)outcome);
}

void stats_error_passed(const char *const *tables, int n, const char *sqlstate)
{
    each_table(tables, n, sqlstate, count_passed, 0);
}

static void observe(stats_hist_t *h, uint64_t ms)
{
    for (int i = 0; i < STATS_NBUCKETS; i++)
        if ((double)ms <= stats_bucket_le[i] * 1000.0) {
            h->counts[i]++;
            break;
        }
    h->count++;
    h->sum_ms += ms;
}

void stats_observe_wait(const char *table, uint64_t ms)
{
    tentry_t *t = table_get(table);

    if (t)
        observe(&t->wait, ms);
}

void stats_observe_hold(const char *table, uint64_t ms)
{
    tentry_t *t = table_get(table);

    if (t)
        observe(&t->hold, ms);
}

/* ---- the error ring ---- */

static char *copy_cut(const char *s, size_t max)
{
    return s ? strndup(s, max) : NULL;
}

static void entry_clear(ring_entry_t *r)
{
    free((char *)r->e.tables);
    free((char *)r->e.sqlstate);
    free((char *)r->e.message);
    free((char *)r->e.detail);
    free((char *)r->e.outcome);
    free((char *)r->e.statement);
    memset(r, 0, sizeof(*r));
}

int stats_parse_cycle(const char *text, char *out, size_t len)
{
    const char *p = text ? strstr(text, "forming the cycle are:") : NULL;
    size_t used = 0, d;
    int n = 0;

    if (len)
        out[0] = '\0';
    if (!p)
        return 0;
    p += strlen("forming the cycle are:");
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        for (d = 0; isdigit((unsigned char)p[d]); d++)
            ;
        if (d == 0 || used + d + 2 > len)
            break;
        used += (size_t)snprintf(out + used, len - used, "%s%.*s", n ? "," : "",
                                 (int)d, p);
        p += d;
        n++;
    }
    return n;
}

void stats_record_error(const stats_error_t *e)
{
    ring_entry_t *r = &g.ring[g.ring_next];

    entry_clear(r);
    r->e.time_ms = e->time_ms;
    r->e.session = e->session;
    r->e.attempt = e->attempt;
    r->e.tables = copy_cut(e->tables ? e->tables : "", 300);
    r->e.sqlstate = copy_cut(e->sqlstate ? e->sqlstate : "", 5);
    r->e.message = copy_cut(e->message ? e->message : "", 500);
    r->e.detail = copy_cut(e->detail, 1000);
    r->e.outcome = copy_cut(e->outcome ? e->outcome : "", 200);
    r->e.statement = copy_cut(e->statement, 255);
    if (!stats_parse_cycle(e->detail, r->cycle, sizeof(r->cycle)))
        stats_parse_cycle(e->message, r->cycle, sizeof(r->cycle));
    g.ring_next = (g.ring_next + 1) % STATS_ERRORS_KEPT;
    if (g.ring_count < STATS_ERRORS_KEPT)
        g.ring_count++;
}

/* ---- reading ---- */

void stats_foreach_table(void (*fn)(void *arg, const stats_table_t *t),
                         void *arg)
{
    int j = 0;

    for (int i = 0; i < g.ntables; i++) {
        stats_table_t t = {.table = g.tables[i].table,
                           .wait = g.tables[i].wait,
                           .hold = g.tables[i].hold};
        /* Series point at their table's own string, in the same order. */
        for (; j < g.nseries && g.series[j].table == t.table; j++) {
            t.retries += g.series[j].attempts;
            t.retries_succeeded += g.series[j].succeeded;
            t.gave_up += g.series[j].gave_up;
            t.errors_passed += g.series[j].passed;
        }
        fn(arg, &t);
    }
}

void stats_foreach_series(void (*fn)(void *arg, const stats_series_t *s),
                          void *arg)
{
    for (int i = 0; i < g.nseries; i++) {
        const sentry_t *e = &g.series[i];
        stats_series_t s = {e->table,     e->sqlstate, e->attempts,
                            e->succeeded, e->gave_up,  e->passed};
        fn(arg, &s);
    }
}

void stats_foreach_error(void (*fn)(void *arg, const stats_error_t *e,
                                    const char *cycle),
                         void *arg)
{
    for (int k = 1; k <= g.ring_count; k++) {
        int i = (g.ring_next - k + STATS_ERRORS_KEPT) % STATS_ERRORS_KEPT;
        fn(arg, &g.ring[i].e, g.ring[i].cycle);
    }
}

void stats_free(void)
{
    for (int i = 0; i < STATS_ERRORS_KEPT; i++)
        entry_clear(&g.ring[i]);
    for (int i = 0; i < g.ntables; i++)
        free(g.tables[i].table);
    free(g.tables);
    free(g.series);
    memset(&g, 0, sizeof(g));
}
