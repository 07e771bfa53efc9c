/*
 * Per-table writer queues: at most N sessions hold a table's slot at once,
 * waiters are granted first in, first out, cycles between sessions are found
 * when they form. Knows sessions only by id; knows nothing of sockets.
 */
#ifndef PGSLUICE_QUEUE_H
#define PGSLUICE_QUEUE_H

#include <stdint.h>
#include <uv.h>

typedef struct queue_mgr queue_mgr_t;

/* Outcomes of a request. */
#define QUEUE_GRANTED 0
#define QUEUE_WAITING 1
#define QUEUE_EDEADLK (-1) /* granting would close a cycle: this request is the victim */
#define QUEUE_ETIMEDOUT (-2)
#define QUEUE_ENOMEM (-3)
#define QUEUE_EBUSY (-4) /* the session already has a request outstanding */

/* Why a wait was refused, handed to the callback; valid only during it. */
typedef struct queue_refusal {
    const char *table;    /* the table waited for */
    uint64_t holder;      /* one current holder of it (0 if none) */
    uint64_t waited_ms;
    const char *const *cycle_tables; /* deadlock: the tables in the cycle */
    int ncycle;
    /* deadlock: cycle_sids[i] waits for cycle_tables[i], which
     * cycle_sids[(i + 1) % ncycle] holds or is ahead in line for;
     * cycle_sids[0] is the victim. */
    const uint64_t *cycle_sids;
} queue_refusal_t;

/* Fires exactly once for a request that returned QUEUE_WAITING, unless the
 * session cancels first with queue_cancel (then it never fires). status is
 * QUEUE_GRANTED or a negative QUEUE_E*; info is NULL when granted.
 *
 * Callbacks fire synchronously, before the call that caused them returns:
 * from queue_release_all, queue_cancel, queue_resume, queue_limits_changed,
 * and from the manager's timer while the loop runs. queue_acquire and
 * queue_pause never fire one. All state changes of that call are done before
 * the first callback runs, so a callback may call any queue_* function except
 * queue_mgr_free, for its own session or another. If a callback cancels or
 * releases a session whose grant is decided but not yet delivered, that
 * grant is undone and its callback does not fire. */
typedef void (*queue_cb)(void *arg, int status, const queue_refusal_t *info);

/* Limit of a table; set by the owner (config lookup). Returns N >= 1. */
typedef int (*queue_limit_fn)(void *arg, const char *table);

/* Returns NULL when out of memory. limit may be NULL (every limit is 1). */
queue_mgr_t *queue_mgr_new(uv_loop_t *loop, queue_limit_fn limit, void *limit_arg);
/* Drops every slot and request without firing callbacks and closes the
 * manager's timer; run the loop afterwards to finish closing it. */
void queue_mgr_free(queue_mgr_t *q);
/* Waits longer than ms fail with QUEUE_ETIMEDOUT; 0 waits forever. */
void queue_set_wait_timeout(queue_mgr_t *q, uint64_t ms);
/* Re-reads every table's limit (after a reload); grants what now fits. A
 * lowered limit can close a cycle among waiters: then the youngest waiting
 * request in the cycle gets QUEUE_EDEADLK through its callback. */
void queue_limits_changed(queue_mgr_t *q);

/*
 * Asks for slots on tables[0..n) for session sid, all at once, taken in one
 * canonical order; tables the session already holds are skipped. Returns
 * QUEUE_GRANTED (all held now, cb will not fire), QUEUE_WAITING (cb fires
 * later), or QUEUE_EDEADLK/QUEUE_ENOMEM at once (nothing held, nothing
 * waiting). A session has at most one request outstanding; a second one, or
 * one made while a decided result is still to be delivered, gets QUEUE_EBUSY.
 *
 * Order: on each table the first `room` waiters in arrival order are
 * admitted, room = limit - holders (0 while paused). A request is granted
 * when it is admitted on every table it waits for, and keeps its admitted
 * place on one table while it waits for another. A later request therefore
 * never takes a slot an earlier waiter could use: with limit 1 this is
 * strict head-of-line order; with limit > 1 a later request may pass an
 * earlier one only with a slot left over after every earlier waiter.
 *
 * Deadlock: before a request waits, the manager checks whether some set of
 * sessions could then never proceed, even if every session that is not
 * waiting finished and freed its slots (so a cycle through one of two
 * holders of a limit-2 table is not a deadlock). If so, this request is the
 * victim: QUEUE_EDEADLK, and queue_last_refusal describes the cycle. Paused
 * tables count as resumed for this check, since a resume ends that wait.
 */
int queue_acquire(queue_mgr_t *q, uint64_t sid, const char *const *tables, int n,
                  queue_cb cb, void *arg);
/* Why the last queue_acquire returned QUEUE_EDEADLK (cycle filled, waited_ms
 * 0); NULL if it returned anything else. Valid until the next queue_acquire
 * or queue_mgr_free. */
const queue_refusal_t *queue_last_refusal(const queue_mgr_t *q);
/* Drops sid's outstanding request, if any; cb will not fire. */
void queue_cancel(queue_mgr_t *q, uint64_t sid);
/* Frees every slot sid holds and its outstanding request. */
void queue_release_all(queue_mgr_t *q, uint64_t sid);
/* Number of slots sid holds. */
int queue_held_count(const queue_mgr_t *q, uint64_t sid);
/* 1 if sid holds a slot on table, else 0. */
int queue_holds(const queue_mgr_t *q, uint64_t sid, const char *table);

/* Operators: a paused table grants nothing new until resumed. Unknown table
 * names are created (so a pause can precede the first writer). */
int queue_pause(queue_mgr_t *q, const char *table);
int queue_resume(queue_mgr_t *q, const char *table);

/* Introspection for the admin console and metrics. */
typedef struct queue_entry_info {
    uint64_t sid;
    uint64_t since_ms; /* uv_now when it started holding or waiting */
} queue_entry_info_t;

typedef struct queue_table_info {
    const char *table;
    int limit;
    int paused;
    int nholders, nwaiters;
    const queue_entry_info_t *holders; /* oldest first */
    const queue_entry_info_t *waiters; /* queue order */
    uint64_t grants, waits;            /* totals since start */
    uint64_t wait_ms_total, wait_ms_max;
    uint64_t timeouts, deadlocks;
} queue_table_info_t;

/* Calls fn for every table known to the manager, sorted by name; the info
 * is valid only during the call, and fn must not call into the manager. */
void queue_foreach(const queue_mgr_t *q,
                   void (*fn)(void *arg, const queue_table_info_t *info), void *arg);

#endif
