/*
 * maoctl tool schedule, maoctl schedule get|remove|pause|resume|preview,
 * maoctl tool history, maoctl why.
 */
#include "ctl.h"
#include "mao_id.h"
#include "mao_name.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *s_help_tool_schedule =
    "Usage: maoctl tool schedule NAME {daily|weekly} [options]\n"
    "       maoctl tool schedule NAME --every DURATION [options]\n"
    "       maoctl tool schedule NAME --cron 'EXPR' [--tz ZONE] [options]\n"
    "\n"
    "Runs the tool periodically.  daily and weekly run every 24 h / 7 days from now\n"
    "(as the original); --every takes 90s, 15m, 6h, 1h30m, 2d; --cron takes five\n"
    "fields (minute hour day-of-month month day-of-week; ranges, steps, lists,\n"
    "names) or @hourly, @daily, @weekly, @monthly, in UTC or in ZONE (e.g.\n"
    "Europe/Zurich; a time skipped by a DST change runs at the next valid minute,\n"
    "a repeated one runs once).\n"
    "\n"
    "Options:\n"
    "  --site SITE            run at this site\n"
    "  --all-sites            run each slot once at every site with a worker up,\n"
    "                         side by side in one group (maoctl tool history)\n"
    "  --start TIME           first run at TIME (ISO 8601 with an offset, e.g.\n"
    "                         2026-11-22T02:00:00Z), then every interval from it;\n"
    "                         for --cron, the first slot at or after TIME\n"
    "  --grace DURATION       a slot later than this (the coordinator was away) is\n"
    "                         recorded as missed instead of run (default 1h)\n"
    "  --no-coalesce          after an absence run every due slot, not only the latest\n"
    "  --overlap POLICY       when the previous run still runs: skip (default),\n"
    "                         queue-one, or allow\n"
    "  --max-run DURATION     stop a run after this long\n"
    "  --retries N            retry a slot whose run failed for the infrastructure's\n"
    "                         sake (image, dataset, Docker; not the tool's own failure)\n"
    "  --retry-backoff DUR    first retry after this, doubling (default 1m)\n"
    "  --jitter DURATION      start runs up to this late, the same offset for the same\n"
    "                         tool every time\n"
    "  -o json                print the schedule as JSON\n";

static const char *s_help_schedule =
    "Usage: maoctl schedule <verb> [options]\n"
    "\n"
    "Verbs:\n"
    "  get [ID] [--tool T]    list schedules, or show one\n"
    "  remove ID              remove a schedule (runs in flight go on)\n"
    "  pause ID               stop firing until resumed (paused slots are not expected)\n"
    "  resume ID              fire again, from the next slot after now\n"
    "  preview ID [--count N] the next fire times\n"
    "\n"
    "Make schedules with 'maoctl tool schedule NAME ...'.\n";

static const char *s_help_history =
    "Usage: maoctl tool history NAME [--limit N] [-o json]\n"
    "\n"
    "The tool's recent runs, oldest first, with their control metric; a sparkline of\n"
    "the values on a terminal; spikes are marked.\n";

static const char *s_help_why =
    "Usage: maoctl why NAME [-o json]\n"
    "\n"
    "When the tool last ran, when it fires next, and why its last expected run did\n"
    "not happen when it did not (the coordinator was away, the previous run still\n"
    "ran, no worker is up at its site, it is paused, ...).\n";

enum {
    OPT_EVERY = 1000, OPT_CRON, OPT_TZ, OPT_SITE, OPT_GRACE, OPT_NO_COALESCE, OPT_OVERLAP,
    OPT_MAX_RUN, OPT_RETRIES, OPT_BACKOFF, OPT_JITTER, OPT_START, OPT_TOOL, OPT_COUNT, OPT_LIMIT,
    OPT_ALL_SITES
};

typedef struct {
    json_t *body;
    const char *tool;
    long count;
    long limit;
} s_opts_t;

static int s_opt(int id, const char *value, void *arg)
{
    s_opts_t *o = arg;
    char *end = NULL;
    static const char *keys[] = {[OPT_EVERY - OPT_EVERY] = "every",
                                 [OPT_CRON - OPT_EVERY] = "cron",
                                 [OPT_TZ - OPT_EVERY] = "tz",
                                 [OPT_SITE - OPT_EVERY] = "site",
                                 [OPT_GRACE - OPT_EVERY] = "misfire_grace_s",
                                 [OPT_OVERLAP - OPT_EVERY] = "overlap",
                                 [OPT_MAX_RUN - OPT_EVERY] = "max_run_s",
                                 [OPT_BACKOFF - OPT_EVERY] = "retry_backoff_s",
                                 [OPT_JITTER - OPT_EVERY] = "jitter_s",
                                 [OPT_START - OPT_EVERY] = "start"};
    switch (id) {
    case OPT_NO_COALESCE: json_object_set_new(o->body, "coalesce", json_false()); return CTL_OK;
    case OPT_ALL_SITES: json_object_set_new(o->body, "all_sites", json_true()); return CTL_OK;
    case OPT_RETRIES: {
        long n = strtol(value, &end, 10);
        if (!*value || *end || n < 0)
            return ctl_usage_error(s_help_tool_schedule, "--retries needs a whole number");
        json_object_set_new(o->body, "retries", json_integer(n));
        return CTL_OK;
    }
    case OPT_TOOL: o->tool = value; return CTL_OK;
    case OPT_COUNT:
    case OPT_LIMIT: {
        long n = strtol(value, &end, 10);
        if (!*value || *end || n < 1)
            return ctl_usage_error(NULL, "%s needs a whole number > 0",
                                   id == OPT_COUNT ? "--count" : "--limit");
        if (id == OPT_COUNT)
            o->count = n;
        else
            o->limit = n;
        return CTL_OK;
    }
    default:
        if (id >= OPT_EVERY && id <= OPT_START && keys[id - OPT_EVERY]) {
            json_object_set_new(o->body, keys[id - OPT_EVERY], json_string(value));
            return CTL_OK;
        }
    }
    return CTL_USAGE;
}

static const char *s_str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static void s_print_schedule(json_t *sc)
{
    static const char *keys[] = {"id",      "tool",     "trigger",   "site",      "next_fire",
                                 "paused",  "overlap",  "coalesce",  "misfire_grace_s",
                                 "max_run_s", "retries", "jitter_s", "active_run", NULL};
    for (size_t i = 0; keys[i]; i++) {
        json_t *v = json_object_get(sc, keys[i]);
        if (!v || json_is_null(v))
            continue;
        char *text = json_is_string(v) ? strdup(json_string_value(v))
                                       : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        printf("%-16s ", keys[i]);
        ctl_print_safe(stdout, text ? text : "");
        putchar('\n');
        free(text);
    }
    json_t *last = json_object_get(sc, "last");
    if (last) {
        printf("%-16s %s %s", "last slot", s_str(last, "status"), s_str(last, "run"));
        if (*s_str(last, "reason")) {
            printf(": ");
            ctl_print_safe(stdout, s_str(last, "reason"));
        }
        putchar('\n');
    }
}

int ctl_tool_schedule(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"every", required_argument, NULL, OPT_EVERY},
        {"cron", required_argument, NULL, OPT_CRON},
        {"tz", required_argument, NULL, OPT_TZ},
        {"site", required_argument, NULL, OPT_SITE},
        {"grace", required_argument, NULL, OPT_GRACE},
        {"no-coalesce", no_argument, NULL, OPT_NO_COALESCE},
        {"overlap", required_argument, NULL, OPT_OVERLAP},
        {"max-run", required_argument, NULL, OPT_MAX_RUN},
        {"retries", required_argument, NULL, OPT_RETRIES},
        {"retry-backoff", required_argument, NULL, OPT_BACKOFF},
        {"jitter", required_argument, NULL, OPT_JITTER},
        {"start", required_argument, NULL, OPT_START},
        {"all-sites", no_argument, NULL, OPT_ALL_SITES},
        {NULL, 0, NULL, 0}};
    s_opts_t o = {.body = json_object()};
    int first;
    int rc = ctl_parse(ctl, argc, argv, s_help_tool_schedule, opts, s_opt, &o, &first);
    if (rc) {
        json_decref(o.body);
        return rc < 0 ? CTL_OK : rc;
    }
    int n = argc - first;
    if (n < 1 || n > 2) {
        json_decref(o.body);
        return ctl_usage_error(s_help_tool_schedule, "tool schedule needs NAME and daily, "
                                                     "weekly, --every or --cron");
    }
    const char *name = argv[first];
    if (n == 2)
        json_object_set_new(o.body, "frequency", json_string(argv[first + 1]));
    if (mao_name_check("tool", name) < 0) {
        json_decref(o.body);
        return ctl_fail("%s", mao_error_last());
    }
    char path[256];
    snprintf(path, sizeof path, "/v1/tools/%s/schedules", name);
    json_t *sc = NULL;
    rc = ctl_call(ctl, "POST", path, o.body, 30000, &sc);
    json_decref(o.body);
    if (rc != CTL_OK)
        return rc;
    if (ctl->json) {
        ctl_print_json(sc);
    } else {
        printf("schedule %s: %s %s, next at %s\n", s_str(sc, "id"), s_str(sc, "tool"),
               s_str(sc, "trigger"), s_str(sc, "next_fire"));
        if (json_object_get(sc, "pending"))
            printf("note: %s\n", s_str(sc, "pending"));
    }
    json_decref(sc);
    return CTL_OK;
}

static int s_check_id(const char *id)
{
    if (mao_id_time_ms(id) < 0)
        return ctl_fail("'%s' is not a schedule id (26 letters and digits, as 'maoctl schedule "
                        "get' shows)",
                        id);
    return CTL_OK;
}

int cmd_schedule(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"tool", required_argument, NULL, OPT_TOOL},
                                         {"count", required_argument, NULL, OPT_COUNT},
                                         {NULL, 0, NULL, 0}};
    int i = 1;
    int rc = ctl_leading_globals(ctl, argc, argv, &i, s_help_schedule, 0);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    if (i >= argc) {
        fputs(s_help_schedule, stderr);
        return CTL_USAGE;
    }
    const char *verb = argv[i];
    s_opts_t o = {.body = NULL, .count = 10};
    int first;
    if ((rc = ctl_parse(ctl, argc - i, argv + i, s_help_schedule, opts, s_opt, &o, &first)))
        return rc < 0 ? CTL_OK : rc;
    char **args = argv + i + first;
    int nargs = argc - i - first;
    char path[256];
    json_t *reply = NULL;
    if (strcmp(verb, "get") == 0 || strcmp(verb, "list") == 0 || strcmp(verb, "ls") == 0) {
        if (nargs > 1)
            return ctl_usage_error(s_help_schedule, "schedule get takes at most one ID");
        if (nargs == 1) {
            if ((rc = s_check_id(args[0])) != CTL_OK)
                return rc;
            snprintf(path, sizeof path, "/v1/schedules/%s", args[0]);
        } else if (o.tool) {
            if (mao_name_check("tool", o.tool) < 0)
                return ctl_fail("%s", mao_error_last());
            snprintf(path, sizeof path, "/v1/schedules?tool=%s", o.tool);
        } else {
            snprintf(path, sizeof path, "/v1/schedules");
        }
        if ((rc = ctl_call(ctl, "GET", path, NULL, 30000, &reply)) != CTL_OK)
            return rc;
        if (ctl->json)
            ctl_print_json(reply);
        else if (nargs == 1)
            s_print_schedule(reply);
        else if (json_array_size(reply) == 0)
            printf("No schedules.\n");
        else {
            static const char *headers[] = {"ID", "TOOL", "TRIGGER", "SITE", "NEXT_FIRE", "LAST"};
            ctl_table_t *t = ctl_table_new(6, headers);
            size_t k;
            json_t *sc;
            json_array_foreach(reply, k, sc) {
                const char *row[6] = {s_str(sc, "id"),
                                      s_str(sc, "tool"),
                                      s_str(sc, "trigger"),
                                      *s_str(sc, "site") ? s_str(sc, "site")
                                      : json_is_true(json_object_get(sc, "all_sites"))
                                          ? "every"
                                          : "any",
                                      json_is_true(json_object_get(sc, "paused"))
                                          ? "paused"
                                          : s_str(sc, "next_fire"),
                                      s_str(json_object_get(sc, "last"), "status")};
                if (t)
                    ctl_table_add(t, row);
            }
            if (t)
                ctl_table_print(t, stdout);
            ctl_table_destroy(&t);
        }
        json_decref(reply);
        return CTL_OK;
    }
    int remove = strcmp(verb, "remove") == 0 || strcmp(verb, "rm") == 0;
    int pause = strcmp(verb, "pause") == 0, resume = strcmp(verb, "resume") == 0;
    int preview = strcmp(verb, "preview") == 0;
    if (!remove && !pause && !resume && !preview)
        return ctl_usage_error(s_help_schedule, "unknown verb 'schedule %s'", verb);
    if (nargs != 1)
        return ctl_usage_error(s_help_schedule, "schedule %s needs one ID", verb);
    if ((rc = s_check_id(args[0])) != CTL_OK)
        return rc;
    if (preview)
        snprintf(path, sizeof path, "/v1/schedules/%s/preview?count=%ld", args[0], o.count);
    else if (remove)
        snprintf(path, sizeof path, "/v1/schedules/%s", args[0]);
    else
        snprintf(path, sizeof path, "/v1/schedules/%s/%s", args[0], verb);
    json_t *body = pause || resume ? json_object() : NULL;
    rc = ctl_call(ctl, preview ? "GET" : remove ? "DELETE" : "POST", path, body, 30000, &reply);
    json_decref(body);
    if (rc != CTL_OK)
        return rc;
    if (ctl->json) {
        ctl_print_json(reply);
    } else if (preview) {
        printf("%s %s fires next at:\n", s_str(reply, "tool"), s_str(reply, "trigger"));
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(reply, "fires"), k, t) printf("  %s\n",
                                                                         json_string_value(t));
    } else {
        printf("schedule %s %s\n", args[0], remove ? "removed" : pause ? "paused" : "resumed");
    }
    json_decref(reply);
    return CTL_OK;
}

/* ▁▂▃▄▅▆▇█ */
static const char *s_bars[] = {"\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83", "\xe2\x96\x84",
                               "\xe2\x96\x85", "\xe2\x96\x86", "\xe2\x96\x87", "\xe2\x96\x88"};

static const char *s_when(json_t *r)
{
    return *s_str(r, "slot_time") ? s_str(r, "slot_time") : s_str(r, "created_at");
}

/* Newest first by time (the slot's, else the run's), then by site, so that
 * the runs of one slot at every site stand side by side. */
static int s_cmp_slot(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(s_when(y), s_when(x));
    if (c == 0)
        c = strcmp(s_str(y, "site"), s_str(x, "site"));
    return c ? c : strcmp(s_str(y, "id"), s_str(x, "id"));
}

static void s_by_slot(json_t *list)
{
    size_t n = json_array_size(list);
    json_t **items = calloc(n ? n : 1, sizeof *items);
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(list, i));
    qsort(items, n, sizeof *items, s_cmp_slot);
    json_array_clear(list);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, items[i]);
    free(items);
}

int ctl_tool_history(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"limit", required_argument, NULL, OPT_LIMIT},
                                         {NULL, 0, NULL, 0}};
    s_opts_t o = {.limit = 30};
    int first;
    int rc = ctl_parse(ctl, argc, argv, s_help_history, opts, s_opt, &o, &first);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    if (argc - first != 1)
        return ctl_usage_error(s_help_history, "tool history needs one NAME");
    if (mao_name_check("tool", argv[first]) < 0)
        return ctl_fail("%s", mao_error_last());
    char path[256];
    snprintf(path, sizeof path, "/v1/tools/%s/history?limit=%ld", argv[first], o.limit);
    json_t *list = NULL;
    if ((rc = ctl_call(ctl, "GET", path, NULL, 30000, &list)) != CTL_OK)
        return rc;
    if (ctl->json) {
        ctl_print_json(list);
        json_decref(list);
        return CTL_OK;
    }
    size_t n = json_array_size(list);
    if (n == 0) {
        printf("%s has not run yet.\n", argv[first]);
        json_decref(list);
        return CTL_OK;
    }
    s_by_slot(list);
    /* The sparkline: runs with a value, oldest to newest, spikes marked below. */
    if (isatty(STDOUT_FILENO)) {
        double lo = 0, hi = 0;
        int any = 0;
        for (size_t i = n; i-- > 0;) {
            json_t *v = json_object_get(json_array_get(list, i), "control_value");
            if (!json_is_number(v))
                continue;
            double x = json_number_value(v);
            if (!any || x < lo)
                lo = x;
            if (!any || x > hi)
                hi = x;
            any = 1;
        }
        if (any) {
            printf("%s, control metric, oldest to newest (%g .. %g):\n  ", argv[first], lo, hi);
            for (size_t i = n; i-- > 0;) {
                json_t *v = json_object_get(json_array_get(list, i), "control_value");
                if (!json_is_number(v))
                    continue;
                int b = hi > lo ? (int)((json_number_value(v) - lo) / (hi - lo) * 7.0 + 0.5) : 0;
                printf("%s", s_bars[b < 0 ? 0 : b > 7 ? 7 : b]);
            }
            printf("\n  ");
            for (size_t i = n; i-- > 0;) {
                json_t *r = json_array_get(list, i);
                if (!json_is_number(json_object_get(r, "control_value")))
                    continue;
                printf("%s", json_is_true(json_object_get(r, "spike")) ? "^" : " ");
            }
            printf("   (^ spike)\n\n");
        }
    }
    static const char *headers[] = {"RUN", "WHEN", "SITE", "STATUS", "VALUE", "VERDICT", "SPIKE"};
    ctl_table_t *t = ctl_table_new(7, headers);
    for (size_t i = n; i-- > 0;) {
        json_t *r = json_array_get(list, i);
        char value[64] = "";
        json_t *v = json_object_get(r, "control_value");
        if (json_is_number(v))
            snprintf(value, sizeof value, "%g", json_number_value(v));
        const char *when = s_when(r);
        const char *row[7] = {s_str(r, "id"),
                              when,
                              *s_str(r, "site") ? s_str(r, "site") : "-",
                              s_str(r, "status"),
                              value,
                              s_str(r, "verdict"),
                              json_is_true(json_object_get(r, "spike")) ? "*" : ""};
        if (t)
            ctl_table_add(t, row);
    }
    if (t)
        ctl_table_print(t, stdout);
    ctl_table_destroy(&t);
    json_decref(list);
    return CTL_OK;
}

int cmd_why(ctl_t *ctl, int argc, char **argv)
{
    const char *name = NULL;
    int rc = ctl_parse_name(ctl, argc, argv, s_help_why, "tool", "why", &name);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    char path[256];
    snprintf(path, sizeof path, "/v1/tools/%s/why", name);
    json_t *why = NULL;
    if ((rc = ctl_call(ctl, "GET", path, NULL, 30000, &why)) != CTL_OK)
        return rc;
    if (ctl->json) {
        ctl_print_json(why);
    } else {
        json_t *last = json_object_get(why, "last_run");
        if (json_is_object(last))
            printf("%s last ran as run %s: %s at site %s, finished %s.\n", name,
                   s_str(last, "id"), s_str(last, "status"), s_str(last, "site"),
                   s_str(last, "finished_at"));
        else if (json_is_string(last))
            printf("%s: when it last ran is %s.\n", name, json_string_value(last));
        else
            printf("%s has not run yet.\n", name);
        ctl_print_safe(stdout, s_str(why, "explanation"));
        putchar('\n');
    }
    json_decref(why);
    return CTL_OK;
}
