/*
 * mao_log: one line per event on stderr, as `time level module: event k=v`.
 *
 * Daemons log through mao_log(); the level threshold is process-wide and set
 * once at start-up (config [LOG] level, or MAO_LOG_LEVEL).  Writing a line is
 * one write(2), so lines from several threads never interleave.
 */
#ifndef MAO_LOG_H
#define MAO_LOG_H

typedef enum { MAO_LOG_ERROR = 0, MAO_LOG_WARN, MAO_LOG_INFO, MAO_LOG_DEBUG } mao_log_level_t;

/* Sets the threshold; lines above it are dropped. */
void mao_log_set_level(mao_log_level_t level);

/* Parses "error", "warn", "info", "debug"; returns 0, or MAO_EINVAL. */
int mao_log_parse_level(mao_log_level_t *out, const char *text);

/* True when a line at this level would be written. */
int mao_log_enabled(mao_log_level_t level);

/* Writes one line: module is a short word ("api", "etcd"), the rest printf. */
void mao_log(mao_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define mao_log_error(mod, ...) mao_log(MAO_LOG_ERROR, mod, __VA_ARGS__)
#define mao_log_warn(mod, ...) mao_log(MAO_LOG_WARN, mod, __VA_ARGS__)
#define mao_log_info(mod, ...) mao_log(MAO_LOG_INFO, mod, __VA_ARGS__)
#define mao_log_debug(mod, ...)                                                                    \
    do {                                                                                           \
        if (mao_log_enabled(MAO_LOG_DEBUG))                                                        \
            mao_log(MAO_LOG_DEBUG, mod, __VA_ARGS__);                                              \
    } while (0)

#endif
