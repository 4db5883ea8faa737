/*
 * Unit tests of mao_tool: checking and converting registry records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mao_error.h"
#include "mao_tool.h"

#include <stdlib.h>
#include <string.h>

static json_t *s_tool(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", "demo", "author", "alice", "image",
                     "demo:1", "data_repo", "https://example.org/d.git", "code_repo",
                     "https://example.org/c.git", "artefact", "csv");
}

static void test_tool__round_trip_original_fields(void **state)
{
    json_t *in = s_tool();
    mao_tool_t tool;
    assert_int_equal(mao_tool_from_json(&tool, in, MAO_PARSE_STRICT, 0), 0);
    json_t *out = mao_tool_to_json(&tool);
    assert_true(json_equal(in, out));
    /* The six original fields come first, in the original's order. */
    char *text = json_dumps(out, JSON_COMPACT);
    assert_string_equal(text, "{\"name\":\"demo\",\"author\":\"alice\",\"image\":\"demo:1\","
                              "\"data_repo\":\"https://example.org/d.git\",\"code_repo\":"
                              "\"https://example.org/c.git\",\"artefact\":\"csv\"}");
    free(text);
    json_decref(out);
    json_decref(in);
    mao_tool_clear(&tool);
}

static void test_tool__quotes_round_trip(void **state)
{
    json_t *in = s_tool();
    json_object_set_new(in, "description", json_string("says \"hello\" \\ and 'bye'\nline 2"));
    json_object_set_new(in, "author", json_string("O'Brien \"the\" \\ author"));
    mao_tool_t tool;
    assert_int_equal(mao_tool_from_json(&tool, in, MAO_PARSE_STRICT, 0), 0);
    assert_string_equal(tool.description, "says \"hello\" \\ and 'bye'\nline 2");
    json_t *out = mao_tool_to_json(&tool);
    assert_true(json_equal(in, out));
    json_decref(out);
    json_decref(in);
    mao_tool_clear(&tool);
}

static void test_tool__optional_fields(void **state)
{
    json_t *in = s_tool();
    json_object_set_new(in, "command", json_pack("[s,s]", "sh", "-c"));
    json_object_set_new(in, "env", json_pack("{s:s}", "MODE", "fast"));
    json_object_set_new(in, "timeout_s", json_integer(60));
    json_object_set_new(in, "spike", json_pack("{s:s, s:i, s:f}", "method", "mad", "window", 5,
                                               "threshold", 3.5));
    mao_tool_t tool;
    assert_int_equal(mao_tool_from_json(&tool, in, MAO_PARSE_STRICT, 0), 0);
    assert_int_equal(tool.command_len, 2);
    assert_string_equal(tool.command[1], "-c");
    assert_null(tool.command[2]);
    assert_string_equal(tool.env[0], "MODE=fast");
    assert_int_equal(tool.timeout_s, 60);
    assert_string_equal(tool.spike.method, "mad");
    assert_int_equal(tool.spike.window, 5);
    json_t *out = mao_tool_to_json(&tool);
    assert_true(json_equal(in, out));
    json_decref(out);
    json_decref(in);
    mao_tool_clear(&tool);
}

static void s_expect_refused(json_t *in, const char *fragment)
{
    mao_tool_t tool;
    assert_int_equal(mao_tool_from_json(&tool, in, MAO_PARSE_STRICT, 0), MAO_EINVAL);
    if (!strstr(mao_error_last(), fragment))
        fail_msg("detail \"%s\" lacks \"%s\"", mao_error_last(), fragment);
    json_decref(in);
}

static void test_tool__refuses_bad_input(void **state)
{
    json_t *t;
    t = s_tool(), json_object_del(t, "image"), s_expect_refused(t, "missing field \"image\"");
    t = s_tool(), json_object_set_new(t, "name", json_string("a/b")),
    s_expect_refused(t, "invalid tool name");
    t = s_tool(), json_object_set_new(t, "name", json_integer(3)),
    s_expect_refused(t, "must be a string");
    t = s_tool(), json_object_set_new(t, "image", json_string("demo \"1\"")),
    s_expect_refused(t, "Docker image reference");
    t = s_tool(), json_object_set_new(t, "author", json_string("bell\a")),
    s_expect_refused(t, "control characters");
    t = s_tool(), json_object_set_new(t, "data_repo", json_string("/local/path")),
    s_expect_refused(t, "data_repo");
    t = s_tool(), json_object_set_new(t, "colour", json_string("red")),
    s_expect_refused(t, "unknown field \"colour\"");
    t = s_tool(), json_object_set_new(t, "timeout_s", json_integer(0)),
    s_expect_refused(t, "timeout_s");
    t = s_tool(), json_object_set_new(t, "spike", json_pack("{s:s}", "method", "magic")),
    s_expect_refused(t, "spike.method");
    t = s_tool(), json_object_set_new(t, "env", json_pack("{s:s}", "1BAD", "x")),
    s_expect_refused(t, "variable name");
    t = s_tool(), json_object_set_new(t, "command", json_array()),
    s_expect_refused(t, "command");
    char big[MAO_FIELD_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    t = s_tool(), json_object_set_new(t, "description", json_string(big)),
    s_expect_refused(t, "longer than");
    t = json_string("not an object"), s_expect_refused(t, "JSON object");
}

static void test_tool__limits(void **state)
{
    json_t *in = s_tool();
    json_object_set_new(in, "resources", json_pack("{s:s, s:f, s:i}", "memory", "256m", "cpus",
                                                   0.5, "pids", 64));
    json_object_set_new(in, "capabilities", json_pack("[s,s]", "net_raw", "CAP_CHOWN"));
    json_object_set_new(in, "writable_root", json_true());
    mao_tool_t tool;
    assert_int_equal(mao_tool_from_json(&tool, in, MAO_PARSE_STRICT, 0), 0);
    assert_int_equal(tool.limits.memory_bytes, 256LL * 1024 * 1024);
    assert_int_equal(tool.limits.nano_cpus, 500000000LL);
    assert_int_equal(tool.limits.pids, 64);
    assert_int_equal(tool.limits.capabilities_len, 2);
    assert_string_equal(tool.limits.capabilities[0], "NET_RAW");
    assert_string_equal(tool.limits.capabilities[1], "CHOWN");
    assert_true(tool.limits.writable_root);
    /* Stored in a canonical form that reads back the same. */
    json_t *out = mao_tool_to_json(&tool);
    mao_tool_t again;
    assert_int_equal(mao_tool_from_json(&again, out, MAO_PARSE_STRICT, 0), 0);
    assert_int_equal(again.limits.memory_bytes, tool.limits.memory_bytes);
    assert_int_equal(again.limits.nano_cpus, tool.limits.nano_cpus);
    assert_string_equal(again.limits.capabilities[1], "CHOWN");
    mao_tool_clear(&again);
    json_decref(out);
    json_decref(in);
    mao_tool_clear(&tool);

    json_t *t;
    t = s_tool(), json_object_set_new(t, "resources", json_pack("{s:s}", "memory", "lots")),
    s_expect_refused(t, "resources.memory");
    t = s_tool(), json_object_set_new(t, "resources", json_pack("{s:i}", "memory", 1000)),
    s_expect_refused(t, "at least 4m");
    t = s_tool(), json_object_set_new(t, "resources", json_pack("{s:i}", "cpus", 0)),
    s_expect_refused(t, "resources.cpus");
    t = s_tool(), json_object_set_new(t, "resources", json_pack("{s:i}", "pids", 2)),
    s_expect_refused(t, "resources.pids");
    t = s_tool(), json_object_set_new(t, "resources", json_pack("{s:i}", "disk", 2)),
    s_expect_refused(t, "resources.disk");
    t = s_tool(), json_object_set_new(t, "capabilities", json_pack("[s]", "ALL")),
    s_expect_refused(t, "not a Linux capability");
    t = s_tool(), json_object_set_new(t, "capabilities", json_pack("[i]", 3)),
    s_expect_refused(t, "not a Linux capability");
    t = s_tool(), json_object_set_new(t, "writable_root", json_string("yes")),
    s_expect_refused(t, "writable_root");

    long long size = 0;
    assert_int_equal(mao_size_parse(&size, "1.5g"), 0);
    assert_int_equal(size, 1610612736LL);
    assert_int_equal(mao_size_parse(&size, "2GiB"), 0);
    assert_int_equal(mao_size_parse(&size, "512"), 0);
    assert_int_equal(size, 512);
    assert_int_equal(mao_size_parse(&size, "12x"), MAO_EINVAL);
    assert_int_equal(mao_size_parse(&size, "-1m"), MAO_EINVAL);
    assert_int_equal(mao_size_parse(&size, ""), MAO_EINVAL);
    assert_int_equal(mao_size_parse(&size, "1e30g"), MAO_EINVAL);
}

static void test_tool__stored_records_are_tolerant_but_checked(void **state)
{
    json_t *t = s_tool();
    json_object_set_new(t, "added_by_a_newer_site", json_true());
    json_object_set_new(t, "data_repo", json_string("/srv/repo.git"));
    mao_tool_t tool;
    assert_int_equal(mao_tool_from_json(&tool, t, MAO_PARSE_STORED, 0), 0);
    mao_tool_clear(&tool);
    json_object_set_new(t, "name", json_string("../../etc"));
    assert_int_equal(mao_tool_from_json(&tool, t, MAO_PARSE_STORED, 0), MAO_EINVAL);
    json_decref(t);
}

static void test_tool__dataset(void **state)
{
    json_t *in = json_pack("{s:s, s:s}", "name", "d1", "url", "https://example.org/d.git");
    mao_dataset_t ds;
    assert_int_equal(mao_dataset_from_json(&ds, in, MAO_PARSE_STRICT, 0), 0);
    json_t *out = mao_dataset_to_json(&ds);
    assert_true(json_equal(in, out));
    json_decref(out);
    mao_dataset_clear(&ds);
    json_object_set_new(in, "url", json_string("file:///tmp/x"));
    assert_int_equal(mao_dataset_from_json(&ds, in, MAO_PARSE_STRICT, 0), MAO_EINVAL);
    assert_int_equal(mao_dataset_from_json(&ds, in, MAO_PARSE_STRICT, 1), 0);
    mao_dataset_clear(&ds);
    json_object_del(in, "url");
    assert_int_equal(mao_dataset_from_json(&ds, in, MAO_PARSE_STRICT, 1), MAO_EINVAL);
    assert_non_null(strstr(mao_error_last(), "missing field \"url\""));
    json_decref(in);
}

static void test_tool__json_parse_errors(void **state)
{
    assert_null(mao_json_parse("{\"a\":", 5, "request body"));
    assert_non_null(strstr(mao_error_last(), "request body is not valid JSON"));
    assert_null(mao_json_parse("{\"a\":1,\"a\":2}", 13, "body"));
    json_t *ok = mao_json_parse("{\"a\":1}", 7, "body");
    assert_non_null(ok);
    json_decref(ok);
}

/* fuzz/regressions/tool/cpus-lose-a-nanocpu, found by fuzz_tool's round
 * trip: "cpus" was truncated to whole nano-CPUs, so 15625002, stored as
 * 0.015625001999999999, read back as 15625001; each store lost one. */
static void test_tool__cpus_survive_storing(void **state)
{
    static const char input[] =
        "{\"name\":\"demo\",\"author\":\"a\",\"image\":\"demo:1\",\"data_repo\":"
        "\"https://x.org/d\",\"code_repo\":\"\",\"artefact\":\"\",\"resources\":"
        "{\"cpus\":0.0156250025}}";
    json_t *in = mao_json_parse(input, strlen(input), "input");
    assert_non_null(in);
    mao_tool_t tool, again;
    assert_int_equal(mao_tool_from_json(&tool, in, MAO_PARSE_STRICT, 0), 0);
    long long first = tool.limits.nano_cpus;
    assert_true(first == 15625002 || first == 15625003);
    for (int i = 0; i < 3; i++) {
        json_t *out = mao_tool_to_json(&tool);
        char *text = json_dumps(out, JSON_COMPACT);
        json_t *stored = mao_json_parse(text, strlen(text), "stored");
        assert_int_equal(mao_tool_from_json(&again, stored, MAO_PARSE_STORED, 0), 0);
        assert_int_equal(again.limits.nano_cpus, first);
        json_decref(stored);
        free(text);
        json_decref(out);
        mao_tool_clear(&tool);
        tool = again;
    }
    mao_tool_clear(&tool);
    json_decref(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tool__round_trip_original_fields),
        cmocka_unit_test(test_tool__quotes_round_trip),
        cmocka_unit_test(test_tool__optional_fields),
        cmocka_unit_test(test_tool__refuses_bad_input),
        cmocka_unit_test(test_tool__limits),
        cmocka_unit_test(test_tool__stored_records_are_tolerant_but_checked),
        cmocka_unit_test(test_tool__dataset),
        cmocka_unit_test(test_tool__json_parse_errors),
        cmocka_unit_test(test_tool__cpus_survive_storing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
