/*
 * Unit tests of mao_cfg: defaults, the original orchestrator's config.ini,
 * environment overrides, unknown keys, errors, and that the file is never
 * rewritten.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mao_cfg.h"
#include "mao_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_path[64];

static void s_write(const char *text)
{
    snprintf(s_path, sizeof s_path, "/tmp/mao-test-cfg-XXXXXX");
    int fd = mkstemp(s_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int s_teardown(void **state)
{
    if (s_path[0])
        unlink(s_path);
    s_path[0] = '\0';
    unsetenv("MAO_ETCD_PORT");
    unsetenv("MAO_WORKER_SITE");
    return 0;
}

static void test_cfg__defaults(void **state)
{
    mao_cfg_t *cfg = NULL;
    assert_int_equal(mao_cfg_load(&cfg, NULL), 0);
    assert_string_equal(mao_cfg_get(cfg, "ETCD", "host"), "127.0.0.1");
    assert_string_equal(mao_cfg_get(cfg, "ETCD", "port"), "2379");
    assert_string_equal(mao_cfg_get(cfg, "ETCD", "prefix"), "/mao/");
    assert_string_equal(mao_cfg_get(cfg, "COORDINATOR", "api"), "127.0.0.1:8080");
    assert_string_equal(mao_cfg_get(cfg, "WORKER", "site"), "local");
    assert_string_equal(mao_cfg_source(cfg, "ETCD", "host"), "default");
    assert_null(mao_cfg_warning(cfg, 0));
    mao_cfg_destroy(&cfg);
    assert_null(cfg);
    mao_cfg_destroy(&cfg); /* NULL is fine */
}

/* A config.ini as the original orchestrator shipped and rewrote it. */
static void test_cfg__original_config_ini(void **state)
{
    s_write("[WORKING_ENVIRONMENT]\n"
            "importdir = /home/someone/importdir\n"
            "auditdir = /home/someone/audit\n"
            "user = someone\n"
            "\n"
            "[ETCD]\n"
            "host = localhost\n"
            "port = 2379\n"
            "\n"
            "[POSTGRES]\n"
            "user = scheduler\n"
            "password = password\n"
            "db = schedule\n"
            "host = 127.0.0.1\n"
            "\n"
            "[DATA_REPOS]\n"
            "sample = https://github.com/example/sample.git\n"
            "spike = /home/someone/importdir/spike\n");
    mao_cfg_t *cfg = NULL;
    assert_int_equal(mao_cfg_load(&cfg, s_path), 0);
    assert_string_equal(mao_cfg_get(cfg, "WORKING_ENVIRONMENT", "importdir"),
                        "/home/someone/importdir");
    assert_string_equal(mao_cfg_get(cfg, "ETCD", "host"), "localhost");
    assert_string_equal(mao_cfg_get(cfg, "POSTGRES", "user"), "scheduler");
    assert_string_equal(mao_cfg_get(cfg, "POSTGRES", "db"), "schedule");
    assert_string_equal(mao_cfg_get(cfg, "POSTGRES", "port"), "5432");
    assert_string_equal(mao_cfg_source(cfg, "ETCD", "host"), s_path);
    assert_null(mao_cfg_warning(cfg, 0)); /* nothing in it is unknown */
    mao_cfg_destroy(&cfg);
}

static void test_cfg__env_overrides_file(void **state)
{
    s_write("[ETCD]\nport = 2379\n[WORKER]\nsite = zurich\n");
    setenv("MAO_ETCD_PORT", "23790", 1);
    mao_cfg_t *cfg = NULL;
    assert_int_equal(mao_cfg_load(&cfg, s_path), 0);
    assert_string_equal(mao_cfg_get(cfg, "ETCD", "port"), "23790");
    assert_string_equal(mao_cfg_source(cfg, "ETCD", "port"), "MAO_ETCD_PORT");
    assert_string_equal(mao_cfg_get(cfg, "WORKER", "site"), "zurich");
    long port = 0;
    assert_int_equal(mao_cfg_get_long(cfg, "ETCD", "port", 1, 65535, &port), 0);
    assert_int_equal(port, 23790);
    mao_cfg_destroy(&cfg);

    /* Without a file at all, as in a container. */
    setenv("MAO_WORKER_SITE", "bern", 1);
    assert_int_equal(mao_cfg_load(&cfg, NULL), 0);
    assert_string_equal(mao_cfg_get(cfg, "WORKER", "site"), "bern");
    mao_cfg_destroy(&cfg);
}

static void test_cfg__unknown_keys_warned(void **state)
{
    s_write("[ETCD]\nhots = 1.2.3.4\n[NOSUCH]\nkey = v\n");
    mao_cfg_t *cfg = NULL;
    assert_int_equal(mao_cfg_load(&cfg, s_path), 0);
    assert_non_null(mao_cfg_warning(cfg, 0));
    assert_non_null(strstr(mao_cfg_warning(cfg, 0), "'hots'"));
    assert_non_null(strstr(mao_cfg_warning(cfg, 1), "[NOSUCH]"));
    assert_null(mao_cfg_warning(cfg, 2));
    assert_string_equal(mao_cfg_get(cfg, "ETCD", "host"), "127.0.0.1");
    mao_cfg_destroy(&cfg);
}

static void test_cfg__inline_comments_and_case(void **state)
{
    s_write("[etcd]\nHOST = 10.0.0.1   ; the etcd member\n; a comment line\n# another\n");
    mao_cfg_t *cfg = NULL;
    assert_int_equal(mao_cfg_load(&cfg, s_path), 0);
    assert_string_equal(mao_cfg_get(cfg, "ETCD", "host"), "10.0.0.1");
    mao_cfg_destroy(&cfg);
}

static void test_cfg__syntax_error_names_line(void **state)
{
    s_write("[ETCD]\nhost = 1\nthis line has no equals sign\n");
    mao_cfg_t *cfg = NULL;
    assert_int_equal(mao_cfg_load(&cfg, s_path), MAO_EMALFORMED);
    assert_null(cfg);
    char want[96];
    snprintf(want, sizeof want, "%s:3:", s_path);
    assert_non_null(strstr(mao_error_last(), want));
}

static void test_cfg__missing_file(void **state)
{
    mao_cfg_t *cfg = NULL;
    assert_int_equal(mao_cfg_load(&cfg, "/nonexistent/mao.conf"), MAO_ENOTFOUND);
    assert_non_null(strstr(mao_error_last(), "/nonexistent/mao.conf"));
}

static void test_cfg__typed_values(void **state)
{
    s_write("[WORKER]\ncapacity = many\n[WORKING_ENVIRONMENT]\nallow_local_repos = yes\n"
            "[ETCD]\nport = 70000\n");
    mao_cfg_t *cfg = NULL;
    long v;
    int b;
    assert_int_equal(mao_cfg_load(&cfg, s_path), 0);
    assert_int_equal(mao_cfg_get_long(cfg, "WORKER", "capacity", 1, 1000, &v), MAO_EINVAL);
    assert_non_null(strstr(mao_error_last(), "capacity"));
    assert_int_equal(mao_cfg_get_long(cfg, "ETCD", "port", 1, 65535, &v), MAO_EINVAL);
    assert_int_equal(mao_cfg_get_bool(cfg, "WORKING_ENVIRONMENT", "allow_local_repos", &b), 0);
    assert_true(b);
    mao_cfg_destroy(&cfg);
}

static void test_cfg__file_never_rewritten(void **state)
{
    const char *text = "[ETCD]\nhost = 127.0.0.1\n[DATA_REPOS]\nx = y\n";
    s_write(text);
    struct stat before, after;
    assert_int_equal(stat(s_path, &before), 0);
    mao_cfg_t *cfg = NULL;
    assert_int_equal(mao_cfg_load(&cfg, s_path), 0);
    mao_cfg_destroy(&cfg);
    assert_int_equal(stat(s_path, &after), 0);
    assert_int_equal(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
    assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
    assert_int_equal(before.st_size, after.st_size);
    FILE *f = fopen(s_path, "r");
    char buf[128] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_cfg__defaults, s_teardown),
        cmocka_unit_test_teardown(test_cfg__original_config_ini, s_teardown),
        cmocka_unit_test_teardown(test_cfg__env_overrides_file, s_teardown),
        cmocka_unit_test_teardown(test_cfg__unknown_keys_warned, s_teardown),
        cmocka_unit_test_teardown(test_cfg__inline_comments_and_case, s_teardown),
        cmocka_unit_test_teardown(test_cfg__syntax_error_names_line, s_teardown),
        cmocka_unit_test_teardown(test_cfg__missing_file, s_teardown),
        cmocka_unit_test_teardown(test_cfg__typed_values, s_teardown),
        cmocka_unit_test_teardown(test_cfg__file_never_rewritten, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
