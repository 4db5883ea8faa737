/*
 * coord_store: the coordinator's recorder, a thread that writes run records
 * and notifications to etcd behind the reactor's back.
 *
 * Central idea: the reactor never waits for etcd.  It hands over "put this
 * key" items; the recorder writes them in order, in batched transactions,
 * and retries with backoff while etcd is away, so writes catch up when it
 * returns.  An item may carry a tag (a run id): once its write is in etcd the
 * tag is handed back (coord_store_take_done) and the reactor is woken through
 * `wake_fd`, so a worker's result is acknowledged only when it is durable.
 * A newer item for a key that is still waiting replaces the older one.
 */
#ifndef COORD_STORE_H
#define COORD_STORE_H

#include "mao_etcd.h"

#include <jansson.h>

typedef struct coord_store_t coord_store_t;

/* Starts the recorder on `etcd` (borrowed).  `wake_fd` is an eventfd written
 * when tags are done.  `retention` is how many finished runs are kept per
 * tool under runs/<tool>/.  Returns 0 or MAO_ENOMEM. */
int coord_store_new(coord_store_t **out, mao_etcd_t *etcd, int wake_fd, long retention);

/* Queues: put `value` (a reference is taken) at `key`; delete `also_delete`
 * in the same transaction (may be NULL); hand back `tag` when done (may be
 * NULL); prune runs/<prune_tool>/ to the retention afterwards (may be NULL).
 * Never blocks on etcd. */
void coord_store_put(coord_store_t *self, const char *key, json_t *value, const char *also_delete,
                     const char *tag, const char *prune_tool);

/* The tags whose writes are done since the last call, as a JSON array (new
 * reference, possibly empty). */
json_t *coord_store_take_done(coord_store_t *self);

/* Items waiting to be written. */
size_t coord_store_pending(coord_store_t *self);

/* 1 while the last write attempt worked. */
int coord_store_healthy(coord_store_t *self);

/* Stops the thread after trying to write what waits for at most `grace_ms`,
 * and frees; accepts NULL and sets *self_p to NULL. */
void coord_store_destroy(coord_store_t **self_p, long grace_ms);

#endif
