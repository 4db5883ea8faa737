/*
 * mao_id: ULID-style ids.  The random part comes from getrandom(); ids made
 * in the same millisecond increment the previous random part, so they stay
 * ordered (as the ULID specification's monotonic mode).
 */
#include "mao_id.h"
#include "mao_error.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char s_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t s_last_ms = -1;       /* millisecond of the previous id */
static unsigned char s_last_rand[10]; /* its random part */

int64_t mao_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mao_time_iso(char *out, size_t size, int64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t s_days(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Reads exactly `n` digits at *p into *out and moves *p past them. */
static int s_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int mao_time_parse(int64_t *out, const char *text)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const char *p = text ? text : "";
    int y, mo, d, h, mi, sec = 0, oh = 0, om = 0, sign = 1;
    if (s_digits(&p, 4, &y) < 0 || *p++ != '-' || s_digits(&p, 2, &mo) < 0 || *p++ != '-' ||
        s_digits(&p, 2, &d) < 0 || (*p != 'T' && *p != 't' && *p != ' ') ||
        (p++, s_digits(&p, 2, &h)) < 0 || *p++ != ':' || s_digits(&p, 2, &mi) < 0)
        goto bad;
    if (*p == ':') {
        p++;
        if (s_digits(&p, 2, &sec) < 0)
            goto bad;
        if (*p == '.' || *p == ',') {
            p++;
            if (*p < '0' || *p > '9')
                goto bad;
            while (*p >= '0' && *p <= '9')
                p++;
        }
    }
    if (*p == 'Z' || *p == 'z')
        p++;
    else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (s_digits(&p, 2, &oh) < 0)
            goto bad;
        if (*p == ':')
            p++;
        if (s_digits(&p, 2, &om) < 0)
            goto bad;
    } else if (*p == '\0') {
        mao_error_set("time '%.64s' has no offset: add Z for UTC or one such as +01:00", text);
        return MAO_EINVAL;
    } else
        goto bad;
    if (*p)
        goto bad;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59) {
        mao_error_set("time '%.64s' is not a valid date and time", text);
        return MAO_EINVAL;
    }
    if (sec == 60)
        sec = 59; /* a leap second counts as the second before it */
    *out = s_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
    return 0;
bad:
    mao_error_set("time '%.64s' is not ISO 8601, such as 2026-11-22T02:00:00Z", text ? text : "");
    return MAO_EINVAL;
}

void mao_id_new(char out[MAO_ID_LEN + 1])
{
    unsigned char bytes[16];
    int64_t ms = mao_now_ms();

    pthread_mutex_lock(&s_lock);
    if (ms <= s_last_ms) {
        ms = s_last_ms;
        for (int i = 9; i >= 0; i--)
            if (++s_last_rand[i] != 0)
                break;
    } else {
        if (getrandom(s_last_rand, sizeof s_last_rand, 0) != (ssize_t)sizeof s_last_rand) {
            /* No entropy is not a reason to stop: fall back on the clock. */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            memcpy(s_last_rand, &ts, sizeof s_last_rand < sizeof ts ? sizeof s_last_rand
                                                                     : sizeof ts);
        }
        s_last_ms = ms;
    }
    for (int i = 0; i < 6; i++)
        bytes[i] = (unsigned char)((uint64_t)ms >> (40 - 8 * i));
    memcpy(bytes + 6, s_last_rand, 10);
    pthread_mutex_unlock(&s_lock);

    /* 128 bits as 26 base32 digits, the first carrying 3 bits. */
    int bit = -2; /* 26 * 5 = 130: two leading zero bits */
    for (int i = 0; i < MAO_ID_LEN; i++) {
        int v = 0;
        for (int b = 0; b < 5; b++, bit++) {
            v <<= 1;
            if (bit >= 0 && (bytes[bit / 8] >> (7 - bit % 8)) & 1)
                v |= 1;
        }
        out[i] = s_alphabet[v];
    }
    out[MAO_ID_LEN] = '\0';
}

int64_t mao_id_time_ms(const char *id)
{
    if (!id || strlen(id) != MAO_ID_LEN)
        return -1;
    uint64_t ms = 0;
    for (int i = 0; i < 10; i++) {
        const char *p = strchr(s_alphabet, id[i]);
        if (!p || !*p)
            return -1;
        ms = (ms << 5) | (uint64_t)(p - s_alphabet);
    }
    for (int i = 10; i < MAO_ID_LEN; i++)
        if (!strchr(s_alphabet, id[i]) || !id[i])
            return -1;
    return (int64_t)ms;
}
