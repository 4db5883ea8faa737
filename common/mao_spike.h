/*
 * mao_spike: the spike detector.  After each run of a tool the worker (and
 * `maoctl spike DIR`) looks at the tool's data folder and says whether the
 * run's control metric jumped.
 *
 * Tool compliance: every run writes `control-<value>.csv` into the folder,
 * `<value>` sortable (a date); the file holds one number, optionally after
 * one header line.  Names sort bytewise (strcmp, no locale); the greatest is
 * the current run, the `window` names before it are the history.
 *
 * Central idea: only the newest window+1 names matter, so the folder is read
 * in one pass (getdents64, large buffer) keeping a bounded top-k of names
 * (k = window+1, a min-heap); the listing is never sorted and no other file
 * is opened.  A folder of 100,000 control files costs one directory scan.
 *
 * Invariants: nothing read from the folder reaches an assert or aborts; every
 * problem with the data (a bad file, a zero mean) is a sentence in the
 * report's `error`, and the run function still returns 0, because the folder
 * was examined and the report is the answer.  Negative codes are kept for
 * "could not look at the folder at all" and for bad arguments.  The detector
 * holds no state between calls and is safe to call from several threads.
 */
#ifndef MAO_SPIKE_H
#define MAO_SPIKE_H

#include "mao_tool.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define MAO_SPIKE_WINDOW_DEFAULT 2          /* previous values compared against */
#define MAO_SPIKE_WINDOW_MAX 10000          /* the registry accepts 1..10000 too */
#define MAO_SPIKE_GAIN_THRESHOLD_DEFAULT 20 /* percent, the original's rule */
#define MAO_SPIKE_MAD_THRESHOLD_DEFAULT 3.5 /* robust z-score (Iglewicz and Hoaglin) */
#define MAO_SPIKE_THRESHOLD_MAX 1e9         /* as the registry's check */
#define MAO_SPIKE_FILE_MAX 65536            /* largest control file read, bytes */
#define MAO_SPIKE_PATH_MAX 4096             /* longest data path, with its NUL */
#define MAO_SPIKE_NAME_MAX 256              /* longest file name (NAME_MAX), with NUL */
#define MAO_SPIKE_ERROR_MAX 512             /* longest error sentence, with NUL */
#define MAO_SPIKE_TEXT_MAX 8192             /* a buffer mao_spike_report_text always fits */

typedef enum {
    MAO_SPIKE_GAIN = 0, /* the original: gain of current over the mean, in percent */
    MAO_SPIKE_MAD = 1,  /* robust: (current - median) / (1.4826 * MAD) */
} mao_spike_method_t;

/* How the detector decides.  Start from mao_spike_params_default(). */
typedef struct {
    mao_spike_method_t method;
    long window;      /* previous values compared against, 1..MAO_SPIKE_WINDOW_MAX */
    double threshold; /* > 0: percent (gain) or robust z-score (mad); strict '>' */
} mao_spike_params_t;

/* What one look at a folder found.  Plain data, no pointers: copy it, keep it
 * on the stack, send it.  Numbers are meaningful only when `enough_data` is 1
 * and `error` is empty. */
typedef struct {
    char datapath[MAO_SPIKE_PATH_MAX]; /* the folder examined, as given */
    size_t snapshots;                  /* control files found (regular, named control-*.csv) */
    int enough_data;                   /* 1 when snapshots >= window + 1 */
    double rolling_avg;                /* mean (gain) or median (mad) of the previous values */
    double current;                    /* the newest file's value: the control metric */
    double diff;                       /* current - rolling_avg */
    double gain;                       /* percent (gain); robust score (mad), may be +-INFINITY */
    int spike;                         /* 1 when |gain| > threshold; 0 otherwise and on error */
    char newest[MAO_SPIKE_NAME_MAX];   /* the current file's name; "" when none */
    mao_spike_method_t method;         /* the parameters used */
    long window;
    double threshold;
    char error[MAO_SPIKE_ERROR_MAX]; /* "" when fine, else one sentence ("control-3.csv: ...") */
} mao_spike_report_t;

/* The original's parameters: gain, window 2, threshold 20 (percent). */
mao_spike_params_t mao_spike_params_default(void);

/* The default threshold of a method: 20 for gain, 3.5 for mad. */
double mao_spike_threshold_default(mao_spike_method_t method);

/* "gain" or "mad". */
const char *mao_spike_method_name(mao_spike_method_t method);

/* Parses "gain" or "mad" into *out.  Returns 0, or MAO_EINVAL with a detail
 * (then *out is untouched). */
int mao_spike_method_parse(mao_spike_method_t *out, const char *text);

/* Applies a tool's overrides (mao_tool.h) on top of *params, in place:
 * a non-empty `method` replaces the method; a `window` other than 0 replaces
 * the window; a `threshold` other than 0 replaces the threshold.  A threshold
 * belongs to its method: when `opts` names a method and gives no threshold,
 * the threshold becomes that method's default.  `opts` NULL changes nothing.
 * Everything is checked before anything changes.  Returns 0, or MAO_EINVAL
 * with a detail (unknown method, window outside 1..10000, threshold not a
 * positive finite number up to 1e9) and *params untouched. */
int mao_spike_params_apply(mao_spike_params_t *params, const mao_spike_opts_t *opts);

/* Examines the folder `datapath` with `params` (NULL for the defaults) and
 * fills *out (the caller's storage; every field is overwritten).
 *
 * Finds the control files in one pass over the folder, reads only the newest
 * window+1 of them (all of them when there are fewer, so that a malformed
 * file is reported from the first run on), and decides.  Symbolic links,
 * folders and other special files named control-*.csv are ignored, as are
 * names with nothing between "control-" and ".csv".
 *
 * Returns 0 whenever the folder could be listed (barring MAO_ENOMEM); the
 * outcome is then in the
 * report: a verdict (`enough_data` 1, `spike` 0 or 1), "insufficient data"
 * (`enough_data` 0, no spike, `error` empty), or a problem with the data in
 * `error` (a file empty, not a number, with more than one value, larger than
 * MAO_SPIKE_FILE_MAX, NaN/infinite/overflowing, unreadable; a zero mean under
 * gain; results out of range).  Negative returns, each with a detail in
 * mao_error_last() also copied into out->error:
 *   MAO_EINVAL    `out` or `datapath` NULL or empty, the path too long,
 *                 invalid `params`, or `datapath` is not a folder;
 *   MAO_ENOTFOUND `datapath` does not exist;
 *   MAO_EFAIL     the folder cannot be opened or listed (permissions, I/O);
 *   MAO_ENOMEM    out of memory. */
int mao_spike_run(mao_spike_report_t *out, const char *datapath, const mao_spike_params_t *params);

/* Parses the content of one control file, text[0..len), into *out, with the
 * same code mao_spike_run() applies to each file it reads: blank lines
 * anywhere, an optional UTF-8 BOM, an optional first line that is not a
 * number (a header), then exactly one plain decimal number on a line of its
 * own; lines end with LF, CRLF or CR.  `name` is the file's name, as the
 * problem sentence names it.  For checking content before it is written, and
 * for tests and fuzzing.  `text` is not modified.  Returns 0 with the value
 * in *out; MAO_EMALFORMED with the problem in mao_error_last() (the
 * sentence mao_spike_run would put in the report's error, e.g.
 * "control-3.csv: more than one value (lines 1 and 2); ...", also for more
 * than MAO_SPIKE_FILE_MAX bytes) and *out untouched; MAO_EINVAL when `out`
 * or `name` is NULL, or `text` is NULL with `len` > 0; MAO_ENOMEM. */
int mao_spike_value_parse(double *out, const char *text, size_t len, const char *name);

/*
 * Watched folders: the worker runs the detector over a tool's folder after
 * every run of the tool, and between two runs only a few files change.  A
 * watch set keeps, for each folder it follows, the sorted set of its
 * control-file names and follows the folders with inotify, so a look costs
 * reading the events and the newest window+1 files, however many files the
 * folder holds.  The sets are exact: every name that appears is checked to be
 * a regular file, and when events were lost (queue overflow) or a folder
 * itself was removed, moved or replaced, its next look lists it again.
 *
 * All the folders share one inotify instance (the kernel allows a user 128
 * of them by default, and several workers may run as one user); at most
 * `max_folders` are followed, the one looked at longest ago making room for
 * a new one, and so do folders looked at long ago while the set holds more
 * than `max_names` names in all.  A folder that cannot be
 * watched (no inotify watches left) is listed at each look.  One thread at a
 * time per set.
 */
typedef struct mao_spike_watches_t mao_spike_watches_t;

/* A new, empty set following at most `max_folders` (at least 1) folders
 * holding at most `max_names` names in all (0: about a million, some 50 MB;
 * one folder is kept however many it has).  Returns 0; MAO_EFAIL when no inotify instance can be had (fall back on
 * mao_spike_run); MAO_EINVAL; MAO_ENOMEM. */
int mao_spike_watches_new(mao_spike_watches_t **out, size_t max_folders, size_t max_names);

/* mao_spike_run on `datapath`, which the set follows from now on: same
 * report, same return codes.  The first look at a folder lists it. */
int mao_spike_watches_run(mao_spike_report_t *out, mao_spike_watches_t *self,
                          const char *datapath, const mao_spike_params_t *params);

/* How many times `datapath` was listed in full since the set follows it (1
 * after the first look); 0 when it does not follow it. */
uint64_t mao_spike_watches_rescans(const mao_spike_watches_t *self, const char *datapath);

/* How many folders the set follows. */
size_t mao_spike_watches_count(const mao_spike_watches_t *self);

/* Stops watching and frees; accepts NULL and sets *self_p to NULL. */
void mao_spike_watches_destroy(mao_spike_watches_t **self_p);

/* The report as JSON, a new reference owned by the caller, with the keys
 * datapath, snapshots, spike, rolling_avg, control_metric, diff, gain,
 * method, window, threshold, newest, error.  rolling_avg, control_metric,
 * diff and gain are left out when there is not enough data or an error;
 * error appears only when there is one; newest is null when no control file
 * was found; an infinite mad score is written as null.  Bytes that are not
 * UTF-8 in the path or names become U+FFFD.  NULL only when out of memory or
 * `report` is NULL. */
json_t *mao_spike_report_to_json(const mao_spike_report_t *report);

/* Writes the report for people into `out` (NUL-terminated), one "Label: value"
 * per line: Data path, Snapshots, Method, Newest, then, with a verdict,
 * Rolling average, Control value, Difference, Gain (Score under mad), and
 * always Verdict: "spike", "no spike", "not enough data yet (N of M
 * snapshots)" or "error: ...".  Names are written as they are: escape them
 * before a terminal sees them.  Returns 0, or MAO_EINVAL when an argument is
 * NULL, `size` is 0 or the text did not fit (it is then cut, still
 * terminated); MAO_SPIKE_TEXT_MAX bytes always suffice. */
int mao_spike_report_text(char *out, size_t size, const mao_spike_report_t *report);

#endif
