/*
 * maoctl tool run, and maoctl run get | list | logs.
 *
 * `tool run` queues a run, then follows it with long polls of
 * GET /v1/runs/{id}?wait=...&version=... so that each change is printed as it
 * happens, and prints the report when the run ends.
 */
#include "ctl.h"
#include "mao_http.h"
#include "mao_id.h"
#include "mao_name.h"

#include <stdlib.h>
#include <string.h>

static const char *s_help_tool_run =
    "Usage: maoctl tool run NAME [--site SITE | --all-sites] [--no-wait] [-o json]\n"
    "\n"
    "Runs the tool now at a site: the coordinator picks a worker with room (at\n"
    "SITE when given), which pulls the image if needed, clones the tool's dataset\n"
    "on its first run, runs the container, and checks the control metric for a\n"
    "spike.  Prints progress, then the report.\n"
    "\n"
    "Options:\n"
    "  --site SITE   run at this site\n"
    "  --all-sites   run once at every site with a worker up, and show the sites'\n"
    "                reports side by side\n"
    "  --no-wait     print the run's id (with --all-sites, the group's and the\n"
    "                runs') and return at once\n"
    "  -o json       print the run record as JSON ({\"group\", \"runs\"} with\n"
    "                --all-sites)\n"
    "\n"
    "Exit status: 0 when the run succeeded (every run, with --all-sites; a spike is\n"
    "a finding, not a failure), 1 when one failed or timed out, or the coordinator\n"
    "could not be reached.\n";

static const char *s_help_run =
    "Usage: maoctl run <verb> [options]\n"
    "\n"
    "Verbs:\n"
    "  get ID                       show one run and its report\n"
    "  list [--tool T] [--status S] [--limit N]\n"
    "                               recent runs, newest first\n"
    "  logs ID                      the tail of the run's container log\n";

static const char *s_help_get = "Usage: maoctl run get ID [-o json]\n\nShows one run: status, "
                                "site, times, and the spike detector's report.\n";
static const char *s_help_list =
    "Usage: maoctl run list [--tool T] [--status S] [--limit N] [-o json]\n\n"
    "Lists recent runs, newest first.  STATUS is queued, running, succeeded, failed,\n"
    "timed_out, or for a schedule's slot that made no run, skipped or missed.\n";
static const char *s_help_logs = "Usage: maoctl run logs ID\n\nPrints the tail of the run's "
                                 "container log (stdout and stderr) as the worker kept it.\n";

static const char *s_str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static void s_line(const char *label, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void s_line(const char *label, const char *fmt, ...)
{
    char value[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    printf("%-16s ", label);
    ctl_print_safe(stdout, value);
    putchar('\n');
}

/* The report for people. */
static void s_print_report(json_t *run)
{
    json_t *report = json_object_get(run, "report");
    s_line("Run", "%s", s_str(run, "id"));
    s_line("Tool", "%s", s_str(run, "tool"));
    s_line("Status", "%s", s_str(run, "status"));
    if (json_is_string(json_object_get(run, "reason")))
        s_line("Reason", "%s", s_str(run, "reason"));
    const char *digest = s_str(run, "image_digest");
    s_line("Image", "%s%s%s%s", s_str(run, "image"), *digest ? " (" : "", digest,
           *digest ? ")" : "");
    if (*s_str(run, "site"))
        s_line("Site", "%s (worker %s)", s_str(run, "site"), s_str(run, "worker"));
    if (json_integer_value(json_object_get(run, "attempt")) > 1)
        s_line("Attempt", "%lld", (long long)json_integer_value(json_object_get(run, "attempt")));
    if (json_is_number(json_object_get(run, "duration_s")))
        s_line("Duration", "%.1f s", json_number_value(json_object_get(run, "duration_s")));
    if (json_is_integer(json_object_get(run, "exit_code")))
        s_line("Exit code", "%lld", (long long)json_integer_value(json_object_get(run,
                                                                                  "exit_code")));
    if (*s_str(run, "datadir"))
        s_line("Data directory", "%s", s_str(run, "datadir"));
    if (!json_is_object(report))
        return;
    s_line("Snapshots", "%lld", (long long)json_integer_value(json_object_get(report,
                                                                              "snapshots")));
    const char *error = s_str(report, "error");
    if (*error) {
        s_line("Verdict", "error: %s", error);
        return;
    }
    if (!json_object_get(report, "control_metric")) {
        long long window = json_integer_value(json_object_get(report, "window"));
        s_line("Verdict", "not enough data yet (%lld of %lld snapshots)",
               (long long)json_integer_value(json_object_get(report, "snapshots")), window + 1);
        return;
    }
    int mad = strcmp(s_str(report, "method"), "mad") == 0;
    s_line(mad ? "Rolling median" : "Rolling average", "%g",
           json_number_value(json_object_get(report, "rolling_avg")));
    s_line("Control value", "%g", json_number_value(json_object_get(report, "control_metric")));
    s_line("Difference", "%+g", json_number_value(json_object_get(report, "diff")));
    json_t *gain = json_object_get(report, "gain");
    if (mad)
        s_line("Score", json_is_number(gain) ? "%+.2f" : "infinite", json_number_value(gain));
    else
        s_line("Gain", "%+.2f %%", json_number_value(gain));
    s_line("Verdict", "%s", json_is_true(json_object_get(report, "spike")) ? "spike" : "no spike");
}

static int s_exit_for(json_t *run)
{
    return strcmp(s_str(run, "status"), "succeeded") == 0 ? CTL_OK : CTL_FAIL;
}

/* Follows a run until it ends, printing each change on stderr. */
static int s_follow(ctl_t *ctl, json_t **run_p)
{
    json_t *run = *run_p;
    char last[256] = "";
    for (;;) {
        const char *status = s_str(run, "status");
        char state[256];
        snprintf(state, sizeof state, "%s/%s/%lld", status, s_str(run, "worker"),
                 (long long)json_integer_value(json_object_get(run, "attempt")));
        snprintf(state + strlen(state), sizeof state - strlen(state), "/%s",
                 s_str(run, "waiting_for"));
        if (strcmp(state, last) != 0 && !ctl->json) {
            const char *why = s_str(run, "waiting_for");
            char hint[160] = "";
            if (*why && strcmp(why, "about to be placed") != 0)
                snprintf(hint, sizeof hint, " (%s)", why);
            /* The first line always says the run exists, whatever state the
             * first answer already shows; later lines say what changed. */
            if (!last[0] || (strcmp(status, "queued") == 0 && !*s_str(run, "worker")))
                fprintf(stderr, "run %s queued: %s%s\n", s_str(run, "id"), s_str(run, "tool"),
                        hint);
            if (strcmp(status, "running") == 0)
                fprintf(stderr, "run %s started at site %s on worker %s\n", s_str(run, "id"),
                        s_str(run, "site"), s_str(run, "worker"));
            snprintf(last, sizeof last, "%s", state);
        }
        if (strcmp(status, "queued") != 0 && strcmp(status, "running") != 0)
            return CTL_OK;
        char path[256];
        snprintf(path, sizeof path, "/v1/runs/%s?wait=25&version=%lld", s_str(run, "id"),
                 (long long)json_integer_value(json_object_get(run, "version")));
        json_t *next = NULL;
        if (ctl_call(ctl, "GET", path, NULL, 60000, &next) != CTL_OK) {
            fprintf(stderr, "maoctl: the run goes on; see it with: maoctl run get %s\n",
                    s_str(run, "id"));
            return CTL_FAIL;
        }
        json_decref(run);
        run = *run_p = next;
    }
}

enum { OPT_SITE = 1000, OPT_NO_WAIT, OPT_TOOL, OPT_STATUS, OPT_LIMIT, OPT_ALL_SITES };

typedef struct {
    const char *site;
    int all_sites;
    int no_wait;
    const char *tool;
    const char *status;
    const char *limit;
} s_opts_t;

static int s_opt(int id, const char *value, void *arg)
{
    s_opts_t *o = arg;
    switch (id) {
    case OPT_SITE: o->site = value; return CTL_OK;
    case OPT_NO_WAIT: o->no_wait = 1; return CTL_OK;
    case OPT_ALL_SITES: o->all_sites = 1; return CTL_OK;
    case OPT_TOOL: o->tool = value; return CTL_OK;
    case OPT_STATUS: o->status = value; return CTL_OK;
    case OPT_LIMIT: o->limit = value; return CTL_OK;
    }
    return CTL_USAGE;
}

/* A number of the report, or "-"; `gain` adds a sign and a percent. */
static void s_num(char *out, size_t size, json_t *report, const char *key, int gain)
{
    json_t *v = json_object_get(report, key);
    if (!json_is_number(v))
        snprintf(out, size, "-");
    else if (gain)
        snprintf(out, size, "%+.2f %%", json_number_value(v));
    else
        snprintf(out, size, "%g", json_number_value(v));
}

/* The runs of one group (one per site), their reports side by side. */
static int s_group(ctl_t *ctl, json_t *reply, int no_wait)
{
    json_t *runs = json_object_get(reply, "runs");
    const char *group = s_str(reply, "group");
    if (no_wait) {
        if (ctl->json) {
            ctl_print_json(reply);
        } else {
            printf("group %s\n", group);
            size_t i;
            json_t *r;
            json_array_foreach(runs, i, r) printf("%s  %s\n", s_str(r, "requested_site"),
                                                  s_str(r, "id"));
        }
        return CTL_OK;
    }
    int rc = CTL_OK;
    for (size_t i = 0; i < json_array_size(runs); i++) {
        json_t *run = json_incref(json_array_get(runs, i));
        if (s_follow(ctl, &run) != CTL_OK)
            rc = CTL_FAIL;
        json_array_set_new(runs, i, run);
    }
    if (ctl->json) {
        ctl_print_json(reply);
    } else {
        printf("Group %s: %s at %zu sites\n", group,
               s_str(json_array_get(runs, 0), "tool"), json_array_size(runs));
        static const char *head[] = {"SITE",    "RUN",         "STATUS", "SNAPSHOTS",
                                     "CONTROL", "ROLLING AVG", "GAIN",   "VERDICT"};
        ctl_table_t *t = ctl_table_new(8, head);
        size_t i;
        json_t *r;
        json_array_foreach(runs, i, r) {
            json_t *report = json_object_get(r, "report");
            char snaps[32], value[32], avg[32], gain[32];
            s_num(snaps, sizeof snaps, report, "snapshots", 0);
            s_num(value, sizeof value, report, "control_metric", 0);
            s_num(avg, sizeof avg, report, "rolling_avg", 0);
            s_num(gain, sizeof gain, report, "gain", 1);
            const char *verdict = json_is_string(json_object_get(r, "verdict"))
                                      ? s_str(r, "verdict")
                                      : s_str(r, "reason");
            const char *cells[] = {*s_str(r, "site") ? s_str(r, "site")
                                                     : s_str(r, "requested_site"),
                                   s_str(r, "id"), s_str(r, "status"), snaps, value, avg, gain,
                                   verdict};
            ctl_table_add(t, cells);
        }
        ctl_table_print(t, stdout);
        ctl_table_destroy(&t);
    }
    json_t *r;
    size_t i;
    json_array_foreach(runs, i, r) if (s_exit_for(r) != CTL_OK) rc = CTL_FAIL;
    return rc;
}

int ctl_tool_run(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"site", required_argument, NULL, OPT_SITE},
                                         {"all-sites", no_argument, NULL, OPT_ALL_SITES},
                                         {"no-wait", no_argument, NULL, OPT_NO_WAIT},
                                         {NULL, 0, NULL, 0}};
    s_opts_t o = {0};
    int first;
    int rc = ctl_parse(ctl, argc, argv, s_help_tool_run, opts, s_opt, &o, &first);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    if (argc - first != 1)
        return ctl_usage_error(s_help_tool_run, "tool run needs one NAME");
    const char *name = argv[first];
    if (mao_name_check("tool", name) < 0)
        return ctl_fail("%s", mao_error_last());
    if (o.site && mao_name_check("site", o.site) < 0)
        return ctl_fail("%s", mao_error_last());
    if (o.site && o.all_sites)
        return ctl_usage_error(s_help_tool_run, "give --site or --all-sites, not both");
    char path[256];
    snprintf(path, sizeof path, "/v1/tools/%s/runs", name);
    json_t *body = o.site        ? json_pack("{s:s}", "site", o.site)
                   : o.all_sites ? json_pack("{s:b}", "all_sites", 1)
                                 : json_object();
    json_t *run = NULL;
    rc = ctl_call(ctl, "POST", path, body, 30000, &run);
    json_decref(body);
    if (rc != CTL_OK)
        return rc;
    if (o.all_sites) {
        rc = s_group(ctl, run, o.no_wait);
        json_decref(run);
        return rc;
    }
    if (o.no_wait) {
        if (ctl->json)
            ctl_print_json(run);
        else
            printf("%s\n", s_str(run, "id"));
        json_decref(run);
        return CTL_OK;
    }
    rc = s_follow(ctl, &run);
    if (rc == CTL_OK) {
        if (ctl->json)
            ctl_print_json(run);
        else
            s_print_report(run);
        rc = s_exit_for(run);
    }
    json_decref(run);
    return rc;
}

static int s_get(ctl_t *ctl, int argc, char **argv, int logs)
{
    int first;
    const char *help = logs ? s_help_logs : s_help_get;
    int rc = ctl_parse(ctl, argc, argv, help, NULL, NULL, NULL, &first);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    if (argc - first != 1)
        return ctl_usage_error(help, "needs one run ID");
    if (mao_id_time_ms(argv[first]) < 0)
        return ctl_fail("'%s' is not a run id (26 letters and digits, as 'maoctl run list' "
                        "shows)",
                        argv[first]);
    char path[128];
    snprintf(path, sizeof path, "/v1/runs/%s", argv[first]);
    json_t *run = NULL;
    if ((rc = ctl_call(ctl, "GET", path, NULL, 30000, &run)) != CTL_OK)
        return rc;
    if (logs) {
        const char *tail = s_str(run, "log_tail");
        ctl_print_safe(stdout, tail);
        if (*tail && tail[strlen(tail) - 1] != '\n')
            putchar('\n');
    } else if (ctl->json) {
        ctl_print_json(run);
    } else {
        s_print_report(run);
    }
    json_decref(run);
    return CTL_OK;
}

static int s_list(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"tool", required_argument, NULL, OPT_TOOL},
                                         {"status", required_argument, NULL, OPT_STATUS},
                                         {"limit", required_argument, NULL, OPT_LIMIT},
                                         {NULL, 0, NULL, 0}};
    s_opts_t o = {0};
    int first;
    int rc = ctl_parse(ctl, argc, argv, s_help_list, opts, s_opt, &o, &first);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    if (argc - first != 0)
        return ctl_usage_error(s_help_list, "run list takes no arguments");
    static const char *statuses[] = {"queued",    "running", "succeeded", "failed",
                                     "timed_out", "skipped", "missed",    NULL};
    if (o.status) {
        int ok = 0;
        for (size_t i = 0; statuses[i]; i++)
            ok |= strcmp(o.status, statuses[i]) == 0;
        if (!ok)
            return ctl_usage_error(s_help_list, "--status is queued, running, succeeded, "
                                                "failed, timed_out, skipped or missed");
    }
    if (o.tool && mao_name_check("tool", o.tool) < 0)
        return ctl_fail("%s", mao_error_last());
    char path[256];
    snprintf(path, sizeof path, "/v1/runs?limit=%s%s%s%s%s", o.limit ? o.limit : "50",
             o.tool ? "&tool=" : "", o.tool ? o.tool : "", o.status ? "&status=" : "",
             o.status ? o.status : "");
    json_t *list = NULL;
    if ((rc = ctl_call(ctl, "GET", path, NULL, 30000, &list)) != CTL_OK)
        return rc;
    if (ctl->json) {
        ctl_print_json(list);
    } else if (json_array_size(list) == 0) {
        printf("No runs.\n");
    } else {
        static const char *headers[] = {"ID", "TOOL", "STATUS", "SITE", "CREATED", "VALUE",
                                        "VERDICT"};
        ctl_table_t *t = ctl_table_new(7, headers);
        size_t i;
        json_t *run;
        json_array_foreach(list, i, run) {
            char value[64] = "";
            json_t *v = json_object_get(run, "control_value");
            if (json_is_number(v))
                snprintf(value, sizeof value, "%g", json_number_value(v));
            const char *row[7] = {s_str(run, "id"),         s_str(run, "tool"),
                                  s_str(run, "status"),     s_str(run, "site"),
                                  s_str(run, "created_at"), value,
                                  s_str(run, "verdict")};
            if (t)
                ctl_table_add(t, row);
        }
        if (t)
            ctl_table_print(t, stdout);
        ctl_table_destroy(&t);
    }
    json_decref(list);
    return CTL_OK;
}

int cmd_run(ctl_t *ctl, int argc, char **argv)
{
    int i = 1;
    int rc = ctl_leading_globals(ctl, argc, argv, &i, s_help_run, 0);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    if (i >= argc) {
        fputs(s_help_run, stderr);
        return CTL_USAGE;
    }
    argc -= i - 1;
    argv += i - 1;
    const char *verb = argv[1];
    if (strcmp(verb, "get") == 0)
        return s_get(ctl, argc - 1, argv + 1, 0);
    if (strcmp(verb, "logs") == 0)
        return s_get(ctl, argc - 1, argv + 1, 1);
    if (strcmp(verb, "list") == 0 || strcmp(verb, "ls") == 0)
        return s_list(ctl, argc - 1, argv + 1);
    return ctl_usage_error(s_help_run, "unknown verb 'run %s'", verb);
}
