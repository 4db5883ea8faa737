/*
 * maoctl tool: get, add, remove (and, as they land, run, schedule, history).
 */
#include "ctl.h"
#include "mao_http.h"
#include "mao_name.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *s_help_tool =
    "Usage: maoctl tool <verb> [options]\n"
    "\n"
    "List, register, remove and run tools (Docker images that collect data).\n"
    "\n"
    "Verbs:\n"
    "  get [NAME]        list the registered tools, or show one\n"
    "  add NAME AUTHOR IMAGE DATA_REPO CODE_REPO ARTEFACT\n"
    "                    register a tool\n"
    "  remove NAME       remove a tool from the registry\n"
    "  run NAME          run the tool now at a site and show the spike report\n"
    "  schedule NAME {daily|weekly} | --every D | --cron EXPR\n"
    "                    run the tool periodically\n"
    "  history NAME      the control metric of its recent runs, spikes marked\n"
    "\n"
    "Run 'maoctl tool <verb> --help' for a verb's options.\n";

static const char *s_help_get =
    "Usage: maoctl tool get [NAME] [-o json]\n"
    "\n"
    "Without NAME, lists every registered tool; with NAME, shows all of its fields.\n";

static const char *s_help_add =
    "Usage: maoctl tool add NAME AUTHOR IMAGE DATA_REPO CODE_REPO ARTEFACT [options]\n"
    "\n"
    "Registers a tool in the shared registry, visible to every site.\n"
    "\n"
    "  NAME       letters, digits, '.', '_', '-' (at most 64, not starting with '.' or '-')\n"
    "  AUTHOR     who maintains the tool\n"
    "  IMAGE      the Docker image that runs it\n"
    "  DATA_REPO  git URL of its dataset, cloned at a site on the tool's first run\n"
    "  CODE_REPO  where its source code lives\n"
    "  ARTEFACT   the kind of artefact it studies (e.g. docker, helm, lambda)\n"
    "\n"
    "Options:\n"
    "  --description TEXT     what the tool collects\n"
    "  --command ARG          the container's command, one argument per --command\n"
    "  --env NAME=VALUE       an environment variable for the container (repeatable)\n"
    "  --timeout SECONDS      stop a run after this long (default: the site's)\n"
    "  --spike-method M       gain (the original rule) or mad (median/MAD)\n"
    "  --spike-window N       how many earlier values to compare with (default 2)\n"
    "  --spike-threshold P    gain in percent (default 20), or robust z-score for mad\n"
    "  --replace              overwrite a tool of the same name\n"
    "  -o json                print the stored record as JSON\n";

static const char *s_help_remove =
    "Usage: maoctl tool remove NAME\n"
    "\n"
    "Removes a tool from the shared registry.  Its datasets and past data stay.\n";

static int s_get(ctl_t *ctl, int argc, char **argv)
{
    int first;
    int rc = ctl_parse(ctl, argc, argv, s_help_get, NULL, NULL, NULL, &first);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    if (argc - first > 1)
        return ctl_usage_error(s_help_get, "tool get takes at most one NAME");
    json_t *reply = NULL;
    if (argc - first == 1) {
        const char *name = argv[first];
        if (mao_name_check("tool", name) < 0)
            return ctl_fail("%s", mao_error_last());
        char path[256];
        snprintf(path, sizeof path, "/v1/tools/%s", name);
        if ((rc = ctl_call(ctl, "GET", path, NULL, 30000, &reply)) != CTL_OK)
            return rc;
        if (ctl->json) {
            ctl_print_json(reply);
        } else {
            static const char *fields[] = {"name",      "author",   "image",      "data_repo",
                                           "code_repo", "artefact", "description", NULL};
            for (size_t i = 0; fields[i]; i++) {
                json_t *v = json_object_get(reply, fields[i]);
                if (!v)
                    continue;
                printf("%-12s ", fields[i]);
                ctl_print_safe(stdout, json_string_value(v) ? json_string_value(v) : "");
                putchar('\n');
            }
            static const char *extra[] = {"command", "env", "timeout_s", "spike", NULL};
            for (size_t i = 0; extra[i]; i++) {
                json_t *v = json_object_get(reply, extra[i]);
                if (!v)
                    continue;
                char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                printf("%-12s ", extra[i]);
                ctl_print_safe(stdout, text ? text : "");
                putchar('\n');
                free(text);
            }
        }
        json_decref(reply);
        return CTL_OK;
    }
    if ((rc = ctl_call(ctl, "GET", "/v1/tools", NULL, 30000, &reply)) != CTL_OK)
        return rc;
    if (ctl->json) {
        ctl_print_json(reply);
    } else if (json_array_size(reply) == 0) {
        printf("No tools registered.\n");
    } else {
        static const char *headers[] = {"NAME", "AUTHOR", "IMAGE", "ARTEFACT", "DATA_REPO"};
        ctl_table_t *t = ctl_table_new(5, headers);
        size_t i;
        json_t *tool;
        json_array_foreach(reply, i, tool) {
            const char *row[5];
            for (size_t c = 0; c < 5; c++) {
                static const char *keys[] = {"name", "author", "image", "artefact", "data_repo"};
                row[c] = json_string_value(json_object_get(tool, keys[c]));
            }
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

typedef struct {
    json_t *extra;   /* optional fields gathered from options */
    int replace;
} s_add_t;

enum { OPT_DESC = 1000, OPT_CMD, OPT_ENV, OPT_TIMEOUT, OPT_SMETHOD, OPT_SWINDOW, OPT_STHRESH,
       OPT_REPLACE };

static int s_add_opt(int id, const char *value, void *arg)
{
    s_add_t *a = arg;
    char *end = NULL;
    switch (id) {
    case OPT_DESC:
        json_object_set_new(a->extra, "description", json_string(value));
        return CTL_OK;
    case OPT_CMD: {
        json_t *list = json_object_get(a->extra, "command");
        if (!list) {
            list = json_array();
            json_object_set_new(a->extra, "command", list);
        }
        json_array_append_new(list, json_string(value));
        return CTL_OK;
    }
    case OPT_ENV: {
        const char *eq = strchr(value, '=');
        if (!eq || eq == value)
            return ctl_usage_error(s_help_add, "--env needs NAME=VALUE, got '%s'", value);
        json_t *env = json_object_get(a->extra, "env");
        if (!env) {
            env = json_object();
            json_object_set_new(a->extra, "env", env);
        }
        char key[160];
        snprintf(key, sizeof key, "%.*s", (int)(eq - value), value);
        json_object_set_new(env, key, json_string(eq + 1));
        return CTL_OK;
    }
    case OPT_TIMEOUT: {
        errno = 0;
        long t = strtol(value, &end, 10);
        if (errno || !*value || *end || t < 1)
            return ctl_usage_error(s_help_add, "--timeout needs a whole number of seconds");
        json_object_set_new(a->extra, "timeout_s", json_integer(t));
        return CTL_OK;
    }
    case OPT_SMETHOD:
    case OPT_SWINDOW:
    case OPT_STHRESH: {
        json_t *spike = json_object_get(a->extra, "spike");
        if (!spike) {
            spike = json_object();
            json_object_set_new(a->extra, "spike", spike);
        }
        if (id == OPT_SMETHOD) {
            json_object_set_new(spike, "method", json_string(value));
        } else if (id == OPT_SWINDOW) {
            long w = strtol(value, &end, 10);
            if (!*value || *end || w < 1)
                return ctl_usage_error(s_help_add, "--spike-window needs a whole number >= 1");
            json_object_set_new(spike, "window", json_integer(w));
        } else {
            double p = strtod(value, &end);
            if (!*value || *end || !(p > 0))
                return ctl_usage_error(s_help_add, "--spike-threshold needs a positive number");
            json_object_set_new(spike, "threshold", json_real(p));
        }
        return CTL_OK;
    }
    case OPT_REPLACE: a->replace = 1; return CTL_OK;
    }
    return CTL_USAGE;
}

static int s_add(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {
        {"description", required_argument, NULL, OPT_DESC},
        {"command", required_argument, NULL, OPT_CMD},
        {"env", required_argument, NULL, OPT_ENV},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"spike-method", required_argument, NULL, OPT_SMETHOD},
        {"spike-window", required_argument, NULL, OPT_SWINDOW},
        {"spike-threshold", required_argument, NULL, OPT_STHRESH},
        {"replace", no_argument, NULL, OPT_REPLACE},
        {NULL, 0, NULL, 0}};
    s_add_t a = {.extra = json_object()};
    int first;
    json_t *reply = NULL;
    int rc = ctl_parse(ctl, argc, argv, s_help_add, opts, s_add_opt, &a, &first);
    if (rc) {
        json_decref(a.extra);
        return rc < 0 ? CTL_OK : rc;
    }
    if (argc - first != 6) {
        json_decref(a.extra);
        return ctl_usage_error(s_help_add, "tool add needs 6 arguments, got %d", argc - first);
    }
    if (mao_name_check("tool", argv[first]) < 0) {
        json_decref(a.extra);
        return ctl_fail("%s", mao_error_last());
    }
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", argv[first], "author",
                             argv[first + 1], "image", argv[first + 2], "data_repo",
                             argv[first + 3], "code_repo", argv[first + 4], "artefact",
                             argv[first + 5]);
    if (!body) {
        json_decref(a.extra);
        return ctl_fail("arguments must be valid UTF-8 text");
    }
    json_object_update(body, a.extra);
    json_decref(a.extra);
    rc = ctl_call(ctl, "POST", a.replace ? "/v1/tools?replace=true" : "/v1/tools", body, 30000,
                  &reply);
    json_decref(body);
    if (rc != CTL_OK)
        return rc;
    if (ctl->json)
        ctl_print_json(reply);
    else
        printf("tool %s registered\n", json_string_value(json_object_get(reply, "name")));
    json_decref(reply);
    return CTL_OK;
}

static int s_remove(ctl_t *ctl, int argc, char **argv)
{
    return ctl_remove(ctl, argc, argv, s_help_remove, "tool", "/v1/tools");
}

int cmd_tool(ctl_t *ctl, int argc, char **argv)
{
    int i = 1;
    int rc = ctl_leading_globals(ctl, argc, argv, &i, s_help_tool, 0);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    if (i >= argc) {
        fputs(s_help_tool, stderr);
        return CTL_USAGE;
    }
    argc -= i - 1;
    argv += i - 1;
    const char *verb = argv[1];
    if (strcmp(verb, "get") == 0 || strcmp(verb, "list") == 0 || strcmp(verb, "ls") == 0)
        return s_get(ctl, argc - 1, argv + 1);
    if (strcmp(verb, "add") == 0)
        return s_add(ctl, argc - 1, argv + 1);
    if (strcmp(verb, "remove") == 0 || strcmp(verb, "rm") == 0)
        return s_remove(ctl, argc - 1, argv + 1);
    if (strcmp(verb, "run") == 0)
        return ctl_tool_run(ctl, argc - 1, argv + 1);
    if (strcmp(verb, "schedule") == 0)
        return ctl_tool_schedule(ctl, argc - 1, argv + 1);
    if (strcmp(verb, "history") == 0)
        return ctl_tool_history(ctl, argc - 1, argv + 1);
    return ctl_usage_error(s_help_tool, "unknown verb 'tool %s'", verb);
}
