/*
 * test_sched: cron parsing and rendering, next-fire computation in UTC,
 * Europe/Zurich and America/New_York across the 2026 DST changes, intervals,
 * triggers and jitter.  Expectations were checked with `date -d` and
 * `zdump -v -c 2026,2027`; the tests only read the system's tzdata.
 */
#include "mao_error.h"
#include "mao_sched.h"
#include "mao_tz.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int64_t s_utc(int64_t y, int mo, int d, int h, int mi)
{
    return mao_tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

static mao_sched_cron_t s_cron(const char *expr)
{
    mao_sched_cron_t c;
    int rc = mao_sched_cron_parse(&c, expr);
    if (rc != 0)
        print_error("parsing '%s': %s\n", expr, mao_error_last());
    assert_int_equal(rc, 0);
    return c;
}

/* The first `n` fires of `text` after `after`, as local RFC 3339 times in
 * the trigger's zone separated by spaces, or "error: <detail>". */
static const char *s_fires(const char *text, int64_t after, size_t n)
{
    static char out[4096];
    mao_sched_trigger_t *t = NULL;
    int64_t fires[64];
    size_t count = 0, len = 0;

    assert_true(n <= 64);
    out[0] = '\0';
    if (mao_sched_trigger_parse(&t, text) < 0 ||
        mao_sched_preview(fires, n, &count, t, after, after) < 0) {
        snprintf(out, sizeof out, "error: %s", mao_error_last());
        mao_sched_trigger_destroy(&t);
        return out;
    }
    for (size_t i = 0; i < count; i++) {
        char one[64];
        assert_int_equal(mao_tz_format(one, sizeof one, mao_sched_trigger_tz(t), fires[i]), 0);
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", i ? " " : "", one);
    }
    mao_sched_trigger_destroy(&t);
    return out;
}

/* The error detail from parsing cron expression `expr`, which must fail. */
static const char *s_cron_error(const char *expr)
{
    mao_sched_cron_t c;
    assert_int_equal(mao_sched_cron_parse(&c, expr), MAO_EINVAL);
    return mao_error_last();
}

#define BIT(n) (UINT64_C(1) << (n))

/* ---- parsing ---- */

static void test_sched__cron_field_forms(void **state)
{
    mao_sched_cron_t c = s_cron("* * * * *");
    assert_true(c.minute == BIT(60) - 1);
    assert_true(c.hour == BIT(24) - 1);
    assert_true(c.mday == (BIT(32) - 2));
    assert_true(c.month == (BIT(13) - 2));
    assert_true(c.wday == 0x7f);
    assert_int_equal(c.mday_star, 1);
    assert_int_equal(c.wday_star, 1);

    c = s_cron("5 4 3 2 1"); /* single values */
    assert_true(c.minute == BIT(5) && c.hour == BIT(4) && c.mday == BIT(3) && c.month == BIT(2) &&
                c.wday == BIT(1));
    assert_int_equal(c.mday_star, 0);
    assert_int_equal(c.wday_star, 0);

    c = s_cron("10-12 0-23 1-31 1-12 0-6"); /* ranges */
    assert_true(c.minute == (BIT(10) | BIT(11) | BIT(12)));
    assert_true(c.hour == BIT(24) - 1);
    assert_true(c.mday == BIT(32) - 2);
    assert_int_equal(c.mday_star, 0); /* a full range is still a restriction */

    c = s_cron("*/15 */6 */10 */4 */2"); /* star with a step */
    assert_true(c.minute == (BIT(0) | BIT(15) | BIT(30) | BIT(45)));
    assert_true(c.hour == (BIT(0) | BIT(6) | BIT(12) | BIT(18)));
    assert_true(c.mday == (BIT(1) | BIT(11) | BIT(21) | BIT(31)));
    assert_true(c.month == (BIT(1) | BIT(5) | BIT(9)));
    assert_true(c.wday == (BIT(0) | BIT(2) | BIT(4) | BIT(6)));
    assert_int_equal(c.mday_star, 10);
    assert_int_equal(c.wday_star, 2);

    c = s_cron("10-40/10 1-10/3 5/9 3/4 1-5/2"); /* range with step, start with step */
    assert_true(c.minute == (BIT(10) | BIT(20) | BIT(30) | BIT(40)));
    assert_true(c.hour == (BIT(1) | BIT(4) | BIT(7) | BIT(10)));
    assert_true(c.mday == (BIT(5) | BIT(14) | BIT(23)));
    assert_true(c.month == (BIT(3) | BIT(7) | BIT(11)));
    assert_true(c.wday == (BIT(1) | BIT(3) | BIT(5)));

    c = s_cron("7/20 * * * *"); /* a/n: a through the maximum */
    assert_true(c.minute == (BIT(7) | BIT(27) | BIT(47)));

    c = s_cron("1,2,3,30-32,50-59/5 0,12 1,15 6,12 0,3"); /* lists */
    assert_true(c.minute ==
                (BIT(1) | BIT(2) | BIT(3) | BIT(30) | BIT(31) | BIT(32) | BIT(50) | BIT(55)));
    assert_true(c.hour == (BIT(0) | BIT(12)));
    assert_true(c.mday == (BIT(1) | BIT(15)));
    assert_true(c.month == (BIT(6) | BIT(12)));
    assert_true(c.wday == (BIT(0) | BIT(3)));

    c = s_cron("  0\t0   *  *\t*  "); /* spaces and tabs */
    assert_true(c.minute == BIT(0) && c.hour == BIT(0));
}

static void test_sched__cron_names(void **state)
{
    mao_sched_cron_t c = s_cron("0 0 * JAN-MAR,dec mon-Fri");
    assert_true(c.month == (BIT(1) | BIT(2) | BIT(3) | BIT(12)));
    assert_true(c.wday == (BIT(1) | BIT(2) | BIT(3) | BIT(4) | BIT(5)));

    mao_sched_cron_t numeric = s_cron("0 0 * 1-3,12 1-5");
    assert_memory_equal(&c, &numeric, sizeof c);

    c = s_cron("0 0 * jun/2 SAT,sun");
    assert_true(c.month == (BIT(6) | BIT(8) | BIT(10) | BIT(12)));
    assert_true(c.wday == (BIT(6) | BIT(0)));
}

static void test_sched__cron_sunday_is_0_and_7(void **state)
{
    mao_sched_cron_t zero = s_cron("0 0 * * 0");
    mao_sched_cron_t seven = s_cron("0 0 * * 7");
    mao_sched_cron_t sun = s_cron("0 0 * * SUN");
    assert_memory_equal(&zero, &seven, sizeof zero);
    assert_memory_equal(&zero, &sun, sizeof zero);

    mao_sched_cron_t c = s_cron("0 0 * * 5-7");
    assert_true(c.wday == (BIT(5) | BIT(6) | BIT(0)));
    c = s_cron("0 0 * * 0-7");
    assert_true(c.wday == 0x7f);
}

static void test_sched__cron_macros(void **state)
{
    static const char *const pairs[][2] = {
        {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
        {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
        {"@annually", "0 0 1 1 *"}, {"@DAILY", "0 0 * * *"},   {" @Weekly ", "0 0 * * 0"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        mao_sched_cron_t a = s_cron(pairs[i][0]);
        mao_sched_cron_t b = s_cron(pairs[i][1]);
        assert_memory_equal(&a, &b, sizeof a);
    }
    int64_t after = s_utc(2026, 5, 13, 12, 34); /* a Wednesday */
    assert_string_equal(s_fires("cron:@hourly", after, 2),
                        "2026-05-13T13:00:00+00:00 2026-05-13T14:00:00+00:00");
    assert_string_equal(s_fires("cron:@daily", after, 1), "2026-05-14T00:00:00+00:00");
    assert_string_equal(s_fires("cron:@midnight", after, 1), "2026-05-14T00:00:00+00:00");
    assert_string_equal(s_fires("cron:@weekly", after, 2),
                        "2026-05-17T00:00:00+00:00 2026-05-24T00:00:00+00:00");
    assert_string_equal(s_fires("cron:@monthly", after, 2),
                        "2026-06-01T00:00:00+00:00 2026-07-01T00:00:00+00:00");
    assert_string_equal(s_fires("cron:@yearly", after, 2),
                        "2027-01-01T00:00:00+00:00 2028-01-01T00:00:00+00:00");
    assert_string_equal(s_fires("cron:@annually", after, 1), "2027-01-01T00:00:00+00:00");
}

static void test_sched__cron_invalid_messages(void **state)
{
    static const char *const cases[][2] = {
        {"0 24 * * *", "cron field 2 (hour) value 24 is out of range 0-23"},
        {"60 * * * *", "cron field 1 (minute) value 60 is out of range 0-59"},
        {"* * 0 * *", "cron field 3 (day-of-month) value 0 is out of range 1-31"},
        {"* * 32 * *", "cron field 3 (day-of-month) value 32 is out of range 1-31"},
        {"* * * 13 *", "cron field 4 (month) value 13 is out of range 1-12"},
        {"* * * 0 *", "cron field 4 (month) value 0 is out of range 1-12"},
        {"* * * * 8", "cron field 5 (day-of-week) value 8 is out of range 0-7"},
        {"99999999999 * * * *", "cron field 1 (minute) value 99999999999 is out of range 0-59"},
        {"*/0 * * * *", "cron field 1 (minute) step 0 is out of range 1-59"},
        {"*/60 * * * *", "cron field 1 (minute) step 60 is out of range 1-59"},
        {"* 1-5/24 * * *", "cron field 2 (hour) step 24 is out of range 1-23"},
        {"30-10 * * * *",
         "cron field 1 (minute) range 30-10 is reversed (write the smaller end first)"},
        {"* * * FOO *", "cron field 4 (month) 'FOO' is not a number or a month name (JAN-DEC)"},
        {"* * * * MONDAY",
         "cron field 5 (day-of-week) 'MONDAY' is not a number or a day name (SUN-SAT)"},
        {"MON * * * *", "cron field 1 (minute) 'MON' is not a number"},
        {"* * * JAN-FOO *", "cron field 4 (month) 'FOO' is not a number or a month name (JAN-DEC)"},
        {"1,,2 * * * *", "cron field 1 (minute) has an empty list element"},
        {"1, * * * *", "cron field 1 (minute) has an empty list element"},
        {"*,5 * * * *", "cron field 1 (minute) '*' must be the whole field, not part of a list"},
        {"5- * * * *", "cron field 1 (minute) element '5-' is missing a value"},
        {"-5 * * * *", "cron field 1 (minute) element '-5' is missing a value"},
        {"5/ * * * *", "cron field 1 (minute) element '5/' is missing a step after '/'"},
        {"5x * * * *", "cron field 1 (minute) element '5x' has unexpected text 'x'"},
        {"1-2-3 * * * *", "cron field 1 (minute) element '1-2-3' has unexpected text '-3'"},
        {"** * * * *", "cron field 1 (minute) element '**' has unexpected text '*'"},
        {"? * * * *", "cron field 1 (minute) element '?' has an unexpected character '?'"},
        {"", "cron expression is empty"},
        {"  \t ", "cron expression is empty"},
        {"* * * *", "cron expression has 4 fields; it needs 5: minute hour day-of-month month "
                    "day-of-week"},
        {"0 * * * * *", "cron expression has 6 fields; it needs 5: minute hour day-of-month "
                        "month day-of-week"},
        {"@reboot", "cron macro '@reboot' is not supported: mao runs periodic schedules"},
        {"@often", "unknown cron macro '@often' (known: @hourly, @daily, @midnight, @weekly, "
                   "@monthly, @yearly, @annually)"},
        {"@daily 5", "cron macro '@daily' must stand alone"},
        {"0 0 * * *\n0 1 * * *", "cron expression contains a control character"},
        {"0 0 30 2 *", "cron expression '0 0 30 2 *' never fires: none of its days of the month "
                       "(field 3) occurs in its months (field 4)"},
        {"0 0 31 2,4,6,9,11 *", "cron expression '0 0 31 2,4,6,9,11 *' never fires: none of its "
                                "days of the month (field 3) occurs in its months (field 4)"},
        {"0 0 30,31 FEB */2", "cron expression '0 0 30,31 FEB */2' never fires: none of its "
                              "days of the month (field 3) occurs in its months (field 4)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(s_cron_error(cases[i][0]), cases[i][1]);

    char longexpr[MAO_SCHED_EXPR_MAX + 2];
    memset(longexpr, ' ', sizeof longexpr - 1);
    longexpr[sizeof longexpr - 1] = '\0';
    memcpy(longexpr, "* * * * *", 9);
    assert_string_equal(s_cron_error(longexpr), "cron expression is longer than 256 characters");
    longexpr[MAO_SCHED_EXPR_MAX] = '\0';
    s_cron(longexpr); /* exactly the limit is fine */

    mao_sched_cron_t c;
    assert_int_equal(mao_sched_cron_parse(&c, NULL), MAO_EINVAL);
    /* possible days: Feb 29 (leap years), and a restricted day-of-week
     * (OR rule: Mondays in February) */
    s_cron("0 0 29 2 *");
    s_cron("0 0 30 2 MON");
}

static void test_sched__cron_format(void **state)
{
    static const char *const cases[][2] = {
        {"* * * * *", "* * * * *"},
        {"*/5 * * * *", "*/5 * * * *"},
        {"0-59/5 * * * *", "*/5 * * * *"},
        {"0,30 */12 * * *", "*/30 */12 * * *"},
        {"0 9 * * MON-FRI", "0 9 * * 1-5"},
        {"0 0 * * 7", "0 0 * * 0"},
        {"0 0 * * 5-7", "0 0 * * 0,5,6"},
        {"@weekly", "0 0 * * 0"},
        {"5,6,7,20 1-3 */2 JAN,feb *", "5-7,20 1-3 */2 1,2 *"},
        {"0 0 1-31 * *", "0 0 1-31 * *"},
        {"0 0 * * 0-6", "0 0 * * 0-6"},
        {"15 10/5 * * *", "15 10-20/5 * * *"},
        {"5/20 * 1-31/2 * */3", "5-45/20 * 1-31/2 * */3"},
        {"1,3 * * 2,4 *", "1,3 * * 2,4 *"},
        {"0 0 1 1,4,7,10 *", "0 0 1 */3 *"},
    };
    char out[MAO_SCHED_EXPR_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mao_sched_cron_t c = s_cron(cases[i][0]);
        assert_int_equal(mao_sched_cron_format(out, sizeof out, &c), 0);
        assert_string_equal(out, cases[i][1]);
        mao_sched_cron_t again = s_cron(out); /* the canonical text reads back the same */
        assert_memory_equal(&c, &again, sizeof c);
    }
    /* The longest renderings: pairs of values separated by one missing
     * value ("0,1,3,4,6,7,...") allow no ranges and no steps.  They fit and
     * read back, so every canonical text is a valid expression. */
    size_t longest = 0;
    for (int shift = 0; shift < 3; shift++) {
        mao_sched_cron_t c;
        memset(&c, 0, sizeof c);
        for (int v = 0; v < 60; v++)
            if ((v + shift) % 3 != 2) {
                c.minute |= BIT(v);
                if (v < 24)
                    c.hour |= (uint32_t)BIT(v);
                if (v >= 1 && v <= 31)
                    c.mday |= (uint32_t)BIT(v);
                if (v >= 1 && v <= 12)
                    c.month |= (uint16_t)BIT(v);
                if (v < 7)
                    c.wday |= (uint8_t)BIT(v);
            }
        assert_int_equal(mao_sched_cron_format(out, sizeof out, &c), 0);
        mao_sched_cron_t again = s_cron(out);
        assert_memory_equal(&c, &again, sizeof c);
        if (strlen(out) > longest)
            longest = strlen(out);
    }
    assert_true(longest > 200 && longest < MAO_SCHED_EXPR_MAX);

    mao_sched_cron_t c = s_cron("1,3 * * * *");
    char small[8];
    assert_int_equal(mao_sched_cron_format(small, sizeof small, &c), MAO_EINVAL);
    assert_non_null(strstr(mao_error_last(), "too small"));
}

/* ---- next fire, UTC ---- */

static void test_sched__next_is_strictly_after(void **state)
{
    assert_string_equal(s_fires("cron:* * * * *", s_utc(2026, 5, 13, 12, 34) + 56, 2),
                        "2026-05-13T12:35:00+00:00 2026-05-13T12:36:00+00:00");
    assert_string_equal(s_fires("cron:* * * * *", s_utc(2026, 5, 13, 12, 35), 1),
                        "2026-05-13T12:36:00+00:00");
    assert_string_equal(s_fires("cron:*/15 * * * *", s_utc(2026, 12, 31, 23, 45), 2),
                        "2027-01-01T00:00:00+00:00 2027-01-01T00:15:00+00:00");
    assert_string_equal(s_fires("cron:30 2 * * *", s_utc(2026, 5, 13, 2, 29) + 59, 1),
                        "2026-05-13T02:30:00+00:00");
}

static void test_sched__next_lists_ranges_steps(void **state)
{
    int64_t after = s_utc(2026, 5, 13, 12, 34);
    assert_string_equal(s_fires("cron:0,20-21,40-59/15 * * * *", after, 5),
                        "2026-05-13T12:40:00+00:00 2026-05-13T12:55:00+00:00 "
                        "2026-05-13T13:00:00+00:00 2026-05-13T13:20:00+00:00 "
                        "2026-05-13T13:21:00+00:00");
    assert_string_equal(s_fires("cron:0 9-17/4 * * *", after, 4),
                        "2026-05-13T13:00:00+00:00 2026-05-13T17:00:00+00:00 "
                        "2026-05-14T09:00:00+00:00 2026-05-14T13:00:00+00:00");
    assert_string_equal(s_fires("cron:0 9 * * MON-FRI", after, 4),
                        "2026-05-14T09:00:00+00:00 2026-05-15T09:00:00+00:00 "
                        "2026-05-18T09:00:00+00:00 2026-05-19T09:00:00+00:00");
    assert_string_equal(s_fires("cron:0 0 1 JAN,jul *", after, 3),
                        "2026-07-01T00:00:00+00:00 2027-01-01T00:00:00+00:00 "
                        "2027-07-01T00:00:00+00:00");
}

static void test_sched__dom_dow_either(void **state)
{
    /* both restricted: the 13th OR any Friday */
    assert_string_equal(s_fires("cron:0 0 13 * 5", s_utc(2026, 1, 1, 0, 0), 8),
                        "2026-01-02T00:00:00+00:00 2026-01-09T00:00:00+00:00 "
                        "2026-01-13T00:00:00+00:00 2026-01-16T00:00:00+00:00 "
                        "2026-01-23T00:00:00+00:00 2026-01-30T00:00:00+00:00 "
                        "2026-02-06T00:00:00+00:00 2026-02-13T00:00:00+00:00");
    /* day-of-month a star: only the weekday restricts */
    assert_string_equal(s_fires("cron:0 0 * * MON", s_utc(2026, 1, 1, 0, 0), 3),
                        "2026-01-05T00:00:00+00:00 2026-01-12T00:00:00+00:00 "
                        "2026-01-19T00:00:00+00:00");
    /* day-of-week a star: only the day of the month restricts */
    assert_string_equal(s_fires("cron:0 0 13 * *", s_utc(2026, 1, 1, 0, 0), 2),
                        "2026-01-13T00:00:00+00:00 2026-02-13T00:00:00+00:00");
    /* Vixie: a stepped star counts as a star, so both must match (odd days
     * that are Mondays) */
    assert_string_equal(s_fires("cron:0 0 */2 * MON", s_utc(2026, 1, 1, 0, 0), 5),
                        "2026-01-05T00:00:00+00:00 2026-01-19T00:00:00+00:00 "
                        "2026-02-09T00:00:00+00:00 2026-02-23T00:00:00+00:00 "
                        "2026-03-09T00:00:00+00:00");
    /* OR with a day that February lacks: Mondays of February still fire */
    assert_string_equal(s_fires("cron:0 0 30 2 MON", s_utc(2026, 1, 1, 0, 0), 2),
                        "2026-02-02T00:00:00+00:00 2026-02-09T00:00:00+00:00");
}

static void test_sched__leap_day(void **state)
{
    assert_string_equal(s_fires("cron:0 0 29 2 *", s_utc(2025, 1, 1, 0, 0), 3),
                        "2028-02-29T00:00:00+00:00 2032-02-29T00:00:00+00:00 "
                        "2036-02-29T00:00:00+00:00");
    /* 2100 is not a leap year */
    assert_string_equal(s_fires("cron:0 0 29 2 *", s_utc(2097, 1, 1, 0, 0), 2),
                        "2104-02-29T00:00:00+00:00 2108-02-29T00:00:00+00:00");
    /* a leap day on a Sunday: seven years away, beyond a 5-year horizon */
    assert_string_equal(s_fires("cron:0 0 29 2 */7", s_utc(2025, 1, 1, 0, 0), 1),
                        "2032-02-29T00:00:00+00:00");
}

static void test_sched__month_ends(void **state)
{
    assert_string_equal(s_fires("cron:0 0 31 * *", s_utc(2026, 4, 1, 0, 0), 5),
                        "2026-05-31T00:00:00+00:00 2026-07-31T00:00:00+00:00 "
                        "2026-08-31T00:00:00+00:00 2026-10-31T00:00:00+00:00 "
                        "2026-12-31T00:00:00+00:00");
    assert_string_equal(s_fires("cron:0 12 30 * *", s_utc(2026, 1, 30, 12, 0), 2),
                        "2026-03-30T12:00:00+00:00 2026-04-30T12:00:00+00:00");
    assert_string_equal(s_fires("cron:59 23 28-31 2 *", s_utc(2027, 1, 1, 0, 0), 2),
                        "2027-02-28T23:59:00+00:00 2028-02-28T23:59:00+00:00");
}

static void test_sched__never_fires(void **state)
{
    /* refused when parsed ... */
    mao_sched_trigger_t *t = NULL;
    assert_int_equal(mao_sched_trigger_parse(&t, "cron:0 0 30 2 *"), MAO_EINVAL);
    assert_null(t);
    assert_non_null(strstr(mao_error_last(), "never fires"));

    /* ... and a hand-made spec that slips past is bounded by the horizon */
    mao_sched_cron_t c = s_cron("0 0 * 2 *");
    c.mday = (uint32_t)BIT(30);
    c.mday_star = 0;
    int64_t out = 42;
    assert_int_equal(mao_sched_next(&out, &c, NULL, s_utc(2026, 1, 1, 0, 0)), MAO_ENOTFOUND);
    assert_int_equal(out, 42);
    assert_string_equal(mao_error_last(), "cron '0 0 30 2 *' in UTC never fires within 400 "
                                          "years after 2026-01-01T00:00:00+00:00");

    c.minute = 0; /* a field with no value */
    assert_int_equal(mao_sched_next(&out, &c, NULL, 0), MAO_EINVAL);
    assert_string_equal(mao_error_last(), "cron field 1 (minute) allows no value");

    c = s_cron("* * * * *");
    assert_int_equal(mao_sched_next(&out, &c, NULL, MAO_SCHED_TIME_MAX + 1), MAO_EINVAL);
    assert_int_equal(mao_sched_next(&out, &c, NULL, MAO_SCHED_TIME_MIN - 1), MAO_EINVAL);
    assert_int_equal(mao_sched_next(&out, &c, NULL, MAO_SCHED_TIME_MIN), 0);
    assert_int_equal(out, MAO_SCHED_TIME_MIN + 60);
}

/* ---- next fire across DST (zdump -v -c 2026,2027) ---- */

static void test_sched__zurich_spring_forward(void **state)
{
    /* 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 does not exist, fires at 03:00 */
    assert_string_equal(s_fires("cron:TZ=Europe/Zurich 30 2 * * *", s_utc(2026, 3, 27, 12, 0), 3),
                        "2026-03-28T02:30:00+01:00 2026-03-29T03:00:00+02:00 "
                        "2026-03-30T02:30:00+02:00");
    /* every minute of the gap collapses to one run at 03:00 */
    assert_string_equal(s_fires("cron:TZ=Europe/Zurich */15 2 * * *", s_utc(2026, 3, 29, 0, 0), 2),
                        "2026-03-29T03:00:00+02:00 2026-03-30T02:00:00+02:00");
    /* ordinary times keep their wall-clock time */
    assert_string_equal(s_fires("cron:TZ=Europe/Zurich 0 9 * * *", s_utc(2026, 3, 27, 12, 0), 3),
                        "2026-03-28T09:00:00+01:00 2026-03-29T09:00:00+02:00 "
                        "2026-03-30T09:00:00+02:00");
    assert_string_equal(s_fires("cron:TZ=Europe/Zurich 59 1 * * *", s_utc(2026, 3, 28, 12, 0), 1),
                        "2026-03-29T01:59:00+01:00");
    assert_string_equal(s_fires("cron:TZ=Europe/Zurich 0 3 * * *", s_utc(2026, 3, 28, 12, 0), 1),
                        "2026-03-29T03:00:00+02:00");
}

static void test_sched__zurich_fall_back(void **state)
{
    /* 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 occurs twice, fires once, first */
    assert_string_equal(s_fires("cron:TZ=Europe/Zurich 30 2 * * *", s_utc(2026, 10, 23, 12, 0), 3),
                        "2026-10-24T02:30:00+02:00 2026-10-25T02:30:00+02:00 "
                        "2026-10-26T02:30:00+01:00");
    assert_string_equal(s_fires("cron:TZ=Europe/Zurich 0 9 * * *", s_utc(2026, 10, 24, 12, 0), 2),
                        "2026-10-25T09:00:00+01:00 2026-10-26T09:00:00+01:00");
    /* asked from inside the second pass of the repeated hour: nothing more
     * fires in it; the next run is the first time after it */
    assert_string_equal(
        s_fires("cron:TZ=Europe/Zurich */20 * * * *", s_utc(2026, 10, 25, 1, 10), 2),
        "2026-10-25T03:00:00+01:00 2026-10-25T03:20:00+01:00");
}

static void test_sched__zurich_hourly_across_changes(void **state)
{
    /* spring: 01:00 CET, then 03:00 CEST (02:00 does not exist), no duplicate */
    assert_string_equal(s_fires("cron:TZ=Europe/Zurich 0 * * * *", s_utc(2026, 3, 28, 23, 30), 4),
                        "2026-03-29T01:00:00+01:00 2026-03-29T03:00:00+02:00 "
                        "2026-03-29T04:00:00+02:00 2026-03-29T05:00:00+02:00");
    /* fall: 02:00 runs once (CEST); the repeated 02:00 CET does not */
    assert_string_equal(s_fires("cron:TZ=Europe/Zurich 0 * * * *", s_utc(2026, 10, 24, 22, 30), 4),
                        "2026-10-25T01:00:00+02:00 2026-10-25T02:00:00+02:00 "
                        "2026-10-25T03:00:00+01:00 2026-10-25T04:00:00+01:00");

    /* a whole day: 23 runs on the short day, 24 on the long one */
    mao_sched_trigger_t *t = NULL;
    int64_t fires[30];
    size_t count;
    assert_int_equal(mao_sched_trigger_parse(&t, "cron:TZ=Europe/Zurich 0 * * * *"), 0);
    assert_int_equal(mao_sched_preview(fires, 30, &count, t, 0, s_utc(2026, 3, 28, 22, 59)), 0);
    size_t on_day = 0;
    for (size_t i = 0; i < count; i++) {
        if (fires[i] < s_utc(2026, 3, 29, 22, 0)) /* local midnight, CEST */
            on_day++;
        if (i > 0)
            assert_true(fires[i] > fires[i - 1]);
    }
    assert_int_equal(on_day, 23);
    assert_int_equal(mao_sched_preview(fires, 30, &count, t, 0, s_utc(2026, 10, 24, 21, 59)), 0);
    on_day = 0;
    for (size_t i = 0; i < count; i++)
        if (fires[i] < s_utc(2026, 10, 25, 23, 0)) /* local midnight, CET */
            on_day++;
    assert_int_equal(on_day, 24); /* 25 real hours, one repeated wall-clock hour skipped */
    mao_sched_trigger_destroy(&t);
}

static void test_sched__new_york_spring_forward(void **state)
{
    /* 2026-03-08 02:00 EST -> 03:00 EDT */
    assert_string_equal(s_fires("cron:TZ=America/New_York 30 2 * * *", s_utc(2026, 3, 6, 12, 0), 3),
                        "2026-03-07T02:30:00-05:00 2026-03-08T03:00:00-04:00 "
                        "2026-03-09T02:30:00-04:00");
    assert_string_equal(s_fires("cron:TZ=America/New_York 0 * * * *", s_utc(2026, 3, 8, 5, 30), 3),
                        "2026-03-08T01:00:00-05:00 2026-03-08T03:00:00-04:00 "
                        "2026-03-08T04:00:00-04:00");
    assert_string_equal(s_fires("cron:TZ=America/New_York 0 0 * * *", s_utc(2026, 3, 7, 12, 0), 2),
                        "2026-03-08T00:00:00-05:00 2026-03-09T00:00:00-04:00");
}

static void test_sched__new_york_fall_back(void **state)
{
    /* 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 occurs twice */
    assert_string_equal(
        s_fires("cron:TZ=America/New_York 30 1 * * *", s_utc(2026, 10, 31, 12, 0), 2),
        "2026-11-01T01:30:00-04:00 2026-11-02T01:30:00-05:00");
    assert_string_equal(s_fires("cron:TZ=America/New_York 0 * * * *", s_utc(2026, 11, 1, 3, 30), 4),
                        "2026-11-01T00:00:00-04:00 2026-11-01T01:00:00-04:00 "
                        "2026-11-01T02:00:00-05:00 2026-11-01T03:00:00-05:00");
    assert_string_equal(
        s_fires("cron:TZ=America/New_York 15 9 * * SUN", s_utc(2026, 10, 30, 0, 0), 2),
        "2026-11-01T09:15:00-05:00 2026-11-08T09:15:00-05:00");
}

/* ---- intervals ---- */

static void test_sched__duration_parse(void **state)
{
    static const struct {
        const char *text;
        int64_t seconds;
    } ok[] = {{"90s", 90},        {"15m", 900},      {"6h", 21600},       {"1h30m", 5400},
              {"2d", 172800},     {"1d12h", 129600}, {"1d2h3m4s", 93784}, {"0s", 0},
              {"366d", 31622400}, {"120m", 7200}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t s = -1;
        assert_int_equal(mao_sched_duration_parse(&s, ok[i].text), 0);
        assert_int_equal(s, ok[i].seconds);
    }
    static const char *const bad[][2] = {
        {"", "duration is empty"},
        {"15", "duration '15' lacks a unit after its last number (d, h, m or s)"},
        {"15x", "duration '15x' has an unknown unit 'x' (use d, h, m or s)"},
        {"15M", "duration '15M' has an unknown unit 'M' (use d, h, m or s)"},
        {"30m1h", "duration '30m1h': units must go from largest to smallest (d, h, m, s), each "
                  "at most once"},
        {"1h1h", "duration '1h1h': units must go from largest to smallest (d, h, m, s), each at "
                 "most once"},
        {"1h 30m", "duration '1h 30m' is not like 90s, 15m, 1h30m or 2d"},
        {"h", "duration 'h' is not like 90s, 15m, 1h30m or 2d"},
        {"-5m", "duration '-5m' is not like 90s, 15m, 1h30m or 2d"},
        {"367d", "duration '367d' is longer than 366 days"},
        {"366d1s", "duration '366d1s' is longer than 366 days"},
        {"99999999999999999999s", "duration '99999999999999999999s' is longer than 366 days"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t s = -1;
        assert_int_equal(mao_sched_duration_parse(&s, bad[i][0]), MAO_EINVAL);
        assert_string_equal(mao_error_last(), bad[i][1]);
        assert_int_equal(s, -1);
    }
}

static void test_sched__duration_format(void **state)
{
    char out[32];
    static const struct {
        int64_t seconds;
        const char *text;
    } cases[] = {{0, "0s"},           {90, "1m30s"},      {5400, "1h30m"}, {86400, "1d"},
                 {93784, "1d2h3m4s"}, {31622400, "366d"}, {59, "59s"},     {3600, "1h"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(mao_sched_duration_format(out, sizeof out, cases[i].seconds), 0);
        assert_string_equal(out, cases[i].text);
        int64_t back;
        assert_int_equal(mao_sched_duration_parse(&back, out), 0);
        assert_int_equal(back, cases[i].seconds);
    }
    assert_int_equal(mao_sched_duration_format(out, sizeof out, -1), MAO_EINVAL);
    assert_int_equal(mao_sched_duration_format(out, sizeof out, MAO_SCHED_INTERVAL_MAX + 1),
                     MAO_EINVAL);
    assert_int_equal(mao_sched_duration_format(out, 3, 93784), MAO_EINVAL);
}

static void test_sched__interval_parse(void **state)
{
    int64_t s;
    assert_int_equal(mao_sched_interval_parse(&s, "daily"), 0);
    assert_int_equal(s, 86400);
    assert_int_equal(mao_sched_interval_parse(&s, " Weekly "), 0);
    assert_int_equal(s, 604800);
    assert_int_equal(mao_sched_interval_parse(&s, "every 15m"), 0);
    assert_int_equal(s, 900);
    assert_int_equal(mao_sched_interval_parse(&s, "EVERY\t1h30m"), 0);
    assert_int_equal(s, 5400);
    assert_int_equal(mao_sched_interval_parse(&s, "every 1s"), 0);
    assert_int_equal(s, 1);

    assert_int_equal(mao_sched_interval_parse(&s, "every 0s"), MAO_EINVAL);
    assert_string_equal(mao_error_last(), "interval must be at least 1 second");
    assert_int_equal(mao_sched_interval_parse(&s, "every"), MAO_EINVAL);
    assert_string_equal(mao_error_last(), "'every' needs a duration, e.g. every 15m");
    assert_int_equal(mao_sched_interval_parse(&s, "every 400d"), MAO_EINVAL);
    assert_string_equal(mao_error_last(), "duration '400d' is longer than 366 days");
    assert_int_equal(mao_sched_interval_parse(&s, "hourly"), MAO_EINVAL);
    assert_string_equal(mao_error_last(), "'hourly' is not an interval: use daily, weekly or "
                                          "every DURATION (e.g. every 15m)");
    assert_int_equal(mao_sched_interval_parse(&s, "dailyx"), MAO_EINVAL);
    assert_int_equal(mao_sched_interval_parse(&s, "everyday"), MAO_EINVAL);
}

static void test_sched__interval_next(void **state)
{
    int64_t anchor = s_utc(2026, 3, 1, 10, 17), out;
    /* asked at the anchor itself: one interval later, as the original */
    assert_int_equal(mao_sched_interval_next(&out, 86400, anchor, anchor), 0);
    assert_int_equal(out, anchor + 86400);
    /* before the anchor: the anchor */
    assert_int_equal(mao_sched_interval_next(&out, 86400, anchor, anchor - 5), 0);
    assert_int_equal(out, anchor);
    /* between fires, and exactly on one */
    assert_int_equal(mao_sched_interval_next(&out, 900, anchor, anchor + 2 * 900 + 450), 0);
    assert_int_equal(out, anchor + 3 * 900);
    assert_int_equal(mao_sched_interval_next(&out, 900, anchor, anchor + 3 * 900), 0);
    assert_int_equal(out, anchor + 4 * 900);
    /* daily is elapsed time: 24 h later even across Zurich's spring change */
    assert_string_equal(s_fires("daily", s_utc(2026, 3, 28, 9, 0), 2),
                        "2026-03-29T09:00:00+00:00 2026-03-30T09:00:00+00:00");

    assert_int_equal(mao_sched_interval_next(&out, 0, anchor, anchor), MAO_EINVAL);
    assert_int_equal(mao_sched_interval_next(&out, MAO_SCHED_INTERVAL_MAX + 1, anchor, anchor),
                     MAO_EINVAL);
    assert_int_equal(mao_sched_interval_next(&out, 60, MAO_SCHED_TIME_MAX + 1, anchor), MAO_EINVAL);
    assert_int_equal(mao_sched_interval_next(&out, 86400, anchor, MAO_SCHED_TIME_MAX - 10),
                     MAO_ENOTFOUND);
}

/* ---- triggers ---- */

static void s_expect_canonical(const char *text, const char *canonical)
{
    mao_sched_trigger_t *t = NULL, *again = NULL;
    char out[MAO_SCHED_TEXT_MAX], out2[MAO_SCHED_TEXT_MAX];
    int rc = mao_sched_trigger_parse(&t, text);
    if (rc != 0)
        print_error("parsing '%s': %s\n", text, mao_error_last());
    assert_int_equal(rc, 0);
    assert_int_equal(mao_sched_trigger_format(out, sizeof out, t), 0);
    assert_string_equal(out, canonical);
    assert_int_equal(mao_sched_trigger_parse(&again, out), 0);
    assert_int_equal(mao_sched_trigger_format(out2, sizeof out2, again), 0);
    assert_string_equal(out2, canonical);
    mao_sched_trigger_destroy(&t);
    mao_sched_trigger_destroy(&again);
    assert_null(t);
}

static void test_sched__trigger_text(void **state)
{
    s_expect_canonical("daily", "daily");
    s_expect_canonical("  DAILY ", "daily");
    s_expect_canonical("weekly", "weekly");
    s_expect_canonical("every 24h", "daily");
    s_expect_canonical("every 7d", "weekly");
    s_expect_canonical("every 90m", "every 1h30m");
    s_expect_canonical("every 15m", "every 15m");
    s_expect_canonical("cron:*/5 * * * *", "cron:*/5 * * * *");
    s_expect_canonical("cron: 0 9 * * mon-fri", "cron:0 9 * * 1-5");
    s_expect_canonical("CRON:@daily", "cron:0 0 * * *");
    s_expect_canonical("cron:TZ=Europe/Zurich 30 2 * * *", "cron:TZ=Europe/Zurich 30 2 * * *");
    s_expect_canonical("cron:CRON_TZ=America/New_York @hourly",
                       "cron:TZ=America/New_York 0 * * * *");
    s_expect_canonical("cron:TZ=UTC 0 0 * * *", "cron:0 0 * * *");
    s_expect_canonical("cron:tz=Etc/UTC 0 0 * * *", "cron:TZ=Etc/UTC 0 0 * * *");

    mao_sched_trigger_t *t = NULL;
    assert_int_equal(mao_sched_trigger_parse(&t, "every 1h30m"), 0);
    assert_int_equal(mao_sched_trigger_kind(t), MAO_SCHED_INTERVAL);
    assert_int_equal(mao_sched_trigger_interval(t), 5400);
    assert_null(mao_sched_trigger_cron(t));
    assert_null(mao_sched_trigger_tz(t));
    assert_string_equal(mao_sched_kind_name(mao_sched_trigger_kind(t)), "interval");
    mao_sched_trigger_destroy(&t);

    assert_int_equal(mao_sched_trigger_parse(&t, "cron:TZ=Europe/Zurich 0 2 * * *"), 0);
    assert_int_equal(mao_sched_trigger_kind(t), MAO_SCHED_CRON);
    assert_int_equal(mao_sched_trigger_interval(t), 0);
    assert_non_null(mao_sched_trigger_cron(t));
    assert_true(mao_sched_trigger_cron(t)->hour == BIT(2));
    assert_string_equal(mao_tz_name(mao_sched_trigger_tz(t)), "Europe/Zurich");
    assert_string_equal(mao_sched_kind_name(mao_sched_trigger_kind(t)), "cron");
    char small[10];
    assert_int_equal(mao_sched_trigger_format(small, sizeof small, t), MAO_EINVAL);
    mao_sched_trigger_destroy(&t);
    mao_sched_trigger_destroy(&t); /* twice is harmless */
    mao_sched_trigger_destroy(NULL);
}

static void test_sched__trigger_text_errors(void **state)
{
    static const struct {
        const char *text;
        int rc;
        const char *detail;
    } cases[] = {
        {"hourly", MAO_EINVAL,
         "unknown schedule 'hourly': use daily, weekly, every DURATION (e.g. every 15m) or "
         "cron:EXPRESSION (e.g. cron:0 2 * * *)"},
        {"*/5 * * * *", MAO_EINVAL,
         "unknown schedule '*/5 * * * *': a cron expression needs the prefix cron:, as in "
         "'cron:*/5 * * * *'"},
        {"@daily", MAO_EINVAL,
         "unknown schedule '@daily': a cron expression needs the prefix cron:, as in "
         "'cron:@daily'"},
        {"", MAO_EINVAL,
         "unknown schedule '': use daily, weekly, every DURATION (e.g. every 15m) or "
         "cron:EXPRESSION (e.g. cron:0 2 * * *)"},
        {"every 10x", MAO_EINVAL, "duration '10x' has an unknown unit 'x' (use d, h, m or s)"},
        {"daily at 9", MAO_EINVAL,
         "'daily at 9' is not an interval: use daily, weekly or every DURATION (e.g. every 15m)"},
        {"cron:0 25 * * *", MAO_EINVAL, "cron field 2 (hour) value 25 is out of range 0-23"},
        {"cron:", MAO_EINVAL, "cron expression is empty"},
        {"cron:TZ=../../etc/passwd 0 0 * * *", MAO_EINVAL,
         "invalid time zone name '../../etc/passwd': it contains '..'"},
        {"cron:TZ=/etc/localtime 0 0 * * *", MAO_EINVAL,
         "invalid time zone name '/etc/localtime': it starts with '/'"},
        {"cron:TZ= 0 0 * * *", MAO_EINVAL, "schedule 'cron:TZ= 0 0 * * *' has an empty TZ="},
        {"cron:TZ=Mars/Base 0 0 * * *", MAO_ENOTFOUND, NULL},
        {"every 5m\n", MAO_EINVAL, "schedule contains a control character"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mao_sched_trigger_t *t = (mao_sched_trigger_t *)&t;
        assert_int_equal(mao_sched_trigger_parse(&t, cases[i].text), cases[i].rc);
        assert_null(t);
        if (cases[i].detail)
            assert_string_equal(mao_error_last(), cases[i].detail);
    }
    char longtext[MAO_SCHED_TEXT_MAX + 2];
    memset(longtext, 'x', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    mao_sched_trigger_t *t = NULL;
    assert_int_equal(mao_sched_trigger_parse(&t, longtext), MAO_EINVAL);
    assert_string_equal(mao_error_last(), "schedule is longer than 512 characters");
    assert_int_equal(mao_sched_trigger_parse(&t, NULL), MAO_EINVAL);
    assert_int_equal(mao_sched_trigger_parse(NULL, "daily"), MAO_EINVAL);
}

static void test_sched__trigger_parts(void **state)
{
    mao_sched_trigger_t *t = NULL;
    char out[MAO_SCHED_TEXT_MAX];

    assert_int_equal(mao_sched_trigger_new(&t, MAO_SCHED_CRON, "30 2 * * *", "Europe/Zurich"), 0);
    assert_int_equal(mao_sched_trigger_format(out, sizeof out, t), 0);
    assert_string_equal(out, "cron:TZ=Europe/Zurich 30 2 * * *");
    mao_sched_trigger_destroy(&t);

    assert_int_equal(mao_sched_trigger_new(&t, MAO_SCHED_CRON, "@hourly", NULL), 0);
    assert_string_equal(mao_tz_name(mao_sched_trigger_tz(t)), "UTC");
    mao_sched_trigger_destroy(&t);

    assert_int_equal(mao_sched_trigger_new(&t, MAO_SCHED_CRON, "@hourly", ""), 0);
    assert_string_equal(mao_tz_name(mao_sched_trigger_tz(t)), "UTC");
    mao_sched_trigger_destroy(&t);

    assert_int_equal(mao_sched_trigger_new(&t, MAO_SCHED_INTERVAL, "15m", NULL), 0);
    assert_int_equal(mao_sched_trigger_interval(t), 900);
    mao_sched_trigger_destroy(&t);

    assert_int_equal(mao_sched_trigger_new(&t, MAO_SCHED_INTERVAL, "every 2d", ""), 0);
    assert_int_equal(mao_sched_trigger_interval(t), 172800);
    mao_sched_trigger_destroy(&t);

    assert_int_equal(mao_sched_trigger_new(&t, MAO_SCHED_INTERVAL, "0s", NULL), MAO_EINVAL);
    assert_string_equal(mao_error_last(), "interval must be at least 1 second");
    assert_int_equal(mao_sched_trigger_new(&t, MAO_SCHED_INTERVAL, "daily", "Europe/Zurich"),
                     MAO_EINVAL);
    assert_string_equal(mao_error_last(), "a time zone applies only to cron schedules; daily, "
                                          "weekly and every count elapsed time");
    assert_null(t);
    assert_int_equal(mao_sched_trigger_new(&t, MAO_SCHED_CRON, "cron:0 0 * * *", NULL), MAO_EINVAL);
    assert_int_equal(mao_sched_trigger_new(&t, (mao_sched_kind_t)99, "daily", NULL), MAO_EINVAL);
    assert_string_equal(mao_error_last(), "unknown schedule kind 99");
    assert_int_equal(mao_sched_trigger_new(&t, MAO_SCHED_CRON, NULL, NULL), MAO_EINVAL);
    assert_null(t);
}

static void test_sched__preview(void **state)
{
    mao_sched_trigger_t *t = NULL;
    int64_t fires[4];
    size_t count = 99;
    int64_t anchor = s_utc(2026, 5, 1, 8, 0);

    assert_int_equal(mao_sched_trigger_parse(&t, "every 6h"), 0);
    assert_int_equal(mao_sched_preview(fires, 4, &count, t, anchor, anchor + 60), 0);
    assert_int_equal(count, 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(fires[i], anchor + (int64_t)(i + 1) * 21600);
    assert_int_equal(mao_sched_preview(NULL, 0, &count, t, anchor, anchor), 0);
    assert_int_equal(count, 0);
    /* an interval stops at the end of year 9999 */
    assert_int_equal(mao_sched_preview(fires, 4, &count, t, anchor, MAO_SCHED_TIME_MAX - 30000), 0);
    assert_int_equal(count, 1);
    mao_sched_trigger_destroy(&t);

    assert_int_equal(mao_sched_trigger_parse(&t, "cron:TZ=Europe/Zurich 0 8 * * 1"), 0);
    assert_int_equal(mao_sched_preview(fires, 3, &count, t, 0, s_utc(2026, 3, 20, 0, 0)), 0);
    assert_int_equal(count, 3);
    assert_int_equal(fires[0], s_utc(2026, 3, 23, 7, 0)); /* CET */
    assert_int_equal(fires[1], s_utc(2026, 3, 30, 6, 0)); /* CEST */
    assert_int_equal(fires[2], s_utc(2026, 4, 6, 6, 0));
    int64_t next;
    assert_int_equal(mao_sched_trigger_next(&next, t, 0, fires[0]), 0);
    assert_int_equal(next, fires[1]);
    assert_int_equal(mao_sched_preview(fires, 3, NULL, t, 0, 0), MAO_EINVAL);
    mao_sched_trigger_destroy(&t);
}

/* fuzz/regressions/sched/cron-fires-after-year-9999, found by fuzz_sched:
 * from the last days of year 9999 a cron's next fire lies in year 10000,
 * which mao_sched_next returned although no caller can pass it back as
 * `after`, so a preview failed with MAO_EINVAL.  Now the cron stops there,
 * as an interval does, and a preview just ends. */
static void test_sched__cron_stops_at_year_9999(void **state)
{
    mao_sched_trigger_t *t = NULL;
    int64_t fires[3], next = 0;
    size_t count = 99;
    int64_t after = MAO_SCHED_TIME_MAX - 2 * 86400;

    assert_int_equal(
        mao_sched_trigger_parse(&t, "cron:\t\t8\t1\t\t\t\t\t\t\t1\t4\t\t\t\t0\t\t\t\t \t\t \t"), 0);
    assert_int_equal(mao_sched_trigger_next(&next, t, after, after), MAO_ENOTFOUND);
    assert_non_null(strstr(mao_error_last(), "year 10000"));
    assert_int_equal(mao_sched_preview(fires, 3, &count, t, after, after), 0);
    assert_int_equal(count, 0);
    /* April 9999 still has its fires: the 1st and every Sunday, at 01:08 */
    assert_int_equal(mao_sched_preview(fires, 3, &count, t, 0, s_utc(9999, 4, 20, 0, 0)), 0);
    assert_int_equal(count, 1);
    assert_int_equal(fires[0], s_utc(9999, 4, 25, 1, 8));
    mao_sched_trigger_destroy(&t);
}

/* ---- jitter ---- */

static void test_sched__jitter(void **state)
{
    /* fixed whole seconds: the hash must not change between versions, or
     * every schedule would move (the milliseconds came later) */
    assert_int_equal(mao_sched_jitter_ms("tool-a", 3600) / 1000, 1677);
    assert_int_equal(mao_sched_jitter_ms("tool-b", 3600) / 1000, 1044);
    assert_int_equal(mao_sched_jitter_ms("weather", 86400) / 1000, 47699);
    assert_int_equal(mao_sched_jitter_ms("", 600) / 1000, 437);
    assert_int_equal(mao_sched_jitter_ms(NULL, 600), mao_sched_jitter_ms("", 600));
    assert_int_equal(mao_sched_jitter_ms("tool-a", 3600), mao_sched_jitter_ms("tool-a", 3600));
    assert_int_equal(mao_sched_jitter_ms("tool-a", 0), 0);
    assert_int_equal(mao_sched_jitter_ms("tool-a", -5), 0);

    /* in range, and spread to the millisecond: 1000 names over 10 buckets,
     * none empty, also within one second */
    long maxes[] = {600, 1, 2};
    for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
        int buckets[10] = {0}, subsecond[10] = {0};
        int64_t range = (int64_t)maxes[m] * 1000;
        for (int i = 0; i < 1000; i++) {
            char name[32];
            snprintf(name, sizeof name, "tool-%d", i);
            int64_t j = mao_sched_jitter_ms(name, maxes[m]);
            assert_true(j >= 0 && j < range);
            buckets[j * 10 / range]++;
            subsecond[(j % 1000) / 100]++;
        }
        for (int i = 0; i < 10; i++) {
            assert_true(buckets[i] > 50);
            assert_true(subsecond[i] > 50);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sched__cron_field_forms),
        cmocka_unit_test(test_sched__cron_names),
        cmocka_unit_test(test_sched__cron_sunday_is_0_and_7),
        cmocka_unit_test(test_sched__cron_macros),
        cmocka_unit_test(test_sched__cron_invalid_messages),
        cmocka_unit_test(test_sched__cron_format),
        cmocka_unit_test(test_sched__next_is_strictly_after),
        cmocka_unit_test(test_sched__next_lists_ranges_steps),
        cmocka_unit_test(test_sched__dom_dow_either),
        cmocka_unit_test(test_sched__leap_day),
        cmocka_unit_test(test_sched__month_ends),
        cmocka_unit_test(test_sched__never_fires),
        cmocka_unit_test(test_sched__zurich_spring_forward),
        cmocka_unit_test(test_sched__zurich_fall_back),
        cmocka_unit_test(test_sched__zurich_hourly_across_changes),
        cmocka_unit_test(test_sched__new_york_spring_forward),
        cmocka_unit_test(test_sched__new_york_fall_back),
        cmocka_unit_test(test_sched__duration_parse),
        cmocka_unit_test(test_sched__duration_format),
        cmocka_unit_test(test_sched__interval_parse),
        cmocka_unit_test(test_sched__interval_next),
        cmocka_unit_test(test_sched__trigger_text),
        cmocka_unit_test(test_sched__trigger_text_errors),
        cmocka_unit_test(test_sched__trigger_parts),
        cmocka_unit_test(test_sched__preview),
        cmocka_unit_test(test_sched__cron_stops_at_year_9999),
        cmocka_unit_test(test_sched__jitter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
