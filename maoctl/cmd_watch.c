/*
 * maoctl watch: prints the coordinator's events as they happen.
 *
 * Subscribes to the coordinator's PUB socket (its address comes from
 * GET /v1/info, or --events); each event is a topic frame and a msgpack map.
 */
#include "ctl.h"
#include "mao_curve.h"
#include "mao_msg.h"

#include <czmq.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char *s_help_watch =
    "Usage: maoctl watch [--topic TOPIC]... [--count N] [--timeout SECONDS] [--events ENDPOINT]\n"
    "\n"
    "Prints the coordinator's events as they happen, one line each: run.queued,\n"
    "run.started, run.finished, spike, worker.up, worker.down.  Stops on Ctrl-C,\n"
    "after N events, or after SECONDS.\n"
    "\n"
    "Options:\n"
    "  --topic TOPIC       only events whose topic starts with TOPIC (repeatable)\n"
    "  --count N           stop after N events\n"
    "  --timeout SECONDS   stop after this long\n"
    "  --events ENDPOINT   the events socket (default: as the coordinator announces\n"
    "                      it in GET /v1/info, or $MAO_EVENTS)\n"
    "  --key CERT          this client's CURVE certificate (from 'maoctl keygen'),\n"
    "                      for a coordinator that uses keys (default: $MAO_KEY);\n"
    "                      its public part must be in the coordinator's\n"
    "                      curve_clients folder\n"
    "  --server-key KEY    the coordinator's public key (default: as announced in\n"
    "                      GET /v1/info, or $MAO_SERVER_KEY)\n"
    "  -o json             one JSON object per line\n";

enum { OPT_TOPIC = 1000, OPT_COUNT, OPT_TIMEOUT, OPT_EVENTS, OPT_KEY, OPT_SERVER_KEY };

typedef struct {
    const char *topics[16];
    int ntopics;
    long count;
    long timeout;
    const char *events;
    const char *key;
    const char *server_key;
} s_opts_t;

static int s_opt(int id, const char *value, void *arg)
{
    s_opts_t *o = arg;
    char *end = NULL;
    switch (id) {
    case OPT_TOPIC:
        if (o->ntopics < 16)
            o->topics[o->ntopics++] = value;
        return CTL_OK;
    case OPT_COUNT:
        o->count = strtol(value, &end, 10);
        return *value && !*end && o->count > 0
                   ? CTL_OK
                   : ctl_usage_error(s_help_watch, "--count needs a whole number > 0");
    case OPT_TIMEOUT:
        o->timeout = strtol(value, &end, 10);
        return *value && !*end && o->timeout > 0
                   ? CTL_OK
                   : ctl_usage_error(s_help_watch, "--timeout needs seconds > 0");
    case OPT_EVENTS: o->events = value; return CTL_OK;
    case OPT_KEY: o->key = value; return CTL_OK;
    case OPT_SERVER_KEY: o->server_key = value; return CTL_OK;
    }
    return CTL_USAGE;
}

/* The events endpoint the coordinator announced, with a wildcard host
 * replaced by the host maoctl reaches the coordinator at. */
static int s_endpoint(ctl_t *ctl, char *out, size_t size, char server_key[MAO_CURVE_KEY_LEN + 1])
{
    json_t *info = NULL;
    int rc = ctl_call(ctl, "GET", "/v1/info", NULL, 10000, &info);
    if (rc != CTL_OK)
        return rc;
    /* Events come from the leader; a standby names it. */
    const char *role = json_string_value(json_object_get(info, "role"));
    const char *leader = json_string_value(json_object_get(json_object_get(info, "leader"), "api"));
    if (role && strcmp(role, "standby") == 0) {
        if (!leader) {
            json_decref(info);
            return ctl_fail("the coordinator at %s stands by and knows no leader yet; try again "
                            "in a few seconds", ctl->server);
        }
        ctl_use_server(ctl, leader);
        json_decref(info);
        if ((rc = ctl_call(ctl, "GET", "/v1/info", NULL, 10000, &info)) != CTL_OK)
            return rc;
    }
    const char *ep = json_string_value(json_object_get(info, "events"));
    if (!ep) {
        json_decref(info);
        return ctl_fail("the coordinator did not say where its events are");
    }
    const char *host_start = strstr(ctl->server, "://");
    char host[256] = "127.0.0.1";
    if (host_start) {
        host_start += 3;
        size_t n = strcspn(host_start, ":/");
        if (n > 0 && n < sizeof host)
            snprintf(host, sizeof host, "%.*s", (int)n, host_start);
    }
    const char *key = json_string_value(json_object_get(info, "curve_public_key"));
    if (key && !server_key[0])
        snprintf(server_key, MAO_CURVE_KEY_LEN + 1, "%s", key);
    const char *colon = strrchr(ep, ':');
    if (strncmp(ep, "tcp://*:", 8) == 0 || strncmp(ep, "tcp://0.0.0.0:", 14) == 0)
        snprintf(out, size, "tcp://%s%s", host, colon);
    else
        snprintf(out, size, "%s", ep);
    json_decref(info);
    return CTL_OK;
}

static void s_print(ctl_t *ctl, const char *topic, json_t *event)
{
    if (ctl->json) {
        if (!json_object_get(event, "topic"))
            json_object_set_new(event, "topic", json_string(topic));
        char *text = json_dumps(event, JSON_COMPACT);
        if (text)
            puts(text);
        free(text);
        fflush(stdout);
        return;
    }
    static const char *keys[] = {"run",     "tool",   "status", "attempt", "site",
                                 "worker",  "verdict", "control_value", "capacity",
                                 "reason", "message", NULL};
    printf("%s %-12s", json_string_value(json_object_get(event, "time")) ?: "-", topic);
    for (size_t i = 0; keys[i]; i++) {
        json_t *v = json_object_get(event, keys[i]);
        if (!v || json_is_null(v))
            continue;
        char *text = json_is_string(v) ? strdup(json_string_value(v))
                                       : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        printf(" %s=", keys[i]);
        if (text && strchr(text, ' ')) {
            putchar('"');
            ctl_print_safe(stdout, text);
            putchar('"');
        } else {
            ctl_print_safe(stdout, text ? text : "");
        }
        free(text);
    }
    putchar('\n');
    fflush(stdout);
}

int cmd_watch(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"topic", required_argument, NULL, OPT_TOPIC},
                                         {"count", required_argument, NULL, OPT_COUNT},
                                         {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                         {"events", required_argument, NULL, OPT_EVENTS},
                                         {"key", required_argument, NULL, OPT_KEY},
                                         {"server-key", required_argument, NULL, OPT_SERVER_KEY},
                                         {NULL, 0, NULL, 0}};
    s_opts_t o = {0};
    int first;
    int rc = ctl_parse(ctl, argc, argv, s_help_watch, opts, s_opt, &o, &first);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    if (argc - first != 0)
        return ctl_usage_error(s_help_watch, "watch takes no arguments");
    char endpoint[512];
    char server_key[MAO_CURVE_KEY_LEN + 1] = "";
    const char *env = getenv("MAO_EVENTS");
    const char *key = o.key ? o.key : getenv("MAO_KEY");
    const char *skey = o.server_key ? o.server_key : getenv("MAO_SERVER_KEY");
    if (skey && *skey && mao_curve_public_key(server_key, skey) < 0)
        return ctl_fail("--server-key: %s", mao_error_last());
    if (o.events)
        snprintf(endpoint, sizeof endpoint, "%s", o.events);
    else if (env && *env)
        snprintf(endpoint, sizeof endpoint, "%s", env);
    else if ((rc = s_endpoint(ctl, endpoint, sizeof endpoint, server_key)) != CTL_OK)
        return rc;
    zcert_t *cert = NULL;
    if (key && *key && mao_curve_load(&cert, key, 1) < 0)
        return ctl_fail("--key: %s", mao_error_last());
    if (server_key[0] && !cert)
        return ctl_fail("the coordinator's events need a CURVE key: make one with 'maoctl keygen "
                        "NAME', have NAME put in the coordinator's curve_clients folder, then "
                        "use --key NAME (or MAO_KEY=NAME)");
    if (cert && !server_key[0]) {
        zcert_destroy(&cert);
        return ctl_fail("--key needs the coordinator's public key: it does not announce one; "
                        "give --server-key");
    }

    zsys_handler_set(NULL);
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (!sub) {
        zcert_destroy(&cert);
        return ctl_fail("out of memory");
    }
    if (cert) {
        zcert_apply(cert, sub);
        zsock_set_curve_serverkey(sub, server_key);
        zcert_destroy(&cert);
    }
    zsock_set_maxmsgsize(sub, MAO_MSG_MAX + 4096);
    if (o.ntopics == 0)
        zsock_set_subscribe(sub, "");
    for (int i = 0; i < o.ntopics; i++)
        zsock_set_subscribe(sub, o.topics[i]);
    if (zsock_connect(sub, "%s", endpoint) < 0) {
        zsock_destroy(&sub);
        return ctl_fail("cannot connect to the events at %s: %s", endpoint,
                        zmq_strerror(zmq_errno()));
    }
    if (!ctl->json && ctl->tty)
        fprintf(stderr, "watching %s (Ctrl-C to stop)\n", endpoint);
    int64_t deadline = o.timeout ? zclock_mono() + o.timeout * 1000 : 0;
    long seen = 0;
    zpoller_t *poller = zpoller_new(sub, NULL);
    while (!zsys_interrupted) {
        int wait = 500;
        if (deadline) {
            int64_t left = deadline - zclock_mono();
            if (left <= 0)
                break;
            wait = left < wait ? (int)left : wait;
        }
        if (!zpoller_wait(poller, wait)) {
            if (zpoller_terminated(poller))
                break;
            continue;
        }
        zmsg_t *msg = zmsg_recv(sub);
        if (!msg)
            break;
        char *topic = zmsg_popstr(msg);
        zframe_t *body = zmsg_pop(msg);
        json_t *event = NULL;
        if (topic && body && mao_msg_decode(&event, zframe_data(body), zframe_size(body)) == 0) {
            s_print(ctl, topic, event);
            seen++;
        }
        json_decref(event);
        zframe_destroy(&body);
        zstr_free(&topic);
        zmsg_destroy(&msg);
        if (o.count && seen >= o.count)
            break;
    }
    zpoller_destroy(&poller);
    zsock_destroy(&sub);
    return CTL_OK;
}
