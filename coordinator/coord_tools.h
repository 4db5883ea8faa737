/*
 * coord_tools: the registry's tools, in memory, kept current by an etcd
 * watch, so that the reactor can read a tool's record when a schedule fires
 * without waiting for etcd, and schedules keep firing while etcd is away.
 *
 * A thread lists tools/ once, then watches it from the next revision; when
 * the watch breaks (etcd away, history compacted) it lists again.  Records
 * are checked as everywhere else (a bad one is left out).
 */
#ifndef COORD_TOOLS_H
#define COORD_TOOLS_H

#include "mao_etcd.h"

#include <jansson.h>

typedef struct coord_tools_t coord_tools_t;

/* Starts the thread on `etcd` (borrowed).  Returns 0 or MAO_ENOMEM. */
int coord_tools_new(coord_tools_t **out, mao_etcd_t *etcd);

/* The tool's record (new reference), or NULL when it is not registered (or
 * the first listing has not finished). */
json_t *coord_tools_get(coord_tools_t *self, const char *name);

/* 1 once the first listing is done. */
int coord_tools_ready(coord_tools_t *self);

/* Remembers a record the API just wrote, before the watch brings it (so a
 * schedule made right after registering a tool finds it). */
void coord_tools_note(coord_tools_t *self, json_t *record);

/* Forgets a tool the API just removed, before the watch says so (so no run
 * starts from the copy after the removal was answered). */
void coord_tools_forget(coord_tools_t *self, const char *name);

/* Stops the thread and frees; accepts NULL and sets *self_p to NULL. */
void coord_tools_destroy(coord_tools_t **self_p);

#endif
