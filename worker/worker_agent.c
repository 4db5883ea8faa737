/*
 * worker_agent: hello, heartbeats, jobs, results, reconnects.
 */
#include "worker_agent.h"
#include "mao_curve.h"
#include "mao_error.h"
#include "mao_fs.h"
#include "mao_log.h"
#include "mao_msg.h"
#include "mao_name.h"
#include "worker_docker.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_RESEND_MS 5000 /* unacknowledged results are sent again this often */
#define S_RESEND_AGE_MS 1000 /* ... once they are this old (acknowledgements wait 250 ms) */

/* ---- sending ---------------------------------------------------------------------- */

static int s_send(worker_agent_t *self, json_t *msg)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = mao_msg_encode(msg, &buf, &len);
    if (rc < 0) {
        mao_log_error("worker", "encode.failed detail=\"%s\"", mao_error_last());
        return rc;
    }
    zframe_t *frame = zframe_new(buf, len);
    free(buf);
    if (!frame)
        return MAO_ENOMEM;
    /* Never block the reactor: a full queue drops the frame, and what
     * matters (results) is sent again until acknowledged. */
    if (zframe_send(&frame, self->dealer, ZFRAME_DONTWAIT) < 0) {
        zframe_destroy(&frame);
        return MAO_EUNAVAILABLE;
    }
    self->last_sent_ms = mao_now_ms(); /* any message says we are alive */
    return 0;
}

static json_t *s_running_ids(worker_agent_t *self)
{
    json_t *ids = json_array();
    for (worker_job_t *job = zlistx_first(self->jobs); job; job = zlistx_next(self->jobs))
        json_array_append_new(ids, json_string(job->run));
    return ids;
}

/* Run ids whose results wait in the spool. */
static json_t *s_spooled_ids(worker_agent_t *self)
{
    json_t *ids = json_array();
    DIR *dir = opendir(self->site.spool);
    if (!dir)
        return ids;
    struct dirent *ent;
    while ((ent = readdir(dir))) {
        size_t n = strlen(ent->d_name);
        if (n > 5 && n < 140 && strcmp(ent->d_name + n - 5, ".json") == 0) {
            char run[140];
            snprintf(run, sizeof run, "%.*s", (int)(n - 5), ent->d_name);
            json_array_append_new(ids, json_string(run));
        }
    }
    closedir(dir);
    return ids;
}

static void s_hello(worker_agent_t *self)
{
    json_t *msg = mao_msg_new("hello");
    json_object_set_new(msg, "worker", json_string(self->site.worker_id));
    json_object_set_new(msg, "site", json_string(self->site.site));
    json_object_set_new(msg, "capacity", json_integer(self->capacity));
    json_object_set(msg, "labels", self->labels);
    json_object_set_new(msg, "version", json_string(MAO_VERSION));
    json_object_set_new(msg, "batched_acks", json_true());
    json_object_set_new(msg, "running", s_running_ids(self));
    json_object_set_new(msg, "spooled", s_spooled_ids(self));
    s_send(self, msg);
    json_decref(msg);
    self->last_hello_ms = mao_now_ms();
}

/* The file was written within the last `ms` (or cannot be looked at). */
static int s_written_within(const char *path, int64_t ms)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return 1;
    return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000 > mao_now_ms() - ms;
}

/* Sends the spooled results again (the coordinator acknowledges each once it
 * is recorded; duplicates are recorded once): those written at least
 * `min_age_ms` ago, so that results just sent and on their way to being
 * acknowledged do not go twice. */
static void s_resend_spool(worker_agent_t *self, int64_t min_age_ms)
{
    json_t *ids = s_spooled_ids(self);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        char path[4200];
        char *text = NULL;
        if (worker_job_spool_path(path, sizeof path, &self->site, json_string_value(id)) < 0 ||
            (min_age_ms > 0 && s_written_within(path, min_age_ms)) ||
            mao_fs_read(path, MAO_MSG_MAX, &text, NULL) < 0)
            continue;
        json_t *result = mao_json_parse(text, strlen(text), "spooled result");
        free(text);
        const char *type = NULL;
        if (!result || mao_msg_check(result, &type) < 0 || strcmp(type, "result") != 0) {
            mao_log_warn("worker", "spool.damaged path=%s detail=\"%s\"", path, mao_error_last());
            json_decref(result);
            continue;
        }
        s_send(self, result);
        json_decref(result);
    }
    json_decref(ids);
    self->last_resend_ms = mao_now_ms();
}

/* ---- the connection ------------------------------------------------------------- */

static int s_on_dealer(zloop_t *loop, zsock_t *reader, void *arg);

/* Handshake events of the dealer: a coordinator that refuses our key, or
 * that is not the one we hold the key of, is said clearly (once a minute). */
static int s_on_monitor(zloop_t *loop, zsock_t *reader, void *arg)
{
    worker_agent_t *self = arg;
    zmsg_t *msg = zmsg_recv(reader);
    zframe_t *head = msg ? zmsg_first(msg) : NULL;
    if (!head || zframe_size(head) < 6) {
        zmsg_destroy(&msg);
        return 0;
    }
    uint16_t event;
    uint32_t value;
    memcpy(&event, zframe_data(head), 2);
    memcpy(&value, zframe_data(head) + 2, 4);
    zmsg_destroy(&msg);
    int64_t now = mao_now_ms();
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        self->auth_logged_ms = 0;
        return 0;
    }
    if (self->auth_logged_ms && now - self->auth_logged_ms < 60000)
        return 0;
    self->auth_logged_ms = now;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        mao_log_error("worker", "refused coordinator=%s key=%s detail=\"the coordinator does not "
                                "know this worker's key (status %u): add this worker's public "
                                "certificate to the coordinator's [COORDINATOR] curve_clients "
                                "folder\"",
                      self->coordinator, self->cert ? zcert_public_txt(self->cert) : "-",
                      (unsigned)value);
    else
        mao_log_error("worker", "handshake.failed coordinator=%s detail=\"%s\"",
                      self->coordinator,
                      self->cert ? "the secure handshake failed: is [WORKER] coordinator_key the "
                                   "coordinator's public key, and does the coordinator use CURVE?"
                                 : "the coordinator asks for CURVE keys: set [WORKER] curve_key "
                                   "and coordinator_key");
    return 0;
}

static void s_watch_handshakes(worker_agent_t *self)
{
    char endpoint[64];
    if (self->monitor) {
        zloop_reader_end(self->loop, self->monitor);
        zsock_destroy(&self->monitor);
    }
    snprintf(endpoint, sizeof endpoint, "inproc://mao-worker-monitor-%u", ++self->monitor_seq);
    if (zmq_socket_monitor(zsock_resolve(self->dealer), endpoint,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) < 0)
        return;
    self->monitor = zsock_new(ZMQ_PAIR);
    if (self->monitor && zsock_connect(self->monitor, "%s", endpoint) == 0)
        zloop_reader(self->loop, self->monitor, s_on_monitor, self);
}

static int s_connect(worker_agent_t *self)
{
    if (self->dealer)
        zloop_reader_end(self->loop, self->dealer);
    if (self->monitor) {
        zloop_reader_end(self->loop, self->monitor);
        zsock_destroy(&self->monitor);
    }
    if (self->dealer) {
        /* Dropped at once: a socket left lingering would connect once the
         * network is back, under our identity, beside the new one, and the
         * coordinator's ROUTER would hand our identity over to it just
         * before it closes.  What it held is sent again (hello, spooled
         * results). */
        zsock_set_linger(self->dealer, 0);
        zsock_destroy(&self->dealer);
    }
    self->dealer = zsock_new(ZMQ_DEALER);
    if (!self->dealer)
        return MAO_ENOMEM;
    if (self->cert) {
        zcert_apply(self->cert, self->dealer);
        zsock_set_curve_serverkey(self->dealer, self->coordinator_key);
    }
    s_watch_handshakes(self);
    zsock_set_identity(self->dealer, self->site.worker_id);
    zsock_set_maxmsgsize(self->dealer, MAO_MSG_MAX + 4096);
    zsock_set_linger(self->dealer, 1000);
    zsock_set_sndhwm(self->dealer, 1000);
    zsock_set_reconnect_ivl(self->dealer, 200);
    zsock_set_reconnect_ivl_max(self->dealer, 2000);
    if (zsock_connect(self->dealer, "%s", self->coordinator) < 0) {
        mao_error_set("cannot connect to the coordinator at %s: %s", self->coordinator,
                      zmq_strerror(zmq_errno()));
        return MAO_EINVAL;
    }
    zloop_reader(self->loop, self->dealer, s_on_dealer, self);
    self->welcomed = 0;
    self->last_heard_ms = mao_now_ms();
    s_hello(self);
    return 0;
}

/* With several coordinators configured, the one after the current (wrapping
 * round): a standby that took over answers there. */
static void s_next_coordinator(worker_agent_t *self)
{
    const char *list = self->coordinators;
    if (!strchr(list, ','))
        return;
    size_t n = strlen(self->coordinator);
    const char *next = list;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        int same = len == n && strncmp(p, self->coordinator, n) == 0;
        p += len;
        if (*p == ',')
            p++;
        if (same) {
            next = *p ? p : list;
            break;
        }
    }
    snprintf(self->coordinator, sizeof self->coordinator, "%.*s", (int)strcspn(next, ","), next);
}

/* ---- messages from the coordinator -------------------------------------------------- */

static worker_job_t *s_find_job(worker_agent_t *self, const char *run)
{
    for (worker_job_t *job = zlistx_first(self->jobs); job; job = zlistx_next(self->jobs))
        if (strcmp(job->run, run) == 0)
            return job;
    return NULL;
}

static void s_accepted(worker_agent_t *self, const char *run, int ok, const char *reason)
{
    json_t *msg = mao_msg_new("accepted");
    json_object_set_new(msg, "run", json_string(run));
    json_object_set_new(msg, "ok", json_boolean(ok));
    if (reason)
        json_object_set_new(msg, "reason", json_string(reason));
    s_send(self, msg);
    json_decref(msg);
}

static void s_on_ack(worker_agent_t *self, const char *run)
{
    if (worker_job_spool_done(&self->site, run))
        mao_log_debug("worker", "result.acknowledged run=%s", run);
}

/* Acknowledgements that came together: a job's `acks`, a result_ack's `runs`. */
static void s_on_acks(worker_agent_t *self, json_t *ids)
{
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) s_on_ack(self, json_string_value(id));
}

static void s_take_job(worker_agent_t *self, json_t *msg)
{
    const char *run = json_string_value(json_object_get(msg, "run"));
    long attempt = (long)json_integer_value(json_object_get(msg, "attempt"));
    char path[4200];

    if (s_find_job(self, run)) {
        s_accepted(self, run, 1, NULL); /* a repeat of a job we run: fine */
        return;
    }
    if (worker_job_spool_path(path, sizeof path, &self->site, run) == 0 &&
        access(path, F_OK) == 0) {
        s_accepted(self, run, 1, NULL); /* done already: its result goes again */
        s_resend_spool(self, 0);
        return;
    }
    if (self->stopping || (long)zlistx_size(self->jobs) >= self->capacity) {
        s_accepted(self, run, 0, self->stopping ? "worker is stopping" : "at capacity");
        return;
    }
    mao_tool_t tool = {0}; /* stays empty when the record is refused */
    json_t *record = json_object_get(msg, "tool");
    if (mao_tool_from_json(&tool, record, MAO_PARSE_STORED, self->site.allow_local) < 0 ||
        mao_url_check(tool.data_repo, self->site.allow_local) < 0) {
        char reason[1200];
        snprintf(reason, sizeof reason, "this site refuses the tool: %s", mao_error_last());
        mao_log_warn("worker", "job.refused run=%s reason=\"%s\"", run, reason);
        s_accepted(self, run, 1, NULL);
        json_t *result = worker_job_refused(
            &self->site, run, attempt,
            json_string_value(json_object_get(record, "name")) ?: "", reason);
        if (result)
            s_send(self, result);
        json_decref(result);
        mao_tool_clear(&tool);
        return;
    }
    worker_job_t *job = worker_job_new(run, attempt, &tool, &self->site);
    if (job)
        job->timeout_s = (long)json_integer_value(json_object_get(msg, "timeout_s"));
    if (!job || worker_job_start(job, self->pool, self->jobs_fd) < 0) {
        worker_job_destroy(&job);
        mao_tool_clear(&tool);
        s_accepted(self, run, 0, "out of memory");
        return;
    }
    zlistx_add_end(self->jobs, job);
    mao_log_info("worker", "job.accepted run=%s tool=%s attempt=%ld", run, job->tool.name,
                 attempt);
    s_accepted(self, run, 1, NULL);
}

/* A job, and the acknowledgements it carries: those after, so that the run
 * starts first. */
static void s_on_job(worker_agent_t *self, json_t *msg)
{
    s_take_job(self, msg);
    s_on_acks(self, json_object_get(msg, "acks"));
}

static int s_on_dealer(zloop_t *loop, zsock_t *reader, void *arg)
{
    worker_agent_t *self = arg;
    zmsg_t *in = zmsg_recv(reader);
    if (!in)
        return 0;
    json_t *msg = NULL;
    const char *type = NULL;
    zframe_t *frame = zmsg_first(in);
    if (zmsg_size(in) != 1) {
        mao_log_warn("worker", "message.dropped detail=\"%zu frames (a message is one frame)\"",
                     zmsg_size(in));
        zmsg_destroy(&in);
        return 0;
    }
    if (mao_msg_decode(&msg, zframe_data(frame), zframe_size(frame)) < 0 ||
        mao_msg_check(msg, &type) < 0) {
        mao_log_warn("worker", "message.dropped detail=\"%s\"", mao_error_last());
        json_decref(msg);
        zmsg_destroy(&in);
        return 0;
    }
    zmsg_destroy(&in);
    self->last_heard_ms = mao_now_ms();
    if (strcmp(type, "heartbeat") == 0) {
        if (json_is_true(json_object_get(msg, "rehello"))) {
            s_hello(self);
        } else if (!self->welcomed) {
            self->welcomed = 1;
            mao_log_info("worker", "connected coordinator=%s", self->coordinator);
            s_resend_spool(self, 0);
        }
    } else if (strcmp(type, "job") == 0) {
        s_on_job(self, msg);
    } else if (strcmp(type, "result_ack") == 0) {
        s_on_ack(self, json_string_value(json_object_get(msg, "run")));
        s_on_acks(self, json_object_get(msg, "runs"));
    } else if (strcmp(type, "cancel") == 0) {
        const char *run = json_string_value(json_object_get(msg, "run"));
        worker_job_t *job = s_find_job(self, run);
        if (job) {
            const char *why = json_string_value(json_object_get(msg, "reason"));
            mao_log_info("worker", "job.cancel run=%s reason=\"%s\"", run, why ? why : "");
            worker_job_cancel(job, why ? why : "asked by the coordinator");
        }
    } else {
        /* hello, accepted and result go to the coordinator, never come from it. */
        mao_log_warn("worker", "message.dropped detail=\"a coordinator does not send %s\"", type);
    }
    json_decref(msg);
    return 0;
}

/* Jobs are done: send their results, end their threads. */
static int s_on_jobs_done(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    worker_agent_t *self = arg;
    uint64_t count;
    if (read(self->jobs_fd, &count, sizeof count) < 0 && errno != EAGAIN)
        mao_log_warn("worker", "wake.read error=\"%s\"", strerror(errno));
    for (;;) {
        worker_job_t *job = zlistx_first(self->jobs);
        while (job && !atomic_load(&job->done))
            job = zlistx_next(self->jobs);
        if (!job)
            break;
        zlistx_delete(self->jobs, zlistx_cursor(self->jobs));
        worker_job_wait(job);
        if (job->result)
            s_send(self, job->result);
        worker_job_destroy(&job);
    }
    return 0;
}

/*
 * The worker's periodic timer, every quarter heartbeat (100 to 250 ms).
 * Duties:
 *  - say hello again while the coordinator has not answered one;
 *  - send a heartbeat (with the runs in flight) once nothing else went out
 *    for heartbeat_ms;
 *  - reconnect when the coordinator has been silent for liveness_ms;
 *  - send spooled, unacknowledged results again every S_RESEND_MS.
 */
static int s_cron(zloop_t *loop, int timer_id, void *arg)
{
    worker_agent_t *self = arg;
    int64_t now = mao_now_ms();
    if (now - self->last_heard_ms > self->liveness_ms) {
        mao_log_warn("worker", "coordinator.silent for_ms=%lld endpoint=%s",
                     (long long)(now - self->last_heard_ms), self->coordinator);
        s_next_coordinator(self);
        if (s_connect(self) < 0)
            mao_log_error("worker", "reconnect.failed detail=\"%s\"", mao_error_last());
        return 0;
    }
    if (!self->welcomed && now - self->last_hello_ms >= 1000)
        s_hello(self);
    if (now - self->last_sent_ms >= self->heartbeat_ms) {
        json_t *msg = mao_msg_new("heartbeat");
        json_object_set_new(msg, "running", s_running_ids(self));
        s_send(self, msg);
        json_decref(msg);
    }
    if (self->welcomed && now - self->last_resend_ms >= S_RESEND_MS)
        s_resend_spool(self, S_RESEND_AGE_MS);
    return 0;
}

/* ---- life --------------------------------------------------------------------------- */

static int s_size(long long *out, const char *text, const char *key)
{
    if (mao_size_parse(out, text) < 0) {
        mao_error_set("[WORKER] %s = '%s': expected a size such as 512m or 2g, or 0 for none",
                      key, text);
        return MAO_EINVAL;
    }
    return 0;
}

/* [WORKER] allow_capabilities = NET_RAW, CHOWN: kept as ",NET_RAW,CHOWN,". */
static int s_allow_caps(worker_site_t *site, const char *text)
{
    char buf[512], name[40];
    snprintf(buf, sizeof buf, "%s", text);
    size_t used = (size_t)snprintf(site->allow_caps, sizeof site->allow_caps, ",");
    char *save = NULL;
    for (char *item = strtok_r(buf, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
        if (mao_capability_name(name, sizeof name, item) < 0) {
            mao_error_prefix("[WORKER] allow_capabilities");
            return MAO_EINVAL;
        }
        if (used + strlen(name) + 2 > sizeof site->allow_caps) {
            mao_error_set("[WORKER] allow_capabilities is too long");
            return MAO_EINVAL;
        }
        used += (size_t)snprintf(site->allow_caps + used, sizeof site->allow_caps - used, "%s,",
                                 name);
    }
    return 0;
}

static int s_abs_dir(char *out, size_t size, const char *path, const char *what)
{
    if (!*path) {
        mao_error_set("%s is not set", what);
        return MAO_EINVAL;
    }
    int rc = mao_fs_mkdirs(path, 0755);
    if (rc < 0)
        return rc;
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        mao_error_set("%s '%s' cannot be resolved", what, path);
        return MAO_EFAIL;
    }
    snprintf(out, size, "%s", real);
    return 0;
}

static int s_settings(worker_agent_t *self)
{
    mao_cfg_t *cfg = self->cfg;
    worker_site_t *site = &self->site;
    int rc;
    long cpus_milli = 0;
    double cpus;
    char host[64] = "worker";

    snprintf(site->site, sizeof site->site, "%s", mao_cfg_get(cfg, "WORKER", "site"));
    if ((rc = mao_name_check("site", site->site)) < 0)
        return rc;
    const char *id = mao_cfg_get(cfg, "WORKER", "id");
    gethostname(host, sizeof host - 1);
    for (char *p = host; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", *p))
            *p = '-';
    if (*id)
        snprintf(site->worker_id, sizeof site->worker_id, "%s", id);
    else
        snprintf(site->worker_id, sizeof site->worker_id, "%s-%s", site->site, host);
    if ((rc = mao_name_check("worker", site->worker_id)) < 0)
        return rc;
    const char *coordinators = mao_cfg_get(cfg, "WORKER", "coordinator");
    if (strlen(coordinators) >= sizeof self->coordinators) {
        mao_error_set("[WORKER] coordinator is longer than %zu bytes",
                      sizeof self->coordinators - 1);
        return MAO_EINVAL;
    }
    int any_remote = 0;
    for (const char *p = coordinators;; p++) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof self->coordinator || !memchr(p, ':', len)) {
            mao_error_set("[WORKER] coordinator '%s': give an endpoint such as "
                          "tcp://host:5555, or several separated by commas",
                          coordinators);
            return MAO_EINVAL;
        }
        char one[sizeof self->coordinator];
        snprintf(one, sizeof one, "%.*s", (int)len, p);
        any_remote |= !mao_endpoint_is_local(one);
        p += len;
        if (!*p)
            break;
    }
    snprintf(self->coordinators, sizeof self->coordinators, "%s", coordinators);
    snprintf(self->coordinator, sizeof self->coordinator, "%.*s",
             (int)strcspn(coordinators, ","), coordinators);
    const char *curve_key = mao_cfg_get(cfg, "WORKER", "curve_key");
    const char *coordinator_key = mao_cfg_get(cfg, "WORKER", "coordinator_key");
    if (*curve_key || *coordinator_key) {
        if (!*curve_key || !*coordinator_key) {
            mao_error_set("[WORKER] curve_key and coordinator_key go together: this worker's "
                          "certificate, and the coordinator's public key or certificate");
            return MAO_EINVAL;
        }
        if ((rc = mao_curve_load(&self->cert, curve_key, 1)) < 0) {
            mao_error_prefix("[WORKER] curve_key");
            return MAO_EINVAL;
        }
        if ((rc = mao_curve_public_key(self->coordinator_key, coordinator_key)) < 0) {
            mao_error_prefix("[WORKER] coordinator_key");
            return MAO_EINVAL;
        }
    } else if (any_remote) {
        mao_log_warn("worker", "insecure coordinator=%s detail=\"without CURVE keys the "
                               "connection is neither encrypted nor authenticated\"",
                     self->coordinators);
    }
    snprintf(site->docker, sizeof site->docker, "%s", mao_cfg_get(cfg, "WORKER", "docker"));
    snprintf(site->network, sizeof site->network, "%s", mao_cfg_get(cfg, "WORKER", "network"));
    const char *runtime = mao_cfg_get(cfg, "WORKER", "runtime");
    if (strcmp(runtime, "docker") == 0) {
        site->runtime = WORKER_RUNTIME_DOCKER;
    } else if (strcmp(runtime, "exec") == 0) {
        site->runtime = WORKER_RUNTIME_EXEC;
    } else {
        mao_error_set("[WORKER] runtime = '%s': use docker (tools in containers) or exec (tools "
                      "as local commands)",
                      runtime);
        return MAO_EINVAL;
    }
    const char *user = mao_cfg_get(cfg, "WORKER", "user");
    if (*user)
        snprintf(site->user, sizeof site->user, "%s", user);
    else
        snprintf(site->user, sizeof site->user, "%u:%u", (unsigned)getuid(), (unsigned)getgid());
    if ((rc = mao_cfg_get_long(cfg, "WORKER", "capacity", 1, 1000, &self->capacity)) < 0 ||
        (rc = mao_cfg_get_long(cfg, "WORKER", "timeout", 1, 7 * 86400, &site->timeout_s)) < 0 ||
        (rc = mao_cfg_get_long(cfg, "WORKER", "pull_timeout", 1, 86400, &site->pull_timeout_s)) <
            0 ||
        (rc = mao_cfg_get_long(cfg, "WORKER", "clone_timeout", 1, 86400,
                               &site->clone_timeout_s)) < 0 ||
        (rc = mao_cfg_get_long(cfg, "WORKER", "heartbeat_ms", 50, 60000, &self->heartbeat_ms)) <
            0 ||
        (rc = mao_cfg_get_long(cfg, "WORKER", "liveness_ms", 200, 600000, &self->liveness_ms)) <
            0 ||
        (rc = mao_cfg_get_long(cfg, "WORKER", "pids", 0, 1000000, &cpus_milli)) < 0 ||
        (rc = mao_cfg_get_long(cfg, "WORKER", "run_nice", 0, 19, &site->run_nice)) < 0 ||
        (rc = mao_cfg_get_bool(cfg, "WORKING_ENVIRONMENT", "allow_local_repos",
                               &site->allow_local)) < 0)
        return rc;
    site->pids = cpus_milli;
    if ((rc = s_size(&site->memory_bytes, mao_cfg_get(cfg, "WORKER", "memory"), "memory")) < 0 ||
        (rc = s_allow_caps(site, mao_cfg_get(cfg, "WORKER", "allow_capabilities"))) < 0)
        return rc;
    char *end = NULL;
    const char *cpus_text = mao_cfg_get(cfg, "WORKER", "cpus");
    cpus = strtod(cpus_text, &end);
    if (end == cpus_text || *end || cpus < 0 || cpus > 1024) {
        mao_error_set("[WORKER] cpus = '%s': expected a number of CPUs such as 1 or 0.5", cpus_text);
        return MAO_EINVAL;
    }
    site->nano_cpus = (long long)(cpus * 1e9);
    if ((rc = s_abs_dir(site->importdir, sizeof site->importdir,
                        mao_cfg_get(cfg, "WORKING_ENVIRONMENT", "importdir"),
                        "[WORKING_ENVIRONMENT] importdir")) < 0 ||
        (rc = s_abs_dir(site->spool, sizeof site->spool, mao_cfg_get(cfg, "WORKER", "spool"),
                        "[WORKER] spool")) < 0)
        return rc;
    /* labels = key=value, key=value */
    self->labels = json_object();
    char *list = strdup(mao_cfg_get(cfg, "WORKER", "labels"));
    char *save = NULL;
    for (char *item = strtok_r(list, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item) {
            mao_error_set("[WORKER] labels: '%s' is not key=value", item);
            free(list);
            return MAO_EINVAL;
        }
        *eq = '\0';
        json_object_set_new(self->labels, item, json_string(eq + 1));
    }
    free(list);
    return 0;
}

/* Containers an earlier run of this worker left behind (it was killed
 * mid-run) hold nothing anyone waits for: remove them. */
static void s_sweep_orphans(worker_agent_t *self)
{
    worker_docker_t *docker = NULL;
    char label[200];
    char **ids = NULL;
    size_t count = 0;
    if (worker_docker_open(&docker, self->site.docker) < 0) {
        mao_log_warn("worker", "docker.unavailable detail=\"%s\"", mao_error_last());
        return;
    }
    snprintf(label, sizeof label, "org.mao.worker=%s", self->site.worker_id);
    if (worker_docker_list(docker, label, &ids, &count) == 0) {
        for (size_t i = 0; i < count; i++) {
            mao_log_info("worker", "orphan.removed container=%.12s", ids[i]);
            worker_docker_remove(docker, ids[i], 1);
        }
    }
    worker_docker_ids_free(&ids);
    worker_docker_destroy(&docker);
}

int worker_agent_open(worker_agent_t **out, mao_cfg_t *cfg)
{
    int rc;
    worker_agent_t *self = calloc(1, sizeof *self);
    if (!self) {
        mao_cfg_destroy(&cfg);
        return MAO_ENOMEM;
    }
    self->cfg = cfg;
    self->jobs_fd = -1;
    pthread_mutex_init(&self->site.clone_lock, NULL);
    pthread_mutex_init(&self->site.docker_lock, NULL);
    pthread_mutex_init(&self->site.watch_lock, NULL);
    pthread_mutex_init(&self->site.spool_lock, NULL);
    if ((rc = s_settings(self)) < 0)
        goto cleanup;
    worker_job_spool_sweep(&self->site);
    self->jobs = zlistx_new();
    self->loop = zloop_new();
    self->jobs_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    zmq_pollitem_t jobs_item = {.fd = self->jobs_fd, .events = ZMQ_POLLIN};
    if (!self->jobs || !self->loop || self->jobs_fd < 0 ||
        worker_pool_new(&self->pool, (int)self->site.run_nice) < 0 ||
        zloop_poller(self->loop, &jobs_item, s_on_jobs_done, self) < 0) {
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    if (self->site.runtime == WORKER_RUNTIME_DOCKER)
        s_sweep_orphans(self);
    else
        mao_log_warn("worker", "runtime=exec: tools run as local commands of this worker's user, "
                               "without a container");
    json_object_set_new(self->labels, "runtime",
                        json_string(self->site.runtime == WORKER_RUNTIME_EXEC ? "exec" : "docker"));
    if ((rc = s_connect(self)) < 0)
        goto cleanup;
    /* A quarter of the heartbeat, within 100 to 250 ms: an idle worker wakes
     * four times a second at the default beat, not ten. */
    long tick_ms = self->heartbeat_ms / 4;
    tick_ms = tick_ms < 100 ? 100 : tick_ms > 250 ? 250 : tick_ms;
    zloop_timer(self->loop, (size_t)tick_ms, 0, s_cron, self);
    mao_log_info("worker", "started version=%s id=%s site=%s capacity=%ld coordinator=%s "
                           "importdir=%s",
                 MAO_VERSION, self->site.worker_id, self->site.site, self->capacity,
                 self->coordinator, self->site.importdir);
    *out = self;
    return 0;
cleanup:
    worker_agent_destroy(&self);
    return rc;
}

int worker_agent_run(worker_agent_t *self)
{
    zloop_start(self->loop);
    self->stopping = 1;
    mao_log_info("worker", "stopping running=%zu", zlistx_size(self->jobs));
    /* Say goodbye first, so that the coordinator sends nothing more here and
     * gives what we stop to another worker at once. */
    json_t *bye = mao_msg_new("heartbeat");
    json_object_set_new(bye, "running", json_array());
    json_object_set_new(bye, "stopping", json_true());
    s_send(self, bye);
    json_decref(bye);
    /* Stop what runs; each job kills its container, spools its result. */
    for (worker_job_t *job = zlistx_first(self->jobs); job; job = zlistx_next(self->jobs))
        worker_job_cancel(job, "the worker is stopping");
    while (zlistx_size(self->jobs) > 0) {
        worker_job_t *job = zlistx_first(self->jobs);
        worker_job_wait(job);
        if (job->result)
            s_send(self, job->result);
        zlistx_delete(self->jobs, zlistx_cursor(self->jobs));
        worker_job_destroy(&job);
    }
    return 0;
}

void worker_agent_destroy(worker_agent_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    worker_agent_t *self = *self_p;
    if (self->jobs) {
        worker_job_t *job;
        while ((job = zlistx_first(self->jobs))) {
            zlistx_delete(self->jobs, zlistx_cursor(self->jobs));
            worker_job_destroy(&job);
        }
        zlistx_destroy(&self->jobs);
    }
    worker_pool_destroy(&self->pool);
    zsock_destroy(&self->monitor);
    zsock_destroy(&self->dealer);
    zcert_destroy(&self->cert);
    zloop_destroy(&self->loop);
    if (self->jobs_fd >= 0)
        close(self->jobs_fd);
    json_decref(self->labels);
    worker_site_close(&self->site);
    pthread_mutex_destroy(&self->site.clone_lock);
    pthread_mutex_destroy(&self->site.docker_lock);
    pthread_mutex_destroy(&self->site.watch_lock);
    pthread_mutex_destroy(&self->site.spool_lock);
    mao_cfg_destroy(&self->cfg);
    free(self);
    *self_p = NULL;
}
