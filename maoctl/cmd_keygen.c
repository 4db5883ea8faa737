/*
 * maoctl keygen: a CURVE key pair for a worker, a coordinator or an events
 * client.
 */
#include "ctl.h"
#include "mao_curve.h"

#include <string.h>

static const char *s_help_keygen =
    "Usage: maoctl keygen NAME\n"
    "\n"
    "Makes a CURVE key pair for the coordinator's sockets: NAME holds the public\n"
    "key, NAME_secret the secret one (readable by its owner only).  Nothing is\n"
    "overwritten.\n"
    "\n"
    "  coordinator: [COORDINATOR] curve_key = NAME; its public key goes into each\n"
    "               worker's [WORKER] coordinator_key (the key, or a copy of NAME)\n"
    "  worker:      [WORKER] curve_key = NAME; copy NAME (the public file only)\n"
    "               into the coordinator's [COORDINATOR] curve_clients folder\n"
    "  maoctl watch: --key NAME, and NAME into curve_clients too\n";

int cmd_keygen(ctl_t *ctl, int argc, char **argv)
{
    int first;
    int rc = ctl_parse(ctl, argc, argv, s_help_keygen, NULL, NULL, NULL, &first);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    if (argc - first != 1)
        return ctl_usage_error(s_help_keygen, "keygen takes one NAME");
    const char *name = argv[first];
    if (!*name || name[strlen(name) - 1] == '/')
        return ctl_usage_error(s_help_keygen, "NAME is a file name");
    char key[MAO_CURVE_KEY_LEN + 1];
    if (mao_curve_keygen(name, key) < 0)
        return ctl_fail("%s", mao_error_last());
    if (ctl->json) {
        json_t *out = json_pack("{s:s, s:s+, s:s}", "public", name, "secret", name, "_secret",
                                "public_key", key);
        if (!out)
            return ctl_fail("out of memory");
        ctl_print_json(out);
        json_decref(out);
    } else {
        printf("public key  %s\n", key);
        printf("public      %s  (give this one to the other side)\n", name);
        printf("secret      %s_secret  (keep it here, readable by its owner only)\n", name);
    }
    return CTL_OK;
}
