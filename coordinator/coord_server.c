/*
 * coord_server: start-up, the reactor, shutdown.
 */
#include "coord_server.h"
#include "coord_api.h"
#include "coord_dispatch.h"
#include "coord_auth.h"
#include "coord_lead.h"
#include "coord_notify.h"
#include "coord_pg.h"
#include "coord_registry.h"
#include "coord_sched.h"
#include "coord_store.h"
#include "coord_tools.h"
#include "mao_error.h"
#include "mao_log.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

void coord_server_wake(coord_server_t *self)
{
    uint64_t one = 1;
    if (write(self->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        mao_log_warn("coordinator", "wake.failed error=\"%s\"", strerror(errno));
}

static void s_free_run(void **item)
{
    coord_run_destroy((coord_run_t **)item);
}

static void s_free_worker(void **item)
{
    coord_worker_t *w = *item;
    if (w) {
        json_decref(w->labels);
        json_decref(w->acks);
        free(w);
    }
    *item = NULL;
}

static int s_settings(coord_server_t *self, mao_cfg_t *cfg)
{
    int rc;
    const char *importdir = mao_cfg_get(cfg, "WORKING_ENVIRONMENT", "importdir");
    if (!*importdir || strlen(importdir) >= sizeof self->importdir) {
        mao_error_set("[WORKING_ENVIRONMENT] importdir must be a folder path");
        return MAO_EINVAL;
    }
    snprintf(self->importdir, sizeof self->importdir, "%s", importdir);
    snprintf(self->workers_endpoint, sizeof self->workers_endpoint, "%s",
             mao_cfg_get(cfg, "COORDINATOR", "workers"));
    snprintf(self->events_endpoint, sizeof self->events_endpoint, "%s",
             mao_cfg_get(cfg, "COORDINATOR", "events"));
    if ((rc = mao_cfg_get_bool(cfg, "WORKING_ENVIRONMENT", "allow_local_repos",
                               &self->allow_local)) < 0 ||
        (rc = mao_cfg_get_long(cfg, "COORDINATOR", "heartbeat_ms", 50, 60000,
                               &self->heartbeat_ms)) < 0 ||
        (rc = mao_cfg_get_long(cfg, "COORDINATOR", "liveness_ms", 200, 600000,
                               &self->liveness_ms)) < 0 ||
        (rc = mao_cfg_get_long(cfg, "COORDINATOR", "dispatch_timeout_ms", 100, 600000,
                               &self->dispatch_timeout_ms)) < 0 ||
        (rc = mao_cfg_get_long(cfg, "COORDINATOR", "keep_finished", 10, 1000000,
                               &self->keep_finished)) < 0)
        return rc;
    return 0;
}

static int s_open_etcd(coord_server_t *self, mao_cfg_t *cfg)
{
    char endpoints[2048];
    long timeout_ms, grpc_min_ops;
    int rc;
    if ((rc = mao_cfg_get_long(cfg, "ETCD", "timeout_ms", 100, 600000, &timeout_ms)) < 0 ||
        (rc = mao_cfg_get_long(cfg, "ETCD", "grpc_min_ops", 0, 65, &grpc_min_ops)) < 0 ||
        (rc = mao_etcd_endpoints_from(endpoints, sizeof endpoints,
                                      mao_cfg_get(cfg, "ETCD", "endpoints"),
                                      mao_cfg_get(cfg, "ETCD", "host"),
                                      mao_cfg_get(cfg, "ETCD", "port"))) < 0)
        return rc;
    mao_etcd_opts_t eopts = {.endpoints = endpoints,
                             .prefix = mao_cfg_get(cfg, "ETCD", "prefix"),
                             .timeout_ms = timeout_ms,
                             .cacert = mao_cfg_get(cfg, "ETCD", "cacert"),
                             .cert = mao_cfg_get(cfg, "ETCD", "cert"),
                             .key = mao_cfg_get(cfg, "ETCD", "key"),
                             .user = mao_cfg_get(cfg, "ETCD", "user"),
                             .password = mao_cfg_get(cfg, "ETCD", "password"),
                             .grpc_min_ops = grpc_min_ops};
    return mao_etcd_open(&self->etcd, &eopts);
}

/* What other coordinators and clients see of us while we lead, and the
 * campaign for it. */
static int s_campaign(coord_server_t *self, mao_cfg_t *cfg)
{
    long ttl;
    int rc;
    char host[256] = "localhost", id[320], api_url[512];
    if ((rc = mao_cfg_get_long(cfg, "COORDINATOR", "lease_ttl", 2, 60, &ttl)) < 0)
        return rc;
    gethostname(host, sizeof host - 1);
    snprintf(id, sizeof id, "%s-%ld", host, (long)getpid());
    const char *advertise = mao_cfg_get(cfg, "COORDINATOR", "advertise");
    if (*advertise) {
        snprintf(api_url, sizeof api_url, "%s", advertise);
    } else {
        /* The API's address as bound, with this host's name for a wildcard. */
        const char *api = mao_cfg_get(cfg, "COORDINATOR", "api");
        const char *colon = strrchr(api, ':');
        int wildcard = strncmp(api, "0.0.0.0:", 8) == 0 || strncmp(api, "[::]:", 5) == 0 ||
                       strncmp(api, "*:", 2) == 0;
        snprintf(api_url, sizeof api_url, "%s://%s%s",
                 mao_cfg_get(cfg, "COORDINATOR", "tls_cert")[0] ? "https" : "http",
                 wildcard ? host : "", wildcard && colon ? colon : api);
    }
    json_t *me = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "host", host,
                           "bind", mao_cfg_get(cfg, "COORDINATOR", "api"), "api", api_url,
                           "workers", self->workers_endpoint, "events", self->events_endpoint,
                           "version", MAO_VERSION);
    if (!me)
        return MAO_ENOMEM;
    coord_lead_t *lead = NULL;
    rc = coord_lead_new(&lead, self->etcd, me, ttl, self->wake_fd);
    json_decref(me);
    if (rc < 0)
        return rc;
    coord_store_set_lead(self->store, lead);
    /* The API's threads already run: they read it under the lock. */
    pthread_mutex_lock(&self->lock);
    self->lead = lead;
    pthread_mutex_unlock(&self->lock);
    return 0;
}

int coord_server_open(coord_server_t **out, mao_cfg_t *cfg)
{
    int rc;
    long history;
    coord_server_t *self = calloc(1, sizeof *self);
    if (!self) {
        mao_cfg_destroy(&cfg);
        return MAO_ENOMEM;
    }
    self->cfg = cfg;
    self->etcd_logged = -1;
    self->wake_fd = -1;
    self->sched_timer_id = -1;
    self->started_ms = mao_now_ms();
    atomic_init(&self->etcd_up, 1);
    pthread_mutex_init(&self->retrieve_lock, NULL);
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->changed, NULL);

    if ((rc = s_settings(self, cfg)) < 0 || (rc = s_open_etcd(self, cfg)) < 0 ||
        (rc = mao_cfg_get_long(cfg, "COORDINATOR", "history", 1, 1000000, &history)) < 0)
        goto cleanup;
    self->runs = zhashx_new();
    coord_live_init(&self->live);
    self->queue = zlistx_new();
    self->finished = zlistx_new();
    self->workers = zhashx_new();
    self->last_site = zhashx_new();
    self->acks = zlistx_new();
    self->registry = coord_registry_new(self->etcd);
    self->loop = zloop_new();
    self->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!self->runs || !self->queue || !self->finished || !self->workers || !self->last_site ||
        !self->acks || !self->registry || !self->loop || self->wake_fd < 0 ||
        coord_scheds_new(&self->scheds) < 0) {
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    zhashx_set_destructor(self->runs, s_free_run);
    zhashx_set_destructor(self->workers, s_free_worker);
    zhashx_set_destructor(self->last_site, (zhashx_destructor_fn *)zstr_free);
    zhashx_set_duplicator(self->last_site, (zhashx_duplicator_fn *)strdup);
    zlistx_set_destructor(self->finished, (zlistx_destructor_fn *)zstr_free);

    coord_notify_opts_t nopts = {.webhook = mao_cfg_get(cfg, "NOTIFY", "webhook"),
                                 .smtp_url = mao_cfg_get(cfg, "NOTIFY", "smtp_url"),
                                 .mail_from = mao_cfg_get(cfg, "NOTIFY", "mail_from"),
                                 .mail_to = mao_cfg_get(cfg, "NOTIFY", "mail_to")};
    if (coord_pg_configured(cfg)) {
        if ((rc = coord_pg_open(&self->pg, cfg)) < 0) {
            mao_error_prefix("[POSTGRES] is configured but");
            goto cleanup;
        }
        mao_log_info("coordinator", "store=postgresql db=%s", mao_cfg_get(cfg, "POSTGRES", "db"));
    }
    if ((rc = coord_store_new(&self->store, self->etcd, self->pg, self->wake_fd, history)) < 0 ||
        (rc = coord_notify_new(&self->notify, &nopts)) < 0 ||
        (rc = coord_tools_new(&self->tools, self->etcd)) < 0)
        goto cleanup;
    if ((rc = coord_auth_open(&self->auth, cfg, self->workers_endpoint, self->events_endpoint)) <
            0 ||
        (rc = coord_auth_start(self->auth, self->loop)) < 0)
        goto cleanup;
    zloop_timer(self->loop, 100, 0, coord_dispatch_cron, self);
    coord_dispatch_watch_wake(self);
    const char *api = mao_cfg_get(cfg, "COORDINATOR", "api");
    if ((rc = coord_api_start(&self->api, self, api)) < 0 || (rc = s_campaign(self, cfg)) < 0)
        goto cleanup;
    mao_log_info("coordinator", "started version=%s api=%s workers=%s events=%s etcd=%s prefix=%s "
                                "role=standby",
                 MAO_VERSION, api, self->workers_endpoint, self->events_endpoint,
                 mao_etcd_endpoint(self->etcd), mao_etcd_prefix(self->etcd));
    *out = self;
    return 0;
cleanup:
    coord_server_destroy(&self);
    return rc;
}

int coord_server_run(coord_server_t *self)
{
    zloop_start(self->loop); /* returns on SIGINT / SIGTERM, or when we lost the lead */
    if (self->stepped_down) {
        mao_log_warn("coordinator", "stepping.down detail=\"another coordinator leads; starting "
                                    "over as a standby\"");
        return 1;
    }
    mao_log_info("coordinator", "stopping");
    return 0;
}

void coord_server_destroy(coord_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_server_t *self = *self_p;
    /* API threads first (they wait on runs), then the writers, then the state. */
    if (self->api) {
        pthread_mutex_lock(&self->lock);
        pthread_cond_broadcast(&self->changed);
        pthread_mutex_unlock(&self->lock);
    }
    coord_api_stop(&self->api);
    if (self->scheds && self->store) {
        /* Schedules' outcomes still written behind go with the last writes. */
        pthread_mutex_lock(&self->lock);
        coord_sched_flush(self, INT64_MAX);
        pthread_mutex_unlock(&self->lock);
    }
    coord_tools_destroy(&self->tools);
    coord_store_destroy(&self->store, 3000);
    coord_lead_destroy(&self->lead); /* after the last writes: they need our lead */
    coord_notify_destroy(&self->notify);
    coord_pg_destroy(&self->pg);
    zsock_destroy(&self->router);
    zsock_destroy(&self->pub);
    coord_auth_destroy(&self->auth);
    zloop_destroy(&self->loop);
    zlistx_destroy(&self->queue);
    zlistx_destroy(&self->finished);
    zlistx_destroy(&self->acks);
    coord_scheds_destroy(&self->scheds);
    zhashx_destroy(&self->runs);
    zhashx_destroy(&self->workers);
    zhashx_destroy(&self->last_site);
    coord_registry_destroy(&self->registry);
    mao_etcd_destroy(&self->etcd);
    mao_cfg_destroy(&self->cfg);
    if (self->wake_fd >= 0)
        close(self->wake_fd);
    pthread_mutex_destroy(&self->retrieve_lock);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->changed);
    free(self);
    *self_p = NULL;
}
