/*
 * fuzz_cfg: the configuration parser, mao_cfg_load(), on the input as a
 * whole file.  The input is written to a memory file (memfd_create) and
 * loaded through /proc/self/fd/N, so the code under test is exactly the
 * daemons' (a file opened and read by inih), with no disk writes.  Then
 * every key of the schema (fuzz_cfg_keys.h, made from common/mao_cfg.c) is
 * read through each getter and the parsers the daemons apply to values.
 *
 * Properties: a file is loaded or refused with a detail naming a line, and
 * a refused file leaves no config; every schema key has a value and a
 * source; each getter either succeeds or gives a detail; warnings are
 * lines.  The environment is cleared of MAO_* overrides first, so values
 * come from the input alone.
 */
#include "fuzz.h"
#include "mao_cfg.h"
#include "mao_error.h"
#include "mao_etcd.h"
#include "mao_log.h"
#include "mao_name.h"
#include "mao_tool.h"

#include <limits.h>
#include <sys/mman.h>
#include <unistd.h>

static const struct {
    const char *section;
    const char *key;
} s_keys[] = {
#include "fuzz_cfg_keys.h"
};

extern char **environ;

static int s_fd = -1;   /* the memory file holding the input */
static char s_path[64]; /* /proc/self/fd/<s_fd> */

/* Reads one key as each getter and each value parser would. */
static void s_key(const mao_cfg_t *cfg, const char *section, const char *key)
{
    const char *value = mao_cfg_get(cfg, section, key);
    const char *source = mao_cfg_source(cfg, section, key);
    FUZZ_CHECK(value != NULL && source != NULL && source[0] != '\0');
    FUZZ_CHECK(strcmp(source, "default") == 0 || strcmp(source, s_path) == 0);

    long number = 0;
    int flag = 0;
    mao_error_clear();
    if (mao_cfg_get_long(cfg, section, key, LONG_MIN, LONG_MAX, &number) < 0)
        FUZZ_CHECK(mao_error_last()[0] != '\0');
    if (mao_cfg_get_long(cfg, section, key, 1, 65535, &number) == 0)
        FUZZ_CHECK(number >= 1 && number <= 65535);
    mao_error_clear();
    if (mao_cfg_get_bool(cfg, section, key, &flag) == 0)
        FUZZ_CHECK(flag == 0 || flag == 1);
    else
        FUZZ_CHECK(mao_error_last()[0] != '\0');

    long long bytes = 0;
    if (mao_size_parse(&bytes, value) == 0)
        FUZZ_CHECK(bytes >= 0);
    mao_log_level_t level;
    mao_log_parse_level(&level, value);
    mao_name_check("site", value);
    char caps[32];
    mao_capability_name(caps, sizeof caps, value);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    mao_cfg_t *cfg = NULL;

    /* Drop MAO_<SECTION>_<KEY> overrides: the input is the only source. */
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "MAO_", 4) == 0) {
                char name[256];
                snprintf(name, sizeof name, "%.*s", (int)strcspn(*e, "="), *e);
                unsetenv(name);
                again = 1;
                break;
            }
        }
    }
    s_fd = memfd_create("mao-fuzz-cfg", MFD_CLOEXEC);
    FUZZ_CHECK(s_fd >= 0);
    snprintf(s_path, sizeof s_path, "/proc/self/fd/%d", s_fd);

    /* The key list must match the schema: every key has a source.  And the
     * defaults go through every getter once. */
    FUZZ_CHECK(mao_cfg_load(&cfg, NULL) == 0);
    for (size_t i = 0; i < sizeof s_keys / sizeof s_keys[0]; i++) {
        FUZZ_CHECK(strcmp(mao_cfg_source(cfg, s_keys[i].section, s_keys[i].key), "default") == 0);
        s_key(cfg, s_keys[i].section, s_keys[i].key);
    }
    mao_cfg_destroy(&cfg);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mao_cfg_t *cfg = NULL;

    FUZZ_CHECK(ftruncate(s_fd, 0) == 0);
    FUZZ_CHECK(size == 0 || pwrite(s_fd, data, size, 0) == (ssize_t)size);
    mao_error_clear();
    int rc = mao_cfg_load(&cfg, s_path);
    if (rc < 0) {
        FUZZ_CHECK(cfg == NULL);
        FUZZ_CHECK(rc == MAO_EMALFORMED || rc == MAO_ENOMEM);
        FUZZ_CHECK(mao_error_last()[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(cfg != NULL);
    /* Keys left at their defaults were read at start-up: only those the
     * input set are read again (a lookup is a scan of the schema). */
    for (size_t i = 0; i < sizeof s_keys / sizeof s_keys[0]; i++)
        if (strcmp(mao_cfg_source(cfg, s_keys[i].section, s_keys[i].key), "default") != 0)
            s_key(cfg, s_keys[i].section, s_keys[i].key);

    char endpoints[2048];
    mao_etcd_endpoints_from(endpoints, sizeof endpoints, mao_cfg_get(cfg, "ETCD", "endpoints"),
                            mao_cfg_get(cfg, "ETCD", "host"), mao_cfg_get(cfg, "ETCD", "port"));
    for (size_t i = 0; mao_cfg_warning(cfg, i); i++)
        FUZZ_CHECK(mao_cfg_warning(cfg, i)[0] != '\0');
    mao_cfg_destroy(&cfg);
    FUZZ_CHECK(cfg == NULL);
    return 0;
}
