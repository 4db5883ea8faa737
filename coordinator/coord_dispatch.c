/*
 * coord_dispatch: the reactor's side of runs and workers.
 *
 * Lock discipline: every handler takes the server's lock for its whole body
 * and sends on the sockets while holding it (sends never block: they are
 * non-blocking, and a dropped frame is sent again by the protocol's retries).
 */
#include "coord_dispatch.h"
#include "coord_auth.h"
#include "coord_lead.h"
#include "coord_notify.h"
#include "coord_pg.h"
#include "coord_sched.h"
#include "coord_store.h"
#include "coord_tools.h"
#include "mao_error.h"
#include "mao_log.h"
#include "mao_msg.h"
#include "mao_name.h"
#include "mao_tool.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The most sites one slot of a schedule for every site runs at. */
#define S_FAN_OUT_MAX 32

/* How often the leader publishes the workers that are up in etcd. */
#define S_MEMBERS_MS 15000
/* A run's start, and a claimed slot's release, are written behind once they
 * are this old: a run that ends sooner (most) is written once more, finished.
 * Nothing reads the start back after a restart (a worker's hello says what
 * it runs), and a claim found still gated is decided again as it was, so
 * only readers of the store see a short run as queued until its end. */
#define S_RUNNING_WRITE_MS 1000
/* A worker's acknowledgements wait this long for a job to carry them, and go
 * in one message at this many. */
#define S_ACK_HOLD_MS 250
#define S_ACKS_MAX 64

static const double s_buckets[COORD_DURATION_BUCKETS] = {0.5, 1,   2.5, 5,   10,   30,
                                                         60,  120, 300, 600, 1800, 3600};

/* ---- sending ---------------------------------------------------------------------- */

static void s_send(coord_server_t *self, const char *worker, json_t *msg)
{
    char *buf = NULL;
    size_t len = 0;
    if (mao_msg_encode(msg, &buf, &len) < 0) {
        mao_log_error("dispatch", "encode.failed detail=\"%s\"", mao_error_last());
        return;
    }
    zmsg_t *out = zmsg_new();
    zmsg_addstr(out, worker);
    zmsg_addmem(out, buf, len);
    free(buf);
    coord_worker_t *w = zhashx_lookup(self->workers, worker);
    if (w)
        w->sent_ms = mao_now_ms(); /* any message says we are alive */
    if (zmsg_send(&out, self->router) < 0) {
        /* ROUTER_MANDATORY: the worker is not connected.  Liveness deals with it. */
        mao_log_debug("dispatch", "send.failed worker=%s error=\"%s\"", worker,
                      zmq_strerror(zmq_errno()));
        zmsg_destroy(&out);
    }
}

static void s_send_simple(coord_server_t *self, const char *worker, const char *type,
                          const char *run, const char *reason)
{
    json_t *msg = mao_msg_new(type);
    if (run)
        json_object_set_new(msg, "run", json_string(run));
    if (reason)
        json_object_set_new(msg, "reason", json_string(reason));
    s_send(self, worker, msg);
    json_decref(msg);
}

/* Acknowledgements for a worker that takes them together (batched_acks):
 * held until a job goes to it, which carries them, or until S_ACK_HOLD_MS
 * have passed, when one result_ack carries them all.  A busy worker gets
 * no message of its own per run. */
static void s_flush_acks(coord_server_t *self, coord_worker_t *w)
{
    size_t n = w->acks ? json_array_size(w->acks) : 0;
    if (n == 0)
        return;
    json_t *msg = mao_msg_new("result_ack");
    json_object_set(msg, "run", json_array_get(w->acks, 0));
    if (n > 1) {
        json_array_remove(w->acks, 0);
        json_object_set(msg, "runs", w->acks);
    }
    s_send(self, w->id, msg);
    json_decref(msg);
    json_array_clear(w->acks);
}

static void s_ack(coord_server_t *self, const char *worker, const char *run, int64_t now)
{
    coord_worker_t *w = zhashx_lookup(self->workers, worker);
    if (!w || !w->batched_acks || (!w->acks && !(w->acks = json_array()))) {
        s_send_simple(self, worker, "result_ack", run, NULL);
        return;
    }
    if (json_array_size(w->acks) == 0)
        w->acks_since_ms = now;
    json_array_append_new(w->acks, json_string(run));
    if (json_array_size(w->acks) >= S_ACKS_MAX)
        s_flush_acks(self, w);
}

/* Subscriptions and their ends, as the XPUB socket passes them on: the
 * first subscription to a topic and the last one's end (ended connections
 * included), so `subscribed` counts the topics someone listens to. */
static void s_read_subscriptions(coord_server_t *self)
{
    while (zsock_events(self->pub) & ZMQ_POLLIN) {
        zframe_t *frame = zframe_recv(self->pub);
        if (!frame)
            return;
        if (zframe_size(frame) >= 1 && zframe_data(frame)[0] == 1)
            self->subscribed++;
        else if (zframe_size(frame) >= 1 && zframe_data(frame)[0] == 0 && self->subscribed > 0)
            self->subscribed--;
        zframe_destroy(&frame);
    }
}

static int s_on_subscription(zloop_t *loop, zsock_t *reader, void *arg)
{
    s_read_subscriptions(arg);
    return 0;
}

/* Publishes an event: a topic frame, then a msgpack map.  With nobody
 * subscribed (subscriptions that arrived are read first) the event is
 * dropped here, as the socket would drop it, without being encoded. */
static void s_publish(coord_server_t *self, const char *topic, json_t *event)
{
    char *buf = NULL;
    size_t len = 0;
    char when[40];
    if (self->pub && !self->subscribed)
        s_read_subscriptions(self);
    if (!self->pub || !self->subscribed) {
        json_decref(event);
        return;
    }
    mao_time_iso(when, sizeof when, mao_now_ms());
    json_object_set_new(event, "v", json_integer(MAO_MSG_VERSION));
    json_object_set_new(event, "type", json_string(topic));
    json_object_set_new(event, "time", json_string(when));
    if (mao_msg_encode(event, &buf, &len) == 0) {
        zmsg_t *out = zmsg_new();
        zmsg_addstr(out, topic);
        zmsg_addmem(out, buf, len);
        zmsg_send(&out, self->pub);
        zmsg_destroy(&out);
        free(buf);
    }
    json_decref(event);
}

static json_t *s_run_event(const coord_run_t *run)
{
    json_t *e = json_pack("{s:s, s:s, s:s, s:i}", "run", run->id, "tool", run->tool, "status",
                          coord_run_status_name(run->status), "attempt", (json_int_t)run->attempt);
    if (run->site[0])
        json_object_set_new(e, "site", json_string(run->site));
    if (run->worker[0])
        json_object_set_new(e, "worker", json_string(run->worker));
    return e;
}

/* ---- run bookkeeping (lock held) ------------------------------------------------------ */

/* A new run joins the end of the queue, to be announced (run.queued); a slot
 * claimed ahead waits outside it until its gate opens. */
static void s_enqueue_new(coord_server_t *self, coord_run_t *run)
{
    if (run->gate)
        return;
    zlistx_add_end(self->queue, run);
    if (!run->announced)
        self->unannounced++;
}

/* A run's record as a store item. */
static coord_store_item_t s_run_item(const coord_run_t *run, json_t *record)
{
    return (coord_store_item_t){.kind = COORD_STORE_RUN, .id = run->id, .tool = run->tool,
                                .finished = coord_run_terminal(run), .record = record};
}

/* Writes a run's record behind.  Returns the store unit. */
static uint64_t s_record(coord_server_t *self, coord_run_t *run)
{
    run->unwritten = 0;
    json_t *record = coord_run_to_json(run, coord_run_terminal(run), !coord_run_terminal(run));
    coord_store_item_t item = s_run_item(run, record);
    uint64_t seq = coord_store_write(self->store, &item, 1);
    json_decref(record);
    if (coord_run_terminal(run))
        run->final_seq = seq;
    return seq;
}

/* A change only readers of the store see: written by the cron if the run
 * has not ended within S_RUNNING_WRITE_MS (its final record replaces it). */
static void s_write_behind(coord_run_t *run, int64_t now)
{
    if (!run->unwritten) {
        run->unwritten = 1;
        run->unwritten_ms = now;
    }
}

/* A run changed: tell waiters, write it behind.  Returns the store unit. */
static uint64_t s_changed(coord_server_t *self, coord_run_t *run)
{
    run->version++;
    pthread_cond_broadcast(&self->changed);
    return s_record(self, run);
}

static coord_worker_t *s_worker(coord_server_t *self, const char *id)
{
    return zhashx_lookup(self->workers, id);
}

/* Takes a run off its worker (it goes back to the queue or ends). */
static void s_unassign(coord_server_t *self, coord_run_t *run)
{
    if (run->worker[0]) {
        coord_worker_t *w = s_worker(self, run->worker);
        if (w && w->in_flight > 0)
            w->in_flight--;
    }
    run->worker[0] = '\0';
    run->site[0] = '\0';
    run->dispatched_ms = 0;
    run->started_ms = 0;
}

/* Back in the queue, in front: it has waited longest. */
static void s_requeue(coord_server_t *self, coord_run_t *run, const char *status,
                      const char *reason)
{
    if (run->worker[0]) {
        json_t *a = json_pack("{s:i, s:s, s:s, s:s, s:s}", "attempt", (json_int_t)run->attempt,
                              "worker", run->worker, "site", run->site, "status", status,
                              "reason", reason);
        json_array_append_new(run->attempts, a);
    }
    /* It was given to a worker, which may have started it: a new attempt. */
    int assigned = run->worker[0] != '\0';
    s_unassign(self, run);
    if (assigned)
        run->attempt++;
    run->status = COORD_RUN_QUEUED;
    zlistx_add_start(self->queue, run);
    self->metrics.requeued_total++;
    mao_log_info("dispatch", "run.requeued run=%s tool=%s attempt=%ld reason=\"%s\"", run->id,
                 run->tool, run->attempt, reason);
    s_changed(self, run);
}

/* Makes `run` one of ours: the table owns it, and while it is not finished
 * it is also in the list the cron walks (s_finish takes it out; no run
 * becomes terminal anywhere else once kept). */
static void s_keep(coord_server_t *self, coord_run_t *run)
{
    if (zhashx_insert(self->runs, run->id, run) == 0 && !coord_run_terminal(run))
        coord_live_add(&self->live, run);
}

static void s_remember_finished(coord_server_t *self, coord_run_t *run)
{
    zlistx_add_end(self->finished, strdup(run->id));
    /* Forget the oldest finished runs that are safely in etcd. */
    while ((long)zlistx_size(self->finished) > self->keep_finished) {
        char *old = zlistx_first(self->finished);
        coord_run_t *r = zhashx_lookup(self->runs, old);
        if (r && !r->recorded)
            break;
        if (r)
            zhashx_delete(self->runs, old);
        zlistx_delete(self->finished, zlistx_cursor(self->finished)); /* frees `old` */
    }
}

/* A run ended (any reason): bookkeeping shared by results and coordinator verdicts. */
static void s_finish(coord_server_t *self, coord_run_t *run, coord_run_status_t status)
{
    if (run->status == COORD_RUN_QUEUED) {
        void *handle = zlistx_find(self->queue, run);
        if (handle)
            zlistx_delete(self->queue, handle);
    }
    coord_worker_t *w = run->worker[0] ? s_worker(self, run->worker) : NULL;
    if (w && w->in_flight > 0)
        w->in_flight--;
    run->status = status;
    run->finished_ms = mao_now_ms();
    coord_live_remove(run);
    self->metrics.runs_total[status]++;
    if (run->started_ms > 0) {
        double d = (double)(run->finished_ms - run->started_ms) / 1000.0;
        self->metrics.duration_count++;
        self->metrics.duration_sum += d;
        for (int i = 0; i < COORD_DURATION_BUCKETS; i++)
            if (d <= s_buckets[i])
                self->metrics.duration_buckets[i]++;
    }
    if (run->site[0])
        zhashx_update(self->last_site, run->tool, run->site);
    s_changed(self, run);
    s_remember_finished(self, run);
    coord_sched_run_ended(self, run);
}

/* ---- placement ------------------------------------------------------------------- */

/* The worker for a run: at the wanted site if one is named; else preferably
 * at the site that ran the tool last (its clone holds the tool's history);
 * among candidates, the least loaded.  NULL when none has room. */
static coord_worker_t *s_place(coord_server_t *self, coord_run_t *run, int64_t now)
{
    const char *prefer = run->want_site[0] ? NULL : zhashx_lookup(self->last_site, run->tool);
    coord_worker_t *best = NULL;
    double best_load = 0;
    int best_preferred = 0;
    for (coord_worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers)) {
        if (!w->up || w->in_flight >= w->capacity || now - w->refused_ms < 1000)
            continue;
        if (run->want_site[0] && strcmp(w->site, run->want_site) != 0)
            continue;
        int preferred = prefer && strcmp(w->site, prefer) == 0;
        double load = (double)w->in_flight / (double)w->capacity;
        if (!best || preferred > best_preferred ||
            (preferred == best_preferred && load < best_load)) {
            best = w;
            best_load = load;
            best_preferred = preferred;
        }
    }
    return best;
}

static int s_by_name(const void *a, const void *b);

/* Sites with a worker up, sorted, at most `max`; returns how many. */
static size_t s_sites_up(coord_server_t *self, const char **sites, size_t max)
{
    size_t n = 0;
    for (coord_worker_t *w = zhashx_first(self->workers); w && n < max;
         w = zhashx_next(self->workers)) {
        int seen = !w->up;
        for (size_t i = 0; i < n && !seen; i++)
            seen = strcmp(sites[i], w->site) == 0;
        if (!seen)
            sites[n++] = w->site;
    }
    qsort(sites, n, sizeof *sites, s_by_name);
    return n;
}

/* A slot of a schedule for every site, about to be placed: it becomes the
 * run of the first site with a worker up, and each other such site gets a
 * run of the slot beside it, in one group.  They land in the store in one
 * unit, and go out once it is durable, so a crash before it leaves the slot
 * to fan out again.  With no site up it waits as it is. */
static void s_fan_out(coord_server_t *self, coord_run_t *run)
{
    const char *sites[S_FAN_OUT_MAX];
    size_t n = s_sites_up(self, sites, S_FAN_OUT_MAX);
    if (n == 0)
        return;
    coord_store_item_t items[S_FAN_OUT_MAX];
    json_t *records[S_FAN_OUT_MAX];
    coord_run_t *runs[S_FAN_OUT_MAX];
    char group[MAO_ID_LEN + 1];
    mao_id_new(group);
    run->fan_out = 0;
    snprintf(run->group, sizeof run->group, "%s", group);
    snprintf(run->want_site, sizeof run->want_site, "%s", sites[0]);
    size_t m = 0;
    runs[m++] = run;
    for (size_t i = 1; i < n; i++) {
        coord_run_t *r = coord_run_new(run->tool_record, sites[i], "schedule");
        if (!r)
            break;
        snprintf(r->schedule, sizeof r->schedule, "%s", run->schedule);
        snprintf(r->group, sizeof r->group, "%s", group);
        r->slot = run->slot;
        r->planned_ms = run->planned_ms;
        r->timeout_s = run->timeout_s;
        r->sibling = 1;
        s_keep(self, r);
        s_enqueue_new(self, r);
        self->metrics.runs_total[COORD_RUN_QUEUED]++;
        runs[m++] = r;
    }
    for (size_t i = 0; i < m; i++) {
        records[i] = coord_run_to_json(runs[i], 0, 1);
        items[i] = s_run_item(runs[i], records[i]);
    }
    uint64_t seq = coord_store_write(self->store, items, m);
    for (size_t i = 0; i < m; i++) {
        json_decref(records[i]);
        runs[i]->created_seq = seq;
        runs[i]->version++;
    }
    mao_log_info("dispatch", "slot.fanned_out schedule=%s tool=%s slot=%lld group=%s sites=%zu",
                 run->schedule, run->tool, (long long)run->slot, group, m);
}

static void s_dispatch(coord_server_t *self)
{
    int64_t now = mao_now_ms();
    long room = 0;
    for (coord_worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers))
        if (w->up && w->in_flight < w->capacity)
            room += w->capacity - w->in_flight;
    /* A leader that may have lost its lease (etcd away past its TTL) sends
     * nothing out: another coordinator may lead by now. */
    if (!self->lead || !coord_lead_may_act(self->lead))
        return;
    /* Deleting a node other than the cursor keeps zlistx's cursor valid, so
     * the walk takes the next run before it takes a placed one out. */
    uint64_t durable = coord_store_durable(self->store);
    coord_run_t *run = room > 0 ? zlistx_first(self->queue) : NULL;
    while (run && room > 0) {
        void *handle = zlistx_cursor(self->queue);
        coord_run_t *next = zlistx_next(self->queue);
        /* A scheduled run goes out only once its slot is durably its own.
         * New runs join the end of the queue in the order of their store
         * units (runs put back go to the front, long durable), so none
         * behind this one is durable yet either, or at worst waits as long:
         * the walk stops.  With a store backlog, walking past them all after
         * every batch of messages cost more than the runs it placed. */
        if (run->schedule[0] && run->created_seq > durable)
            break;
        /* A retry waits for its backoff; queue-one waits for the one before. */
        if (run->held || run->gate || run->not_before_ms > now) {
            run = next;
            continue;
        }
        if (run->fan_out) {
            s_fan_out(self, run); /* it goes out once that is durable */
            run = next;
            continue;
        }
        coord_worker_t *w = s_place(self, run, now);
        if (w) {
            zlistx_delete(self->queue, handle);
            snprintf(run->worker, sizeof run->worker, "%s", w->id);
            snprintf(run->site, sizeof run->site, "%s", w->site);
            run->dispatched_ms = now;
            w->in_flight++;
            room--;
            json_t *job = mao_msg_new("job");
            json_object_set_new(job, "run", json_string(run->id));
            json_object_set_new(job, "attempt", json_integer(run->attempt));
            json_object_set(job, "tool", run->tool_record);
            if (run->timeout_s)
                json_object_set_new(job, "timeout_s", json_integer(run->timeout_s));
            if (w->acks && json_array_size(w->acks) > 0) {
                json_object_set_new(job, "acks", w->acks);
                w->acks = NULL;
            }
            s_send(self, w->id, job);
            json_decref(job);
            if (run->planned_ms)
                mao_log_info("dispatch", "run.dispatched run=%s tool=%s worker=%s site=%s "
                                         "attempt=%ld schedule=%s late_ms=%lld",
                             run->id, run->tool, w->id, w->site, run->attempt, run->schedule,
                             (long long)(mao_now_ms() - run->planned_ms));
            else
                mao_log_info("dispatch", "run.dispatched run=%s tool=%s worker=%s site=%s "
                                         "attempt=%ld",
                             run->id, run->tool, w->id, w->site, run->attempt);
            run->version++;
            pthread_cond_broadcast(&self->changed);
        }
        run = next;
    }
}

/* ---- messages from workers ---------------------------------------------------------- */

/* One worker as GET /v1/workers shows it. */
static json_t *s_worker_json(coord_server_t *self, coord_worker_t *w)
{
    char seen[40], since[40];
    mao_time_iso(seen, sizeof seen, w->last_seen_ms);
    mao_time_iso(since, sizeof since, w->since_ms);
    json_t *runs = json_array();
    for (coord_run_t *run = coord_live_first(&self->live); run;
         run = coord_live_next(&self->live, run)) {
        if (strcmp(run->worker, w->id) == 0)
            json_array_append_new(runs, json_string(run->id));
    }
    return json_pack("{s:s, s:s, s:s, s:i, s:i, s:o, s:O, s:s, s:s, s:s}", "id", w->id, "site",
                     w->site, "state", w->up ? "up" : "down", "capacity", (json_int_t)w->capacity,
                     "in_flight", (json_int_t)w->in_flight, "runs", runs, "labels",
                     w->labels ? w->labels : json_object(), "version", w->version, "last_seen",
                     seen, "since", since);
}

/* Publishes a worker in etcd (workers/<id>), for every site and standby to
 * see: when it comes up or goes down, and every S_MEMBERS_MS. */
static void s_record_worker(coord_server_t *self, coord_worker_t *w)
{
    json_t *record = s_worker_json(self, w);
    coord_store_item_t item = {.kind = COORD_STORE_WORKER, .id = w->id, .record = record};
    if (record)
        coord_store_write(self->store, &item, 1);
    json_decref(record);
}

/* A worker is down: it stopped, or fell silent.  Its runs are given to
 * others by the cron. */
static void s_worker_down(coord_server_t *self, coord_worker_t *w, const char *why)
{
    if (!w->up)
        return;
    w->up = 0;
    w->since_ms = mao_now_ms();
    mao_log_warn("dispatch", "worker.down worker=%s site=%s reason=\"%s\"", w->id, w->site, why);
    s_publish(self, "worker.down", json_pack("{s:s, s:s}", "worker", w->id, "site", w->site));
    s_record_worker(self, w);
}

static void s_on_hello(coord_server_t *self, const char *from, json_t *msg)
{
    int64_t now = mao_now_ms();
    coord_worker_t *w = s_worker(self, from);
    int was_up = w && w->up;
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w)
            return;
        snprintf(w->id, sizeof w->id, "%s", from);
        zhashx_insert(self->workers, from, w);
    }
    snprintf(w->site, sizeof w->site, "%s", json_string_value(json_object_get(msg, "site")));
    w->capacity = (long)json_integer_value(json_object_get(msg, "capacity"));
    if (w->capacity < 1)
        w->capacity = 1;
    json_decref(w->labels);
    json_t *labels = json_object_get(msg, "labels");
    w->labels = labels ? json_incref(labels) : json_object();
    snprintf(w->version, sizeof w->version, "%s",
             json_string_value(json_object_get(msg, "version")) ?: "");
    w->batched_acks = json_is_true(json_object_get(msg, "batched_acks"));
    w->last_seen_ms = now;
    if (!w->up) {
        w->up = 1;
        w->since_ms = now;
    }
    /* What the worker still runs or holds results for is real; any other run
     * it had accepted is lost.  A run sent but not yet accepted may simply not
     * have reached the worker when it said hello (hellos are repeated until
     * answered): its acceptance, or the dispatch timeout, settles it. */
    json_t *running = json_object_get(msg, "running");
    json_t *spooled = json_object_get(msg, "spooled");
    zlistx_t *lost = zlistx_new();
    w->in_flight = 0;
    for (coord_run_t *run = coord_live_first(&self->live); run;
         run = coord_live_next(&self->live, run)) {
        if (strcmp(run->worker, from) != 0)
            continue;
        int listed = 0;
        size_t i;
        json_t *id;
        json_array_foreach(running, i, id) listed |= strcmp(json_string_value(id), run->id) == 0;
        json_array_foreach(spooled, i, id) listed |= strcmp(json_string_value(id), run->id) == 0;
        w->in_flight++;
        if (!listed && run->status == COORD_RUN_RUNNING)
            zlistx_add_end(lost, run);
    }
    for (coord_run_t *run = zlistx_first(lost); run; run = zlistx_next(lost))
        s_requeue(self, run, "lost", "its worker restarted without it");
    zlistx_destroy(&lost);
    /* Runs it says it runs that we had not given it (we restarted, or gave
     * them to another worker after it went silent). */
    size_t i;
    json_t *id;
    json_array_foreach(running, i, id) {
        coord_run_t *run = zhashx_lookup(self->runs, json_string_value(id));
        if (!run || coord_run_terminal(run) || strcmp(run->worker, from) == 0)
            continue;
        if (!run->worker[0]) {
            /* Ours, waiting in the queue: it runs there, so it runs. */
            void *handle = zlistx_find(self->queue, run);
            if (handle)
                zlistx_delete(self->queue, handle);
            snprintf(run->worker, sizeof run->worker, "%s", from);
            snprintf(run->site, sizeof run->site, "%s", w->site);
            run->status = COORD_RUN_RUNNING;
            run->dispatched_ms = run->started_ms = now;
            w->in_flight++;
            s_changed(self, run);
        } else {
            s_send_simple(self, from, "cancel", run->id, "the run went to another worker");
        }
    }
    s_send_simple(self, from, "heartbeat", NULL, NULL); /* welcome */
    if (!was_up) {
        mao_log_info("dispatch", "worker.up worker=%s site=%s capacity=%ld", w->id, w->site,
                     w->capacity);
        s_publish(self, "worker.up",
                  json_pack("{s:s, s:s, s:i}", "worker", w->id, "site", w->site, "capacity",
                            (json_int_t)w->capacity));
        s_record_worker(self, w);
    }
    s_dispatch(self);
}

static void s_on_accepted(coord_server_t *self, const char *from, json_t *msg)
{
    const char *id = json_string_value(json_object_get(msg, "run"));
    coord_run_t *run = zhashx_lookup(self->runs, id);
    int ok = json_is_true(json_object_get(msg, "ok"));
    if (!run || coord_run_terminal(run) || strcmp(run->worker, from) != 0) {
        if (ok && (!run || !coord_run_terminal(run)))
            s_send_simple(self, from, "cancel", id, "the run went to another worker");
        return;
    }
    if (!ok) {
        coord_worker_t *w = s_worker(self, from);
        if (w)
            w->refused_ms = mao_now_ms();
        const char *why = json_string_value(json_object_get(msg, "reason")) ?: "refused";
        mao_log_info("dispatch", "job.refused run=%s worker=%s reason=\"%s\"", id, from, why);
        s_unassign(self, run);
        zlistx_add_start(self->queue, run);
        return;
    }
    if (run->status == COORD_RUN_RUNNING)
        return;
    run->status = COORD_RUN_RUNNING;
    run->started_ms = mao_now_ms();
    run->version++;
    pthread_cond_broadcast(&self->changed);
    s_write_behind(run, run->started_ms);
    coord_sched_run_moved(self, run);
    s_publish(self, "run.started", s_run_event(run));
}

static void s_notify_spike(coord_server_t *self, coord_run_t *run, json_t *report)
{
    char when[40], key[160], msg[512];
    int64_t now = mao_now_ms();
    mao_time_iso(when, sizeof when, now);
    double value = json_number_value(json_object_get(report, "control_metric"));
    double avg = json_number_value(json_object_get(report, "rolling_avg"));
    json_t *gain = json_object_get(report, "gain");
    snprintf(msg, sizeof msg, "spike in %s at site %s: control value %g against a rolling "
                              "average of %g (%s %+.2f%s)",
             run->tool, run->site, value, avg,
             strcmp(json_string_value(json_object_get(report, "method")) ?: "gain", "mad") == 0
                 ? "score"
                 : "gain",
             json_number_value(gain), strcmp(json_string_value(json_object_get(report, "method"))
                                                 ?: "gain",
                                             "mad") == 0
                                          ? ""
                                          : " %");
    json_t *n = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O?, s:O?, s:O?, s:O?, s:s}", "time",
                          when, "tool", run->tool, "run", run->id, "site", run->site, "worker",
                          run->worker, "datapath",
                          json_string_value(json_object_get(report, "datapath")) ?: "",
                          "control_value", json_object_get(report, "control_metric"),
                          "rolling_avg", json_object_get(report, "rolling_avg"), "gain", gain,
                          "method", json_object_get(report, "method"), "message", msg);
    if (!n)
        return;
    /* Sortable by time; the run id keeps two spikes of one tool apart. */
    snprintf(key, sizeof key, "notifications/%lld-%s-%s", (long long)now, run->tool, run->id);
    coord_store_item_t item = {.kind = COORD_STORE_NOTIFICATION, .id = key + 14, .record = n};
    coord_store_write(self->store, &item, 1);
    coord_notify_send(self->notify, n);
    s_publish(self, "spike", json_deep_copy(n));
    json_decref(n);
    self->metrics.spikes_total++;
    mao_log_info("dispatch", "spike tool=%s run=%s site=%s value=%g rolling_avg=%g", run->tool,
                 run->id, run->site, value, avg);
}

static void s_on_result(coord_server_t *self, const char *from, json_t *msg)
{
    const char *id = json_string_value(json_object_get(msg, "run"));
    const char *status = json_string_value(json_object_get(msg, "status"));
    coord_run_status_t st = strcmp(status, "succeeded") == 0   ? COORD_RUN_SUCCEEDED
                            : strcmp(status, "timed_out") == 0 ? COORD_RUN_TIMED_OUT
                                                               : COORD_RUN_FAILED;
    coord_run_t *run = zhashx_lookup(self->runs, id);
    if (!run) {
        /* Not in memory: finished and forgotten long ago, or made just before
         * a crash of ours and never saved.  Record it if etcd does not have it
         * yet; either way it is acknowledged once that is settled. */
        const char *tool = json_string_value(json_object_get(msg, "tool"));
        if (!tool || mao_name_check("tool", tool) < 0 || mao_id_time_ms(id) < 0) {
            s_send_simple(self, from, "result_ack", id, NULL);
            return;
        }
        json_t *record = json_pack("{s:s}", "name", tool);
        run = coord_run_new(record, NULL, "recovered");
        json_decref(record);
        if (!run)
            return;
        snprintf(run->id, sizeof run->id, "%s", id);
        run->created_ms = mao_id_time_ms(id);
        s_keep(self, run);
        mao_log_info("dispatch", "run.recovered run=%s tool=%s worker=%s", id, tool, from);
    }
    if (coord_run_terminal(run)) {
        /* A second result for one run (a lost attempt came back): keep it in the
         * history, count the run once. */
        if (json_integer_value(json_object_get(msg, "attempt")) != run->attempt ||
            strcmp(from, run->worker) != 0) {
            json_array_append_new(run->attempts,
                                  json_pack("{s:I, s:s, s:s, s:s}", "attempt",
                                            json_integer_value(json_object_get(msg, "attempt")),
                                            "worker", from, "status", status, "reason",
                                            "finished after another result was recorded"));
        }
        if (run->final_seq && run->final_seq <= coord_store_durable(self->store))
            s_send_simple(self, from, "result_ack", id, NULL);
        else
            snprintf(run->ack_to, sizeof run->ack_to, "%s", from);
        return;
    }
    if (json_is_true(json_object_get(msg, "cancelled"))) {
        /* An attempt stopped on purpose is no outcome: it joins the run's
         * history; a run whose current attempt it was (its worker is
         * stopping) goes to another worker. */
        const char *why = json_string_value(json_object_get(msg, "reason")) ?: "cancelled";
        if (strcmp(run->worker, from) == 0) {
            s_requeue(self, run, "cancelled", why);
        } else {
            json_array_append_new(run->attempts,
                                  json_pack("{s:I, s:s, s:s, s:s}", "attempt",
                                            json_integer_value(json_object_get(msg, "attempt")),
                                            "worker", from, "status", "cancelled", "reason", why));
            s_changed(self, run);
        }
        s_send_simple(self, from, "result_ack", id, NULL);
        return;
    }
    if (strcmp(run->worker, from) != 0) {
        /* The result of an attempt we had written off (its worker went silent
         * and came back): the run is done, so it counts, and whatever attempt
         * runs now is stopped. */
        if (run->worker[0] && run->status != COORD_RUN_QUEUED)
            s_send_simple(self, run->worker, "cancel", id, "another attempt finished first");
        s_unassign(self, run);
        coord_worker_t *w = s_worker(self, from);
        snprintf(run->worker, sizeof run->worker, "%s", from);
        snprintf(run->site, sizeof run->site, "%s",
                 json_string_value(json_object_get(msg, "site")) ?: (w ? w->site : ""));
        if (w)
            w->in_flight++; /* s_finish takes it off */
        run->attempt = (long)json_integer_value(json_object_get(msg, "attempt")) ?: run->attempt;
    }
    if (run->started_ms <= 0)
        run->started_ms = (int64_t)json_number_value(json_object_get(msg, "started_at"));
    json_decref(run->result);
    run->result = json_incref(msg);
    snprintf(run->ack_to, sizeof run->ack_to, "%s", from);
    s_finish(self, run, st);
    zlistx_add_end(self->acks, run);
    json_t *event = s_run_event(run);
    const char *verdict = coord_run_verdict(run);
    json_t *report = json_object_get(msg, "report");
    json_object_set_new(event, "verdict", verdict ? json_string(verdict) : json_null());
    json_object_set(event, "control_value",
                    report && json_object_get(report, "control_metric")
                        ? json_object_get(report, "control_metric")
                        : json_null());
    if (json_object_get(msg, "reason"))
        json_object_set(event, "reason", json_object_get(msg, "reason"));
    s_publish(self, "run.finished", event);
    mao_log_info("dispatch", "run.finished run=%s tool=%s worker=%s status=%s verdict=\"%s\"",
                 run->id, run->tool, from, status, verdict ? verdict : "-");
    if (st == COORD_RUN_SUCCEEDED && report && json_is_true(json_object_get(report, "spike")))
        s_notify_spike(self, run, report);
}

/* One message from a worker (lock held); 1 when it may free or need
 * capacity (placement should look again). */
static int s_on_message(coord_server_t *self, zmsg_t *in)
{
    char *from = zmsg_popstr(in);
    zframe_t *body = zmsg_pop(in);
    json_t *msg = NULL;
    const char *type = NULL;
    int look = 0;
    mao_error_clear();
    if (!from || !body)
        mao_error_set("no body frame");
    else if (zmsg_size(in) != 0)
        mao_error_set("%zu frames after the body (a message is one frame)", zmsg_size(in));
    if (!from || !body || zmsg_size(in) != 0 ||
        mao_msg_decode(&msg, zframe_data(body), zframe_size(body)) < 0 ||
        mao_msg_check(msg, &type) < 0) {
        self->metrics.messages_dropped++;
        mao_log_warn("dispatch", "message.dropped from=\"%.64s\" detail=\"%s\"",
                     from ? from : "?", mao_error_last());
        goto done;
    }
    if (strcmp(type, "hello") == 0 &&
        strcmp(json_string_value(json_object_get(msg, "worker")), from) != 0) {
        self->metrics.messages_dropped++;
        mao_log_warn("dispatch", "message.dropped from=\"%.64s\" detail=\"hello names another "
                                 "worker\"",
                     from);
        goto done;
    }
    if (strcmp(type, "hello") != 0 && strcmp(type, "heartbeat") != 0 &&
        strcmp(type, "accepted") != 0 && strcmp(type, "result") != 0) {
        /* job, result_ack and cancel go to workers, never come from them. */
        self->metrics.messages_dropped++;
        mao_log_warn("dispatch", "message.dropped from=\"%.64s\" detail=\"a worker does not "
                                 "send %s\"",
                     from, type);
        goto done;
    }
    coord_worker_t *w = s_worker(self, from);
    if (strcmp(type, "hello") == 0) {
        s_on_hello(self, from, msg);
        look = 1;
        goto done;
    }
    if (!w || !w->up) {
        /* We do not know this worker (we restarted, or it was marked down):
         * ask it to introduce itself, but keep what it says about results. */
        json_t *again = mao_msg_new("heartbeat");
        json_object_set_new(again, "rehello", json_true());
        s_send(self, from, again);
        json_decref(again);
        if (strcmp(type, "result") == 0) {
            s_on_result(self, from, msg);
            look = 1;
        }
        goto done;
    }
    w->last_seen_ms = mao_now_ms();
    look = 1;
    if (strcmp(type, "heartbeat") == 0 && json_is_true(json_object_get(msg, "stopping")))
        s_worker_down(self, w, "it is stopping");
    else if (strcmp(type, "heartbeat") == 0)
        look = 0; /* changes nothing placement sees */
    else if (strcmp(type, "accepted") == 0)
        s_on_accepted(self, from, msg);
    else
        s_on_result(self, from, msg);
done:
    json_decref(msg);
    zstr_free(&from);
    zframe_destroy(&body);
    return look;
}

/* Messages from workers: those that arrived together are taken in one go,
 * and placement looks once after them. */
#define S_MESSAGES_AT_ONCE 64

/* A turn of the reactor (a handler of its loop) takes the lock, and holds
 * the store's writes until its end, so that they wake a writer once
 * (coord_store_hold). */
static void s_turn_begin(coord_server_t *self)
{
    coord_store_hold(self->store);
    pthread_mutex_lock(&self->lock);
}

static void s_turn_end(coord_server_t *self)
{
    pthread_mutex_unlock(&self->lock);
    coord_store_release(self->store);
}

static int s_on_router(zloop_t *loop, zsock_t *reader, void *arg)
{
    coord_server_t *self = arg;
    int look = 0;
    s_turn_begin(self);
    for (int i = 0; i < S_MESSAGES_AT_ONCE; i++) {
        if (i > 0 && !(zsock_events(reader) & ZMQ_POLLIN))
            break;
        zmsg_t *in = zmsg_recv(reader);
        if (!in)
            break;
        look |= s_on_message(self, in);
        zmsg_destroy(&in);
    }
    if (look)
        s_dispatch(self);
    s_turn_end(self);
    return 0;
}

/* Re-arms the one-shot timer for the next schedule due.  A timer of its own,
 * at the exact time, keeps fires punctual whatever the cron's period. */
static int s_on_sched_timer(zloop_t *loop, int timer_id, void *arg);

static void s_arm(coord_server_t *self)
{
    int64_t due = coord_scheds_next_due(self->scheds);
    if (due == self->sched_timer_due && self->sched_timer_id >= 0)
        return;
    if (self->sched_timer_id >= 0)
        zloop_timer_end(self->loop, self->sched_timer_id);
    self->sched_timer_id = -1;
    self->sched_timer_due = due;
    if (due == INT64_MAX)
        return;
    int64_t delay = due - mao_now_ms();
    if (!coord_tools_ready(self->tools) && delay < 100)
        delay = 100; /* nothing fires before the tools are known: look again soon */
    self->sched_timer_id =
        zloop_timer(self->loop, delay < 1 ? 1 : (size_t)delay, 1, s_on_sched_timer, self);
}

static int s_on_sched_timer(zloop_t *loop, int timer_id, void *arg)
{
    coord_server_t *self = arg;
    s_turn_begin(self);
    self->sched_timer_id = -1; /* a one-shot timer is gone once it fired */
    if (self->scheds_loaded)
        coord_sched_tick(self, mao_now_ms());
    s_dispatch(self);
    s_arm(self);
    s_turn_end(self);
    return 0;
}

/* The wake eventfd: new runs and schedules from API threads, writes made
 * durable by the store. */
static int s_lead_check(coord_server_t *self);

static int s_on_wake(zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    coord_server_t *self = arg;
    uint64_t count;
    if (read(self->wake_fd, &count, sizeof count) < 0 && errno != EAGAIN)
        mao_log_warn("dispatch", "wake.read error=\"%s\"", strerror(errno));
    if (s_lead_check(self) < 0)
        return -1;
    uint64_t durable = coord_store_durable(self->store);
    int64_t now = mao_now_ms();
    s_turn_begin(self);
    /* Results whose final record is durable are acknowledged.  The list is
     * in the order the results came, which is nearly the order of their
     * store units (a record merged into an earlier waiting unit of its run
     * has a smaller one): the walk stops at the first one not yet written,
     * and one behind it waits at most until that one is. */
    for (coord_run_t *run = zlistx_first(self->acks); run; run = zlistx_first(self->acks)) {
        if (run->final_seq > durable)
            break;
        if (!run->final_seq) {
            /* Its record could not be queued: no acknowledgement; the worker
             * sends the result again. */
            zlistx_delete(self->acks, zlistx_cursor(self->acks));
            continue;
        }
        run->recorded = 1;
        if (run->ack_to[0]) {
            s_ack(self, run->ack_to, run->id, now);
            run->ack_to[0] = '\0';
        }
        zlistx_delete(self->acks, zlistx_cursor(self->acks));
    }
    /* New runs are at the queue's end: announce them from there. */
    for (coord_run_t *run = self->unannounced ? zlistx_last(self->queue) : NULL;
         run && self->unannounced; run = zlistx_prev(self->queue)) {
        if (!run->announced) {
            run->announced = 1;
            self->unannounced--;
            s_publish(self, "run.queued", s_run_event(run));
        }
    }
    self->unannounced = 0;
    pthread_cond_broadcast(&self->changed);
    s_dispatch(self);
    s_arm(self);
    s_turn_end(self);
    return 0;
}

/* ---- the timer --------------------------------------------------------------------- */

typedef struct {
    zlistx_t *scheds; /* coord_sched_t *, read but not yet taken in */
    zlistx_t *runs;   /* coord_run_t * */
} s_loaded_t;

static int s_take_sched(json_t *record, void *arg)
{
    s_loaded_t *l = arg;
    coord_sched_t *sc = coord_sched_from_record(record);
    if (sc && !zlistx_add_end(l->scheds, sc)) {
        coord_sched_destroy(&sc);
        return MAO_ENOMEM;
    }
    return 0;
}

static int s_take_run(json_t *record, void *arg)
{
    s_loaded_t *l = arg;
    coord_run_t *run = coord_run_from_record(record);
    if (run && !zlistx_add_end(l->runs, run)) {
        coord_run_destroy(&run);
        return MAO_ENOMEM;
    }
    return 0;
}

/* etcd pairs to records, one at a time. */
typedef struct {
    coord_pg_each_fn *fn;
    s_loaded_t *loaded;
} s_kv_take_t;

static int s_take_kv(mao_etcd_kv_t *kv, void *arg)
{
    s_kv_take_t *t = arg;
    json_t *record = json_loadb(kv->value, kv->value_len, 0, NULL);
    int rc = record ? t->fn(record, t->loaded) : 0;
    if (!record)
        mao_log_warn("dispatch", "record.skipped key=%s detail=\"not JSON\"", kv->key);
    json_decref(record);
    mao_etcd_kv_free(kv);
    return rc;
}

static void s_free_loaded(s_loaded_t *l)
{
    coord_sched_t *sc;
    coord_run_t *run;
    while ((sc = zlistx_detach(l->scheds, NULL)))
        coord_sched_destroy(&sc);
    while ((run = zlistx_detach(l->runs, NULL)))
        coord_run_destroy(&run);
    zlistx_destroy(&l->scheds);
    zlistx_destroy(&l->runs);
}

/* Reads back what the coordinator held when it last stopped: its schedules,
 * and the runs waiting or running.  Running ones are claimed again by their
 * worker's hello; the rest are dispatched.  Blocks for at most the store's
 * timeout, so it is tried at start and then at most every 5 s until it works
 * once; nothing is fired before.  Records are read and turned into
 * schedules and runs one at a time, so a hundred thousand schedules never
 * sit in memory as JSON, and only then taken in under the lock. */
static void s_load_queue(coord_server_t *self)
{
    s_loaded_t l = {.scheds = zlistx_new(), .runs = zlistx_new()};
    self->last_queue_try_ms = mao_now_ms();
    int rc = MAO_ENOMEM;
    if (l.scheds && l.runs) {
        if (self->pg) {
            if ((rc = coord_pg_schedules_each(self->pg, s_take_sched, &l)) == 0)
                rc = coord_pg_active_runs_each(self->pg, s_take_run, &l);
        } else {
            s_kv_take_t sched = {.fn = s_take_sched, .loaded = &l};
            s_kv_take_t run = {.fn = s_take_run, .loaded = &l};
            if ((rc = mao_etcd_list_each(self->etcd, "schedules/", 2000, 0, s_take_kv, &sched,
                                         NULL)) == 0)
                rc = mao_etcd_list_each(self->etcd, "queue/", 2000, 0, s_take_kv, &run, NULL);
        }
    }
    if (rc < 0) {
        mao_log_warn("dispatch", "state.unreadable detail=\"%s\"", mao_error_last());
        s_free_loaded(&l);
        return;
    }
    pthread_mutex_lock(&self->lock);
    size_t nsched = 0, nruns = 0;
    coord_sched_t *sc;
    coord_run_t *run;
    while ((sc = zlistx_detach(l.scheds, NULL))) {
        if (coord_scheds_find(self->scheds, sc->id)) {
            coord_sched_destroy(&sc);
            continue;
        }
        coord_scheds_add(self->scheds, sc);
        nsched++;
    }
    while ((run = zlistx_detach(l.runs, NULL))) {
        if (zhashx_lookup(self->runs, run->id)) {
            coord_run_destroy(&run);
            continue;
        }
        s_keep(self, run);
        run->announced = 1;
        s_enqueue_new(self, run);
        coord_sched_adopt(self, run);
        nruns++;
    }
    mao_log_info("dispatch", "state.loaded schedules=%zu runs=%zu", nsched, nruns);
    atomic_store(&self->queue_loaded, 1);
    self->scheds_loaded = 1;
    s_arm(self);
    pthread_mutex_unlock(&self->lock);
    s_free_loaded(&l);
    malloc_trim(0); /* what reading took goes back to the system */
}

int coord_dispatch_cron(zloop_t *loop, int timer_id, void *arg)
{
    coord_server_t *self = arg;
    int64_t now = mao_now_ms();

    if (s_lead_check(self) < 0)
        return -1;
    if (atomic_load(&self->leading) && !atomic_load(&self->queue_loaded) &&
        now - self->last_queue_try_ms >= 5000)
        s_load_queue(self);
    if (now - self->last_etcd_check_ms >= 1000) {
        self->last_etcd_check_ms = now;
        int up = coord_store_healthy(self->store) && atomic_load(&self->etcd_up);
        if (up != self->etcd_logged) {
            if (up)
                mao_log_info("etcd", "reachable endpoint=%s", mao_etcd_endpoint(self->etcd));
            else
                mao_log_warn("etcd", "unreachable: writes wait and are retried");
            self->etcd_logged = up;
        }
    }
    s_turn_begin(self);
    int publish = atomic_load(&self->leading) && now - self->last_members_ms >= S_MEMBERS_MS;
    if (publish)
        self->last_members_ms = now;
    for (coord_worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers)) {
        if (w->acks && json_array_size(w->acks) > 0 && now - w->acks_since_ms >= S_ACK_HOLD_MS)
            s_flush_acks(self, w);
        if (!w->up)
            continue;
        if (now - w->last_seen_ms > self->liveness_ms) {
            char why[64];
            snprintf(why, sizeof why, "silent for %lld ms", (long long)(now - w->last_seen_ms));
            s_worker_down(self, w, why);
            continue;
        }
        if (now - w->sent_ms >= self->heartbeat_ms)
            s_send_simple(self, w->id, "heartbeat", NULL, NULL);
        if (publish)
            s_record_worker(self, w);
    }
    /* Runs whose worker is down, or whose job was never accepted; changes
     * written behind. */
    for (coord_run_t *run = coord_live_first(&self->live); run;
         run = coord_live_next(&self->live, run)) {
        if (run->unwritten && now - run->unwritten_ms >= S_RUNNING_WRITE_MS)
            s_record(self, run);
        if (!run->worker[0])
            continue;
        coord_worker_t *w = s_worker(self, run->worker);
        if (!w || !w->up) {
            char why[200];
            snprintf(why, sizeof why, "worker %s went silent", run->worker);
            s_requeue(self, run, "lost", why);
        } else if (run->status == COORD_RUN_QUEUED && run->dispatched_ms > 0 &&
                   w->last_seen_ms - run->dispatched_ms > self->dispatch_timeout_ms) {
            /* Unanswered: the worker has spoken since, long after the job
             * went out, and its answer (sent at once, and read in order) did
             * not come first.  Counting from our own clock instead would
             * take back jobs whose answers wait unread in our inbox when we
             * lag behind. */
            mao_log_warn("dispatch", "job.unanswered run=%s worker=%s", run->id, run->worker);
            s_unassign(self, run);
            zlistx_add_start(self->queue, run);
        }
    }
    coord_sched_flush(self, now);
    s_dispatch(self);
    s_arm(self);
    s_turn_end(self);
    return 0;
}

/* ---- for the scheduler (lock held) ------------------------------------------------ */

coord_run_t *coord_dispatch_scheduled(coord_server_t *self, json_t *tool_record,
                                      coord_sched_t *sched, int64_t slot, int64_t planned_ms,
                                      long retry, int64_t not_before_ms, int held, int gate)
{
    coord_run_t *run = coord_run_new(tool_record, sched->site, "schedule");
    if (!run)
        return NULL;
    snprintf(run->schedule, sizeof run->schedule, "%s", sched->id);
    run->slot = slot;
    run->planned_ms = planned_ms;
    run->retry = retry;
    run->timeout_s = sched->max_run_s;
    run->not_before_ms = not_before_ms;
    run->held = held;
    run->gate = gate;
    run->fan_out = sched->all_sites && retry == 0;
    s_keep(self, run);
    s_enqueue_new(self, run);
    self->metrics.runs_total[COORD_RUN_QUEUED]++;
    /* The run and the schedule's new last slot land together. */
    json_t *record = coord_run_to_json(run, 0, 1);
    json_t *sched_record = coord_sched_record(sched);
    coord_store_item_t items[2] = {
        s_run_item(run, record),
        {.kind = COORD_STORE_SCHEDULE, .id = sched->id, .record = sched_record}};
    run->created_seq = coord_store_write(self->store, items, 2);
    json_decref(record);
    json_decref(sched_record);
    mao_log_info("dispatch", "run.queued run=%s tool=%s schedule=%s slot=%lld retry=%ld%s%s",
                 run->id, run->tool, sched->id, (long long)slot, retry, held ? " held=1" : "",
                 gate ? " ahead=1" : "");
    return run;
}

void coord_dispatch_drop(coord_server_t *self, coord_run_t *run, coord_run_status_t status,
                         const char *reason)
{
    coord_run_set_reason(run, reason);
    run->gate = 0;
    run->held = 0;
    mao_log_info("dispatch", "slot.%s schedule=%s tool=%s slot=%lld run=%s reason=\"%s\"",
                 coord_run_status_name(status), run->schedule, run->tool, (long long)run->slot,
                 run->id, reason);
    s_finish(self, run, status);
}

void coord_dispatch_forget(coord_server_t *self, coord_run_t *run, coord_sched_t *sched)
{
    void *handle = zlistx_find(self->queue, run);
    if (handle)
        zlistx_delete(self->queue, handle);
    json_t *sched_record = coord_sched_record(sched);
    coord_store_item_t items[2] = {
        {.kind = COORD_STORE_RUN_DELETE, .id = run->id, .tool = run->tool},
        {.kind = COORD_STORE_SCHEDULE, .id = sched->id, .record = sched_record}};
    coord_store_write(self->store, items, 2);
    json_decref(sched_record);
    mao_log_info("dispatch", "slot.unclaimed schedule=%s tool=%s slot=%lld run=%s", sched->id,
                 run->tool, (long long)run->slot, run->id);
    zhashx_delete(self->runs, run->id); /* frees it */
}

void coord_dispatch_ungate(coord_server_t *self, coord_run_t *run)
{
    if (!run->gate)
        return;
    run->gate = 0;
    run->version++;
    pthread_cond_broadcast(&self->changed);
    /* The store keeps the gated record a while: a successor that finds it
     * decides the slot again as this coordinator did, and most runs end
     * before the cron would write it. */
    s_write_behind(run, mao_now_ms());
    if (run->status == COORD_RUN_QUEUED && !run->worker[0])
        s_enqueue_new(self, run);
}

void coord_dispatch_touch(coord_server_t *self, coord_run_t *run)
{
    s_changed(self, run);
}

void coord_dispatch_record_slot(coord_server_t *self, coord_sched_t *sched, int64_t slot,
                                coord_run_status_t status, const char *reason)
{
    json_t *tool = json_pack("{s:s}", "name", sched->tool);
    coord_run_t *run = coord_run_new(tool, sched->site, "schedule");
    json_decref(tool);
    if (!run)
        return;
    snprintf(run->schedule, sizeof run->schedule, "%s", sched->id);
    run->slot = slot;
    run->planned_ms = coord_sched_planned_ms(sched, slot);
    run->status = status;
    run->finished_ms = run->created_ms;
    coord_run_set_reason(run, reason);
    self->metrics.runs_total[status]++;
    json_t *record = coord_run_to_json(run, 1, 0);
    json_t *sched_record = coord_sched_record(sched);
    coord_store_item_t items[2] = {
        s_run_item(run, record),
        {.kind = COORD_STORE_SCHEDULE, .id = sched->id, .record = sched_record}};
    coord_store_write(self->store, items, 2);
    json_decref(record);
    json_decref(sched_record);
    mao_log_info("dispatch", "slot.%s schedule=%s tool=%s slot=%lld reason=\"%s\"",
                 coord_run_status_name(status), sched->id, sched->tool, (long long)slot, reason);
    coord_sched_t *mutable_sched = coord_scheds_find(self->scheds, sched->id);
    if (mutable_sched) {
        snprintf(mutable_sched->last_run, sizeof mutable_sched->last_run, "%s", run->id);
        snprintf(mutable_sched->last_outcome, sizeof mutable_sched->last_outcome, "%s",
                 coord_run_status_name(status));
        free(mutable_sched->last_reason);
        mutable_sched->last_reason = strdup(reason);
        mutable_sched->last_outcome_ms = mao_now_ms();
    }
    coord_run_destroy(&run);
}

int coord_dispatch_site_up(coord_server_t *self, const char *site)
{
    for (coord_worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers))
        if (w->up && strcmp(w->site, site) == 0)
            return 1;
    return 0;
}

/* ---- any thread ------------------------------------------------------------------- */

int coord_dispatch_submit(coord_server_t *self, json_t *tool_record, const char *site,
                          const char *trigger, char id[MAO_ID_LEN + 1], uint64_t *seq)
{
    coord_run_t *run = coord_run_new(tool_record, site, trigger);
    if (!run)
        return MAO_ENOMEM;
    snprintf(id, MAO_ID_LEN + 1, "%s", run->id);
    pthread_mutex_lock(&self->lock);
    s_keep(self, run);
    s_enqueue_new(self, run);
    self->metrics.runs_total[COORD_RUN_QUEUED]++;
    *seq = s_changed(self, run);
    pthread_mutex_unlock(&self->lock);
    mao_log_info("dispatch", "run.queued run=%s tool=%s site=%s trigger=%s", id, run->tool,
                 site && *site ? site : "any", run->trigger);
    coord_server_wake(self);
    return 0;
}

static int s_by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int coord_dispatch_submit_all(coord_server_t *self, json_t *tool_record, const char *trigger,
                              char group[MAO_ID_LEN + 1], json_t *ids, uint64_t *seq)
{
    const char *sites[256];
    mao_id_new(group);
    pthread_mutex_lock(&self->lock);
    size_t n = s_sites_up(self, sites, 256);
    if (n == 0) {
        pthread_mutex_unlock(&self->lock);
        mao_error_set("no worker is up at any site");
        return MAO_EUNAVAILABLE;
    }
    for (size_t i = 0; i < n; i++) {
        coord_run_t *run = coord_run_new(tool_record, sites[i], trigger);
        if (!run) {
            pthread_mutex_unlock(&self->lock);
            return MAO_ENOMEM;
        }
        snprintf(run->group, sizeof run->group, "%s", group);
        s_keep(self, run);
        s_enqueue_new(self, run);
        self->metrics.runs_total[COORD_RUN_QUEUED]++;
        *seq = s_changed(self, run);
        json_array_append_new(ids, json_string(run->id));
        mao_log_info("dispatch", "run.queued run=%s tool=%s site=%s trigger=%s group=%s", run->id,
                     run->tool, run->want_site, run->trigger, group);
    }
    pthread_mutex_unlock(&self->lock);
    coord_server_wake(self);
    return 0;
}

coord_run_t *coord_dispatch_find(coord_server_t *self, const char *id)
{
    return zhashx_lookup(self->runs, id);
}

const char *coord_dispatch_why_waiting(coord_server_t *self, const coord_run_t *run)
{
    if (run->status != COORD_RUN_QUEUED)
        return NULL;
    if (run->worker[0])
        return "sent to a worker, waiting for it to accept";
    if (run->gate)
        return "its slot has not come yet";
    if (run->held)
        return "waiting for the previous run of its schedule to end (overlap queue-one)";
    if (run->not_before_ms > mao_now_ms())
        return "a retry, waiting for its backoff to pass";
    if (run->schedule[0] && run->created_seq > coord_store_durable(self->store))
        return "waiting for the store to record its slot";
    int up = 0, room = 0;
    for (coord_worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers)) {
        if (!w->up || (run->want_site[0] && strcmp(w->site, run->want_site) != 0))
            continue;
        up++;
        room += w->in_flight < w->capacity;
    }
    if (up == 0)
        return run->want_site[0] ? "no worker is up at the requested site" : "no worker is up";
    if (room == 0)
        return run->want_site[0] ? "every worker at the requested site is busy"
                                 : "every worker is busy";
    return "about to be placed";
}

json_t *coord_dispatch_workers_json(coord_server_t *self)
{
    json_t *list = json_array();
    for (coord_worker_t *w = zhashx_first(self->workers); w; w = zhashx_next(self->workers))
        json_array_append_new(list, s_worker_json(self, w));
    return list;
}

/* ---- binding ----------------------------------------------------------------------- */

int coord_dispatch_bind(coord_server_t *self)
{
    self->router = zsock_new(ZMQ_ROUTER);
    self->pub = zsock_new(ZMQ_XPUB);
    self->subscribed = 0;
    if (!self->router || !self->pub)
        return MAO_ENOMEM;
    zsock_set_maxmsgsize(self->router, MAO_MSG_MAX + 4096);
    zsock_set_router_mandatory(self->router, 1);
    zsock_set_router_handover(self->router, 1);
    zsock_set_sndhwm(self->router, 10000);
    zsock_set_rcvhwm(self->router, 10000);
    zsock_set_linger(self->router, 500);
    zsock_set_linger(self->pub, 0);
    zsock_set_sndhwm(self->pub, 10000);
    coord_auth_apply(self->auth, self->router);
    coord_auth_apply(self->auth, self->pub);
    if (zsock_bind(self->router, "%s", self->workers_endpoint) < 0) {
        mao_error_set("cannot bind the workers' endpoint %s: %s", self->workers_endpoint,
                      zmq_strerror(zmq_errno()));
        return MAO_EFAIL;
    }
    if (zsock_bind(self->pub, "%s", self->events_endpoint) < 0) {
        mao_error_set("cannot bind the events endpoint %s: %s", self->events_endpoint,
                      zmq_strerror(zmq_errno()));
        return MAO_EFAIL;
    }
    zloop_reader(self->loop, self->router, s_on_router, self);
    zloop_reader(self->loop, self->pub, s_on_subscription, self);
    return 0;
}

void coord_dispatch_watch_wake(coord_server_t *self)
{
    zmq_pollitem_t item = {.socket = NULL, .fd = self->wake_fd, .events = ZMQ_POLLIN};
    zloop_poller(self->loop, &item, s_on_wake, self);
}

/* Leadership, from the reactor: once we lead, bind and load; once another
 * leads after us, stop the reactor (the process starts over).  Returns -1 to
 * stop the reactor. */
static int s_lead_check(coord_server_t *self)
{
    coord_lead_state_t state = coord_lead_state(self->lead);
    if (state == COORD_LEAD_LOST || coord_store_fenced(self->store)) {
        self->stepped_down = 1;
        return -1;
    }
    if (state != COORD_LEAD_LEADING || atomic_load(&self->leading))
        return 0;
    int64_t term = coord_lead_term(self->lead);
    if (self->pg) {
        int rc = coord_pg_claim_term(self->pg, term);
        if (rc == MAO_ECONFLICT) {
            mao_log_error("lead", "term.refused term=%lld detail=\"%s\"", (long long)term,
                          mao_error_last());
            self->stepped_down = 1;
            return -1;
        }
        if (rc < 0) {
            mao_log_warn("lead", "term.unclaimed term=%lld detail=\"%s\"", (long long)term,
                         mao_error_last());
            return 0; /* PostgreSQL away: the cron tries again */
        }
    }
    if (!self->router && coord_dispatch_bind(self) < 0) {
        mao_log_error("lead", "bind.failed detail=\"%s\"", mao_error_last());
        zsock_destroy(&self->router);
        zsock_destroy(&self->pub);
        return 0; /* the cron tries again */
    }
    atomic_store(&self->leading, 1);
    mao_log_info("lead", "leading term=%lld workers=%s events=%s", (long long)term,
                 self->workers_endpoint, self->events_endpoint);
    s_load_queue(self);
    return 0;
}
