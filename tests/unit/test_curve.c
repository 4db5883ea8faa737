/*
 * Unit tests of mao_curve: key pairs as files, public keys from text or
 * files, and which endpoints stay on this machine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mao_curve.h"
#include "mao_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_curve__endpoints_on_this_machine(void **state)
{
    const char *local[] = {"tcp://127.0.0.1:5570", "tcp://127.9.9.9:1", "tcp://localhost:5570",
                           "tcp://[::1]:5570", "ipc:///run/mao.sock", "inproc://x",
                           "127.0.0.1:8080", "localhost:8080", "[::1]:8080",
                           "tcp://eth0;127.0.0.1:5570", NULL};
    const char *open[] = {"tcp://*:5570", "tcp://0.0.0.0:5570", "tcp://[::]:5570",
                          "tcp://10.0.0.5:5570", "0.0.0.0:8080", "192.168.1.2:8080",
                          "tcp://example.org:5570", "[2001:db8::1]:8080", "", NULL};
    for (size_t i = 0; local[i]; i++)
        assert_true(mao_endpoint_is_local(local[i]));
    for (size_t i = 0; open[i]; i++)
        assert_false(mao_endpoint_is_local(open[i]));
    assert_false(mao_endpoint_is_local(NULL));
}

static void test_curve__keygen_load_and_public_keys(void **state)
{
    char dir[] = "/tmp/mao-curve-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char name[128], secret[160];
    snprintf(name, sizeof name, "%s/worker", dir);
    snprintf(secret, sizeof secret, "%s_secret", name);

    char key[MAO_CURVE_KEY_LEN + 1];
    assert_int_equal(mao_curve_keygen(name, key), 0);
    assert_int_equal(strlen(key), MAO_CURVE_KEY_LEN);
    struct stat st;
    assert_int_equal(stat(secret, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(mao_curve_keygen(name, NULL), MAO_ECONFLICT);
    mao_error_clear();

    zcert_t *cert = NULL;
    assert_int_equal(mao_curve_load(&cert, name, 1), 0);
    assert_string_equal(zcert_public_txt(cert), key);
    zcert_destroy(&cert);

    char got[MAO_CURVE_KEY_LEN + 1];
    assert_int_equal(mao_curve_public_key(got, name), 0);
    assert_string_equal(got, key);
    assert_int_equal(mao_curve_public_key(got, key), 0);
    assert_string_equal(got, key);
    assert_int_equal(mao_curve_public_key(got, "not a key"), MAO_EINVAL);
    mao_error_clear();

    /* The public file alone: no secret to load. */
    unlink(secret);
    assert_true(mao_curve_load(&cert, name, 1) < 0);
    assert_non_null(strstr(mao_error_last(), "maoctl keygen"));
    mao_error_clear();
    assert_int_equal(mao_curve_load(&cert, name, 0), 0);
    zcert_destroy(&cert);

    /* A file that is no certificate. */
    FILE *f = fopen(name, "w");
    fputs("hello\n", f);
    fclose(f);
    assert_true(mao_curve_load(&cert, name, 0) < 0);
    mao_error_clear();
    unlink(name);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curve__endpoints_on_this_machine),
        cmocka_unit_test(test_curve__keygen_load_and_public_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
