/*
 * mao_error: thread-local error detail.  One fixed buffer per thread, so that
 * setting an error never allocates and never fails.
 */
#include "mao_error.h"

#include <stdio.h>
#include <string.h>

#define MAO_ERROR_MAX 1024

static _Thread_local char s_detail[MAO_ERROR_MAX];

void mao_error_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s_detail, sizeof s_detail, fmt, ap);
    va_end(ap);
}

void mao_error_prefix(const char *fmt, ...)
{
    char head[MAO_ERROR_MAX];
    char tail[MAO_ERROR_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(tail, s_detail, sizeof tail);
    if (tail[0])
        snprintf(s_detail, sizeof s_detail, "%s: %s", head, tail);
    else
        snprintf(s_detail, sizeof s_detail, "%s", head);
}

const char *mao_error_last(void)
{
    return s_detail;
}

void mao_error_clear(void)
{
    s_detail[0] = '\0';
}

const char *mao_error_name(int rc)
{
    switch (rc) {
    case MAO_OK: return "ok";
    case MAO_ENOTFOUND: return "not found";
    case MAO_ECONFLICT: return "conflict";
    case MAO_ETIMEOUT: return "timed out";
    case MAO_EMALFORMED: return "malformed";
    case MAO_EUNAVAILABLE: return "unavailable";
    case MAO_EINVAL: return "invalid";
    case MAO_ENOMEM: return "out of memory";
    default: return "failed";
    }
}
