/*
 * mao_sched: when a scheduled tool runs next.  Cron expressions in UTC or a
 * named time zone, fixed intervals ("daily", "weekly", "every 90m"), one
 * trigger type over both, and a stable per-tool jitter.
 *
 * Central idea: every schedule is a pure function from "the last instant
 * considered" to "the next fire instant strictly after it"; the coordinator
 * keeps no clock state beyond that instant, so a restart, a missed run or a
 * preview are all the same call.  Nothing here reads the process's TZ or the
 * system clock: zones come from mao_tz, times are int64_t seconds since
 * 1970-01-01 UTC.
 *
 * Cron semantics (Vixie cron, as Debian's cron):
 *   - five fields: minute hour day-of-month month day-of-week; each holds
 *     "*", a number, a range a-b, a list a,b,c and steps (a star, a range or
 *     a single start a followed by /n; "a/n" means a through the field's
 *     maximum); month names JAN-DEC and day names SUN-SAT in any case;
 *     day-of-week 0-7 with 0 and 7 both Sunday; macros @hourly, @daily
 *     (= @midnight), @weekly, @monthly, @yearly (= @annually).
 *   - day-of-month and day-of-week: when both fields are restricted, a day
 *     matches if EITHER matches.  A field written with a leading star (a
 *     plain star, or a star with a step) is unrestricted in Vixie's sense:
 *     then a day must match BOTH, which for a plain star means only the other
 *     field restricts ("0 0 * * MON" = Mondays), and for a stepped star (a
 *     star followed by "/2") the intersection: odd days that are Mondays,
 *     whereas "0 0 1-7 * MON" is the 1st to the 7th, and every Monday.
 *   - local times are wall-clock times in the trigger's zone.  A time that
 *     does not exist (spring-forward gap) fires at the first instant after
 *     the gap (02:30 on Zurich's spring-forward day fires at 03:00 CEST); a
 *     time that occurs twice (fall-back overlap) fires once, at its first
 *     occurrence.  So an hourly job never fires twice in an hour and loses
 *     only the hour that does not exist.
 *   - an expression that can never fire (e.g. "0 0 30 2 *") is refused when
 *     parsed; mao_sched_next() also gives up after MAO_SCHED_HORIZON_DAYS
 *     (400 years, the Gregorian calendar's full cycle, so a spec found to fire
 *     nowhere in it fires nowhere ever) with MAO_ENOTFOUND.
 *
 * Interval semantics: fires at anchor + k * interval for k = 0, 1, 2, ...
 * The coordinator uses the instant a schedule was made as its anchor and
 * asks with after = anchor, so the first run is one interval later, as in
 * the original orchestrator.  "daily" is exactly 86400 s and "weekly"
 * 604800 s: elapsed time, not wall-clock time, so a daily interval moves by
 * an hour against local clocks across a DST change (use cron for "every day
 * at 02:00 local").
 *
 * Invariants: parsed values are immutable and hold no references to their
 * input; a trigger owns its zone; everything is safe to call from any thread
 * on shared const values.
 */
#ifndef MAO_SCHED_H
#define MAO_SCHED_H

#include "mao_tz.h"

#include <stddef.h>
#include <stdint.h>

#define MAO_SCHED_EXPR_MAX 256               /* longest cron expression */
#define MAO_SCHED_TEXT_MAX 512               /* longest trigger text; any canonical text fits */
#define MAO_SCHED_INTERVAL_MAX (366 * 86400) /* longest interval or duration, seconds */
#define MAO_SCHED_HORIZON_DAYS 146097        /* 400 years: how far mao_sched_next looks */

/* Instants accepted as `after` and `anchor`: 0001-01-01T00:00:00Z to
 * 9999-12-31T23:59:59Z. */
#define MAO_SCHED_TIME_MIN INT64_C(-62135596800)
#define MAO_SCHED_TIME_MAX INT64_C(253402300799)

/* A parsed cron expression: one bit per allowed value.  A plain value type:
 * copy it, store it; mao_sched_cron_parse() zeroes all of it first, padding
 * included, so parsed values compare with memcmp(). */
typedef struct {
    uint64_t minute;   /* bit i: minute i, 0-59 */
    uint32_t hour;     /* bit i: hour i, 0-23 */
    uint32_t mday;     /* bit i: day of month i, 1-31 */
    uint16_t month;    /* bit i: month i, 1-12 */
    uint8_t wday;      /* bit i: weekday i, 0-6, 0 = Sunday (7 is stored as 0) */
    uint8_t mday_star; /* day-of-month was a star: 0 no; n its step (1: a plain star) */
    uint8_t wday_star; /* the same for day-of-week */
} mao_sched_cron_t;

typedef enum {
    MAO_SCHED_INTERVAL = 1, /* anchor + k * interval ("daily", "weekly", "every 15m") */
    MAO_SCHED_CRON = 2,     /* a cron expression in a time zone */
} mao_sched_kind_t;

/* A schedule: either kind, with its zone.  Opaque, immutable once made. */
typedef struct mao_sched_trigger_t mao_sched_trigger_t;

/* ---- cron ---- */

/* Parses a cron expression (five fields, or a macro such as "@daily") into
 * *out.  Fields are separated by spaces or tabs.  Returns 0; MAO_EINVAL with
 * a detail that names the field and the reason, e.g. "cron field 2 (hour)
 * value 24 is out of range 0-23", or that the expression never fires. */
int mao_sched_cron_parse(mao_sched_cron_t *out, const char *expr);

/* Writes the canonical text of `cron` (five fields, numbers only, ranges and
 * steps where they are shorter; mao_sched_cron_parse() of it gives the same
 * value).  Returns 0, or MAO_EINVAL when `size` is too small
 * (MAO_SCHED_EXPR_MAX always suffices). */
int mao_sched_cron_format(char *out, size_t size, const mao_sched_cron_t *cron);

/* The next instant strictly after `after` at which `cron` fires in zone `tz`
 * (NULL: UTC), in *out, with the DST rules in the file comment.  Looks at
 * most MAO_SCHED_HORIZON_DAYS ahead, skipping by month, day, hour and
 * minute, never minute by minute across idle days.  Returns 0;
 * MAO_ENOTFOUND when it does not fire within the horizon, or not before
 * MAO_SCHED_TIME_MAX (detail says so);
 * MAO_EINVAL when `after` is outside [MAO_SCHED_TIME_MIN, MAO_SCHED_TIME_MAX]
 * or a field of `cron` allows no value. */
int mao_sched_next(int64_t *out, const mao_sched_cron_t *cron, const mao_tz_t *tz, int64_t after);

/* ---- intervals ---- */

/* Parses a duration: one or more <number><unit>, units d, h, m, s from
 * largest to smallest, each at most once, no spaces ("90s", "15m", "1h30m",
 * "2d").  Returns 0 with the seconds in *out (0 to MAO_SCHED_INTERVAL_MAX),
 * or MAO_EINVAL with a detail. */
int mao_sched_duration_parse(int64_t *out, const char *text);

/* Writes `seconds` (0 to MAO_SCHED_INTERVAL_MAX) in the shortest form that
 * mao_sched_duration_parse() reads back: "1h30m", "90s" as "1m30s", "0s".
 * Returns 0, or MAO_EINVAL when out of range or `size` is too small (32
 * always suffices). */
int mao_sched_duration_format(char *out, size_t size, int64_t seconds);

/* Parses "daily" (86400 s), "weekly" (604800 s) or "every DURATION"
 * (keywords in any case) into *out, seconds.  Returns 0, or MAO_EINVAL with a
 * detail (unknown form, bad duration, shorter than 1 s, longer than 366 d). */
int mao_sched_interval_parse(int64_t *out, const char *text);

/* The first anchor + k * interval (k >= 0) strictly after `after`, in *out.
 * Returns 0; MAO_EINVAL when `interval` is outside [1, MAO_SCHED_INTERVAL_MAX]
 * or an instant outside the accepted range; MAO_ENOTFOUND when the next fire
 * would be after MAO_SCHED_TIME_MAX. */
int mao_sched_interval_next(int64_t *out, int64_t interval, int64_t anchor, int64_t after);

/* ---- triggers ---- */

/* Makes a trigger from its text form, on success in *out (owned by the
 * caller, mao_sched_trigger_destroy):
 *     daily | weekly | every DURATION
 *     cron:EXPRESSION                    (UTC)
 *     cron:TZ=ZONE EXPRESSION            (CRON_TZ=ZONE also accepted)
 * e.g. "every 15m", "cron:0 * * * *", "cron:TZ=Europe/Zurich 30 2 * * *".
 * Keywords are read in any case; surrounding spaces are ignored.
 * Returns 0; MAO_EINVAL with a detail for text it cannot read, a refused
 * zone name or an expression that never fires; MAO_ENOTFOUND, MAO_EMALFORMED
 * or MAO_EFAIL when the zone cannot be opened (see mao_tz_open); MAO_ENOMEM. */
int mao_sched_trigger_parse(mao_sched_trigger_t **out, const char *text);

/* Makes a trigger from separate parts, as an API request or a stored record
 * holds them: `kind`; `expr`, for MAO_SCHED_INTERVAL "daily", "weekly",
 * "every DURATION" or a bare DURATION, for MAO_SCHED_CRON a cron expression
 * without "cron:"; `tz`, a zone name for MAO_SCHED_CRON (NULL or "" is UTC),
 * which must be NULL or "" for MAO_SCHED_INTERVAL.  Returns as
 * mao_sched_trigger_parse(). */
int mao_sched_trigger_new(mao_sched_trigger_t **out, mao_sched_kind_t kind, const char *expr,
                          const char *tz);

/* Frees a trigger and its zone; accepts NULL and *self_p == NULL, and sets
 * *self_p to NULL. */
void mao_sched_trigger_destroy(mao_sched_trigger_t **self_p);

/* Accessors; `self` must be a trigger (not NULL).  The trigger's kind. */
mao_sched_kind_t mao_sched_trigger_kind(const mao_sched_trigger_t *self);

/* MAO_SCHED_INTERVAL: seconds between fires; MAO_SCHED_CRON: 0. */
int64_t mao_sched_trigger_interval(const mao_sched_trigger_t *self);

/* MAO_SCHED_CRON: the parsed expression, owned by the trigger; else NULL. */
const mao_sched_cron_t *mao_sched_trigger_cron(const mao_sched_trigger_t *self);

/* MAO_SCHED_CRON: the zone (never NULL), owned by the trigger; else NULL. */
const mao_tz_t *mao_sched_trigger_tz(const mao_sched_trigger_t *self);

/* Writes the trigger's canonical text, which mao_sched_trigger_parse() reads
 * back to an equal trigger: "daily", "weekly", "every 1h30m" (86400 s as
 * "daily", 604800 s as "weekly"), "cron:0 2 * * *" for UTC, else
 * "cron:TZ=Europe/Zurich 30 2 * * *".  Spellings of the same schedule
 * ("every 24h", "DAILY"; "0 9 * * MON-FRI", "0 9 * * 1-5") share one
 * canonical text, so comparing texts finds duplicates.  Returns 0, or
 * MAO_EINVAL when `size` is too small (MAO_SCHED_TEXT_MAX always suffices). */
int mao_sched_trigger_format(char *out, size_t size, const mao_sched_trigger_t *self);

/* The next fire instant strictly after `after`, in *out.  `anchor` is the
 * interval's phase (see the file comment) and is ignored for cron.  Returns
 * as mao_sched_next() or mao_sched_interval_next(). */
int mao_sched_trigger_next(int64_t *out, const mao_sched_trigger_t *self, int64_t anchor,
                           int64_t after);

/* The next `n` fire instants after `after`, ascending, into out[0..n-1]; the
 * number written in *count, fewer than `n` only when the trigger stops firing
 * (a cron spec past the horizon or an interval past year 9999).  Returns 0,
 * or MAO_EINVAL for bad arguments (as mao_sched_trigger_next). */
int mao_sched_preview(int64_t *out, size_t n, size_t *count, const mao_sched_trigger_t *self,
                      int64_t anchor, int64_t after);

/* "interval" or "cron"; "unknown" for anything else. */
const char *mao_sched_kind_name(mao_sched_kind_t kind);

/* ---- jitter ---- */

/* A stable offset in milliseconds, in [0, max_s * 1000), for `name` (NULL
 * counts as ""), from the 64-bit FNV-1a hash of its bytes: the same name gets
 * the same offset on every host and run, different names spread over the
 * range, to the millisecond (so that many schedules due on one second do not
 * all fire at its first instant).  Returns 0 when max_s <= 0.  The
 * coordinator adds it to a fire instant when it dispatches, and keeps asking
 * mao_sched_*_next() with the un-jittered instant, so jitter never skips or
 * repeats a run. */
int64_t mao_sched_jitter_ms(const char *name, long max_s);

#endif
