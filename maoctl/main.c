/*
 * maoctl: the command line of mao.  Talks HTTP to the coordinator; clones
 * datasets locally.  main() takes the global options, then hands the rest
 * to the command group (tool, dataset, ...).
 */
#include "ctl.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *s_help =
    "Usage: maoctl [--server URL] [-o table|json] [-c FILE] <command> <verb> [args]\n"
    "\n"
    "The command line of mao, the orchestrator of periodic research experiments.\n"
    "\n"
    "Commands:\n"
    "  tool       list, register, remove and run tools\n"
    "  dataset    list, register, remove, clone datasets\n"
    "  run        show runs: get, list, logs\n"
    "  schedule   show and change schedules: get, remove, pause, resume, preview\n"
    "  why NAME   when a tool last ran, when next, and why not when it did not\n"
    "  worker     list the workers and their state\n"
    "  watch      print events as they happen\n"
    "  spike DIR  run the spike detector on a folder of control files, here\n"
    "  keygen NAME  make a CURVE key pair (workers, coordinator, watch)\n"
    "\n"
    "Global options (anywhere on the line):\n"
    "  --server URL[,URL]  the coordinator (default: $MAO_SERVER, else\n"
    "                      http://127.0.0.1:8080); with several, the next is\n"
    "                      tried when one cannot be reached, and a standby's\n"
    "                      leader is asked in its place\n"
    "  -o, --output FMT    table (default, for people) or json (for scripts)\n"
    "  -c, --config FILE   configuration file, for local settings such as\n"
    "                      allow_local_repos (default: $MAO_CONFIG)\n"
    "  -h, --help          help; every command and verb has its own\n"
    "  -V, --version       print the version\n"
    "\n"
    "Environment:\n"
    "  MAO_SERVER          the coordinator's URL (or several, comma-separated)\n"
    "  MAO_TOKEN           the API token, for a coordinator that asks for one\n"
    "                      (or MAO_TOKEN_FILE: a file holding it)\n"
    "  MAO_CACERT          CA certificates (PEM) to trust for an https coordinator\n"
    "  MAO_KEY             maoctl watch's CURVE certificate\n"
    "  MAO_CONFIG          the configuration file\n"
    "\n"
    "Exit status: 0 success, 1 failure, 2 usage error.\n";

int main(int argc, char **argv)
{
    ctl_t ctl = {0};
    int rc;
    signal(SIGPIPE, SIG_IGN);
    ctl.tty = isatty(STDERR_FILENO);
    const char *env = getenv("MAO_SERVER");
    if ((rc = ctl_set_servers(&ctl, env && *env ? env : "http://127.0.0.1:8080")) != CTL_OK) {
        fprintf(stderr, "maoctl: (from MAO_SERVER)\n");
        return rc;
    }

    /* Global options before the command; the verbs accept them too. */
    int i = 1;
    if ((rc = ctl_leading_globals(&ctl, argc, argv, &i, s_help, 1)) != 0)
        return rc < 0 ? CTL_OK : rc;
    if (i >= argc) {
        fputs(s_help, stderr);
        return CTL_USAGE;
    }
    const char *cmd = argv[i];
    if (strcmp(cmd, "tool") == 0)
        rc = cmd_tool(&ctl, argc - i, argv + i);
    else if (strcmp(cmd, "dataset") == 0)
        rc = cmd_dataset(&ctl, argc - i, argv + i);
    else if (strcmp(cmd, "spike") == 0)
        rc = cmd_spike(&ctl, argc - i, argv + i);
    else if (strcmp(cmd, "run") == 0)
        rc = cmd_run(&ctl, argc - i, argv + i);
    else if (strcmp(cmd, "schedule") == 0)
        rc = cmd_schedule(&ctl, argc - i, argv + i);
    else if (strcmp(cmd, "why") == 0)
        rc = cmd_why(&ctl, argc - i, argv + i);
    else if (strcmp(cmd, "worker") == 0)
        rc = cmd_worker(&ctl, argc - i, argv + i);
    else if (strcmp(cmd, "watch") == 0)
        rc = cmd_watch(&ctl, argc - i, argv + i);
    else if (strcmp(cmd, "keygen") == 0)
        rc = cmd_keygen(&ctl, argc - i, argv + i);
    else if (strcmp(cmd, "help") == 0) {
        fputs(s_help, stdout);
        rc = CTL_OK;
    } else
        rc = ctl_usage_error(s_help, "unknown command '%s'", cmd);
    mao_http_destroy(&ctl.http);
    mao_cfg_destroy(&ctl.cfg);
    return rc;
}
