/*
 * coord_pg: the PostgreSQL job store and run history, through libpq.
 *
 * When [POSTGRES] is configured, schedules and runs (in flight and finished)
 * live in PostgreSQL instead of etcd, as the original orchestrator kept its
 * jobs there.  The coordinator creates the schema and keeps it versioned
 * (table mao_schema); several coordinators may start at once (an advisory
 * lock serialises the migration).
 *
 * Connections: a small pool, so that the recorder thread and API threads each
 * use their own (a libpq connection serves one thread at a time).  A broken
 * connection is reset on its next use; every call is bounded by libpq's
 * connect timeout and a statement timeout.
 */
#ifndef COORD_PG_H
#define COORD_PG_H

#include "mao_cfg.h"

#include <jansson.h>
#include <stddef.h>

typedef struct coord_pg_t coord_pg_t;

/* One write of a batch. */
typedef enum {
    COORD_PG_RUN = 0,
    COORD_PG_SCHEDULE,
    COORD_PG_SCHEDULE_DELETE,
    COORD_PG_RUN_DELETE
} coord_pg_kind_t;

typedef struct {
    coord_pg_kind_t kind;
    const char *id;
    const char *text;  /* the record as JSON text (puts) */
} coord_pg_op_t;

/* 1 when the config names a PostgreSQL database ([POSTGRES] db set). */
int coord_pg_configured(const mao_cfg_t *cfg);

/* Connects (once, to check) and brings the schema to the current version.
 * Returns 0, or MAO_EUNAVAILABLE / MAO_EFAIL with a detail (wrong password,
 * no such database, a schema newer than this coordinator knows). */
int coord_pg_open(coord_pg_t **out, const mao_cfg_t *cfg);

void coord_pg_destroy(coord_pg_t **self_p);

/* Writes the ops in one transaction (all or none).  Runs and schedules are
 * upserted by id.  With `term` > 0 the transaction holds only while `term` is
 * the newest leadership term (coord_pg_claim_term); else MAO_ECONFLICT and
 * nothing is written.  Returns 0 or a negative code. */
int coord_pg_write(coord_pg_t *self, const coord_pg_op_t *ops, size_t count, int64_t term);

/* A new leader's term: from now on writes of older terms are refused.
 * Returns 0, MAO_ECONFLICT when a newer term is there already, or a negative
 * code. */
int coord_pg_claim_term(coord_pg_t *self, int64_t term);

/* Calls fn(record, arg) for every schedule record (borrowed), in id order;
 * `fn` returns 0 to go on.  Returns 0 or a negative code. */
typedef int coord_pg_each_fn(json_t *record, void *arg);
int coord_pg_schedules_each(coord_pg_t *self, coord_pg_each_fn *fn, void *arg);

/* The same for the runs still queued or running (records with tool_record). */
int coord_pg_active_runs_each(coord_pg_t *self, coord_pg_each_fn *fn, void *arg);

/* Runs, newest first: of `tool` (NULL: all), with `status` (NULL: any),
 * only finished ones when `finished_only`, at most `limit`. */
int coord_pg_runs(json_t **out, coord_pg_t *self, const char *tool, const char *status,
                  int finished_only, long limit);

/* One run by id; MAO_ENOTFOUND when there is none. */
int coord_pg_run(json_t **out, coord_pg_t *self, const char *id);

#endif
