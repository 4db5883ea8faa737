/*
 * coord_api: routing HTTP requests to the registry and back as JSON.
 *
 * Each request gets a s_req_t that collects its body (at most
 * COORD_API_MAX_BODY bytes); when the body is complete the route runs and
 * fills a s_resp_t (status and JSON), which is sent once.  Errors are always
 * {"error": "<kind>", "message": "<one line>"} with the matching status.
 */
#include "coord_api.h"
#include "coord_lead.h"
#include "coord_auth.h"
#include "mao_curve.h"
#include "coord_dispatch.h"
#include "coord_notify.h"
#include "coord_pg.h"
#include "coord_registry.h"
#include "coord_sched.h"
#include "coord_store.h"
#include "coord_tools.h"
#include "mao_msg.h"
#include "mao_error.h"
#include "mao_fs.h"
#include "mao_git.h"
#include "mao_log.h"
#include "mao_name.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct coord_api_t {
    struct MHD_Daemon *mhd; /* the server; owns its threads */
    coord_server_t *server; /* the coordinator's state, borrowed */
    int fd;                 /* the listening socket, owned */
    int port;               /* the port bound */
    char *token;            /* the bearer token changes need; NULL: none */
    int open_reads;         /* reads need no token */
    char *tls_cert, *tls_key; /* PEM, when the API speaks HTTPS */
};

typedef struct {
    char *body; /* request body, NUL-terminated */
    size_t len;
    int too_large; /* the body passed the limit; the rest is dropped */
} s_req_t;

typedef struct {
    unsigned status;
    json_t *json;        /* reply body; NULL means none */
    char *text;          /* a plain-text body instead (owned), for /metrics */
    const char *allow;   /* Allow header for 405 */
    int challenge;       /* 401: a WWW-Authenticate header */
    char location[160];  /* Location header for 201 */
} s_resp_t;

/* ---- replies ------------------------------------------------------------------ */

static void s_reply(s_resp_t *resp, unsigned status, json_t *json)
{
    json_decref(resp->json);
    resp->status = status;
    resp->json = json;
}

static void s_fail(s_resp_t *resp, unsigned status, const char *kind, const char *message)
{
    s_reply(resp, status, json_pack("{s:s, s:s}", "error", kind, "message", message));
}

/* Replies with the error that `rc` and the thread's error detail describe. */
/* Reads a whole-number query parameter into *out (`def` when absent).
 * Returns 0, or -1 after a 400 answer naming the range. */
static int s_query_long(struct MHD_Connection *conn, const char *key, long def, long min,
                        long max, long *out, s_resp_t *resp)
{
    const char *text = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
    char *end = NULL;
    if (!text) {
        *out = def;
        return 0;
    }
    errno = 0;
    long v = strtol(text, &end, 10);
    if (!*text || *end || errno || v < min || v > max) {
        char msg[160];
        snprintf(msg, sizeof msg, "query parameter %s must be a whole number from %ld to %ld",
                 key, min, max);
        s_fail(resp, 400, "bad_request", msg);
        return -1;
    }
    *out = v;
    return 0;
}

static void s_fail_rc(s_resp_t *resp, int rc)
{
    const char *detail = mao_error_last();
    switch (rc) {
    case MAO_EINVAL:
    case MAO_EMALFORMED: s_fail(resp, 400, "bad_request", detail); break;
    case MAO_ENOTFOUND: s_fail(resp, 404, "not_found", detail); break;
    case MAO_ECONFLICT: s_fail(resp, 409, "conflict", detail); break;
    case MAO_EUNAVAILABLE:
    case MAO_ETIMEOUT: {
        char msg[1200];
        snprintf(msg, sizeof msg, "registry unavailable: %s", detail);
        s_fail(resp, 503, "unavailable", msg);
        break;
    }
    case MAO_ENOMEM: s_fail(resp, 500, "internal", "out of memory"); break;
    default: s_fail(resp, 500, "internal", detail[0] ? detail : "internal error"); break;
    }
}

static void s_method_not_allowed(s_resp_t *resp, const char *allow)
{
    s_fail(resp, 405, "method_not_allowed", "method not allowed on this path");
    resp->allow = allow;
}

/* Tells the server whether etcd answered, for the cron's logs and /healthz. */
static void s_note_etcd(coord_api_t *api, int rc)
{
    int up = !(rc == MAO_EUNAVAILABLE || rc == MAO_ETIMEOUT);
    atomic_store(&api->server->etcd_up, up);
}

/* The request body as a JSON object, or a 400 reply. */
static json_t *s_body_object(s_req_t *req, s_resp_t *resp)
{
    if (!req->body || req->len == 0) {
        s_fail(resp, 400, "bad_request", "request body is empty (expected a JSON object)");
        return NULL;
    }
    json_t *json = mao_json_parse(req->body, req->len, "request body");
    if (!json) {
        s_fail(resp, 400, "bad_request", mao_error_last());
        return NULL;
    }
    if (!json_is_object(json)) {
        json_decref(json);
        s_fail(resp, 400, "bad_request", "request body must be a JSON object");
        return NULL;
    }
    return json;
}

static int s_query_true(struct MHD_Connection *conn, const char *name)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
    if (!v)
        return 0;
    return *v == '\0' || strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
           strcasecmp(v, "yes") == 0;
}

static void s_tool_runs(coord_api_t *api, struct MHD_Connection *conn, const char *method,
                        const char *name, s_req_t *req, s_resp_t *resp);
static json_t *s_schedule_create(coord_api_t *api, const char *name, json_t *body,
                                 s_resp_t *resp);
static void s_schedules_of(coord_api_t *api, const char *tool, s_resp_t *resp);
static void s_tool_history(coord_api_t *api, struct MHD_Connection *conn, const char *name,
                           s_resp_t *resp);
static void s_tool_why(coord_api_t *api, const char *name, s_resp_t *resp);

/* ---- /v1/tools and /v1/datasets -------------------------------------------------- */

static void s_registry_put(coord_api_t *api, s_resp_t *resp, coord_kind_t kind, json_t *body,
                           int replace)
{
    json_t *stored = NULL;
    int created = 0;
    int rc = coord_registry_put(&stored, &created, api->server->registry, kind, body, replace,
                                api->server->allow_local);
    s_note_etcd(api, rc);
    if (rc < 0) {
        s_fail_rc(resp, rc);
        return;
    }
    const char *name = json_string_value(json_object_get(stored, "name"));
    if (kind == COORD_TOOLS)
        coord_tools_note(api->server->tools, stored);
    mao_log_info("registry", "%s.%s name=%s", coord_registry_noun(kind),
                 created ? "created" : "replaced", name);
    snprintf(resp->location, sizeof resp->location, "/v1/%ss/%s", coord_registry_noun(kind),
             name);
    s_reply(resp, created ? 201 : 200, stored);
}

static void s_registry(coord_api_t *api, struct MHD_Connection *conn, const char *method,
                       coord_kind_t kind, const char *rest, s_req_t *req, s_resp_t *resp)
{
    coord_registry_t *registry = api->server->registry;
    int rc;

    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (strcmp(method, "GET") == 0) {
            json_t *list = NULL;
            rc = coord_registry_list(&list, registry, kind);
            s_note_etcd(api, rc);
            if (rc < 0)
                s_fail_rc(resp, rc);
            else
                s_reply(resp, 200, list);
        } else if (strcmp(method, "POST") == 0) {
            json_t *body = s_body_object(req, resp);
            if (body)
                s_registry_put(api, resp, kind, body, s_query_true(conn, "replace"));
            json_decref(body);
        } else {
            s_method_not_allowed(resp, "GET, POST");
        }
        return;
    }
    const char *name = rest + 1; /* rest is "/<name>" */
    const char *sub = strchr(name, '/');
    if (kind == COORD_TOOLS && sub &&
        (strcmp(sub, "/runs") == 0 || strcmp(sub, "/schedules") == 0 ||
         strcmp(sub, "/history") == 0 || strcmp(sub, "/why") == 0)) {
        char tool[MAO_NAME_MAX + 2];
        snprintf(tool, sizeof tool, "%.*s", (int)(sub - name), name);
        if ((rc = mao_name_check("tool", tool)) < 0) {
            s_fail_rc(resp, rc);
        } else if (strcmp(sub, "/runs") == 0) {
            s_tool_runs(api, conn, method, tool, req, resp);
        } else if (strcmp(sub, "/history") == 0 || strcmp(sub, "/why") == 0) {
            if (strcmp(method, "GET") != 0)
                s_method_not_allowed(resp, "GET");
            else if (sub[1] == 'h')
                s_tool_history(api, conn, tool, resp);
            else
                s_tool_why(api, tool, resp);
        } else if (strcmp(method, "POST") == 0) {
            json_t *body = s_body_object(req, resp);
            if (body)
                s_schedule_create(api, tool, body, resp);
            json_decref(body);
        } else if (strcmp(method, "GET") == 0) {
            s_schedules_of(api, tool, resp);
        } else {
            s_method_not_allowed(resp, "GET, POST");
        }
        return;
    }
    if ((rc = mao_name_check(coord_registry_noun(kind), name)) < 0) {
        s_fail_rc(resp, rc);
        return;
    }
    if (strcmp(method, "GET") == 0) {
        json_t *record = NULL;
        rc = coord_registry_get(&record, registry, kind, name);
        s_note_etcd(api, rc);
        if (rc == MAO_EMALFORMED) /* what is stored is damaged: not the caller's fault */
            s_fail(resp, 500, "damaged_record", mao_error_last());
        else if (rc < 0)
            s_fail_rc(resp, rc);
        else
            s_reply(resp, 200, record);
    } else if (strcmp(method, "PUT") == 0) {
        json_t *body = s_body_object(req, resp);
        if (!body)
            return;
        json_t *given = json_object_get(body, "name");
        if (given && (!json_is_string(given) || strcmp(json_string_value(given), name) != 0)) {
            s_fail(resp, 400, "bad_request", "the name in the body differs from the name in "
                                             "the path");
        } else {
            json_object_set_new(body, "name", json_string(name));
            s_registry_put(api, resp, kind, body, 1);
        }
        json_decref(body);
    } else if (strcmp(method, "DELETE") == 0) {
        rc = coord_registry_remove(registry, kind, name);
        s_note_etcd(api, rc);
        if (rc < 0) {
            s_fail_rc(resp, rc);
            return;
        }
        if (kind == COORD_TOOLS)
            coord_tools_forget(api->server->tools, name);
        mao_log_info("registry", "%s.removed name=%s", coord_registry_noun(kind), name);
        s_reply(resp, 200, json_pack("{s:s, s:b}", "name", name, "removed", 1));
    } else {
        s_method_not_allowed(resp, "GET, PUT, DELETE");
    }
}

/* ---- runs ------------------------------------------------------------------------ */

/* A query or body number of seconds, clamped to [0, max]. */
static long s_seconds(struct MHD_Connection *conn, json_t *body, const char *name, long max)
{
    long v = 0;
    const char *q = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
    if (q)
        v = strtol(q, NULL, 10);
    else if (body && json_is_integer(json_object_get(body, name)))
        v = (long)json_integer_value(json_object_get(body, name));
    else if (body && json_is_true(json_object_get(body, name)))
        v = max;
    return v < 0 ? 0 : v > max ? max : v;
}

/* Waits (lock held) until run `id` changes past `version`, ends, or `deadline_ms`
 * passes.  Returns the run, or NULL when it left memory meanwhile. */
static int s_wait_durable(coord_server_t *server, uint64_t seq, long ms);

static coord_run_t *s_wait_run(coord_server_t *server, const char *id, unsigned version,
                               int64_t deadline_ms, int until_end)
{
    coord_run_t *run = coord_dispatch_find(server, id);
    int64_t recorded_by = 0;
    for (;;) {
        if (!run)
            break;
        int64_t now = mao_now_ms();
        if (coord_run_terminal(run)) {
            /* Answer once the end is in etcd, so that what the client saw is
             * there too; but never keep a client waiting on an etcd that is
             * away: the record catches up later. */
            if (!recorded_by)
                recorded_by = now + 2000;
            if (run->recorded || now >= recorded_by)
                break;
        } else if ((!until_end && run->version != version) || now >= deadline_ms) {
            break;
        }
        int64_t until = deadline_ms < now + 1000 ? deadline_ms : now + 1000;
        if (recorded_by && recorded_by < until)
            until = recorded_by;
        struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (long)(until % 1000) * 1000000};
        pthread_cond_timedwait(&server->changed, &server->lock, &ts);
        run = coord_dispatch_find(server, id);
    }
    return run;
}

/* A run that is no longer in memory, from etcd: finished (runs/<tool>/<id>)
 * or waiting (queue/<id>). */
static int s_run_from_etcd(json_t **out, coord_server_t *server, const char *id)
{
    if (server->pg)
        return coord_pg_run(out, server->pg, id);
    mao_etcd_kvs_t kvs;
    mao_etcd_kv_t kv;
    char key[160];
    int rc = mao_etcd_list(server->etcd, "runs/", 0, 1, &kvs);
    if (rc < 0)
        return rc;
    size_t idlen = strlen(id);
    key[0] = '\0';
    for (size_t i = 0; i < kvs.count; i++) {
        size_t n = strlen(kvs.items[i].key);
        if (n > idlen && kvs.items[i].key[n - idlen - 1] == '/' &&
            strcmp(kvs.items[i].key + n - idlen, id) == 0) {
            snprintf(key, sizeof key, "%s", kvs.items[i].key);
            break;
        }
    }
    mao_etcd_kvs_free(&kvs);
    if (!key[0])
        snprintf(key, sizeof key, "queue/%s", id);
    if ((rc = mao_etcd_get(server->etcd, key, &kv)) < 0) {
        if (rc == MAO_ENOTFOUND)
            mao_error_set("run %s is not known", id);
        return rc;
    }
    *out = mao_json_parse(kv.value, kv.value_len, "stored run");
    mao_etcd_kv_free(&kv);
    if (!*out)
        return MAO_EMALFORMED;
    json_object_del(*out, "tool_record");
    return 0;
}

static void s_run_get(coord_api_t *api, struct MHD_Connection *conn, const char *id,
                      s_resp_t *resp)
{
    coord_server_t *server = api->server;
    if (mao_id_time_ms(id) < 0) {
        s_fail(resp, 404, "not_found", "no such run (a run id has 26 letters and digits)");
        return;
    }
    long wait = s_seconds(conn, NULL, "wait", 600);
    const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "version");
    unsigned version = v ? (unsigned)strtoul(v, NULL, 10) : 0;
    pthread_mutex_lock(&server->lock);
    coord_run_t *run = coord_dispatch_find(server, id);
    if (run && wait > 0 && v)
        run = s_wait_run(server, id, version, mao_now_ms() + wait * 1000, 0);
    json_t *json = NULL;
    if (run) {
        json = coord_run_to_json(run, 1, 0);
        json_object_set_new(json, "version", json_integer(run->version));
        const char *why = coord_dispatch_why_waiting(server, run);
        if (why)
            json_object_set_new(json, "waiting_for", json_string(why));
    }
    pthread_mutex_unlock(&server->lock);
    if (json) {
        s_reply(resp, 200, json);
        return;
    }
    int rc = s_run_from_etcd(&json, server, id);
    s_note_etcd(api, rc);
    if (rc < 0)
        s_fail_rc(resp, rc);
    else
        s_reply(resp, 200, json);
}

/* Runs from the store, newest first: PostgreSQL, or etcd's runs/ (finished)
 * and queue/ (waiting and running). */
/* Stored runs (in PostgreSQL, also those in flight unless `finished_only`;
 * in etcd, the finished ones). */
static int s_history(json_t **out, coord_server_t *server, const char *tool, const char *status,
                     int finished_only, long limit)
{
    if (server->pg)
        return coord_pg_runs(out, server->pg, tool, status, finished_only, limit);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "runs/%s%s", tool ? tool : "", tool ? "/" : "");
    mao_etcd_kvs_t kvs;
    int rc = mao_etcd_list(server->etcd, prefix, 0, 0, &kvs);
    if (rc < 0)
        return rc;
    json_t *list = json_array();
    for (size_t i = 0; i < kvs.count; i++) {
        json_t *r = json_loadb(kvs.items[i].value, kvs.items[i].value_len, 0, NULL);
        if (r)
            json_array_append_new(list, r);
    }
    mao_etcd_kvs_free(&kvs);
    *out = list;
    return 0;
}

static int s_by_id_desc(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "id")) ?: "";
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "id")) ?: "";
    return strcmp(y, x);
}

/* GET /v1/runs?tool=T&status=S&limit=N: newest first. */
static void s_run_list(coord_api_t *api, struct MHD_Connection *conn, s_resp_t *resp)
{
    coord_server_t *server = api->server;
    const char *tool = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "tool");
    const char *status = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "status");
    long limit;
    if (s_query_long(conn, "limit", 50, 1, 10000, &limit, resp) < 0)
        return;
    if (tool && mao_name_check("tool", tool) < 0) {
        s_fail_rc(resp, MAO_EINVAL);
        return;
    }
    json_t *seen = json_object(); /* id -> run json */
    json_t *stored = NULL;
    int rc = s_history(&stored, server, tool, status, 0, limit);
    if (rc < 0) {
        json_decref(seen);
        s_fail_rc(resp, rc);
        return;
    }
    size_t i;
    json_t *r;
    json_array_foreach(stored, i, r) {
        const char *id = json_string_value(json_object_get(r, "id"));
        if (id)
            json_object_set(seen, id, r);
    }
    json_decref(stored);
    pthread_mutex_lock(&server->lock);
    for (coord_run_t *run = zhashx_first(server->runs); run; run = zhashx_next(server->runs))
        if (!tool || strcmp(run->tool, tool) == 0)
            json_object_set_new(seen, run->id, coord_run_to_json(run, 0, 0));
    pthread_mutex_unlock(&server->lock);
    size_t n = json_object_size(seen), k = 0;
    json_t **all = calloc(n ? n : 1, sizeof *all);
    const char *key;
    json_t *value;
    json_object_foreach(seen, key, value) {
        const char *st = json_string_value(json_object_get(value, "status"));
        if (!status || (st && strcmp(st, status) == 0))
            all[k++] = value;
    }
    qsort(all, k, sizeof *all, s_by_id_desc);
    json_t *list = json_array();
    for (i = 0; i < k && (long)i < limit; i++) {
        json_object_del(all[i], "log_tail");
        json_array_append(list, all[i]);
    }
    free(all);
    json_decref(seen);
    s_reply(resp, 200, list);
}

/* Queues a run of tool `name`; waits for its end when asked.  Returns the
 * run's JSON (new reference) and sets the status, or NULL after a failure
 * reply. */
static json_t *s_start_run(coord_api_t *api, const char *name, const char *site, long wait,
                           const char *trigger, s_resp_t *resp)
{
    coord_server_t *server = api->server;
    json_t *tool = NULL;
    char id[MAO_ID_LEN + 1];
    if (site && *site && mao_name_check("site", site) < 0) {
        s_fail_rc(resp, MAO_EINVAL);
        return NULL;
    }
    /* The watched copy of tools/ (checked records, and what this API wrote
     * or removed is in it at once) spares etcd a read per run; etcd is asked
     * when the tool is not in the copy, or while the store is away, so an
     * unknown tool gets its 404 and an outage its 503 as before. */
    int rc = 0;
    if (coord_store_healthy(server->store) && coord_tools_ready(server->tools))
        tool = coord_tools_get(server->tools, name);
    if (!tool) {
        rc = coord_registry_get(&tool, server->registry, COORD_TOOLS, name);
        s_note_etcd(api, rc);
    }
    if (rc == MAO_EMALFORMED) {
        s_fail(resp, 500, "damaged_record", mao_error_last());
        return NULL;
    }
    if (rc < 0) {
        s_fail_rc(resp, rc);
        return NULL;
    }
    uint64_t seq = 0;
    rc = coord_dispatch_submit(server, tool, site, trigger, id, &seq);
    json_decref(tool);
    if (rc < 0) {
        s_fail_rc(resp, rc);
        return NULL;
    }
    pthread_mutex_lock(&server->lock);
    /* A run the answer says is queued is in the store (or the answer says it
     * is not yet): a crash of ours right after loses nothing. */
    int durable = wait > 0 || s_wait_durable(server, seq, 5000);
    coord_run_t *run = wait > 0 ? s_wait_run(server, id, 0, mao_now_ms() + wait * 1000, 1)
                                : coord_dispatch_find(server, id);
    json_t *json = run ? coord_run_to_json(run, 1, 0) : NULL;
    if (run) {
        json_object_set_new(json, "version", json_integer(run->version));
        const char *why = coord_dispatch_why_waiting(server, run);
        if (why)
            json_object_set_new(json, "waiting_for", json_string(why));
    }
    int done = run && coord_run_terminal(run);
    pthread_mutex_unlock(&server->lock);
    if (!json) {
        rc = s_run_from_etcd(&json, server, id);
        if (rc < 0) {
            s_fail_rc(resp, rc);
            return NULL;
        }
        done = 1;
    }
    resp->status = wait > 0 ? (done ? 200 : 202) : durable ? 201 : 202;
    if (!durable)
        json_object_set_new(json, "pending",
                            json_string("the store does not answer; the run is queued and "
                                        "written as soon as it does"));
    snprintf(resp->location, sizeof resp->location, "/v1/runs/%s", id);
    return json;
}

/* One run at every site with a worker up: {"group", "runs": [...]}. */
static json_t *s_start_group(coord_api_t *api, const char *name, long wait, s_resp_t *resp)
{
    coord_server_t *server = api->server;
    json_t *tool = NULL;
    char group[MAO_ID_LEN + 1];
    int rc = coord_registry_get(&tool, server->registry, COORD_TOOLS, name);
    s_note_etcd(api, rc);
    if (rc < 0) {
        if (rc == MAO_EMALFORMED)
            s_fail(resp, 500, "damaged_record", mao_error_last());
        else
            s_fail_rc(resp, rc);
        return NULL;
    }
    json_t *ids = json_array();
    uint64_t seq = 0;
    rc = coord_dispatch_submit_all(server, tool, "manual", group, ids, &seq);
    json_decref(tool);
    if (rc < 0) {
        json_decref(ids);
        if (rc == MAO_EUNAVAILABLE)
            s_fail(resp, 409, "no_worker", mao_error_last());
        else
            s_fail_rc(resp, rc);
        return NULL;
    }
    json_t *runs = json_array();
    int64_t deadline = mao_now_ms() + wait * 1000;
    int done = 1;
    size_t i;
    json_t *id;
    pthread_mutex_lock(&server->lock);
    if (wait == 0)
        s_wait_durable(server, seq, 5000);
    json_array_foreach(ids, i, id) {
        const char *rid = json_string_value(id);
        coord_run_t *run = wait > 0 ? s_wait_run(server, rid, 0, deadline, 1)
                                    : coord_dispatch_find(server, rid);
        json_t *json = run ? coord_run_to_json(run, 1, 0) : json_pack("{s:s}", "id", rid);
        if (run) {
            json_object_set_new(json, "version", json_integer(run->version));
            const char *why = coord_dispatch_why_waiting(server, run);
            if (why)
                json_object_set_new(json, "waiting_for", json_string(why));
        }
        done &= run && coord_run_terminal(run);
        json_array_append_new(runs, json);
    }
    pthread_mutex_unlock(&server->lock);
    json_decref(ids);
    resp->status = wait > 0 ? (done ? 200 : 202) : 201;
    return json_pack("{s:s, s:o}", "group", group, "runs", runs);
}

/* POST /v1/tools/{name}/runs {"site": S, "wait": seconds} or
 * {"all_sites": true, "wait": seconds}. */
static void s_tool_runs(coord_api_t *api, struct MHD_Connection *conn, const char *method,
                        const char *name, s_req_t *req, s_resp_t *resp)
{
    if (strcmp(method, "POST") != 0) {
        s_method_not_allowed(resp, "POST");
        return;
    }
    json_t *body = NULL;
    if (req->body && req->len > 0 && !(body = s_body_object(req, resp)))
        return;
    const char *site = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "site");
    if (!site && body)
        site = json_string_value(json_object_get(body, "site"));
    long wait = s_seconds(conn, body, "wait", 24 * 3600);
    const char *all = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "all_sites");
    int all_sites = (all && (strcmp(all, "1") == 0 || strcmp(all, "true") == 0)) ||
                    json_is_true(json_object_get(body, "all_sites"));
    if (all_sites && site && *site) {
        s_fail(resp, 400, "bad_request", "give a site or all_sites, not both");
        json_decref(body);
        return;
    }
    json_t *run = all_sites ? s_start_group(api, name, wait, resp)
                            : s_start_run(api, name, site, wait, "manual", resp);
    if (run) {
        unsigned status = resp->status;
        s_reply(resp, status, run);
    }
    json_decref(body);
}

/* A standby's view of the workers: what the leader publishes in etcd. */
static void s_workers_published(coord_api_t *api, s_resp_t *resp)
{
    mao_etcd_kvs_t kvs = {0};
    int rc = mao_etcd_list(api->server->etcd, "workers/", 500, 0, &kvs);
    s_note_etcd(api, rc);
    if (rc < 0) {
        s_fail_rc(resp, rc);
        return;
    }
    json_t *list = json_array();
    for (size_t i = 0; i < kvs.count; i++) {
        json_t *w = json_loadb(kvs.items[i].value, kvs.items[i].value_len, 0, NULL);
        if (json_is_object(w))
            json_array_append(list, w);
        json_decref(w);
    }
    mao_etcd_kvs_free(&kvs);
    s_reply(resp, 200, list);
}

static void s_workers(coord_api_t *api, s_resp_t *resp)
{
    if (!atomic_load(&api->server->leading)) {
        s_workers_published(api, resp);
        return;
    }
    pthread_mutex_lock(&api->server->lock);
    json_t *list = coord_dispatch_workers_json(api->server);
    pthread_mutex_unlock(&api->server->lock);
    s_reply(resp, 200, list);
}

/* The leadership thread; NULL for a moment after the API starts. */
static coord_lead_t *s_lead(coord_server_t *server)
{
    pthread_mutex_lock(&server->lock);
    coord_lead_t *lead = server->lead;
    pthread_mutex_unlock(&server->lock);
    return lead;
}

/* "leader" or "standby", and the leader's record as last seen (a new
 * reference, or NULL when none is known yet). */
static const char *s_role(coord_api_t *api, json_t **leader)
{
    coord_server_t *server = api->server;
    coord_lead_t *lead = s_lead(server);
    *leader = lead ? coord_lead_leader(lead) : NULL;
    return atomic_load(&server->leading) ? "leader" : "standby";
}

/* 1 when this coordinator leads and has read its runs and schedules back
 * from the store.  While the campaign is undecided or the state still loads
 * (the coordinator just started, or took over a moment ago) waits up to 3 s,
 * so that a request made right after a start is not turned away.  0 when
 * another leads; -1 when we lead but the store has not answered yet. */
static int s_await_leading(coord_api_t *api)
{
    coord_server_t *server = api->server;
    for (int i = 0; i < 150; i++) {
        if (atomic_load(&server->leading) && atomic_load(&server->queue_loaded))
            return 1;
        coord_lead_t *lead = s_lead(server);
        if (!atomic_load(&server->leading) && lead && coord_lead_follows(lead))
            return 0;
        usleep(20 * 1000);
    }
    return atomic_load(&server->leading) ? -1 : 0;
}

static void s_info(coord_api_t *api, s_resp_t *resp)
{
    s_await_leading(api); /* so that a client started with us learns who leads */
    const char *key = coord_auth_public_key(api->server->auth);
    json_t *leader = NULL;
    const char *role = s_role(api, &leader);
    s_reply(resp, 200, json_pack("{s:s, s:s, s:s, s:s?, s:s, s:o}", "version", MAO_VERSION,
                                 "events", api->server->events_endpoint, "workers",
                                 api->server->workers_endpoint, "curve_public_key", key, "role",
                                 role, "leader", leader ? leader : json_null()));
}

/* Runs and schedules live in the leader; a standby points there. */
static int s_needs_leader(const char *url)
{
    static const char *const prefixes[] = {"/v1/runs", "/v1/schedules", "/run"};
    const char *rest;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(url, prefixes[i], n) == 0 && (url[n] == '\0' || url[n] == '/'))
            return 1;
    }
    /* /v1/tools/NAME/{runs,schedules,history,why} */
    if (strncmp(url, "/v1/tools/", 10) == 0 && (rest = strchr(url + 10, '/')) != NULL)
        return strcmp(rest, "/runs") == 0 || strcmp(rest, "/schedules") == 0 ||
               strcmp(rest, "/history") == 0 || strcmp(rest, "/why") == 0;
    return 0;
}


static void s_standby(coord_api_t *api, s_resp_t *resp)
{
    json_t *leader = NULL;
    s_role(api, &leader);
    const char *url = json_string_value(json_object_get(leader, "api"));
    char msg[700];
    if (url)
        snprintf(msg, sizeof msg, "this coordinator stands by; the leader's API is at %s", url);
    else
        snprintf(msg, sizeof msg, "this coordinator stands by and no leader is known yet "
                                  "(is etcd reachable?); try again in a few seconds");
    s_reply(resp, 503, json_pack("{s:s, s:s, s:o}", "error", "standby", "message", msg, "leader",
                                 url ? json_string(url) : json_null()));
    json_decref(leader);
}

/* Prometheus text format. */
static void s_metrics(coord_api_t *api, s_resp_t *resp)
{
    coord_server_t *server = api->server;
    static const double bounds[COORD_DURATION_BUCKETS] = {0.5, 1,   2.5, 5,   10,   30,
                                                          60,  120, 300, 600, 1800, 3600};
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out) {
        s_fail(resp, 500, "internal", "out of memory");
        return;
    }
    pthread_mutex_lock(&server->lock);
    coord_metrics_t m = server->metrics;
    long up = 0, down = 0, queued = 0, running = 0;
    for (coord_worker_t *w = zhashx_first(server->workers); w; w = zhashx_next(server->workers))
        w->up ? up++ : down++;
    for (coord_run_t *r = coord_live_first(&server->live); r;
         r = coord_live_next(&server->live, r)) {
        if (r->status == COORD_RUN_QUEUED)
            queued++;
        else if (r->status == COORD_RUN_RUNNING)
            running++;
    }
    pthread_mutex_unlock(&server->lock);
    fprintf(out, "# HELP mao_runs_total Runs by final status (queued: runs made).\n"
                 "# TYPE mao_runs_total counter\n");
    for (int s = 0; s < COORD_RUN_STATUSES; s++)
        fprintf(out, "mao_runs_total{status=\"%s\"} %llu\n",
                coord_run_status_name((coord_run_status_t)s), (unsigned long long)m.runs_total[s]);
    fprintf(out, "# HELP mao_runs Runs now waiting or running.\n# TYPE mao_runs gauge\n"
                 "mao_runs{status=\"queued\"} %ld\nmao_runs{status=\"running\"} %ld\n",
            queued, running);
    fprintf(out, "# HELP mao_run_duration_seconds How long finished runs ran.\n"
                 "# TYPE mao_run_duration_seconds histogram\n");
    for (int i = 0; i < COORD_DURATION_BUCKETS; i++)
        fprintf(out, "mao_run_duration_seconds_bucket{le=\"%g\"} %llu\n", bounds[i],
                (unsigned long long)m.duration_buckets[i]);
    fprintf(out, "mao_run_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
                 "mao_run_duration_seconds_sum %.3f\nmao_run_duration_seconds_count %llu\n",
            (unsigned long long)m.duration_count, m.duration_sum,
            (unsigned long long)m.duration_count);
    fprintf(out, "# HELP mao_spikes_total Spikes detected.\n# TYPE mao_spikes_total counter\n"
                 "mao_spikes_total %llu\n", (unsigned long long)m.spikes_total);
    fprintf(out, "# HELP mao_workers Workers known, by state.\n# TYPE mao_workers gauge\n"
                 "mao_workers{state=\"up\"} %ld\nmao_workers{state=\"down\"} %ld\n", up, down);
    fprintf(out, "# HELP mao_runs_requeued_total Runs put back in the queue after their "
                 "worker was lost.\n# TYPE mao_runs_requeued_total counter\n"
                 "mao_runs_requeued_total %llu\n", (unsigned long long)m.requeued_total);
    fprintf(out, "# HELP mao_messages_dropped_total Malformed or unexpected worker messages.\n"
                 "# TYPE mao_messages_dropped_total counter\nmao_messages_dropped_total %llu\n",
            (unsigned long long)m.messages_dropped);
    fprintf(out, "# HELP mao_store_pending Writes waiting for etcd.\n# TYPE mao_store_pending "
                 "gauge\nmao_store_pending %zu\n", coord_store_pending(server->store));
    fprintf(out, "# HELP mao_notifications_pending Deliveries waiting (webhook, mail).\n"
                 "# TYPE mao_notifications_pending gauge\nmao_notifications_pending %zu\n",
            coord_notify_pending(server->notify));
    fprintf(out, "# HELP mao_etcd_up 1 while etcd answers.\n# TYPE mao_etcd_up gauge\n"
                 "mao_etcd_up %d\n", atomic_load(&server->etcd_up) &&
                                        coord_store_healthy(server->store));
    fclose(out);
    json_decref(resp->json);
    resp->json = NULL;
    resp->status = 200;
    resp->text = buf;
}

/* ---- schedules ------------------------------------------------------------------- */

/* Waits (lock held) until store unit `seq` is durable, at most `ms`.  Returns 1
 * when it is. */
static int s_wait_durable(coord_server_t *server, uint64_t seq, long ms)
{
    int64_t deadline = mao_now_ms() + ms;
    while (seq && coord_store_durable(server->store) < seq) {
        int64_t now = mao_now_ms();
        if (now >= deadline)
            return 0;
        int64_t until = deadline < now + 200 ? deadline : now + 200;
        struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (long)(until % 1000) * 1000000};
        pthread_cond_timedwait(&server->changed, &server->lock, &ts);
    }
    return 1;
}

/* Writes a schedule's record (lock held); returns the store unit. */
static uint64_t s_store_schedule(coord_server_t *server, coord_sched_t *sc, int removed)
{
    json_t *record = removed ? NULL : coord_sched_record(sc);
    coord_store_item_t item = {.kind = removed ? COORD_STORE_SCHEDULE_DELETE : COORD_STORE_SCHEDULE,
                               .id = sc->id,
                               .record = record};
    uint64_t seq = coord_store_write(server->store, &item, 1);
    json_decref(record);
    return seq;
}

/* Answers once the change is durable: `ok` status then, 202 when the store
 * is away (the change is kept and written when it returns). */
static void s_reply_durable(coord_server_t *server, s_resp_t *resp, uint64_t seq, unsigned ok,
                            json_t *json)
{
    if (s_wait_durable(server, seq, 5000)) {
        s_reply(resp, ok, json);
        return;
    }
    json_object_set_new(json, "pending",
                        json_string("the store does not answer; the change is kept and written "
                                    "as soon as it does"));
    s_reply(resp, 202, json);
}

/* POST /v1/tools/{name}/schedules */
static json_t *s_schedule_create(coord_api_t *api, const char *name, json_t *body, s_resp_t *resp)
{
    coord_server_t *server = api->server;
    coord_sched_t *sc = NULL;
    json_t *tool = NULL;
    int rc = coord_sched_from_request(&sc, body, name, mao_now_ms());
    if (rc < 0) {
        s_fail_rc(resp, rc);
        return NULL;
    }
    rc = coord_registry_get(&tool, server->registry, COORD_TOOLS, name);
    s_note_etcd(api, rc);
    if (rc < 0) {
        coord_sched_destroy(&sc);
        s_fail_rc(resp, rc);
        return NULL;
    }
    coord_tools_note(server->tools, tool);
    json_decref(tool);
    pthread_mutex_lock(&server->lock);
    coord_scheds_add(server->scheds, sc);
    uint64_t seq = s_store_schedule(server, sc, 0);
    json_t *json = coord_sched_to_json(sc);
    mao_log_info("sched", "schedule.created id=%s tool=%s trigger=\"%s\"", sc->id, sc->tool,
                 json_string_value(json_object_get(json, "trigger")));
    coord_server_wake(server);
    s_reply_durable(server, resp, seq, 201, json);
    pthread_mutex_unlock(&server->lock);
    snprintf(resp->location, sizeof resp->location, "/v1/schedules/%s",
             json_string_value(json_object_get(resp->json, "id")));
    return resp->json;
}

static void s_schedules(coord_api_t *api, struct MHD_Connection *conn, const char *method,
                        const char *rest, s_resp_t *resp)
{
    coord_server_t *server = api->server;
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (strcmp(method, "GET") != 0) {
            s_method_not_allowed(resp, "GET");
            return;
        }
        const char *tool = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "tool");
        json_t *list = json_array();
        pthread_mutex_lock(&server->lock);
        for (coord_sched_t *sc = coord_scheds_first(server->scheds); sc;
             sc = coord_scheds_next(server->scheds))
            if (!tool || strcmp(sc->tool, tool) == 0)
                json_array_append_new(list, coord_sched_to_json(sc));
        pthread_mutex_unlock(&server->lock);
        s_reply(resp, 200, list);
        return;
    }
    char id[MAO_ID_LEN + 1];
    const char *sub = strchr(rest + 1, '/');
    size_t idlen = sub ? (size_t)(sub - rest - 1) : strlen(rest + 1);
    snprintf(id, sizeof id, "%.*s", (int)(idlen < sizeof id ? idlen : sizeof id - 1), rest + 1);
    if (idlen != MAO_ID_LEN || mao_id_time_ms(id) < 0) {
        s_fail(resp, 404, "not_found", "no such schedule (a schedule id has 26 letters and "
                                       "digits, as 'maoctl schedule get' shows)");
        return;
    }
    pthread_mutex_lock(&server->lock);
    coord_sched_t *sc = coord_scheds_find(server->scheds, id);
    if (!sc) {
        pthread_mutex_unlock(&server->lock);
        s_fail(resp, 404, "not_found", "no such schedule");
        return;
    }
    if (!sub) {
        if (strcmp(method, "GET") == 0) {
            s_reply(resp, 200, coord_sched_to_json(sc));
        } else if (strcmp(method, "DELETE") == 0) {
            coord_sched_unclaim(server, sc);
            uint64_t seq = s_store_schedule(server, sc, 1);
            mao_log_info("sched", "schedule.removed id=%s tool=%s", sc->id, sc->tool);
            coord_scheds_remove(server->scheds, sc);
            coord_server_wake(server);
            s_reply_durable(server, resp, seq, 200,
                            json_pack("{s:s, s:b}", "id", id, "removed", 1));
        } else {
            s_method_not_allowed(resp, "GET, DELETE");
        }
    } else if (strcmp(sub, "/pause") == 0 || strcmp(sub, "/resume") == 0) {
        if (strcmp(method, "POST") != 0) {
            s_method_not_allowed(resp, "POST");
        } else {
            int pause = strcmp(sub, "/pause") == 0;
            if (pause && !sc->paused)
                coord_sched_unclaim(server, sc);
            coord_scheds_pause(server->scheds, sc, pause, mao_now_ms());
            uint64_t seq = s_store_schedule(server, sc, 0);
            mao_log_info("sched", "schedule.%s id=%s", pause ? "paused" : "resumed", sc->id);
            coord_server_wake(server);
            s_reply_durable(server, resp, seq, 200, coord_sched_to_json(sc));
        }
    } else if (strcmp(sub, "/preview") == 0) {
        long count;
        if (s_query_long(conn, "count", 10, 1, 1000, &count, resp) < 0) {
            pthread_mutex_unlock(&server->lock);
            return;
        }
        int64_t fires[1000];
        size_t n = 0;
        int64_t after = sc->next_slot - 1 > mao_now_ms() / 1000 ? sc->next_slot - 1
                                                              : mao_now_ms() / 1000;
        if (sc->paused)
            after = mao_now_ms() / 1000;
        mao_sched_preview(fires, (size_t)count, &n, sc->trigger, sc->anchor, after);
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) {
            char when[40];
            mao_time_iso(when, sizeof when, coord_sched_planned_ms(sc, fires[i]));
            json_array_append_new(list, json_string(when));
        }
        json_t *j = coord_sched_to_json(sc);
        json_object_set_new(j, "fires", list);
        s_reply(resp, 200, j);
    } else {
        s_fail(resp, 404, "not_found", "no such endpoint (see docs/api.md)");
    }
    pthread_mutex_unlock(&server->lock);
}

static void s_schedules_of(coord_api_t *api, const char *tool, s_resp_t *resp)
{
    json_t *list = json_array();
    pthread_mutex_lock(&api->server->lock);
    for (coord_sched_t *sc = coord_scheds_first(api->server->scheds); sc;
         sc = coord_scheds_next(api->server->scheds))
        if (strcmp(sc->tool, tool) == 0)
            json_array_append_new(list, coord_sched_to_json(sc));
    pthread_mutex_unlock(&api->server->lock);
    s_reply(resp, 200, list);
}

/* GET /v1/tools/{name}/history: the tool's runs, newest first, with their
 * control values, for `maoctl tool history`. */
static void s_tool_history(coord_api_t *api, struct MHD_Connection *conn, const char *name,
                           s_resp_t *resp)
{
    long limit;
    if (s_query_long(conn, "limit", 30, 1, 10000, &limit, resp) < 0)
        return;
    json_t *stored = NULL;
    int rc = s_history(&stored, api->server, name, NULL, 1, limit);
    s_note_etcd(api, rc);
    if (rc < 0) {
        s_fail_rc(resp, rc);
        return;
    }
    size_t n = json_array_size(stored), i;
    json_t **all = calloc(n ? n : 1, sizeof *all);
    json_t *r;
    json_array_foreach(stored, i, r) all[i] = r;
    qsort(all, n, sizeof *all, s_by_id_desc);
    json_t *list = json_array();
    static const char *keep[] = {"id",    "status",  "site",          "created_at",
                                 "finished_at", "slot_time", "control_value", "verdict",
                                 "spike", "reason",  "schedule",      NULL};
    for (i = 0; i < n && (long)i < limit; i++) {
        json_t *row = json_object();
        for (size_t k = 0; keep[k]; k++)
            json_object_set(row, keep[k], json_object_get(all[i], keep[k]) ?: json_null());
        json_array_append_new(list, row);
    }
    free(all);
    json_decref(stored);
    s_reply(resp, 200, list);
}

/* GET /v1/tools/{name}/why */
static void s_tool_why(coord_api_t *api, const char *name, s_resp_t *resp)
{
    coord_server_t *server = api->server;
    json_t *stored = NULL;
    int rc = s_history(&stored, server, name, NULL, 1, 200);
    s_note_etcd(api, rc);
    pthread_mutex_lock(&server->lock);
    json_t *why = coord_sched_why(server, name);
    pthread_mutex_unlock(&server->lock);
    json_t *last = NULL;
    size_t i;
    json_t *r;
    json_array_foreach(stored, i, r) {
        const char *st = json_string_value(json_object_get(r, "status"));
        if (!st || strcmp(st, "skipped") == 0 || strcmp(st, "missed") == 0)
            continue;
        if (!last || strcmp(json_string_value(json_object_get(r, "id")),
                            json_string_value(json_object_get(last, "id"))) > 0)
            last = r;
    }
    if (last) {
        json_t *row = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?}", "id", json_object_get(last, "id"),
                                "status", json_object_get(last, "status"), "finished_at",
                                json_object_get(last, "finished_at"), "site",
                                json_object_get(last, "site"), "verdict",
                                json_object_get(last, "verdict"));
        json_object_set_new(why, "last_run", row);
    } else {
        json_object_set_new(why, "last_run", rc < 0 ? json_string("unknown: the store does not "
                                                                  "answer")
                                                    : json_null());
    }
    json_decref(stored);
    s_reply(resp, 200, why);
}

/* ---- the original orchestrator's endpoints ------------------------------------------ */

/* GET /regtools, GET /datasets: a JSON array of the original's key paths. */
static void s_legacy_list(coord_api_t *api, s_resp_t *resp, coord_kind_t kind)
{
    json_t *list = NULL;
    int rc = coord_registry_list(&list, api->server->registry, kind);
    s_note_etcd(api, rc);
    if (rc < 0) {
        s_fail_rc(resp, rc);
        return;
    }
    json_t *paths = json_array();
    size_t i;
    json_t *record;
    json_array_foreach(list, i, record) {
        char path[96];
        snprintf(path, sizeof path, "/%s/%s", kind == COORD_TOOLS ? "tools" : "data",
                 json_string_value(json_object_get(record, "name")));
        json_array_append_new(paths, json_string(path));
    }
    json_decref(list);
    s_reply(resp, 200, paths);
}

/* POST /register and /regdata: store, answer a JSON string (the tool's JSON as
 * the original printed it, or the dataset's URL).  "replace": true in the body
 * overwrites an existing record. */
static void s_legacy_register(coord_api_t *api, s_req_t *req, s_resp_t *resp, coord_kind_t kind)
{
    json_t *body = s_body_object(req, resp);
    if (!body)
        return;
    json_t *replace = json_object_get(body, "replace");
    int replace_asked = json_is_true(replace);
    if (replace)
        json_object_del(body, "replace");
    s_registry_put(api, resp, kind, body, replace_asked);
    json_decref(body);
    if (resp->status >= 300)
        return;
    json_t *answer;
    if (kind == COORD_TOOLS) {
        char *text = json_dumps(resp->json, JSON_PRESERVE_ORDER); /* "{"name": "x", ...}" */
        answer = json_string(text ? text : "");
        free(text);
    } else {
        answer = json_string(json_string_value(json_object_get(resp->json, "url")));
    }
    resp->location[0] = '\0';
    s_reply(resp, 200, answer);
}

/* POST /retrieve {"name"}: clones a dataset into the coordinator's importdir. */
static void s_legacy_retrieve(coord_api_t *api, s_req_t *req, s_resp_t *resp)
{
    coord_server_t *server = api->server;
    json_t *body = s_body_object(req, resp);
    json_t *record = NULL;
    char dir[4200];
    char msg[4600];
    int rc;

    if (!body)
        return;
    const char *name = json_string_value(json_object_get(body, "name"));
    if (!name) {
        s_fail(resp, 400, "bad_request", "missing field \"name\"");
        goto cleanup;
    }
    rc = coord_registry_get(&record, server->registry, COORD_DATASETS, name);
    s_note_etcd(api, rc);
    if (rc < 0) {
        s_fail_rc(resp, rc);
        goto cleanup;
    }
    const char *url = json_string_value(json_object_get(record, "url"));
    snprintf(dir, sizeof dir, "%s/%s", server->importdir, name);
    pthread_mutex_lock(&server->retrieve_lock);
    if (mao_git_is_repo(dir)) {
        snprintf(msg, sizeof msg, "dataset %s is already at %s", name, dir);
        rc = 0;
    } else if ((rc = mao_fs_mkdirs(server->importdir, 0755)) == 0) {
        mao_git_opts_t opts = {.allow_local = server->allow_local, .timeout_s = 600};
        rc = mao_git_clone(url, dir, &opts);
        if (rc == 0) {
            snprintf(msg, sizeof msg, "dataset %s cloned into %s", name, dir);
            mao_log_info("registry", "dataset.retrieved name=%s dir=%s", name, dir);
        }
    }
    pthread_mutex_unlock(&server->retrieve_lock);
    if (rc == MAO_EFAIL)
        s_fail(resp, 502, "clone_failed", mao_error_last());
    else if (rc == MAO_ETIMEOUT)
        s_fail(resp, 504, "clone_timeout", mao_error_last());
    else if (rc < 0)
        s_fail_rc(resp, rc);
    else
        s_reply(resp, 200, json_string(msg));
cleanup:
    json_decref(record);
    json_decref(body);
}


/* POST /run {"name", "cron": false}: runs the tool now, waits, and answers the
 * original's report: tool, datadir, message, scheduler_output.exec_result. */
static void s_legacy_run(coord_api_t *api, s_req_t *req, s_resp_t *resp)
{
    json_t *body = s_body_object(req, resp);
    if (!body)
        return;
    const char *name = json_string_value(json_object_get(body, "name"));
    if (!name) {
        s_fail(resp, 400, "bad_request", "missing field \"name\"");
        json_decref(body);
        return;
    }
    if (json_is_true(json_object_get(body, "cron"))) {
        /* The original's scheduling: {"name", "cron": true, "frequency": daily|weekly}. */
        const char *freq = json_string_value(json_object_get(body, "frequency"));
        json_t *request = json_pack("{s:s}", "frequency", freq ? freq : "");
        json_t *sched = s_schedule_create(api, name, request, resp);
        json_decref(request);
        if (sched) {
            char msg[256];
            snprintf(msg, sizeof msg, "Tool %s scheduled to run %s (job %s)", name, freq,
                     json_string_value(json_object_get(sched, "id")));
            json_t *answer = json_pack(
                "{s:s, s:n, s:s, s:{s:O, s:O}}", "tool", name, "datadir", "message", msg,
                "scheduler_output", "job_id", json_object_get(sched, "id"), "next_run_time",
                json_object_get(sched, "next_fire"));
            resp->location[0] = '\0';
            s_reply(resp, 200, answer);
        }
        json_decref(body);
        return;
    }
    json_t *run = s_start_run(api, name, NULL, 24 * 3600, "legacy", resp);
    if (!run) {
        json_decref(body);
        return;
    }
    const char *status = json_string_value(json_object_get(run, "status"));
    json_t *report = json_object_get(run, "report");
    json_t *datadir = json_object_get(run, "datadir");
    if (!status || strcmp(status, "succeeded") != 0) {
        char msg[1200];
        snprintf(msg, sizeof msg, "run %s of %s %s: %s",
                 json_string_value(json_object_get(run, "id")), name, status ? status : "?",
                 json_string_value(json_object_get(run, "reason")) ?: "no reason given");
        s_fail(resp, 502, "run_failed", msg);
        json_decref(run);
        json_decref(body);
        return;
    }
    json_t *exec = json_object();
    static const char *keep[] = {"datapath", "snapshots", "spike", "rolling_avg",
                                 "control_metric", "diff", "gain", "error", NULL};
    for (size_t i = 0; keep[i]; i++) {
        json_t *v = json_object_get(report, keep[i]);
        if (v)
            json_object_set(exec, keep[i], v);
    }
    const char *verdict = json_string_value(json_object_get(run, "verdict")) ?: "no report";
    char msg[600];
    snprintf(msg, sizeof msg, "Tool %s ran at site %s: %s", name,
             json_string_value(json_object_get(run, "site")) ?: "?", verdict);
    s_reply(resp, 200, json_pack("{s:s, s:O, s:s, s:{s:o}}", "tool", name, "datadir",
                                 datadir ? datadir : json_null(), "message", msg,
                                 "scheduler_output", "exec_result", exec));
    resp->location[0] = '\0';
    json_decref(run);
    json_decref(body); /* `name` points into it */
}

/* ---- routing ---------------------------------------------------------------- */

static void s_healthz(coord_api_t *api, s_resp_t *resp)
{
    int rc = mao_etcd_ping(api->server->etcd);
    s_note_etcd(api, rc);
    if (rc < 0) {
        char msg[1200];
        snprintf(msg, sizeof msg, "etcd unreachable: %s", mao_error_last());
        s_reply(resp, 503, json_pack("{s:s, s:s, s:s}", "status", "degraded", "etcd", "down",
                                     "message", msg));
        return;
    }
    json_t *leader = NULL;
    const char *role = s_role(api, &leader);
    const char *url = json_string_value(json_object_get(leader, "api"));
    s_reply(resp, 200, json_pack("{s:s, s:s, s:s, s:s, s:o}", "status", "ok", "etcd", "up",
                                 "version", MAO_VERSION, "role", role, "leader",
                                 url ? json_string(url) : json_null()));
    json_decref(leader);
}

static int s_prefix(const char *url, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(url, prefix, n) != 0 || (url[n] != '\0' && url[n] != '/'))
        return 0;
    *rest = url + n;
    return 1;
}

static void s_route(coord_api_t *api, struct MHD_Connection *conn, const char *method,
                    const char *url, s_req_t *req, s_resp_t *resp)
{
    const char *rest;
    int get = strcmp(method, "GET") == 0;
    int post = strcmp(method, "POST") == 0;
    int ready;

    if (req->too_large) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body is larger than %d bytes", COORD_API_MAX_BODY);
        s_fail(resp, 413, "too_large", msg);
    } else if (s_needs_leader(url) && (ready = s_await_leading(api)) <= 0) {
        if (ready == 0)
            s_standby(api, resp);
        else
            s_fail(resp, 503, "unavailable", "this coordinator leads but has not read its runs "
                                             "and schedules back from the store yet (is etcd, or "
                                             "PostgreSQL, reachable?); retry in a few seconds");
    } else if (strcmp(url, "/healthz") == 0) {
        if (get)
            s_healthz(api, resp);
        else
            s_method_not_allowed(resp, "GET");
    } else if (s_prefix(url, "/v1/tools", &rest)) {
        s_registry(api, conn, method, COORD_TOOLS, rest, req, resp);
    } else if (s_prefix(url, "/v1/datasets", &rest)) {
        s_registry(api, conn, method, COORD_DATASETS, rest, req, resp);
    } else if (s_prefix(url, "/v1/runs", &rest)) {
        if (!get)
            s_method_not_allowed(resp, "GET");
        else if (*rest == '\0' || strcmp(rest, "/") == 0)
            s_run_list(api, conn, resp);
        else
            s_run_get(api, conn, rest + 1, resp);
    } else if (s_prefix(url, "/v1/schedules", &rest)) {
        s_schedules(api, conn, method, rest, resp);
    } else if (strcmp(url, "/v1/workers") == 0) {
        if (get)
            s_workers(api, resp);
        else
            s_method_not_allowed(resp, "GET");
    } else if (strcmp(url, "/v1/info") == 0) {
        if (get)
            s_info(api, resp);
        else
            s_method_not_allowed(resp, "GET");
    } else if (strcmp(url, "/metrics") == 0) {
        if (get)
            s_metrics(api, resp);
        else
            s_method_not_allowed(resp, "GET");
    } else if (strcmp(url, "/run") == 0) {
        if (post)
            s_legacy_run(api, req, resp);
        else
            s_method_not_allowed(resp, "POST");
    } else if (strcmp(url, "/regtools") == 0) {
        if (get)
            s_legacy_list(api, resp, COORD_TOOLS);
        else
            s_method_not_allowed(resp, "GET");
    } else if (strcmp(url, "/datasets") == 0) {
        if (get)
            s_legacy_list(api, resp, COORD_DATASETS);
        else
            s_method_not_allowed(resp, "GET");
    } else if (strcmp(url, "/register") == 0) {
        if (post)
            s_legacy_register(api, req, resp, COORD_TOOLS);
        else
            s_method_not_allowed(resp, "POST");
    } else if (strcmp(url, "/regdata") == 0) {
        if (post)
            s_legacy_register(api, req, resp, COORD_DATASETS);
        else
            s_method_not_allowed(resp, "POST");
    } else if (strcmp(url, "/retrieve") == 0) {
        if (post)
            s_legacy_retrieve(api, req, resp);
        else
            s_method_not_allowed(resp, "POST");
    } else {
        s_fail(resp, 404, "not_found", "no such endpoint (see docs/api.md)");
    }
}

/* ---- libmicrohttpd glue -------------------------------------------------------- */

static enum MHD_Result s_send(struct MHD_Connection *conn, s_resp_t *resp)
{
    char *text = NULL;
    size_t len = 0;
    int plain = resp->text != NULL;
    if (plain) {
        text = resp->text;
        resp->text = NULL;
        len = strlen(text);
    } else if (resp->json) {
        text = json_dumps(resp->json, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text) {
            len = strlen(text);
            char *nl = realloc(text, len + 2);
            if (nl) {
                text = nl;
                text[len++] = '\n';
                text[len] = '\0';
            }
        }
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, text ? text : (char *)"", text ? MHD_RESPMEM_MUST_FREE
                                                                            : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    if (text)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                plain ? "text/plain; version=0.0.4; charset=utf-8"
                                      : "application/json");
    if (resp->allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
    if (resp->location[0])
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, resp->location);
    if (resp->challenge)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"mao\"");
    enum MHD_Result ret = MHD_queue_response(conn, resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Compares in time that depends only on the lengths, not on where they differ. */
static int s_same_secret(const char *given, const char *secret)
{
    size_t a = strlen(given), b = strlen(secret);
    unsigned char diff = a != b;
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned char)(given[i < a ? i : 0] ^ secret[i]);
    return diff == 0;
}

/* With a token configured, changes need it (reads too unless api_open_reads);
 * /healthz never does.  Returns 1 to go on, 0 after a 401. */
static int s_authorized(coord_api_t *api, struct MHD_Connection *conn, const char *method,
                        const char *url, s_resp_t *resp)
{
    if (!api->token || strcmp(url, "/healthz") == 0)
        return 1;
    int read = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (read && api->open_reads)
        return 1;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (h && strncasecmp(h, "Bearer ", 7) == 0 && s_same_secret(h + 7, api->token))
        return 1;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char addr[INET6_ADDRSTRLEN] = "-";
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, sizeof addr);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr, sizeof addr);
    }
    mao_log_warn("api", "request.unauthorized method=%s path=%s address=%s token=%s", method,
                 url, addr, h ? "wrong" : "missing");
    s_fail(resp, 401, "unauthorized",
           h ? "the API token is wrong"
             : read ? "this coordinator needs its API token for every request: send "
                      "'Authorization: Bearer TOKEN' (maoctl: set MAO_TOKEN)"
                    : "changes need the API token: send 'Authorization: Bearer TOKEN' (maoctl: "
                      "set MAO_TOKEN)");
    resp->challenge = 1;
    return 0;
}

static enum MHD_Result s_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    coord_api_t *api = cls;
    s_req_t *req = *con_cls;

    if (!req) {
        if (!(req = calloc(1, sizeof *req)))
            return MHD_NO;
        *con_cls = req;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > COORD_API_MAX_BODY)
            req->too_large = 1;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->too_large || req->len + n > COORD_API_MAX_BODY) {
            req->too_large = 1;
            return MHD_YES;
        }
        char *grown = realloc(req->body, req->len + n + 1);
        if (!grown)
            return MHD_NO;
        req->body = grown;
        memcpy(req->body + req->len, upload_data, n);
        req->len += n;
        req->body[req->len] = '\0';
        return MHD_YES;
    }
    s_resp_t resp = {.status = 500};
    mao_error_clear();
    if (s_authorized(api, conn, method, url, &resp))
        s_route(api, conn, method, url, req, &resp);
    if (!resp.json && !resp.text && resp.status >= 400)
        s_fail(&resp, 500, "internal", "out of memory");
    mao_log_debug("api", "request method=%s path=%s status=%u", method, url, resp.status);
    enum MHD_Result ret = s_send(conn, &resp);
    json_decref(resp.json);
    free(resp.text);
    return ret;
}

static void s_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    s_req_t *req = *con_cls;
    if (req) {
        free(req->body);
        free(req);
        *con_cls = NULL;
    }
}

static void s_on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    mao_log_warn("api", "http.error detail=\"%s\"", line);
}

/* Opens the listening socket ourselves, so that a busy or bad address is a
 * clear error at start-up. */
static int s_listen(coord_api_t *self, const char *bind_addr)
{
    char host[256];
    const char *colon = strrchr(bind_addr, ':');
    if (!colon || colon == bind_addr || !colon[1]) {
        mao_error_set("API address '%s' must be host:port", bind_addr);
        return MAO_EINVAL;
    }
    size_t hlen = (size_t)(colon - bind_addr);
    if (hlen >= sizeof host)
        return MAO_EINVAL;
    memcpy(host, bind_addr, hlen);
    host[hlen] = '\0';
    if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, colon + 1, &hints, &ai);
    if (gai != 0) {
        mao_error_set("API address '%s': %s", bind_addr, gai_strerror(gai));
        return MAO_EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
        mao_error_set("cannot listen on %s: %s", bind_addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return MAO_EFAIL;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    self->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    self->fd = fd;
    return 0;
}

/* Reads a small text file whole (a token, a PEM file). */
static char *s_read_small(const char *path, const char *what)
{
    char *text = NULL;
    size_t len = 0;
    if (mao_fs_read(path, 1 << 20, &text, &len) < 0) {
        mao_error_prefix("%s", what);
        return NULL;
    }
    return text;
}

/* The token, TLS and who may reach the API, from [COORDINATOR]. */
static int s_security(coord_api_t *self, const mao_cfg_t *cfg, const char *bind_addr)
{
    int insecure = 0, rc;
    const char *token = mao_cfg_get(cfg, "COORDINATOR", "api_token");
    const char *token_file = mao_cfg_get(cfg, "COORDINATOR", "api_token_file");
    const char *cert = mao_cfg_get(cfg, "COORDINATOR", "tls_cert");
    const char *key = mao_cfg_get(cfg, "COORDINATOR", "tls_key");
    if ((rc = mao_cfg_get_bool(cfg, "COORDINATOR", "insecure", &insecure)) < 0 ||
        (rc = mao_cfg_get_bool(cfg, "COORDINATOR", "api_open_reads", &self->open_reads)) < 0)
        return rc;
    if (*token && *token_file) {
        mao_error_set("[COORDINATOR] api_token and api_token_file: set one of them");
        return MAO_EINVAL;
    }
    if (*token_file) {
        if (!(self->token = s_read_small(token_file, "[COORDINATOR] api_token_file")))
            return MAO_EINVAL;
        size_t n = strlen(self->token);
        while (n > 0 && (self->token[n - 1] == '\n' || self->token[n - 1] == '\r' ||
                         self->token[n - 1] == ' '))
            self->token[--n] = '\0';
    } else if (*token) {
        self->token = strdup(token);
    }
    if (self->token && strlen(self->token) < 16) {
        mao_error_set("[COORDINATOR] the API token is shorter than 16 characters: use a long "
                      "random one (e.g. from 'head -c 32 /dev/urandom | base64')");
        return MAO_EINVAL;
    }
    if (!self->token && !mao_endpoint_is_local(bind_addr)) {
        if (!insecure) {
            mao_error_set("[COORDINATOR] api = %s is reachable beyond this machine without a "
                          "token: set api_token or api_token_file, or say insecure = true",
                          bind_addr);
            return MAO_EINVAL;
        }
        mao_log_warn("api", "insecure api=%s detail=\"anyone who reaches it can change the "
                            "registry and the schedules\"",
                     bind_addr);
    }
    if (*cert || *key) {
        if (!*cert || !*key) {
            mao_error_set("[COORDINATOR] tls_cert and tls_key go together");
            return MAO_EINVAL;
        }
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            mao_error_set("this libmicrohttpd has no TLS support");
            return MAO_EINVAL;
        }
        if (!(self->tls_cert = s_read_small(cert, "[COORDINATOR] tls_cert")) ||
            !(self->tls_key = s_read_small(key, "[COORDINATOR] tls_key")))
            return MAO_EINVAL;
    }
    return 0;
}

int coord_api_start(coord_api_t **out, coord_server_t *server, const char *bind_addr)
{
    int rc;
    coord_api_t *self = calloc(1, sizeof *self);
    if (!self)
        return MAO_ENOMEM;
    self->server = server;
    self->fd = -1;
    if ((rc = s_security(self, server->cfg, bind_addr)) < 0 ||
        (rc = s_listen(self, bind_addr)) < 0)
        goto cleanup;
    unsigned flags =
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (self->tls_cert)
        self->mhd = MHD_start_daemon(
            flags | MHD_USE_TLS, 0, NULL, NULL, s_on_request, self, MHD_OPTION_EXTERNAL_LOGGER,
            s_on_mhd_log, self, MHD_OPTION_LISTEN_SOCKET, self->fd, MHD_OPTION_NOTIFY_COMPLETED,
            s_on_completed, self, MHD_OPTION_CONNECTION_LIMIT, 512u,
            MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_HTTPS_MEM_CERT, self->tls_cert,
            MHD_OPTION_HTTPS_MEM_KEY, self->tls_key, MHD_OPTION_END);
    else
        self->mhd = MHD_start_daemon(
            flags, 0, NULL, NULL, s_on_request, self, MHD_OPTION_EXTERNAL_LOGGER, s_on_mhd_log,
            self, MHD_OPTION_LISTEN_SOCKET, self->fd, MHD_OPTION_NOTIFY_COMPLETED, s_on_completed,
            self, MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
            MHD_OPTION_END);
    if (!self->mhd) {
        mao_error_set("cannot start the HTTP server on %s", bind_addr);
        rc = MAO_EFAIL;
        goto cleanup;
    }
    *out = self;
    return 0;
cleanup:
    coord_api_stop(&self);
    return rc;
}

int coord_api_port(coord_api_t *self)
{
    return self->port;
}

void coord_api_stop(coord_api_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_api_t *self = *self_p;
    if (self->mhd)
        MHD_stop_daemon(self->mhd);
    if (self->fd >= 0)
        close(self->fd);
    free(self->token);
    free(self->tls_cert);
    free(self->tls_key);
    free(self);
    *self_p = NULL;
}
