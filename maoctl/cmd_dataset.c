/*
 * maoctl dataset: get, add, remove, clone.
 */
#include "ctl.h"
#include "mao_git.h"
#include "mao_name.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *s_help_dataset =
    "Usage: maoctl dataset <verb> [options]\n"
    "\n"
    "List, register, remove and clone datasets (git repositories of collected data).\n"
    "\n"
    "Verbs:\n"
    "  get [NAME]        list the registered datasets, or show one\n"
    "  add NAME URL      register a dataset\n"
    "  remove NAME       remove a dataset from the registry (the repository stays)\n"
    "  clone NAME [DIR]  clone a dataset here (into DIR, default ./NAME)\n"
    "\n"
    "Run 'maoctl dataset <verb> --help' for a verb's options.\n";

static const char *s_help_get =
    "Usage: maoctl dataset get [NAME] [-o json]\n"
    "\n"
    "Without NAME, lists every registered dataset; with NAME, shows it.\n";

static const char *s_help_add =
    "Usage: maoctl dataset add NAME URL [--replace]\n"
    "\n"
    "Registers a dataset: a git repository others can clone.  URL is https, http,\n"
    "ssh, git or user@host:path; local paths only where the site allows them.\n"
    "\n"
    "Options:\n"
    "  --replace   overwrite a dataset of the same name\n"
    "  -o json     print the stored record as JSON\n";

static const char *s_help_remove =
    "Usage: maoctl dataset remove NAME\n"
    "\n"
    "Removes a dataset from the shared registry; the repository itself is untouched.\n";

static const char *s_help_clone =
    "Usage: maoctl dataset clone NAME [DIR]\n"
    "\n"
    "Clones the registered dataset NAME into DIR (default ./NAME).  DIR must not\n"
    "exist or be empty.  Local paths as dataset URLs are cloned only when\n"
    "allow_local_repos is set in the configuration.\n";

static int s_get(ctl_t *ctl, int argc, char **argv)
{
    int first;
    int rc = ctl_parse(ctl, argc, argv, s_help_get, NULL, NULL, NULL, &first);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    if (argc - first > 1)
        return ctl_usage_error(s_help_get, "dataset get takes at most one NAME");
    json_t *reply = NULL;
    if (argc - first == 1) {
        if (mao_name_check("dataset", argv[first]) < 0)
            return ctl_fail("%s", mao_error_last());
        char path[256];
        snprintf(path, sizeof path, "/v1/datasets/%s", argv[first]);
        if ((rc = ctl_call(ctl, "GET", path, NULL, 30000, &reply)) != CTL_OK)
            return rc;
        if (ctl->json) {
            ctl_print_json(reply);
        } else {
            printf("%-5s ", "name");
            ctl_print_safe(stdout, json_string_value(json_object_get(reply, "name")) ?: "");
            printf("\n%-5s ", "url");
            ctl_print_safe(stdout, json_string_value(json_object_get(reply, "url")) ?: "");
            putchar('\n');
        }
        json_decref(reply);
        return CTL_OK;
    }
    if ((rc = ctl_call(ctl, "GET", "/v1/datasets", NULL, 30000, &reply)) != CTL_OK)
        return rc;
    if (ctl->json) {
        ctl_print_json(reply);
    } else if (json_array_size(reply) == 0) {
        printf("No datasets registered.\n");
    } else {
        static const char *headers[] = {"NAME", "URL"};
        ctl_table_t *t = ctl_table_new(2, headers);
        size_t i;
        json_t *ds;
        json_array_foreach(reply, i, ds) {
            const char *row[2] = {json_string_value(json_object_get(ds, "name")),
                                  json_string_value(json_object_get(ds, "url"))};
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

static int s_replace_opt(int id, const char *value, void *arg)
{
    *(int *)arg = 1;
    return CTL_OK;
}

static int s_add(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"replace", no_argument, NULL, 1000},
                                         {NULL, 0, NULL, 0}};
    int replace = 0;
    int first;
    int rc = ctl_parse(ctl, argc, argv, s_help_add, opts, s_replace_opt, &replace, &first);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    if (argc - first != 2)
        return ctl_usage_error(s_help_add, "dataset add needs NAME and URL");
    if (mao_name_check("dataset", argv[first]) < 0)
        return ctl_fail("%s", mao_error_last());
    json_t *body = json_pack("{s:s, s:s}", "name", argv[first], "url", argv[first + 1]);
    if (!body)
        return ctl_fail("arguments must be valid UTF-8 text");
    json_t *reply = NULL;
    rc = ctl_call(ctl, "POST", replace ? "/v1/datasets?replace=true" : "/v1/datasets", body,
                  30000, &reply);
    json_decref(body);
    if (rc != CTL_OK)
        return rc;
    if (ctl->json)
        ctl_print_json(reply);
    else
        printf("dataset %s registered\n", json_string_value(json_object_get(reply, "name")));
    json_decref(reply);
    return CTL_OK;
}

static int s_remove(ctl_t *ctl, int argc, char **argv)
{
    return ctl_remove(ctl, argc, argv, s_help_remove, "dataset", "/v1/datasets");
}

static void s_progress(size_t received, size_t total, size_t bytes, void *arg)
{
    if (total == 0)
        return;
    fprintf(stderr, "\rReceiving objects: %3zu%% (%zu/%zu), %.1f KiB", received * 100 / total,
            received, total, (double)bytes / 1024.0);
    if (received == total)
        fputc('\n', stderr);
}

static int s_clone(ctl_t *ctl, int argc, char **argv)
{
    int first;
    int rc = ctl_parse(ctl, argc, argv, s_help_clone, NULL, NULL, NULL, &first);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    if (argc - first < 1 || argc - first > 2)
        return ctl_usage_error(s_help_clone, "dataset clone needs NAME and optionally DIR");
    const char *name = argv[first];
    const char *dir = argc - first == 2 ? argv[first + 1] : name;
    if (mao_name_check("dataset", name) < 0)
        return ctl_fail("%s", mao_error_last());
    mao_cfg_t *cfg = ctl_cfg(ctl);
    if (!cfg)
        return CTL_FAIL;
    int allow_local = 0;
    if (mao_cfg_get_bool(cfg, "WORKING_ENVIRONMENT", "allow_local_repos", &allow_local) < 0)
        return ctl_fail("%s", mao_error_last());

    char path[256];
    snprintf(path, sizeof path, "/v1/datasets/%s", name);
    json_t *reply = NULL;
    if ((rc = ctl_call(ctl, "GET", path, NULL, 30000, &reply)) != CTL_OK)
        return rc;
    const char *url = json_string_value(json_object_get(reply, "url"));
    if (!url) {
        json_decref(reply);
        return ctl_fail("the coordinator's record of dataset %s has no URL", name);
    }
    if (ctl->tty && !ctl->json)
        fprintf(stderr, "Cloning %s from %s into %s\n", name, url, dir);
    mao_git_opts_t opts = {.allow_local = allow_local,
                           .progress = ctl->tty && !ctl->json ? s_progress : NULL};
    rc = mao_git_clone(url, dir, &opts);
    if (rc < 0) {
        json_decref(reply);
        return ctl_fail("%s", mao_error_last());
    }
    if (ctl->json) {
        json_t *out = json_pack("{s:s, s:s, s:s}", "name", name, "url", url, "dir", dir);
        ctl_print_json(out);
        json_decref(out);
    }
    else
        printf("dataset %s cloned into %s\n", name, dir);
    json_decref(reply);
    return CTL_OK;
}

int cmd_dataset(ctl_t *ctl, int argc, char **argv)
{
    int i = 1;
    int rc = ctl_leading_globals(ctl, argc, argv, &i, s_help_dataset, 0);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    if (i >= argc) {
        fputs(s_help_dataset, stderr);
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
    if (strcmp(verb, "clone") == 0)
        return s_clone(ctl, argc - 1, argv + 1);
    return ctl_usage_error(s_help_dataset, "unknown verb 'dataset %s'", verb);
}
