/*
 * mao_cfg: the one INI file all mao binaries read.
 *
 * Central idea: a fixed schema of (section, key, default).  A value comes from
 * the environment (MAO_<SECTION>_<KEY>), else the file, else the default, so a
 * container can be configured without a file.  The file is only ever read,
 * never written.  Keys outside the schema are reported as warnings; the
 * original orchestrator's [DATA_REPOS] section is accepted and ignored.
 * Section and key names are matched case-insensitively.
 */
#ifndef MAO_CFG_H
#define MAO_CFG_H

#include <stddef.h>

typedef struct mao_cfg_t mao_cfg_t;

/* Loads `path` (NULL: defaults and environment only) into a new config owned
 * by the caller.  Returns 0; MAO_ENOTFOUND when the file cannot be opened;
 * MAO_EMALFORMED when a line cannot be parsed (detail names file and line). */
int mao_cfg_load(mao_cfg_t **out, const char *path);

/* Frees the config; accepts NULL and sets *self_p to NULL. */
void mao_cfg_destroy(mao_cfg_t **self_p);

/* The path a binary should read: `cli_path` when given, else $MAO_CONFIG,
 * else /etc/mao/mao.conf when it exists, else NULL (defaults). */
const char *mao_cfg_default_path(const char *cli_path);

/* The value of a schema key, never NULL ("" when empty).  Owned by the config.
 * Asking for a key outside the schema is a programming error and returns "". */
const char *mao_cfg_get(const mao_cfg_t *self, const char *section, const char *key);

/* Typed views of mao_cfg_get().  Each returns 0, or MAO_EINVAL with a detail
 * that names the key and where its value came from. */
int mao_cfg_get_long(const mao_cfg_t *self, const char *section, const char *key, long min,
                     long max, long *out);
int mao_cfg_get_bool(const mao_cfg_t *self, const char *section, const char *key, int *out);

/* Where a key's value came from: "default", the file name, or the variable. */
const char *mao_cfg_source(const mao_cfg_t *self, const char *section, const char *key);

/* Warnings gathered while loading (unknown keys), one line each; index from 0.
 * Returns NULL past the end. */
const char *mao_cfg_warning(const mao_cfg_t *self, size_t index);

/* Logs every warning at warn level under the "config" module. */
void mao_cfg_log_warnings(const mao_cfg_t *self);

/* A daemon's start (`prog` names it in messages): loads the configuration
 * from mao_cfg_default_path(cli_path) and sets the log level (`level` when
 * given, else [LOG] level), then logs the warnings.  With `check_only`,
 * prints the unknown keys and the verdict instead, and stops.  Returns 1 to
 * go on, with the configuration in *out; or 0 with the process's exit status
 * in *status (what went wrong printed as "PROG: ..."). */
int mao_cfg_daemon_start(mao_cfg_t **out, int *status, const char *prog, const char *cli_path,
                         const char *level, int check_only);

#endif
