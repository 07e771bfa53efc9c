/*
 * Per-table writer queues: tables with their holders and FIFO waiters, the
 * all-at-once grant rule, wait timeouts and deadlock detection. Sessions are
 * only ids here; what a grant or a refusal means for a client is left to the
 * session code.
 */
#include "proxy/queue.h"

#include <stdlib.h>
#include <string.h>

/* One session's place on one table: a waiter, then (same struct) a holder. */
struct entry {
    struct table *t;
    struct session *s;
    struct request *req;       /* while waiting */
    struct entry *prev, *next; /* in the table's waiters or holders */
    struct entry *snext;       /* in the session's held list */
    uint64_t since;            /* wait start, then grant time */
    unsigned sat : 1;          /* admitted: within the table's first `room` */
    unsigned blocked : 1;      /* was ever not admitted: counts as a wait */
    unsigned sim_sat : 1;      /* admitted in the deadlock simulation */
};

struct list {
    struct entry *head, *tail;
    int n;
};

struct table {
    char *name;
    int limit, paused;
    struct list holders, waiters;
    struct entry *boundary; /* first waiter not admitted; NULL if none */
    int nsat;               /* waiters admitted, all before boundary */
    uint64_t grants, waits, wait_ms_total, wait_ms_max, timeouts, deadlocks;
    /* scratch of the current deadlock search */
    uint64_t epoch, mark;
    long sim_avail;
    struct entry *sim_cursor;
};

enum req_state { REQ_WAITING, REQ_GRANTED, REQ_REFUSED };

struct request {
    struct session *s;
    uint64_t seq, since;
    queue_cb cb;
    void *arg;
    enum req_state state;
    int status, cancelled, timed;
    struct request *tprev, *tnext; /* waiting requests, oldest first */
    struct request *bnext;         /* callbacks to fire */
    int unsat, sim_unsat;          /* entries not admitted */
    struct table *rtable;          /* refusal details */
    uint64_t rholder, rwaited;
    const char **cyc_tables;
    uint64_t *cyc_sids;
    int ncyc;
    int n;
    struct entry *ents[]; /* sorted by table name */
};

struct session {
    uint64_t sid;
    struct session *hnext;
    struct entry *held;
    int nheld;
    struct request *req; /* waiting, or decided and not yet delivered */
    /* scratch of the current deadlock search */
    uint64_t epoch, mark;
    int reduced;
    struct session *wnext, *par;
    struct table *ptab;
    size_t idx;
};

struct vec {
    void **v;
    size_t n, cap;
};

/* Decided requests whose callbacks fire once the state is final. */
struct batch {
    struct request *head, *tail;
};

struct queue_mgr {
    uv_loop_t *loop;
    uv_timer_t *timer;
    queue_limit_fn limit_fn;
    void *limit_arg;
    uint64_t timeout_ms, seq;
    struct table **tables; /* sorted by name */
    size_t ntables, captables;
    struct session **buckets;
    size_t nbuckets, nsessions;
    struct request *wait_head, *wait_tail;
    /* deadlock search scratch, sized as sessions and tables are created */
    uint64_t epoch, mark;
    struct vec sset, tset, path;
    struct session *bfs_root, *bfs_from;
    struct table *bfs_tab;
    /* last refusal of queue_acquire */
    int has_last;
    queue_refusal_t last;
    const char **last_tables;
    uint64_t *last_sids;
};

static void on_timer(uv_timer_t *h);

/* ---- small containers ---- */

static void list_append(struct list *l, struct entry *e)
{
    e->next = NULL;
    e->prev = l->tail;
    if (l->tail)
        l->tail->next = e;
    else
        l->head = e;
    l->tail = e;
    l->n++;
}

static void list_remove(struct list *l, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    e->prev = e->next = NULL;
    l->n--;
}

static int vec_reserve(struct vec *v, size_t want)
{
    size_t cap = v->cap ? v->cap : 16;
    void **nv;

    if (want <= v->cap)
        return 0;
    while (cap < want)
        cap *= 2;
    nv = realloc(v->v, cap * sizeof(*nv));
    if (!nv)
        return QUEUE_ENOMEM;
    v->v = nv;
    v->cap = cap;
    return 0;
}

/* Capacity was reserved when the session or table was created, so the
 * search itself never allocates. */
static void vec_push(struct vec *v, void *p)
{
    v->v[v->n++] = p;
}

static void batch_add(struct batch *b, struct request *r)
{
    r->bnext = NULL;
    if (b->tail)
        b->tail->bnext = r;
    else
        b->head = r;
    b->tail = r;
}

/* ---- tables ---- */

/* Index of the first table whose name is >= name. */
static size_t table_lower(const queue_mgr_t *q, const char *name)
{
    size_t lo = 0, hi = q->ntables;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(q->tables[mid]->name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int read_limit(queue_mgr_t *q, const char *name)
{
    int n = q->limit_fn ? q->limit_fn(q->limit_arg, name) : 1;

    return n < 1 ? 1 : n;
}

static int tables_reserve(queue_mgr_t *q)
{
    struct table **nt;
    size_t cap;

    if (vec_reserve(&q->tset, q->ntables + 1) < 0)
        return QUEUE_ENOMEM;
    if (q->ntables < q->captables)
        return 0;
    cap = q->captables ? q->captables * 2 : 16;
    nt = realloc(q->tables, cap * sizeof(*nt));
    if (!nt)
        return QUEUE_ENOMEM;
    q->tables = nt;
    q->captables = cap;
    return 0;
}

/* The table named name, created on first use; NULL when out of memory. */
static struct table *table_get(queue_mgr_t *q, const char *name)
{
    size_t i = table_lower(q, name);
    struct table *t;

    if (i < q->ntables && strcmp(q->tables[i]->name, name) == 0)
        return q->tables[i];
    if (tables_reserve(q) < 0)
        return NULL;
    t = calloc(1, sizeof(*t));
    if (!t || !(t->name = strdup(name))) {
        free(t);
        return NULL;
    }
    t->limit = read_limit(q, name);
    memmove(&q->tables[i + 1], &q->tables[i],
            (q->ntables - i) * sizeof(*q->tables));
    q->tables[i] = t;
    q->ntables++;
    return t;
}

/* ---- sessions ---- */

static size_t sid_hash(uint64_t sid, size_t nbuckets)
{
    sid ^= sid >> 33;
    sid *= 0xff51afd7ed558ccdULL;
    sid ^= sid >> 33;
    return (size_t)sid & (nbuckets - 1);
}

static struct session *sess_find(const queue_mgr_t *q, uint64_t sid)
{
    struct session *s;

    if (!q->nbuckets)
        return NULL;
    for (s = q->buckets[sid_hash(sid, q->nbuckets)]; s; s = s->hnext)
        if (s->sid == sid)
            return s;
    return NULL;
}

static int sess_grow(queue_mgr_t *q)
{
    size_t nb = q->nbuckets ? q->nbuckets * 2 : 64;
    struct session **b = calloc(nb, sizeof(*b));

    if (!b)
        return QUEUE_ENOMEM;
    for (size_t i = 0; i < q->nbuckets; i++) {
        struct session *s, *next;
        for (s = q->buckets[i]; s; s = next) {
            size_t h = sid_hash(s->sid, nb);
            next = s->hnext;
            s->hnext = b[h];
            b[h] = s;
        }
    }
    free(q->buckets);
    q->buckets = b;
    q->nbuckets = nb;
    return 0;
}

/* The session sid, created if unknown; NULL when out of memory. */
static struct session *sess_get(queue_mgr_t *q, uint64_t sid)
{
    struct session *s = sess_find(q, sid);
    size_t h;

    if (s)
        return s;
    if (q->nsessions >= q->nbuckets && sess_grow(q) < 0)
        return NULL;
    if (vec_reserve(&q->sset, q->nsessions + 1) < 0 ||
        vec_reserve(&q->path, q->nsessions + 1) < 0)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->sid = sid;
    h = sid_hash(sid, q->nbuckets);
    s->hnext = q->buckets[h];
    q->buckets[h] = s;
    q->nsessions++;
    return s;
}

/* Sessions live only while they hold or ask for something, so memory stays
 * bounded by what is in use. */
static void sess_maybe_free(queue_mgr_t *q, struct session *s)
{
    struct session **pp;

    if (s->held || s->req)
        return;
    pp = &q->buckets[sid_hash(s->sid, q->nbuckets)];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    q->nsessions--;
    free(s);
}

static struct request *waiting_req(const struct session *s)
{
    return s->req && s->req->state == REQ_WAITING ? s->req : NULL;
}

/* ---- requests in age order, and the one timer ---- */

static void tlist_add(queue_mgr_t *q, struct request *r)
{
    r->tnext = NULL;
    r->tprev = q->wait_tail;
    if (q->wait_tail)
        q->wait_tail->tnext = r;
    else
        q->wait_head = r;
    q->wait_tail = r;
    r->timed = 1;
}

static void tlist_remove(queue_mgr_t *q, struct request *r)
{
    if (!r->timed)
        return;
    if (r->tprev)
        r->tprev->tnext = r->tnext;
    else
        q->wait_head = r->tnext;
    if (r->tnext)
        r->tnext->tprev = r->tprev;
    else
        q->wait_tail = r->tprev;
    r->tprev = r->tnext = NULL;
    r->timed = 0;
}

/* Every wait has the same limit, so the oldest waiter is always the next
 * to expire and one timer serves them all. */
static void arm_timer(queue_mgr_t *q)
{
    uint64_t due, now;

    if (!q->timeout_ms || !q->wait_head) {
        uv_timer_stop(q->timer);
        return;
    }
    due = q->wait_head->since + q->timeout_ms;
    now = uv_now(q->loop);
    uv_timer_start(q->timer, on_timer, due > now ? due - now : 0, 0);
}

static void req_free(struct request *r)
{
    free(r->cyc_tables);
    free(r->cyc_sids);
    free(r);
}

/* ---- admission windows ---- */

static int table_room(const struct table *t)
{
    int room = t->limit - t->holders.n;

    return t->paused || room < 0 ? 0 : room;
}

static void mark_blocked(struct entry *e)
{
    if (!e->blocked) {
        e->blocked = 1;
        e->t->waits++;
    }
}

/* Moves every entry of r from the waiters to the holders. All of them are
 * admitted, so each table's window keeps its boundary. */
static void hold_entries(queue_mgr_t *q, struct request *r)
{
    uint64_t now = uv_now(q->loop), waited = now - r->since;

    for (int i = 0; i < r->n; i++) {
        struct entry *e = r->ents[i];
        struct table *t = e->t;

        t->nsat--;
        list_remove(&t->waiters, e);
        list_append(&t->holders, e);
        e->snext = r->s->held;
        r->s->held = e;
        r->s->nheld++;
        e->since = now;
        e->req = NULL;
        t->grants++;
        if (e->blocked) {
            t->wait_ms_total += waited;
            if (waited > t->wait_ms_max)
                t->wait_ms_max = waited;
        }
    }
}

static void grant(queue_mgr_t *q, struct request *r, struct batch *b)
{
    hold_entries(q, r);
    tlist_remove(q, r);
    r->state = REQ_GRANTED;
    r->status = QUEUE_GRANTED;
    batch_add(b, r);
}

/* Widens t's window to its room, granting requests admitted everywhere. */
static void admit(queue_mgr_t *q, struct table *t, struct batch *b)
{
    while (t->boundary && t->nsat < table_room(t)) {
        struct entry *e = t->boundary;

        t->boundary = e->next;
        e->sat = 1;
        t->nsat++;
        if (--e->req->unsat == 0)
            grant(q, e->req, b);
    }
}

/* Narrows t's window after a pause or a lowered limit, youngest first. */
static void unadmit(struct table *t)
{
    while (t->nsat > table_room(t)) {
        struct entry *e = t->boundary ? t->boundary->prev : t->waiters.tail;

        e->sat = 0;
        t->nsat--;
        t->boundary = e;
        e->req->unsat++;
        mark_blocked(e);
    }
}

static void enqueue(struct entry *e)
{
    struct table *t = e->t;

    list_append(&t->waiters, e);
    if (!t->boundary && t->nsat < table_room(t)) {
        e->sat = 1;
        t->nsat++;
        return;
    }
    if (!t->boundary)
        t->boundary = e;
    e->req->unsat++;
}

static void dequeue(struct entry *e)
{
    struct table *t = e->t;

    if (e->sat)
        t->nsat--;
    else if (t->boundary == e)
        t->boundary = e->next;
    list_remove(&t->waiters, e);
}

/* Takes a waiting request out of every line it stands in and lets the
 * requests behind it move up. */
static void withdraw(queue_mgr_t *q, struct request *r, struct batch *b)
{
    for (int i = 0; i < r->n; i++)
        dequeue(r->ents[i]);
    tlist_remove(q, r);
    for (int i = 0; i < r->n; i++) {
        struct table *t = r->ents[i]->t;

        free(r->ents[i]);
        r->ents[i] = NULL;
        admit(q, t, b);
    }
    r->n = 0;
}

static void refuse(queue_mgr_t *q, struct request *r, int status,
                   struct batch *b)
{
    withdraw(q, r, b);
    r->state = REQ_REFUSED;
    r->status = status;
    batch_add(b, r);
}

static void release_entry(queue_mgr_t *q, struct entry *e, struct batch *b)
{
    struct session *s = e->s;
    struct entry **pp = &s->held;
    struct table *t = e->t;

    while (*pp != e)
        pp = &(*pp)->snext;
    *pp = e->snext;
    s->nheld--;
    list_remove(&t->holders, e);
    free(e);
    admit(q, t, b);
}

/* Drops s's request: a waiting one leaves its lines; a decided one that is
 * not yet delivered is cancelled, and a grant among them is undone. */
static void drop_request(queue_mgr_t *q, struct session *s, struct batch *b)
{
    struct request *r = s->req;

    s->req = NULL;
    if (r->state == REQ_WAITING) {
        withdraw(q, r, b);
        req_free(r);
        return;
    }
    r->cancelled = 1;
    if (r->state == REQ_GRANTED) {
        for (int i = 0; i < r->n; i++)
            release_entry(q, r->ents[i], b);
        r->n = 0;
    }
}

/* Fires the callbacks of b in order. A callback may call back into the
 * manager; its own calls fire their own batches. */
static void batch_fire(queue_mgr_t *q, struct batch *b)
{
    struct request *r;

    while ((r = b->head)) {
        b->head = r->bnext;
        if (!r->cancelled) {
            queue_refusal_t info = {
                .table = r->rtable ? r->rtable->name : NULL,
                .holder = r->rholder,
                .waited_ms = r->rwaited,
                .cycle_tables = r->cyc_tables,
                .ncycle = r->ncyc,
                .cycle_sids = r->cyc_sids,
            };
            r->s->req = NULL;
            sess_maybe_free(q, r->s);
            r->cb(r->arg, r->status, r->status == QUEUE_GRANTED ? NULL : &info);
        }
        req_free(r);
    }
    b->tail = NULL;
}

/* ---- deadlock search ----
 *
 * The question is not whether the wait-for graph has a cycle but whether
 * some sessions can never proceed: with limit N > 1 a waiter needs only one
 * of N holders to finish. So the search simulates: every session that is
 * not waiting finishes and frees its slots, windows widen in FIFO order,
 * waiters admitted everywhere finish too. Sessions left over are stuck. It
 * runs on the sessions reachable from the seeds, a set closed under
 * "waits for", so the answer for them is exact.
 */

static void add_session(queue_mgr_t *q, struct session *s)
{
    if (s->epoch == q->epoch)
        return;
    s->epoch = q->epoch;
    s->reduced = 0;
    vec_push(&q->sset, s);
}

static void visit_table(queue_mgr_t *q, struct table *t)
{
    struct entry *e;

    if (t->epoch == q->epoch)
        return;
    t->epoch = q->epoch;
    vec_push(&q->tset, t);
    for (e = t->holders.head; e; e = e->next)
        add_session(q, e->s);
    for (e = t->waiters.head; e; e = e->next)
        add_session(q, e->s);
}

/* Closes q->sset (seeded by the caller) under "waits for". */
static void collect(queue_mgr_t *q)
{
    for (size_t i = 0; i < q->sset.n; i++) {
        struct request *r = waiting_req(q->sset.v[i]);

        for (int j = 0; r && j < r->n; j++)
            visit_table(q, r->ents[j]->t);
    }
}

static void search_begin(queue_mgr_t *q)
{
    q->epoch++;
    q->sset.n = 0;
    q->tset.n = 0;
}

static void sim_admit(struct table *t, struct session **work)
{
    while (t->sim_avail > 0 && t->sim_cursor) {
        struct entry *e = t->sim_cursor;

        t->sim_cursor = e->next;
        e->sim_sat = 1;
        t->sim_avail--;
        if (--e->req->sim_unsat == 0) {
            e->s->wnext = *work;
            *work = e->s;
        }
    }
}

/* s finishes: what it holds or was admitted to comes free. */
static void sim_finish(queue_mgr_t *q, struct session *s, struct session **work)
{
    struct request *r = waiting_req(s);

    s->reduced = 1;
    for (struct entry *e = s->held; e; e = e->snext) {
        if (e->t->epoch == q->epoch) {
            e->t->sim_avail++;
            sim_admit(e->t, work);
        }
    }
    for (int i = 0; r && i < r->n; i++) {
        r->ents[i]->t->sim_avail++;
        sim_admit(r->ents[i]->t, work);
    }
}

/* Marks every session of the collected set that can proceed as reduced. */
static void reduce(queue_mgr_t *q)
{
    struct session *work = NULL;

    for (size_t i = 0; i < q->tset.n; i++) {
        struct table *t = q->tset.v[i];
        t->sim_avail = (long)t->limit - t->holders.n;
        t->sim_cursor = t->waiters.head;
    }
    for (size_t i = 0; i < q->sset.n; i++) {
        struct session *s = q->sset.v[i];
        struct request *r = waiting_req(s);

        if (!r) {
            s->wnext = work;
            work = s;
            continue;
        }
        r->sim_unsat = r->n;
        for (int j = 0; j < r->n; j++)
            r->ents[j]->sim_sat = 0;
    }
    for (size_t i = 0; i < q->tset.n; i++)
        sim_admit(q->tset.v[i], &work);
    while (work) {
        struct session *s = work;
        work = s->wnext;
        sim_finish(q, s, &work);
    }
}

/* Calls fn for each stuck session that keeps a stuck waiter out of t: its
 * holders and the waiters admitted ahead. Stops early when fn returns 1. */
static struct session *blockers(queue_mgr_t *q, struct table *t,
                                int (*fn)(queue_mgr_t *, struct session *))
{
    struct entry *e;

    for (e = t->holders.head; e; e = e->next)
        if (!e->s->reduced && fn(q, e->s))
            return e->s;
    for (e = t->waiters.head; e != t->sim_cursor; e = e->next)
        if (!e->s->reduced && fn(q, e->s))
            return e->s;
    return NULL;
}

static int bfs_step(queue_mgr_t *q, struct session *x)
{
    if (x == q->bfs_root)
        return 1;
    if (x->mark != q->mark) {
        x->mark = q->mark;
        x->par = q->bfs_from;
        x->ptab = q->bfs_tab;
        vec_push(&q->path, x);
    }
    return 0;
}

/* Finds a path of stuck sessions from root back to root; returns the last
 * session before root (it waits via *last_tab), or NULL. */
static struct session *cycle_from_root(queue_mgr_t *q, struct session *root,
                                       struct table **last_tab)
{
    q->mark++;
    q->path.n = 0;
    root->mark = q->mark;
    q->bfs_root = root;
    vec_push(&q->path, root);
    for (size_t i = 0; i < q->path.n; i++) {
        struct request *r = waiting_req(q->path.v[i]);

        q->bfs_from = q->path.v[i];
        for (int j = 0; j < r->n; j++) {
            struct table *t = r->ents[j]->t;
            if (r->ents[j]->sim_sat || t->mark == q->mark)
                continue;
            t->mark = q->mark;
            q->bfs_tab = t;
            if (blockers(q, t, bfs_step)) {
                *last_tab = t;
                return q->bfs_from;
            }
        }
    }
    return NULL;
}

static int take_first(queue_mgr_t *q, struct session *x)
{
    return 1;
}

/* One stuck session that s waits for, via the table stored in s->ptab. */
static struct session *next_stuck(queue_mgr_t *q, struct session *s)
{
    struct request *r = waiting_req(s);

    for (int j = 0; j < r->n; j++) {
        struct session *x;
        if (r->ents[j]->sim_sat)
            continue;
        x = blockers(q, r->ents[j]->t, take_first);
        if (x) {
            s->ptab = r->ents[j]->t;
            return x;
        }
    }
    return NULL;
}

/* Walks "waits for" from a stuck session until a session repeats; every
 * stuck session waits for another, so the walk ends on a cycle, which is
 * left in q->path[*from .. n). */
static int walk_to_cycle(queue_mgr_t *q, struct session *s, size_t *from)
{
    q->mark++;
    q->path.n = 0;
    while (s->mark != q->mark) {
        s->mark = q->mark;
        s->idx = q->path.n;
        vec_push(&q->path, s);
        s = next_stuck(q, s);
        if (!s)
            return -1;
    }
    *from = s->idx;
    return 0;
}

/* ---- reporting a cycle ---- */

/* Copies the cycle path[0..n), in which each session waits via its ptab
 * for the next, rotated to start at `first`, into fresh arrays; counts the
 * deadlock once on each table in it. Returns the length stored. */
static int cycle_store(queue_mgr_t *q, void *const *path, int n, int first,
                       const char ***out_tabs, uint64_t **out_sids)
{
    *out_tabs = malloc(n * sizeof(**out_tabs));
    *out_sids = malloc(n * sizeof(**out_sids));
    q->mark++;
    for (int i = 0; i < n; i++) {
        struct table *t = ((struct session *)path[i])->ptab;
        if (t->mark != q->mark)
            t->deadlocks++;
        t->mark = q->mark;
    }
    if (!*out_tabs || !*out_sids) {
        free(*out_tabs);
        free(*out_sids);
        *out_tabs = NULL;
        *out_sids = NULL;
        return 0;
    }
    for (int i = 0; i < n; i++) {
        struct session *x = path[(first + i) % n];
        (*out_tabs)[i] = x->ptab->name;
        (*out_sids)[i] = x->sid;
    }
    return n;
}

static uint64_t oldest_holder(const struct table *t)
{
    return t->holders.head ? t->holders.head->s->sid : 0;
}

static void clear_last(queue_mgr_t *q)
{
    free(q->last_tables);
    free(q->last_sids);
    q->last_tables = NULL;
    q->last_sids = NULL;
    q->has_last = 0;
    memset(&q->last, 0, sizeof(q->last));
}

/* Builds the cycle root -> ... -> tail -> root into q->last. The search
 * left in x->ptab the table x->par waits on; shift that so each member's
 * ptab is the table it waits on itself. */
static void last_from_path(queue_mgr_t *q, struct session *root,
                           struct session *tail, struct table *last_tab)
{
    size_t n = 1, i;
    void **ss;

    for (struct session *x = tail; x != root; x = x->par)
        n++;
    q->has_last = 1;
    q->last.table = last_tab->name;
    ss = malloc(n * sizeof(*ss));
    if (!ss)
        return;
    i = n;
    for (struct session *x = tail; x != root; x = x->par)
        ss[--i] = x;
    ss[0] = root;
    for (i = 0; i + 1 < n; i++)
        ((struct session *)ss[i])->ptab = ((struct session *)ss[i + 1])->ptab;
    tail->ptab = last_tab;
    q->last.table = root->ptab->name;
    q->last.holder = oldest_holder(root->ptab);
    q->last.ncycle =
        cycle_store(q, ss, (int)n, 0, &q->last_tables, &q->last_sids);
    q->last.cycle_tables = q->last_tables;
    q->last.cycle_sids = q->last_sids;
    free(ss);
}

/* Only sessions in line for a table s holds can wait for s: its new request
 * stands last in each of its own lines. */
static int is_waited_on(const struct session *s)
{
    for (const struct entry *e = s->held; e; e = e->snext)
        if (e->t->waiters.n)
            return 1;
    return 0;
}

/* 1 if s's new (waiting) request leaves sessions stuck; q->last then says
 * how. Every earlier state passed this check, so anything stuck now is
 * stuck because of s and lies on a path back to s. */
static int closes_cycle(queue_mgr_t *q, struct session *s)
{
    struct session *tail;
    struct table *last_tab = NULL;

    if (!is_waited_on(s))
        return 0;
    search_begin(q);
    add_session(q, s);
    collect(q);
    reduce(q);
    if (s->reduced)
        return 0;
    tail = cycle_from_root(q, s, &last_tab);
    if (!tail)
        return 0;
    last_from_path(q, s, tail, last_tab);
    return 1;
}

/* Refuses the youngest request on a cycle reached from the stuck session
 * start. Returns -1 if no cycle is found. */
static int refuse_cycle(queue_mgr_t *q, struct session *start, struct batch *b)
{
    size_t from, n, first = 0;
    void **cyc;
    struct request *victim;

    if (walk_to_cycle(q, start, &from) < 0)
        return -1;
    cyc = q->path.v + from;
    n = q->path.n - from;
    for (size_t i = 1; i < n; i++) {
        struct session *x = cyc[i], *y = cyc[first];
        if (x->req->seq > y->req->seq)
            first = i;
    }
    victim = ((struct session *)cyc[first])->req;
    victim->rtable = victim->s->ptab;
    victim->rholder = oldest_holder(victim->rtable);
    victim->rwaited = uv_now(q->loop) - victim->since;
    victim->ncyc = cycle_store(q, cyc, (int)n, (int)first, &victim->cyc_tables,
                               &victim->cyc_sids);
    refuse(q, victim, QUEUE_EDEADLK, b);
    return 0;
}

/* After a lowered limit: refuses the youngest request of each cycle of
 * stuck sessions until nothing is stuck. Each round removes one waiting
 * request, so this ends. */
static void break_cycles(queue_mgr_t *q, struct batch *b)
{
    struct request *r;

    for (;;) {
        search_begin(q);
        for (r = q->wait_head; r; r = r->tnext)
            add_session(q, r->s);
        collect(q);
        reduce(q);
        for (r = q->wait_tail; r && r->s->reduced; r = r->tprev)
            ;
        if (!r || refuse_cycle(q, r->s, b) < 0)
            return;
    }
}

/* ---- timeouts ---- */

/* Reports the first table, in canonical order, that r is not admitted to. */
static void time_out(queue_mgr_t *q, struct request *r, uint64_t now,
                     struct batch *b)
{
    struct entry *e = r->ents[0];

    for (int i = 0; i < r->n; i++) {
        if (!r->ents[i]->sat) {
            e = r->ents[i];
            break;
        }
    }
    r->rtable = e->t;
    r->rholder = oldest_holder(e->t);
    r->rwaited = now - r->since;
    e->t->timeouts++;
    refuse(q, r, QUEUE_ETIMEDOUT, b);
}

static void on_timer(uv_timer_t *h)
{
    queue_mgr_t *q = h->data;
    struct batch b = {0};
    uint64_t now = uv_now(q->loop);

    while (q->timeout_ms && q->wait_head &&
           q->wait_head->since + q->timeout_ms <= now)
        time_out(q, q->wait_head, now, &b);
    arm_timer(q);
    batch_fire(q, &b);
}

/* ---- public API ---- */

queue_mgr_t *queue_mgr_new(uv_loop_t *loop, queue_limit_fn limit,
                           void *limit_arg)
{
    queue_mgr_t *q = calloc(1, sizeof(*q));

    if (!q)
        return NULL;
    q->timer = malloc(sizeof(*q->timer));
    if (!q->timer || uv_timer_init(loop, q->timer) < 0) {
        free(q->timer);
        free(q);
        return NULL;
    }
    q->timer->data = q;
    q->loop = loop;
    q->limit_fn = limit;
    q->limit_arg = limit_arg;
    return q;
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void sess_destroy(struct session *s)
{
    struct request *r = s->req;

    while (s->held) {
        struct entry *e = s->held;
        s->held = e->snext;
        free(e);
    }
    if (r && r->state == REQ_WAITING)
        for (int i = 0; i < r->n; i++)
            free(r->ents[i]);
    if (r)
        req_free(r);
    free(s);
}

void queue_mgr_free(queue_mgr_t *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->nbuckets; i++) {
        struct session *s, *next;
        for (s = q->buckets[i]; s; s = next) {
            next = s->hnext;
            sess_destroy(s);
        }
    }
    for (size_t i = 0; i < q->ntables; i++) {
        free(q->tables[i]->name);
        free(q->tables[i]);
    }
    free(q->tables);
    free(q->buckets);
    free(q->sset.v);
    free(q->tset.v);
    free(q->path.v);
    clear_last(q);
    uv_timer_stop(q->timer);
    q->timer->data = NULL;
    uv_close((uv_handle_t *)q->timer, free_handle);
    free(q);
}

void queue_set_wait_timeout(queue_mgr_t *q, uint64_t ms)
{
    q->timeout_ms = ms;
    arm_timer(q);
}

void queue_limits_changed(queue_mgr_t *q)
{
    struct batch b = {0};
    int lowered = 0;

    for (size_t i = 0; i < q->ntables; i++) {
        struct table *t = q->tables[i];
        int n = read_limit(q, t->name);

        if (n < t->limit && t->waiters.n)
            lowered = 1;
        t->limit = n;
        unadmit(t);
    }
    for (size_t i = 0; i < q->ntables; i++)
        admit(q, q->tables[i], &b);
    if (lowered)
        break_cycles(q, &b);
    arm_timer(q);
    batch_fire(q, &b);
}

static int sess_holds(const struct session *s, const char *name)
{
    for (const struct entry *e = s->held; e; e = e->snext)
        if (strcmp(e->t->name, name) == 0)
            return 1;
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names among tables[0..n) that s does not hold, sorted and unique, in
 * a fresh array of which the first *m are used. */
static const char **wanted_tables(const struct session *s,
                                  const char *const *tables, int n, int *m)
{
    const char **v = malloc((n > 0 ? n : 1) * sizeof(*v));
    int k = 0;

    if (!v)
        return NULL;
    for (int i = 0; i < n; i++)
        v[i] = tables[i];
    qsort(v, n > 0 ? n : 0, sizeof(*v), cmp_name);
    for (int i = 0; i < n; i++) {
        if ((k && strcmp(v[k - 1], v[i]) == 0) || sess_holds(s, v[i]))
            continue;
        v[k++] = v[i];
    }
    *m = k;
    return v;
}

static struct request *request_new(queue_mgr_t *q, struct session *s,
                                   const char **names, int m)
{
    struct request *r = calloc(1, sizeof(*r) + m * sizeof(r->ents[0]));

    if (!r)
        return NULL;
    r->s = s;
    r->seq = ++q->seq;
    r->since = uv_now(q->loop);
    for (int i = 0; i < m; i++) {
        struct table *t = table_get(q, names[i]);
        struct entry *e = t ? calloc(1, sizeof(*e)) : NULL;

        if (!e) {
            while (i--)
                free(r->ents[i]);
            free(r);
            return NULL;
        }
        e->t = t;
        e->s = s;
        e->req = r;
        e->since = r->since;
        r->ents[i] = e;
    }
    r->n = m;
    return r;
}

/* Puts r in line on each of its tables; grants it at once, refuses it as
 * a deadlock victim, or leaves it waiting. */
static int request_start(queue_mgr_t *q, struct session *s, struct request *r)
{
    struct batch b = {0};

    s->req = r;
    for (int i = 0; i < r->n; i++)
        enqueue(r->ents[i]);
    if (r->unsat == 0) {
        hold_entries(q, r);
        s->req = NULL;
        req_free(r);
        return QUEUE_GRANTED;
    }
    if (closes_cycle(q, s)) {
        /* r stands last in all its lines, so withdrawing it grants no
         * one and b stays empty: queue_acquire fires no callbacks. */
        s->req = NULL;
        withdraw(q, r, &b);
        req_free(r);
        return QUEUE_EDEADLK;
    }
    for (int i = 0; i < r->n; i++)
        if (!r->ents[i]->sat)
            mark_blocked(r->ents[i]);
    tlist_add(q, r);
    if (q->wait_head == r)
        arm_timer(q);
    return QUEUE_WAITING;
}

int queue_acquire(queue_mgr_t *q, uint64_t sid, const char *const *tables,
                  int n, queue_cb cb, void *arg)
{
    struct session *s;
    struct request *r = NULL;
    const char **names;
    int m = 0, listed;

    clear_last(q);
    s = sess_get(q, sid);
    if (!s)
        return QUEUE_ENOMEM;
    if (s->req)
        return QUEUE_EBUSY;
    names = wanted_tables(s, tables, n, &m);
    listed = names != NULL;
    if (listed && m)
        r = request_new(q, s, names, m);
    free(names);
    if (!r) {
        sess_maybe_free(q, s);
        return listed && !m ? QUEUE_GRANTED : QUEUE_ENOMEM;
    }
    r->cb = cb;
    r->arg = arg;
    return request_start(q, s, r);
}

const queue_refusal_t *queue_last_refusal(const queue_mgr_t *q)
{
    return q->has_last ? &q->last : NULL;
}

void queue_cancel(queue_mgr_t *q, uint64_t sid)
{
    struct session *s = sess_find(q, sid);
    struct batch b = {0};

    if (!s || !s->req)
        return;
    drop_request(q, s, &b);
    sess_maybe_free(q, s);
    arm_timer(q);
    batch_fire(q, &b);
}

void queue_release_all(queue_mgr_t *q, uint64_t sid)
{
    struct session *s = sess_find(q, sid);
    struct batch b = {0};

    if (!s)
        return;
    if (s->req)
        drop_request(q, s, &b);
    while (s->held)
        release_entry(q, s->held, &b);
    sess_maybe_free(q, s);
    arm_timer(q);
    batch_fire(q, &b);
}

int queue_held_count(const queue_mgr_t *q, uint64_t sid)
{
    const struct session *s = sess_find(q, sid);

    return s ? s->nheld : 0;
}

int queue_holds(const queue_mgr_t *q, uint64_t sid, const char *table)
{
    const struct session *s = sess_find(q, sid);

    return s ? sess_holds(s, table) : 0;
}

int queue_pause(queue_mgr_t *q, const char *table)
{
    struct table *t = table_get(q, table);

    if (!t)
        return QUEUE_ENOMEM;
    t->paused = 1;
    unadmit(t);
    return 0;
}

int queue_resume(queue_mgr_t *q, const char *table)
{
    struct table *t = table_get(q, table);
    struct batch b = {0};

    if (!t)
        return QUEUE_ENOMEM;
    t->paused = 0;
    admit(q, t, &b);
    arm_timer(q);
    batch_fire(q, &b);
    return 0;
}

static void fill_entries(queue_entry_info_t *out, const struct list *l)
{
    int i = 0;

    for (const struct entry *e = l->head; e; e = e->next, i++) {
        out[i].sid = e->s->sid;
        out[i].since_ms = e->since;
    }
}

void queue_foreach(const queue_mgr_t *q,
                   void (*fn)(void *arg, const queue_table_info_t *info),
                   void *arg)
{
    for (size_t i = 0; i < q->ntables; i++) {
        const struct table *t = q->tables[i];
        size_t n = (size_t)t->holders.n + t->waiters.n;
        queue_entry_info_t *v = malloc((n ? n : 1) * sizeof(*v));
        queue_table_info_t info = {
            .table = t->name,
            .limit = t->limit,
            .paused = t->paused,
            .grants = t->grants,
            .waits = t->waits,
            .wait_ms_total = t->wait_ms_total,
            .wait_ms_max = t->wait_ms_max,
            .timeouts = t->timeouts,
            .deadlocks = t->deadlocks,
        };

        if (v) {
            fill_entries(v, &t->holders);
            fill_entries(v + t->holders.n, &t->waiters);
            info.holders = v;
            info.waiters = v + t->holders.n;
            info.nholders = t->holders.n;
            info.nwaiters = t->waiters.n;
        }
        fn(arg, &info);
        free(v);
    }
}
