/*
 * mao_cfg: schema-driven INI configuration on top of inih.
 *
 * Invariant: `values[i]` always holds a heap string for schema entry i, so
 * lookups never fail and never allocate.
 */
#include "mao_cfg.h"
#include "mao_error.h"
#include "mao_log.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct {
    const char *section;
    const char *key;
    const char *fallback;
} s_entry_t;

/* The schema: every key any mao binary reads.  Documented in docs/config.md. */
static const s_entry_t s_schema[] = {
    {"WORKING_ENVIRONMENT", "importdir", "/var/lib/mao/data"},
    {"WORKING_ENVIRONMENT", "allow_local_repos", "false"},
    {"ETCD", "host", "127.0.0.1"},
    {"ETCD", "port", "2379"},
    {"ETCD", "endpoints", ""},
    {"ETCD", "prefix", "/mao/"},
    {"ETCD", "timeout_ms", "3000"},
    {"ETCD", "cacert", ""},
    {"ETCD", "cert", ""},
    {"ETCD", "key", ""},
    {"ETCD", "user", ""},
    {"ETCD", "password", ""},
    {"ETCD", "grpc_min_ops", "0"},
    {"POSTGRES", "user", ""},
    {"POSTGRES", "password", ""},
    {"POSTGRES", "db", ""},
    {"POSTGRES", "host", "127.0.0.1"},
    {"POSTGRES", "port", "5432"},
    {"COORDINATOR", "api", "127.0.0.1:8080"},
    {"COORDINATOR", "workers", "tcp://127.0.0.1:5570"},
    {"COORDINATOR", "events", "tcp://127.0.0.1:5571"},
    {"COORDINATOR", "heartbeat_ms", "1000"},
    {"COORDINATOR", "liveness_ms", "10000"},
    {"COORDINATOR", "dispatch_timeout_ms", "10000"},
    {"COORDINATOR", "history", "200"},
    {"COORDINATOR", "keep_finished", "2000"},
    {"COORDINATOR", "lease_ttl", "5"},
    {"COORDINATOR", "advertise", ""},
    {"COORDINATOR", "curve_key", ""},
    {"COORDINATOR", "curve_clients", ""},
    {"COORDINATOR", "insecure", "false"},
    {"COORDINATOR", "api_token", ""},
    {"COORDINATOR", "api_token_file", ""},
    {"COORDINATOR", "api_open_reads", "true"},
    {"COORDINATOR", "tls_cert", ""},
    {"COORDINATOR", "tls_key", ""},
    {"WORKER", "coordinator", "tcp://127.0.0.1:5570"},
    {"WORKER", "site", "local"},
    {"WORKER", "capacity", "2"},
    {"WORKER", "docker", "/var/run/docker.sock"},
    {"WORKER", "id", ""},
    {"WORKER", "labels", ""},
    {"WORKER", "spool", "/var/lib/mao/spool"},
    {"WORKER", "timeout", "3600"},
    {"WORKER", "pull_timeout", "600"},
    {"WORKER", "clone_timeout", "600"},
    {"WORKER", "heartbeat_ms", "1000"},
    {"WORKER", "liveness_ms", "10000"},
    {"WORKER", "memory", "1g"},
    {"WORKER", "cpus", "1"},
    {"WORKER", "pids", "256"},
    {"WORKER", "network", "bridge"},
    {"WORKER", "allow_capabilities", ""},
    {"WORKER", "user", ""},
    {"WORKER", "runtime", "docker"},
    {"WORKER", "run_nice", "0"},
    {"WORKER", "curve_key", ""},
    {"WORKER", "coordinator_key", ""},
    {"NOTIFY", "webhook", ""},
    {"NOTIFY", "smtp_url", ""},
    {"NOTIFY", "mail_from", ""},
    {"NOTIFY", "mail_to", ""},
    {"LOG", "level", "info"},
};

#define S_COUNT (sizeof s_schema / sizeof s_schema[0])

/* Sections and keys of the original orchestrator's config.ini that mao
 * accepts and ignores: DATA_REPOS was written by the original itself. */
static const char *s_legacy_sections[] = {"DATA_REPOS"};
static const s_entry_t s_legacy_keys[] = {
    {"WORKING_ENVIRONMENT", "auditdir", ""},
    {"WORKING_ENVIRONMENT", "user", ""},
};

struct mao_cfg_t {
    char *values[S_COUNT];  /* current value of each schema entry */
    char *sources[S_COUNT]; /* "default", file path, or env variable name */
    char **warnings;        /* unknown keys, one line each */
    size_t warning_count;
    const char *path; /* the file being parsed, during load only */
};

static int s_find(const char *section, const char *key)
{
    for (size_t i = 0; i < S_COUNT; i++)
        if (strcasecmp(s_schema[i].section, section) == 0 && strcasecmp(s_schema[i].key, key) == 0)
            return (int)i;
    return -1;
}

static int s_replace(char **slot, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return MAO_ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

static int s_warn(mao_cfg_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int s_warn(mao_cfg_t *self, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    char **grown = realloc(self->warnings, (self->warning_count + 1) * sizeof *grown);
    if (!grown)
        return MAO_ENOMEM;
    self->warnings = grown;
    if (!(grown[self->warning_count] = strdup(line)))
        return MAO_ENOMEM;
    self->warning_count++;
    return 0;
}

/* inih callback: returns non-zero to continue. */
static int s_on_entry(void *user, const char *section, const char *name, const char *value)
{
    mao_cfg_t *self = user;
    int i = s_find(section, name);
    if (i >= 0) {
        if (s_replace(&self->values[i], value) < 0 || s_replace(&self->sources[i], self->path) < 0)
            return 0;
        return 1;
    }
    for (size_t k = 0; k < sizeof s_legacy_sections / sizeof s_legacy_sections[0]; k++)
        if (strcasecmp(section, s_legacy_sections[k]) == 0)
            return 1;
    for (size_t k = 0; k < sizeof s_legacy_keys / sizeof s_legacy_keys[0]; k++)
        if (strcasecmp(section, s_legacy_keys[k].section) == 0 &&
            strcasecmp(name, s_legacy_keys[k].key) == 0)
            return 1;
    return s_warn(self, "%s: unknown key '%s' in section [%s] is ignored", self->path, name,
                  section) == 0;
}

static int s_apply_env(mao_cfg_t *self)
{
    for (size_t i = 0; i < S_COUNT; i++) {
        char var[128];
        int n = snprintf(var, sizeof var, "MAO_%s_%s", s_schema[i].section, s_schema[i].key);
        if (n < 0 || (size_t)n >= sizeof var)
            continue;
        for (char *p = var; *p; p++)
            *p = (char)toupper((unsigned char)*p);
        const char *value = getenv(var);
        if (!value)
            continue;
        if (s_replace(&self->values[i], value) < 0 || s_replace(&self->sources[i], var) < 0)
            return MAO_ENOMEM;
    }
    return 0;
}

int mao_cfg_load(mao_cfg_t **out, const char *path)
{
    int rc = 0;
    mao_cfg_t *self = calloc(1, sizeof *self);
    if (!self)
        return MAO_ENOMEM;
    for (size_t i = 0; i < S_COUNT; i++) {
        if (s_replace(&self->values[i], s_schema[i].fallback) < 0 ||
            s_replace(&self->sources[i], "default") < 0) {
            rc = MAO_ENOMEM;
            goto cleanup;
        }
    }
    if (path) {
        FILE *file = fopen(path, "r");
        if (!file) {
            mao_error_set("cannot open config file %s: %s", path, strerror(errno));
            rc = MAO_ENOTFOUND;
            goto cleanup;
        }
        self->path = path;
        int line = ini_parse_file(file, s_on_entry, self);
        fclose(file);
        self->path = NULL;
        if (line != 0) {
            if (line > 0)
                mao_error_set("%s:%d: cannot parse this line (expected 'key = value' or "
                              "'[SECTION]')",
                              path, line);
            else
                mao_error_set("%s: out of memory while reading", path);
            rc = line > 0 ? MAO_EMALFORMED : MAO_ENOMEM;
            goto cleanup;
        }
    }
    if ((rc = s_apply_env(self)) < 0)
        goto cleanup;
    *out = self;
    self = NULL;
cleanup:
    mao_cfg_destroy(&self);
    return rc;
}

void mao_cfg_destroy(mao_cfg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mao_cfg_t *self = *self_p;
    for (size_t i = 0; i < S_COUNT; i++) {
        free(self->values[i]);
        free(self->sources[i]);
    }
    for (size_t i = 0; i < self->warning_count; i++)
        free(self->warnings[i]);
    free(self->warnings);
    free(self);
    *self_p = NULL;
}

const char *mao_cfg_default_path(const char *cli_path)
{
    if (cli_path && *cli_path)
        return cli_path;
    const char *env = getenv("MAO_CONFIG");
    if (env && *env)
        return env;
    if (access("/etc/mao/mao.conf", R_OK) == 0)
        return "/etc/mao/mao.conf";
    return NULL;
}

const char *mao_cfg_get(const mao_cfg_t *self, const char *section, const char *key)
{
    int i = s_find(section, key);
    return i < 0 ? "" : self->values[i];
}

const char *mao_cfg_source(const mao_cfg_t *self, const char *section, const char *key)
{
    int i = s_find(section, key);
    return i < 0 ? "" : self->sources[i];
}

int mao_cfg_get_long(const mao_cfg_t *self, const char *section, const char *key, long min,
                     long max, long *out)
{
    const char *text = mao_cfg_get(self, section, key);
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || value < min || value > max) {
        mao_error_set("[%s] %s = '%s' (from %s): expected a whole number from %ld to %ld", section,
                      key, text, mao_cfg_source(self, section, key), min, max);
        return MAO_EINVAL;
    }
    *out = value;
    return 0;
}

int mao_cfg_get_bool(const mao_cfg_t *self, const char *section, const char *key, int *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off", ""};
    const char *text = mao_cfg_get(self, section, key);
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (strcasecmp(text, yes[i]) == 0)
            return *out = 1, 0;
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (strcasecmp(text, no[i]) == 0)
            return *out = 0, 0;
    mao_error_set("[%s] %s = '%s' (from %s): expected true or false", section, key, text,
                  mao_cfg_source(self, section, key));
    return MAO_EINVAL;
}

const char *mao_cfg_warning(const mao_cfg_t *self, size_t index)
{
    return index < self->warning_count ? self->warnings[index] : NULL;
}

void mao_cfg_log_warnings(const mao_cfg_t *self)
{
    for (size_t i = 0; i < self->warning_count; i++)
        mao_log_warn("config", "%s", self->warnings[i]);
}

int mao_cfg_daemon_start(mao_cfg_t **out, int *status, const char *prog, const char *cli_path,
                         const char *level, int check_only)
{
    mao_cfg_t *cfg = NULL;
    mao_log_level_t parsed;
    const char *path = mao_cfg_default_path(cli_path);
    *out = NULL;
    *status = 1;
    if (mao_cfg_load(&cfg, path) < 0 ||
        mao_log_parse_level(&parsed, level ? level : mao_cfg_get(cfg, "LOG", "level")) < 0) {
        fprintf(stderr, "%s: %s\n", prog, mao_error_last());
        mao_cfg_destroy(&cfg);
        return 0;
    }
    if (check_only) { /* the file parsed and the level is known: now the unknown keys */
        size_t n = 0;
        for (const char *w; (w = mao_cfg_warning(cfg, n)); n++)
            fprintf(stderr, "%s: %s\n", prog, w);
        printf("%s: %s\n", path ? path : "built-in defaults", n ? "has unknown keys" : "ok");
        mao_cfg_destroy(&cfg);
        *status = n ? 1 : 0;
        return 0;
    }
    mao_log_set_level(parsed);
    mao_cfg_log_warnings(cfg);
    *out = cfg;
    return 1;
}
