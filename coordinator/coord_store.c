/*
 * coord_store: the recorder thread.
 *
 * Invariants: each unit is written whole in one transaction; the units that
 * write one key (a run's, a schedule's) land in the order they were queued,
 * since a unit never goes out while a transaction in flight writes its keys;
 * units of other keys are written by up to S_WRITERS transactions at once.  A
 * batch that failed is retried whole (the writes are idempotent), so nothing
 * queued is lost while the process lives.  Within a batch, later writes of a
 * key win, as if written one after the other.  "Durable up to n" advances
 * only over units all written.
 */
#include "coord_store.h"
#include "coord_lead.h"
#include "mao_error.h"
#include "mao_log.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Operations per transaction (units stay whole).  etcd allows 128 by
 * default, but batches of 120 wrote fewer runs a second than these
 * (docs/benchmarks.md, seventh round). */
#define S_BATCH_OPS 60
#define S_PRUNE_EVERY 20   /* prune a tool's etcd history after this many of its finished runs */
#define S_UNIT_MAX 32      /* items in one unit */
#define S_WRITERS 4        /* transactions in flight at once */

enum { S_WAITING = 0, S_IN_FLIGHT, S_WRITTEN };

typedef struct {
    coord_store_kind_t kind;
    char *id;
    char *tool;
    int finished;
    char *text;
} s_item_t;

typedef struct s_unit_t {
    struct s_unit_t *next; /* the queue, in sequence order */
    struct s_unit_t *link; /* the batch it is written in */
    int state;             /* S_WAITING, S_IN_FLIGHT or S_WRITTEN */
    size_t count;
    uint64_t seq;
    s_item_t items[]; /* `count` of them */
} s_unit_t;

struct coord_store_t {
    mao_etcd_t *etcd;          /* borrowed */
    coord_pg_t *pg;            /* borrowed; NULL: etcd holds runs and schedules */
    int wake_fd;               /* borrowed eventfd */
    long retention;
    pthread_t threads[S_WRITERS];
    size_t nthreads;
    pthread_mutex_t lock;      /* guards everything below */
    pthread_cond_t more;       /* units arrived, or stop */
    s_unit_t *head, *tail;     /* units not yet durable, in sequence order */
    zhashx_t *busy;            /* conflict key -> count, of the units in flight */
    zhashx_t *latest;          /* conflict key -> the newest waiting unit that writes it */
    int in_flight;             /* transactions being written */
    size_t batch_ops;          /* operations per transaction: S_BATCH_OPS, less when
                                * etcd allows fewer (its --max-txn-ops) */
    size_t pending;
    size_t fresh_ops;          /* etcd operations and units queued since a writer last */
    size_t fresh_units;        /* took a batch (what a writer woken now could find) */
    uint64_t last_seq;         /* the newest unit's number */
    uint64_t durable_seq;      /* every unit up to this one is written */
    json_t *prune_counts;      /* tool -> finished runs since its last prune */
    int stop;
    int healthy;
    struct coord_lead_t *lead; /* borrowed; NULL: no fencing */
    int fenced;                /* another coordinator leads: nothing more is written */
    int64_t deadline_ms;       /* when stopping: give up writing after this */
};

static size_t s_unit_ops(const coord_store_t *self, const s_unit_t *u);

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_unit_free(s_unit_t *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->count; i++) {
        free(u->items[i].id);
        free(u->items[i].tool);
        free(u->items[i].text);
    }
    free(u);
}

static void s_conflict_key(char *out, size_t size, const s_item_t *it);

/* A unit of one item whose key's newest waiting unit is also one item of
 * the same kind takes that unit's place: the newer record is written in it,
 * so a run that was queued, accepted and finished while the store was busy
 * costs one write, not three.  Returns that unit's number, or 0 (lock held). */
static uint64_t s_coalesce(coord_store_t *self, s_unit_t *u)
{
    char key[200];
    if (u->count != 1)
        return 0;
    s_conflict_key(key, sizeof key, &u->items[0]);
    s_unit_t *old = zhashx_lookup(self->latest, key);
    if (!old || old->state != S_WAITING || old->count != 1 ||
        old->items[0].kind != u->items[0].kind)
        return 0;
    s_item_t swap = old->items[0];
    old->items[0] = u->items[0];
    u->items[0] = swap; /* freed with u */
    return old->seq;
}

/* Forgets `u` as the newest waiting unit of its keys (lock held). */
static void s_unlatest(coord_store_t *self, s_unit_t *u)
{
    char key[200];
    for (size_t i = 0; i < u->count; i++) {
        s_conflict_key(key, sizeof key, &u->items[i]);
        if (zhashx_lookup(self->latest, key) == u)
            zhashx_delete(self->latest, key);
    }
}

static __thread coord_store_t *s_held_store; /* the store this thread holds, or NULL */
static __thread int s_held;                   /* its holds not yet released */
static __thread int s_held_units;             /* units it queued there while holding */

/* Whether a batch of `ops` etcd operations in `units` units is worth a
 * transaction now: always when none is being written; while one is, only
 * half a batch or more, so that under light load units gather into one
 * transaction and only a backlog is written by several at once.  s_take
 * decides with it, and writers are woken only when it would say yes for
 * what is new (a writer that finishes looks again by itself).  Lock held. */
static int s_worth_writing(const coord_store_t *self, size_t ops, size_t units)
{
    size_t half = self->batch_ops / 2;
    return self->in_flight == 0 || ops >= half || units >= half;
}

void coord_store_hold(coord_store_t *self)
{
    if (s_held > 0 && s_held_store != self)
        return; /* one store at a time; writes elsewhere wake as usual */
    s_held_store = self;
    s_held++;
}

void coord_store_release(coord_store_t *self)
{
    if (s_held == 0 || s_held_store != self)
        return;
    if (--s_held > 0)
        return;
    s_held_store = NULL;
    if (s_held_units == 0)
        return;
    s_held_units = 0;
    pthread_mutex_lock(&self->lock);
    if (self->fresh_ops >= self->batch_ops || self->fresh_units >= self->batch_ops)
        pthread_cond_broadcast(&self->more); /* more than one batch: writers in parallel */
    else if (s_worth_writing(self, self->fresh_ops, self->fresh_units))
        pthread_cond_signal(&self->more);
    pthread_mutex_unlock(&self->lock);
}

uint64_t coord_store_write(coord_store_t *self, const coord_store_item_t *items, size_t count)
{
    s_unit_t *u = count <= S_UNIT_MAX ? calloc(1, sizeof *u + count * sizeof u->items[0]) : NULL;
    if (!u) {
        mao_log_error("store", "unit.refused items=%zu", count);
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        s_item_t *it = &u->items[i];
        it->kind = items[i].kind;
        it->id = strdup(items[i].id);
        it->tool = items[i].tool ? strdup(items[i].tool) : NULL;
        it->finished = items[i].finished;
        it->text = items[i].record ? json_dumps(items[i].record, JSON_COMPACT) : strdup("{}");
        u->count++;
        if (!it->id || !it->text) {
            s_unit_free(u);
            mao_log_error("store", "out of memory");
            return 0;
        }
    }
    pthread_mutex_lock(&self->lock);
    uint64_t merged = s_coalesce(self, u);
    if (merged) {
        pthread_mutex_unlock(&self->lock);
        s_unit_free(u);
        return merged;
    }
    u->seq = ++self->last_seq;
    char key[200];
    for (size_t i = 0; i < u->count; i++) {
        s_conflict_key(key, sizeof key, &u->items[i]);
        zhashx_update(self->latest, key, u);
    }
    if (self->tail)
        self->tail->next = u;
    else
        self->head = u;
    self->tail = u;
    self->pending++;
    self->fresh_ops += s_unit_ops(self, u);
    self->fresh_units++;
    if (s_held_store == self)
        s_held_units++;
    else if (s_worth_writing(self, self->fresh_ops, self->fresh_units))
        pthread_cond_signal(&self->more);
    uint64_t seq = u->seq;
    pthread_mutex_unlock(&self->lock);
    return seq;
}

uint64_t coord_store_durable(coord_store_t *self)
{
    pthread_mutex_lock(&self->lock);
    uint64_t seq = self->durable_seq;
    pthread_mutex_unlock(&self->lock);
    return seq;
}

size_t coord_store_pending(coord_store_t *self)
{
    pthread_mutex_lock(&self->lock);
    size_t n = self->pending;
    pthread_mutex_unlock(&self->lock);
    return n;
}

void coord_store_set_lead(coord_store_t *self, struct coord_lead_t *lead)
{
    pthread_mutex_lock(&self->lock);
    self->lead = lead;
    pthread_mutex_unlock(&self->lock);
}

int coord_store_fenced(coord_store_t *self)
{
    pthread_mutex_lock(&self->lock);
    int f = self->fenced;
    pthread_mutex_unlock(&self->lock);
    return f;
}

int coord_store_healthy(coord_store_t *self)
{
    pthread_mutex_lock(&self->lock);
    int h = self->healthy;
    pthread_mutex_unlock(&self->lock);
    return h;
}

/* s_prune: collects the first `want` keys of a listing, then stops it. */
typedef struct {
    mao_etcd_kvs_t kvs;
    size_t want;
} s_oldest_t;

#define S_ENOUGH (-1000) /* s_collect_oldest: the listing may stop; never returned */

static int s_collect_oldest(mao_etcd_kv_t *kv, void *arg)
{
    s_oldest_t *o = arg;
    if (o->kvs.count == o->want) {
        mao_etcd_kv_free(kv);
        return S_ENOUGH;
    }
    o->kvs.items[o->kvs.count++] = *kv;
    return o->kvs.count == o->want ? S_ENOUGH : 0;
}

/* Keeps the newest `retention` finished runs of a tool in etcd.  Run ids
 * sort by time, so the oldest come first in key order.  The keys are only
 * counted unless some are to go: listing a whole history to find nothing to
 * delete cost etcd more than writing the runs. */
static void s_prune(coord_store_t *self, const char *tool)
{
    char prefix[128];
    int64_t count = 0;
    int newer = 0;
    snprintf(prefix, sizeof prefix, "runs/%s/", tool);
    if (mao_etcd_probe(self->etcd, prefix, INT64_MAX, &count, &newer) < 0 ||
        count <= self->retention)
        return;
    s_oldest_t o = {.want = (size_t)(count - self->retention)};
    if (!(o.kvs.items = calloc(o.want, sizeof *o.kvs.items)))
        return;
    int rc = mao_etcd_list_each(self->etcd, prefix, o.want < 1000 ? o.want : 1000, 1,
                                s_collect_oldest, &o, NULL);
    if (rc == 0 || rc == S_ENOUGH) {
        mao_etcd_op_t ops[64];
        for (size_t i = 0; i < o.kvs.count; i += 64) {
            size_t n = 0;
            for (size_t j = i; j < o.kvs.count && n < 64; j++, n++)
                ops[n] = (mao_etcd_op_t){.del = 1, .key = o.kvs.items[j].key};
            if (mao_etcd_batch(self->etcd, ops, n) < 0)
                break;
        }
        mao_log_debug("store", "history.pruned tool=%s removed=%zu", tool, o.kvs.count);
    }
    mao_etcd_kvs_free(&o.kvs);
}

/* How many etcd operations an item takes. */
static size_t s_etcd_ops(const coord_store_t *self, const s_item_t *it)
{
    if (it->kind == COORD_STORE_NOTIFICATION || it->kind == COORD_STORE_WORKER)
        return 1;
    if (self->pg)
        return 0;
    return it->kind == COORD_STORE_RUN && it->finished ? 2 : 1;
}

/* How many etcd operations a unit takes. */
static size_t s_unit_ops(const coord_store_t *self, const s_unit_t *u)
{
    size_t ops = 0;
    for (size_t i = 0; i < u->count; i++)
        ops += s_etcd_ops(self, &u->items[i]);
    return ops;
}

#define S_FENCED 1 /* s_write: the fence did not hold */

/* Writes a batch of units; 0 when every part of it is durable, S_FENCED when
 * another coordinator leads, else a negative code. */
static int s_write(coord_store_t *self, s_unit_t *batch, int64_t fence, int64_t term)
{
    mao_etcd_op_t eops[S_BATCH_OPS + 2 * S_UNIT_MAX];
    coord_pg_op_t pops[S_BATCH_OPS + S_UNIT_MAX];
    char keys[S_BATCH_OPS + 2 * S_UNIT_MAX][200];
    size_t ne = 0, np = 0;
    for (s_unit_t *u = batch; u; u = u->link) {
        for (size_t i = 0; i < u->count; i++) {
            s_item_t *it = &u->items[i];
            if (it->kind == COORD_STORE_NOTIFICATION || it->kind == COORD_STORE_WORKER) {
                /* In etcd whatever the store: for every site to see. */
                snprintf(keys[ne], sizeof keys[ne], "%s/%s",
                         it->kind == COORD_STORE_WORKER ? "workers" : "notifications", it->id);
                eops[ne] = (mao_etcd_op_t){.key = keys[ne], .value = it->text,
                                           .len = strlen(it->text)};
                ne++;
            } else if (self->pg) {
                pops[np++] = (coord_pg_op_t){
                    .kind = it->kind == COORD_STORE_RUN          ? COORD_PG_RUN
                            : it->kind == COORD_STORE_RUN_DELETE ? COORD_PG_RUN_DELETE
                            : it->kind == COORD_STORE_SCHEDULE   ? COORD_PG_SCHEDULE
                                                                 : COORD_PG_SCHEDULE_DELETE,
                    .id = it->id,
                    .text = it->text};
            } else if (it->kind == COORD_STORE_RUN_DELETE) {
                snprintf(keys[ne], sizeof keys[ne], "queue/%s", it->id);
                eops[ne] = (mao_etcd_op_t){.del = 1, .key = keys[ne]};
                ne++;
            } else if (it->kind == COORD_STORE_RUN) {
                snprintf(keys[ne], sizeof keys[ne], "queue/%s", it->id);
                if (it->finished) {
                    eops[ne] = (mao_etcd_op_t){.del = 1, .key = keys[ne]};
                    ne++;
                    snprintf(keys[ne], sizeof keys[ne], "runs/%s/%s", it->tool ? it->tool : "-",
                             it->id);
                }
                eops[ne] = (mao_etcd_op_t){.key = keys[ne], .value = it->text,
                                           .len = strlen(it->text)};
                ne++;
            } else {
                snprintf(keys[ne], sizeof keys[ne], "schedules/%s", it->id);
                eops[ne] = (mao_etcd_op_t){.del = it->kind == COORD_STORE_SCHEDULE_DELETE,
                                           .key = keys[ne], .value = it->text,
                                           .len = strlen(it->text)};
                ne++;
            }
        }
    }
    /* PostgreSQL first: when it fails nothing is written; a notification
     * written twice after a retry is the same key and value. */
    int rc = 0;
    if (np && (rc = coord_pg_write(self->pg, pops, np, term)) < 0)
        return rc == MAO_ECONFLICT ? S_FENCED : rc;
    if (ne) {
        int ok = 0;
        mao_etcd_cmp_t cmp = {.key = "leader", .target = MAO_ETCD_CREATE, .number = fence};
        if ((rc = mao_etcd_txn(self->etcd, &cmp, fence > 0 ? 1 : 0, eops, ne, &ok, NULL)) < 0)
            return rc;
        if (!ok)
            return S_FENCED;
    }
    return 0;
}

static void s_wake(coord_store_t *self)
{
    uint64_t one = 1;
    if (self->wake_fd >= 0 && write(self->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        mao_log_warn("store", "wake.failed error=\"%s\"", strerror(errno));
}

/* The key a unit's item is ordered by: two items with one key are written in
 * the order they were queued, never in two transactions at once. */
static void s_conflict_key(char *out, size_t size, const s_item_t *it)
{
    char family = it->kind == COORD_STORE_RUN || it->kind == COORD_STORE_RUN_DELETE ? 'r'
                  : it->kind == COORD_STORE_NOTIFICATION                          ? 'n'
                  : it->kind == COORD_STORE_WORKER                                ? 'w'
                                                                                  : 's';
    snprintf(out, size, "%c/%s", family, it->id);
}

static int s_conflicts(coord_store_t *self, const s_unit_t *u)
{
    char key[200];
    for (size_t i = 0; i < u->count; i++) {
        s_conflict_key(key, sizeof key, &u->items[i]);
        if (zhashx_lookup(self->busy, key))
            return 1;
    }
    return 0;
}

/* Marks a batch's keys busy (`busy`) or free again (lock held). */
static void s_mark(coord_store_t *self, s_unit_t **batch, size_t n, int busy)
{
    char key[200];
    for (size_t b = 0; b < n; b++) {
        s_unit_t *u = batch[b];
        u->state = busy ? S_IN_FLIGHT : S_WAITING;
        for (size_t i = 0; i < u->count; i++) {
            s_conflict_key(key, sizeof key, &u->items[i]);
            uintptr_t c = (uintptr_t)zhashx_lookup(self->busy, key);
            c = busy ? c + 1 : c - 1;
            if (c)
                zhashx_update(self->busy, key, (void *)c);
            else
                zhashx_delete(self->busy, key);
        }
    }
}

/* Takes the next batch (lock held): whole units in queue order, from the
 * first one waiting, up to the operations one transaction may hold, and
 * stopping before a unit whose keys a transaction in flight writes (so
 * that writes of one key land in their order).  Returns how many. */
static size_t s_take(coord_store_t *self, s_unit_t **batch)
{
    s_unit_t *u = self->head;
    while (u && u->state != S_WAITING)
        u = u->next;
    size_t n = 0, ops = 0, max = self->batch_ops;
    for (; u && u->state == S_WAITING && n < max; u = u->next) {
        size_t more = s_unit_ops(self, u);
        if ((n > 0 && ops + more > max) || s_conflicts(self, u))
            break;
        ops += more;
        batch[n++] = u;
    }
    if (n == 0 || !s_worth_writing(self, ops, n))
        return 0;
    self->fresh_ops = self->fresh_units = 0;
    self->in_flight++;
    for (size_t b = 0; b < n; b++)
        s_unlatest(self, batch[b]);
    s_mark(self, batch, n, 1);
    return n;
}

static int s_any_waiting(coord_store_t *self)
{
    for (s_unit_t *u = self->head; u; u = u->next)
        if (u->state == S_WAITING)
            return 1;
    return 0;
}

static void s_wait_ms(coord_store_t *self, long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&self->more, &self->lock, &until);
}

/* Counts a written batch's finished runs per tool; the tools due for
 * pruning go into `prune` (lock held). */
static void s_count_finished(coord_store_t *self, s_unit_t **batch, size_t n, json_t *prune)
{
    for (size_t b = 0; b < n; b++) {
        for (size_t i = 0; i < batch[b]->count; i++) {
            s_item_t *it = &batch[b]->items[i];
            if (self->pg || it->kind != COORD_STORE_RUN || !it->finished || !it->tool)
                continue;
            json_int_t c = json_integer_value(json_object_get(self->prune_counts, it->tool)) + 1;
            if (c >= S_PRUNE_EVERY) {
                c = 0;
                json_array_append_new(prune, json_string(it->tool));
            }
            json_object_set_new(self->prune_counts, it->tool, json_integer(c));
        }
    }
}

/* Frees the written units at the head of the queue; every unit up to the
 * last one freed is durable (lock held). */
static void s_advance(coord_store_t *self)
{
    while (self->head && self->head->state == S_WRITTEN) {
        s_unit_t *u = self->head;
        self->head = u->next;
        if (!self->head)
            self->tail = NULL;
        self->durable_seq = u->seq;
        self->pending--;
        s_unit_free(u);
    }
}

/* One writer.  S_WRITERS of them run at once: etcd (and PostgreSQL) commit
 * transactions that arrive together with one disk sync, so several in
 * flight write many more units per second than one after the other. */
static void *s_thread(void *arg)
{
    coord_store_t *self = arg;
    long backoff_ms = 0;
    s_unit_t *batch[S_BATCH_OPS];
    pthread_mutex_lock(&self->lock);
    for (;;) {
        if (self->stop && (self->fenced || !s_any_waiting(self) || s_now_ms() > self->deadline_ms))
            break;
        if (self->fenced) {
            pthread_cond_wait(&self->more, &self->lock);
            continue;
        }
        int64_t fence = 0, term = 0;
        if (self->lead) {
            fence = coord_lead_fence(self->lead);
            term = coord_lead_term(self->lead);
            if (fence < 0) {
                /* Not leading (yet, or any more): nothing is ours to write. */
                if (!self->stop)
                    s_wait_ms(self, 200);
                else
                    break;
                continue;
            }
        }
        size_t n = s_take(self, batch);
        if (n == 0) {
            if (self->stop && !s_any_waiting(self))
                break;
            pthread_cond_wait(&self->more, &self->lock);
            continue;
        }
        for (size_t b = 0; b + 1 < n; b++)
            batch[b]->link = batch[b + 1];
        batch[n - 1]->link = NULL;
        pthread_mutex_unlock(&self->lock);

        int rc = s_write(self, batch[0], fence, term);

        pthread_mutex_lock(&self->lock);
        self->in_flight--;
        if (rc == S_FENCED) {
            /* Another coordinator leads: these units are not ours to write. */
            s_mark(self, batch, n, 0);
            self->fenced = 1;
            mao_log_error("store", "write.fenced units=%zu detail=\"another coordinator leads; "
                                   "nothing more is written here\"",
                          n);
            pthread_cond_broadcast(&self->more);
            pthread_mutex_unlock(&self->lock);
            s_wake(self);
            pthread_mutex_lock(&self->lock);
            continue;
        }
        self->healthy = rc == 0;
        if (rc == MAO_EINVAL && strstr(mao_error_last(), "too many operations") &&
            self->batch_ops > 1) {
            /* An etcd started with a lower --max-txn-ops: smaller batches
             * from now on (a unit larger than that still goes alone). */
            size_t ops = 0;
            for (size_t b = 0; b < n; b++)
                ops += s_unit_ops(self, batch[b]);
            if (ops / 2 < self->batch_ops)
                self->batch_ops = ops / 2 > 0 ? ops / 2 : 1;
            mao_log_warn("store", "batch.smaller ops=%zu detail=\"etcd refused %zu operations in "
                                  "one transaction (its --max-txn-ops)\"",
                         self->batch_ops, ops);
            s_mark(self, batch, n, 0);
            pthread_cond_broadcast(&self->more);
            continue;
        }
        if (rc < 0) {
            s_mark(self, batch, n, 0);
            pthread_cond_broadcast(&self->more);
            backoff_ms = backoff_ms ? (backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2) : 100;
            mao_log_warn("store", "write.failed units=%zu retry_in_ms=%ld detail=\"%s\"", n,
                         backoff_ms, mao_error_last());
            if (!self->stop)
                s_wait_ms(self, backoff_ms);
            continue;
        }
        if (backoff_ms)
            mao_log_info("store", "write.recovered");
        backoff_ms = 0;
        s_mark(self, batch, n, 0);
        for (size_t b = 0; b < n; b++)
            batch[b]->state = S_WRITTEN;
        json_t *prune = json_array();
        s_count_finished(self, batch, n, prune);
        s_advance(self);
        /* Units that waited for these keys may go now. */
        pthread_cond_broadcast(&self->more);
        pthread_mutex_unlock(&self->lock);
        size_t i;
        json_t *tool;
        json_array_foreach(prune, i, tool) s_prune(self, json_string_value(tool));
        json_decref(prune);
        s_wake(self);
        pthread_mutex_lock(&self->lock);
    }
    pthread_cond_broadcast(&self->more);
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

int coord_store_new(coord_store_t **out, mao_etcd_t *etcd, coord_pg_t *pg, int wake_fd,
                    long retention)
{
    coord_store_t *self = calloc(1, sizeof *self);
    if (!self)
        return MAO_ENOMEM;
    self->etcd = etcd;
    self->pg = pg;
    self->wake_fd = wake_fd;
    self->retention = retention > 0 ? retention : 200;
    self->batch_ops = S_BATCH_OPS;
    self->prune_counts = json_object();
    self->healthy = 1;
    self->busy = zhashx_new();
    self->latest = zhashx_new();
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->more, NULL);
    if (!self->prune_counts || !self->busy || !self->latest) {
        coord_store_destroy(&self, 0);
        return MAO_ENOMEM;
    }
    while (self->nthreads < S_WRITERS &&
           pthread_create(&self->threads[self->nthreads], NULL, s_thread, self) == 0)
        self->nthreads++;
    if (self->nthreads == 0) {
        coord_store_destroy(&self, 0);
        return MAO_ENOMEM;
    }
    *out = self;
    return 0;
}

void coord_store_destroy(coord_store_t **self_p, long grace_ms)
{
    if (!self_p || !*self_p)
        return;
    coord_store_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    self->stop = 1;
    self->deadline_ms = s_now_ms() + grace_ms;
    pthread_cond_broadcast(&self->more);
    pthread_mutex_unlock(&self->lock);
    for (size_t i = 0; i < self->nthreads; i++)
        pthread_join(self->threads[i], NULL);
    if (self->pending)
        mao_log_warn("store", "stopped.unwritten units=%zu", self->pending);
    while (self->head) {
        s_unit_t *next = self->head->next;
        s_unit_free(self->head);
        self->head = next;
    }
    json_decref(self->prune_counts);
    zhashx_destroy(&self->busy);
    zhashx_destroy(&self->latest);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->more);
    free(self);
    *self_p = NULL;
}
