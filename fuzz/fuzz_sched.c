/*
 * fuzz_sched: the schedule parsers on the input text: a trigger as a
 * schedule's text gives it (mao_sched_trigger_parse, zones included), a bare
 * cron expression, a duration and an interval.
 *
 * Properties:
 *   - canonical text is a fixed point: a trigger or cron expression that
 *     parses is written (mao_sched_*_format) and parsed again to an equal
 *     value with the same text, and a duration comes back to the same
 *     seconds;
 *   - the next fire instants from a few fixed instants (around a DST change,
 *     1970, both ends of the accepted range) are found in bounded work,
 *     strictly ascending, inside the accepted range;
 *   - a zone name cannot reach outside the zone folder: the name after
 *     "TZ=" (or the whole input) is opened in a private folder that holds
 *     one zone, "Inside", next to a valid zone file outside it; only
 *     "Inside" and the built-in UTC names may open there.  Triggers read
 *     the system's zones (TZDIR is set to MAO_TZ_DIR_DEFAULT).
 */
#include "fuzz.h"
#include "mao_error.h"
#include "mao_fs.h"
#include "mao_sched.h"

#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_PREVIEW 3

static char s_root[64];     /* private folder: zones/Inside and Outside */
static char s_zones[96];    /* s_root/zones */
static int64_t s_after[5];  /* the fixed instants next fires are asked after */
static mao_tz_t *s_kept[8]; /* zones held open so that triggers find them cached */

static void s_cleanup(void)
{
    char path[160];
    snprintf(path, sizeof path, "%s/Inside", s_zones);
    unlink(path);
    snprintf(path, sizeof path, "%s/Outside", s_root);
    unlink(path);
    rmdir(s_zones);
    rmdir(s_root);
    for (size_t i = 0; i < sizeof s_kept / sizeof s_kept[0]; i++)
        mao_tz_destroy(&s_kept[i]);
}

static void s_copy(const char *from, const char *to)
{
    char *data = NULL;
    size_t len = 0;
    FUZZ_CHECK(mao_fs_read(from, MAO_TZ_FILE_MAX, &data, &len) == 0);
    FILE *f = fopen(to, "wb");
    FUZZ_CHECK(f && fwrite(data, 1, len, f) == len && fclose(f) == 0);
    free(data);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *kept[] = {"Europe/Zurich",     "America/New_York", "Australia/Lord_Howe",
                                 "Pacific/Apia",      "Pacific/Chatham",  "Europe/Dublin",
                                 "Africa/Casablanca", "America/St_Johns"};
    char path[160];

    setenv("TZDIR", MAO_TZ_DIR_DEFAULT, 1);
    snprintf(s_root, sizeof s_root, "/tmp/mao-fuzz-sched-XXXXXX");
    FUZZ_CHECK(mkdtemp(s_root) != NULL);
    snprintf(s_zones, sizeof s_zones, "%s/zones", s_root);
    FUZZ_CHECK(mkdir(s_zones, 0700) == 0);
    snprintf(path, sizeof path, "%s/Inside", s_zones);
    s_copy(MAO_TZ_DIR_DEFAULT "/Europe/Zurich", path);
    snprintf(path, sizeof path, "%s/Outside", s_root);
    s_copy(MAO_TZ_DIR_DEFAULT "/America/New_York", path);
    atexit(s_cleanup);

    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        FUZZ_CHECK(mao_tz_open(&s_kept[i], kept[i]) == 0);

    s_after[0] = mao_tz_days_from_civil(2026, 3, 29) * 86400 + 1800; /* Zurich springs at 01:00Z */
    s_after[1] = mao_tz_days_from_civil(2026, 11, 1) * 86400 + 5 * 3600 + 1800; /* New York falls */
    s_after[2] = 0;
    s_after[3] = MAO_SCHED_TIME_MIN;
    s_after[4] = MAO_SCHED_TIME_MAX - 2 * 86400;
    return 0;
}

/* The next fires of `t` after each fixed instant. */
static void s_next(const mao_sched_trigger_t *t)
{
    for (size_t i = 0; i < sizeof s_after / sizeof s_after[0]; i++) {
        int64_t fires[S_PREVIEW];
        size_t count = 0;
        int rc = mao_sched_preview(fires, S_PREVIEW, &count, t, s_after[i], s_after[i]);
        if (rc != 0)
            fprintf(stderr, "preview after %lld: %s\n", (long long)s_after[i], mao_error_last());
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(count <= S_PREVIEW);
        for (size_t k = 0; k < count; k++) {
            FUZZ_CHECK(fires[k] > (k ? fires[k - 1] : s_after[i]));
            FUZZ_CHECK(fires[k] <= MAO_SCHED_TIME_MAX);
        }
    }
}

static void s_trigger(const char *text)
{
    mao_sched_trigger_t *t = NULL, *again = NULL;
    char first[MAO_SCHED_TEXT_MAX], second[MAO_SCHED_TEXT_MAX];

    mao_error_clear();
    int rc = mao_sched_trigger_parse(&t, text);
    if (rc < 0) {
        FUZZ_CHECK(t == NULL);
        FUZZ_CHECK(rc == MAO_EINVAL || rc == MAO_ENOTFOUND || rc == MAO_EMALFORMED ||
                   rc == MAO_EFAIL || rc == MAO_ENOMEM);
        FUZZ_CHECK(mao_error_last()[0] != '\0');
        return;
    }
    FUZZ_CHECK(mao_sched_trigger_format(first, sizeof first, t) == 0);
    if (mao_sched_trigger_parse(&again, first) != 0)
        fprintf(stderr, "canonical '%s' refused: %s\n", first, mao_error_last());
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(mao_sched_trigger_format(second, sizeof second, again) == 0);
    FUZZ_CHECK(strcmp(first, second) == 0);
    FUZZ_CHECK(mao_sched_trigger_kind(t) == mao_sched_trigger_kind(again));
    FUZZ_CHECK(mao_sched_trigger_interval(t) == mao_sched_trigger_interval(again));
    if (mao_sched_trigger_kind(t) == MAO_SCHED_CRON) {
        const char *zone = mao_tz_name(mao_sched_trigger_tz(t));
        FUZZ_CHECK(memcmp(mao_sched_trigger_cron(t), mao_sched_trigger_cron(again),
                          sizeof(mao_sched_cron_t)) == 0);
        FUZZ_CHECK(strcmp(zone, mao_tz_name(mao_sched_trigger_tz(again))) == 0);
        FUZZ_CHECK(mao_tz_name_check(zone) == 0 && zone[0] != '/' && !strstr(zone, ".."));
    }
    s_next(t);
    mao_sched_trigger_destroy(&again);
    mao_sched_trigger_destroy(&t);
    FUZZ_CHECK(t == NULL);
}

static void s_cron(const char *text)
{
    mao_sched_cron_t cron, again;
    char first[MAO_SCHED_EXPR_MAX], second[MAO_SCHED_EXPR_MAX];

    mao_error_clear();
    if (mao_sched_cron_parse(&cron, text) != 0) {
        FUZZ_CHECK(mao_error_last()[0] != '\0');
        return;
    }
    FUZZ_CHECK(mao_sched_cron_format(first, sizeof first, &cron) == 0);
    FUZZ_CHECK(mao_sched_cron_parse(&again, first) == 0);
    FUZZ_CHECK(memcmp(&cron, &again, sizeof cron) == 0);
    FUZZ_CHECK(mao_sched_cron_format(second, sizeof second, &again) == 0);
    FUZZ_CHECK(strcmp(first, second) == 0);
    int64_t fire;
    int rc = mao_sched_next(&fire, &cron, NULL, s_after[0]);
    FUZZ_CHECK(rc == 0 || rc == MAO_ENOTFOUND);
    FUZZ_CHECK(rc != 0 || fire > s_after[0]);
}

static void s_duration(const char *text)
{
    int64_t seconds = -1, again = -1;
    char canonical[32];

    mao_error_clear();
    if (mao_sched_duration_parse(&seconds, text) == 0) {
        FUZZ_CHECK(seconds >= 0 && seconds <= MAO_SCHED_INTERVAL_MAX);
        FUZZ_CHECK(mao_sched_duration_format(canonical, sizeof canonical, seconds) == 0);
        FUZZ_CHECK(mao_sched_duration_parse(&again, canonical) == 0 && again == seconds);
    } else {
        FUZZ_CHECK(mao_error_last()[0] != '\0');
    }
    if (mao_sched_interval_parse(&seconds, text) == 0)
        FUZZ_CHECK(seconds >= 1 && seconds <= MAO_SCHED_INTERVAL_MAX);
}

/* The zone name in `text`: the word after "TZ=", else all of it. */
static void s_zone_name(char *out, size_t size, const char *text)
{
    const char *p = text;
    for (const char *q = text; *q; q++)
        if (strncasecmp(q, "TZ=", 3) == 0) {
            p = q + 3;
            break;
        }
    size_t n = strcspn(p, " \t");
    snprintf(out, size, "%.*s", (int)n, p);
}

static void s_zone(const char *text)
{
    static const char *allowed[] = {"Inside", "UTC", "Etc/UTC", "GMT", "Etc/GMT"};
    char name[512];
    mao_tz_t *tz = NULL;

    s_zone_name(name, sizeof name, text);
    mao_error_clear();
    int rc = mao_tz_open_dir(&tz, s_zones, name);
    if (rc == 0) {
        int ok = 0;
        for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
            ok |= strcmp(name, allowed[i]) == 0;
        if (!ok)
            fprintf(stderr, "zone name '%s' opened a file outside the zone folder\n", name);
        FUZZ_CHECK(ok);
        mao_tz_destroy(&tz);
    } else {
        FUZZ_CHECK(tz == NULL && mao_error_last()[0] != '\0');
        if (name[0] == '/' || strstr(name, ".."))
            FUZZ_CHECK(rc == MAO_EINVAL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    FUZZ_CHECK(text != NULL);
    s_trigger(text);
    s_cron(text);
    s_duration(text);
    s_zone(text);
    free(text);
    return 0;
}
