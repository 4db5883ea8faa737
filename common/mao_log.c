/*
 * mao_log: formatted into a stack buffer, written with one write(2).
 */
#include "mao_log.h"
#include "mao_error.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static atomic_int s_level = MAO_LOG_INFO;

static const char *s_names[] = {"error", "warn", "info", "debug"};

void mao_log_set_level(mao_log_level_t level)
{
    atomic_store(&s_level, (int)level);
}

int mao_log_parse_level(mao_log_level_t *out, const char *text)
{
    for (int i = 0; i <= MAO_LOG_DEBUG; i++) {
        if (strcasecmp(text, s_names[i]) == 0) {
            *out = (mao_log_level_t)i;
            return 0;
        }
    }
    if (strcasecmp(text, "warning") == 0) {
        *out = MAO_LOG_WARN;
        return 0;
    }
    mao_error_set("unknown log level '%s' (use error, warn, info or debug)", text);
    return MAO_EINVAL;
}

int mao_log_enabled(mao_log_level_t level)
{
    return (int)level <= atomic_load(&s_level);
}

void mao_log(mao_log_level_t level, const char *module, const char *fmt, ...)
{
    if (!mao_log_enabled(level))
        return;

    char line[4096];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, s_names[level], module);
    if (n < 0 || (size_t)n >= sizeof line)
        return;

    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    /* One event, one line: a newline inside a value would forge a new entry. */
    for (size_t i = (size_t)n; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
