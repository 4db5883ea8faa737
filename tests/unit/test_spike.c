/*
 * test_spike: unit tests of the spike detector (common/mao_spike.c).
 *
 * Every test gets its own folder from mkdtemp (setup) and loses it at the end
 * (teardown), writes control files into it, runs the detector and checks what
 * a user would see: the report's fields, its JSON and its text.  Tests that
 * need a file or folder we may not read run the detector in a child process
 * that drops to nobody when we are root, so they never pass by skipping.
 */
#include "mao_error.h"
#include "mao_fs.h"
#include "mao_spike.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- helpers --------------------------------------------------------------- */

/* cmocka 1.1.5's assert_float_equal works in float; the detector in double. */
#define assert_close(a, b, eps) s_assert_close((a), (b), (eps), #a, __FILE__, __LINE__)

static void s_assert_close(double a, double b, double eps, const char *what, const char *file,
                           int line)
{
    if (!(fabs(a - b) <= eps))
        fail_msg("%s:%d: %s is %.17g, expected %.17g (within %g)", file, line, what, a, b, eps);
}

static int s_setup(void **state)
{
    char tmpl[] = "/tmp/mao-test-spike-XXXXXX";
    if (!mkdtemp(tmpl))
        return -1;
    *state = strdup(tmpl);
    return *state ? 0 : -1;
}

static int s_teardown(void **state)
{
    char *dir = *state;
    /* Undo any chmod a test made, so that the tree can be removed. */
    chmod(dir, 0700);
    int rc = mao_fs_rmtree(dir);
    free(dir);
    return rc;
}

/* Writes `len` bytes into dir/name. */
static void s_write_n(const char *dir, const char *name, const char *data, size_t len)
{
    char path[4096];
    assert_true(snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static void s_write(const char *dir, const char *name, const char *text)
{
    s_write_n(dir, name, text, strlen(text));
}

/* Writes control-0001.csv, control-0002.csv, ... holding texts[i]. */
static void s_series(const char *dir, const char *const *texts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "control-%04zu.csv", i + 1);
        s_write(dir, name, texts[i]);
    }
}

/* Runs with the defaults, or with `params`; asserts a return of `rc`. */
static mao_spike_report_t s_run(const char *dir, const mao_spike_params_t *params, int rc)
{
    mao_spike_report_t r;
    assert_int_equal(mao_spike_run(&r, dir, params), rc);
    return r;
}

static mao_spike_params_t s_params(mao_spike_method_t method, long window, double threshold)
{
    mao_spike_params_t p = {.method = method, .window = window, .threshold = threshold};
    return p;
}

static void s_assert_verdict(const mao_spike_report_t *r, double avg, double current, double gain,
                             int spike)
{
    assert_string_equal(r->error, "");
    assert_int_equal(r->enough_data, 1);
    assert_close(r->rolling_avg, avg, 1e-9);
    assert_close(r->current, current, 1e-9);
    assert_close(r->diff, current - avg, 1e-9);
    assert_close(r->gain, gain, 1e-9);
    assert_int_equal(r->spike, spike);
}

static void s_assert_error(const mao_spike_report_t *r, const char *part)
{
    if (!strstr(r->error, part))
        fail_msg("error \"%s\" does not contain \"%s\"", r->error, part);
    assert_int_equal(r->spike, 0);
}

/* ---- parameters ------------------------------------------------------------ */

static void test_spike__defaults(void **state)
{
    mao_spike_params_t p = mao_spike_params_default();
    assert_int_equal(p.method, MAO_SPIKE_GAIN);
    assert_int_equal(p.window, 2);
    assert_close(p.threshold, 20.0, 0);
    assert_close(mao_spike_threshold_default(MAO_SPIKE_MAD), 3.5, 0);
    assert_string_equal(mao_spike_method_name(MAO_SPIKE_GAIN), "gain");
    assert_string_equal(mao_spike_method_name(MAO_SPIKE_MAD), "mad");

    /* All-zero opts (a tool without spike settings) change nothing. */
    mao_spike_opts_t none = {{0}, 0, 0};
    assert_int_equal(mao_spike_params_apply(&p, &none), 0);
    assert_int_equal(p.method, MAO_SPIKE_GAIN);
    assert_int_equal(p.window, 2);
    assert_close(p.threshold, 20.0, 0);
    assert_int_equal(mao_spike_params_apply(&p, NULL), 0);
    assert_int_equal(p.window, 2);
}

static void test_spike__params_overrides(void **state)
{
    mao_spike_params_t p = mao_spike_params_default();
    mao_spike_opts_t mad = {"mad", 0, 0};
    assert_int_equal(mao_spike_params_apply(&p, &mad), 0);
    assert_int_equal(p.method, MAO_SPIKE_MAD);
    assert_close(p.threshold, 3.5, 0); /* mad's own default */
    assert_int_equal(p.window, 2);

    mao_spike_opts_t tuned = {"gain", 5, 12.5};
    assert_int_equal(mao_spike_params_apply(&p, &tuned), 0);
    assert_int_equal(p.method, MAO_SPIKE_GAIN);
    assert_int_equal(p.window, 5);
    assert_close(p.threshold, 12.5, 0);

    mao_spike_opts_t only_window = {"", 7, 0};
    assert_int_equal(mao_spike_params_apply(&p, &only_window), 0);
    assert_int_equal(p.window, 7);
    assert_close(p.threshold, 12.5, 0);

    /* Refused overrides leave the parameters as they were. */
    mao_spike_opts_t bad_method = {"zscore", 3, 0};
    assert_int_equal(mao_spike_params_apply(&p, &bad_method), MAO_EINVAL);
    assert_non_null(strstr(mao_error_last(), "zscore"));
    mao_spike_opts_t bad_window = {"mad", -1, 0};
    assert_int_equal(mao_spike_params_apply(&p, &bad_window), MAO_EINVAL);
    mao_spike_opts_t big_window = {"", MAO_SPIKE_WINDOW_MAX + 1, 0};
    assert_int_equal(mao_spike_params_apply(&p, &big_window), MAO_EINVAL);
    mao_spike_opts_t bad_threshold = {"", 0, -3};
    assert_int_equal(mao_spike_params_apply(&p, &bad_threshold), MAO_EINVAL);
    mao_spike_opts_t nan_threshold = {"", 0, NAN};
    assert_int_equal(mao_spike_params_apply(&p, &nan_threshold), MAO_EINVAL);
    assert_int_equal(p.method, MAO_SPIKE_GAIN);
    assert_int_equal(p.window, 7);
    assert_close(p.threshold, 12.5, 0);

    mao_spike_method_t m = MAO_SPIKE_GAIN;
    assert_int_equal(mao_spike_method_parse(&m, "mad"), 0);
    assert_int_equal(m, MAO_SPIKE_MAD);
    assert_int_equal(mao_spike_method_parse(&m, "MAD"), MAO_EINVAL);
}

static void test_spike__invalid_arguments(void **state)
{
    mao_spike_report_t r;
    mao_spike_params_t zero = s_params(MAO_SPIKE_GAIN, 0, 20);
    assert_int_equal(mao_spike_run(NULL, *state, NULL), MAO_EINVAL);
    assert_int_equal(mao_spike_run(&r, NULL, NULL), MAO_EINVAL);
    assert_int_equal(mao_spike_run(&r, "", NULL), MAO_EINVAL);
    assert_int_equal(mao_spike_run(&r, *state, &zero), MAO_EINVAL);
    assert_string_equal(r.error, mao_error_last());
    assert_non_null(strstr(r.error, "window"));
}

/* ---- how much data --------------------------------------------------------- */

static void test_spike__no_snapshot(void **state)
{
    mao_spike_report_t r = s_run(*state, NULL, 0);
    assert_int_equal(r.snapshots, 0);
    assert_int_equal(r.enough_data, 0);
    assert_int_equal(r.spike, 0);
    assert_string_equal(r.error, "");
    assert_string_equal(r.newest, "");
    assert_string_equal(r.datapath, (char *)*state);
}

static void test_spike__one_snapshot(void **state)
{
    s_write(*state, "control-2024-01-01.csv", "10\n");
    mao_spike_report_t r = s_run(*state, NULL, 0);
    assert_int_equal(r.snapshots, 1);
    assert_int_equal(r.enough_data, 0);
    assert_int_equal(r.spike, 0);
    assert_string_equal(r.error, "");
    assert_string_equal(r.newest, "control-2024-01-01.csv");
}

static void test_spike__two_snapshots(void **state)
{
    s_write(*state, "control-2024-01-01.csv", "10\n");
    s_write(*state, "control-2024-01-02.csv", "100\n"); /* a jump, but no verdict yet */
    mao_spike_report_t r = s_run(*state, NULL, 0);
    assert_int_equal(r.snapshots, 2);
    assert_int_equal(r.enough_data, 0);
    assert_int_equal(r.spike, 0);
    assert_string_equal(r.error, "");
}

static void test_spike__insufficient_still_checks_files(void **state)
{
    /* The first run of a tool already learns that its control file is wrong. */
    s_write(*state, "control-2024-01-01.csv", "ten\n");
    mao_spike_report_t r = s_run(*state, NULL, 0);
    assert_int_equal(r.enough_data, 0);
    s_assert_error(&r, "control-2024-01-01.csv: ");
    s_assert_error(&r, "not a number");
}

static void test_spike__three_snapshots(void **state)
{
    const char *v[] = {"10", "10", "10"};
    s_series(*state, v, 3);
    mao_spike_report_t r = s_run(*state, NULL, 0);
    assert_int_equal(r.snapshots, 3);
    s_assert_verdict(&r, 10, 10, 0, 0);
    assert_string_equal(r.newest, "control-0003.csv");
    assert_int_equal(r.method, MAO_SPIKE_GAIN);
    assert_int_equal(r.window, 2);
    assert_close(r.threshold, 20, 0);
}

/* ---- the original arithmetic ----------------------------------------------- */

static void test_spike__original_spike(void **state)
{
    const char *v[] = {"10", "10", "13"};
    s_series(*state, v, 3);
    mao_spike_report_t r = s_run(*state, NULL, 0);
    s_assert_verdict(&r, 10, 13, 30, 1);
    /* Bit for bit what Python's (13 / 10 - 1) * 100 gives. */
    assert_true(r.gain == (13.0 / 10.0 - 1) * 100);
}

static void test_spike__original_no_spike(void **state)
{
    const char *v[] = {"10", "10", "11"};
    s_series(*state, v, 3);
    mao_spike_report_t r = s_run(*state, NULL, 0);
    s_assert_verdict(&r, 10, 11, 10, 0);
}

static void test_spike__negative_gain_spike(void **state)
{
    const char *v[] = {"10", "10", "7"};
    s_series(*state, v, 3);
    mao_spike_report_t r = s_run(*state, NULL, 0);
    s_assert_verdict(&r, 10, 7, -30, 1);
}

static void test_spike__threshold_is_strict(void **state)
{
    /* 4, 4, 5: gain exactly 25 %; a spike needs more than the threshold. */
    const char *v[] = {"4", "4", "5"};
    s_series(*state, v, 3);
    mao_spike_params_t p = s_params(MAO_SPIKE_GAIN, 2, 25);
    mao_spike_report_t r = s_run(*state, &p, 0);
    s_assert_verdict(&r, 4, 5, 25, 0);
    p.threshold = 24.999;
    r = s_run(*state, &p, 0);
    assert_int_equal(r.spike, 1);
}

static void test_spike__floats(void **state)
{
    const char *v[] = {"12.5", "-3.5e1", "+.5", "1.25E+2"};
    s_series(*state, v, 4);
    mao_spike_params_t p = s_params(MAO_SPIKE_GAIN, 3, 20);
    mao_spike_report_t r = s_run(*state, &p, 0);
    double mean = (12.5 - 35 + 0.5) / 3;
    s_assert_verdict(&r, mean, 125, (125 / mean - 1) * 100, 1);
}

/* ---- what a control file may look like -------------------------------------- */

static void test_spike__header_line(void **state)
{
    const char *v[] = {"value\n10\n", "metric,\n10", "\n\nvalue\n\n13\n\n"};
    s_series(*state, v, 3);
    mao_spike_report_t r = s_run(*state, NULL, 0);
    s_assert_verdict(&r, 10, 13, 30, 1);
}

static void test_spike__crlf_bom_blanks(void **state)
{
    const char *v[] = {"\xEF\xBB\xBFvalue\r\n10\r\n", "  \t10.0  \r\n\r\n", "\xEF\xBB\xBF 11 \r",
                       "\r\n  12.25\t\r\n \r\n"};
    s_series(*state, v, 4);
    mao_spike_params_t p = s_params(MAO_SPIKE_GAIN, 3, 20);
    mao_spike_report_t r = s_run(*state, &p, 0);
    double mean = (10 + 10 + 11) / 3.0;
    s_assert_verdict(&r, mean, 12.25, (12.25 / mean - 1) * 100, 0);
}

static void test_spike__empty_file(void **state)
{
    const char *v[] = {"10", "10", ""};
    s_series(*state, v, 3);
    mao_spike_report_t r = s_run(*state, NULL, 0);
    s_assert_error(&r, "control-0003.csv: empty file");
    assert_int_equal(r.enough_data, 1);

    s_write(*state, "control-0003.csv", " \n\r\n\t\n");
    r = s_run(*state, NULL, 0);
    s_assert_error(&r, "control-0003.csv: empty file");
}

static void test_spike__word(void **state)
{
    const char *v[] = {"10", "10", "twelve\n"};
    s_series(*state, v, 3);
    mao_spike_report_t r = s_run(*state, NULL, 0);
    s_assert_error(&r, "control-0003.csv: holds no number");
    s_assert_error(&r, "\"twelve\"");

    s_write(*state, "control-0003.csv", "value\n12 apples\n");
    r = s_run(*state, NULL, 0);
    s_assert_error(&r, "line 2 is not a number: \"12 apples\"");

    s_write(*state, "control-0003.csv", "12\nok\n");
    r = s_run(*state, NULL, 0);
    s_assert_error(&r, "line 2 is not a number");

    s_write(*state, "control-0003.csv", "0x1p4\n");
    r = s_run(*state, NULL, 0);
    s_assert_error(&r, "not a number");
}

static void test_spike__two_numbers(void **state)
{
    const char *v[] = {"10", "10", "12\n13\n"};
    s_series(*state, v, 3);
    mao_spike_report_t r = s_run(*state, NULL, 0);
    s_assert_error(&r, "control-0003.csv: more than one value (lines 1 and 2)");

    s_write(*state, "control-0003.csv", "value\n12,5\n");
    r = s_run(*state, NULL, 0);
    s_assert_error(&r, "more than one value on line 2");
    s_assert_error(&r, "decimal separator is '.'");

    s_write(*state, "control-0003.csv", "12 13");
    r = s_run(*state, NULL, 0);
    s_assert_error(&r, "more than one value on line 1");
}

static void test_spike__not_finite(void **state)
{
    const char *v[] = {"10", "10", "nan"};
    s_series(*state, v, 3);
    mao_spike_report_t r = s_run(*state, NULL, 0);
    s_assert_error(&r, "not a finite number");

    s_write(*state, "control-0003.csv", "-Infinity\n");
    r = s_run(*state, NULL, 0);
    s_assert_error(&r, "not a finite number");

    s_write(*state, "control-0003.csv", "1e999\n");
    r = s_run(*state, NULL, 0);
    s_assert_error(&r, "out of range");

    /* An underflow is a tiny number, not an error. */
    s_write(*state, "control-0003.csv", "1e-400\n");
    r = s_run(*state, NULL, 0);
    s_assert_verdict(&r, 10, 0, -100, 1);
}

static void test_spike__binary_content(void **state)
{
    const char *v[] = {"10", "10"};
    s_series(*state, v, 2);
    s_write_n(*state, "control-0003.csv", "12\0\n", 4);
    mao_spike_report_t r = s_run(*state, NULL, 0);
    s_assert_error(&r, "control-0003.csv: holds a NUL byte");
}

static void test_spike__oversized_file(void **state)
{
    const char *v[] = {"10", "10"};
    s_series(*state, v, 2);
    /* A valid number padded with blanks: refused by its size alone. */
    size_t n = MAO_SPIKE_FILE_MAX + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    memcpy(big, "12\n", 3);
    s_write_n(*state, "control-0003.csv", big, n);
    mao_spike_report_t r = s_run(*state, NULL, 0);
    s_assert_error(&r, "control-0003.csv: file too large (65537 bytes; at most 65536)");

    /* Exactly at the limit is fine. */
    s_write_n(*state, "control-0003.csv", big, n - 1);
    r = s_run(*state, NULL, 0);
    s_assert_verdict(&r, 10, 12, 20, 0);
    free(big);
}

static void test_spike__zero_mean(void **state)
{
    const char *v[] = {"5", "-5", "3"};
    s_series(*state, v, 3);
    mao_spike_report_t r = s_run(*state, NULL, 0);
    assert_int_equal(r.enough_data, 1);
    s_assert_error(&r, "the mean of the previous 2 values is 0: the gain is undefined");

    /* mad has no such problem: the median is a level, not a divisor. */
    mao_spike_params_t p = s_params(MAO_SPIKE_MAD, 2, 3.5);
    r = s_run(*state, &p, 0);
    assert_string_equal(r.error, "");
    assert_close(r.rolling_avg, 0, 0);
}

static void test_spike__unreadable_file(void **state)
{
    /* Root reads anything, so the detector runs in a child that is nobody. */
    const char *dir = *state;
    const char *v[] = {"10", "10", "13"};
    char path[4096];
    s_series(dir, v, 3);
    snprintf(path, sizeof path, "%s/control-0002.csv", dir);
    assert_int_equal(chmod(path, 0), 0);
    assert_int_equal(chmod(dir, 0755), 0);

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
            _exit(3);
        mao_spike_report_t r;
        int rc = mao_spike_run(&r, dir, NULL);
        if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r)
            _exit(4);
        _exit(rc == 0 ? 0 : 5);
    }
    close(fds[1]);
    mao_spike_report_t r;
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = read(fds[0], (char *)&r + got, sizeof r - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(got, sizeof r);
    s_assert_error(&r, "control-0002.csv: cannot open: Permission denied");
}

static void test_spike__unreadable_folder(void **state)
{
    const char *dir = *state;
    assert_int_equal(chmod(dir, 0711), 0); /* enter, but not list */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
            _exit(3);
        mao_spike_report_t r;
        int rc = mao_spike_run(&r, dir, NULL);
        _exit(rc == MAO_EFAIL && strstr(r.error, "Permission denied") ? 0 : 6);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* mao_spike_value_parse: a file's content parsed in memory gives the value,
 * or the very sentence, that mao_spike_run gives for a file holding it. */
static void test_spike__value_parse(void **state)
{
    const char *dir = *state;
    static const char *const contents[] = {
        "12.5\n",       "value\n3\n", "\xEF\xBB\xBFvalue\r\n42\r\n",
        "1\n2\n",       "inf\n",      "",
        "value\n",      "1,5\n",      "1e999\n",
        " \n\t-0.25 \r"};
    double v = -1;

    assert_int_equal(mao_spike_value_parse(&v, "12.5\n", 5, "control-1.csv"), 0);
    assert_close(v, 12.5, 0);
    assert_int_equal(mao_spike_value_parse(&v, "value\n3", 7, "control-1.csv"), 0);
    assert_close(v, 3, 0);
    v = -1;
    assert_int_equal(mao_spike_value_parse(&v, "1\n2\n", 4, "control-3.csv"), MAO_EMALFORMED);
    assert_string_equal(mao_error_last(),
                        "control-3.csv: more than one value (lines 1 and 2); it must hold one "
                        "number");
    assert_close(v, -1, 0); /* untouched */
    assert_int_equal(mao_spike_value_parse(&v, NULL, 0, "control-1.csv"), MAO_EMALFORMED);
    assert_non_null(strstr(mao_error_last(), "empty file"));
    char *big = calloc(1, MAO_SPIKE_FILE_MAX + 1);
    assert_non_null(big);
    memset(big, ' ', MAO_SPIKE_FILE_MAX + 1);
    big[0] = '1';
    assert_int_equal(mao_spike_value_parse(&v, big, MAO_SPIKE_FILE_MAX, "c.csv"), 0);
    assert_close(v, 1, 0);
    assert_int_equal(mao_spike_value_parse(&v, big, MAO_SPIKE_FILE_MAX + 1, "c.csv"),
                     MAO_EMALFORMED);
    assert_non_null(strstr(mao_error_last(), "c.csv: file too large"));
    free(big);
    assert_int_equal(mao_spike_value_parse(NULL, "1", 1, "c.csv"), MAO_EINVAL);
    assert_int_equal(mao_spike_value_parse(&v, NULL, 1, "c.csv"), MAO_EINVAL);
    assert_int_equal(mao_spike_value_parse(&v, "1", 1, NULL), MAO_EINVAL);

    for (size_t i = 0; i < sizeof contents / sizeof contents[0]; i++) {
        char error[MAO_SPIKE_ERROR_MAX] = "";
        size_t len = strlen(contents[i]);
        if (mao_spike_value_parse(&v, contents[i], len, "control-0001.csv") < 0)
            snprintf(error, sizeof error, "%s", mao_error_last());
        s_write_n(dir, "control-0001.csv", contents[i], len);
        mao_spike_report_t r = s_run(dir, NULL, 0);
        assert_string_equal(r.error, error);
    }
}

/* ---- parameters at work ----------------------------------------------------- */

static void test_spike__window_override(void **state)
{
    const char *v[] = {"100", "10", "20", "30", "24"};
    s_series(*state, v, 5);
    /* window 3: mean of 10, 20, 30 = 20; 24 is +20 %, not more. */
    mao_spike_params_t p = s_params(MAO_SPIKE_GAIN, 3, 20);
    mao_spike_report_t r = s_run(*state, &p, 0);
    s_assert_verdict(&r, 20, 24, 20, 0);
    /* window 4 takes in the 100: mean 40, gain -40 %. */
    p.window = 4;
    r = s_run(*state, &p, 0);
    s_assert_verdict(&r, 40, 24, -40, 1);
    /* window 5 asks for six snapshots. */
    p.window = 5;
    r = s_run(*state, &p, 0);
    assert_int_equal(r.enough_data, 0);
    assert_int_equal(r.snapshots, 5);
    assert_string_equal(r.error, "");
}

static void test_spike__threshold_override(void **state)
{
    const char *v[] = {"10", "10", "11"};
    s_series(*state, v, 3);
    mao_spike_params_t p = s_params(MAO_SPIKE_GAIN, 2, 5);
    mao_spike_report_t r = s_run(*state, &p, 0);
    s_assert_verdict(&r, 10, 11, 10, 1);
    assert_close(r.threshold, 5, 0);
}

static void test_spike__mad_method(void **state)
{
    /* previous 10, 12, 11, 13, 9: median 11, |dev| 1, 1, 0, 2, 2 -> MAD 1,
     * spread 1.4826; 16 scores 5/1.4826 = 3.37 (no spike), 17 scores 4.05. */
    const char *v[] = {"10", "12", "11", "13", "9", "16"};
    s_series(*state, v, 6);
    mao_spike_params_t p = mao_spike_params_default();
    mao_spike_opts_t opts = {"mad", 5, 0};
    assert_int_equal(mao_spike_params_apply(&p, &opts), 0);
    mao_spike_report_t r = s_run(*state, &p, 0);
    s_assert_verdict(&r, 11, 16, 5 / 1.4826, 0);
    assert_int_equal(r.method, MAO_SPIKE_MAD);
    assert_close(r.threshold, 3.5, 0);

    s_write(*state, "control-0006.csv", "17");
    r = s_run(*state, &p, 0);
    s_assert_verdict(&r, 11, 17, 6 / 1.4826, 1);
    s_write(*state, "control-0006.csv", "5");
    r = s_run(*state, &p, 0);
    s_assert_verdict(&r, 11, 5, -6 / 1.4826, 1);

    /* An even window takes the mean of the two middle values as the median. */
    p.window = 4; /* previous 12, 11, 13, 9: median 11.5, |dev| .5 .5 1.5 2.5 -> MAD 1 */
    r = s_run(*state, &p, 0);
    s_assert_verdict(&r, 11.5, 5, -6.5 / 1.4826, 1);
}

static void test_spike__mad_zero_falls_back(void **state)
{
    /* previous 10, 10, 16: median 10, |dev| 0, 0, 6 -> MAD 0; mean absolute
     * deviation 2, spread 2 * 1.2533. */
    const char *v[] = {"10", "10", "16", "15"};
    s_series(*state, v, 4);
    mao_spike_params_t p = s_params(MAO_SPIKE_MAD, 3, 3.5);
    mao_spike_report_t r = s_run(*state, &p, 0);
    s_assert_verdict(&r, 10, 15, 5 / (2 * 1.2533), 0);
    s_write(*state, "control-0004.csv", "20");
    r = s_run(*state, &p, 0);
    s_assert_verdict(&r, 10, 20, 10 / (2 * 1.2533), 1);
}

static void test_spike__mad_constant_history(void **state)
{
    /* All previous values equal: no spread at all.  The same value scores 0;
     * any other is infinitely far: a spike, written as null in JSON. */
    const char *v[] = {"7", "7", "7", "7"};
    s_series(*state, v, 4);
    mao_spike_params_t p = s_params(MAO_SPIKE_MAD, 3, 3.5);
    mao_spike_report_t r = s_run(*state, &p, 0);
    s_assert_verdict(&r, 7, 7, 0, 0);

    s_write(*state, "control-0004.csv", "7.001");
    r = s_run(*state, &p, 0);
    assert_string_equal(r.error, "");
    assert_true(isinf(r.gain) && r.gain > 0);
    assert_int_equal(r.spike, 1);
    json_t *j = mao_spike_report_to_json(&r);
    assert_non_null(j);
    assert_true(json_is_null(json_object_get(j, "gain")));
    assert_true(json_is_true(json_object_get(j, "spike")));
    json_decref(j);
    char text[MAO_SPIKE_TEXT_MAX];
    assert_int_equal(mao_spike_report_text(text, sizeof text, &r), 0);
    assert_non_null(strstr(text, "Score: +inf"));

    s_write(*state, "control-0004.csv", "6");
    r = s_run(*state, &p, 0);
    assert_true(isinf(r.gain) && r.gain < 0);
    assert_int_equal(r.spike, 1);
}

/* ---- which files count ------------------------------------------------------ */

static void test_spike__non_control_ignored(void **state)
{
    const char *dir = *state;
    char path[4096];
    const char *v[] = {"10", "10", "13"};
    s_series(dir, v, 3);
    /* Names that sort after control-0003.csv but do not count. */
    s_write(dir, "data.csv", "1000");
    s_write(dir, "control-x.txt", "1000");
    s_write(dir, "control-x.csv.bak", "1000");
    s_write(dir, "Control-9.csv", "1000");
    s_write(dir, "xcontrol-9.csv", "1000");
    s_write(dir, "control-.csv", "1000");
    s_write(dir, "control.csv", "1000");
    snprintf(path, sizeof path, "%s/control-z.csv", dir);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/control-zz.csv", dir);
    assert_int_equal(symlink("control-0001.csv", path), 0);
    snprintf(path, sizeof path, "%s/control-zzz.csv", dir);
    assert_int_equal(mkfifo(path, 0644), 0);
    mao_spike_report_t r = s_run(dir, NULL, 0);
    assert_int_equal(r.snapshots, 3);
    assert_string_equal(r.newest, "control-0003.csv");
    s_assert_verdict(&r, 10, 13, 30, 1);
}

static void test_spike__bytewise_order(void **state)
{
    const char *dir = *state;
    /* strcmp order, not numeric, not locale: "9" > "10", "a" > "B", and
     * 0xC3 (UTF-8 lead byte) > every ASCII letter. */
    s_write(dir, "control-10.csv", "1");
    s_write(dir, "control-9.csv", "1");
    s_write(dir, "control-B.csv", "1");
    s_write(dir, "control-a.csv", "1");
    s_write(dir, "control-\xC3\xA9.csv", "2");
    mao_spike_params_t p = s_params(MAO_SPIKE_GAIN, 4, 20);
    mao_spike_report_t r = s_run(dir, &p, 0);
    assert_string_equal(r.newest, "control-\xC3\xA9.csv");
    s_assert_verdict(&r, 1, 2, 100, 1);

    /* Dates sort as written: an ISO date is the compliant way. */
    const char *older[] = {"control-2024-12-31.csv", "control-2025-01-01.csv",
                           "control-2025-01-02.csv"};
    mao_spike_report_t d;
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/dates", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    s_write(sub, older[2], "13");
    s_write(sub, older[0], "10");
    s_write(sub, older[1], "10");
    assert_int_equal(mao_spike_run(&d, sub, NULL), 0);
    assert_string_equal(d.newest, older[2]);
    s_assert_verdict(&d, 10, 13, 30, 1);
}

static void test_spike__only_newest_read(void **state)
{
    const char *dir = *state;
    /* 200 snapshots written in a scrambled order; the oldest 197 are broken
     * (and one is huge) but never read. */
    for (int i = 0; i < 200; i++) {
        int j = (i * 7919) % 200;
        char name[64];
        snprintf(name, sizeof name, "control-%05d.csv", j);
        if (j == 197 || j == 198)
            s_write(dir, name, "50\n");
        else if (j == 199)
            s_write(dir, name, "80\n");
        else if (j == 0) {
            char *big = calloc(1, 200000);
            assert_non_null(big);
            s_write_n(dir, name, big, 200000);
            free(big);
        } else
            s_write(dir, name, "not a number\n");
    }
    mao_spike_report_t r = s_run(dir, NULL, 0);
    assert_int_equal(r.snapshots, 200);
    assert_string_equal(r.newest, "control-00199.csv");
    s_assert_verdict(&r, 50, 80, 60, 1);

    /* A broken file inside the window is named, the newest first. */
    s_write(dir, "control-00198.csv", "oops\n");
    r = s_run(dir, NULL, 0);
    s_assert_error(&r, "control-00198.csv: ");
}

static void test_spike__large_window(void **state)
{
    const char *dir = *state;
    for (int i = 0; i < 120; i++) {
        char name[64], value[32];
        snprintf(name, sizeof name, "control-%03d.csv", (i * 37) % 120);
        snprintf(value, sizeof value, "%d\n", (i * 37) % 120 == 119 ? 200 : 100);
        s_write(dir, name, value);
    }
    mao_spike_params_t p = s_params(MAO_SPIKE_GAIN, 100, 50);
    mao_spike_report_t r = s_run(dir, &p, 0);
    assert_int_equal(r.snapshots, 120);
    s_assert_verdict(&r, 100, 200, 100, 1);
}

static void test_spike__long_name(void **state)
{
    char name[256];
    memset(name, 'a', sizeof name);
    memcpy(name, "control-", 8);
    memcpy(name + 251, ".csv", 5); /* 255 bytes: the longest a name can be */
    s_write(*state, name, "3");
    mao_spike_report_t r = s_run(*state, NULL, 0);
    assert_string_equal(r.newest, name);
    assert_int_equal(r.snapshots, 1);
}

/* ---- the folder itself ------------------------------------------------------ */

static void test_spike__missing_folder(void **state)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/nope", (char *)*state);
    mao_spike_report_t r = s_run(path, NULL, MAO_ENOTFOUND);
    assert_non_null(strstr(r.error, "does not exist"));
    assert_string_equal(r.error, mao_error_last());
    assert_string_equal(r.datapath, path);
    assert_int_equal(r.spike, 0);

    json_t *j = mao_spike_report_to_json(&r);
    assert_non_null(j);
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "does not exist"));
    json_decref(j);
}

static void test_spike__not_a_folder(void **state)
{
    char path[4096];
    s_write(*state, "plain", "1");
    snprintf(path, sizeof path, "%s/plain", (char *)*state);
    mao_spike_report_t r = s_run(path, NULL, MAO_EINVAL);
    assert_non_null(strstr(r.error, "is not a folder"));
}

/* ---- output ----------------------------------------------------------------- */

static void s_assert_keys(json_t *j, const char *const *keys)
{
    size_t n = 0;
    for (; keys[n]; n++)
        if (!json_object_get(j, keys[n]))
            fail_msg("key \"%s\" missing", keys[n]);
    assert_int_equal(json_object_size(j), n);
}

static void test_spike__json_output(void **state)
{
    const char *dir = *state;
    s_write(dir, "control-1.csv", "10");
    s_write(dir, "control-2.csv", "10");

    mao_spike_report_t r = s_run(dir, NULL, 0);
    json_t *j = mao_spike_report_to_json(&r);
    const char *waiting[] = {"datapath", "snapshots", "spike",  "method",
                             "window",   "threshold", "newest", NULL};
    s_assert_keys(j, waiting);
    assert_int_equal(json_integer_value(json_object_get(j, "snapshots")), 2);
    assert_true(json_is_false(json_object_get(j, "spike")));
    assert_string_equal(json_string_value(json_object_get(j, "newest")), "control-2.csv");
    json_decref(j);

    s_write(dir, "control-3.csv", "13");
    r = s_run(dir, NULL, 0);
    j = mao_spike_report_to_json(&r);
    const char *verdict[] = {"datapath",       "snapshots", "spike",  "rolling_avg",
                             "control_metric", "diff",      "gain",   "method",
                             "window",         "threshold", "newest", NULL};
    s_assert_keys(j, verdict);
    assert_string_equal(json_string_value(json_object_get(j, "datapath")), dir);
    assert_true(json_is_true(json_object_get(j, "spike")));
    assert_close(json_real_value(json_object_get(j, "rolling_avg")), 10, 0);
    assert_close(json_real_value(json_object_get(j, "control_metric")), 13, 0);
    assert_close(json_real_value(json_object_get(j, "diff")), 3, 1e-12);
    assert_close(json_real_value(json_object_get(j, "gain")), 30, 1e-9);
    assert_string_equal(json_string_value(json_object_get(j, "method")), "gain");
    assert_int_equal(json_integer_value(json_object_get(j, "window")), 2);
    assert_close(json_number_value(json_object_get(j, "threshold")), 20, 0);
    json_decref(j);

    s_write(dir, "control-3.csv", "13\n14\n");
    r = s_run(dir, NULL, 0);
    j = mao_spike_report_to_json(&r);
    const char *error[] = {"datapath",  "snapshots", "spike", "method", "window",
                           "threshold", "newest",    "error", NULL};
    s_assert_keys(j, error);
    assert_true(json_is_false(json_object_get(j, "spike")));
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "more than one"));
    json_decref(j);

    /* Names that are not UTF-8 still give valid JSON. */
    s_write(dir, "control-4\xff.csv", "13");
    r = s_run(dir, NULL, 0);
    j = mao_spike_report_to_json(&r);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "newest")),
                        "control-4\xEF\xBF\xBD.csv");
    json_decref(j);

    r = s_run(dir, NULL, 0);
    r.newest[0] = '\0';
    r.snapshots = 0;
    j = mao_spike_report_to_json(&r);
    assert_true(json_is_null(json_object_get(j, "newest")));
    json_decref(j);
    assert_null(mao_spike_report_to_json(NULL));
}

static void test_spike__text_output(void **state)
{
    const char *dir = *state;
    char text[MAO_SPIKE_TEXT_MAX];
    s_write(dir, "control-1.csv", "10");
    mao_spike_report_t r = s_run(dir, NULL, 0);
    assert_int_equal(mao_spike_report_text(text, sizeof text, &r), 0);
    assert_non_null(strstr(text, "Data path: "));
    assert_non_null(strstr(text, "Snapshots: 1\n"));
    assert_non_null(strstr(text, "Verdict: not enough data yet (1 of 3 snapshots)\n"));
    assert_null(strstr(text, "Rolling average"));

    s_write(dir, "control-2.csv", "10");
    s_write(dir, "control-3.csv", "13");
    r = s_run(dir, NULL, 0);
    assert_int_equal(mao_spike_report_text(text, sizeof text, &r), 0);
    assert_non_null(strstr(text, "Rolling average: 10 (mean of the previous 2)\n"));
    assert_non_null(strstr(text, "Control value: 13\n"));
    assert_non_null(strstr(text, "Difference: +3\n"));
    assert_non_null(strstr(text, "Gain: +30.00 %\n"));
    assert_non_null(strstr(text, "Newest: control-3.csv\n"));
    assert_non_null(strstr(text, "Verdict: spike\n"));

    s_write(dir, "control-3.csv", "11");
    r = s_run(dir, NULL, 0);
    assert_int_equal(mao_spike_report_text(text, sizeof text, &r), 0);
    assert_non_null(strstr(text, "Verdict: no spike\n"));

    s_write(dir, "control-3.csv", "");
    r = s_run(dir, NULL, 0);
    assert_int_equal(mao_spike_report_text(text, sizeof text, &r), 0);
    assert_non_null(strstr(text, "Verdict: error: control-3.csv: empty file"));

    /* Too small a buffer: cut, terminated, and said so. */
    char small[16];
    assert_int_equal(mao_spike_report_text(small, sizeof small, &r), MAO_EINVAL);
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_int_equal(mao_spike_report_text(NULL, 10, &r), MAO_EINVAL);
}


/* ---- the watched folder ------------------------------------------------------- */

/* The watch and a full scan must agree on every field of the report. */
static void s_assert_same(const mao_spike_report_t *a, const mao_spike_report_t *b)
{
    assert_int_equal(a->snapshots, b->snapshots);
    assert_int_equal(a->enough_data, b->enough_data);
    assert_string_equal(a->newest, b->newest);
    assert_string_equal(a->error, b->error);
    assert_int_equal(a->spike, b->spike);
    assert_true(a->current == b->current);
    assert_true(a->rolling_avg == b->rolling_avg);
    assert_true(a->gain == b->gain || (a->gain != a->gain && b->gain != b->gain));
}

static void s_compare(mao_spike_watches_t *w, const char *dir)
{
    mao_spike_report_t watched, scanned;
    mao_spike_params_t p = mao_spike_params_default();
    assert_int_equal(mao_spike_watches_run(&watched, w, dir, &p), 0);
    assert_int_equal(mao_spike_run(&scanned, dir, &p), 0);
    s_assert_same(&watched, &scanned);
}

static void test_spike__watch_follows_changes_exactly(void **state)
{
    const char *dir = *state;
    char path[512], name[64], other[64];
    mao_spike_watches_t *w = NULL;
    s_write(dir, "control-0000.csv", "10\n");
    assert_int_equal(mao_spike_watches_new(&w, 4, 0), 0);
    assert_int_equal(mao_spike_watches_rescans(w, dir), 0);
    s_compare(w, dir);
    assert_int_equal(mao_spike_watches_rescans(w, dir), 1);

    /* Random creates, deletes, renames, overwrites, symlinks and folders
     * named like control files; after every batch the watch must say what a
     * full listing says, without listing again. */
    srand(11);
    for (int batch = 0; batch < 60; batch++) {
        for (int op = 0; op < 20; op++) {
            snprintf(name, sizeof name, "control-%04d.csv", rand() % 300);
            snprintf(path, sizeof path, "%s/%s", dir, name);
            switch (rand() % 7) {
            case 0:
            case 1:
            case 2: {
                char value[32];
                snprintf(value, sizeof value, "%d\n", 1 + rand() % 50);
                struct stat st;
                if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
                    break;
                s_write(dir, name, value);
                break;
            }
            case 3: unlink(path); break;
            case 4: {
                snprintf(other, sizeof other, "%s/control-%04d.csv", dir, rand() % 300);
                struct stat st;
                if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
                    (lstat(other, &st) != 0 || S_ISREG(st.st_mode)))
                    rename(path, other);
                break;
            }
            case 5:
                if (symlink("/etc/hostname", path) != 0 && errno != EEXIST)
                    fail_msg("symlink: %s", strerror(errno));
                break;
            case 6: {
                struct stat st;
                if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
                    rmdir(path);
                else if (lstat(path, &st) != 0)
                    mkdir(path, 0755);
                break;
            }
            }
        }
        s_compare(w, dir);
    }
    assert_int_equal(mao_spike_watches_rescans(w, dir), 1);
    mao_spike_watches_destroy(&w);
    assert_null(w);
}

static void test_spike__watch_lists_again_when_events_are_lost(void **state)
{
    const char *dir = *state;
    char name[64];
    mao_spike_watches_t *w = NULL;
    assert_int_equal(mao_spike_watches_new(&w, 4, 0), 0);
    s_compare(w, dir);
    /* More events than the kernel queues for one watch (16384 by default). */
    long max = 16384;
    FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
    if (f) {
        if (fscanf(f, "%ld", &max) != 1)
            max = 16384;
        fclose(f);
    }
    for (long i = 0; i < max + 100; i++) {
        snprintf(name, sizeof name, "control-%08ld.csv", i);
        s_write(dir, name, "5\n");
    }
    s_compare(w, dir);
    assert_int_equal(mao_spike_watches_rescans(w, dir), 2);
    mao_spike_watches_destroy(&w);
}

static void test_spike__watch_survives_a_replaced_folder(void **state)
{
    const char *dir = *state;
    char sub[512];
    mao_spike_watches_t *w = NULL;
    snprintf(sub, sizeof sub, "%s/data", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    s_write(sub, "control-1.csv", "10\n");
    s_write(sub, "control-2.csv", "10\n");
    assert_int_equal(mao_spike_watches_new(&w, 4, 0), 0);
    s_compare(w, sub);
    /* A fresh clone replaces the folder. */
    assert_int_equal(mao_fs_rmtree(sub), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    s_write(sub, "control-7.csv", "1\n");
    s_compare(w, sub);
    assert_int_equal(mao_spike_watches_rescans(w, sub), 2);
    /* Gone altogether: the same error as a scan, then back. */
    assert_int_equal(mao_fs_rmtree(sub), 0);
    mao_spike_report_t r;
    assert_int_equal(mao_spike_watches_run(&r, w, sub, NULL), MAO_ENOTFOUND);
    assert_non_null(strstr(r.error, "does not exist"));
    assert_int_equal(mkdir(sub, 0755), 0);
    s_write(sub, "control-9.csv", "3\n");
    s_compare(w, sub);
    s_write(sub, "control-10.csv", "4\n");
    s_compare(w, sub);
    assert_int_equal(mao_spike_watches_rescans(w, sub), 3);
    mao_spike_watches_destroy(&w);
    /* Never there: not found, not followed. */
    assert_int_equal(mao_fs_rmtree(sub), 0);
    assert_int_equal(mao_spike_watches_new(&w, 4, 0), 0);
    assert_int_equal(mao_spike_watches_run(&r, w, sub, NULL), MAO_ENOTFOUND);
    assert_int_equal(mao_spike_watches_count(w), 0);
    mao_spike_watches_destroy(&w);
}

/* How many inotify instances this process holds. */
static int s_inotify_fds(void)
{
    int n = 0;
    char link[64], target[64];
    for (int fd = 0; fd < 1024; fd++) {
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len > 0) {
            target[len] = '\0';
            n += strcmp(target, "anon_inode:inotify") == 0;
        }
    }
    return n;
}

static void test_spike__watches_share_one_instance_and_keep_the_latest(void **state)
{
    const char *dir = *state;
    enum { FOLDERS = 200, KEPT = 150 };
    char sub[FOLDERS][512];
    mao_spike_watches_t *w = NULL;
    int before = s_inotify_fds();
    assert_int_equal(mao_spike_watches_new(&w, KEPT, 0), 0);
    assert_int_equal(s_inotify_fds(), before + 1);
    /* More folders than the kernel's default of 128 instances per user, and
     * more than the set keeps: every look still says what a listing says. */
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < FOLDERS; i++) {
            snprintf(sub[i], sizeof sub[i], "%s/tool-%03d", dir, i);
            if (round == 0)
                assert_int_equal(mkdir(sub[i], 0755), 0);
            char name[64], value[32];
            snprintf(name, sizeof name, "control-%d.csv", round);
            snprintf(value, sizeof value, "%d\n", i + round);
            s_write(sub[i], name, value);
            s_compare(w, sub[i]);
        }
    assert_int_equal(s_inotify_fds(), before + 1);
    assert_int_equal(mao_spike_watches_count(w), KEPT);
    /* The latest are followed; the others were let go. */
    assert_int_equal(mao_spike_watches_rescans(w, sub[FOLDERS - 1]), 1);
    assert_int_equal(mao_spike_watches_rescans(w, sub[0]), 0);
    /* Looked at again and again in turn, the KEPT latest are not listed again. */
    for (int i = FOLDERS - KEPT; i < FOLDERS; i++) {
        s_write(sub[i], "control-7.csv", "70\n");
        s_compare(w, sub[i]);
        assert_int_equal(mao_spike_watches_rescans(w, sub[i]), 1);
    }
    mao_spike_watches_destroy(&w);
    assert_int_equal(s_inotify_fds(), before);
}

static void test_spike__watches_hold_a_bounded_number_of_names(void **state)
{
    const char *dir = *state;
    char a[512], b[512], name[64];
    mao_spike_watches_t *w = NULL;
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    assert_int_equal(mkdir(a, 0755), 0);
    assert_int_equal(mkdir(b, 0755), 0);
    for (int i = 0; i < 60; i++) {
        snprintf(name, sizeof name, "control-%03d.csv", i);
        s_write(a, name, "1\n");
        s_write(b, name, "2\n");
    }
    assert_int_equal(mao_spike_watches_new(&w, 8, 100), 0);
    s_compare(w, a);
    assert_int_equal(mao_spike_watches_count(w), 1);
    /* 120 names held would pass 100: the folder looked at longer ago goes. */
    s_compare(w, b);
    assert_int_equal(mao_spike_watches_count(w), 1);
    assert_int_equal(mao_spike_watches_rescans(w, a), 0);
    assert_int_equal(mao_spike_watches_rescans(w, b), 1);
    /* One folder past the bound on its own is kept, and followed. */
    for (int i = 60; i < 130; i++) {
        snprintf(name, sizeof name, "control-%03d.csv", i);
        s_write(b, name, "3\n");
    }
    s_compare(w, b);
    assert_int_equal(mao_spike_watches_rescans(w, b), 1);
    /* Another folder then: the big one goes, and comes back listed anew. */
    s_compare(w, a);
    assert_int_equal(mao_spike_watches_rescans(w, b), 0);
    s_compare(w, b);
    assert_int_equal(mao_spike_watches_rescans(w, b), 1);
    assert_int_equal(mao_spike_watches_rescans(w, a), 0);
    mao_spike_watches_destroy(&w);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, s_setup, s_teardown)
    const struct CMUnitTest tests[] = {
        T(test_spike__watch_follows_changes_exactly),
        T(test_spike__watch_lists_again_when_events_are_lost),
        T(test_spike__watch_survives_a_replaced_folder),
        T(test_spike__watches_share_one_instance_and_keep_the_latest),
        T(test_spike__watches_hold_a_bounded_number_of_names),
        T(test_spike__defaults),
        T(test_spike__params_overrides),
        T(test_spike__invalid_arguments),
        T(test_spike__no_snapshot),
        T(test_spike__one_snapshot),
        T(test_spike__two_snapshots),
        T(test_spike__insufficient_still_checks_files),
        T(test_spike__three_snapshots),
        T(test_spike__original_spike),
        T(test_spike__original_no_spike),
        T(test_spike__negative_gain_spike),
        T(test_spike__threshold_is_strict),
        T(test_spike__floats),
        T(test_spike__header_line),
        T(test_spike__crlf_bom_blanks),
        T(test_spike__empty_file),
        T(test_spike__word),
        T(test_spike__two_numbers),
        T(test_spike__not_finite),
        T(test_spike__binary_content),
        T(test_spike__oversized_file),
        T(test_spike__zero_mean),
        T(test_spike__unreadable_file),
        T(test_spike__unreadable_folder),
        T(test_spike__value_parse),
        T(test_spike__window_override),
        T(test_spike__threshold_override),
        T(test_spike__mad_method),
        T(test_spike__mad_zero_falls_back),
        T(test_spike__mad_constant_history),
        T(test_spike__non_control_ignored),
        T(test_spike__bytewise_order),
        T(test_spike__only_newest_read),
        T(test_spike__large_window),
        T(test_spike__long_name),
        T(test_spike__missing_folder),
        T(test_spike__not_a_folder),
        T(test_spike__json_output),
        T(test_spike__text_output),
    };
#undef T
    return cmocka_run_group_tests_name("spike", tests, NULL, NULL);
}
