/*
 * test_tz: the time zone module against the system's tzdata (Europe/Zurich,
 * America/New_York and a few others, expectations checked with zdump) and
 * against TZif files the tests write themselves (version 1, version 2 with
 * only a footer, broken and oversized files), in a temporary folder.
 * Offline; nothing here reads TZ or calls localtime.
 */
#include "mao_error.h"
#include "mao_fs.h"
#include "mao_tz.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char s_dir[64]; /* temporary zone folder for written fixtures */

static int64_t s_utc(int64_t y, int mo, int d, int h, int mi, int s)
{
    return mao_tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static mao_tz_t *s_open(const char *name)
{
    mao_tz_t *tz = NULL;
    int rc = mao_tz_open_dir(&tz, MAO_TZ_DIR_DEFAULT, name);
    if (rc != 0)
        print_error("opening %s: %s\n", name, mao_error_last());
    assert_int_equal(rc, 0);
    assert_non_null(tz);
    return tz;
}

/* Instant `t` as local RFC 3339 text in tz; valid until the next call. */
static const char *s_fmt(const mao_tz_t *tz, int64_t t)
{
    static char buf[64];
    assert_int_equal(mao_tz_format(buf, sizeof buf, tz, t), 0);
    return buf;
}

/* ---- a small TZif writer for fixtures ---- */

typedef struct {
    unsigned char data[8192];
    size_t len;
} s_file_t;

static void s_put(s_file_t *f, const void *p, size_t n)
{
    assert_true(f->len + n <= sizeof f->data);
    if (n == 0)
        return; /* p may be NULL for an empty table */
    memcpy(f->data + f->len, p, n);
    f->len += n;
}

static void s_put32(s_file_t *f, uint32_t v)
{
    unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};
    s_put(f, b, 4);
}

static void s_put64(s_file_t *f, int64_t v)
{
    s_put32(f, (uint32_t)((uint64_t)v >> 32));
    s_put32(f, (uint32_t)v);
}

typedef struct {
    char version; /* 0, '2', '3' */
    size_t count; /* transitions */
    const int64_t *times;
    const uint8_t *types; /* type index per transition */
    size_t type_count;
    const int32_t *offs; /* offset per type */
    uint32_t leap_count; /* written as zero records */
    const char *footer;  /* version 2+: between the newlines; NULL for none */
} s_spec_t;

static void s_block(s_file_t *f, const s_spec_t *s, int timesize)
{
    s_put(f, "TZif", 4);
    s_put(f, &s->version, 1);
    s_put(f, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15);
    s_put32(f, 0);                       /* isutcnt */
    s_put32(f, 0);                       /* isstdcnt */
    s_put32(f, s->leap_count);           /* leapcnt */
    s_put32(f, (uint32_t)s->count);      /* timecnt */
    s_put32(f, (uint32_t)s->type_count); /* typecnt */
    s_put32(f, 4);                       /* charcnt */
    for (size_t i = 0; i < s->count; i++) {
        if (timesize == 8)
            s_put64(f, s->times[i]);
        else
            s_put32(f, (uint32_t)(int32_t)s->times[i]);
    }
    s_put(f, s->types, s->count);
    for (size_t i = 0; i < s->type_count; i++) {
        s_put32(f, (uint32_t)s->offs[i]);
        s_put(f, "\0\0", 2); /* isdst, desigidx */
    }
    s_put(f, "ABC", 4);
    for (uint32_t i = 0; i < s->leap_count; i++) {
        unsigned char zero[12] = {0};
        s_put(f, zero, (size_t)timesize + 4);
    }
}

static void s_write_file(const char *name, const void *data, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    assert_int_equal(mao_fs_write_atomic(path, data, len, 0644), 0);
}

static void s_write_zone(const char *name, const s_spec_t *s)
{
    static s_file_t f;
    f.len = 0;
    s_block(&f, s, 4);
    if (s->version != 0) {
        s_block(&f, s, 8);
        if (s->footer) {
            s_put(&f, "\n", 1);
            s_put(&f, s->footer, strlen(s->footer));
            s_put(&f, "\n", 1);
        }
    }
    s_write_file(name, f.data, f.len);
}

static int s_setup(void **state)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/test_tz.XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_teardown(void **state)
{
    return mao_fs_rmtree(s_dir);
}

/* ---- civil dates ---- */

static void test_tz__civil_known_dates(void **state)
{
    assert_int_equal(mao_tz_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(mao_tz_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(mao_tz_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(mao_tz_days_from_civil(1, 1, 1), -719162);
    assert_int_equal(s_utc(2026, 3, 29, 1, 0, 0), 1774746000); /* date -d 2026-03-29T01:00Z +%s */
    /* month overflow counts on into the next year */
    assert_int_equal(mao_tz_days_from_civil(2025, 13, 1), mao_tz_days_from_civil(2026, 1, 1));
    assert_int_equal(mao_tz_days_from_civil(2026, 0, 1), mao_tz_days_from_civil(2025, 12, 1));

    assert_int_equal(mao_tz_weekday(0), 4);                                    /* Thursday */
    assert_int_equal(mao_tz_weekday(mao_tz_days_from_civil(2026, 3, 29)), 0);  /* Sunday */
    assert_int_equal(mao_tz_weekday(mao_tz_days_from_civil(1969, 12, 28)), 0); /* Sunday */
    assert_int_equal(mao_tz_weekday(mao_tz_days_from_civil(2028, 2, 29)), 2);  /* Tuesday */

    mao_tz_civil_t c;
    mao_tz_civil_from_seconds(&c, -1);
    assert_int_equal(c.year, 1969);
    assert_int_equal(c.month, 12);
    assert_int_equal(c.day, 31);
    assert_int_equal(c.hour, 23);
    assert_int_equal(c.minute, 59);
    assert_int_equal(c.second, 59);
    assert_int_equal(c.wday, 3);
    assert_int_equal(mao_tz_seconds_from_civil(&c), -1);
}

static void test_tz__civil_roundtrip(void **state)
{
    int64_t prev_y = 0;
    int prev_m = 0, prev_d = 0;
    for (int64_t days = -800000; days <= 3000000; days++) {
        int64_t y;
        int m, d;
        mao_tz_civil_from_days(days, &y, &m, &d);
        assert_int_equal(mao_tz_days_from_civil(y, m, d), days);
        assert_true(d >= 1 && d <= mao_tz_days_in_month(y, m));
        if (days > -800000) /* consecutive days are consecutive dates */
            assert_true((y == prev_y && m == prev_m && d == prev_d + 1) ||
                        (d == 1 && ((y == prev_y && m == prev_m + 1) ||
                                    (y == prev_y + 1 && m == 1 && prev_m == 12))));
        prev_y = y;
        prev_m = m;
        prev_d = d;
    }
}

static void test_tz__leap_years(void **state)
{
    assert_true(mao_tz_is_leap(2000));
    assert_true(mao_tz_is_leap(2024));
    assert_true(mao_tz_is_leap(2028));
    assert_true(mao_tz_is_leap(0));
    assert_false(mao_tz_is_leap(1900));
    assert_false(mao_tz_is_leap(2100));
    assert_false(mao_tz_is_leap(2026));
    assert_int_equal(mao_tz_days_in_month(2028, 2), 29);
    assert_int_equal(mao_tz_days_in_month(2026, 2), 28);
    assert_int_equal(mao_tz_days_in_month(2026, 4), 30);
    assert_int_equal(mao_tz_days_in_month(2026, 12), 31);
    assert_int_equal(mao_tz_days_in_month(2026, 13), 0);
}

/* ---- names ---- */

static void test_tz__name_refused(void **state)
{
    static const char *const bad[] = {
        "../etc/passwd", "/etc/passwd",    "Europe/../../etc/shadow", "Europe/Zurich;ls",
        "Europe Zurich", "Europe/Zürich",  "Europe/Zurich\n",         "",
        "Etc/GMT.5",     "Europe\\Zurich",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mao_tz_t *tz = (mao_tz_t *)&tz; /* must be reset to NULL */
        assert_int_equal(mao_tz_open(&tz, bad[i]), MAO_EINVAL);
        assert_null(tz);
        assert_non_null(strstr(mao_error_last(), "invalid time zone name"));
    }
    assert_int_equal(mao_tz_name_check(NULL), MAO_EINVAL);
    assert_string_equal(mao_error_last(), "invalid time zone name '': it is empty");
    assert_int_equal(mao_tz_name_check("../x"), MAO_EINVAL);
    assert_string_equal(mao_error_last(), "invalid time zone name '../x': it contains '..'");
    assert_int_equal(mao_tz_name_check("/x"), MAO_EINVAL);
    assert_string_equal(mao_error_last(), "invalid time zone name '/x': it starts with '/'");

    char longname[MAO_TZ_NAME_MAX + 2];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(mao_tz_name_check(longname), MAO_EINVAL);
    assert_non_null(strstr(mao_error_last(), "longer than 128"));
    longname[MAO_TZ_NAME_MAX] = '\0';
    assert_int_equal(mao_tz_name_check(longname), 0);

    assert_int_equal(mao_tz_name_check("America/Argentina/Buenos_Aires"), 0);
    assert_int_equal(mao_tz_name_check("Etc/GMT+5"), 0);
    assert_int_equal(mao_tz_name_check("Etc/GMT-14"), 0);
}

static void test_tz__unknown_zone(void **state)
{
    mao_tz_t *tz = NULL;
    assert_int_equal(mao_tz_open_dir(&tz, MAO_TZ_DIR_DEFAULT, "Mars/Olympus_Mons"), MAO_ENOTFOUND);
    assert_null(tz);
    assert_non_null(strstr(mao_error_last(), "unknown time zone 'Mars/Olympus_Mons'"));
    /* a folder is not a zone */
    assert_int_equal(mao_tz_open_dir(&tz, MAO_TZ_DIR_DEFAULT, "Europe"), MAO_ENOTFOUND);
    assert_int_equal(mao_tz_open_dir(&tz, MAO_TZ_DIR_DEFAULT, "Europe/"), MAO_ENOTFOUND);
    /* a file that is not TZif */
    s_write_file("notazone", "hello, world\n", 13);
    assert_int_equal(mao_tz_open_dir(&tz, s_dir, "notazone"), MAO_EMALFORMED);
    assert_non_null(strstr(mao_error_last(), "not a TZif file"));
    assert_null(tz);
}

static void test_tz__utc_without_tzdata(void **state)
{
    static const char *const names[] = {"UTC", "Etc/UTC", "GMT", "Etc/GMT"};
    for (size_t i = 0; i < 4; i++) {
        mao_tz_t *tz = NULL;
        assert_int_equal(mao_tz_open_dir(&tz, "/nonexistent/zoneinfo", names[i]), 0);
        assert_string_equal(mao_tz_name(tz), names[i]);
        assert_int_equal(mao_tz_offset(tz, 0), 0);
        assert_int_equal(mao_tz_offset(tz, s_utc(2026, 7, 1, 12, 0, 0)), 0);
        assert_string_equal(s_fmt(tz, s_utc(2026, 3, 29, 2, 30, 0)), "2026-03-29T02:30:00+00:00");
        mao_tz_local_t lt;
        assert_int_equal(mao_tz_local_to_utc(&lt, tz, 12345), 0);
        assert_int_equal(lt.kind, MAO_TZ_UNIQUE);
        assert_int_equal(lt.earlier, 12345);
        mao_tz_destroy(&tz);
        assert_null(tz);
    }
    mao_tz_t *tz = NULL;
    assert_int_equal(mao_tz_open_dir(&tz, "/nonexistent/zoneinfo", "Europe/Zurich"), MAO_ENOTFOUND);

    /* $TZDIR pointing at an empty folder: only the built-in zones open. */
    const char *saved = getenv("TZDIR");
    char *copy = saved ? strdup(saved) : NULL;
    setenv("TZDIR", s_dir, 1);
    assert_int_equal(mao_tz_open(&tz, "UTC"), 0);
    mao_tz_destroy(&tz);
    assert_int_equal(mao_tz_open(&tz, "America/New_York"), MAO_ENOTFOUND);
    if (copy)
        setenv("TZDIR", copy, 1);
    else
        unsetenv("TZDIR");
    free(copy);

    /* A NULL zone is UTC. */
    assert_int_equal(mao_tz_offset(NULL, 1000), 0);
    assert_string_equal(mao_tz_name(NULL), "UTC");
    mao_tz_destroy(NULL);
    mao_tz_destroy(&tz);
}

/* ---- offsets from real tzdata (zdump -v -c 2026,2027 ...) ---- */

static void test_tz__zurich_offsets(void **state)
{
    mao_tz_t *tz = s_open("Europe/Zurich");
    assert_string_equal(mao_tz_name(tz), "Europe/Zurich");
    assert_int_equal(mao_tz_offset(tz, s_utc(2026, 3, 29, 0, 59, 59)), 3600);
    assert_int_equal(mao_tz_offset(tz, s_utc(2026, 3, 29, 1, 0, 0)), 7200);
    assert_int_equal(mao_tz_offset(tz, s_utc(2026, 10, 25, 0, 59, 59)), 7200);
    assert_int_equal(mao_tz_offset(tz, s_utc(2026, 10, 25, 1, 0, 0)), 3600);
    assert_int_equal(mao_tz_offset(tz, s_utc(1975, 7, 1, 0, 0, 0)), 3600); /* no DST before 1981 */
    /* local mean time, offsets with seconds */
    assert_string_equal(s_fmt(tz, s_utc(1850, 1, 1, 0, 0, 0)), "1850-01-01T00:34:08+00:34:08");
    assert_string_equal(s_fmt(tz, s_utc(2026, 3, 29, 1, 0, 0)), "2026-03-29T03:00:00+02:00");
    assert_string_equal(s_fmt(tz, s_utc(2026, 3, 29, 0, 59, 59)), "2026-03-29T01:59:59+01:00");
    mao_tz_destroy(&tz);
}

static void test_tz__new_york_offsets(void **state)
{
    mao_tz_t *tz = s_open("America/New_York");
    assert_int_equal(mao_tz_offset(tz, s_utc(2026, 3, 8, 6, 59, 59)), -18000);
    assert_int_equal(mao_tz_offset(tz, s_utc(2026, 3, 8, 7, 0, 0)), -14400);
    assert_int_equal(mao_tz_offset(tz, s_utc(2026, 11, 1, 5, 59, 59)), -14400);
    assert_int_equal(mao_tz_offset(tz, s_utc(2026, 11, 1, 6, 0, 0)), -18000);
    assert_string_equal(s_fmt(tz, s_utc(2026, 11, 1, 6, 0, 0)), "2026-11-01T01:00:00-05:00");

    mao_tz_civil_t c;
    assert_int_equal(mao_tz_to_local(&c, tz, s_utc(2026, 11, 1, 5, 30, 0)), -14400);
    assert_int_equal(c.hour, 1);
    assert_int_equal(c.minute, 30);
    assert_int_equal(c.wday, 0);
    mao_tz_destroy(&tz);
}

/* Past 2037 the files' tables end and the footer's POSIX rule decides
 * (zdump -v -c 2090,2091 / 2100,2101). */
static void test_tz__footer_rule_after_table(void **state)
{
    mao_tz_t *zurich = s_open("Europe/Zurich");
    assert_int_equal(mao_tz_offset(zurich, s_utc(2100, 3, 28, 0, 59, 59)), 3600);
    assert_int_equal(mao_tz_offset(zurich, s_utc(2100, 3, 28, 1, 0, 0)), 7200);
    assert_int_equal(mao_tz_offset(zurich, s_utc(2100, 10, 31, 0, 59, 59)), 7200);
    assert_int_equal(mao_tz_offset(zurich, s_utc(2100, 10, 31, 1, 0, 0)), 3600);
    mao_tz_destroy(&zurich);

    /* southern hemisphere: daylight time spans the new year */
    mao_tz_t *sydney = s_open("Australia/Sydney");
    assert_int_equal(mao_tz_offset(sydney, s_utc(2090, 1, 1, 0, 0, 0)), 39600);
    assert_int_equal(mao_tz_offset(sydney, s_utc(2090, 4, 1, 15, 59, 59)), 39600);
    assert_int_equal(mao_tz_offset(sydney, s_utc(2090, 4, 1, 16, 0, 0)), 36000);
    assert_int_equal(mao_tz_offset(sydney, s_utc(2090, 9, 30, 16, 0, 0)), 39600);
    mao_tz_destroy(&sydney);

    /* a negative transition time: <-02>2<-01>,M3.5.0/-1,M10.5.0/0 */
    mao_tz_t *nuuk = s_open("America/Nuuk");
    assert_int_equal(mao_tz_offset(nuuk, s_utc(2090, 3, 26, 0, 59, 59)), -7200);
    assert_int_equal(mao_tz_offset(nuuk, s_utc(2090, 3, 26, 1, 0, 0)), -3600);
    assert_int_equal(mao_tz_offset(nuuk, s_utc(2090, 10, 29, 0, 59, 59)), -3600);
    assert_int_equal(mao_tz_offset(nuuk, s_utc(2090, 10, 29, 1, 0, 0)), -7200);
    mao_tz_destroy(&nuuk);
}

/* ---- local to UTC ---- */

static void s_expect_local(const char *zone, int64_t local, mao_tz_kind_t kind, int64_t earlier,
                           int64_t later, int64_t transition)
{
    mao_tz_t *tz = s_open(zone);
    mao_tz_local_t lt;
    assert_int_equal(mao_tz_local_to_utc(&lt, tz, local), 0);
    assert_int_equal(lt.kind, kind);
    assert_int_equal(lt.earlier, earlier);
    assert_int_equal(lt.later, later);
    assert_int_equal(lt.transition, transition);
    mao_tz_destroy(&tz);
}

static void test_tz__local_gap(void **state)
{
    /* 02:30 does not exist in Zurich on 2026-03-29 (02:00 CET -> 03:00 CEST) */
    s_expect_local("Europe/Zurich", s_utc(2026, 3, 29, 2, 30, 0), MAO_TZ_GAP,
                   s_utc(2026, 3, 29, 0, 30, 0), s_utc(2026, 3, 29, 1, 30, 0),
                   s_utc(2026, 3, 29, 1, 0, 0));
    /* the gap's first minute and the first after it */
    s_expect_local("Europe/Zurich", s_utc(2026, 3, 29, 2, 0, 0), MAO_TZ_GAP,
                   s_utc(2026, 3, 29, 0, 0, 0), s_utc(2026, 3, 29, 1, 0, 0),
                   s_utc(2026, 3, 29, 1, 0, 0));
    s_expect_local("Europe/Zurich", s_utc(2026, 3, 29, 3, 0, 0), MAO_TZ_UNIQUE,
                   s_utc(2026, 3, 29, 1, 0, 0), s_utc(2026, 3, 29, 1, 0, 0), 0);
    s_expect_local("Europe/Zurich", s_utc(2026, 3, 29, 1, 59, 0), MAO_TZ_UNIQUE,
                   s_utc(2026, 3, 29, 0, 59, 0), s_utc(2026, 3, 29, 0, 59, 0), 0);
    /* New York, 2026-03-08 02:00 EST -> 03:00 EDT */
    s_expect_local("America/New_York", s_utc(2026, 3, 8, 2, 30, 0), MAO_TZ_GAP,
                   s_utc(2026, 3, 8, 6, 30, 0), s_utc(2026, 3, 8, 7, 30, 0),
                   s_utc(2026, 3, 8, 7, 0, 0));
}

static void test_tz__local_overlap(void **state)
{
    /* 02:30 occurs twice in Zurich on 2026-10-25 (03:00 CEST -> 02:00 CET) */
    s_expect_local("Europe/Zurich", s_utc(2026, 10, 25, 2, 30, 0), MAO_TZ_OVERLAP,
                   s_utc(2026, 10, 25, 0, 30, 0), s_utc(2026, 10, 25, 1, 30, 0),
                   s_utc(2026, 10, 25, 1, 0, 0));
    s_expect_local("Europe/Zurich", s_utc(2026, 10, 25, 3, 0, 0), MAO_TZ_UNIQUE,
                   s_utc(2026, 10, 25, 2, 0, 0), s_utc(2026, 10, 25, 2, 0, 0), 0);
    /* New York, 2026-11-01 02:00 EDT -> 01:00 EST */
    s_expect_local("America/New_York", s_utc(2026, 11, 1, 1, 30, 0), MAO_TZ_OVERLAP,
                   s_utc(2026, 11, 1, 5, 30, 0), s_utc(2026, 11, 1, 6, 30, 0),
                   s_utc(2026, 11, 1, 6, 0, 0));
    s_expect_local("America/New_York", s_utc(2026, 11, 1, 0, 59, 0), MAO_TZ_UNIQUE,
                   s_utc(2026, 11, 1, 4, 59, 0), s_utc(2026, 11, 1, 4, 59, 0), 0);
}

static void test_tz__local_out_of_range(void **state)
{
    mao_tz_local_t lt;
    assert_int_equal(mao_tz_local_to_utc(&lt, NULL, MAO_TZ_TIME_MAX + 1), MAO_EINVAL);
    assert_int_equal(mao_tz_local_to_utc(&lt, NULL, MAO_TZ_TIME_MIN - 1), MAO_EINVAL);
    /* offsets at the far ends are defined (clamped), never a crash */
    mao_tz_t *tz = s_open("Europe/Zurich");
    (void)mao_tz_offset(tz, INT64_MAX);
    (void)mao_tz_offset(tz, INT64_MIN);
    assert_int_equal(mao_tz_local_to_utc(&lt, tz, MAO_TZ_TIME_MAX), 0);
    mao_tz_destroy(&tz);
}

static void test_tz__format_small_buffer(void **state)
{
    char buf[10];
    assert_int_equal(mao_tz_format(buf, sizeof buf, NULL, 0), MAO_EINVAL);
    assert_non_null(strstr(mao_error_last(), "too small"));
    char ok[32];
    assert_int_equal(mao_tz_format(ok, sizeof ok, NULL, 0), 0);
    assert_string_equal(ok, "1970-01-01T00:00:00+00:00");
}

/* ---- files written by the tests ---- */

static void test_tz__v1_file(void **state)
{
    static const int64_t times[] = {1000000, 2000000};
    static const uint8_t types[] = {1, 0};
    static const int32_t offs[] = {3600, -7200};
    s_spec_t spec = {0, 2, times, types, 2, offs, 0, NULL};
    s_write_zone("Test_v1", &spec);

    mao_tz_t *tz = NULL;
    assert_int_equal(mao_tz_open_dir(&tz, s_dir, "Test_v1"), 0);
    assert_int_equal(mao_tz_offset(tz, 0), 3600); /* before the first: type 0 */
    assert_int_equal(mao_tz_offset(tz, 999999), 3600);
    assert_int_equal(mao_tz_offset(tz, 1000000), -7200);
    assert_int_equal(mao_tz_offset(tz, 1999999), -7200);
    assert_int_equal(mao_tz_offset(tz, 2000000), 3600);
    assert_int_equal(mao_tz_offset(tz, INT64_C(5000000000)), 3600); /* last type forever */
    /* the clocks go back 3 h at 1000000: local 1000000 - 7200 + x repeats */
    mao_tz_local_t lt;
    assert_int_equal(mao_tz_local_to_utc(&lt, tz, 1000000 + 0), 0);
    assert_int_equal(lt.kind, MAO_TZ_OVERLAP);
    assert_int_equal(lt.earlier, 1000000 - 3600);
    assert_int_equal(lt.later, 1000000 + 7200);
    mao_tz_destroy(&tz);
}

static void test_tz__v2_footer_only(void **state)
{
    /* A "slim" file: no transitions, the rule decides everything. */
    static const int32_t offs[] = {3600};
    s_spec_t spec = {'2', 0, NULL, NULL, 1, offs, 0, "CET-1CEST,M3.5.0,M10.5.0/3"};
    s_write_zone("Test_slim", &spec);

    mao_tz_t *tz = NULL;
    assert_int_equal(mao_tz_open_dir(&tz, s_dir, "Test_slim"), 0);
    mao_tz_t *real = s_open("Europe/Zurich");
    for (int64_t t = s_utc(2026, 1, 1, 0, 0, 0); t < s_utc(2027, 1, 1, 0, 0, 0); t += 1800)
        assert_int_equal(mao_tz_offset(tz, t), mao_tz_offset(real, t));
    mao_tz_local_t lt;
    assert_int_equal(mao_tz_local_to_utc(&lt, tz, s_utc(2026, 3, 29, 2, 30, 0)), 0);
    assert_int_equal(lt.kind, MAO_TZ_GAP);
    assert_int_equal(lt.transition, s_utc(2026, 3, 29, 1, 0, 0));
    mao_tz_destroy(&real);
    mao_tz_destroy(&tz);
}

static void test_tz__v2_footer_forms(void **state)
{
    static const int32_t offs[] = {-18000};
    mao_tz_t *tz = NULL;

    /* daylight time all year: the end (Dec 31, 25:00) meets the next start */
    s_spec_t spec = {'3', 0, NULL, NULL, 1, offs, 0, "EST5EDT,0/0,J365/25"};
    s_write_zone("Test_alldst", &spec);
    assert_int_equal(mao_tz_open_dir(&tz, s_dir, "Test_alldst"), 0);
    assert_int_equal(mao_tz_offset(tz, s_utc(2026, 7, 1, 0, 0, 0)), -14400);
    assert_int_equal(mao_tz_offset(tz, s_utc(2027, 1, 1, 4, 0, 0)), -14400);
    assert_int_equal(mao_tz_offset(tz, s_utc(2027, 1, 1, 5, 0, 0)), -14400);
    assert_int_equal(mao_tz_offset(tz, s_utc(2026, 12, 31, 23, 59, 0)), -14400);
    mao_tz_destroy(&tz);

    /* no dates: the US default rule; quoted names; offsets with minutes */
    spec.footer = "EST5EDT";
    s_write_zone("Test_nodates", &spec);
    assert_int_equal(mao_tz_open_dir(&tz, s_dir, "Test_nodates"), 0);
    assert_int_equal(mao_tz_offset(tz, s_utc(2026, 3, 8, 6, 59, 59)), -18000);
    assert_int_equal(mao_tz_offset(tz, s_utc(2026, 3, 8, 7, 0, 0)), -14400);
    mao_tz_destroy(&tz);

    spec.footer = "<+0545>-5:45";
    s_write_zone("Test_quoted", &spec);
    assert_int_equal(mao_tz_open_dir(&tz, s_dir, "Test_quoted"), 0);
    assert_int_equal(mao_tz_offset(tz, 0), 5 * 3600 + 45 * 60);
    assert_string_equal(s_fmt(tz, 0), "1970-01-01T05:45:00+05:45");
    mao_tz_destroy(&tz);

    /* Julian days J60 (always March 1) and zero-based days */
    spec.footer = "AAA3BBB,J60/0,300/0";
    s_write_zone("Test_julian", &spec);
    assert_int_equal(mao_tz_open_dir(&tz, s_dir, "Test_julian"), 0);
    /* 2028 is a leap year: J60 is still March 1; day 300 is Oct 27 (0-based) */
    assert_int_equal(mao_tz_offset(tz, s_utc(2028, 3, 1, 2, 59, 59)), -3 * 3600);
    assert_int_equal(mao_tz_offset(tz, s_utc(2028, 3, 1, 3, 0, 0)), -2 * 3600);
    assert_int_equal(mao_tz_offset(tz, s_utc(2028, 10, 27, 1, 59, 59)), -2 * 3600);
    assert_int_equal(mao_tz_offset(tz, s_utc(2028, 10, 27, 2, 0, 0)), -3 * 3600);
    mao_tz_destroy(&tz);
}

static void test_tz__malformed_files(void **state)
{
    static const int64_t times[] = {1000, 500};
    static const uint8_t types[] = {0, 0};
    static const uint8_t bad_types[] = {0, 5};
    static const int32_t offs[] = {3600};
    static const int32_t huge_offs[] = {200000};
    mao_tz_t *tz = NULL;

    s_spec_t spec = {'2', 2, times, types, 1, offs, 0, NULL};
    s_write_zone("Bad_order", &spec);
    assert_int_equal(mao_tz_open_dir(&tz, s_dir, "Bad_order"), MAO_EMALFORMED);
    assert_non_null(strstr(mao_error_last(), "ascending"));

    static const int64_t ok_times[] = {500, 1000};
    spec = (s_spec_t){'2', 2, ok_times, bad_types, 1, offs, 0, NULL};
    s_write_zone("Bad_type", &spec);
    assert_int_equal(mao_tz_open_dir(&tz, s_dir, "Bad_type"), MAO_EMALFORMED);

    spec = (s_spec_t){'2', 0, NULL, NULL, 1, huge_offs, 0, NULL};
    s_write_zone("Bad_offset", &spec);
    assert_int_equal(mao_tz_open_dir(&tz, s_dir, "Bad_offset"), MAO_EMALFORMED);

    spec = (s_spec_t){'2', 0, NULL, NULL, 1, offs, 1, NULL};
    s_write_zone("Leap", &spec);
    assert_int_equal(mao_tz_open_dir(&tz, s_dir, "Leap"), MAO_EMALFORMED);
    assert_non_null(strstr(mao_error_last(), "leap-second"));

    spec = (s_spec_t){'2', 0, NULL, NULL, 1, offs, 0, "CET-1CEST,M13.5.0,M10.5.0"};
    s_write_zone("Bad_footer", &spec);
    assert_int_equal(mao_tz_open_dir(&tz, s_dir, "Bad_footer"), MAO_EMALFORMED);
    assert_non_null(strstr(mao_error_last(), "is not a POSIX TZ rule"));

    spec.footer = "C1";
    s_write_zone("Bad_footer2", &spec);
    assert_int_equal(mao_tz_open_dir(&tz, s_dir, "Bad_footer2"), MAO_EMALFORMED);

    spec = (s_spec_t){'2', 0, NULL, NULL, 0, offs, 0, NULL};
    s_write_zone("No_types", &spec);
    assert_int_equal(mao_tz_open_dir(&tz, s_dir, "No_types"), MAO_EMALFORMED);

    /* every truncation of a real file is refused, none crashes */
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(mao_fs_read(MAO_TZ_DIR_DEFAULT "/Europe/Zurich", MAO_TZ_FILE_MAX, &data, &len),
                     0);
    for (size_t cut = 0; cut + 1 < len; cut += cut < 100 ? 1 : 37) {
        s_write_file("Cut", data, cut);
        int rc = mao_tz_open_dir(&tz, s_dir, "Cut");
        /* cutting inside the footer leaves an unterminated footer: refused too */
        assert_int_equal(rc, MAO_EMALFORMED);
        assert_null(tz);
    }
    s_write_file("Whole", data, len);
    assert_int_equal(mao_tz_open_dir(&tz, s_dir, "Whole"), 0);
    mao_tz_destroy(&tz);
    free(data);
    assert_null(tz);
}

static void test_tz__oversized_file(void **state)
{
    size_t size = MAO_TZ_FILE_MAX + 1;
    char *big = calloc(1, size);
    assert_non_null(big);
    memcpy(big, "TZif2", 5);
    s_write_file("Big", big, size);
    free(big);
    mao_tz_t *tz = NULL;
    assert_int_equal(mao_tz_open_dir(&tz, s_dir, "Big"), MAO_EMALFORMED);
    assert_non_null(strstr(mao_error_last(), "larger than 262144 bytes"));
    assert_null(tz);
}

/* ---- threads ---- */

typedef struct {
    const mao_tz_t *tz;
    int failures;
} s_worker_t;

static void *s_worker(void *arg)
{
    s_worker_t *w = arg;
    for (int i = 0; i < 20000; i++) {
        int64_t t = s_utc(2026, 1, 1, 0, 0, 0) + (int64_t)i * 1580;
        int32_t expect =
            (t >= s_utc(2026, 3, 29, 1, 0, 0) && t < s_utc(2026, 10, 25, 1, 0, 0)) ? 7200 : 3600;
        if (t >= s_utc(2027, 3, 28, 1, 0, 0))
            expect = 7200;
        if (mao_tz_offset(w->tz, t) != expect)
            w->failures++;
        mao_tz_local_t lt;
        if (mao_tz_local_to_utc(&lt, w->tz, t + expect) != 0 || (lt.earlier != t && lt.later != t))
            w->failures++;
    }
    return NULL;
}

static void test_tz__shared_between_threads(void **state)
{
    mao_tz_t *tz = s_open("Europe/Zurich");
    pthread_t threads[4];
    s_worker_t workers[4];
    for (int i = 0; i < 4; i++) {
        workers[i] = (s_worker_t){tz, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, s_worker, &workers[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(workers[i].failures, 0);
    }
    mao_tz_destroy(&tz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tz__civil_known_dates),
        cmocka_unit_test(test_tz__civil_roundtrip),
        cmocka_unit_test(test_tz__leap_years),
        cmocka_unit_test(test_tz__name_refused),
        cmocka_unit_test(test_tz__unknown_zone),
        cmocka_unit_test(test_tz__utc_without_tzdata),
        cmocka_unit_test(test_tz__zurich_offsets),
        cmocka_unit_test(test_tz__new_york_offsets),
        cmocka_unit_test(test_tz__footer_rule_after_table),
        cmocka_unit_test(test_tz__local_gap),
        cmocka_unit_test(test_tz__local_overlap),
        cmocka_unit_test(test_tz__local_out_of_range),
        cmocka_unit_test(test_tz__format_small_buffer),
        cmocka_unit_test(test_tz__v1_file),
        cmocka_unit_test(test_tz__v2_footer_only),
        cmocka_unit_test(test_tz__v2_footer_forms),
        cmocka_unit_test(test_tz__malformed_files),
        cmocka_unit_test(test_tz__oversized_file),
        cmocka_unit_test(test_tz__shared_between_threads),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
