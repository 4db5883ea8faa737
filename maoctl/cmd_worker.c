/*
 * maoctl worker get: the workers the coordinator knows, with their state.
 */
#include "ctl.h"

#include <string.h>

static const char *s_help_worker = "Usage: maoctl worker get [-o json]\n\n"
                                   "Lists the workers the coordinator knows: site, state (up or "
                                   "down), capacity,\nruns in flight, last heartbeat.\n";

int cmd_worker(ctl_t *ctl, int argc, char **argv)
{
    int i = 1;
    int rc = ctl_leading_globals(ctl, argc, argv, &i, s_help_worker, 0);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    if (i >= argc)
        return ctl_usage_error(s_help_worker, "worker needs a verb (get)");
    argc -= i - 1;
    argv += i - 1;
    if (strcmp(argv[1], "get") != 0 && strcmp(argv[1], "list") != 0 && strcmp(argv[1], "ls") != 0)
        return ctl_usage_error(s_help_worker, "unknown verb 'worker %s'", argv[1]);
    int first;
    if ((rc = ctl_parse(ctl, argc - 1, argv + 1, s_help_worker, NULL, NULL, NULL, &first)))
        return rc < 0 ? CTL_OK : rc;
    if (argc - 1 - first != 0)
        return ctl_usage_error(s_help_worker, "worker get takes no arguments");
    json_t *list = NULL;
    if ((rc = ctl_call(ctl, "GET", "/v1/workers", NULL, 30000, &list)) != CTL_OK)
        return rc;
    if (ctl->json) {
        ctl_print_json(list);
    } else if (json_array_size(list) == 0) {
        printf("No workers have connected.\n");
    } else {
        static const char *headers[] = {"WORKER", "SITE", "STATE", "CAPACITY", "IN_FLIGHT",
                                        "LAST_SEEN"};
        ctl_table_t *t = ctl_table_new(6, headers);
        size_t k;
        json_t *w;
        json_array_foreach(list, k, w) {
            char cap[32], busy[32];
            snprintf(cap, sizeof cap, "%lld",
                     (long long)json_integer_value(json_object_get(w, "capacity")));
            snprintf(busy, sizeof busy, "%lld",
                     (long long)json_integer_value(json_object_get(w, "in_flight")));
            const char *row[6] = {json_string_value(json_object_get(w, "id")),
                                  json_string_value(json_object_get(w, "site")),
                                  json_string_value(json_object_get(w, "state")),
                                  cap,
                                  busy,
                                  json_string_value(json_object_get(w, "last_seen"))};
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
