/*
 * Unit tests of mao_msg (the wire codec and schema) and mao_id (run ids).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mao_error.h"
#include "mao_id.h"
#include "mao_msg.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

static void s_round_trip(json_t *msg)
{
    char *buf = NULL;
    size_t len = 0;
    json_t *back = NULL;
    assert_int_equal(mao_msg_encode(msg, &buf, &len), 0);
    assert_int_equal(mao_msg_decode(&back, buf, len), 0);
    assert_true(json_equal(msg, back));
    json_decref(back);
    free(buf);
}

static void test_msg__round_trip_every_type(void **state)
{
    json_t *hello = mao_msg_new("hello");
    json_object_set_new(hello, "worker", json_string("site-a/host-1"));
    json_object_set_new(hello, "site", json_string("site-a"));
    json_object_set_new(hello, "capacity", json_integer(2));
    json_object_set_new(hello, "labels", json_pack("{s:s}", "gpu", "no"));
    json_object_set_new(hello, "running", json_pack("[s]", "01J0000000000000000000000A"));
    const char *type = NULL;
    assert_int_equal(mao_msg_check(hello, &type), 0);
    assert_string_equal(type, "hello");
    s_round_trip(hello);
    json_decref(hello);

    json_t *result = mao_msg_new("result");
    json_object_set_new(result, "run", json_string("01J0000000000000000000000A"));
    json_object_set_new(result, "status", json_string("succeeded"));
    json_object_set_new(result, "exit_code", json_integer(-1));
    json_object_set_new(result, "started_at", json_real(1.5e12));
    json_object_set_new(result, "log_tail", json_string("line \"1\"\nline 2\n\xc3\xa9"));
    json_object_set_new(result, "report", json_pack("{s:b, s:f, s:n}", "spike", 1, "gain", 30.0,
                                                    "rolling_avg"));
    assert_int_equal(mao_msg_check(result, &type), 0);
    s_round_trip(result);
    json_decref(result);
}

/* Messages far past the encoder's first buffer and the decoder's first zone
 * chunk (both under 1 KiB): many objects, nested, and long strings. */
static void test_msg__round_trip_large(void **state)
{
    json_t *msg = mao_msg_new("result");
    json_t *report = json_object();
    char key[32], text[3000];
    memset(text, 'v', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        json_object_set_new(report, key, i % 3 == 0   ? json_integer(i)
                                         : i % 3 == 1 ? json_pack("[i, f, s]", i, i / 7.0, key)
                                                      : json_string(key));
    }
    json_object_set_new(msg, "report", report);
    json_object_set_new(msg, "log_tail", json_string(text));
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(mao_msg_encode(msg, &buf, &len), 0);
    assert_true(len > 30000);
    free(buf);
    s_round_trip(msg);
    json_decref(msg);
}

static void s_expect_malformed(const void *data, size_t len, const char *fragment)
{
    json_t *out = (json_t *)1;
    assert_int_equal(mao_msg_decode(&out, data, len), MAO_EMALFORMED);
    assert_null(out);
    if (!strstr(mao_error_last(), fragment))
        fail_msg("detail \"%s\" lacks \"%s\"", mao_error_last(), fragment);
}

static void test_msg__hostile_frames(void **state)
{
    s_expect_malformed("", 0, "frame of 0 bytes");
    s_expect_malformed("\xc1", 1, "not msgpack");          /* never-used byte */
    s_expect_malformed("\x92\x01\x02", 3, "not a map");    /* [1, 2] */
    s_expect_malformed("\x81\xa1", 2, "truncated");        /* map, then half a key */
    s_expect_malformed("\x81\x01\x02", 3, "key");          /* integer key */
    s_expect_malformed("\x81\xa1k\xc4\x01x", 6, "binary"); /* bin value */
    s_expect_malformed("\x80\x80", 2, "follow");           /* trailing bytes */
    s_expect_malformed("\x81\xa1k\xa2\xff\xfe", 6, "UTF-8");
    s_expect_malformed("\x82\xa1k\x01\xa1k\x02", 7, "twice");

    /* Containers that claim far more entries than the frame holds: refused
     * before anything is allocated for them. */
    s_expect_malformed("\xdf\xff\xff\xff\xff", 5, "more than");
    s_expect_malformed("\xdf\x00\x00\x10\x00", 5, "truncated");
    s_expect_malformed("\x81\xa1k\xdd\x00\x00\x0f\xff", 8, "truncated");
    s_expect_malformed("\x81\xa1k\xdb\x7f\xff\xff\xff", 8, "truncated");

    /* Nesting past the limit. */
    unsigned char deep[64];
    size_t n = 0;
    for (int i = 0; i < 20; i++) {
        deep[n++] = 0x81; /* map of 1 */
        deep[n++] = 0xa1;
        deep[n++] = 'k';
    }
    deep[n++] = 0xc0;
    s_expect_malformed(deep, n, "deeper");

    /* Too large for a frame. */
    size_t big = MAO_MSG_MAX + 1;
    char *huge = calloc(1, big);
    s_expect_malformed(huge, big, "frame of");
    free(huge);

    /* Random bytes never crash the decoder. */
    srand(7);
    unsigned char noise[256];
    for (int round = 0; round < 20000; round++) {
        size_t len = 1 + (size_t)(rand() % (int)sizeof noise);
        for (size_t i = 0; i < len; i++)
            noise[i] = (unsigned char)rand();
        json_t *out = NULL;
        if (mao_msg_decode(&out, noise, len) == 0) {
            const char *type;
            (void)mao_msg_check(out, &type);
            json_decref(out);
        }
    }
}

static void s_expect_refused(json_t *msg, const char *fragment)
{
    const char *type = NULL;
    assert_int_equal(mao_msg_check(msg, &type), MAO_EMALFORMED);
    if (!strstr(mao_error_last(), fragment))
        fail_msg("detail \"%s\" lacks \"%s\"", mao_error_last(), fragment);
    json_decref(msg);
}

static void test_msg__schema(void **state)
{
    s_expect_refused(json_pack("{s:s}", "type", "hello"), "version");
    s_expect_refused(json_pack("{s:i, s:s}", "v", 2, "type", "hello"), "not supported");
    s_expect_refused(json_pack("{s:i}", "v", 1), "no \"type\"");
    s_expect_refused(mao_msg_new("launch"), "unknown message type");
    s_expect_refused(mao_msg_new("job"), "missing field \"run\"");
    json_t *job = mao_msg_new("job");
    json_object_set_new(job, "run", json_string("../../etc"));
    json_object_set_new(job, "tool", json_object());
    s_expect_refused(job, "\"run\"");
    json_t *hello = mao_msg_new("hello");
    json_object_set_new(hello, "worker", json_string("w1"));
    json_object_set_new(hello, "site", json_string("a/b"));
    json_object_set_new(hello, "capacity", json_integer(1));
    s_expect_refused(hello, "\"site\"");
    json_t *acc = mao_msg_new("accepted");
    json_object_set_new(acc, "run", json_string("r1"));
    json_object_set_new(acc, "ok", json_string("yes"));
    s_expect_refused(acc, "\"ok\"");
    /* Unknown extra fields are fine: a newer peer may add some. */
    json_t *ack = mao_msg_new("result_ack");
    json_object_set_new(ack, "run", json_string("r1"));
    json_object_set_new(ack, "future_field", json_true());
    const char *type;
    assert_int_equal(mao_msg_check(ack, &type), 0);
    json_decref(ack);
}

static void test_msg__encode_limits(void **state)
{
    json_t *msg = mao_msg_new("heartbeat");
    char *big = malloc(MAO_MSG_MAX);
    memset(big, 'x', MAO_MSG_MAX - 1);
    big[MAO_MSG_MAX - 1] = '\0';
    json_object_set_new(msg, "pad", json_string(big));
    char *buf = NULL;
    size_t len;
    assert_int_equal(mao_msg_encode(msg, &buf, &len), MAO_EINVAL);
    assert_null(buf);
    free(big);
    json_decref(msg);
}

static void test_id__sortable_and_unique(void **state)
{
    char prev[MAO_ID_LEN + 1] = "";
    for (int i = 0; i < 5000; i++) {
        char id[MAO_ID_LEN + 1];
        mao_id_new(id);
        assert_int_equal(strlen(id), MAO_ID_LEN);
        assert_true(strcmp(prev, id) < 0);
        memcpy(prev, id, sizeof id);
    }
    int64_t now = mao_now_ms();
    int64_t t = mao_id_time_ms(prev);
    assert_true(t <= now && t > now - 60000);
    assert_int_equal(mao_id_time_ms("short"), -1);
    assert_int_equal(mao_id_time_ms("01J000000000000000000000U!"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg__round_trip_every_type),
        cmocka_unit_test(test_msg__round_trip_large),
        cmocka_unit_test(test_msg__hostile_frames),
        cmocka_unit_test(test_msg__schema),
        cmocka_unit_test(test_msg__encode_limits),
        cmocka_unit_test(test_id__sortable_and_unique),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
