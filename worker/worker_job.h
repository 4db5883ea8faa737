/*
 * worker_job: one run of a tool, start to finish, in its own thread, so that
 * Docker and git never stall the worker's reactor.
 *
 * The steps: make sure the image is present (pull it if not); make sure the
 * tool's dataset is cloned at <importdir>/<tool> (clone on the first run);
 * create the container with that folder bound at /usr/src/app/data and every
 * restriction set, start it, wait with the tool's timeout (kill when it
 * passes), keep the tail of its log, remove it; run the spike detector; write
 * the result into the spool folder (atomically), mark the job done and wake
 * the reactor.
 *
 * Ownership: the reactor creates a worker_job_t, hands it to a thread of its
 * worker_pool_t, and reads job->result only once `done` is set; it destroys
 * the job (which waits for it to be done).  `cancel` and `done` are the only
 * fields both sides touch while the job runs.  The pool's threads live as
 * long as the pool and take one job after another, so a run costs no thread
 * made and torn down; there are as many as jobs have run at once.
 */
#ifndef WORKER_JOB_H
#define WORKER_JOB_H

#include "mao_id.h"
#include "mao_tool.h"

#include <czmq.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

/* What a site lets a job do; shared, read-only while jobs run. */
typedef enum {
    WORKER_RUNTIME_DOCKER = 0, /* tools run in containers (the default) */
    WORKER_RUNTIME_EXEC = 1,   /* tools run as local commands (raw exec), enabled per site */
} worker_runtime_t;

typedef struct {
    worker_runtime_t runtime;
    char worker_id[129];
    char site[65];
    char importdir[4096];   /* absolute */
    char spool[4096];       /* absolute; results wait here for their ack */
    char docker[4096];      /* Docker Engine socket */
    char user[64];          /* "uid:gid" the tools run as */
    char network[64];       /* container network mode */
    int allow_local;        /* local dataset URLs allowed */
    long timeout_s;         /* default run timeout */
    long pull_timeout_s;
    long clone_timeout_s;
    long long memory_bytes; /* container limits; 0: none */
    long long nano_cpus;
    long long pids;
    long run_nice;          /* added to the niceness of the threads that carry runs
                             * (and so of the commands they start) */
    char allow_caps[512];   /* ",NET_RAW,CHOWN,": capabilities tools may ask for */
    pthread_mutex_t clone_lock; /* one clone at a time into importdir */
    pthread_mutex_t watch_lock;  /* guards the two below */
    struct mao_spike_watches_t *watches; /* data folders followed for the detector */
    int64_t watches_retry_ms;    /* the set could not be made: not tried again before */
    pthread_mutex_t docker_lock; /* guards the pool below */
    struct worker_docker_t *docker_pool[16]; /* opened Docker handles, idle */
    int docker_idle;            /* handles in the pool */
    pthread_mutex_t spool_lock; /* guards the spares below */
    int spares[64];             /* acknowledged spool files kept to be written into again
                                 * (<spool>/.spare-<n>), so results cost no new file */
    int nspares;
    int spare_next;             /* the next spare's <n> */
} worker_site_t;

/* Frees the site's idle Docker handles and watched folders. */
void worker_site_close(worker_site_t *site);

typedef struct worker_pool_t worker_pool_t;

typedef struct worker_job_t {
    char run[MAO_ID_LEN + 1 + 16]; /* run id (from the coordinator) */
    long attempt;
    long timeout_s;                /* the job's own limit (a schedule's maximum run time); 0: none */
    mao_tool_t tool;               /* owned */
    const worker_site_t *site;     /* borrowed */
    atomic_int cancel;             /* set by the reactor: stop the run */
    char cancel_reason[128];       /* written before `cancel` is set */
    json_t *result;                /* the result message, set by the thread */
    atomic_int done;               /* set by the thread once `result` is there */
    int done_fd;                   /* borrowed eventfd, written once `done` is set */
    worker_pool_t *pool;           /* borrowed; set while the job is started */
    struct worker_job_t *next;     /* the pool's queue */
} worker_job_t;

/* The threads that run jobs, `nice` (0 to 19) below the worker's own
 * priority: a worker whose runs keep the host's cores busy still answers the
 * coordinator at once.  Returns 0, or MAO_ENOMEM. */
int worker_pool_new(worker_pool_t **out, int nice);

/* Ends the pool's threads, once every job started is done; accepts NULL. */
void worker_pool_destroy(worker_pool_t **pool_p);

/* A job for run `run` of `tool` (whose record is taken over: the caller's
 * copy is cleared).  NULL only when out of memory. */
worker_job_t *worker_job_new(const char *run, long attempt, mao_tool_t *tool,
                             const worker_site_t *site);

/* Starts the job on a thread of `pool` (an idle one, or a new one); when it
 * ends, `done` is set and `done_fd` (an eventfd) written.  Returns 0, or
 * MAO_ENOMEM. */
int worker_job_start(worker_job_t *job, worker_pool_t *pool, int done_fd);

/* Asks a running job to stop (its container is killed); the result says why. */
void worker_job_cancel(worker_job_t *job, const char *reason);

/* Waits for the job to be done (at once when it was never started). */
void worker_job_wait(worker_job_t *job);

/* Waits for the job and frees it; accepts NULL. */
void worker_job_destroy(worker_job_t **job_p);

/* A run's result was acknowledged: its spool file goes (kept as a spare
 * while there is room).  Returns 1 when there was one, else 0. */
int worker_job_spool_done(worker_site_t *site, const char *run);

/* Removes the spares an earlier process of the worker left in the spool. */
void worker_job_spool_sweep(worker_site_t *site);

/* The spool file of a run: <spool>/<run>.json.  Returns 0 or MAO_EINVAL. */
int worker_job_spool_path(char *out, size_t size, const worker_site_t *site, const char *run);

/* Builds and spools a failed result for a run that never started (e.g. a tool
 * record the site refuses).  Returns the result (new reference) or NULL. */
json_t *worker_job_refused(const worker_site_t *site, const char *run, long attempt,
                           const char *tool, const char *reason);

#endif
