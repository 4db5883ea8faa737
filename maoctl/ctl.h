/*
 * maoctl's shared parts: the context every verb receives, talking to the
 * coordinator, option parsing with the global options, and output.
 *
 * Exit codes, everywhere: 0 success, 1 failure (the one line on stderr says
 * why), 2 usage error.
 */
#ifndef CTL_H
#define CTL_H

#include "mao_cfg.h"
#include "mao_error.h"
#include "mao_http.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

enum { CTL_OK = 0, CTL_FAIL = 1, CTL_USAGE = 2 };

typedef struct {
    char server[512];        /* the coordinator asked now: base URL, no trailing '/' */
    char servers[1024];      /* --server / MAO_SERVER: one URL or several, comma-separated,
                              * tried in order when one cannot be reached */
    int json;                /* -o json: machine output */
    const char *config_path; /* -c FILE, or NULL */
    mao_cfg_t *cfg;          /* loaded on first use by ctl_cfg() */
    mao_http_t *http;        /* one kept-alive connection to the coordinator */
    int tty;                 /* stderr is a terminal: progress may be shown */
} ctl_t;

/* A verb's own option: its getopt entry and what it does.  `fn` returns
 * CTL_OK to go on or CTL_USAGE. */
typedef int(ctl_opt_fn)(int id, const char *value, void *arg);

/* Parses a verb's argv (argv[0] is the verb) with the global options (-o,
 * --server, -c, -h) plus `extra` (may be NULL).  On --help prints `help` and
 * returns -1 (the caller exits 0); on a usage error prints why and returns
 * CTL_USAGE; else returns 0 and leaves the positionals at argv[*first..argc). */
int ctl_parse(ctl_t *ctl, int argc, char **argv, const char *help, const struct option *extra,
              ctl_opt_fn *fn, void *arg, int *first);

/* Takes the global options that come before a command or verb word, starting
 * at argv[*index], and leaves *index at that word.  Returns 0 to go on, -1
 * when --help was shown (or --version, when `version`), or CTL_USAGE. */
int ctl_leading_globals(ctl_t *ctl, int argc, char **argv, int *index, const char *help,
                        int version);

/* Parses a verb that takes exactly one NAME of `kind` ("tool", "dataset")
 * and no options of its own; `verb` names it in the usage error ("tool
 * remove").  Returns 0 with *name set, -1 after --help (exit 0), or
 * CTL_USAGE / CTL_FAIL after saying why. */
int ctl_parse_name(ctl_t *ctl, int argc, char **argv, const char *help, const char *kind,
                   const char *verb, const char **name);

/* `maoctl tool remove` and `maoctl dataset remove`: DELETE <collection>/NAME
 * ("/v1/tools") and say so. */
int ctl_remove(ctl_t *ctl, int argc, char **argv, const char *help, const char *kind,
               const char *collection);

/* Prints "maoctl: <usage problem>" and the verb's usage line; returns CTL_USAGE. */
int ctl_usage_error(const char *help, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "maoctl: <message>" on stderr; returns CTL_FAIL. */
int ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Sets the coordinator(s): one URL or a comma-separated list (each http://
 * or https://).  Returns CTL_OK, or CTL_USAGE after saying why. */
int ctl_set_servers(ctl_t *ctl, const char *list);

/* Makes `url` the coordinator asked from now on (trailing '/' dropped). */
void ctl_use_server(ctl_t *ctl, const char *url);

/* Sends a request to the coordinator (`body` may be NULL) and parses the JSON
 * reply into *reply (new reference; may be NULL when not wanted).  A reply of
 * 2xx returns CTL_OK; anything else prints the coordinator's message and
 * returns CTL_FAIL. `timeout_ms` 0 means no limit.  When a coordinator of the
 * list cannot be reached the next is tried; when one stands by (503
 * "standby"), the request goes to the leader it names. */
int ctl_call(ctl_t *ctl, const char *method, const char *path, json_t *body, long timeout_ms,
             json_t **reply);

/* Like ctl_call, but hands back the status instead of failing on 4xx/5xx.
 * Returns CTL_OK when the coordinator answered with JSON. */
int ctl_call_status(ctl_t *ctl, const char *method, const char *path, json_t *body,
                    long timeout_ms, long *status, json_t **reply);

/* The configuration (-c, $MAO_CONFIG, /etc/mao/mao.conf or defaults).
 * NULL when it cannot be read (the reason is printed). */
mao_cfg_t *ctl_cfg(ctl_t *ctl);

/* Prints JSON, indented, on stdout. */
void ctl_print_json(json_t *json);

/* ---- aligned tables ---- */
typedef struct ctl_table_t ctl_table_t;
ctl_table_t *ctl_table_new(size_t columns, const char *const *headers);
void ctl_table_add(ctl_table_t *t, const char *const *cells);
void ctl_table_print(ctl_table_t *t, FILE *out);
void ctl_table_destroy(ctl_table_t **t);

/* Writes `text` with control characters shown as escapes, so that what others
 * registered cannot drive the terminal. */
void ctl_print_safe(FILE *out, const char *text);

/* The verbs, one file each. */
int cmd_tool(ctl_t *ctl, int argc, char **argv);
int cmd_dataset(ctl_t *ctl, int argc, char **argv);
int cmd_spike(ctl_t *ctl, int argc, char **argv);
int cmd_run(ctl_t *ctl, int argc, char **argv);
int cmd_worker(ctl_t *ctl, int argc, char **argv);
int cmd_watch(ctl_t *ctl, int argc, char **argv);
int cmd_keygen(ctl_t *ctl, int argc, char **argv);

int cmd_schedule(ctl_t *ctl, int argc, char **argv);
int cmd_why(ctl_t *ctl, int argc, char **argv);

/* maoctl tool run (in cmd_run.c), tool schedule and tool history (cmd_schedule.c). */
int ctl_tool_run(ctl_t *ctl, int argc, char **argv);
int ctl_tool_schedule(ctl_t *ctl, int argc, char **argv);
int ctl_tool_history(ctl_t *ctl, int argc, char **argv);

#endif
