/*
 * Unit tests of mao_id: run ids that sort by creation time, and the ISO 8601
 * times schedules are given in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mao_error.h"
#include "mao_id.h"

#include <string.h>
#include <time.h>

static void test_id__sorts_in_creation_order(void **state)
{
    char prev[MAO_ID_LEN + 1], next[MAO_ID_LEN + 1];
    mao_id_new(prev);
    for (int i = 0; i < 10000; i++) {
        mao_id_new(next);
        assert_int_equal(strlen(next), MAO_ID_LEN);
        assert_true(strcmp(prev, next) < 0);
        memcpy(prev, next, sizeof prev);
    }
    int64_t ms = mao_id_time_ms(next);
    assert_true(ms <= mao_now_ms() && ms > mao_now_ms() - 60000);
    assert_int_equal(mao_id_time_ms("not-an-id"), -1);
}

static void test_time__reads_iso_8601_with_offsets(void **state)
{
    struct {
        const char *text;
        int64_t want;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2026-11-22T02:00:00Z", 1795312800},
        {"2026-11-22T02:00Z", 1795312800},
        {"2026-11-22 02:00:00z", 1795312800},
        {"2026-11-22T03:00:00+01:00", 1795312800},
        {"2026-11-22T03:00:00+0100", 1795312800},
        {"2026-11-21T21:00:00-05:00", 1795312800},
        {"2026-11-22T02:00:00.999Z", 1795312800},
        {"2024-02-29T12:00:00Z", 1709208000},
        {"2000-03-01T00:00:00Z", 951868800},
        {"1969-12-31T23:59:59Z", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t got = 42;
        assert_int_equal(mao_time_parse(&got, cases[i].text), 0);
        assert_int_equal(got, cases[i].want);
    }
}

static void test_time__round_trips_with_mao_time_iso(void **state)
{
    for (int64_t s = 0; s < INT64_C(4102444800); s += 86400 * 37 + 3671) {
        char text[40];
        int64_t got;
        mao_time_iso(text, sizeof text, s * 1000);
        assert_int_equal(mao_time_parse(&got, text), 0);
        assert_int_equal(got, s);
    }
}

static void test_time__refuses_what_it_cannot_read(void **state)
{
    struct {
        const char *text;
        const char *detail;
    } cases[] = {
        {"2026-11-22T02:00:00", "has no offset"},
        {"2026-11-22", "is not ISO 8601"},
        {"", "is not ISO 8601"},
        {"tomorrow", "is not ISO 8601"},
        {"2026-11-22T02:00:00Zjunk", "is not ISO 8601"},
        {"2026-11-22T02:00:00+1", "is not ISO 8601"},
        {"2026-13-01T00:00:00Z", "not a valid date"},
        {"2026-02-29T00:00:00Z", "not a valid date"},
        {"1900-02-29T00:00:00Z", "not a valid date"},
        {"2026-04-31T00:00:00Z", "not a valid date"},
        {"2026-11-22T24:00:00Z", "not a valid date"},
        {"2026-11-22T02:60:00Z", "not a valid date"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t got = 42;
        assert_int_equal(mao_time_parse(&got, cases[i].text), MAO_EINVAL);
        assert_int_equal(got, 42);
        assert_non_null(strstr(mao_error_last(), cases[i].detail));
        mao_error_clear();
    }
    int64_t got;
    assert_int_equal(mao_time_parse(&got, NULL), MAO_EINVAL);
    mao_error_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id__sorts_in_creation_order),
        cmocka_unit_test(test_time__reads_iso_8601_with_offsets),
        cmocka_unit_test(test_time__round_trips_with_mao_time_iso),
        cmocka_unit_test(test_time__refuses_what_it_cannot_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
