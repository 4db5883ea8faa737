/*
 * spike_bench: how long mao_spike_run takes on a folder of 1,000, 10,000 and
 * 100,000 control files, in-process, page cache warm.
 *
 * For each size it builds a folder under a temporary directory (files created
 * in a scrambled order, names control-<ISO date>.csv one hour apart), runs
 * the detector a few times to warm the caches, then times RUNS runs with
 * clock_gettime(CLOCK_MONOTONIC) and prints the median, min and max.  For
 * comparison it also times the obvious way (readdir every name, keep them
 * all, qsort, read the newest window+1), the shape of the original Python,
 * and the bare listing (getdents64 and nothing else), the floor for any
 * detector that looks at every name once.
 * Every run's report is checked (snapshot count, newest name, a verdict), so
 * a fast wrong answer cannot pass.
 *
 * Usage: spike_bench [-d BASEDIR] [-r RUNS] [-k] [N ...]
 *   -d BASEDIR  where the temporary folders go (default $TMPDIR or /tmp)
 *   -r RUNS     timed runs per size, at least 11 (default 21)
 *   -k          keep the folders
 *   N ...       sizes (default 1000 10000 100000)
 */
#include "mao_error.h"
#include "mao_fs.h"
#include "mao_spike.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define S_MAX_SIZES 16

static double s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int s_double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The name of snapshot j: one hour after 2000-01-01T00:00Z per step. */
static void s_name(char *out, size_t size, long j)
{
    time_t t = 946684800 + (time_t)j * 3600;
    struct tm tm;
    char date[32];
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H%M%SZ", &tm);
    snprintf(out, size, "control-%s.csv", date);
}

/* Fills `dir` with n control files, created in a scrambled order.  The last
 * one is a spike (150 against 100). */
static int s_fill(const char *dir, long n)
{
    int rc = 0;
    if ((rc = mao_fs_mkdirs(dir, 0755)) < 0)
        return rc;
    for (long i = 0; i < n; i++) {
        long j = (long)(((unsigned long long)i * 7919ULL) % (unsigned long long)n);
        char name[64], path[4096], value[32];
        s_name(name, sizeof name, j);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        int len = snprintf(value, sizeof value, "%s\n", j == n - 1 ? "150" : "100.0");
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, value, (size_t)len) != len) {
            mao_error_set("cannot write %s", path);
            if (fd >= 0)
                close(fd);
            return MAO_EFAIL;
        }
        close(fd);
    }
    return 0;
}

/* ---- the obvious way, for comparison ------------------------------------ */

static int s_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* readdir everything, keep every control name, sort, read the newest k.
 * Returns the number of names, or -1. */
static long s_naive(const char *dir, size_t k, double *sum)
{
    DIR *d = opendir(dir);
    size_t n = 0, cap = 1024;
    char **names = malloc(cap * sizeof *names);
    struct dirent *e;
    if (!d || !names) {
        if (d)
            closedir(d);
        free(names);
        return -1;
    }
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "control-", 8) != 0 || len < 13 ||
            strcmp(e->d_name + len - 4, ".csv") != 0 || e->d_type != DT_REG)
            continue;
        if (n == cap) {
            char **grown = realloc(names, 2 * cap * sizeof *names);
            if (!grown)
                break;
            names = grown;
            cap *= 2;
        }
        names[n++] = strdup(e->d_name);
    }
    qsort(names, n, sizeof *names, s_str_cmp);
    *sum = 0;
    for (size_t i = n > k ? n - k : 0; i < n; i++) {
        char buf[128];
        int fd = openat(dirfd(d), names[i], O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t r = read(fd, buf, sizeof buf - 1);
            buf[r > 0 ? r : 0] = '\0';
            *sum += strtod(buf, NULL);
            close(fd);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return (long)n;
}

/* ---- the floor: what listing the folder costs the kernel ------------------- */

/* Only getdents64 over the folder, nothing done with the names: no detector
 * that lists the folder can beat this.  Returns the entries seen, or -1. */
static long s_floor(const char *dir)
{
    static char buf[256 * 1024];
    long entries = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    for (;;) {
        ssize_t n = getdents64(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t off = 0; off < n; entries++)
            off += ((const struct dirent64 *)(buf + off))->d_reclen;
    }
    close(fd);
    return entries;
}

/* ---- main ---------------------------------------------------------------- */

/* The filesystem under `path`, by name for the common ones. */
static const char *s_fs_name(const char *path)
{
    struct statfs st;
    if (statfs(path, &st) < 0)
        return "unknown";
    switch ((unsigned long)st.f_type) {
    case 0xEF53UL:
        return "ext2/3/4";
    case 0x01021994UL:
        return "tmpfs";
    case 0x58465342UL:
        return "xfs";
    case 0x9123683EUL:
        return "btrfs";
    case 0x794C7630UL:
        return "overlayfs";
    default:
        return "other";
    }
}

typedef struct {
    long files;
    int runs;
    double median, min, max;
    double naive_median;
    double floor_median;
    double watch_first;  /* the watch's first look: a full listing */
    double watch_median; /* a look after one run wrote one new control file */
} s_row_t;

static int s_bench(const char *dir, long n, int runs, s_row_t *row)
{
    int rc = 0;
    mao_spike_report_t r;
    mao_spike_params_t params = mao_spike_params_default();
    char newest[64];
    double *t = calloc((size_t)runs, sizeof *t);
    double *tn = calloc((size_t)runs, sizeof *tn);
    if (!t || !tn) {
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    s_name(newest, sizeof newest, n - 1);
    for (int i = 0; i < 3; i++) /* warm the page cache and the dentry cache */
        mao_spike_run(&r, dir, &params);
    for (int i = 0; i < runs; i++) {
        double t0 = s_now_ms();
        rc = mao_spike_run(&r, dir, &params);
        t[i] = s_now_ms() - t0;
        if (rc < 0 || r.error[0] || r.snapshots != (size_t)n || strcmp(r.newest, newest) != 0 ||
            !r.enough_data || r.spike != (n >= 3)) {
            fprintf(stderr,
                    "spike_bench: wrong report for %ld files: rc %d, %zu snapshots, "
                    "newest %s, error '%s'\n",
                    n, rc, r.snapshots, r.newest, r.error);
            rc = MAO_EFAIL;
            goto cleanup;
        }
    }
    for (int i = 0; i < runs; i++) {
        double sum = 0;
        double t0 = s_now_ms();
        long found = s_naive(dir, 3, &sum);
        tn[i] = s_now_ms() - t0;
        if (found != n) {
            fprintf(stderr, "spike_bench: the naive scan found %ld of %ld\n", found, n);
            rc = MAO_EFAIL;
            goto cleanup;
        }
    }
    qsort(tn, (size_t)runs, sizeof *tn, s_double_cmp);
    row->naive_median = tn[runs / 2];
    for (int i = 0; i < runs; i++) {
        double t0 = s_now_ms();
        long entries = s_floor(dir);
        tn[i] = s_now_ms() - t0;
        if (entries != n + 2) {
            fprintf(stderr, "spike_bench: the bare listing saw %ld entries of %ld\n", entries,
                    n + 2);
            rc = MAO_EFAIL;
            goto cleanup;
        }
    }
    qsort(tn, (size_t)runs, sizeof *tn, s_double_cmp);
    row->floor_median = tn[runs / 2];

    /* The worker's path: the folder stays watched between runs; each run adds
     * one control file, then the detector looks.  Only the look is timed. */
    mao_spike_watches_t *w = NULL;
    if ((rc = mao_spike_watches_new(&w, 1, 0)) < 0)
        goto cleanup;
    double t0 = s_now_ms();
    rc = mao_spike_watches_run(&r, w, dir, &params);
    row->watch_first = s_now_ms() - t0;
    for (int i = 0; rc == 0 && i < runs; i++) {
        char name[64], path[4200];
        s_name(name, sizeof name, n + i);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "w");
        if (!f || fputs("100.0\n", f) < 0 || fclose(f) != 0) {
            rc = MAO_EFAIL;
            break;
        }
        t0 = s_now_ms();
        rc = mao_spike_watches_run(&r, w, dir, &params);
        tn[i] = s_now_ms() - t0;
        if (rc < 0 || r.error[0] || r.snapshots != (size_t)(n + i + 1) ||
            strcmp(r.newest, name) != 0) {
            fprintf(stderr, "spike_bench: the watch reported %zu snapshots, newest %s\n",
                    r.snapshots, r.newest);
            rc = MAO_EFAIL;
        }
    }
    if (rc == 0 && mao_spike_watches_rescans(w, dir) != 1) {
        fprintf(stderr, "spike_bench: the watch listed the folder again\n");
        rc = MAO_EFAIL;
    }
    mao_spike_watches_destroy(&w);
    if (rc < 0)
        goto cleanup;
    qsort(tn, (size_t)runs, sizeof *tn, s_double_cmp);
    row->watch_median = tn[runs / 2];
    qsort(t, (size_t)runs, sizeof *t, s_double_cmp);
    row->files = n;
    row->runs = runs;
    row->median = t[runs / 2];
    row->min = t[0];
    row->max = t[runs - 1];
cleanup:
    free(t);
    free(tn);
    return rc;
}

int main(int argc, char **argv)
{
    const char *base = getenv("TMPDIR");
    int runs = 21, keep = 0, opt, rc = 0;
    long sizes[S_MAX_SIZES] = {1000, 10000, 100000};
    size_t nsizes = 3;
    s_row_t rows[S_MAX_SIZES];
    char root[4096];

    if (!base || !*base)
        base = "/tmp";
    while ((opt = getopt(argc, argv, "d:r:k")) != -1) {
        switch (opt) {
        case 'd':
            base = optarg;
            break;
        case 'r':
            runs = (int)strtol(optarg, NULL, 10);
            break;
        case 'k':
            keep = 1;
            break;
        default:
            fprintf(stderr, "Usage: spike_bench [-d BASEDIR] [-r RUNS] [-k] [N ...]\n");
            return 2;
        }
    }
    if (runs < 11) {
        fprintf(stderr, "spike_bench: at least 11 runs\n");
        return 2;
    }
    if (optind < argc) {
        nsizes = 0;
        for (int i = optind; i < argc && nsizes < S_MAX_SIZES; i++) {
            char *end;
            long n = strtol(argv[i], &end, 10);
            if (*end || n < 3 || n > 10000000) {
                fprintf(stderr, "spike_bench: size '%s' must be 3 to 10000000\n", argv[i]);
                return 2;
            }
            sizes[nsizes++] = n;
        }
    }
    snprintf(root, sizeof root, "%s/mao-spike-bench-XXXXXX", base);
    if (!mkdtemp(root)) {
        perror("spike_bench: mkdtemp");
        return 1;
    }
    for (size_t i = 0; i < nsizes; i++) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/n%ld", root, sizes[i]);
        double t0 = s_now_ms();
        if ((rc = s_fill(dir, sizes[i])) < 0) {
            fprintf(stderr, "spike_bench: %s\n", mao_error_last());
            goto cleanup;
        }
        fprintf(stderr, "spike_bench: %ld files written in %.0f ms\n", sizes[i], s_now_ms() - t0);
        if ((rc = s_bench(dir, sizes[i], runs, &rows[i])) < 0)
            goto cleanup;
    }
    struct utsname un;
    if (uname(&un) < 0)
        snprintf(un.release, sizeof un.release, "?");
    printf("machine: %ld cores, Linux %s, folders on %s (%s)\n", sysconf(_SC_NPROCESSORS_ONLN),
           un.release, s_fs_name(root), root);
    printf("method gain, window 2, page cache warm; times in ms\n");
    printf("%9s  %5s  %10s  %8s  %8s  %12s  %11s  %12s  %12s\n", "files", "runs", "scan med",
           "min", "max", "listing only", "naive sort", "watch first", "watched run");
    for (size_t i = 0; i < nsizes; i++)
        printf("%9ld  %5d  %10.3f  %8.3f  %8.3f  %12.3f  %11.3f  %12.3f  %12.3f\n",
               rows[i].files, rows[i].runs, rows[i].median, rows[i].min, rows[i].max,
               rows[i].floor_median, rows[i].naive_median, rows[i].watch_first,
               rows[i].watch_median);
    printf("scan: mao_spike_run, one getdents64 pass keeping the newest window+1 names (median,\n"
           "min, max); listing only: bare getdents64 passes, the kernel's floor for any scan;\n"
           "naive sort: readdir + keep all + qsort + read the newest 3 (what the original did);\n"
           "watch first: a watched folder's first look (a full listing into the name set);\n"
           "watched run: the worker's path after each run, one new control file written, then\n"
           "mao_spike_watches_run (median).  Every median is over the same number of runs.\n");
cleanup:
    if (!keep)
        mao_fs_rmtree(root);
    else
        fprintf(stderr, "spike_bench: kept %s\n", root);
    return rc < 0 ? 1 : 0;
}
