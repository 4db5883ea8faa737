/*
 * worker_agent: the worker daemon's state and reactor.
 *
 * One zloop reactor owns the DEALER socket to the coordinator and hears
 * from the jobs' threads through an eventfd; one periodic timer (s_cron)
 * keeps the connection alive.
 * Jobs run in their own threads (worker_job); their results wait in the spool
 * folder until the coordinator acknowledges them, so a result survives a
 * crash of either side and is delivered again after a reconnect.
 */
#ifndef WORKER_AGENT_H
#define WORKER_AGENT_H

#include "mao_cfg.h"
#include "worker_job.h"

#include <czmq.h>

typedef struct {
    mao_cfg_t *cfg;          /* the configuration, owned */
    worker_site_t site;      /* what jobs may do; read-only while they run */
    char coordinators[1024]; /* [WORKER] coordinator: one ROUTER endpoint, or several
                              * (coordinators sharing one etcd), comma-separated */
    char coordinator[512];   /* the one connected to now */
    long capacity;           /* runs at once */
    json_t *labels;          /* announced in hello */
    long heartbeat_ms;       /* the longest we go without saying anything */
    long liveness_ms;        /* silence from the coordinator before we reconnect */
    zloop_t *loop;           /* the reactor */
    zsock_t *dealer;         /* to the coordinator; recreated on reconnect */
    zcert_t *cert;           /* this worker's CURVE key pair; NULL: plain */
    char coordinator_key[41]; /* the coordinator's public key (Z85) when CURVE is on */
    zsock_t *monitor;        /* the dealer's handshake events */
    unsigned monitor_seq;    /* names the monitor's endpoint */
    int64_t auth_logged_ms;  /* when a refused handshake was last logged */
    int welcomed;            /* the coordinator answered our hello */
    int64_t last_heard_ms;   /* when the coordinator last said anything */
    int64_t last_hello_ms;   /* when we last sent hello */
    int64_t last_sent_ms;    /* when we last sent anything (a heartbeat is due heartbeat_ms after) */
    int64_t last_resend_ms;  /* when spooled results were last sent again */
    zlistx_t *jobs;          /* running worker_job_t *, owned */
    worker_pool_t *pool;     /* the threads that run them */
    int jobs_fd;             /* eventfd: a job is done */
    int stopping;            /* SIGTERM seen: accept no more jobs */
} worker_agent_t;

/* Builds the worker from a loaded config (ownership of `cfg` passes, also on
 * failure): checks the settings, makes the folders, removes containers left
 * by an earlier run of this worker, and connects.  Returns 0, or a negative
 * code with a detail. */
int worker_agent_open(worker_agent_t **out, mao_cfg_t *cfg);

/* Runs until SIGINT or SIGTERM, then stops the running jobs (their results
 * are spooled).  Returns 0. */
int worker_agent_run(worker_agent_t *self);

/* Frees everything; accepts NULL and sets *self_p to NULL. */
void worker_agent_destroy(worker_agent_t **self_p);

#endif
