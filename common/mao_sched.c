/*
 * mao_sched: cron expressions, intervals, triggers and jitter.
 *
 * Cron fields are bitsets.  Parsing fills them and refuses a spec whose
 * days of the month occur in none of its months (the only way five valid
 * fields can never fire).  mao_sched_next() walks local calendar days from
 * `after`, jumping over whole months that are not selected and visiting only
 * the selected hours and minutes of a matching day.  Each visited local
 * minute M maps to its fire instant f(M): its only or its first occurrence,
 * or the end of the gap that swallowed it.  f never decreases as M grows,
 * so the first visited minute with f(M) > after is the answer, and gap
 * minutes that all map to the same instant fire once.
 */
#include "mao_sched.h"
#include "mao_error.h"
#include "mao_name.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_DAY 86400
#define S_SHOWN 96 /* bytes of user input repeated in a message */

/* What each cron field allows, in field order. */
typedef struct {
    const char *name;         /* as messages name it */
    int min, max;             /* allowed numbers */
    const char *const *names; /* three-letter names, or NULL */
    int names_base;           /* the value of names[0] */
    const char *names_hint;   /* how messages describe the names */
} s_field_t;

static const char *const s_month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                            "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const s_day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

static const s_field_t s_fields[5] = {
    {"minute", 0, 59, NULL, 0, NULL},
    {"hour", 0, 23, NULL, 0, NULL},
    {"day-of-month", 1, 31, NULL, 0, NULL},
    {"month", 1, 12, s_month_names, 1, "a month name (JAN-DEC)"},
    {"day-of-week", 0, 7, s_day_names, 0, "a day name (SUN-SAT)"},
};

static const struct {
    const char *name;
    const char *expr;
} s_macros[] = {
    {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
};

static int s_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int s_is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int s_is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* 1 when `text` holds a byte below 0x20 other than tab, or 0x7f. */
static int s_has_control(const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return 1;
    return 0;
}

/* Copies `text` without surrounding spaces into buf (`size` bytes).  Returns
 * 0, or MAO_EINVAL with a detail naming `what` when it is longer than `max`
 * or holds control characters. */
static int s_trim_copy(char *buf, size_t size, const char *text, size_t max, const char *what)
{
    size_t len = strnlen(text, max + 1);
    if (len > max) {
        mao_error_set("%s is longer than %zu characters", what, max);
        return MAO_EINVAL;
    }
    if (s_has_control(text)) {
        mao_error_set("%s contains a control character", what);
        return MAO_EINVAL;
    }
    while (len > 0 && s_is_space(*text)) {
        text++;
        len--;
    }
    while (len > 0 && s_is_space(text[len - 1]))
        len--;
    if (len >= size) {
        mao_error_set("%s is too long", what);
        return MAO_EINVAL;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    return 0;
}

/* Sets "cron field N (name) <message>" and returns MAO_EINVAL. */
__attribute__((format(printf, 2, 3))) static int s_field_error(int index, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    mao_error_set("cron field %d (%s) %s", index + 1, s_fields[index].name, message);
    return MAO_EINVAL;
}

/* Reads a number or a name of field `index` at *p into *out and moves *p
 * past it.  `element` is the list element being read, for messages. */
static int s_value(int *out, const char **p, int index, const char *element)
{
    const s_field_t *f = &s_fields[index];
    const char *q = *p;
    char shown[S_SHOWN];

    if (s_is_digit(*q)) {
        long v = 0;
        size_t digits = 0;
        for (; s_is_digit(q[digits]); digits++)
            if (digits < 6)
                v = v * 10 + (q[digits] - '0');
        if (digits > 6 || v < f->min || v > f->max)
            return s_field_error(index, "value %.*s is out of range %d-%d",
                                 digits < 16 ? (int)digits : 16, q, f->min, f->max);
        *out = (int)v;
        *p = q + digits;
        return 0;
    }
    if (s_is_alpha(*q)) {
        size_t len = 0;
        while (s_is_alpha(q[len]))
            len++;
        if (f->names && len == 3) {
            int count = index == 3 ? 12 : 7;
            for (int i = 0; i < count; i++) {
                if (strncasecmp(q, f->names[i], 3) == 0) {
                    *out = f->names_base + i;
                    *p = q + 3;
                    return 0;
                }
            }
        }
        char word[S_SHOWN];
        size_t n = len < sizeof word ? len : sizeof word - 1;
        memcpy(word, q, n);
        word[n] = '\0';
        mao_text_quote(shown, sizeof shown, word);
        if (f->names)
            return s_field_error(index, "'%s' is not a number or %s", shown, f->names_hint);
        return s_field_error(index, "'%s' is not a number", shown);
    }
    mao_text_quote(shown, sizeof shown, element);
    if (*q == '\0' || *q == '-' || *q == '/')
        return s_field_error(index, "element '%s' is missing a value", shown);
    return s_field_error(index, "element '%s' has an unexpected character '%c'", shown, *q);
}

/* Adds the values of one list element (NUL-terminated) of field `index` to
 * *bits; `alone` when it is the whole field.  A star sets *star to its step. */
static int s_element(uint64_t *bits, uint8_t *star, int index, const char *element, int alone)
{
    const s_field_t *f = &s_fields[index];
    const char *p = element;
    char shown[S_SHOWN];
    int lo, hi, step = 1, is_star = 0, ranged = 0, rc;

    if (*p == '*') {
        if (!alone)
            return s_field_error(index, "'*' must be the whole field, not part of a list");
        is_star = 1;
        lo = f->min;
        hi = f->max;
        p++;
    } else {
        if ((rc = s_value(&lo, &p, index, element)) < 0)
            return rc;
        hi = lo;
        if (*p == '-') {
            p++;
            if ((rc = s_value(&hi, &p, index, element)) < 0)
                return rc;
            if (hi < lo)
                return s_field_error(index, "range %d-%d is reversed (write the smaller end first)",
                                     lo, hi);
            ranged = 1;
        }
    }
    if (*p == '/') {
        const char *digits = ++p;
        long v = 0;
        while (s_is_digit(*p) && p - digits < 6)
            v = v * 10 + (*p++ - '0');
        if (p == digits)
            return s_field_error(index, "element '%s' is missing a step after '/'",
                                 mao_text_quote(shown, sizeof shown, element));
        if (s_is_digit(*p) || v < 1 || v > f->max) {
            while (s_is_digit(*p))
                p++;
            return s_field_error(index, "step %.*s is out of range 1-%d", (int)(p - digits), digits,
                                 f->max);
        }
        step = (int)v;
        if (!is_star && !ranged)
            hi = f->max; /* "a/n": a through the field's maximum */
    }
    if (*p != '\0')
        return s_field_error(index, "element '%s' has unexpected text '%s'",
                             mao_text_quote(shown, sizeof shown, element), p);
    for (int v = lo; v <= hi; v += step)
        *bits |= UINT64_C(1) << (index == 4 && v == 7 ? 0 : v);
    if (is_star)
        *star = (uint8_t)step;
    return 0;
}

/* Parses field `index` from `text` (writable; split in place) into *bits and
 * *star (0 unless the field is a star). */
static int s_field(uint64_t *bits, uint8_t *star, int index, char *text)
{
    int alone = strchr(text, ',') == NULL;
    int rc;
    *bits = 0;
    *star = 0;
    for (char *element = text;;) {
        char *comma = strchr(element, ',');
        if (comma)
            *comma = '\0';
        if (*element == '\0')
            return s_field_error(index, "has an empty list element");
        if ((rc = s_element(bits, star, index, element, alone)) < 0)
            return rc;
        if (!comma)
            return 0;
        element = comma + 1;
    }
}

/* 1 when some selected day of the month exists in some selected month
 * (February counted with 29 days). */
static int s_days_exist(const mao_sched_cron_t *c)
{
    for (int m = 1; m <= 12; m++) {
        if (!(c->month >> m & 1))
            continue;
        int last = mao_tz_days_in_month(2000, m);              /* a leap year */
        uint32_t days = (uint32_t)((UINT64_C(2) << last) - 2); /* bits 1..last */
        if (c->mday & days)
            return 1;
    }
    return 0;
}

/* Whether `c` selects the day with day of month `mday` and weekday `wday`. */
static int s_day_matches(const mao_sched_cron_t *c, int mday, int wday)
{
    int dom = (int)(c->mday >> mday & 1), dow = (int)(c->wday >> wday & 1);
    if (c->mday_star || c->wday_star)
        return dom && dow;
    return dom || dow;
}

int mao_sched_cron_parse(mao_sched_cron_t *out, const char *expr)
{
    char buf[MAO_SCHED_EXPR_MAX + 1];
    char shown[S_SHOWN];
    char *fields[5];
    int nfields = 0, rc;
    mao_sched_cron_t c;

    if (!out || !expr) {
        mao_error_set("cron expression is missing");
        return MAO_EINVAL;
    }
    if ((rc = s_trim_copy(buf, sizeof buf, expr, MAO_SCHED_EXPR_MAX, "cron expression")) < 0)
        return rc;
    for (char *p = buf; *p;) {
        while (s_is_space(*p))
            *p++ = '\0';
        if (!*p)
            break;
        if (nfields < 5)
            fields[nfields] = p;
        nfields++;
        while (*p && !s_is_space(*p))
            p++;
    }
    if (nfields == 0) {
        mao_error_set("cron expression is empty");
        return MAO_EINVAL;
    }
    if (fields[0][0] == '@') {
        mao_text_quote(shown, sizeof shown, fields[0]);
        if (nfields > 1) {
            mao_error_set("cron macro '%s' must stand alone", shown);
            return MAO_EINVAL;
        }
        for (size_t i = 0; i < sizeof s_macros / sizeof s_macros[0]; i++)
            if (strcasecmp(fields[0], s_macros[i].name) == 0)
                return mao_sched_cron_parse(out, s_macros[i].expr);
        if (strcasecmp(fields[0], "@reboot") == 0)
            mao_error_set("cron macro '@reboot' is not supported: mao runs periodic schedules");
        else
            mao_error_set("unknown cron macro '%s' (known: @hourly, @daily, @midnight, @weekly, "
                          "@monthly, @yearly, @annually)",
                          shown);
        return MAO_EINVAL;
    }
    if (nfields != 5) {
        mao_error_set("cron expression has %d field%s; it needs 5: minute hour day-of-month month "
                      "day-of-week",
                      nfields, nfields == 1 ? "" : "s");
        return MAO_EINVAL;
    }
    memset(&c, 0, sizeof c);
    uint64_t bits[5];
    uint8_t star[5];
    for (int i = 0; i < 5; i++)
        if ((rc = s_field(&bits[i], &star[i], i, fields[i])) < 0)
            return rc;
    c.minute = bits[0];
    c.hour = (uint32_t)bits[1];
    c.mday = (uint32_t)bits[2];
    c.month = (uint16_t)bits[3];
    c.wday = (uint8_t)bits[4];
    c.mday_star = star[2];
    c.wday_star = star[4];
    if ((c.mday_star || c.wday_star) && !s_days_exist(&c)) {
        mao_error_set("cron expression '%s' never fires: none of its days of the month (field 3) "
                      "occurs in its months (field 4)",
                      mao_text_quote(shown, sizeof shown, expr));
        return MAO_EINVAL;
    }
    memset(out, 0, sizeof *out);
    *out = c;
    return 0;
}

/* ---- rendering ---- */

/* Appends printf output at out[*len]; returns -1 when it does not fit. */
__attribute__((format(printf, 4, 5))) static int s_append(char *out, size_t size, size_t *len,
                                                          const char *fmt, ...)
{
    va_list ap;
    if (*len >= size)
        return -1;
    va_start(ap, fmt);
    int n = vsnprintf(out + *len, size - *len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size - *len)
        return -1;
    *len += (size_t)n;
    return 0;
}

/* Appends field `index` with values `bits`.  `star` > 0 renders a star with
 * that step; otherwise minute, hour and month render as a star when their
 * values are exactly what a star with a step gives (for them it means the
 * same), and everything else as a range with a step or a list of ranges. */
static int s_render_field(char *out, size_t size, size_t *len, int index, uint64_t bits, int star)
{
    const s_field_t *f = &s_fields[index];
    int max = index == 4 ? 6 : f->max;
    int values[64], n = 0;

    for (int v = f->min; v <= max; v++)
        if (bits >> v & 1)
            values[n++] = v;
    if (n == 0)
        return s_append(out, size, len, "?"); /* unreachable for parsed values */
    int step = n >= 2 ? values[1] - values[0] : 0;
    int even = n >= 2;
    for (int i = 2; i < n && even; i++)
        even = values[i] - values[i - 1] == step;
    if (index != 2 && index != 4 && even && values[0] == f->min && values[n - 1] + step > max)
        star = step;
    if (star)
        return star == 1 ? s_append(out, size, len, "*") : s_append(out, size, len, "*/%d", star);
    if (even && n >= 3 && step >= 2)
        return s_append(out, size, len, "%d-%d/%d", values[0], values[n - 1], step);
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && values[j + 1] == values[j] + 1)
            j++;
        const char *sep = i ? "," : "";
        int rc = j - i >= 2   ? s_append(out, size, len, "%s%d-%d", sep, values[i], values[j])
                 : j - i == 1 ? s_append(out, size, len, "%s%d,%d", sep, values[i], values[j])
                              : s_append(out, size, len, "%s%d", sep, values[i]);
        if (rc < 0)
            return rc;
        i = j + 1;
    }
    return 0;
}

int mao_sched_cron_format(char *out, size_t size, const mao_sched_cron_t *cron)
{
    size_t len = 0;
    uint64_t bits[5];
    int star[5] = {0, 0, 0, 0, 0};

    if (!out || !cron || size == 0) {
        mao_error_set("mao_sched_cron_format: no buffer or no expression");
        return MAO_EINVAL;
    }
    out[0] = '\0';
    bits[0] = cron->minute;
    bits[1] = cron->hour;
    bits[2] = cron->mday;
    bits[3] = cron->month;
    bits[4] = cron->wday;
    star[2] = cron->mday_star;
    star[4] = cron->wday_star;
    for (int i = 0; i < 5; i++) {
        if ((i > 0 && s_append(out, size, &len, " ") < 0) ||
            s_render_field(out, size, &len, i, bits[i], star[i]) < 0) {
            mao_error_set("buffer of %zu bytes is too small for a cron expression", size);
            return MAO_EINVAL;
        }
    }
    return 0;
}

/* ---- next fire ---- */

/* The fire instant of local minute `local` in tz: its only or first
 * occurrence, or the end of the gap it falls in. */
static int s_fire(int64_t *out, const mao_tz_t *tz, int64_t local)
{
    mao_tz_local_t at;
    int rc = mao_tz_local_to_utc(&at, tz, local);
    if (rc < 0)
        return rc;
    *out = at.kind == MAO_TZ_GAP ? at.transition : at.earlier;
    return 0;
}

static int s_check_instant(int64_t t, const char *what)
{
    if (t >= MAO_SCHED_TIME_MIN && t <= MAO_SCHED_TIME_MAX)
        return 0;
    mao_error_set("%s %" PRId64 " is outside years 1-9999", what, t);
    return MAO_EINVAL;
}

int mao_sched_next(int64_t *out, const mao_sched_cron_t *cron, const mao_tz_t *tz, int64_t after)
{
    static const uint64_t valid[5] = {(UINT64_C(1) << 60) - 1, 0xffffff, 0xfffffffe, 0x1ffe, 0x7f};
    int rc;

    if (!out || !cron) {
        mao_error_set("mao_sched_next: out and cron are required");
        return MAO_EINVAL;
    }
    if ((rc = s_check_instant(after, "instant")) < 0)
        return rc;
    const uint64_t bits[5] = {cron->minute, cron->hour, cron->mday, cron->month, cron->wday};
    for (int i = 0; i < 5; i++)
        if (!(bits[i] & valid[i]))
            return s_field_error(i, "allows no value");

    /* Start at the local minute holding `after`: every earlier minute fires
     * at or before `after` (f never decreases). */
    int64_t local = after + mao_tz_offset(tz, after);
    int64_t day = local / S_DAY - (local % S_DAY < 0);
    int start = (int)((local - day * S_DAY) / 60); /* minute of the day */
    int64_t year;
    int month, mday;
    mao_tz_civil_from_days(day, &year, &month, &mday);

    for (int64_t last = day + MAO_SCHED_HORIZON_DAYS; day <= last;) {
        int dim = mao_tz_days_in_month(year, month);
        if (!(cron->month >> month & 1)) {
            day += dim - mday + 1; /* the 1st of the next month */
            mday = dim + 1;
        } else if (s_day_matches(cron, mday, mao_tz_weekday(day))) {
            for (int h = start / 60; h < 24; h++) {
                if (!(cron->hour >> h & 1))
                    continue;
                int from = h == start / 60 ? start % 60 : 0;
                uint64_t minutes = cron->minute & valid[0] & (~UINT64_C(0) << from);
                for (; minutes; minutes &= minutes - 1) {
                    int m = __builtin_ctzll(minutes);
                    int64_t fire;
                    if ((rc = s_fire(&fire, tz, day * S_DAY + h * 3600 + m * 60)) < 0)
                        return rc;
                    if (fire <= after)
                        continue;
                    if (fire > MAO_SCHED_TIME_MAX) {
                        /* An instant no caller could pass back as `after`. */
                        mao_error_set("cron does not fire again before the year 10000");
                        return MAO_ENOTFOUND;
                    }
                    *out = fire;
                    return 0;
                }
            }
            day++;
            mday++;
        } else {
            day++;
            mday++;
        }
        start = 0;
        if (mday > dim) {
            mday = 1;
            if (++month > 12) {
                month = 1;
                year++;
            }
        }
    }
    char expr[MAO_SCHED_EXPR_MAX], when[64];
    if (mao_sched_cron_format(expr, sizeof expr, cron) < 0)
        expr[0] = '\0';
    if (mao_tz_format(when, sizeof when, tz, after) < 0)
        when[0] = '\0';
    mao_error_set("cron '%s' in %s never fires within 400 years after %s", expr, mao_tz_name(tz),
                  when);
    return MAO_ENOTFOUND;
}

/* ---- intervals ---- */

int mao_sched_duration_parse(int64_t *out, const char *text)
{
    static const struct {
        char unit;
        int64_t seconds;
    } units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
    char shown[S_SHOWN];
    int64_t total = 0;
    size_t next_unit = 0;

    if (!out || !text || !*text) {
        mao_error_set("duration is empty");
        return MAO_EINVAL;
    }
    mao_text_quote(shown, sizeof shown, text);
    for (const char *p = text; *p;) {
        if (!s_is_digit(*p)) {
            mao_error_set("duration '%s' is not like 90s, 15m, 1h30m or 2d", shown);
            return MAO_EINVAL;
        }
        int64_t n = 0;
        int digits = 0;
        for (; s_is_digit(*p); p++, digits++)
            if (digits < 10)
                n = n * 10 + (*p - '0');
        if (*p == '\0') {
            mao_error_set("duration '%s' lacks a unit after its last number (d, h, m or s)", shown);
            return MAO_EINVAL;
        }
        size_t u = 0;
        while (u < sizeof units / sizeof units[0] && units[u].unit != *p)
            u++;
        if (u == sizeof units / sizeof units[0]) {
            mao_error_set("duration '%s' has an unknown unit '%c' (use d, h, m or s)", shown, *p);
            return MAO_EINVAL;
        }
        if (u < next_unit) {
            mao_error_set("duration '%s': units must go from largest to smallest (d, h, m, s), "
                          "each at most once",
                          shown);
            return MAO_EINVAL;
        }
        if (digits > 9 || (total += n * units[u].seconds) > MAO_SCHED_INTERVAL_MAX) {
            mao_error_set("duration '%s' is longer than 366 days", shown);
            return MAO_EINVAL;
        }
        next_unit = u + 1;
        p++;
    }
    *out = total;
    return 0;
}

int mao_sched_duration_format(char *out, size_t size, int64_t seconds)
{
    size_t len = 0;
    int rc = 0;

    if (!out || size == 0 || seconds < 0 || seconds > MAO_SCHED_INTERVAL_MAX) {
        mao_error_set("duration %" PRId64 " s cannot be written", seconds);
        return MAO_EINVAL;
    }
    out[0] = '\0';
    if (seconds == 0)
        rc = s_append(out, size, &len, "0s");
    if (rc == 0 && seconds >= 86400)
        rc = s_append(out, size, &len, "%" PRId64 "d", seconds / 86400);
    if (rc == 0 && seconds % 86400 >= 3600)
        rc = s_append(out, size, &len, "%" PRId64 "h", seconds % 86400 / 3600);
    if (rc == 0 && seconds % 3600 >= 60)
        rc = s_append(out, size, &len, "%" PRId64 "m", seconds % 3600 / 60);
    if (rc == 0 && seconds % 60)
        rc = s_append(out, size, &len, "%" PRId64 "s", seconds % 60);
    if (rc < 0) {
        mao_error_set("buffer of %zu bytes is too small for a duration", size);
        return MAO_EINVAL;
    }
    return 0;
}

/* Case-insensitive: does `text` start with the word `word` (followed by the
 * end or a space)? */
static int s_word(const char *text, const char *word)
{
    size_t n = strlen(word);
    return strncasecmp(text, word, n) == 0 && (text[n] == '\0' || s_is_space(text[n]));
}

/* An interval of at least one second from duration `text`. */
static int s_every(int64_t *out, const char *text)
{
    int rc = mao_sched_duration_parse(out, text);
    if (rc == 0 && *out < 1) {
        mao_error_set("interval must be at least 1 second");
        rc = MAO_EINVAL;
    }
    return rc;
}

int mao_sched_interval_parse(int64_t *out, const char *text)
{
    char buf[MAO_SCHED_TEXT_MAX + 1];
    char shown[S_SHOWN];
    int rc;

    if (!out || !text) {
        mao_error_set("interval is missing");
        return MAO_EINVAL;
    }
    if ((rc = s_trim_copy(buf, sizeof buf, text, MAO_SCHED_TEXT_MAX, "interval")) < 0)
        return rc;
    if (strcasecmp(buf, "daily") == 0) {
        *out = 86400;
        return 0;
    }
    if (strcasecmp(buf, "weekly") == 0) {
        *out = 7 * 86400;
        return 0;
    }
    if (s_word(buf, "every")) {
        const char *p = buf + 5;
        while (s_is_space(*p))
            p++;
        if (!*p) {
            mao_error_set("'every' needs a duration, e.g. every 15m");
            return MAO_EINVAL;
        }
        return s_every(out, p);
    }
    mao_error_set("'%s' is not an interval: use daily, weekly or every DURATION (e.g. every 15m)",
                  mao_text_quote(shown, sizeof shown, buf));
    return MAO_EINVAL;
}

int mao_sched_interval_next(int64_t *out, int64_t interval, int64_t anchor, int64_t after)
{
    int rc;
    if (!out || interval < 1 || interval > MAO_SCHED_INTERVAL_MAX) {
        mao_error_set("interval %" PRId64 " s is outside 1 s to 366 days", interval);
        return MAO_EINVAL;
    }
    if ((rc = s_check_instant(anchor, "anchor")) < 0 ||
        (rc = s_check_instant(after, "instant")) < 0)
        return rc;
    int64_t fire = after < anchor ? anchor : anchor + ((after - anchor) / interval + 1) * interval;
    if (fire > MAO_SCHED_TIME_MAX) {
        mao_error_set("the interval's next run would be after the year 9999");
        return MAO_ENOTFOUND;
    }
    *out = fire;
    return 0;
}

/* ---- triggers ---- */

struct mao_sched_trigger_t {
    mao_sched_kind_t kind;
    int64_t interval;      /* MAO_SCHED_INTERVAL: seconds between fires */
    mao_sched_cron_t cron; /* MAO_SCHED_CRON: the expression */
    mao_tz_t *tz;          /* MAO_SCHED_CRON: its zone, owned, never NULL; else NULL */
};

int mao_sched_trigger_new(mao_sched_trigger_t **out, mao_sched_kind_t kind, const char *expr,
                          const char *tz)
{
    int rc;
    char buf[MAO_SCHED_TEXT_MAX + 1];
    mao_sched_trigger_t *self = NULL;

    if (!out) {
        mao_error_set("mao_sched_trigger_new: out is required");
        return MAO_EINVAL;
    }
    *out = NULL;
    if (!expr) {
        mao_error_set("schedule expression is missing");
        return MAO_EINVAL;
    }
    if (!(self = calloc(1, sizeof *self))) {
        mao_error_set("out of memory");
        return MAO_ENOMEM;
    }
    self->kind = kind;
    if (kind == MAO_SCHED_INTERVAL) {
        if (tz && *tz) {
            mao_error_set("a time zone applies only to cron schedules; daily, weekly and every "
                          "count elapsed time");
            rc = MAO_EINVAL;
            goto cleanup;
        }
        if ((rc = s_trim_copy(buf, sizeof buf, expr, MAO_SCHED_TEXT_MAX, "interval")) < 0)
            goto cleanup;
        rc = s_is_digit(buf[0]) ? s_every(&self->interval, buf)
                                : mao_sched_interval_parse(&self->interval, buf);
    } else if (kind == MAO_SCHED_CRON) {
        if ((rc = mao_sched_cron_parse(&self->cron, expr)) < 0)
            goto cleanup;
        rc = mao_tz_open(&self->tz, tz && *tz ? tz : "UTC");
    } else {
        mao_error_set("unknown schedule kind %d", (int)kind);
        rc = MAO_EINVAL;
    }

cleanup:
    if (rc < 0)
        mao_sched_trigger_destroy(&self);
    *out = self;
    return rc;
}

int mao_sched_trigger_parse(mao_sched_trigger_t **out, const char *text)
{
    char buf[MAO_SCHED_TEXT_MAX + 1];
    char shown[S_SHOWN];
    int rc;

    if (!out) {
        mao_error_set("mao_sched_trigger_parse: out is required");
        return MAO_EINVAL;
    }
    *out = NULL;
    if (!text) {
        mao_error_set("schedule is missing");
        return MAO_EINVAL;
    }
    if ((rc = s_trim_copy(buf, sizeof buf, text, MAO_SCHED_TEXT_MAX, "schedule")) < 0)
        return rc;
    if (strncasecmp(buf, "cron:", 5) == 0) {
        char *p = buf + 5, *zone = NULL;
        while (s_is_space(*p))
            p++;
        if (strncasecmp(p, "TZ=", 3) == 0)
            zone = p + 3;
        else if (strncasecmp(p, "CRON_TZ=", 8) == 0)
            zone = p + 8;
        if (zone) {
            for (p = zone; *p && !s_is_space(*p); p++)
                ;
            if (*p)
                *p++ = '\0';
            if (!*zone) {
                mao_error_set("schedule '%s' has an empty TZ=",
                              mao_text_quote(shown, sizeof shown, text));
                return MAO_EINVAL;
            }
        }
        return mao_sched_trigger_new(out, MAO_SCHED_CRON, p, zone);
    }
    if (s_word(buf, "daily") || s_word(buf, "weekly") || s_word(buf, "every"))
        return mao_sched_trigger_new(out, MAO_SCHED_INTERVAL, buf, NULL);
    mao_text_quote(shown, sizeof shown, buf);
    if (buf[0] == '@' || buf[0] == '*' || s_is_digit(buf[0]))
        mao_error_set("unknown schedule '%s': a cron expression needs the prefix cron:, as in "
                      "'cron:%s'",
                      shown, shown);
    else
        mao_error_set("unknown schedule '%s': use daily, weekly, every DURATION (e.g. every 15m) "
                      "or cron:EXPRESSION (e.g. cron:0 2 * * *)",
                      shown);
    return MAO_EINVAL;
}

void mao_sched_trigger_destroy(mao_sched_trigger_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mao_tz_destroy(&(*self_p)->tz);
    free(*self_p);
    *self_p = NULL;
}

mao_sched_kind_t mao_sched_trigger_kind(const mao_sched_trigger_t *self)
{
    return self->kind;
}

int64_t mao_sched_trigger_interval(const mao_sched_trigger_t *self)
{
    return self->kind == MAO_SCHED_INTERVAL ? self->interval : 0;
}

const mao_sched_cron_t *mao_sched_trigger_cron(const mao_sched_trigger_t *self)
{
    return self->kind == MAO_SCHED_CRON ? &self->cron : NULL;
}

const mao_tz_t *mao_sched_trigger_tz(const mao_sched_trigger_t *self)
{
    return self->kind == MAO_SCHED_CRON ? self->tz : NULL;
}

const char *mao_sched_kind_name(mao_sched_kind_t kind)
{
    return kind == MAO_SCHED_INTERVAL ? "interval" : kind == MAO_SCHED_CRON ? "cron" : "unknown";
}

int mao_sched_trigger_format(char *out, size_t size, const mao_sched_trigger_t *self)
{
    char part[MAO_SCHED_EXPR_MAX];
    size_t len = 0;
    int rc;

    if (!out || size == 0 || !self) {
        mao_error_set("mao_sched_trigger_format: no buffer or no trigger");
        return MAO_EINVAL;
    }
    out[0] = '\0';
    if (self->kind == MAO_SCHED_INTERVAL) {
        if (self->interval == 86400)
            rc = s_append(out, size, &len, "daily");
        else if (self->interval == 7 * 86400)
            rc = s_append(out, size, &len, "weekly");
        else if ((rc = mao_sched_duration_format(part, sizeof part, self->interval)) == 0)
            rc = s_append(out, size, &len, "every %s", part);
    } else {
        const char *zone = mao_tz_name(self->tz);
        if ((rc = mao_sched_cron_format(part, sizeof part, &self->cron)) == 0)
            rc = strcmp(zone, "UTC") == 0 ? s_append(out, size, &len, "cron:%s", part)
                                          : s_append(out, size, &len, "cron:TZ=%s %s", zone, part);
    }
    if (rc < 0) {
        mao_error_set("buffer of %zu bytes is too small for a schedule", size);
        return MAO_EINVAL;
    }
    return 0;
}

int mao_sched_trigger_next(int64_t *out, const mao_sched_trigger_t *self, int64_t anchor,
                           int64_t after)
{
    if (!self) {
        mao_error_set("mao_sched_trigger_next: no trigger");
        return MAO_EINVAL;
    }
    if (self->kind == MAO_SCHED_INTERVAL)
        return mao_sched_interval_next(out, self->interval, anchor, after);
    return mao_sched_next(out, &self->cron, self->tz, after);
}

int mao_sched_preview(int64_t *out, size_t n, size_t *count, const mao_sched_trigger_t *self,
                      int64_t anchor, int64_t after)
{
    int rc = 0;
    if (!count || (!out && n > 0)) {
        mao_error_set("mao_sched_preview: out and count are required");
        return MAO_EINVAL;
    }
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        if ((rc = mao_sched_trigger_next(&out[i], self, anchor, after)) < 0)
            break;
        after = out[i];
        (*count)++;
    }
    return rc == MAO_ENOTFOUND ? 0 : rc;
}

/* ---- jitter ---- */

int64_t mao_sched_jitter_ms(const char *name, long max_s)
{
    uint64_t hash = UINT64_C(14695981039346656037); /* FNV-1a 64 offset basis */
    if (max_s <= 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)(name ? name : ""); *p; p++) {
        hash ^= *p;
        hash *= UINT64_C(1099511628211); /* FNV-1a 64 prime */
    }
    /* The whole seconds from the hash modulo max_s (schedules made before
     * the milliseconds keep them), the milliseconds from its other digits. */
    uint64_t seconds = max_s > 1 ? hash % (uint64_t)max_s : 0;
    return (int64_t)(seconds * 1000 + (hash / (uint64_t)max_s) % 1000);
}
