/*
 * coord_sched: schedules, and firing them exactly once per slot.
 *
 * A schedule says when a tool runs (a mao_sched trigger: daily, weekly,
 * every DURATION, cron in a time zone) and how: misfire grace, coalesce,
 * overlap (skip, queue-one, allow), a maximum run time, retries for
 * infrastructure failures, jitter.  Schedules live in memory in a min-heap by
 * due time; the reactor fires what is due (coord_sched_tick) and arms a timer
 * for the next one.
 *
 * Every slot is accounted for: it makes a run, or a record that it was
 * skipped (the previous run still ran) or missed (the coordinator was away
 * past the grace time), each with its reason.  A fire writes the schedule's
 * new last slot and what the slot made in one store transaction, and a
 * scheduled run is dispatched only once that transaction is durable, so no
 * slot runs twice across crashes, and a restarted coordinator knows exactly
 * which slots are left.
 *
 * So that the store's latency does not make runs late, a slot is claimed
 * ahead of time (up to a second, at most half the interval): its run is
 * written, gated, while the slot has not come.  At the slot the schedule
 * decides as it would have then (overlap, grace) and the run goes out at
 * once, already durable.  A schedule has at most one claim outstanding; a
 * pause or a removal gives it up (the run is forgotten: paused slots are
 * not expected).  The heap is ordered
 * by `key_ms`: the claimed slot's time while a claim waits, else the next
 * slot's time less the lookahead.
 *
 * Everything here runs with the server's lock held.
 */
#ifndef COORD_SCHED_H
#define COORD_SCHED_H

#include "coord_server.h"
#include "mao_sched.h"

typedef enum { COORD_OVERLAP_SKIP = 0, COORD_OVERLAP_QUEUE_ONE, COORD_OVERLAP_ALLOW } coord_overlap_t;

typedef struct coord_sched_t {
    char id[MAO_ID_LEN + 1];
    char tool[65];
    char site[65];                 /* "" for any */
    int all_sites;                 /* each slot runs once at every site with a worker up */
    mao_sched_trigger_t *trigger;  /* owned */
    int64_t created_ms;
    int64_t anchor;                /* s; intervals count from here */
    int64_t last_slot;             /* s; the last slot accounted for, 0 for none */
    int64_t next_slot;             /* s; the next slot */
    int64_t due_ms;                /* next_slot with jitter */
    int64_t key_ms;                /* the heap's order: when the schedule needs looking at */
    int64_t resumed_at;            /* s; slots up to it are not expected (it was paused) */
    char claimed[MAO_ID_LEN + 1];  /* a run claimed ahead for a slot not yet come */
    int64_t claimed_due_ms;        /* that slot, with jitter */
    int64_t claim_prev_slot;       /* last_slot before the claim (for giving it up) */
    long grace_s;                  /* a slot later than this is missed */
    int coalesce;                  /* several due slots run once, for the latest */
    coord_overlap_t overlap;
    long max_run_s;                /* 0: the tool's timeout */
    long retries;                  /* for infrastructure failures */
    long retry_backoff_s;          /* first retry after this, doubling */
    long jitter_s;                 /* runs start up to this late, by the tool's name */
    int paused;
    char active[MAO_ID_LEN + 1];   /* the newest run, until it ends */
    char held[MAO_ID_LEN + 1];     /* queue-one: the run waiting for `active` */
    size_t heap_at;                /* index in the heap; SIZE_MAX when not in it */
    char last_run[MAO_ID_LEN + 1]; /* what the last slot made, for people */
    char last_outcome[16];         /* its status */
    char *last_reason;             /* owned, may be NULL */
    int64_t last_outcome_ms;
    int64_t outcome_unwritten_ms;  /* when the last outcome changed unwritten; 0: written */
} coord_sched_t;

typedef struct coord_scheds_t coord_scheds_t;

int coord_scheds_new(coord_scheds_t **out);
void coord_scheds_destroy(coord_scheds_t **self_p);

/* A new schedule of `tool` from an API request (trigger in "trigger", or
 * "frequency" daily/weekly, "every", or "cron" with "tz"; policies by name).
 * Returns 0, or MAO_EINVAL with a detail; nothing is stored. */
int coord_sched_from_request(coord_sched_t **out, json_t *body, const char *tool, int64_t now_ms);

/* A schedule from its stored record; NULL when the record is not one (logged). */
coord_sched_t *coord_sched_from_record(json_t *record);

void coord_sched_destroy(coord_sched_t **self_p);

/* What the store keeps (new reference), for a write: the schedule's note no
 * longer waits to be written behind (coord_sched_flush). */
json_t *coord_sched_record(coord_sched_t *s);

/* What the API shows (new reference): the record, the trigger's text, the
 * next fire time, the run in flight, and the last slot's outcome. */
json_t *coord_sched_to_json(const coord_sched_t *s);

/* The collection. */
void coord_scheds_add(coord_scheds_t *self, coord_sched_t *s);
coord_sched_t *coord_scheds_find(coord_scheds_t *self, const char *id);
void coord_scheds_remove(coord_scheds_t *self, coord_sched_t *s); /* frees it */
void coord_scheds_pause(coord_scheds_t *self, coord_sched_t *s, int paused, int64_t now_ms);
size_t coord_scheds_count(coord_scheds_t *self);
coord_sched_t *coord_scheds_first(coord_scheds_t *self);
coord_sched_t *coord_scheds_next(coord_scheds_t *self);

/* When slot `slot` (seconds since 1970, un-jittered) of `s` fires: the
 * slot plus the schedule's jitter, in ms since 1970. */
int64_t coord_sched_planned_ms(const coord_sched_t *s, int64_t slot);

/* When the next schedule needs looking at (ms since 1970), or INT64_MAX. */
int64_t coord_scheds_next_due(coord_scheds_t *self);

/* Fires every schedule that is due at `now_ms` (the reactor). */
void coord_sched_tick(coord_server_t *server, int64_t now_ms);

/* A run ended (any run; those of schedules matter): release a held run,
 * retry an infrastructure failure, note the outcome. */
void coord_sched_run_ended(coord_server_t *server, coord_run_t *run);

/* A run read back from the store after a restart belongs to its schedule. */
void coord_sched_adopt(coord_server_t *server, coord_run_t *run);

/* Writes the outcomes of schedules that have waited COORD_SCHED_OUTCOME_WRITE_MS
 * (all of them when `now_ms` is INT64_MAX: a stop).  A run's end changes its
 * schedule's note (`last`, for `why`), which is written behind: with the
 * schedule's next claim, which writes the whole record anyway, or after that
 * long, whichever comes first (lock held). */
#define COORD_SCHED_OUTCOME_WRITE_MS 10000
void coord_sched_flush(coord_server_t *server, int64_t now_ms);

/* A scheduled run changed state (it started): the schedule's note follows. */
void coord_sched_run_moved(coord_server_t *server, coord_run_t *run);

/* Gives up the run a schedule claimed ahead for a slot not yet come (it is
 * paused or removed): the run is forgotten and the slot is as if never
 * reached (lock held). */
void coord_sched_unclaim(coord_server_t *server, coord_sched_t *s);

/* Why `tool` ran or did not (new reference). */
json_t *coord_sched_why(coord_server_t *server, const char *tool);

#endif
