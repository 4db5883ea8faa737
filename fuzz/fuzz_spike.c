/*
 * fuzz_spike: the control-file parser, mao_spike_value_parse(), on the whole
 * input as one file's content.  An input holding the byte 0x1e (ASCII's
 * record separator) is also a small data folder: each piece becomes one
 * control file (control-00.csv, control-01.csv, ... in a private temporary
 * folder, in /dev/shm when there is one) and mao_spike_run() examines it
 * with both methods, so the file reader and the arithmetic that decides get
 * the same hostile values.
 *
 * Properties: a refused content leaves a one-sentence detail naming the
 * file; the folder run always returns 0 and a report, and agrees with the
 * in-memory parser: the newest broken file's sentence is the report's
 * error; with every file parsed, no file is blamed, and with a verdict the
 * control value is the newest file's value.
 */
#include "fuzz.h"
#include "mao_error.h"
#include "mao_spike.h"

#include <fcntl.h>
#include <math.h>
#include <unistd.h>

#define S_SEP 0x1e
#define S_FILES_MAX 16

static char s_dir[64];   /* the private data folder */
static size_t s_written; /* control files left in it by the previous input */

static void s_remove_dir(void)
{
    char path[128];
    for (size_t i = 0; i < S_FILES_MAX; i++) {
        snprintf(path, sizeof path, "%s/control-%02zu.csv", s_dir, i);
        unlink(path);
    }
    rmdir(s_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* In memory when the machine has /dev/shm: files are written for every
     * input that holds a separator. */
    const char *tmp = getenv("TMPDIR");
    snprintf(s_dir, sizeof s_dir, "/dev/shm/mao-fuzz-spike-XXXXXX");
    if (!mkdtemp(s_dir)) {
        snprintf(s_dir, sizeof s_dir, "%s/mao-fuzz-spike-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        FUZZ_CHECK(strlen(s_dir) + 20 < sizeof s_dir && mkdtemp(s_dir) != NULL);
    }
    atexit(s_remove_dir);
    return 0;
}

static void s_write(size_t index, const uint8_t *data, size_t size)
{
    char path[128];
    snprintf(path, sizeof path, "%s/control-%02zu.csv", s_dir, index);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
    close(fd);
}

/* One piece: its value, or its problem sentence. */
typedef struct {
    int ok;
    double value;
    char error[MAO_SPIKE_ERROR_MAX];
} s_piece_t;

static void s_parse(s_piece_t *piece, const uint8_t *data, size_t size, const char *name)
{
    mao_error_clear();
    int rc = mao_spike_value_parse(&piece->value, (const char *)data, size, name);
    FUZZ_CHECK(rc == 0 || rc == MAO_EMALFORMED);
    piece->ok = rc == 0;
    snprintf(piece->error, sizeof piece->error, "%s", rc == 0 ? "" : mao_error_last());
    if (rc == 0)
        FUZZ_CHECK(isfinite(piece->value));
    else
        FUZZ_CHECK(strncmp(piece->error, name, strlen(name)) == 0);
}

static void s_folder(const s_piece_t *pieces, size_t n)
{
    static const mao_spike_method_t methods[] = {MAO_SPIKE_GAIN, MAO_SPIKE_MAD};
    mao_spike_report_t report;
    char text[MAO_SPIKE_TEXT_MAX];

    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        /* window + 1 = n: every piece is read, newest first. */
        mao_spike_params_t params = {methods[m], (long)(n > 1 ? n - 1 : 1),
                                     mao_spike_threshold_default(methods[m])};
        FUZZ_CHECK(mao_spike_run(&report, s_dir, &params) == 0);
        FUZZ_CHECK(report.snapshots == n);
        const s_piece_t *broken = NULL;
        for (size_t i = n; i-- > 0 && !broken;)
            if (!pieces[i].ok)
                broken = &pieces[i];
        if (broken) {
            FUZZ_CHECK(strcmp(report.error, broken->error) == 0);
        } else {
            /* No file's fault; the arithmetic may still find one (a zero mean). */
            FUZZ_CHECK(strncmp(report.error, "control-", 8) != 0);
            if (report.error[0] == '\0' && report.enough_data)
                FUZZ_CHECK(memcmp(&report.current, &pieces[n - 1].value, sizeof(double)) == 0);
        }
        json_t *json = mao_spike_report_to_json(&report);
        FUZZ_CHECK(json != NULL);
        json_decref(json);
        FUZZ_CHECK(mao_spike_report_text(text, sizeof text, &report) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static s_piece_t pieces[S_FILES_MAX];
    s_piece_t whole;
    size_t n = 0;

    s_parse(&whole, data, size, "control-x.csv");
    if (!memchr(data, S_SEP, size))
        return 0;

    for (size_t start = 0; start <= size && n < S_FILES_MAX; n++) {
        const uint8_t *sep = memchr(data + start, S_SEP, size - start);
        size_t end = sep ? (size_t)(sep - data) : size;
        char name[32];
        snprintf(name, sizeof name, "control-%02zu.csv", n);
        s_parse(&pieces[n], data + start, end - start, name);
        s_write(n, data + start, end - start);
        start = end + 1;
    }
    for (size_t i = n; i < s_written; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/control-%02zu.csv", s_dir, i);
        unlink(path);
    }
    s_written = n;
    s_folder(pieces, n);
    return 0;
}
