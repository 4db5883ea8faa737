/*
 * mao_spike: the spike detector (see mao_spike.h for the contract).
 *
 * Three steps.  Scan: one pass of getdents64 over the folder with a 256 KiB
 * buffer; names that are control-*.csv regular files are counted and offered
 * to a bounded min-heap of the k = window+1 greatest names (strcmp), so the
 * work is O(n log k) with k small and no listing is kept or sorted.  Read: the
 * k names are sorted and each file is opened relative to the folder (openat,
 * O_NOFOLLOW, O_NONBLOCK so that a FIFO swapped in cannot block us), checked
 * to be a regular file of at most MAO_SPIKE_FILE_MAX bytes by fstat before a
 * byte is read, and parsed strictly.  Decide: gain or mad arithmetic, every
 * intermediate checked to be finite.
 *
 * Invariants: the report is always fully written; a problem with what is in
 * the folder is a sentence in report->error and a return of 0; a negative
 * return means the folder could not be examined (or bad arguments) and then
 * mao_error_last() and report->error hold the same detail.
 */
#include "mao_spike.h"
#include "mao_error.h"
#include "mao_name.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_PREFIX "control-"
#define S_PREFIX_LEN 8
#define S_SUFFIX ".csv"
#define S_SUFFIX_LEN 4
#define S_DENTS_BUF (256 * 1024) /* one getdents64 call returns ~4,500 short names */
#define S_WATCH_NAMES_MAX (1 << 20) /* names a watch set holds in all by default (~50 MB) */
#define S_MAD_SCALE 1.4826       /* MAD to a normal sigma */
#define S_MEANAD_SCALE 1.2533    /* mean absolute deviation to a normal sigma, sqrt(pi/2) */
#define S_QUOTE_MAX 48           /* file content or names repeated in an error */

/* The k greatest names seen so far: a min-heap of pointers into fixed slots,
 * the smallest kept name at heap[0], so a new name either beats it or is
 * dropped with one strcmp. */
typedef struct {
    char **heap; /* len pointers, heap-ordered by strcmp */
    char *slots; /* k slots of MAO_SPIKE_NAME_MAX bytes */
    size_t k;    /* capacity: window + 1 */
    size_t len;  /* names kept, <= k */
} s_topk_t;

/* ---- parameters ---------------------------------------------------------- */

mao_spike_params_t mao_spike_params_default(void)
{
    mao_spike_params_t params = {.method = MAO_SPIKE_GAIN,
                                 .window = MAO_SPIKE_WINDOW_DEFAULT,
                                 .threshold = MAO_SPIKE_GAIN_THRESHOLD_DEFAULT};
    return params;
}

double mao_spike_threshold_default(mao_spike_method_t method)
{
    return method == MAO_SPIKE_MAD ? MAO_SPIKE_MAD_THRESHOLD_DEFAULT
                                   : MAO_SPIKE_GAIN_THRESHOLD_DEFAULT;
}

const char *mao_spike_method_name(mao_spike_method_t method)
{
    return method == MAO_SPIKE_MAD ? "mad" : "gain";
}

int mao_spike_method_parse(mao_spike_method_t *out, const char *text)
{
    if (!out || !text) {
        mao_error_set("spike method missing (use gain or mad)");
        return MAO_EINVAL;
    }
    if (strcmp(text, "gain") == 0) {
        *out = MAO_SPIKE_GAIN;
        return 0;
    }
    if (strcmp(text, "mad") == 0) {
        *out = MAO_SPIKE_MAD;
        return 0;
    }
    char shown[S_QUOTE_MAX];
    mao_error_set("unknown spike method \"%s\" (use gain or mad)",
                  mao_text_quote(shown, sizeof shown, text));
    return MAO_EINVAL;
}

static int s_check_window(long window)
{
    if (window < 1 || window > MAO_SPIKE_WINDOW_MAX) {
        mao_error_set("spike window %ld is out of range (1 to %d)", window, MAO_SPIKE_WINDOW_MAX);
        return MAO_EINVAL;
    }
    return 0;
}

static int s_check_threshold(double threshold)
{
    if (!isfinite(threshold) || threshold <= 0 || threshold > MAO_SPIKE_THRESHOLD_MAX) {
        mao_error_set("spike threshold %g must be a positive number up to %g", threshold,
                      MAO_SPIKE_THRESHOLD_MAX);
        return MAO_EINVAL;
    }
    return 0;
}

static int s_check_params(const mao_spike_params_t *params)
{
    int rc;
    if (params->method != MAO_SPIKE_GAIN && params->method != MAO_SPIKE_MAD) {
        mao_error_set("unknown spike method %d", (int)params->method);
        return MAO_EINVAL;
    }
    if ((rc = s_check_window(params->window)) < 0)
        return rc;
    return s_check_threshold(params->threshold);
}

int mao_spike_params_apply(mao_spike_params_t *params, const mao_spike_opts_t *opts)
{
    int rc = 0;
    mao_spike_params_t next;

    if (!params) {
        mao_error_set("spike parameters missing");
        return MAO_EINVAL;
    }
    if (!opts)
        return 0;
    next = *params;
    if (memchr(opts->method, '\0', sizeof opts->method) == NULL) {
        mao_error_set("spike method is not terminated");
        return MAO_EINVAL;
    }
    if (opts->method[0]) {
        if ((rc = mao_spike_method_parse(&next.method, opts->method)) < 0)
            goto cleanup;
        next.threshold = mao_spike_threshold_default(next.method);
    }
    if (opts->window != 0) {
        if ((rc = s_check_window(opts->window)) < 0)
            goto cleanup;
        next.window = opts->window;
    }
    if (opts->threshold != 0) {
        if ((rc = s_check_threshold(opts->threshold)) < 0)
            goto cleanup;
        next.threshold = opts->threshold;
    }
    if ((rc = s_check_params(&next)) < 0)
        goto cleanup;
    *params = next;
cleanup:
    return rc;
}

/* ---- the bounded top-k of names ------------------------------------------ */

static int s_topk_init(s_topk_t *top, size_t k)
{
    top->k = k;
    top->len = 0;
    top->heap = malloc(k * sizeof *top->heap);
    top->slots = malloc(k * MAO_SPIKE_NAME_MAX);
    if (!top->heap || !top->slots) {
        free(top->heap);
        free(top->slots);
        top->heap = NULL;
        top->slots = NULL;
        return MAO_ENOMEM;
    }
    return 0;
}

static void s_topk_clear(s_topk_t *top)
{
    free(top->heap);
    free(top->slots);
    top->heap = NULL;
    top->slots = NULL;
}

static void s_heap_swap(char **heap, size_t a, size_t b)
{
    char *t = heap[a];
    heap[a] = heap[b];
    heap[b] = t;
}

/* Offers one name of `len` bytes (< MAO_SPIKE_NAME_MAX); keeps it when it is
 * among the k greatest so far. */
static void s_topk_offer(s_topk_t *top, const char *name, size_t len)
{
    size_t i;
    if (top->len < top->k) {
        char *slot = top->slots + top->len * MAO_SPIKE_NAME_MAX;
        memcpy(slot, name, len + 1);
        i = top->len++;
        top->heap[i] = slot;
        while (i > 0 && strcmp(top->heap[i], top->heap[(i - 1) / 2]) < 0) {
            s_heap_swap(top->heap, i, (i - 1) / 2);
            i = (i - 1) / 2;
        }
        return;
    }
    if (strcmp(name, top->heap[0]) <= 0)
        return;
    memcpy(top->heap[0], name, len + 1);
    i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, least = i;
        if (l < top->len && strcmp(top->heap[l], top->heap[least]) < 0)
            least = l;
        if (r < top->len && strcmp(top->heap[r], top->heap[least]) < 0)
            least = r;
        if (least == i)
            break;
        s_heap_swap(top->heap, i, least);
        i = least;
    }
}

static int s_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True for "control-<at least one byte>.csv". */
static int s_is_control_name(const char *name, size_t *len)
{
    if (strncmp(name, S_PREFIX, S_PREFIX_LEN) != 0)
        return 0;
    size_t n = strlen(name);
    if (n <= S_PREFIX_LEN + S_SUFFIX_LEN || n >= MAO_SPIKE_NAME_MAX ||
        memcmp(name + n - S_SUFFIX_LEN, S_SUFFIX, S_SUFFIX_LEN) != 0)
        return 0;
    *len = n;
    return 1;
}

/* One pass over the open folder `dfd`: counts the control files into
 * *count and keeps the k greatest names in `top`.  Returns 0, MAO_ENOMEM or
 * MAO_EFAIL with a detail. */
static int s_scan(int dfd, const char *datapath, s_topk_t *top, size_t *count)
{
    int rc = 0;
    char *buf = malloc(S_DENTS_BUF);
    if (!buf) {
        mao_error_set("out of memory listing '%s'", datapath);
        return MAO_ENOMEM;
    }
    *count = 0;
    for (;;) {
        ssize_t n = getdents64(dfd, buf, S_DENTS_BUF);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            mao_error_set("cannot list data folder '%s': %s", datapath, strerror(errno));
            rc = MAO_EFAIL;
            goto cleanup;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            const struct dirent64 *d = (const struct dirent64 *)(buf + off);
            size_t len;
            if (d->d_reclen == 0)
                break; /* never from a sane kernel; do not spin */
            off += d->d_reclen;
            if (!s_is_control_name(d->d_name, &len))
                continue;
            unsigned char type = d->d_type;
            if (type == DT_UNKNOWN) {
                /* Some filesystems do not fill d_type: ask, without following links. */
                struct stat st;
                if (fstatat(dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
                    type = DT_REG;
            }
            if (type != DT_REG)
                continue;
            (*count)++;
            s_topk_offer(top, d->d_name, len);
        }
    }
cleanup:
    free(buf);
    return rc;
}

/* ---- reading one control file --------------------------------------------- */

static int s_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* True when text[0..len) is a plain decimal number: [+-] digits [. digits]
 * [e [+-] digits], at least one digit in the mantissa.  No hex, inf, nan. */
static int s_is_decimal(const char *text, size_t len)
{
    size_t i = 0, digits = 0;
    if (i < len && (text[i] == '+' || text[i] == '-'))
        i++;
    while (i < len && text[i] >= '0' && text[i] <= '9')
        i++, digits++;
    if (i < len && text[i] == '.') {
        i++;
        while (i < len && text[i] >= '0' && text[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return 0;
    if (i < len && (text[i] == 'e' || text[i] == 'E')) {
        size_t exp = 0;
        i++;
        if (i < len && (text[i] == '+' || text[i] == '-'))
            i++;
        while (i < len && text[i] >= '0' && text[i] <= '9')
            i++, exp++;
        if (exp == 0)
            return 0;
    }
    return i == len;
}

/* True when text[0..len) is words such as inf, -Infinity, nan. */
static int s_is_nonfinite_word(const char *text, size_t len)
{
    if (len > 0 && (text[0] == '+' || text[0] == '-'))
        text++, len--;
    return (len == 3 && (strncasecmp(text, "inf", 3) == 0 || strncasecmp(text, "nan", 3) == 0)) ||
           (len == 8 && strncasecmp(text, "infinity", 8) == 0);
}

/* Counts the fields of a line split at blanks, ',' and ';' when every field
 * is a decimal number; 0 when some field is not. */
static size_t s_numeric_fields(const char *text, size_t len)
{
    size_t fields = 0, i = 0;
    while (i < len) {
        while (i < len && (s_is_blank(text[i]) || text[i] == ',' || text[i] == ';'))
            i++;
        size_t start = i;
        while (i < len && !s_is_blank(text[i]) && text[i] != ',' && text[i] != ';')
            i++;
        if (i > start) {
            if (!s_is_decimal(text + start, i - start))
                return 0;
            fields++;
        }
    }
    return fields;
}

/* Writes "<name>: <problem>" into err. */
static void s_file_error(char *err, size_t size, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void s_file_error(char *err, size_t size, const char *name, const char *fmt, ...)
{
    char shown[S_QUOTE_MAX * 2];
    char problem[MAO_SPIKE_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    snprintf(err, size, "%s: %s", mao_text_quote(shown, sizeof shown, name), problem);
}

/* Parses the content of one control file (text[0..len), text[len] writable)
 * into *out.  Accepted: blank lines anywhere, an optional UTF-8 BOM, an
 * optional first line that is not a number (a header), then exactly one
 * decimal number on a line of its own; lines end with LF, CRLF or CR and are
 * trimmed of blanks.  Returns 0, or -1 with the problem in err. */
static int s_parse(const char *name, char *text, size_t len, locale_t c_locale, double *out,
                   char *err, size_t errsize)
{
    char shown[S_QUOTE_MAX];
    size_t i = 0, line = 0, value_line = 0, nonblank = 0;
    size_t first_line = 0;
    char *first = NULL;

    if (len == 0) {
        s_file_error(err, errsize, name, "empty file (it must hold one number)");
        return -1;
    }
    if (memchr(text, '\0', len)) {
        s_file_error(err, errsize, name, "holds a NUL byte: binary content, not text");
        return -1;
    }
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len) {
        size_t start = i, end;
        while (i < len && text[i] != '\n' && text[i] != '\r')
            i++;
        end = i;
        if (i < len && text[i] == '\r' && i + 1 < len && text[i + 1] == '\n')
            i++;
        if (i < len)
            i++;
        line++;
        while (start < end && s_is_blank(text[start]))
            start++;
        while (end > start && s_is_blank(text[end - 1]))
            end--;
        if (start == end)
            continue;
        text[end] = '\0'; /* a line break, a blank, or the spare byte at text[len] */
        char *s = text + start;
        size_t n = end - start;
        nonblank++;
        if (s_is_decimal(s, n)) {
            if (value_line) {
                s_file_error(err, errsize, name,
                             "more than one value (lines %zu and %zu); it must hold one number",
                             value_line, line);
                return -1;
            }
            errno = 0;
            char *stop = NULL;
            double v = strtod_l(s, &stop, c_locale);
            if (stop != s + n) {
                s_file_error(err, errsize, name, "line %zu is not a number: \"%s\"", line,
                             mao_text_quote(shown, sizeof shown, s));
                return -1;
            }
            if (!isfinite(v)) {
                s_file_error(err, errsize, name,
                             "value on line %zu is out of range for a double: \"%s\"", line,
                             mao_text_quote(shown, sizeof shown, s));
                return -1;
            }
            /* An underflow (ERANGE towards 0) keeps strtod's tiny or zero value. */
            *out = v;
            value_line = line;
            continue;
        }
        if (s_is_nonfinite_word(s, n)) {
            s_file_error(err, errsize, name, "line %zu is not a finite number: \"%s\"", line,
                         mao_text_quote(shown, sizeof shown, s));
            return -1;
        }
        size_t fields = s_numeric_fields(s, n);
        if (fields >= 2) {
            s_file_error(err, errsize, name,
                         "more than one value on line %zu: \"%s\" (one number per file; "
                         "the decimal separator is '.')",
                         line, mao_text_quote(shown, sizeof shown, s));
            return -1;
        }
        if (nonblank == 1 && !value_line) {
            first = s; /* a header, unless nothing numeric follows */
            first_line = line;
            continue;
        }
        s_file_error(err, errsize, name, "line %zu is not a number: \"%s\"", line,
                     mao_text_quote(shown, sizeof shown, s));
        return -1;
    }
    if (value_line)
        return 0;
    if (first)
        s_file_error(err, errsize, name, "holds no number (line %zu is not a number: \"%s\")",
                     first_line, mao_text_quote(shown, sizeof shown, first));
    else
        s_file_error(err, errsize, name, "empty file (only blank lines; it must hold one number)");
    return -1;
}

/* Reads the control file `name` in the folder `dfd` into *out, using `buf`
 * (MAO_SPIKE_FILE_MAX + 2 bytes).  Returns 0, or -1 with the problem in err. */
static int s_read_value(int dfd, const char *name, char *buf, locale_t c_locale, double *out,
                        char *err, size_t errsize)
{
    int rc = -1;
    struct stat st;
    size_t len = 0;
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        s_file_error(err, errsize, name, "cannot open: %s",
                     errno == ELOOP ? "it became a symbolic link" : strerror(errno));
        goto cleanup;
    }
    if (fstat(fd, &st) < 0) {
        s_file_error(err, errsize, name, "cannot read: %s", strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        s_file_error(err, errsize, name, "is no longer a regular file");
        goto cleanup;
    }
    if (st.st_size > MAO_SPIKE_FILE_MAX) {
        s_file_error(err, errsize, name, "file too large (%jd bytes; at most %d)",
                     (intmax_t)st.st_size, MAO_SPIKE_FILE_MAX);
        goto cleanup;
    }
    /* Read up to one byte past the limit: a file that grew since fstat is caught. */
    while (len <= MAO_SPIKE_FILE_MAX) {
        ssize_t r = read(fd, buf + len, MAO_SPIKE_FILE_MAX + 1 - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            s_file_error(err, errsize, name, "cannot read: %s", strerror(errno));
            goto cleanup;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > MAO_SPIKE_FILE_MAX) {
        s_file_error(err, errsize, name, "file too large (more than %d bytes)", MAO_SPIKE_FILE_MAX);
        goto cleanup;
    }
    buf[len] = '\0';
    rc = s_parse(name, buf, len, c_locale, out, err, errsize);
cleanup:
    if (fd >= 0)
        close(fd);
    return rc;
}

int mao_spike_value_parse(double *out, const char *text, size_t len, const char *name)
{
    int rc;
    char err[MAO_SPIKE_ERROR_MAX];
    char *buf = NULL;
    double value = 0;
    locale_t c_locale = (locale_t)0;

    if (!out || !name || (!text && len > 0)) {
        mao_error_set("mao_spike_value_parse: out, name and text are required");
        return MAO_EINVAL;
    }
    if (len > MAO_SPIKE_FILE_MAX) {
        s_file_error(err, sizeof err, name, "file too large (more than %d bytes)",
                     MAO_SPIKE_FILE_MAX);
        mao_error_set("%s", err);
        return MAO_EMALFORMED;
    }
    /* s_parse cuts lines in place and needs one spare byte, as the file
     * reader's buffer has. */
    buf = malloc(len + 1);
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (!buf || c_locale == (locale_t)0) {
        mao_error_set("out of memory parsing '%s'", name);
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    if (len > 0)
        memcpy(buf, text, len);
    buf[len] = '\0';
    if (s_parse(name, buf, len, c_locale, &value, err, sizeof err) < 0) {
        mao_error_set("%s", err);
        rc = MAO_EMALFORMED;
        goto cleanup;
    }
    *out = value;
    rc = 0;
cleanup:
    if (c_locale != (locale_t)0)
        freelocale(c_locale);
    free(buf);
    return rc;
}

/* ---- deciding -------------------------------------------------------------- */

static int s_double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n), n >= 1; sorts v. */
static double s_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, s_double_cmp);
    if (n % 2)
        return v[n / 2];
    return v[n / 2 - 1] / 2 + v[n / 2] / 2; /* halves first: no overflow */
}

/* The original rule on prev[0..w) and current. */
static void s_decide_gain(mao_spike_report_t *r, const double *prev, size_t w, double current)
{
    double sum = 0, mean;
    for (size_t i = 0; i < w; i++)
        sum += prev[i];
    mean = sum / (double)w;
    if (!isfinite(mean)) {
        mean = 0; /* the sum overflowed: average the scaled values instead */
        for (size_t i = 0; i < w; i++)
            mean += prev[i] / (double)w;
    }
    if (mean == 0) {
        snprintf(r->error, sizeof r->error,
                 "the mean of the previous %zu values is 0: the gain is undefined", w);
        return;
    }
    double gain = (current / mean - 1) * 100;
    double diff = current - mean;
    if (!isfinite(mean) || !isfinite(gain) || !isfinite(diff)) {
        snprintf(r->error, sizeof r->error,
                 "the gain of %g over a mean of %g is out of range for a double", current, mean);
        return;
    }
    r->rolling_avg = mean;
    r->diff = diff;
    r->gain = gain;
    r->spike = fabs(gain) > r->threshold;
}

/* The robust rule: score = (current - median) / spread, where spread is
 * 1.4826 * MAD; when MAD is 0 (over half the values equal), 1.2533 * the mean
 * absolute deviation from the median; when that is 0 too (all values equal),
 * the score is 0 for an equal current value and +-infinity otherwise, so any
 * change from a constant history is a spike.  `work` holds 2*w doubles. */
static void s_decide_mad(mao_spike_report_t *r, const double *prev, size_t w, double current,
                         double *work)
{
    double *sorted = work, *dev = work + w;
    memcpy(sorted, prev, w * sizeof *prev);
    double median = s_median(sorted, w);
    double dev_sum = 0;
    for (size_t i = 0; i < w; i++) {
        dev[i] = fabs(prev[i] - median);
        dev_sum += dev[i] / (double)w;
    }
    double diff = current - median;
    if (!isfinite(dev_sum) || !isfinite(diff)) {
        snprintf(r->error, sizeof r->error,
                 "the values are too far apart to compare (out of range for a double)");
        return;
    }
    double mad = s_median(dev, w);
    double spread = mad > 0 ? S_MAD_SCALE * mad : S_MEANAD_SCALE * dev_sum;
    double score;
    if (spread > 0)
        score = diff / spread; /* may overflow to +-inf for a tiny spread: still a spike */
    else
        score = diff == 0 ? 0 : copysign(INFINITY, diff);
    r->rolling_avg = median;
    r->diff = diff;
    r->gain = score;
    r->spike = fabs(score) > r->threshold;
}

/* ---- the run --------------------------------------------------------------- */

/* Records a failure to examine the folder: detail already set. */
static int s_fail(mao_spike_report_t *out, int rc)
{
    if (out)
        snprintf(out->error, sizeof out->error, "%s", mao_error_last());
    return rc;
}

/* Fills the report's settings and path, and checks the arguments.  Returns 0
 * or a negative code (reported). */
static int s_begin(mao_spike_report_t *out, const char *datapath, mao_spike_params_t *p)
{
    memset(out, 0, sizeof *out);
    out->method = p->method;
    out->window = p->window;
    out->threshold = p->threshold;
    if (!datapath || !datapath[0]) {
        mao_error_set("data folder missing");
        return MAO_EINVAL;
    }
    if (strlen(datapath) >= sizeof out->datapath) {
        mao_error_set("data folder path too long (at most %zu bytes)", sizeof out->datapath - 1);
        return MAO_EINVAL;
    }
    memcpy(out->datapath, datapath, strlen(datapath) + 1);
    return s_check_params(p);
}

/* Opens the data folder for reading names and files relative to it. */
static int s_open_dir(int *dfd, const char *datapath)
{
    *dfd = open(datapath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*dfd >= 0)
        return 0;
    int e = errno;
    if (e == ENOENT) {
        mao_error_set("data folder '%s' does not exist", datapath);
        return MAO_ENOTFOUND;
    }
    if (e == ENOTDIR) {
        mao_error_set("'%s' is not a folder", datapath);
        return MAO_EINVAL;
    }
    mao_error_set("cannot open data folder '%s': %s", datapath, strerror(e));
    return MAO_EFAIL;
}

/* Reads the m (at most window + 1) newest control files, `names` in name
 * order, and decides.  Returns 0 (a problem with the data is in the report)
 * or MAO_ENOMEM. */
static int s_evaluate(mao_spike_report_t *out, int dfd, char *const *names, size_t m,
                      const mao_spike_params_t *p)
{
    int rc = 0;
    size_t k = (size_t)p->window + 1;
    char *buf = NULL;
    double *values = NULL;
    locale_t c_locale = (locale_t)0;

    if (m == 0)
        return 0; /* nothing yet: not enough data, no error */
    memcpy(out->newest, names[m - 1], strlen(names[m - 1]) + 1);
    buf = malloc(MAO_SPIKE_FILE_MAX + 2);
    values = malloc(3 * k * sizeof *values); /* values, then mad's work space */
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (!buf || !values || c_locale == (locale_t)0) {
        mao_error_set("out of memory reading '%s'", out->datapath);
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    out->enough_data = m == k;
    /* Newest first: when several files are broken, the one just written is
     * the one worth naming. */
    for (size_t i = m; i-- > 0;)
        if (s_read_value(dfd, names[i], buf, c_locale, &values[i], out->error,
                         sizeof out->error) < 0)
            goto cleanup; /* rc 0: the report carries the problem */
    if (m < k)
        goto cleanup; /* fewer than window+1 snapshots: insufficient data */
    out->current = values[k - 1];
    if (p->method == MAO_SPIKE_MAD)
        s_decide_mad(out, values, k - 1, values[k - 1], values + k);
    else
        s_decide_gain(out, values, k - 1, values[k - 1]);
cleanup:
    if (c_locale != (locale_t)0)
        freelocale(c_locale);
    free(values);
    free(buf);
    return rc;
}

/* The common ending: a failed examination leaves no counts or names; a
 * report with an error has no verdict. */
static int s_end(mao_spike_report_t *out, int rc)
{
    if (rc < 0) {
        s_fail(out, rc);
        out->snapshots = 0;
        out->enough_data = 0;
        out->newest[0] = '\0';
    }
    if (out->error[0]) {
        out->spike = 0;
        out->rolling_avg = out->diff = out->gain = 0;
    }
    return rc;
}

/* Lists the folder (open as `dfd`) and decides.  Returns 0 or a negative
 * code (mao_error_last()). */
static int s_listed(mao_spike_report_t *out, int dfd, const char *datapath,
                    const mao_spike_params_t *p)
{
    int rc;
    s_topk_t top = {0};
    if ((rc = s_topk_init(&top, (size_t)p->window + 1)) < 0) {
        mao_error_set("out of memory for a spike window of %ld", p->window);
        return rc;
    }
    if ((rc = s_scan(dfd, datapath, &top, &out->snapshots)) == 0) {
        qsort(top.heap, top.len, sizeof *top.heap, s_name_cmp);
        rc = s_evaluate(out, dfd, top.heap, top.len, p);
    }
    s_topk_clear(&top);
    return rc;
}

int mao_spike_run(mao_spike_report_t *out, const char *datapath, const mao_spike_params_t *params)
{
    int rc;
    int dfd = -1;
    mao_spike_params_t p = params ? *params : mao_spike_params_default();

    if (!out) {
        mao_error_set("spike report missing");
        return MAO_EINVAL;
    }
    if ((rc = s_begin(out, datapath, &p)) == 0 && (rc = s_open_dir(&dfd, datapath)) == 0)
        rc = s_listed(out, dfd, datapath, &p);
    s_end(out, rc);
    if (dfd >= 0)
        close(dfd);
    return rc;
}

/* ---- watched folders ------------------------------------------------------------ */

/* One folder of the set. */
typedef struct {
    char *path;       /* the data folder, owned */
    int wd;           /* its inotify watch; -1 while it has none */
    char **names;     /* control files, sorted by strcmp, owned */
    size_t count, cap;
    int stale;        /* events were lost, or the folder went away: list again */
    uint64_t rescans; /* full listings done */
    uint64_t used;    /* the set's tick at its last look */
} s_folder_t;

struct mao_spike_watches_t {
    int ifd;              /* the one inotify descriptor of every folder */
    s_folder_t **folders; /* in no order */
    size_t len, max;
    size_t max_names;     /* names held in all, beyond which folders are let go */
    uint64_t tick;        /* counts looks, for the least recently used */
};

/* Position of `name` in the sorted set (found or where it would go). */
static size_t s_find(const s_folder_t *w, const char *name, int *found)
{
    size_t lo = 0, hi = w->count;
    /* The newest name is the usual case: check the end first. */
    if (hi > 0) {
        int c = strcmp(name, w->names[hi - 1]);
        if (c > 0) {
            *found = 0;
            return hi;
        }
        if (c == 0) {
            *found = 1;
            return hi - 1;
        }
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, w->names[mid]);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    *found = 0;
    return lo;
}

static int s_set_add(s_folder_t *w, const char *name)
{
    int found;
    size_t at = s_find(w, name, &found);
    if (found)
        return 0;
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        char **grown = realloc(w->names, cap * sizeof *grown);
        if (!grown)
            return MAO_ENOMEM;
        w->names = grown;
        w->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return MAO_ENOMEM;
    memmove(w->names + at + 1, w->names + at, (w->count - at) * sizeof *w->names);
    w->names[at] = copy;
    w->count++;
    return 0;
}

static void s_set_remove(s_folder_t *w, const char *name)
{
    int found;
    size_t at = s_find(w, name, &found);
    if (!found)
        return;
    free(w->names[at]);
    memmove(w->names + at, w->names + at + 1, (w->count - at - 1) * sizeof *w->names);
    w->count--;
}

static void s_set_clear(s_folder_t *w)
{
    for (size_t i = 0; i < w->count; i++)
        free(w->names[i]);
    w->count = 0;
}

/* Lists the folder again into the set (the watch is already in place, so
 * nothing that happens from now on is missed). */
static int s_rescan(s_folder_t *w, int dfd)
{
    int rc = 0;
    char *buf = malloc(S_DENTS_BUF);
    if (!buf)
        return MAO_ENOMEM;
    s_set_clear(w);
    if (lseek(dfd, 0, SEEK_SET) < 0) {
        free(buf);
        mao_error_set("cannot list data folder '%s': %s", w->path, strerror(errno));
        return MAO_EFAIL;
    }
    for (;;) {
        ssize_t n = getdents64(dfd, buf, S_DENTS_BUF);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            mao_error_set("cannot list data folder '%s': %s", w->path, strerror(errno));
            rc = MAO_EFAIL;
            break;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            const struct dirent64 *d = (const struct dirent64 *)(buf + off);
            size_t len;
            if (d->d_reclen == 0)
                break;
            off += d->d_reclen;
            if (!s_is_control_name(d->d_name, &len))
                continue;
            unsigned char type = d->d_type;
            if (type == DT_UNKNOWN) {
                struct stat st;
                if (fstatat(dfd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
                    type = DT_REG;
            }
            if (type != DT_REG)
                continue;
            /* Collected in listing order, sorted once below. */
            if (w->count == w->cap) {
                size_t cap = w->cap ? w->cap * 2 : 64;
                char **grown = realloc(w->names, cap * sizeof *grown);
                if (!grown) {
                    rc = MAO_ENOMEM;
                    goto done;
                }
                w->names = grown;
                w->cap = cap;
            }
            if (!(w->names[w->count] = strdup(d->d_name))) {
                rc = MAO_ENOMEM;
                goto done;
            }
            w->count++;
        }
    }
    if (w->count > 1)
        qsort(w->names, w->count, sizeof *w->names, s_name_cmp);
done:
    free(buf);
    w->stale = rc < 0;
    w->rescans++;
    return rc;
}

/* Puts the inotify watch on the folder, again after it was removed, moved or
 * replaced; the folder is then listed at its next look.  Returns 0,
 * MAO_ENOTFOUND or MAO_EFAIL (e.g. no inotify watches left). */
static int s_watch(mao_spike_watches_t *self, s_folder_t *w)
{
    w->wd = inotify_add_watch(self->ifd, w->path,
                              IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                                  IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW);
    w->stale = 1;
    if (w->wd < 0) {
        int e = errno;
        mao_error_set("cannot watch '%s': %s", w->path, strerror(e));
        return e == ENOENT ? MAO_ENOTFOUND : MAO_EFAIL;
    }
    return 0;
}

/* One event of `w`'s folder.  A name that appeared counts when it is
 * (still) a regular file; one that went away is forgotten. */
static int s_apply(s_folder_t *w, const struct inotify_event *ev)
{
    size_t len;
    if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
        /* The folder went away (removed, moved, replaced by a fresh clone):
         * watched anew at its next look. */
        w->wd = -1;
        w->stale = 1;
        return 0;
    }
    if (w->stale || ev->len == 0 || (ev->mask & IN_ISDIR) || !s_is_control_name(ev->name, &len))
        return 0;
    if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
        char path[MAO_SPIKE_PATH_MAX + 300];
        struct stat st;
        int n = snprintf(path, sizeof path, "%s/%s", w->path, ev->name);
        if (n < 0 || (size_t)n >= sizeof path) {
            w->stale = 1;
            return 0;
        }
        if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
            return s_set_add(w, ev->name);
    }
    s_set_remove(w, ev->name);
    return 0;
}

/* Applies what happened in every folder since the last look.  A lost event
 * makes every folder stale. */
static int s_drain(mao_spike_watches_t *self)
{
    char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(self->ifd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return 0;
            mao_error_set("cannot read the watch of the data folders: %s", strerror(errno));
            for (size_t i = 0; i < self->len; i++)
                self->folders[i]->stale = 1;
            return MAO_EFAIL;
        }
        for (ssize_t off = 0; off < n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
            off += (ssize_t)(sizeof *ev + ev->len);
            if (ev->mask & IN_Q_OVERFLOW) {
                for (size_t i = 0; i < self->len; i++)
                    self->folders[i]->stale = 1;
                continue;
            }
            /* Usually one folder; two when two paths name one folder (the
             * kernel gives them one watch); none when no longer followed. */
            for (size_t i = 0; i < self->len; i++) {
                int rc = self->folders[i]->wd == ev->wd ? s_apply(self->folders[i], ev) : 0;
                if (rc < 0)
                    return rc;
            }
        }
    }
}

static void s_folder_free(s_folder_t *w)
{
    if (!w)
        return;
    s_set_clear(w);
    free(w->names);
    free(w->path);
    free(w);
}

/* Stops following the folder looked at longest ago other than `keep`, to
 * make room. */
static void s_evict(mao_spike_watches_t *self, const s_folder_t *keep)
{
    size_t oldest = self->len;
    for (size_t i = 0; i < self->len; i++)
        if (self->folders[i] != keep &&
            (oldest == self->len || self->folders[i]->used < self->folders[oldest]->used))
            oldest = i;
    if (oldest == self->len)
        return;
    s_folder_t *w = self->folders[oldest];
    int shared = 0;
    for (size_t i = 0; i < self->len; i++)
        if (i != oldest && self->folders[i]->wd == w->wd)
            shared = 1;
    if (w->wd >= 0 && !shared)
        inotify_rm_watch(self->ifd, w->wd);
    s_folder_free(w);
    self->folders[oldest] = self->folders[--self->len];
}

/* The folder of `path`, followed from now on when it was not.  NULL with
 * MAO_ENOMEM. */
static s_folder_t *s_folder(mao_spike_watches_t *self, const char *path)
{
    for (size_t i = 0; i < self->len; i++)
        if (strcmp(self->folders[i]->path, path) == 0)
            return self->folders[i];
    if (self->len == self->max)
        s_evict(self, NULL);
    s_folder_t *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        mao_error_set("out of memory watching '%s'", path);
        return NULL;
    }
    w->wd = -1;
    w->stale = 1;
    self->folders[self->len++] = w;
    return w;
}

int mao_spike_watches_new(mao_spike_watches_t **out, size_t max_folders, size_t max_names)
{
    if (!out || max_folders == 0) {
        mao_error_set("a watch set needs room for at least one folder");
        return MAO_EINVAL;
    }
    mao_spike_watches_t *self = calloc(1, sizeof *self);
    if (!self || !(self->folders = calloc(max_folders, sizeof *self->folders))) {
        free(self);
        mao_error_set("out of memory for a watch set of %zu folders", max_folders);
        return MAO_ENOMEM;
    }
    self->max = max_folders;
    self->max_names = max_names ? max_names : S_WATCH_NAMES_MAX;
    if ((self->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
        mao_error_set("cannot watch data folders: %s", strerror(errno));
        free(self->folders);
        free(self);
        return MAO_EFAIL;
    }
    *out = self;
    return 0;
}

int mao_spike_watches_run(mao_spike_report_t *out, mao_spike_watches_t *self,
                          const char *datapath, const mao_spike_params_t *params)
{
    int rc;
    int dfd = -1;
    mao_spike_params_t p = params ? *params : mao_spike_params_default();
    if (!out || !self) {
        mao_error_set("spike report or watch set missing");
        return MAO_EINVAL;
    }
    if ((rc = s_begin(out, datapath, &p)) < 0 || (rc = s_open_dir(&dfd, datapath)) < 0)
        goto cleanup;
    if ((rc = s_drain(self)) < 0)
        goto cleanup;
    s_folder_t *w = s_folder(self, datapath);
    if (!w) {
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    w->used = ++self->tick;
    if (w->wd < 0) {
        /* New, or its folder went away: watch it (anew), then list it; what
         * happens once the watch is in place is seen.  A folder that cannot
         * be watched is listed at each look. */
        if ((rc = s_watch(self, w)) < 0) {
            rc = rc == MAO_ENOTFOUND ? rc : s_listed(out, dfd, datapath, &p);
            w->rescans++;
            goto cleanup;
        }
    }
    if (w->stale && (rc = s_rescan(w, dfd)) < 0)
        goto cleanup;
    /* Folders with long histories: the names held stay within bounds. */
    for (;;) {
        size_t names = 0;
        for (size_t i = 0; i < self->len; i++)
            names += self->folders[i]->count;
        if (names <= self->max_names || self->len == 1)
            break;
        s_evict(self, w);
    }
    out->snapshots = w->count;
    size_t k = (size_t)p.window + 1;
    size_t m = w->count < k ? w->count : k;
    rc = s_evaluate(out, dfd, w->names + (w->count - m), m, &p);
cleanup:
    s_end(out, rc);
    if (dfd >= 0)
        close(dfd);
    return rc;
}

uint64_t mao_spike_watches_rescans(const mao_spike_watches_t *self, const char *datapath)
{
    for (size_t i = 0; self && datapath && i < self->len; i++)
        if (strcmp(self->folders[i]->path, datapath) == 0)
            return self->folders[i]->rescans;
    return 0;
}

size_t mao_spike_watches_count(const mao_spike_watches_t *self)
{
    return self ? self->len : 0;
}

void mao_spike_watches_destroy(mao_spike_watches_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mao_spike_watches_t *self = *self_p;
    for (size_t i = 0; i < self->len; i++)
        s_folder_free(self->folders[i]);
    free(self->folders);
    close(self->ifd);
    free(self);
    *self_p = NULL;
}

/* ---- output ---------------------------------------------------------------- */

/* Copies UTF-8 `in` to a new string with every invalid sequence replaced by
 * U+FFFD; NULL when out of memory. */
static char *s_utf8_clean(const char *in)
{
    size_t n = strlen(in);
    char *out = malloc(3 * n + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        const unsigned char *p = (const unsigned char *)in + i;
        size_t need = 0;
        uint32_t cp = 0, min = 0;
        if (p[0] < 0x80)
            need = 1, cp = p[0];
        else if ((p[0] & 0xE0) == 0xC0)
            need = 2, cp = p[0] & 0x1F, min = 0x80;
        else if ((p[0] & 0xF0) == 0xE0)
            need = 3, cp = p[0] & 0x0F, min = 0x800;
        else if ((p[0] & 0xF8) == 0xF0)
            need = 4, cp = p[0] & 0x07, min = 0x10000;
        int ok = need > 0 && i + need <= n;
        for (size_t j = 1; ok && j < need; j++) {
            if ((p[j] & 0xC0) != 0x80)
                ok = 0;
            else
                cp = (cp << 6) | (p[j] & 0x3F);
        }
        if (ok && need > 1 && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
            ok = 0;
        if (ok && cp == 0)
            ok = 0;
        if (ok) {
            memcpy(out + o, p, need);
            o += need;
            i += need;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += 1;
        }
    }
    out[o] = '\0';
    return out;
}

static json_t *s_json_text(const char *text)
{
    json_t *s = json_string(text);
    if (s)
        return s;
    char *clean = s_utf8_clean(text);
    if (!clean)
        return NULL;
    s = json_string(clean);
    free(clean);
    return s;
}

static json_t *s_json_number(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Sets key to a new reference; -1 when `value` is NULL (out of memory). */
static int s_set(json_t *obj, const char *key, json_t *value)
{
    if (!value)
        return -1;
    return json_object_set_new(obj, key, value);
}

json_t *mao_spike_report_to_json(const mao_spike_report_t *r)
{
    int rc = 0;
    json_t *obj = NULL;
    if (!r)
        return NULL;
    if (!(obj = json_object()))
        return NULL;
    int verdict = r->enough_data && !r->error[0];
    rc |= s_set(obj, "datapath", s_json_text(r->datapath));
    rc |= s_set(obj, "snapshots", json_integer((json_int_t)r->snapshots));
    rc |= s_set(obj, "spike", json_boolean(verdict && r->spike));
    if (verdict) {
        rc |= s_set(obj, "rolling_avg", s_json_number(r->rolling_avg));
        rc |= s_set(obj, "control_metric", s_json_number(r->current));
        rc |= s_set(obj, "diff", s_json_number(r->diff));
        rc |= s_set(obj, "gain", s_json_number(r->gain));
    }
    rc |= s_set(obj, "method", json_string(mao_spike_method_name(r->method)));
    rc |= s_set(obj, "window", json_integer((json_int_t)r->window));
    rc |= s_set(obj, "threshold", s_json_number(r->threshold));
    rc |= s_set(obj, "newest", r->newest[0] ? s_json_text(r->newest) : json_null());
    if (r->error[0])
        rc |= s_set(obj, "error", s_json_text(r->error));
    if (rc) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* Appends to out at *used; returns -1 once the text did not fit. */
static int s_append(char *out, size_t size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int s_append(char *out, size_t size, size_t *used, const char *fmt, ...)
{
    va_list ap;
    if (*used >= size)
        return -1;
    va_start(ap, fmt);
    int n = vsnprintf(out + *used, size - *used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size - *used) {
        *used = size;
        return -1;
    }
    *used += (size_t)n;
    return 0;
}

int mao_spike_report_text(char *out, size_t size, const mao_spike_report_t *r)
{
    int rc = 0;
    size_t used = 0;
    int mad;
    if (!out || size == 0) {
        mao_error_set("no room for the spike report");
        return MAO_EINVAL;
    }
    out[0] = '\0';
    if (!r) {
        mao_error_set("spike report missing");
        return MAO_EINVAL;
    }
    mad = r->method == MAO_SPIKE_MAD;
    rc |= s_append(out, size, &used, "Data path: %s\n", r->datapath);
    rc |= s_append(out, size, &used, "Snapshots: %zu\n", r->snapshots);
    rc |= s_append(out, size, &used, "Method: %s, window %ld, threshold %g%s\n",
                   mao_spike_method_name(r->method), r->window, r->threshold,
                   mad ? " (robust z-score)" : " %");
    rc |= s_append(out, size, &used, "Newest: %s\n", r->newest[0] ? r->newest : "none");
    if (r->error[0]) {
        rc |= s_append(out, size, &used, "Verdict: error: %s\n", r->error);
    } else if (!r->enough_data) {
        rc |= s_append(out, size, &used, "Verdict: not enough data yet (%zu of %ld snapshots)\n",
                       r->snapshots, r->window + 1);
    } else {
        rc |= s_append(out, size, &used, "Rolling average: %.10g (%s of the previous %ld)\n",
                       r->rolling_avg, mad ? "median" : "mean", r->window);
        rc |= s_append(out, size, &used, "Control value: %.10g\n", r->current);
        rc |= s_append(out, size, &used, "Difference: %+.10g\n", r->diff);
        if (!mad)
            rc |= s_append(out, size, &used, "Gain: %+.2f %%\n", r->gain);
        else if (isinf(r->gain))
            rc |= s_append(out, size, &used, "Score: %s (the previous values are all equal)\n",
                           r->gain > 0 ? "+inf" : "-inf");
        else
            rc |= s_append(out, size, &used, "Score: %+.2f\n", r->gain);
        rc |= s_append(out, size, &used, "Verdict: %s\n", r->spike ? "spike" : "no spike");
    }
    if (rc) {
        mao_error_set("spike report cut to %zu bytes", size - 1);
        return MAO_EINVAL;
    }
    return 0;
}
