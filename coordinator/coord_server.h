/*
 * coord_server: the coordinator daemon's one state struct and its life.
 *
 * The coordinator owns the registry in etcd and serves the HTTP API.  Its main
 * thread runs one zloop reactor with one periodic timer (coord_server_cron);
 * the HTTP API answers from libmicrohttpd's threads, one per connection, which
 * may block on etcd for at most the etcd client's timeout.
 */
#ifndef COORD_SERVER_H
#define COORD_SERVER_H

#include "mao_cfg.h"
#include "mao_etcd.h"

#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>

typedef struct coord_api_t coord_api_t;
typedef struct coord_registry_t coord_registry_t;

typedef struct coord_server_t {
    mao_cfg_t *cfg;          /* the configuration, owned */
    mao_etcd_t *etcd;        /* etcd client; thread-safe, shared with API threads */
    coord_registry_t *registry; /* tools and datasets in etcd, with the list cache */
    coord_api_t *api;        /* the HTTP API server */
    zloop_t *loop;           /* the reactor of the main thread */
    char importdir[4096];    /* where POST /retrieve clones datasets */
    int allow_local;         /* local dataset paths allowed at this site */
    atomic_int etcd_up;      /* 1 while the last etcd contact worked; for logs and healthz */
    int etcd_logged;         /* the etcd state the log last reported (-1: none yet) */
    pthread_mutex_t retrieve_lock; /* one dataset clone at a time into importdir */
} coord_server_t;

/* Builds the coordinator from a loaded config (ownership of `cfg` passes to
 * the server, also on failure) and starts its HTTP API.  Returns 0, or a
 * negative code with a detail (bad config value, address in use, ...). */
int coord_server_open(coord_server_t **out, mao_cfg_t *cfg);

/* Runs the reactor until SIGINT or SIGTERM.  Returns 0. */
int coord_server_run(coord_server_t *self);

/* Stops the API and frees everything; accepts NULL, sets *self_p to NULL. */
void coord_server_destroy(coord_server_t **self_p);

#endif
