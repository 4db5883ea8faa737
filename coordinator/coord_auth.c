/*
 * coord_auth: CURVE keys and the ZAP handler of the coordinator's sockets.
 */
#include "coord_auth.h"
#include "mao_curve.h"
#include "mao_error.h"
#include "mao_id.h"
#include "mao_log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define S_LOG_EVERY_MS 60000 /* a refused key is logged at most this often */

struct coord_auth_t {
    zcert_t *cert;               /* the coordinator's key pair */
    char clients[4096];          /* folder of allowed public certificates */
    struct timespec clients_mtime; /* of the folder when last read */
    zhashx_t *allowed;           /* Z85 public key -> certificate file name (owned) */
    zhashx_t *logged;            /* Z85 key -> last refusal logged, ms (int64_t *, owned) */
    zsock_t *zap;                /* the ZAP handler's REP socket */
    uint64_t refused;
};

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

/* Reads the allowed certificates again when the folder changed. */
static void s_load_clients(coord_auth_t *self)
{
    struct stat st;
    if (stat(self->clients, &st) < 0) {
        mao_log_warn("auth", "clients.unreadable dir=%s error=\"%s\"", self->clients,
                     strerror(errno));
        return;
    }
    if (zhashx_size(self->allowed) > 0 && st.st_mtim.tv_sec == self->clients_mtime.tv_sec &&
        st.st_mtim.tv_nsec == self->clients_mtime.tv_nsec)
        return;
    self->clients_mtime = st.st_mtim;
    zhashx_purge(self->allowed);
    DIR *dir = opendir(self->clients);
    if (!dir)
        return;
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || (len > 7 && strcmp(e->d_name + len - 7, "_secret") == 0))
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", self->clients, e->d_name);
        zcert_t *cert = NULL;
        if (mao_curve_load(&cert, path, 0) < 0) {
            mao_log_warn("auth", "client.skipped path=%s detail=\"%s\"", path, mao_error_last());
            mao_error_clear();
            continue;
        }
        zhashx_update(self->allowed, zcert_public_txt(cert), strdup(e->d_name));
        zcert_destroy(&cert);
    }
    closedir(dir);
    mao_log_info("auth", "clients.loaded dir=%s keys=%zu", self->clients,
                 zhashx_size(self->allowed));
}

int coord_auth_open(coord_auth_t **out, const mao_cfg_t *cfg, const char *workers,
                    const char *events)
{
    int insecure = 0, rc;
    const char *key = mao_cfg_get(cfg, "COORDINATOR", "curve_key");
    const char *clients = mao_cfg_get(cfg, "COORDINATOR", "curve_clients");
    *out = NULL;
    if ((rc = mao_cfg_get_bool(cfg, "COORDINATOR", "insecure", &insecure)) < 0)
        return rc;
    if (!*key) {
        const char *open = !mao_endpoint_is_local(workers) ? workers
                           : !mao_endpoint_is_local(events) ? events
                                                            : NULL;
        if (open && !insecure) {
            mao_error_set("%s is reachable beyond this machine without keys: set [COORDINATOR] "
                          "curve_key and curve_clients (make keys with 'maoctl keygen NAME'), or "
                          "say insecure = true",
                          open);
            return MAO_EINVAL;
        }
        if (open)
            mao_log_warn("auth", "insecure endpoint=%s detail=\"anyone who reaches it can join "
                                 "as a worker or listen to events\"",
                         open);
        return 0;
    }
    if (!*clients) {
        mao_error_set("[COORDINATOR] curve_key is set but curve_clients is not: name the folder "
                      "of the workers' public certificates");
        return MAO_EINVAL;
    }
    struct stat st;
    if (stat(clients, &st) < 0 || !S_ISDIR(st.st_mode)) {
        mao_error_set("[COORDINATOR] curve_clients = %s is not a folder", clients);
        return MAO_EINVAL;
    }
    coord_auth_t *self = calloc(1, sizeof *self);
    if (!self)
        return MAO_ENOMEM;
    if ((rc = mao_curve_load(&self->cert, key, 1)) < 0) {
        mao_error_prefix("[COORDINATOR] curve_key");
        free(self);
        return MAO_EINVAL;
    }
    snprintf(self->clients, sizeof self->clients, "%s", clients);
    self->allowed = zhashx_new();
    self->logged = zhashx_new();
    if (!self->allowed || !self->logged) {
        coord_auth_destroy(&self);
        return MAO_ENOMEM;
    }
    zhashx_set_destructor(self->allowed, s_free);
    zhashx_set_destructor(self->logged, s_free);
    s_load_clients(self);
    *out = self;
    return 0;
}

void coord_auth_apply(coord_auth_t *self, zsock_t *sock)
{
    if (!self)
        return;
    zcert_apply(self->cert, sock);
    zsock_set_curve_server(sock, 1);
    zsock_set_zap_domain(sock, "mao");
}

/* One ZAP request (RFC 27): version, request id, domain, address, identity,
 * mechanism, credentials. */
static int s_on_zap(zloop_t *loop, zsock_t *reader, void *arg)
{
    coord_auth_t *self = arg;
    zmsg_t *req = zmsg_recv(reader);
    if (!req)
        return 0;
    char *version = zmsg_popstr(req);
    char *request_id = zmsg_popstr(req);
    char *domain = zmsg_popstr(req);
    char *address = zmsg_popstr(req);
    char *identity = zmsg_popstr(req);
    char *mechanism = zmsg_popstr(req);
    zframe_t *cred = zmsg_pop(req);
    char key[MAO_CURVE_KEY_LEN + 1] = "";
    const char *status = "400", *text = "not a CURVE client";
    const char *user = "";
    if (mechanism && strcmp(mechanism, "CURVE") == 0 && cred && zframe_size(cred) == 32) {
        zmq_z85_encode(key, zframe_data(cred), 32);
        s_load_clients(self);
        const char *name = zhashx_lookup(self->allowed, key);
        if (name) {
            status = "200";
            text = "OK";
            user = name;
        } else {
            text = "this key is not among the allowed certificates";
        }
    }
    if (strcmp(status, "200") == 0) {
        mao_log_debug("auth", "client.allowed key=%s certificate=%s address=%s", key, user,
                      address ? address : "");
    } else {
        self->refused++;
        int64_t now = mao_now_ms();
        int64_t *last = zhashx_lookup(self->logged, key);
        if (!last || now - *last >= S_LOG_EVERY_MS) {
            mao_log_warn("auth", "client.refused key=%s address=%s mechanism=%s reason=\"%s\"",
                         key[0] ? key : "-", address ? address : "", mechanism ? mechanism : "",
                         text);
            if (!last && (last = malloc(sizeof *last)))
                zhashx_insert(self->logged, key, last);
            if (last)
                *last = now;
        }
    }
    zmsg_t *reply = zmsg_new();
    zmsg_addstr(reply, "1.0");
    zmsg_addstr(reply, request_id ? request_id : "");
    zmsg_addstr(reply, status);
    zmsg_addstr(reply, text);
    zmsg_addstr(reply, user);
    zmsg_addmem(reply, "", 0);
    zmsg_send(&reply, reader);
    zstr_free(&version);
    zstr_free(&request_id);
    zstr_free(&domain);
    zstr_free(&address);
    zstr_free(&identity);
    zstr_free(&mechanism);
    zframe_destroy(&cred);
    zmsg_destroy(&req);
    return 0;
}

int coord_auth_start(coord_auth_t *self, zloop_t *loop)
{
    if (!self)
        return 0;
    self->zap = zsock_new(ZMQ_REP);
    if (!self->zap)
        return MAO_ENOMEM;
    if (zsock_bind(self->zap, "inproc://zeromq.zap.01") < 0) {
        mao_error_set("cannot start the ZAP handler: %s", zmq_strerror(zmq_errno()));
        return MAO_EFAIL;
    }
    zloop_reader(loop, self->zap, s_on_zap, self);
    mao_log_info("auth", "curve public_key=%s clients=%s", zcert_public_txt(self->cert),
                 self->clients);
    return 0;
}

const char *coord_auth_public_key(const coord_auth_t *self)
{
    return self ? zcert_public_txt(self->cert) : NULL;
}

uint64_t coord_auth_refused(const coord_auth_t *self)
{
    return self ? self->refused : 0;
}

void coord_auth_destroy(coord_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_auth_t *self = *self_p;
    zsock_destroy(&self->zap);
    zcert_destroy(&self->cert);
    zhashx_destroy(&self->allowed);
    zhashx_destroy(&self->logged);
    free(self);
    *self_p = NULL;
}
