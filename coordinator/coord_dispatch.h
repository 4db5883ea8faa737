/*
 * coord_dispatch: runs and workers, on the coordinator's reactor.
 *
 * Workers say hello (site, capacity, labels, what they run, what results
 * they hold), heartbeat, accept jobs and send results; the coordinator
 * heartbeats back, places queued runs, marks a silent worker down and puts
 * its runs back in the queue (attempt + 1), and acknowledges a result once
 * the recorder has it in etcd.  The first result of a run wins; later ones
 * (from a lost attempt that came back) are acknowledged and kept in the
 * run's history only.  Every change of a run is published as an event,
 * written behind to etcd (queue/<id> while it waits or runs, runs/<tool>/<id>
 * once finished) and broadcast to waiting API threads.
 */
#ifndef COORD_DISPATCH_H
#define COORD_DISPATCH_H

#include "coord_server.h"

/* Binds the ROUTER and PUB sockets and registers the reactor's readers.
 * Returns 0, or MAO_EFAIL with a detail (address in use, bad endpoint). */
int coord_dispatch_bind(coord_server_t *self);

/* Registers the wake eventfd with the reactor (at start, leader or not). */
void coord_dispatch_watch_wake(coord_server_t *self);

/*
 * The coordinator's periodic timer (every 100 ms).  Duties:
 *  - read the queue back from etcd after a start (every 5 s until it works);
 *  - heartbeat to every worker that is up, every heartbeat_ms;
 *  - mark workers silent past liveness_ms down and requeue their runs;
 *  - put jobs not accepted within dispatch_timeout_ms back in the queue;
 *  - place queued runs on workers with room;
 *  - watch etcd's health once a second and log when it changes.
 */
int coord_dispatch_cron(zloop_t *loop, int timer_id, void *arg);

/* Queues a run of `tool_record` (a reference is taken) at `site` ("" or NULL:
 * any) and wakes the reactor.  Any thread.  Copies the new run's id into
 * `id`.  Returns 0, or MAO_ENOMEM. */
int coord_dispatch_submit(coord_server_t *self, json_t *tool_record, const char *site,
                          const char *trigger, char id[MAO_ID_LEN + 1], uint64_t *seq);

/* Queues one run of the tool at every site that has a worker up, grouped:
 * their ids go into `ids` (a JSON array), the group's into `group`.  Any
 * thread.  Returns 0, MAO_EUNAVAILABLE when no worker is up, or MAO_ENOMEM. */
int coord_dispatch_submit_all(coord_server_t *self, json_t *tool_record, const char *trigger,
                              char group[MAO_ID_LEN + 1], json_t *ids, uint64_t *seq);

struct coord_sched_t;

/* A run for a schedule's slot (lock held): queued, dispatched only once the
 * store holds it together with the schedule's new last slot.  `retry` > 0 for
 * a retry of the slot, not before `not_before_ms`; `held` for queue-one;
 * `gate` for a slot claimed ahead of time, which waits for its schedule's
 * decision at `planned_ms` (coord_sched_tick).  Returns the run (owned by the
 * server) or NULL. */
coord_run_t *coord_dispatch_scheduled(coord_server_t *self, json_t *tool_record,
                                      struct coord_sched_t *sched, int64_t slot,
                                      int64_t planned_ms, long retry, int64_t not_before_ms,
                                      int held, int gate);

/* Ends a queued run that was never sent (a claimed slot skipped, missed or
 * given up) with its reason, and records it (lock held). */
void coord_dispatch_drop(coord_server_t *self, coord_run_t *run, coord_run_status_t status,
                         const char *reason);

/* Forgets a run claimed ahead whose slot will not come (its schedule is
 * paused or removed): it goes from memory and from the store, in one unit
 * with the schedule's record (lock held). */
void coord_dispatch_forget(coord_server_t *self, coord_run_t *run,
                           struct coord_sched_t *sched);

/* Opens a claimed slot's gate: its run joins the queue (lock held).  The
 * store learns it behind (S_RUNNING_WRITE_MS), or from the run's final
 * record: until then a successor finds the slot still claimed and decides it
 * again as this coordinator did. */
void coord_dispatch_ungate(coord_server_t *self, coord_run_t *run);

/* Writes a queued run's record again after the scheduler changed it (it is
 * held) (lock held). */
void coord_dispatch_touch(coord_server_t *self, coord_run_t *run);

/* Records a slot that made no run (skipped or missed) with its reason, in
 * one store unit with the schedule's new last slot (lock held). */
void coord_dispatch_record_slot(coord_server_t *self, struct coord_sched_t *sched,
                                int64_t slot, coord_run_status_t status, const char *reason);

/* 1 when a worker of `site` is up (lock held). */
int coord_dispatch_site_up(coord_server_t *self, const char *site);

/* The run with this id among those in memory, or NULL.  Caller holds the lock. */
coord_run_t *coord_dispatch_find(coord_server_t *self, const char *id);

/* Why a queued run still waits, for people ("no worker is up at site X",
 * "every worker at site X is busy", ...), or NULL when it does not wait.
 * Caller holds the lock. */
const char *coord_dispatch_why_waiting(coord_server_t *self, const coord_run_t *run);

/* Workers as the API shows them (new reference).  Caller holds the lock. */
json_t *coord_dispatch_workers_json(coord_server_t *self);

#endif
