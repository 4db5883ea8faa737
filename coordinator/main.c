/*
 * mao-coordinator: owns the shared registry and serves the HTTP API.
 * main() reads as a start-up script: options, config, logging, server, run.
 */
#include "coord_server.h"
#include "mao_cfg.h"
#include <czmq.h>
#include "mao_error.h"
#include "mao_log.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

/* The only thing a signal does: ask the reactor to stop. */
static void s_on_signal(int sig)
{
    zsys_interrupted = 1;
}

static void s_usage(FILE *out)
{
    fprintf(out,
            "Usage: mao-coordinator [-c FILE] [--log-level LEVEL]\n"
            "\n"
            "Owns mao's registry of tools and datasets in etcd and serves the HTTP API\n"
            "that maoctl and the original orchestrator's scripts talk to.\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE      configuration file (default: $MAO_CONFIG, else\n"
            "                         /etc/mao/mao.conf when it exists, else built-in defaults)\n"
            "      --log-level LEVEL  error, warn, info (default) or debug\n"
            "      --check-config     read the configuration, report unknown keys and exit\n"
            "                         (0 when it is clean, 1 when not)\n"
            "  -V, --version          print the version and exit\n"
            "  -h, --help             print this help and exit\n"
            "\n"
            "Every configuration key can be set from the environment as\n"
            "MAO_<SECTION>_<KEY>, e.g. MAO_ETCD_ENDPOINTS or MAO_COORDINATOR_API.\n"
            "See mao.conf(5) and docs/config.md.\n");
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    const char *level_text = NULL;
    int check_only = 0;
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"log-level", required_argument, NULL, 'L'},
        {"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
        {"check-config", no_argument, NULL, 'C'}, {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "c:Vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 'L': level_text = optarg; break;
        case 'C': check_only = 1; break;
        case 'V': printf("mao-coordinator %s\n", MAO_VERSION); return 0;
        case 'h': s_usage(stdout); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mao-coordinator: unexpected argument '%s'\n", argv[optind]);
        s_usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    zsys_handler_set(NULL); /* our handler, not czmq's */
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    /* When another coordinator leads after this one did, the server stops;
     * it starts over from nothing, configuration read again, as a standby. */
    int rc = 1;
    for (int round = 0; rc == 1 && !zsys_interrupted; round++) {
        mao_cfg_t *cfg = NULL;
        int status;
        if (!mao_cfg_daemon_start(&cfg, &status, "mao-coordinator", config, level_text,
                                  check_only))
            return round == 0 ? status : 1;
        coord_server_t *server = NULL;
        if (coord_server_open(&server, cfg) < 0) { /* it owns cfg, even then */
            mao_log_error("coordinator", "start.failed detail=\"%s\"", mao_error_last());
            return 1;
        }
        rc = coord_server_run(server);
        coord_server_destroy(&server);
    }
    return 0;
}
