/*
 * Unit tests of the per-table writer queues (proxy/queue.c) on a real libuv
 * loop: grants, FIFO order, all-at-once requests, cancel and release,
 * timeouts, deadlocks, pause, limit changes, re-entrant callbacks and stats.
 */
#include "proxy/queue.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tests/unit/expect.h"

/* ---- limits, looked up by table name; 1 unless listed ---- */

struct limit {
    const char *table;
    int n;
};
static struct limit limits[8];

static int limit_of(void *arg, const char *table)
{
    for (int i = 0; i < 8 && limits[i].table; i++)
        if (strcmp(limits[i].table, table) == 0)
            return limits[i].n;
    return 1;
}

static void set_limit(const char *table, int n)
{
    int i = 0;

    while (i < 7 && limits[i].table && strcmp(limits[i].table, table) != 0)
        i++;
    limits[i].table = table;
    limits[i].n = n;
}

/* ---- what a callback saw ---- */

struct rec {
    uint64_t sid;
    int fired, status;
    char table[32];
    uint64_t holder, waited_ms;
    int ncycle;
    char cyc_tables[4][32];
    uint64_t cyc_sids[4];
};

/* Grant order across sessions, by sid. */
static uint64_t order[64];
static int norder;

static void copy_refusal(struct rec *r, const queue_refusal_t *info)
{
    snprintf(r->table, sizeof(r->table), "%s", info->table ? info->table : "");
    r->holder = info->holder;
    r->waited_ms = info->waited_ms;
    r->ncycle = info->ncycle;
    for (int i = 0; i < info->ncycle && i < 4; i++) {
        snprintf(r->cyc_tables[i], 32, "%s", info->cycle_tables[i]);
        r->cyc_sids[i] = info->cycle_sids[i];
    }
}

static void on_result(void *arg, int status, const queue_refusal_t *info)
{
    struct rec *r = arg;

    r->fired++;
    r->status = status;
    if (status == QUEUE_GRANTED && norder < 64)
        order[norder++] = r->sid;
    if (info)
        copy_refusal(r, info);
}

/* ---- fixture ---- */

static uv_loop_t loop;
static queue_mgr_t *q;

static void setup(void)
{
    memset(limits, 0, sizeof(limits));
    norder = 0;
    uv_loop_init(&loop);
    q = queue_mgr_new(&loop, limit_of, NULL);
}

/* Frees the manager and checks the loop can close: no handle left open. */
static void teardown(void)
{
    queue_mgr_free(q);
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT(uv_loop_close(&loop) == 0);
}

static int acq(uint64_t sid, const char *t, struct rec *r)
{
    const char *v[1] = {t};

    if (r)
        r->sid = sid;
    return queue_acquire(q, sid, v, 1, on_result, r);
}

static int acq2(uint64_t sid, const char *a, const char *b, struct rec *r)
{
    const char *v[2] = {a, b};

    if (r)
        r->sid = sid;
    return queue_acquire(q, sid, v, 2, on_result, r);
}

static queue_table_info_t found;
static queue_entry_info_t found_h[8], found_w[8];
static const char *want_table;

static void find_cb(void *arg, const queue_table_info_t *info)
{
    if (strcmp(info->table, want_table) != 0)
        return;
    found = *info;
    for (int i = 0; i < info->nholders && i < 8; i++)
        found_h[i] = info->holders[i];
    for (int i = 0; i < info->nwaiters && i < 8; i++)
        found_w[i] = info->waiters[i];
    *(int *)arg = 1;
}

/* The stats of one table, copied; 0 if the manager does not know it. */
static int table_info(const char *t)
{
    int seen = 0;

    want_table = t;
    memset(&found, 0, sizeof(found));
    queue_foreach(q, find_cb, &seen);
    return seen;
}

/* ---- tests ---- */

static void test_immediate_grant(void)
{
    struct rec r = {0};

    setup();
    EXPECT(acq(1, "public.a", &r) == QUEUE_GRANTED);
    EXPECT(queue_held_count(q, 1) == 1);
    EXPECT(queue_holds(q, 1, "public.a") == 1);
    EXPECT(queue_holds(q, 1, "public.b") == 0);
    EXPECT(r.fired == 0);
    EXPECT(acq(1, "public.a", &r) == QUEUE_GRANTED); /* already held */
    EXPECT(queue_held_count(q, 1) == 1);
    EXPECT(queue_acquire(q, 2, NULL, 0, on_result, NULL) == QUEUE_GRANTED);
    EXPECT(queue_held_count(q, 2) == 0);
    queue_release_all(q, 1);
    EXPECT(queue_held_count(q, 1) == 0);
    teardown();
}

static void test_limit_two(void)
{
    struct rec r[4] = {{0}};

    setup();
    set_limit("a", 2);
    EXPECT(acq(1, "a", &r[1]) == QUEUE_GRANTED);
    EXPECT(acq(2, "a", &r[2]) == QUEUE_GRANTED);
    EXPECT(acq(3, "a", &r[3]) == QUEUE_WAITING);
    EXPECT(table_info("a") && found.limit == 2 && found.nholders == 2);
    EXPECT(found.nwaiters == 1 && found_w[0].sid == 3);
    EXPECT(acq(3, "b", &r[3]) == QUEUE_EBUSY);
    queue_release_all(q, 2);
    EXPECT(r[3].fired == 1 && r[3].status == QUEUE_GRANTED);
    EXPECT(queue_held_count(q, 3) == 1);
    EXPECT(r[1].fired == 0 && r[2].fired == 0);
    teardown();
}

static void test_fifo_five(void)
{
    struct rec r[7] = {{0}};

    setup();
    EXPECT(acq(1, "a", &r[1]) == QUEUE_GRANTED);
    /* Arrival order deliberately not sid order. */
    uint64_t arrive[5] = {4, 2, 6, 3, 5};
    for (int i = 0; i < 5; i++)
        EXPECT(acq(arrive[i], "a", &r[arrive[i]]) == QUEUE_WAITING);
    queue_release_all(q, 1);
    for (int i = 0; i < 5; i++) {
        EXPECT(norder == i + 1);
        EXPECT(order[i] == arrive[i]);
        queue_release_all(q, arrive[i]);
    }
    EXPECT(norder == 5);
    EXPECT(table_info("a") && found.nholders == 0 && found.nwaiters == 0);
    teardown();
}

/* No partial holding while waiting; the waiter's place on its other table
 * is kept, so a later request cannot take it. */
static void test_multi_table(void)
{
    struct rec r[4] = {{0}};

    setup();
    EXPECT(acq(1, "b", &r[1]) == QUEUE_GRANTED);
    EXPECT(acq2(2, "b", "a", &r[2]) == QUEUE_WAITING);
    EXPECT(queue_held_count(q, 2) == 0);
    EXPECT(table_info("a") && found.nholders == 0 && found.nwaiters == 1);
    EXPECT(acq(3, "a", &r[3]) == QUEUE_WAITING);
    queue_release_all(q, 1);
    EXPECT(r[2].fired == 1 && r[2].status == QUEUE_GRANTED);
    EXPECT(queue_holds(q, 2, "a") && queue_holds(q, 2, "b"));
    EXPECT(r[3].fired == 0);
    queue_release_all(q, 2);
    EXPECT(r[3].fired == 1 && queue_holds(q, 3, "a"));
    teardown();
}

/* With limit 2, an earlier waiter blocked elsewhere keeps one slot; a later
 * request may use the slot left over, but not the reserved one. */
static void test_reservation_limit_two(void)
{
    struct rec r[5] = {{0}};

    setup();
    set_limit("a", 2);
    EXPECT(acq(1, "b", &r[1]) == QUEUE_GRANTED);
    EXPECT(acq2(2, "a", "b", &r[2]) == QUEUE_WAITING);
    EXPECT(acq(3, "a", &r[3]) == QUEUE_GRANTED);
    EXPECT(acq(4, "a", &r[4]) == QUEUE_WAITING);
    queue_release_all(q, 1);
    EXPECT(r[2].fired == 1 && queue_held_count(q, 2) == 2);
    EXPECT(r[4].fired == 0);
    queue_release_all(q, 3);
    EXPECT(r[4].fired == 1 && r[4].status == QUEUE_GRANTED);
    teardown();
}

static void test_skip_held_and_order(void)
{
    struct rec r[3] = {{0}};
    const char *dup[4] = {"c", "a", "c", "b"};

    setup();
    EXPECT(acq(1, "a", &r[1]) == QUEUE_GRANTED);
    EXPECT(queue_acquire(q, 1, dup, 4, on_result, &r[1]) == QUEUE_GRANTED);
    EXPECT(queue_held_count(q, 1) == 3);
    queue_release_all(q, 1);

    EXPECT(acq(2, "b", &r[2]) == QUEUE_GRANTED);
    EXPECT(acq(1, "a", &r[1]) == QUEUE_GRANTED);
    EXPECT(acq2(1, "a", "b", &r[1]) == QUEUE_WAITING);
    EXPECT(table_info("a") && found.nwaiters == 0 && found.nholders == 1);
    EXPECT(table_info("b") && found.nwaiters == 1 && found_w[0].sid == 1);
    queue_release_all(q, 2);
    EXPECT(r[1].fired == 1 && queue_held_count(q, 1) == 2);
    teardown();
}

static void test_cancel(void)
{
    struct rec r[4] = {{0}};

    setup();
    EXPECT(acq(1, "a", &r[1]) == QUEUE_GRANTED);
    EXPECT(acq(2, "a", &r[2]) == QUEUE_WAITING);
    queue_cancel(q, 2);
    EXPECT(table_info("a") && found.nwaiters == 0);
    queue_release_all(q, 1);
    EXPECT(r[2].fired == 0 && queue_held_count(q, 2) == 0);
    EXPECT(table_info("a") && found.nholders == 0);

    /* Cancelling frees the place the waiter kept on its other table. */
    EXPECT(acq(1, "a", &r[1]) == QUEUE_GRANTED);
    EXPECT(acq2(2, "a", "b", &r[2]) == QUEUE_WAITING);
    EXPECT(acq(3, "b", &r[3]) == QUEUE_WAITING);
    queue_cancel(q, 2);
    EXPECT(r[3].fired == 1 && r[3].status == QUEUE_GRANTED);
    EXPECT(r[2].fired == 0);
    queue_cancel(q, 99); /* unknown: no effect */
    teardown();
}

static void test_release_all(void)
{
    struct rec r[4] = {{0}};
    const char *two[2] = {"a", "b"};

    setup();
    EXPECT(queue_acquire(q, 1, two, 2, on_result, &r[1]) == QUEUE_GRANTED);
    EXPECT(acq(2, "a", &r[2]) == QUEUE_WAITING);
    EXPECT(acq(3, "b", &r[3]) == QUEUE_WAITING);
    queue_release_all(q, 1);
    EXPECT(queue_held_count(q, 1) == 0);
    EXPECT(r[2].fired == 1 && r[3].fired == 1);
    EXPECT(queue_holds(q, 2, "a") && queue_holds(q, 3, "b"));
    /* A waiting session's release drops its request too. */
    EXPECT(acq(1, "a", &r[1]) == QUEUE_WAITING);
    queue_release_all(q, 1);
    queue_release_all(q, 2);
    EXPECT(r[1].fired == 0);
    EXPECT(table_info("a") && found.nholders == 0 && found.nwaiters == 0);
    teardown();
}

static void test_timeout(void)
{
    struct rec r[4] = {{0}};

    setup();
    queue_set_wait_timeout(q, 30);
    EXPECT(acq(1, "a", &r[1]) == QUEUE_GRANTED);
    EXPECT(acq2(2, "b", "a", &r[2]) == QUEUE_WAITING);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once the timer is idle */
    EXPECT(r[2].fired == 1 && r[2].status == QUEUE_ETIMEDOUT);
    EXPECT(strcmp(r[2].table, "a") == 0);
    EXPECT(r[2].holder == 1);
    EXPECT(r[2].waited_ms >= 30 && r[2].waited_ms < 1000);
    EXPECT(queue_held_count(q, 2) == 0);
    EXPECT(table_info("a") && found.timeouts == 1 && found.nwaiters == 0);
    EXPECT(table_info("b") && found.timeouts == 0 && found.nwaiters == 0);
    EXPECT(r[1].fired == 0 && queue_held_count(q, 1) == 1);
    teardown();
}

/* The oldest expires first; a younger one with time left keeps waiting. */
static void test_timeout_order(void)
{
    struct rec r[4] = {{0}};

    setup();
    queue_set_wait_timeout(q, 40);
    EXPECT(acq(1, "a", &r[1]) == QUEUE_GRANTED);
    EXPECT(acq(2, "a", &r[2]) == QUEUE_WAITING);
    uv_sleep(25);
    uv_update_time(&loop);
    EXPECT(acq(3, "a", &r[3]) == QUEUE_WAITING);
    uv_run(&loop, UV_RUN_ONCE);
    EXPECT(r[2].fired == 1 && r[2].status == QUEUE_ETIMEDOUT);
    EXPECT(r[3].fired == 0);
    queue_set_wait_timeout(q, 0); /* 0: wait forever */
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT(r[3].fired == 0);
    queue_release_all(q, 1);
    EXPECT(r[3].fired == 1 && r[3].status == QUEUE_GRANTED);
    teardown();
}

static void test_deadlock_two(void)
{
    struct rec r[3] = {{0}};
    const queue_refusal_t *ref;

    setup();
    EXPECT(acq(1, "a", &r[1]) == QUEUE_GRANTED);
    EXPECT(acq(2, "b", &r[2]) == QUEUE_GRANTED);
    EXPECT(queue_last_refusal(q) == NULL);
    EXPECT(acq(1, "b", &r[1]) == QUEUE_WAITING);
    EXPECT(acq(2, "a", &r[2]) == QUEUE_EDEADLK);
    ref = queue_last_refusal(q);
    EXPECT(ref != NULL);
    if (ref) {
        EXPECT(strcmp(ref->table, "a") == 0 && ref->holder == 1);
        EXPECT(ref->ncycle == 2);
        EXPECT(ref->ncycle == 2 && strcmp(ref->cycle_tables[0], "a") == 0 &&
               strcmp(ref->cycle_tables[1], "b") == 0);
        EXPECT(ref->ncycle == 2 && ref->cycle_sids[0] == 2 &&
               ref->cycle_sids[1] == 1);
    }
    EXPECT(queue_held_count(q, 2) == 1);
    EXPECT(table_info("a") && found.nwaiters == 0 && found.deadlocks == 1);
    EXPECT(table_info("b") && found.deadlocks == 1 && found.waits == 1);
    EXPECT(r[2].fired == 0 && r[1].fired == 0);
    queue_release_all(q, 2);
    EXPECT(r[1].fired == 1 && queue_held_count(q, 1) == 2);
    teardown();
}

static void test_deadlock_three(void)
{
    struct rec r[4] = {{0}};
    const queue_refusal_t *ref;

    setup();
    EXPECT(acq(1, "a", &r[1]) == QUEUE_GRANTED);
    EXPECT(acq(2, "b", &r[2]) == QUEUE_GRANTED);
    EXPECT(acq(3, "c", &r[3]) == QUEUE_GRANTED);
    EXPECT(acq(1, "b", &r[1]) == QUEUE_WAITING);
    EXPECT(acq(2, "c", &r[2]) == QUEUE_WAITING);
    EXPECT(acq(3, "a", &r[3]) == QUEUE_EDEADLK);
    ref = queue_last_refusal(q);
    EXPECT(ref && ref->ncycle == 3);
    if (ref && ref->ncycle == 3) {
        EXPECT(ref->cycle_sids[0] == 3 && ref->cycle_sids[1] == 1 &&
               ref->cycle_sids[2] == 2);
        EXPECT(strcmp(ref->cycle_tables[0], "a") == 0 &&
               strcmp(ref->cycle_tables[1], "b") == 0 &&
               strcmp(ref->cycle_tables[2], "c") == 0);
    }
    /* The victim's release unwinds the chain. */
    queue_release_all(q, 3);
    EXPECT(r[2].fired == 1 && r[2].status == QUEUE_GRANTED);
    queue_release_all(q, 2);
    EXPECT(r[1].fired == 1 && r[1].status == QUEUE_GRANTED);
    teardown();
}

/* A cycle through one of two holders of a limit-2 table is no deadlock:
 * the other holder can finish. */
static void test_no_false_deadlock(void)
{
    struct rec r[4] = {{0}};

    setup();
    set_limit("a", 2);
    EXPECT(acq(1, "a", &r[1]) == QUEUE_GRANTED);
    EXPECT(acq(3, "a", &r[3]) == QUEUE_GRANTED);
    EXPECT(acq(2, "b", &r[2]) == QUEUE_GRANTED);
    EXPECT(acq(2, "a", &r[2]) == QUEUE_WAITING);
    EXPECT(acq(1, "b", &r[1]) == QUEUE_WAITING);
    queue_release_all(q, 3);
    EXPECT(r[2].fired == 1 && r[2].status == QUEUE_GRANTED);
    queue_release_all(q, 2);
    EXPECT(r[1].fired == 1 && r[1].status == QUEUE_GRANTED);
    teardown();
}

/* FIFO blocks too: w waits behind qq on t, qq waits for s held by v, and
 * v's new request for x (held by w) closes the cycle. */
static void test_deadlock_through_fifo(void)
{
    struct rec r[6] = {{0}};
    const queue_refusal_t *ref;

    setup();
    EXPECT(acq(1, "t", &r[1]) == QUEUE_GRANTED);       /* h, will finish */
    EXPECT(acq(2, "s", &r[2]) == QUEUE_GRANTED);       /* v */
    EXPECT(acq2(3, "t", "s", &r[3]) == QUEUE_WAITING); /* qq */
    EXPECT(acq(4, "x", &r[4]) == QUEUE_GRANTED);       /* w */
    EXPECT(acq(4, "t", &r[4]) == QUEUE_WAITING);
    EXPECT(acq(2, "x", &r[2]) == QUEUE_EDEADLK);
    ref = queue_last_refusal(q);
    EXPECT(ref && ref->ncycle == 3);
    if (ref && ref->ncycle == 3) {
        EXPECT(ref->cycle_sids[0] == 2 && ref->cycle_sids[1] == 4 &&
               ref->cycle_sids[2] == 3);
        EXPECT(strcmp(ref->cycle_tables[0], "x") == 0 &&
               strcmp(ref->cycle_tables[1], "t") == 0 &&
               strcmp(ref->cycle_tables[2], "s") == 0);
    }
    /* The victim's release lets the others through in FIFO order. */
    queue_release_all(q, 2);
    queue_release_all(q, 1);
    EXPECT(r[3].fired == 1 && r[3].status == QUEUE_GRANTED);
    queue_release_all(q, 3);
    EXPECT(r[4].fired == 1 && r[4].status == QUEUE_GRANTED);
    teardown();
}

static void test_pause_resume(void)
{
    struct rec r[4] = {{0}};

    setup();
    EXPECT(queue_pause(q, "zz") == 0); /* unknown: created */
    EXPECT(table_info("zz") && found.paused == 1);
    EXPECT(acq(1, "zz", &r[1]) == QUEUE_WAITING);
    EXPECT(queue_resume(q, "zz") == 0);
    EXPECT(r[1].fired == 1 && queue_holds(q, 1, "zz"));

    EXPECT(acq(2, "b", &r[2]) == QUEUE_GRANTED);
    EXPECT(queue_pause(q, "b") == 0);
    EXPECT(queue_held_count(q, 2) == 1); /* holders keep their slots */
    EXPECT(acq(3, "b", &r[3]) == QUEUE_WAITING);
    queue_release_all(q, 2);
    EXPECT(r[3].fired == 0);
    EXPECT(table_info("b") && found.nholders == 0 && found.nwaiters == 1);
    EXPECT(queue_resume(q, "b") == 0);
    EXPECT(r[3].fired == 1 && r[3].status == QUEUE_GRANTED);
    EXPECT(table_info("b") && found.paused == 0 && found.nholders == 1);
    teardown();
}

/* A waiter admitted on a table loses that place when it is paused. */
static void test_pause_admitted(void)
{
    struct rec r[4] = {{0}};

    setup();
    EXPECT(acq(1, "a", &r[1]) == QUEUE_GRANTED);
    EXPECT(acq2(2, "a", "b", &r[2]) == QUEUE_WAITING);
    EXPECT(queue_pause(q, "b") == 0);
    queue_release_all(q, 1);
    EXPECT(r[2].fired == 0);
    EXPECT(queue_resume(q, "b") == 0);
    EXPECT(r[2].fired == 1 && queue_held_count(q, 2) == 2);
    teardown();
}

static void test_limits_raise_lower(void)
{
    struct rec r[5] = {{0}};

    setup();
    EXPECT(acq(1, "a", &r[1]) == QUEUE_GRANTED);
    EXPECT(acq(2, "a", &r[2]) == QUEUE_WAITING);
    EXPECT(acq(3, "a", &r[3]) == QUEUE_WAITING);
    EXPECT(acq(4, "a", &r[4]) == QUEUE_WAITING);
    set_limit("a", 3);
    queue_limits_changed(q);
    EXPECT(norder == 2 && order[0] == 2 && order[1] == 3);
    EXPECT(r[4].fired == 0);
    EXPECT(table_info("a") && found.limit == 3 && found.nholders == 3);

    set_limit("a", 1);
    queue_limits_changed(q);
    EXPECT(table_info("a") && found.limit == 1 && found.nholders == 3);
    queue_release_all(q, 1);
    queue_release_all(q, 2);
    EXPECT(r[4].fired == 0);
    queue_release_all(q, 3);
    EXPECT(r[4].fired == 1 && r[4].status == QUEUE_GRANTED);
    teardown();
}

/* Lowering a limit can close a cycle: the youngest waiter in it fails. */
static void test_lower_limit_deadlock(void)
{
    struct rec r[5] = {{0}};

    setup();
    set_limit("a", 2);
    EXPECT(acq(1, "a", &r[1]) == QUEUE_GRANTED);
    EXPECT(acq(2, "b", &r[2]) == QUEUE_GRANTED);
    EXPECT(acq(4, "c", &r[4]) == QUEUE_GRANTED);
    EXPECT(acq2(2, "a", "c", &r[2]) == QUEUE_WAITING);
    EXPECT(acq(1, "b", &r[1]) == QUEUE_WAITING); /* 4 can finish: fine */
    set_limit("a", 1);
    queue_limits_changed(q);
    EXPECT(r[1].fired == 1 && r[1].status == QUEUE_EDEADLK);
    EXPECT(r[1].ncycle == 2 && strcmp(r[1].table, "b") == 0);
    EXPECT(r[1].cyc_sids[0] == 1 && r[1].cyc_sids[1] == 2);
    EXPECT(strcmp(r[1].cyc_tables[0], "b") == 0 &&
           strcmp(r[1].cyc_tables[1], "a") == 0);
    EXPECT(r[2].fired == 0);
    EXPECT(table_info("a") && found.deadlocks == 1);
    queue_release_all(q, 4);
    EXPECT(r[2].fired == 0);
    queue_release_all(q, 1);
    EXPECT(r[2].fired == 1 && queue_held_count(q, 2) == 3);
    teardown();
}

/* ---- callbacks that call back into the manager ---- */

struct hook {
    struct rec rec;
    int action; /* 1 release self, 2 cancel other, 3 acquire b for other,
                  4 acquire a again for self */
    uint64_t other;
    int rc;
};

static void on_hook(void *arg, int status, const queue_refusal_t *info)
{
    struct hook *h = arg;

    on_result(&h->rec, status, info);
    if (h->action == 1)
        queue_release_all(q, h->rec.sid);
    else if (h->action == 2)
        queue_cancel(q, h->other);
    else if (h->action == 3)
        h->rc = acq(h->other, "b", NULL);
    else if (h->action == 4)
        h->rc = acq(h->rec.sid, "a", NULL);
}

static int acq_hook(uint64_t sid, const char *t, struct hook *h)
{
    const char *v[1] = {t};

    h->rec.sid = sid;
    return queue_acquire(q, sid, v, 1, on_hook, h);
}

static void test_reentrant_release(void)
{
    struct hook h[4];

    memset(h, 0, sizeof(h));

    setup();
    h[2].action = 1;
    h[3].action = 3;
    h[3].other = 9;
    EXPECT(acq_hook(1, "a", &h[1]) == QUEUE_GRANTED);
    EXPECT(acq_hook(2, "a", &h[2]) == QUEUE_WAITING);
    EXPECT(acq_hook(3, "a", &h[3]) == QUEUE_WAITING);
    queue_release_all(q, 1);
    EXPECT(h[2].rec.fired == 1 && queue_held_count(q, 2) == 0);
    EXPECT(h[3].rec.fired == 1 && queue_holds(q, 3, "a"));
    EXPECT(h[3].rc == QUEUE_GRANTED && queue_holds(q, 9, "b"));
    EXPECT(norder == 2 && order[0] == 2 && order[1] == 3);
    teardown();
}

/* A grant decided in the same batch but cancelled before delivery is
 * undone and never reported. */
static void test_reentrant_cancel(void)
{
    struct hook h[4];

    memset(h, 0, sizeof(h));

    setup();
    h[2].action = 2;
    h[2].other = 3;
    EXPECT(acq_hook(1, "a", &h[1]) == QUEUE_GRANTED);
    EXPECT(acq_hook(2, "a", &h[2]) == QUEUE_WAITING);
    EXPECT(acq_hook(3, "a", &h[3]) == QUEUE_WAITING);
    set_limit("a", 3);
    queue_limits_changed(q);
    EXPECT(h[2].rec.fired == 1);
    EXPECT(h[3].rec.fired == 0 && queue_held_count(q, 3) == 0);
    EXPECT(table_info("a") && found.nholders == 2 && found.nwaiters == 0);
    teardown();
}

/* A refused session may ask again from inside its callback. */
static void test_reentrant_retry(void)
{
    struct hook h[3];

    memset(h, 0, sizeof(h));

    setup();
    queue_set_wait_timeout(q, 10);
    h[2].action = 4;
    EXPECT(acq_hook(1, "a", &h[1]) == QUEUE_GRANTED);
    EXPECT(acq_hook(2, "a", &h[2]) == QUEUE_WAITING);
    uv_run(&loop, UV_RUN_ONCE);
    EXPECT(h[2].rec.fired == 1 && h[2].rec.status == QUEUE_ETIMEDOUT);
    EXPECT(h[2].rc == QUEUE_WAITING);
    EXPECT(table_info("a") && found.nwaiters == 1 && found_w[0].sid == 2);
    queue_release_all(q, 2);
    teardown();
}

/* ---- stats ---- */

static void release_one(uv_timer_t *t)
{
    queue_release_all(q, *(uint64_t *)t->data);
    uv_close((uv_handle_t *)t, NULL);
}

static const char *names_seen[8];
static int nnames;

static void names_cb(void *arg, const queue_table_info_t *info)
{
    if (nnames < 8)
        names_seen[nnames++] = info->table;
}

static void test_stats(void)
{
    struct rec r[5] = {{0}};
    uv_timer_t t;
    uint64_t one = 1, t0;

    setup();
    queue_set_wait_timeout(q, 200);
    EXPECT(acq(1, "mid", &r[1]) == QUEUE_GRANTED);
    EXPECT(acq(2, "mid", &r[2]) == QUEUE_WAITING);
    EXPECT(queue_pause(q, "zeta") == 0);
    EXPECT(acq(4, "alpha", &r[4]) == QUEUE_GRANTED);
    t0 = uv_now(&loop);
    EXPECT(table_info("mid") && found.nwaiters == 1 &&
           found_w[0].since_ms == t0 && found_h[0].sid == 1);
    uv_timer_init(&loop, &t);
    t.data = &one;
    uv_timer_start(&t, release_one, 25, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT(r[2].fired == 1 && r[2].status == QUEUE_GRANTED);
    EXPECT(table_info("mid"));
    EXPECT(found.grants == 2 && found.waits == 1);
    EXPECT(found.wait_ms_total >= 25 && found.wait_ms_total < 200);
    EXPECT(found.wait_ms_max == found.wait_ms_total);
    EXPECT(found.nholders == 1 && found_h[0].sid == 2);
    EXPECT(found_h[0].since_ms >= t0 + 25);
    EXPECT(found.timeouts == 0 && found.deadlocks == 0);

    queue_set_wait_timeout(q, 10);
    EXPECT(acq(3, "mid", &r[3]) == QUEUE_WAITING);
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT(r[3].status == QUEUE_ETIMEDOUT);
    EXPECT(table_info("mid") && found.timeouts == 1 && found.waits == 2);
    EXPECT(found.grants == 2);
    EXPECT(table_info("alpha") && found.grants == 1 && found.waits == 0);
    nnames = 0;
    queue_foreach(q, names_cb, NULL);
    EXPECT(nnames == 3);
    EXPECT(nnames == 3 && strcmp(names_seen[0], "alpha") == 0 &&
           strcmp(names_seen[1], "mid") == 0 &&
           strcmp(names_seen[2], "zeta") == 0);
    teardown();
}

/* ---- scale ---- */

static uint64_t current;
static long ngranted;

static void on_cycle(void *arg, int status, const queue_refusal_t *info)
{
    if (status == QUEUE_GRANTED) {
        current = (uint64_t)(uintptr_t)arg;
        ngranted++;
    }
}

/* 1,000 sessions take turns on one table, each going back to the end of
 * the line after its turn. */
static void test_thousand_cycling(void)
{
    const int nsess = 1000, rounds = 20;
    const char *a[1] = {"a"};
    struct timespec ts0, ts1;
    int waiting = 0, in_order = 1;
    uint64_t expect_next;

    setup();
    ngranted = 0;
    clock_gettime(CLOCK_MONOTONIC, &ts0);
    for (uint64_t s = 1; s <= (uint64_t)nsess; s++)
        waiting += queue_acquire(q, s, a, 1, on_cycle, (void *)(uintptr_t)s) ==
                   QUEUE_WAITING;
    EXPECT(waiting == nsess - 1);
    current = 1;
    for (long i = 0; i < (long)nsess * rounds; i++) {
        uint64_t done = current;
        expect_next = done % nsess + 1;
        queue_release_all(q, done);
        if (i < (long)nsess * rounds - 1 && current != expect_next)
            in_order = 0;
        if (i < (long)nsess * rounds - nsess)
            queue_acquire(q, done, a, 1, on_cycle, (void *)(uintptr_t)done);
    }
    clock_gettime(CLOCK_MONOTONIC, &ts1);
    EXPECT(in_order);
    EXPECT(ngranted == (long)nsess * rounds - 1);
    EXPECT(table_info("a") && found.grants == (uint64_t)nsess * rounds);
    EXPECT(found.waits == (uint64_t)nsess * rounds - 1);
    EXPECT(found.nholders == 0 && found.nwaiters == 0);
    printf("thousand_cycling: %d grants in %.1f ms\n", nsess * rounds,
           (ts1.tv_sec - ts0.tv_sec) * 1e3 + (ts1.tv_nsec - ts0.tv_nsec) / 1e6);
    teardown();
}

/* ---- random workloads ---- */

enum { RSESS = 24, RTABLES = 5 };
static const char *rnames[RTABLES] = {"r0", "r1", "r2", "r3", "r4"};
static int rwaiting[RSESS + 1];
static long rdeadlocks, rgrants, rover, rbadcycle;
static const char *rwant[RSESS + 1][3];
static int rnwant[RSESS + 1];
static uint64_t rng = 88172645463325252ULL;

static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* A victim rolls back at once, as the session code does. */
static void on_random(void *arg, int status, const queue_refusal_t *info)
{
    uint64_t sid = (uint64_t)(uintptr_t)arg;

    rwaiting[sid] = 0;
    if (status == QUEUE_GRANTED) {
        rgrants++;
        return;
    }
    if (status == QUEUE_EDEADLK)
        rdeadlocks++;
    queue_release_all(q, sid);
}

static void over_limit_cb(void *arg, const queue_table_info_t *info)
{
    if (info->nholders > info->limit)
        rover++;
}

static int wants(uint64_t sid, const char *t)
{
    for (int i = 0; i < rnwant[sid]; i++)
        if (strcmp(rwant[sid][i], t) == 0)
            return 1;
    return 0;
}

/* Each member of a reported cycle waits for its table, which the next
 * member holds or waits for too (ahead in line). */
static void check_cycle(uint64_t victim)
{
    const queue_refusal_t *ref = queue_last_refusal(q);

    if (!ref || ref->ncycle < 2 || ref->cycle_sids[0] != victim) {
        rbadcycle++;
        return;
    }
    for (int i = 0; i < ref->ncycle; i++) {
        uint64_t s = ref->cycle_sids[i];
        uint64_t next = ref->cycle_sids[(i + 1) % ref->ncycle];
        const char *t = ref->cycle_tables[i];

        if ((i > 0 && !rwaiting[s]) || !wants(s, t))
            rbadcycle++;
        else if (!queue_holds(q, next, t) &&
                 !(rwaiting[next] && wants(next, t)))
            rbadcycle++;
    }
}

static void random_step(void)
{
    uint64_t sid = 1 + rnd(RSESS);
    const char *want[3];
    int n = 1 + (int)rnd(3), rc;

    if (rwaiting[sid]) {
        if (rnd(20) == 0) {
            queue_cancel(q, sid);
            rwaiting[sid] = 0;
        }
        return;
    }
    if (queue_held_count(q, sid) && rnd(2)) {
        queue_release_all(q, sid);
        return;
    }
    for (int i = 0; i < n; i++)
        want[i] = rwant[sid][i] = rnames[rnd(RTABLES)];
    rnwant[sid] = n;
    rc = queue_acquire(q, sid, want, n, on_random, (void *)(uintptr_t)sid);
    if (rc == QUEUE_WAITING)
        rwaiting[sid] = 1;
    if (rc == QUEUE_EDEADLK) {
        check_cycle(sid);
        rdeadlocks++;
        queue_release_all(q, sid);
    }
}

/* Releases every session that is not waiting until nothing changes. */
static int drain(void)
{
    int busy = 1, left = 0;

    while (busy) {
        busy = 0;
        for (uint64_t s = 1; s <= RSESS; s++) {
            if (!rwaiting[s] && queue_held_count(q, s)) {
                queue_release_all(q, s);
                busy = 1;
            }
        }
    }
    for (uint64_t s = 1; s <= RSESS; s++)
        left += rwaiting[s];
    return left;
}

/* Multi-step transactions on few tables make many cycles. Whatever the
 * order, limits hold, and once every session that can finish has
 * finished nobody is left waiting: no missed cycle, no lost wakeup. */
static void test_random_no_hang(void)
{
    setup();
    set_limit("r1", 2);
    set_limit("r3", 3);
    memset(rwaiting, 0, sizeof(rwaiting));
    rdeadlocks = rgrants = rover = rbadcycle = 0;
    for (int i = 0; i < 20000; i++) {
        random_step();
        if (i % 1000 == 500) {
            queue_pause(q, rnames[rnd(RTABLES)]);
        } else if (i % 1000 == 900) {
            for (int t = 0; t < RTABLES; t++)
                queue_resume(q, rnames[t]);
        }
        if (i % 97 == 0)
            queue_foreach(q, over_limit_cb, NULL);
    }
    for (int t = 0; t < RTABLES; t++)
        queue_resume(q, rnames[t]);
    EXPECT(rover == 0);
    EXPECT(drain() == 0);
    EXPECT(rbadcycle == 0);
    EXPECT(rgrants > 500 && rdeadlocks > 10);
    for (int t = 0; t < RTABLES; t++)
        EXPECT(table_info(rnames[t]) && found.nholders == 0 &&
               found.nwaiters == 0);
    printf("random: %ld async grants, %ld deadlocks\n", rgrants, rdeadlocks);
    teardown();
}

/* Freeing with waiters and a running timer fires nothing and leaks
 * nothing (ASan checks the latter). */
static void test_free_busy(void)
{
    struct rec r[3] = {{0}};

    setup();
    queue_set_wait_timeout(q, 1000);
    EXPECT(acq(1, "a", &r[1]) == QUEUE_GRANTED);
    EXPECT(acq2(2, "a", "b", &r[2]) == QUEUE_WAITING);
    EXPECT(queue_pause(q, "c") == 0);
    teardown();
    EXPECT(r[1].fired == 0 && r[2].fired == 0);
}

int main(void)
{
    test_immediate_grant();
    test_limit_two();
    test_fifo_five();
    test_multi_table();
    test_reservation_limit_two();
    test_skip_held_and_order();
    test_cancel();
    test_release_all();
    test_timeout();
    test_timeout_order();
    test_deadlock_two();
    test_deadlock_three();
    test_no_false_deadlock();
    test_deadlock_through_fifo();
    test_pause_resume();
    test_pause_admitted();
    test_limits_raise_lower();
    test_lower_limit_deadlock();
    test_reentrant_release();
    test_reentrant_cancel();
    test_reentrant_retry();
    test_stats();
    test_thousand_cycling();
    test_random_no_hang();
    test_free_busy();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
