/*
 * coord_server: start-up, the reactor, the periodic timer, shutdown.
 */
#include "coord_server.h"
#include "coord_api.h"
#include "coord_registry.h"
#include "mao_error.h"
#include "mao_log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The coordinator's periodic timer, once a second.  Duties:
 *  - notice etcd going away and coming back, and say so once in the log.
 */
static int s_cron(zloop_t *loop, int timer_id, void *arg)
{
    coord_server_t *self = arg;
    int up = mao_etcd_ping(self->etcd) == 0;
    atomic_store(&self->etcd_up, up);
    if (up != self->etcd_logged) {
        if (up)
            mao_log_info("etcd", "reachable endpoint=%s", mao_etcd_endpoint(self->etcd));
        else
            mao_log_warn("etcd", "unreachable detail=\"%s\"", mao_error_last());
        self->etcd_logged = up;
    }
    return 0;
}

int coord_server_open(coord_server_t **out, mao_cfg_t *cfg)
{
    int rc;
    char endpoints[2048];
    long timeout_ms;
    coord_server_t *self = calloc(1, sizeof *self);
    if (!self) {
        mao_cfg_destroy(&cfg);
        return MAO_ENOMEM;
    }
    self->cfg = cfg;
    self->etcd_logged = -1;
    pthread_mutex_init(&self->retrieve_lock, NULL);

    const char *importdir = mao_cfg_get(cfg, "WORKING_ENVIRONMENT", "importdir");
    if (!*importdir || strlen(importdir) >= sizeof self->importdir) {
        mao_error_set("[WORKING_ENVIRONMENT] importdir must be a folder path");
        rc = MAO_EINVAL;
        goto cleanup;
    }
    snprintf(self->importdir, sizeof self->importdir, "%s", importdir);
    if ((rc = mao_cfg_get_bool(cfg, "WORKING_ENVIRONMENT", "allow_local_repos",
                               &self->allow_local)) < 0 ||
        (rc = mao_cfg_get_long(cfg, "ETCD", "timeout_ms", 100, 600000, &timeout_ms)) < 0)
        goto cleanup;
    if ((rc = mao_etcd_endpoints_from(endpoints, sizeof endpoints,
                                      mao_cfg_get(cfg, "ETCD", "endpoints"),
                                      mao_cfg_get(cfg, "ETCD", "host"),
                                      mao_cfg_get(cfg, "ETCD", "port"))) < 0)
        goto cleanup;
    mao_etcd_opts_t eopts = {.endpoints = endpoints,
                             .prefix = mao_cfg_get(cfg, "ETCD", "prefix"),
                             .timeout_ms = timeout_ms};
    if ((rc = mao_etcd_open(&self->etcd, &eopts)) < 0)
        goto cleanup;
    if (!(self->registry = coord_registry_new(self->etcd))) {
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    if (!(self->loop = zloop_new())) {
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    zloop_timer(self->loop, 1000, 0, s_cron, self);
    const char *api = mao_cfg_get(cfg, "COORDINATOR", "api");
    if ((rc = coord_api_start(&self->api, self, api)) < 0)
        goto cleanup;
    mao_log_info("coordinator", "started version=%s api=%s etcd=%s prefix=%s", MAO_VERSION, api,
                 endpoints, mao_etcd_prefix(self->etcd));
    *out = self;
    return 0;
cleanup:
    coord_server_destroy(&self);
    return rc;
}

int coord_server_run(coord_server_t *self)
{
    s_cron(self->loop, 0, self);
    zloop_start(self->loop); /* returns on SIGINT / SIGTERM (zsys's handler sets the flag) */
    mao_log_info("coordinator", "stopping");
    return 0;
}

void coord_server_destroy(coord_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_server_t *self = *self_p;
    coord_api_stop(&self->api);
    zloop_destroy(&self->loop);
    coord_registry_destroy(&self->registry);
    mao_etcd_destroy(&self->etcd);
    mao_cfg_destroy(&self->cfg);
    pthread_mutex_destroy(&self->retrieve_lock);
    free(self);
    *self_p = NULL;
}
