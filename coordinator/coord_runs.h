/*
 * coord_runs: what the coordinator knows about one run, and how a run is
 * shown (to the API, to etcd, to events).
 *
 * A run is created queued (by the API or a schedule), assigned to a worker
 * (still queued until the worker accepts), running, then terminal:
 * succeeded, failed or timed_out.  A run whose worker is lost goes back to
 * the queue with attempt + 1; every attempt stays in the run's history.
 * A schedule also records the slots it did not run, as runs that are born
 * terminal: skipped (the previous run was still going) or missed (the
 * coordinator was away past the grace time), each with its reason.
 * These structs live in the coordinator's tables and are read and changed
 * only under the server's lock.
 */
#ifndef COORD_RUNS_H
#define COORD_RUNS_H

#include "mao_id.h"

#include <jansson.h>
#include <stdint.h>
#include <stddef.h>

typedef enum {
    COORD_RUN_QUEUED = 0,
    COORD_RUN_RUNNING,
    COORD_RUN_SUCCEEDED,
    COORD_RUN_FAILED,
    COORD_RUN_TIMED_OUT,
    COORD_RUN_SKIPPED,
    COORD_RUN_MISSED,
} coord_run_status_t;

#define COORD_RUN_STATUSES 7

/* A place in a list of runs (coord_live_*): the coordinator keeps its runs
 * that are not finished in one, so that what looks at every such run each
 * tenth of a second does not also walk the thousands of finished ones it
 * keeps. */
typedef struct coord_link {
    struct coord_link *prev, *next; /* NULL while in no list */
} coord_link_t;

typedef struct {
    coord_link_t live;     /* first: its place among the runs not finished */
    char id[MAO_ID_LEN + 1];
    char tool[65];
    json_t *tool_record;   /* the tool as registered when the run was made, owned */
    char want_site[65];    /* placement: a site, or "" for any */
    char trigger[32];      /* "manual", "legacy", "schedule" */
    char group[MAO_ID_LEN + 1]; /* runs of one tool at every site at once share it; "" */
    char schedule[MAO_ID_LEN + 1]; /* the schedule that made it; "" for others */
    int64_t slot;          /* the schedule's slot (seconds since 1970); 0 for others */
    int64_t planned_ms;    /* when the slot was due (with jitter), for lateness */
    long retry;            /* 0, or which retry of its slot this is */
    long timeout_s;        /* the schedule's maximum run time; 0: the tool's */
    int64_t not_before_ms; /* a retry waits until then */
    int held;              /* queue-one: waits for the schedule's previous run */
    int gate;              /* its slot was claimed ahead of time: it waits until
                              planned_ms, when its schedule decides (overlap, grace) */
    int fan_out;           /* a slot of a schedule for every site: this run becomes
                              the first site's once placed, with one run per other
                              site beside it (coord_dispatch) */
    int sibling;           /* one of those other sites' runs: the schedule follows
                              the first one (overlap, retries) */
    uint64_t created_seq;  /* store unit that made it durable; a scheduled run is
                              dispatched only once it is (so no slot runs twice) */
    uint64_t final_seq;    /* store unit of its final record */
    coord_run_status_t status;
    long attempt;          /* 1, then + 1 each time a lost run is queued again */
    char worker[129];      /* the worker of the current attempt; "" while unassigned */
    char site[65];         /* its site */
    int64_t created_ms;
    int64_t dispatched_ms; /* when the current attempt was sent; 0 while unassigned */
    int64_t started_ms;    /* when the worker accepted it */
    int64_t finished_ms;
    json_t *result;        /* the worker's result message, once terminal; owned */
    char *reason;          /* why it failed when the coordinator decided so; owned,
                              NULL: it did not (kept off the struct, so that a run
                              stays a small allocation for malloc) */
    json_t *attempts;      /* earlier attempts: [{attempt, worker, site, status, reason}] */
    unsigned version;      /* + 1 on every change, for waiting clients */
    int announced;         /* run.queued was published */
    int recorded;          /* the terminal record is in etcd */
    int unwritten;         /* a change not yet written behind (see S_RUNNING_WRITE_MS) */
    int64_t unwritten_ms;  /* since when */
    char ack_to[129];      /* worker waiting for result_ack once recorded */
} coord_run_t;

/* Sets why the coordinator ended the run (a copy; out of memory leaves none). */
void coord_run_set_reason(coord_run_t *run, const char *reason);

/* An empty list of runs: `head` links to itself. */
void coord_live_init(coord_link_t *head);

/* Puts `run` at the end of the list `head`, unless it is in one already. */
void coord_live_add(coord_link_t *head, coord_run_t *run);

/* Takes `run` out of its list, if it is in one (destroying a run does too). */
void coord_live_remove(coord_run_t *run);

/* The first run of the list `head`, and the one after `run`; NULL at its
 * end.  Taking out the run in hand ends the walk. */
coord_run_t *coord_live_first(coord_link_t *head);
coord_run_t *coord_live_next(coord_link_t *head, coord_run_t *run);

/* A new queued run of `tool_record` (a reference is taken).  NULL when out
 * of memory. */
coord_run_t *coord_run_new(json_t *tool_record, const char *want_site, const char *trigger);

/* A run rebuilt from its record in etcd (the queue's copy, which carries the
 * tool).  Returns NULL when the record is not one. */
coord_run_t *coord_run_from_record(json_t *record);

void coord_run_destroy(coord_run_t **run_p);

const char *coord_run_status_name(coord_run_status_t status);

/* Parses a status name; returns 0 or MAO_EINVAL. */
int coord_run_status_parse(coord_run_status_t *out, const char *name);
int coord_run_terminal(const coord_run_t *run);

/* The run as the API shows it (new reference): id, tool, status, attempt,
 * site, worker, trigger, times (ISO 8601), duration_s, exit_code, reason,
 * image, image_digest, datadir, control_value, verdict, spike, report,
 * attempts, and with `full` the log tail.  With `queue_copy` also the tool
 * record, for the queue key in etcd. */
json_t *coord_run_to_json(const coord_run_t *run, int full, int queue_copy);

/* "spike", "no spike", "not enough data", "error", or NULL when the run has
 * no report (it failed before the detector). */
const char *coord_run_verdict(const coord_run_t *run);

#endif
