/*
 * maoctl spike: the spike detector run here, on a folder, without a
 * coordinator, so that a tool's author can check that the tool complies
 * (control-<value>.csv files holding one number) and see the report a worker
 * would send after the next run.
 *
 * Exit codes follow ctl.h, with one rule of its own: a spike is a finding,
 * not a failure, so a verdict (spike or not) and "not enough data yet" both
 * exit 0; a control file the detector cannot use, or a DIR it cannot list,
 * exits 1.
 */
#include "ctl.h"
#include "mao_spike.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { S_OPT_WINDOW = 1001, S_OPT_THRESHOLD, S_OPT_METHOD };

static const char *s_help_spike =
    "Usage: maoctl spike DIR [--window N] [--threshold P] [--method gain|mad] [-o json]\n"
    "\n"
    "Runs the spike detector on the folder DIR, here, as a worker does after each\n"
    "run of a tool, and prints its report.\n"
    "\n"
    "Tool compliance: each run writes control-<value>.csv into the tool's data\n"
    "folder, <value> sortable as text (a date: 2025-01-31T1200); the file holds one\n"
    "number, the control metric, optionally after one header line (\"value\\n12.5\\n\").\n"
    "Files are sorted by name, byte by byte: the last is the current run.  Other\n"
    "names, folders and symbolic links are ignored; a file larger than 64 KiB, empty,\n"
    "or not holding exactly one number is an error.\n"
    "\n"
    "Methods:\n"
    "  gain   the default, the original rule: gain = (current / mean - 1) * 100,\n"
    "         the mean taken over the previous N values; a spike when |gain| > P\n"
    "         percent (default 20).  A mean of 0 is an error.\n"
    "  mad    robust to outliers in the history: score = (current - median) /\n"
    "         (1.4826 * MAD) over the previous N values; a spike when |score| > P\n"
    "         (default 3.5).  When the MAD is 0, 1.2533 * the mean absolute\n"
    "         deviation is the spread; when the previous values are all equal,\n"
    "         any other value is a spike.\n"
    "\n"
    "With fewer than N+1 control files the verdict is \"not enough data yet\"; the\n"
    "files present are still checked.\n"
    "\n"
    "Options:\n"
    "  --window N      previous values compared against (default 2; 1 to 10000)\n"
    "  --threshold P   percent for gain, score for mad (default 20, or 3.5 for mad)\n"
    "  --method M      gain or mad (default gain)\n"
    "  -o json         print the report as JSON\n"
    "\n"
    "Exit status: 0 for a verdict, spike or not, and for not enough data yet;\n"
    "1 when a control file is wrong or DIR cannot be read; 2 on a usage error.\n";

/* Takes --window, --threshold and --method into the mao_spike_opts_t at `arg`. */
static int s_opt(int id, const char *value, void *arg)
{
    mao_spike_opts_t *opts = arg;
    char *end = NULL;
    switch (id) {
    case S_OPT_WINDOW: {
        errno = 0;
        long window = strtol(value, &end, 10);
        if (errno || end == value || *end || window < 1 || window > MAO_SPIKE_WINDOW_MAX)
            return ctl_usage_error(s_help_spike,
                                   "--window needs a whole number from 1 to %d, "
                                   "not '%s'",
                                   MAO_SPIKE_WINDOW_MAX, value);
        opts->window = window;
        return CTL_OK;
    }
    case S_OPT_THRESHOLD: {
        errno = 0;
        double threshold = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(threshold) || threshold <= 0 ||
            threshold > MAO_SPIKE_THRESHOLD_MAX)
            return ctl_usage_error(s_help_spike, "--threshold needs a positive number, not '%s'",
                                   value);
        opts->threshold = threshold;
        return CTL_OK;
    }
    case S_OPT_METHOD:
        if (strcmp(value, "gain") != 0 && strcmp(value, "mad") != 0)
            return ctl_usage_error(s_help_spike, "--method is gain or mad, not '%s'", value);
        snprintf(opts->method, sizeof opts->method, "%s", value);
        return CTL_OK;
    default:
        return ctl_usage_error(s_help_spike, "unexpected option");
    }
}

/* maoctl spike DIR [options]; argv[0] is "spike".  Returns CTL_OK, CTL_FAIL
 * or CTL_USAGE as the header says. */
int cmd_spike(ctl_t *ctl, int argc, char **argv)
{
    static const struct option opts[] = {{"window", required_argument, NULL, S_OPT_WINDOW},
                                         {"threshold", required_argument, NULL, S_OPT_THRESHOLD},
                                         {"method", required_argument, NULL, S_OPT_METHOD},
                                         {NULL, 0, NULL, 0}};
    mao_spike_opts_t overrides;
    mao_spike_params_t params = mao_spike_params_default();
    mao_spike_report_t report;
    char text[MAO_SPIKE_TEXT_MAX];
    int first;

    memset(&overrides, 0, sizeof overrides);
    int rc = ctl_parse(ctl, argc, argv, s_help_spike, opts, s_opt, &overrides, &first);
    if (rc)
        return rc < 0 ? CTL_OK : rc;
    if (argc - first != 1)
        return ctl_usage_error(s_help_spike, "spike needs one DIR");
    if (mao_spike_params_apply(&params, &overrides) < 0)
        return ctl_usage_error(s_help_spike, "%s", mao_error_last());

    rc = mao_spike_run(&report, argv[first], &params);
    if (ctl->json) {
        /* Scripts get the report even when DIR could not be read: it says why. */
        json_t *json = mao_spike_report_to_json(&report);
        if (!json)
            return ctl_fail("out of memory");
        ctl_print_json(json);
        json_decref(json);
    } else if (rc == 0) {
        mao_spike_report_text(text, sizeof text, &report);
        ctl_print_safe(stdout, text);
    }
    if (rc < 0 || report.error[0]) {
        fputs("maoctl: ", stderr);
        ctl_print_safe(stderr, report.error);
        fputc('\n', stderr);
        return CTL_FAIL;
    }
    return CTL_OK;
}
