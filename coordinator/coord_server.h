/*
 * coord_server: the coordinator daemon's one state struct and its life.
 *
 * The coordinator owns the registry in etcd, serves the HTTP API, and
 * dispatches runs to workers.  Threads:
 *  - the main thread runs one zloop reactor: the workers' ROUTER socket, the
 *    events PUB socket, the wake eventfd, and one periodic timer
 *    (coord_dispatch_cron) whose comment lists its duties;
 *  - libmicrohttpd runs one thread per API connection; such a thread may
 *    block on etcd (bounded by its timeout) and waits for runs on `changed`;
 *  - the recorder (coord_store) writes runs to etcd; the notifier
 *    (coord_notify) delivers webhooks and mail.
 * Everything under "shared" is read and changed only with `lock` held; the
 * sockets are touched only by the reactor.
 */
#ifndef COORD_SERVER_H
#define COORD_SERVER_H

#include "coord_runs.h"
#include "mao_cfg.h"
#include "mao_etcd.h"

#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>

typedef struct coord_api_t coord_api_t;
typedef struct coord_registry_t coord_registry_t;
typedef struct coord_store_t coord_store_t;
typedef struct coord_notify_t coord_notify_t;
typedef struct coord_pg_t coord_pg_t;
typedef struct coord_tools_t coord_tools_t;
typedef struct coord_scheds_t coord_scheds_t;

/* A worker as the coordinator sees it. */
typedef struct {
    char id[129];          /* also its ZeroMQ routing id */
    char site[65];
    long capacity;
    json_t *labels;        /* owned */
    char version[32];
    int up;                /* heard from within the liveness */
    int64_t last_seen_ms;
    int64_t since_ms;      /* up (or down) since */
    int64_t refused_ms;    /* it last said "at capacity" */
    long in_flight;        /* runs assigned to it, dispatched or running */
    int batched_acks;      /* it takes acknowledgements in jobs and several per result_ack */
    json_t *acks;          /* run ids of its recorded results not yet acknowledged; owned */
    int64_t acks_since_ms; /* when the oldest of them was recorded */
    int64_t sent_ms;       /* when we last sent it anything (a heartbeat is due heartbeat_ms after) */
} coord_worker_t;

#define COORD_DURATION_BUCKETS 12

/* Counters for /metrics. */
typedef struct {
    uint64_t runs_total[COORD_RUN_STATUSES]; /* by status, counted when a run ends (queued: made) */
    uint64_t spikes_total;
    uint64_t duration_count;
    double duration_sum;
    uint64_t duration_buckets[COORD_DURATION_BUCKETS]; /* cumulative, le bucket bound */
    uint64_t messages_dropped;
    uint64_t requeued_total;
} coord_metrics_t;

typedef struct coord_server_t {
    mao_cfg_t *cfg;                /* the configuration, owned */
    mao_etcd_t *etcd;              /* etcd client; thread-safe */
    coord_registry_t *registry;    /* tools and datasets, with the list cache */
    coord_api_t *api;              /* the HTTP API server */
    coord_store_t *store;          /* the recorder thread */
    coord_notify_t *notify;        /* the notifier thread */
    coord_pg_t *pg;                /* PostgreSQL job store and history; NULL: etcd */
    coord_tools_t *tools;          /* the registry's tools, watched, for schedules */
    struct coord_auth_t *auth;     /* CURVE keys and the ZAP handler; NULL: plain sockets */
    struct coord_lead_t *lead;     /* who leads; only the leader binds, fires and dispatches */
    atomic_int leading;            /* this one leads: its state is loaded, its sockets bound */
    int stepped_down;              /* another leads now: the process starts over as a standby */
    zloop_t *loop;                 /* the reactor of the main thread */
    zsock_t *router;               /* workers connect here */
    zsock_t *pub;                  /* events go out here (XPUB: subscriptions come in) */
    int subscribed;                /* topics subscribed to; none: events are not made */
    int wake_fd;                   /* eventfd: wakes the reactor (API threads, recorder) */
    char importdir[4096];          /* where POST /retrieve clones datasets */
    int allow_local;               /* local dataset paths allowed at this site */
    char workers_endpoint[256];    /* as configured */
    char events_endpoint[256];
    long heartbeat_ms;             /* the longest a worker goes without a message from us */
    long liveness_ms;              /* a worker silent this long is down */
    long dispatch_timeout_ms;      /* a job not accepted this long goes back to the queue */
    long keep_finished;            /* finished runs kept in memory */
    atomic_int etcd_up;            /* 1 while the last etcd contact worked */
    int etcd_logged;               /* the etcd state the log last reported (-1: none) */
    atomic_int queue_loaded;       /* the leader read its runs and schedules back from the
                                    * store: the API may answer for them */
    int scheds_loaded;             /* the schedules were; nothing fires before */
    int64_t started_ms;            /* when this coordinator started */
    int sched_timer_id;            /* the one-shot timer for the next schedule; -1: none */
    int64_t sched_timer_due;       /* when it fires */
    int64_t last_queue_try_ms;     /* when reading it back was last tried */
    int64_t last_etcd_check_ms;    /* when the cron last pinged etcd */
    int64_t last_members_ms;       /* when the workers were last published in etcd */
    pthread_mutex_t retrieve_lock; /* one dataset clone at a time into importdir */

    /* shared: under `lock` */
    pthread_mutex_t lock;
    pthread_cond_t changed;        /* broadcast when a run changes */
    zhashx_t *runs;                /* run id -> coord_run_t *, live and recent; owns them */
    coord_link_t live;             /* those of them not finished, in the order they came */
    zlistx_t *queue;               /* coord_run_t * waiting for a worker (borrowed), FIFO;
                                    * a slot claimed ahead joins it when its gate opens */
    size_t unannounced;            /* runs added to the queue's end since the last run.queued */
    zlistx_t *finished;            /* ids of finished runs, oldest first, to bound memory */
    zhashx_t *workers;             /* worker id -> coord_worker_t *; owns them */
    zhashx_t *last_site;           /* tool -> site of its last finished run (strings) */
    zlistx_t *acks;                /* finished runs whose result waits for a durable record */
    coord_scheds_t *scheds;        /* the schedules */
    coord_metrics_t metrics;
} coord_server_t;

/* Builds the coordinator from a loaded config (ownership of `cfg` passes to
 * the server, also on failure) and starts its HTTP API and its campaign for
 * leadership; it binds its worker and event sockets and loads its state once
 * it leads.  Returns 0, or a negative code with a detail (bad config value,
 * address in use, ...). */
int coord_server_open(coord_server_t **out, mao_cfg_t *cfg);

/* Runs the reactor until SIGINT or SIGTERM (returns 0), or until another
 * coordinator leads after this one did (returns 1: start over as a standby). */
int coord_server_run(coord_server_t *self);

/* Stops the API and the threads and frees everything; accepts NULL, sets
 * *self_p to NULL. */
void coord_server_destroy(coord_server_t **self_p);

/* Wakes the reactor (any thread). */
void coord_server_wake(coord_server_t *self);

#endif
