/*
 * coord_store: the coordinator's recorder, a thread that writes runs,
 * schedules and notifications behind the reactor's back.
 *
 * Central idea: the reactor never waits for a store.  It hands over units:
 * a few items that must land together (a fired schedule's new last slot and
 * the run it made; a finished run replacing its queue entry).  The recorder
 * writes them several units per transaction, a few transactions at once
 * (writes of one key always in their order), and retries with backoff while
 * the store is away, so writes catch up when it returns.  Each unit gets a
 * sequence number; "unit n is durable" means every unit up to n is.  After
 * every write `wake_fd` is
 * written so that the reactor (and API threads waiting on it) can look.
 *
 * Where things go: with PostgreSQL (coord_pg), runs and schedules go there;
 * otherwise to etcd: queue/<id> while a run waits or runs, runs/<tool>/<id>
 * once finished (the newest `retention` kept per tool), schedules/<id>.
 * Notifications always go to etcd (notifications/<key>).
 */
#ifndef COORD_STORE_H
#define COORD_STORE_H

#include "coord_pg.h"
#include "mao_etcd.h"

#include <jansson.h>
#include <stdint.h>

typedef struct coord_store_t coord_store_t;

typedef enum {
    COORD_STORE_RUN = 0,         /* a run's record; `finished` moves it to the history */
    COORD_STORE_SCHEDULE,        /* a schedule's record */
    COORD_STORE_SCHEDULE_DELETE, /* a schedule removed */
    COORD_STORE_RUN_DELETE,      /* a run that never was (a claim given up): it goes */
    COORD_STORE_NOTIFICATION,    /* a spike notification; `id` is its key */
    COORD_STORE_WORKER,          /* a worker as the leader sees it; `id` is the worker's */
} coord_store_kind_t;

typedef struct {
    coord_store_kind_t kind;
    const char *id;     /* run id, schedule id, notification key, or worker id */
    const char *tool;   /* runs: their tool */
    int finished;       /* runs: it ended */
    json_t *record;     /* what to store (borrowed: written as JSON text at once) */
} coord_store_item_t;

/* Starts the recorder on `etcd` (borrowed) and `pg` (borrowed; NULL: etcd
 * only).  Returns 0 or MAO_ENOMEM. */
int coord_store_new(coord_store_t **out, mao_etcd_t *etcd, coord_pg_t *pg, int wake_fd,
                    long retention);

/* Queues one unit of `count` items (at most 32).  Never blocks on a store.
 * Returns the unit's sequence number (> 0), or 0 when it could not be queued
 * (out of memory; logged). */
uint64_t coord_store_write(coord_store_t *self, const coord_store_item_t *items, size_t count);

/* Between hold and release, the units this thread queues wake no writing
 * thread; release wakes one if they make work for it.  The reactor holds
 * over each of its turns (a batch of messages, a timer), so that a turn's
 * twenty or sixty units wake a writer once, not each: every wake-up took the
 * store's lock from under the reactor and preempted it.  Nests; one store at
 * a time per thread; other threads are not affected. */
void coord_store_hold(coord_store_t *self);
void coord_store_release(coord_store_t *self);

/* The highest sequence number whose unit is durable: every unit up to it is. */
uint64_t coord_store_durable(coord_store_t *self);

/* Units waiting to be written. */
size_t coord_store_pending(coord_store_t *self);

/* 1 while the last write attempt worked. */
int coord_store_healthy(coord_store_t *self);

struct coord_lead_t;

/* Writes only while `lead` (borrowed) says we lead, in transactions that hold
 * only while our leader key is the one we created (etcd) or our term is the
 * newest (PostgreSQL).  Call before the first unit is queued. */
void coord_store_set_lead(coord_store_t *self, struct coord_lead_t *lead);

/* 1 once a write was refused because another coordinator leads: nothing more
 * is written, and this coordinator must start over. */
int coord_store_fenced(coord_store_t *self);

/* Stops the thread after trying to write what waits for at most `grace_ms`,
 * and frees; accepts NULL and sets *self_p to NULL. */
void coord_store_destroy(coord_store_t **self_p, long grace_ms);

#endif
