/*
 * Unit tests of mao_name: names that become folders and keys, and the
 * dataset-URL policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mao_error.h"
#include "mao_name.h"

#include <string.h>

static void test_name__accepts_plain_names(void **state)
{
    const char *good[] = {"demo", "a", "Tool_1", "sar-static-data", "v1.2", "x.y_z-9",
                          "0start", NULL};
    for (size_t i = 0; good[i]; i++)
        assert_int_equal(mao_name_check("tool", good[i]), 0);
    char longest[65];
    memset(longest, 'a', 64);
    longest[64] = '\0';
    assert_int_equal(mao_name_check("tool", longest), 0);
}

static void test_name__refuses_dangerous_names(void **state)
{
    struct {
        const char *name;
        const char *why;
    } bad[] = {
        {"", "empty"},
        {"a/b", "'/'"},
        {"../etc", "starts with"},
        {"a..b", "'..'"},
        {"..", "starts with"},
        {".hidden", "starts with"},
        {"-rf", "starts with"},
        {"has space", "space"},
        {"tab\there", "control"},
        {"nl\nhere", "control"},
        {"quote\"d", "other than"},
        {"back\\slash", "other than"},
        {"semi;colon", "other than"},
        {"\xc3\xa9t\xc3\xa9", "other than"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(mao_name_check("tool", bad[i].name), MAO_EINVAL);
        assert_non_null(strstr(mao_error_last(), "invalid tool name"));
        assert_non_null(strstr(mao_error_last(), bad[i].why));
    }
    char toolong[66];
    memset(toolong, 'a', 65);
    toolong[65] = '\0';
    assert_int_equal(mao_name_check("dataset", toolong), MAO_EINVAL);
    assert_non_null(strstr(mao_error_last(), "longer than 64"));
    assert_int_equal(mao_name_check("tool", NULL), MAO_EINVAL);
}

static void test_name__error_shows_control_chars_escaped(void **state)
{
    assert_int_equal(mao_name_check("tool", "a\x1b[31mred"), MAO_EINVAL);
    assert_null(strchr(mao_error_last(), '\x1b'));
    assert_non_null(strstr(mao_error_last(), "\\x1b"));
}

static void test_name__url_policy(void **state)
{
    assert_int_equal(mao_url_check("https://github.com/x/y.git", 0), 0);
    assert_int_equal(mao_url_check("http://example.org/d.git", 0), 0);
    assert_int_equal(mao_url_check("ssh://git@example.org/d.git", 0), 0);
    assert_int_equal(mao_url_check("git://example.org/d.git", 0), 0);
    assert_int_equal(mao_url_check("git@github.com:x/y.git", 0), 0);

    assert_int_equal(mao_url_check("/srv/repos/d.git", 0), MAO_EINVAL);
    assert_non_null(strstr(mao_error_last(), "allow_local_repos"));
    assert_int_equal(mao_url_check("file:///srv/repos/d.git", 0), MAO_EINVAL);
    assert_int_equal(mao_url_check("./d.git", 0), MAO_EINVAL);
    assert_int_equal(mao_url_check("/srv/repos/d.git", 1), 0);
    assert_int_equal(mao_url_check("file:///srv/repos/d.git", 1), 0);

    assert_int_equal(mao_url_check("ftp://example.org/d.git", 1), MAO_EINVAL);
    assert_non_null(strstr(mao_error_last(), "scheme"));
    assert_int_equal(mao_url_check("ext::sh -c evil", 0), MAO_EINVAL);
    assert_int_equal(mao_url_check("-uhttps://x", 1), MAO_EINVAL);
    assert_int_equal(mao_url_check("https://", 0), MAO_EINVAL);
    assert_int_equal(mao_url_check("", 0), MAO_EINVAL);
    assert_int_equal(mao_url_check("https://x/\"y", 0), MAO_EINVAL);
    assert_int_equal(mao_url_check("https://x/a b", 0), MAO_EINVAL);
    assert_int_equal(mao_url_check("https://x/\ny", 0), MAO_EINVAL);
}

static void test_name__quote_truncates(void **state)
{
    char out[16];
    mao_text_quote(out, sizeof out, "abcdefghijklmnopqrstuvwxyz");
    assert_true(strlen(out) < sizeof out);
    assert_non_null(strstr(out, "..."));
    mao_text_quote(out, sizeof out, "a\"b");
    assert_string_equal(out, "a\\\"b");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name__accepts_plain_names),
        cmocka_unit_test(test_name__refuses_dangerous_names),
        cmocka_unit_test(test_name__error_shows_control_chars_escaped),
        cmocka_unit_test(test_name__url_policy),
        cmocka_unit_test(test_name__quote_truncates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
