/*
 * mao_tz: TZif zones and civil dates without libc's time zone state.
 *
 * A zone is loaded into a sorted array of transition instants, each with the
 * UTC offset in force from it on, plus the offset before the first one and
 * the footer's POSIX TZ rule, which governs instants after the last.  After
 * mao_tz_open() returns, nothing writes to the zone: lookups are binary
 * searches and arithmetic, safe from any number of threads.
 *
 * Local-to-UTC works on "segments": between two consecutive transitions the
 * offset is constant, so a wall-clock reading L has the candidate instant
 * L - offset in each segment, and it is a solution when it falls inside that
 * segment.  Offsets are within +-26 h, so only segments within two days of L
 * can hold one; walking them yields 0 solutions (a gap), 1, or 2 (an overlap).
 */
#include "mao_tz.h"
#include "mao_error.h"
#include "mao_fs.h"
#include "mao_name.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_DAY 86400
#define S_SPAN (2 * S_DAY) /* farther than any offset: where solutions can be */
#define S_OFF_MIN (-89999) /* RFC 8536 3.2: utoff range */
#define S_OFF_MAX 93599
#define S_COUNT_MAX (1u << 20) /* more than a 256 KiB file can hold */
#define S_FOOTER_MAX 256
#define S_WALK_MAX 64 /* segments visited by one local-to-UTC conversion */

/* When in a year a POSIX rule changes the clocks. */
typedef struct {
    char kind;    /* 'J': Julian day 1-365 without Feb 29; 'N': day 0-365; 'M': month.week.day */
    int a, b, c;  /* J, N: the day in a; M: month a (1-12), week b (1-5, 5 = last), weekday c */
    int32_t time; /* seconds after local midnight (may be negative or past 24 h) */
} s_rule_date_t;

/* A POSIX TZ rule such as "CET-1CEST,M3.5.0,M10.5.0/3". */
typedef struct {
    int32_t std_off; /* offset of standard time, seconds east */
    int32_t dst_off; /* offset of daylight time (when has_dst) */
    int has_dst;
    s_rule_date_t start; /* change to daylight time, read in standard time */
    s_rule_date_t end;   /* change back, read in daylight time */
} s_rule_t;

struct mao_tz_t {
    char name[MAO_TZ_NAME_MAX + 1];
    char key[4200];            /* folder/name: what the cache knows it by */
    long refs;                 /* openers still holding it (under s_cache_lock) */
    struct mao_tz_t *next;     /* the cache's list */
    size_t count;      /* transitions */
    int64_t *times;    /* transition instants, strictly ascending */
    int32_t *offs;     /* offset in force from times[i] on */
    int32_t first_off; /* offset before times[0] (or everywhere, without a table or rule) */
    int has_rule;      /* `rule` governs instants after the last transition */
    s_rule_t rule;
};

static const char *const s_builtin_utc[] = {"UTC", "Etc/UTC", "GMT", "Etc/GMT"};

/* ---- civil calendar (H. Hinnant's algorithms, valid for any int64 day) ---- */

static int64_t s_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t s_clamp(int64_t t)
{
    return t < MAO_TZ_TIME_MIN ? MAO_TZ_TIME_MIN : t > MAO_TZ_TIME_MAX ? MAO_TZ_TIME_MAX : t;
}

int mao_tz_is_leap(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int mao_tz_days_in_month(int64_t year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12)
        return 0;
    return days[month - 1] + (month == 2 && mao_tz_is_leap(year));
}

int64_t mao_tz_days_from_civil(int64_t year, int month, int day)
{
    /* Months outside 1-12 carry into the year, so callers may step months. */
    int64_t m0 = (int64_t)month - 1;
    year += s_floor_div(m0, 12);
    int64_t m = m0 - s_floor_div(m0, 12) * 12 + 1;

    year -= m <= 2;
    int64_t era = s_floor_div(year, 400);
    int64_t yoe = year - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void mao_tz_civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    int64_t z = days + 719468;
    int64_t era = s_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    if (year)
        *year = yoe + era * 400 + (m <= 2);
    if (month)
        *month = m;
    if (day)
        *day = (int)(doy - (153 * mp + 2) / 5 + 1);
}

int mao_tz_weekday(int64_t days)
{
    int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
    return (int)(w < 0 ? w + 7 : w);
}

void mao_tz_civil_from_seconds(mao_tz_civil_t *out, int64_t seconds)
{
    int64_t days = s_floor_div(seconds, S_DAY);
    int64_t sod = seconds - days * S_DAY;
    mao_tz_civil_from_days(days, &out->year, &out->month, &out->day);
    out->hour = (int)(sod / 3600);
    out->minute = (int)(sod / 60 % 60);
    out->second = (int)(sod % 60);
    out->wday = mao_tz_weekday(days);
}

int64_t mao_tz_seconds_from_civil(const mao_tz_civil_t *civil)
{
    return mao_tz_days_from_civil(civil->year, civil->month, civil->day) * S_DAY +
           (int64_t)civil->hour * 3600 + (int64_t)civil->minute * 60 + civil->second;
}

/* ---- POSIX TZ rules (TZif footers) ---- */

/* Day number of `date` in `year`. */
static int64_t s_rule_day(const s_rule_date_t *date, int64_t year)
{
    int64_t jan1 = mao_tz_days_from_civil(year, 1, 1);
    if (date->kind == 'J')
        return jan1 + date->a - 1 + (mao_tz_is_leap(year) && date->a >= 60);
    if (date->kind == 'N')
        return jan1 + date->a;
    int64_t first = mao_tz_days_from_civil(year, date->a, 1);
    int day = 1 + (date->c - mao_tz_weekday(first) + 7) % 7 + (date->b - 1) * 7;
    while (day > mao_tz_days_in_month(year, date->a))
        day -= 7;
    return first + day - 1;
}

/* The instants at which `rule` starts (*start) and ends (*end) daylight time
 * in `year`. */
static void s_rule_year(const s_rule_t *rule, int64_t year, int64_t *start, int64_t *end)
{
    *start = s_rule_day(&rule->start, year) * S_DAY + rule->start.time - rule->std_off;
    *end = s_rule_day(&rule->end, year) * S_DAY + rule->end.time - rule->dst_off;
}

static int32_t s_rule_offset(const s_rule_t *rule, int64_t t)
{
    if (!rule->has_dst)
        return rule->std_off;
    /* The last change at or before t decides.  Changes at the same instant are
     * ordered by year, then start before end: a year-end change followed by
     * the next year's start at the same instant (all-year daylight time) stays
     * in daylight time; a zero-length daylight period does not. */
    int64_t year;
    mao_tz_civil_from_days(s_floor_div(t, S_DAY), &year, NULL, NULL);
    int64_t best = INT64_MIN;
    int best_dst = 0;
    for (int64_t y = year - 1; y <= year + 1; y++) {
        int64_t start, end;
        s_rule_year(rule, y, &start, &end);
        if (start <= t && start >= best) {
            best = start;
            best_dst = 1;
        }
        if (end <= t && end >= best) {
            best = end;
            best_dst = 0;
        }
    }
    return best_dst ? rule->dst_off : rule->std_off;
}

/* The first change of `rule` strictly after t, in *out.  Returns 1, or 0 when
 * the rule never changes the clocks. */
static int s_rule_next(const s_rule_t *rule, int64_t t, int64_t *out)
{
    if (!rule->has_dst)
        return 0;
    int64_t year;
    mao_tz_civil_from_days(s_floor_div(t, S_DAY), &year, NULL, NULL);
    int64_t best = INT64_MAX;
    for (int64_t y = year - 1; y <= year + 2; y++) {
        int64_t start, end;
        s_rule_year(rule, y, &start, &end);
        if (start > t && start < best)
            best = start;
        if (end > t && end < best)
            best = end;
    }
    *out = best;
    return 1;
}

static int s_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int s_is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A zone abbreviation: three or more letters, or <...> holding letters,
 * digits, '+' and '-'.  Returns the end, or NULL. */
static const char *s_posix_abbr(const char *p)
{
    const char *start = p;
    if (*p == '<') {
        for (p++; s_is_alpha(*p) || s_is_digit(*p) || *p == '+' || *p == '-'; p++)
            ;
        return (*p == '>' && p - start >= 2) ? p + 1 : NULL;
    }
    while (s_is_alpha(*p))
        p++;
    return p - start >= 3 ? p : NULL;
}

/* A number of at most 3 digits within [0, max].  Returns the end, or NULL. */
static const char *s_posix_num(const char *p, int max, int *out)
{
    int n = 0, digits = 0;
    for (; s_is_digit(*p) && digits < 4; p++, digits++)
        n = n * 10 + (*p - '0');
    if (digits == 0 || digits > 3 || n > max)
        return NULL;
    *out = n;
    return p;
}

/* [+-]hh[:mm[:ss]] with hh at most `max_hours`.  Returns the end, or NULL. */
static const char *s_posix_time(const char *p, int max_hours, int32_t *out)
{
    int sign = 1, h = 0, m = 0, s = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (!(p = s_posix_num(p, max_hours, &h)))
        return NULL;
    if (*p == ':') {
        if (!(p = s_posix_num(p + 1, 59, &m)))
            return NULL;
        if (*p == ':' && !(p = s_posix_num(p + 1, 59, &s)))
            return NULL;
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return p;
}

static const char *s_posix_date(const char *p, s_rule_date_t *out)
{
    out->time = 2 * 3600;
    out->b = out->c = 0;
    if (*p == 'J') {
        out->kind = 'J';
        if (!(p = s_posix_num(p + 1, 365, &out->a)) || out->a < 1)
            return NULL;
    } else if (*p == 'M') {
        out->kind = 'M';
        if (!(p = s_posix_num(p + 1, 12, &out->a)) || out->a < 1 || *p != '.')
            return NULL;
        if (!(p = s_posix_num(p + 1, 5, &out->b)) || out->b < 1 || *p != '.')
            return NULL;
        if (!(p = s_posix_num(p + 1, 6, &out->c)))
            return NULL;
    } else {
        out->kind = 'N';
        if (!(p = s_posix_num(p, 365, &out->a)))
            return NULL;
    }
    if (*p == '/' && !(p = s_posix_time(p + 1, 167, &out->time)))
        return NULL;
    return p;
}

/* Parses a POSIX TZ string (the TZif footer) into *rule.  Returns 0 or
 * MAO_EMALFORMED with a detail. */
static int s_rule_parse(s_rule_t *rule, const char *text)
{
    int rc = MAO_EMALFORMED;
    const char *p = text;
    int32_t off;
    memset(rule, 0, sizeof *rule);

    if (!(p = s_posix_abbr(p)) || !(p = s_posix_time(p, 24, &off)))
        goto cleanup;
    rule->std_off = rule->dst_off = -off;
    if (*p == '\0') {
        rc = 0;
        goto cleanup;
    }
    if (!(p = s_posix_abbr(p)))
        goto cleanup;
    rule->has_dst = 1;
    rule->dst_off = rule->std_off + 3600;
    if (*p != ',' && *p != '\0') {
        if (!(p = s_posix_time(p, 24, &off)))
            goto cleanup;
        rule->dst_off = -off;
    }
    if (*p == '\0') {
        /* No dates: POSIX leaves the default to the implementation; glibc's
         * is the US rule, and so is ours. */
        rule->start = (s_rule_date_t){'M', 3, 2, 0, 2 * 3600};
        rule->end = (s_rule_date_t){'M', 11, 1, 0, 2 * 3600};
        rc = 0;
        goto cleanup;
    }
    if (*p != ',' || !(p = s_posix_date(p + 1, &rule->start)))
        goto cleanup;
    if (*p != ',' || !(p = s_posix_date(p + 1, &rule->end)))
        goto cleanup;
    if (*p == '\0')
        rc = 0;

cleanup:
    if (rc == 0 && (rule->std_off < S_OFF_MIN || rule->std_off > S_OFF_MAX ||
                    rule->dst_off < S_OFF_MIN || rule->dst_off > S_OFF_MAX))
        rc = MAO_EMALFORMED;
    if (rc < 0) {
        char shown[S_FOOTER_MAX + 16];
        mao_error_set("footer '%s' is not a POSIX TZ rule",
                      mao_text_quote(shown, sizeof shown, text));
    }
    return rc;
}

/* ---- lookups ---- */

int32_t mao_tz_offset(const mao_tz_t *tz, int64_t utc)
{
    if (!tz)
        return 0;
    int64_t t = s_clamp(utc);
    if (tz->count == 0)
        return tz->has_rule ? s_rule_offset(&tz->rule, t) : tz->first_off;
    if (t < tz->times[0])
        return tz->first_off;
    size_t lo = 0, hi = tz->count; /* times[lo] <= t < times[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->times[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    if (lo == tz->count - 1 && tz->has_rule && t > tz->times[lo])
        return s_rule_offset(&tz->rule, t);
    return tz->offs[lo];
}

/* The first transition strictly after t, in *out.  Returns 1, or 0 when the
 * zone has none after t. */
static int s_next_transition(const mao_tz_t *tz, int64_t t, int64_t *out)
{
    if (tz->count > 0 && t < tz->times[tz->count - 1]) {
        size_t lo = 0, hi = tz->count - 1; /* answer in [lo, hi] */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (tz->times[mid] > t)
                hi = mid;
            else
                lo = mid + 1;
        }
        *out = tz->times[lo];
        return 1;
    }
    return tz->has_rule ? s_rule_next(&tz->rule, t, out) : 0;
}

int mao_tz_local_to_utc(mao_tz_local_t *out, const mao_tz_t *tz, int64_t local)
{
    int64_t found[2] = {0, 0};
    int nfound = 0;
    int64_t overlap_at = 0, gap_at = 0, gap_before = 0, gap_after = 0;
    int gap = 0;

    if (!out) {
        mao_error_set("mao_tz_local_to_utc: out is required");
        return MAO_EINVAL;
    }
    if (local < MAO_TZ_TIME_MIN || local > MAO_TZ_TIME_MAX) {
        mao_error_set("local time %" PRId64 " is outside the supported range", local);
        return MAO_EINVAL;
    }
    memset(out, 0, sizeof *out);
    if (!tz) {
        out->kind = MAO_TZ_UNIQUE;
        out->earlier = out->later = local;
        return 0;
    }
    int64_t lo = local - S_SPAN, hi = local + S_SPAN;
    int64_t seg = lo; /* current segment: [seg, next), offset `off` */
    int32_t off = mao_tz_offset(tz, seg);
    for (int walked = 0; walked < S_WALK_MAX; walked++) {
        int64_t next = 0;
        int more = s_next_transition(tz, seg, &next) && next <= hi;
        int64_t end = more ? next : hi + 1;
        int64_t cand = local - off;
        if (cand >= seg && cand < end) {
            if (nfound == 1)
                overlap_at = seg;
            if (nfound < 2)
                found[nfound] = cand;
            else
                found[1] = cand; /* more than two: keep the first and the last */
            nfound++;
        }
        if (!more)
            break;
        int32_t off_next = mao_tz_offset(tz, next);
        if (off_next > off && local >= next + off && local < next + off_next && !gap) {
            gap = 1;
            gap_at = next;
            gap_before = off;
            gap_after = off_next;
        }
        seg = next;
        off = off_next;
    }
    if (nfound == 1) {
        out->kind = MAO_TZ_UNIQUE;
        out->earlier = out->later = found[0];
    } else if (nfound >= 2) {
        out->kind = MAO_TZ_OVERLAP;
        out->earlier = found[0];
        out->later = found[1];
        out->transition = overlap_at;
    } else if (gap) {
        out->kind = MAO_TZ_GAP;
        out->earlier = local - gap_after;
        out->later = local - gap_before;
        out->transition = gap_at;
    } else {
        mao_error_set("time zone '%s' has inconsistent data around local time %" PRId64, tz->name,
                      local);
        return MAO_EFAIL;
    }
    return 0;
}

int32_t mao_tz_to_local(mao_tz_civil_t *out, const mao_tz_t *tz, int64_t utc)
{
    int32_t off = mao_tz_offset(tz, utc);
    mao_tz_civil_from_seconds(out, utc + off);
    return off;
}

int mao_tz_format(char *out, size_t size, const mao_tz_t *tz, int64_t utc)
{
    mao_tz_civil_t c;
    int32_t off = mao_tz_to_local(&c, tz, utc);
    int32_t a = off < 0 ? -off : off;
    char zone[16];
    if (a % 60)
        snprintf(zone, sizeof zone, "%c%02d:%02d:%02d", off < 0 ? '-' : '+', (int)(a / 3600),
                 (int)(a / 60 % 60), (int)(a % 60));
    else
        snprintf(zone, sizeof zone, "%c%02d:%02d", off < 0 ? '-' : '+', (int)(a / 3600),
                 (int)(a / 60 % 60));
    int n = snprintf(out, size, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d%s", c.year, c.month, c.day,
                     c.hour, c.minute, c.second, zone);
    if (n < 0 || (size_t)n >= size) {
        mao_error_set("buffer of %zu bytes is too small for a time", size);
        return MAO_EINVAL;
    }
    return 0;
}

/* ---- names and files ---- */

static int s_name_char(char c)
{
    return s_is_alpha(c) || s_is_digit(c) || c == '_' || c == '+' || c == '-' || c == '/';
}

int mao_tz_name_check(const char *name)
{
    char shown[MAO_TZ_NAME_MAX + 32];
    const char *why = NULL;
    size_t len = name ? strnlen(name, MAO_TZ_NAME_MAX + 1) : 0;

    if (len == 0)
        why = "it is empty";
    else if (len > MAO_TZ_NAME_MAX)
        why = "it is longer than 128 characters";
    else if (name[0] == '/')
        why = "it starts with '/'";
    else if (strstr(name, ".."))
        why = "it contains '..'";
    else {
        for (size_t i = 0; i < len; i++) {
            if (!s_name_char(name[i])) {
                why = "it contains a character other than letters, digits, '_', '+', '-' and '/'";
                break;
            }
        }
    }
    if (!why)
        return 0;
    mao_error_set("invalid time zone name '%s': %s",
                  mao_text_quote(shown, sizeof shown, name ? name : ""), why);
    return MAO_EINVAL;
}

const char *mao_tz_name(const mao_tz_t *tz)
{
    return tz ? tz->name : "UTC";
}

/* Zones are immutable once loaded, so every opener of one zone shares one
 * copy: a coordinator with 100,000 schedules in Europe/Zurich holds one
 * table.  The cache is a short list (there are few zones in use). */
static pthread_mutex_t s_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static mao_tz_t *s_cache;

static void s_free(mao_tz_t *self)
{
    free(self->times);
    free(self->offs);
    free(self);
}

void mao_tz_destroy(mao_tz_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mao_tz_t *self = *self_p;
    *self_p = NULL;
    pthread_mutex_lock(&s_cache_lock);
    if (--self->refs > 0) {
        pthread_mutex_unlock(&s_cache_lock);
        return;
    }
    for (mao_tz_t **p = &s_cache; *p; p = &(*p)->next) {
        if (*p == self) {
            *p = self->next;
            break;
        }
    }
    pthread_mutex_unlock(&s_cache_lock);
    s_free(self);
}

typedef struct {
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} s_counts_t;

static uint32_t s_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t s_be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)s_be32(p) << 32 | s_be32(p + 4));
}

/* Reads a 44-byte header at `p` (`left` bytes remain) into *c and the
 * data block's size for `timesize`-byte times into *block.  Returns the
 * version byte, or MAO_EMALFORMED. */
static int s_header(s_counts_t *c, size_t *block, const unsigned char *p, size_t left,
                    size_t timesize)
{
    if (left < 44 || memcmp(p, "TZif", 4) != 0) {
        mao_error_set(left >= 4 && memcmp(p, "TZif", 4) == 0 ? "truncated header"
                                                             : "not a TZif file");
        return MAO_EMALFORMED;
    }
    c->isutcnt = s_be32(p + 20);
    c->isstdcnt = s_be32(p + 24);
    c->leapcnt = s_be32(p + 28);
    c->timecnt = s_be32(p + 32);
    c->typecnt = s_be32(p + 36);
    c->charcnt = s_be32(p + 40);
    if (c->isutcnt > S_COUNT_MAX || c->isstdcnt > S_COUNT_MAX || c->leapcnt > S_COUNT_MAX ||
        c->timecnt > S_COUNT_MAX || c->typecnt > S_COUNT_MAX || c->charcnt > S_COUNT_MAX) {
        mao_error_set("header counts are impossibly large");
        return MAO_EMALFORMED;
    }
    *block = (size_t)c->timecnt * (timesize + 1) + (size_t)c->typecnt * 6 + c->charcnt +
             (size_t)c->leapcnt * (timesize + 4) + c->isstdcnt + c->isutcnt;
    if (*block > left - 44) {
        mao_error_set("truncated data");
        return MAO_EMALFORMED;
    }
    return p[4];
}

/* Loads the data block at `p` (counts `c`, `timesize`-byte times) into tz. */
static int s_load_block(mao_tz_t *tz, const s_counts_t *c, const unsigned char *p, size_t timesize)
{
    int32_t type_off[256];
    const unsigned char *times = p;
    const unsigned char *idx = times + (size_t)c->timecnt * timesize;
    const unsigned char *types = idx + c->timecnt;

    if (c->typecnt == 0 || c->typecnt > 256) {
        mao_error_set("%" PRIu32 " local time types (1 to 256 allowed)", c->typecnt);
        return MAO_EMALFORMED;
    }
    if ((c->isstdcnt != 0 && c->isstdcnt != c->typecnt) ||
        (c->isutcnt != 0 && c->isutcnt != c->typecnt)) {
        mao_error_set("indicator counts do not match the type count");
        return MAO_EMALFORMED;
    }
    if (c->leapcnt != 0) {
        mao_error_set("leap-second data (a \"right/\" zone) is not supported");
        return MAO_EMALFORMED;
    }
    for (uint32_t i = 0; i < c->typecnt; i++) {
        const unsigned char *tt = types + (size_t)i * 6;
        int32_t off = (int32_t)s_be32(tt);
        if (off < S_OFF_MIN || off > S_OFF_MAX || tt[4] > 1 || tt[5] >= c->charcnt) {
            mao_error_set("local time type %" PRIu32 " is invalid", i);
            return MAO_EMALFORMED;
        }
        type_off[i] = off;
    }
    tz->first_off = type_off[0];
    tz->count = c->timecnt;
    if (c->timecnt == 0)
        return 0;
    tz->times = calloc(c->timecnt, sizeof *tz->times);
    tz->offs = calloc(c->timecnt, sizeof *tz->offs);
    if (!tz->times || !tz->offs) {
        mao_error_set("out of memory");
        return MAO_ENOMEM;
    }
    for (uint32_t i = 0; i < c->timecnt; i++) {
        const unsigned char *tp = times + (size_t)i * timesize;
        int64_t t = timesize == 8 ? s_be64(tp) : (int64_t)(int32_t)s_be32(tp);
        if (i > 0 && t <= tz->times[i - 1]) {
            mao_error_set("transition times are not in ascending order");
            return MAO_EMALFORMED;
        }
        if (idx[i] >= c->typecnt) {
            mao_error_set("transition %" PRIu32 " names a missing type", i);
            return MAO_EMALFORMED;
        }
        tz->times[i] = t;
        tz->offs[i] = type_off[idx[i]];
    }
    return 0;
}

/* Parses a whole TZif file (version 1, or 2 and later with 64-bit data and a
 * footer) into tz.  Returns 0, MAO_EMALFORMED or MAO_ENOMEM with a detail. */
static int s_parse(mao_tz_t *tz, const unsigned char *data, size_t len)
{
    s_counts_t c;
    size_t block;
    int version = s_header(&c, &block, data, len, 4);
    if (version < 0)
        return version;
    if (version == 0)
        return s_load_block(tz, &c, data + 44, 4);

    /* Version 2+: skip the 32-bit block, read the 64-bit one and the footer. */
    size_t at = 44 + block;
    int rc = s_header(&c, &block, data + at, len - at, 8);
    if (rc < 0)
        return rc;
    if ((rc = s_load_block(tz, &c, data + at + 44, 8)) < 0)
        return rc;
    at += 44 + block;
    if (at >= len || data[at] != '\n') {
        mao_error_set("footer is missing");
        return MAO_EMALFORMED;
    }
    const unsigned char *start = data + at + 1;
    const unsigned char *nl = memchr(start, '\n', len - at - 1);
    if (!nl || nl - start > S_FOOTER_MAX) {
        mao_error_set("footer is unterminated or longer than %d bytes", S_FOOTER_MAX);
        return MAO_EMALFORMED;
    }
    if (nl == start)
        return 0; /* empty footer: no rule */
    char footer[S_FOOTER_MAX + 1];
    memcpy(footer, start, (size_t)(nl - start));
    footer[nl - start] = '\0';
    if ((rc = s_rule_parse(&tz->rule, footer)) < 0)
        return rc;
    tz->has_rule = 1;
    return 0;
}

static int s_load(mao_tz_t **out, const char *dir, const char *name);

int mao_tz_open_dir(mao_tz_t **out, const char *dir, const char *name)
{
    char key[4200];
    mao_tz_t *tz = NULL;
    int rc;
    if (!out || !dir || !name) {
        mao_error_set("mao_tz_open_dir: out, dir and name are required");
        return MAO_EINVAL;
    }
    *out = NULL;
    snprintf(key, sizeof key, "%s/%s", dir, name);
    pthread_mutex_lock(&s_cache_lock);
    for (mao_tz_t *z = s_cache; z; z = z->next) {
        if (strcmp(z->key, key) == 0) {
            z->refs++;
            *out = z;
            break;
        }
    }
    pthread_mutex_unlock(&s_cache_lock);
    if (*out)
        return 0;
    if ((rc = s_load(&tz, dir, name)) < 0)
        return rc;
    snprintf(tz->key, sizeof tz->key, "%s", key);
    pthread_mutex_lock(&s_cache_lock);
    for (mao_tz_t *z = s_cache; z; z = z->next) {
        if (strcmp(z->key, key) == 0) { /* another thread loaded it meanwhile */
            z->refs++;
            *out = z;
            break;
        }
    }
    if (!*out) {
        tz->refs = 1;
        tz->next = s_cache;
        s_cache = tz;
        *out = tz;
        tz = NULL;
    }
    pthread_mutex_unlock(&s_cache_lock);
    if (tz)
        s_free(tz);
    return 0;
}

static int s_load(mao_tz_t **out, const char *dir, const char *name)
{
    int rc;
    char path[4096];
    char *data = NULL;
    size_t len = 0;
    struct stat st;
    mao_tz_t *tz = NULL;

    if (!out || !dir) {
        mao_error_set("mao_tz_open_dir: out and dir are required");
        return MAO_EINVAL;
    }
    *out = NULL;
    if ((rc = mao_tz_name_check(name)) < 0)
        goto cleanup;
    if (!(tz = calloc(1, sizeof *tz))) {
        mao_error_set("out of memory");
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    memcpy(tz->name, name, strlen(name) + 1);
    for (size_t i = 0; i < sizeof s_builtin_utc / sizeof s_builtin_utc[0]; i++) {
        if (strcmp(name, s_builtin_utc[i]) == 0) {
            rc = 0; /* offset 0 everywhere: no table, no rule */
            goto cleanup;
        }
    }
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        mao_error_set("time zone folder '%s' is too long", dir);
        rc = MAO_EINVAL;
        goto cleanup;
    }
    if (stat(path, &st) < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            mao_error_set("unknown time zone '%s' (no such file in %s)", name, dir);
            rc = MAO_ENOTFOUND;
        } else {
            mao_error_set("cannot read time zone file '%s': %s", path, strerror(errno));
            rc = MAO_EFAIL;
        }
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        mao_error_set("unknown time zone '%s' (%s is not a zone file)", name, path);
        rc = MAO_ENOTFOUND;
        goto cleanup;
    }
    if (st.st_size > MAO_TZ_FILE_MAX) {
        mao_error_set("time zone file '%s' is larger than %d bytes", path, MAO_TZ_FILE_MAX);
        rc = MAO_EMALFORMED;
        goto cleanup;
    }
    if ((rc = mao_fs_read(path, MAO_TZ_FILE_MAX, &data, &len)) < 0) {
        if (rc == MAO_EINVAL)
            rc = MAO_EMALFORMED; /* grew past the limit since stat() */
        goto cleanup;
    }
    if ((rc = s_parse(tz, (const unsigned char *)data, len)) < 0) {
        mao_error_prefix("time zone file '%s'", path);
        goto cleanup;
    }

cleanup:
    free(data);
    if (rc < 0 && tz) {
        s_free(tz); /* never shared: not in the cache yet */
        tz = NULL;
    }
    *out = tz;
    return rc;
}

int mao_tz_open(mao_tz_t **out, const char *name)
{
    const char *dir = getenv("TZDIR");
    return mao_tz_open_dir(out, dir && *dir ? dir : MAO_TZ_DIR_DEFAULT, name);
}
