/*
 * mao_tz: time zones read from the system's TZif files, without libc's
 * process-global time zone state, and the civil-date arithmetic they need.
 *
 * Central idea: a zone is an immutable table of UTC offsets (the file's
 * transitions, then its footer's POSIX TZ rule for instants past the table's
 * end), loaded once by mao_tz_open() and afterwards only read.  Every function
 * here is a pure computation on its arguments: nothing touches TZ, tzset(),
 * localtime() or any other shared state, so one zone may be used by any
 * number of threads at once.
 *
 * Invariants: a zone's name matches [A-Za-z0-9_+/-]{1,128}, contains no ".."
 * and does not start with '/', so it can never name a file outside the zone
 * folder; a zone file is at most MAO_TZ_FILE_MAX bytes and is checked before
 * it is used; "UTC", "Etc/UTC", "GMT" and "Etc/GMT" are built in and open
 * without any file.  Times are int64_t seconds since 1970-01-01 00:00:00 UTC,
 * leap seconds not counted (POSIX time); "local seconds" are the same count
 * for a wall-clock reading, as if the wall clock were UTC.
 */
#ifndef MAO_TZ_H
#define MAO_TZ_H

#include <stddef.h>
#include <stdint.h>

#define MAO_TZ_NAME_MAX 128          /* longest zone name accepted */
#define MAO_TZ_FILE_MAX (256 * 1024) /* largest zone file read */
#define MAO_TZ_DIR_DEFAULT "/usr/share/zoneinfo"

/* The range of instants (about 34,000 years either side of 1970) within
 * which results are exact; outside it offsets are those at the nearest end. */
#define MAO_TZ_TIME_MAX (INT64_C(1) << 40)
#define MAO_TZ_TIME_MIN (-(INT64_C(1) << 40))

typedef struct mao_tz_t mao_tz_t;

/* A wall-clock reading, broken down.  Fields are normalised: month 1-12,
 * day 1-31, hour 0-23, minute 0-59, second 0-59, wday 0-6 (0 = Sunday). */
typedef struct {
    int64_t year;
    int month;
    int day;
    int hour;
    int minute;
    int second;
    int wday;
} mao_tz_civil_t;

/* How a local reading maps to UTC (see mao_tz_local_to_utc). */
typedef enum {
    MAO_TZ_UNIQUE = 0,  /* occurs exactly once */
    MAO_TZ_GAP = 1,     /* does not occur: the clocks jumped over it */
    MAO_TZ_OVERLAP = 2, /* occurs twice: the clocks were set back over it */
} mao_tz_kind_t;

typedef struct {
    mao_tz_kind_t kind;
    /* UNIQUE: the instant, in both fields.
     * OVERLAP: the first and the second occurrence.
     * GAP: the reading taken with the offset in force after the jump
     *      (`earlier`, an instant before the jump) and with the offset in
     *      force before it (`later`, an instant after the jump). */
    int64_t earlier;
    int64_t later;
    /* GAP and OVERLAP: the instant of the clock change responsible; for a gap
     * this is the first instant after it, whose wall-clock reading is where
     * the gap ends.  UNIQUE: 0. */
    int64_t transition;
} mao_tz_local_t;

/* Opens zone `name` (an IANA name such as "Europe/Zurich") from $TZDIR when
 * that is set and not empty, else from MAO_TZ_DIR_DEFAULT.  Reads the
 * environment once, here; call it before starting threads that change the
 * environment.  "UTC", "Etc/UTC", "GMT" and "Etc/GMT" need no file.
 * On success *out is a new zone owned by the caller (mao_tz_destroy).
 * Returns 0; MAO_EINVAL when the name is refused (detail says why);
 * MAO_ENOTFOUND when no such zone file exists; MAO_EMALFORMED when the file
 * is not a usable TZif file (too large, truncated, inconsistent, leap-second
 * "right/" data, unreadable footer); MAO_EFAIL when it cannot be read;
 * MAO_ENOMEM. */
int mao_tz_open(mao_tz_t **out, const char *name);

/* As mao_tz_open(), with the zone folder given (`dir` is trusted: it comes
 * from configuration or tests, never from users).  Same returns. */
int mao_tz_open_dir(mao_tz_t **out, const char *dir, const char *name);

/* Releases a zone; accepts NULL and *self_p == NULL, and sets *self_p to NULL.
 * Opening the same zone twice gives the same shared, immutable copy; it is
 * freed when its last opener releases it. */
void mao_tz_destroy(mao_tz_t **self_p);

/* The name the zone was opened with; owned by the zone.  NULL zone: "UTC". */
const char *mao_tz_name(const mao_tz_t *tz);

/* 0 when `name` may be opened (the rule in the file comment), else MAO_EINVAL
 * with a detail that starts with "invalid time zone name". */
int mao_tz_name_check(const char *name);

/* The zone's UTC offset in seconds east of Greenwich at instant `utc`
 * (e.g. 7200 for Zurich in summer).  A NULL zone is UTC. */
int32_t mao_tz_offset(const mao_tz_t *tz, int64_t utc);

/* Breaks instant `utc` down into the zone's wall-clock reading in *out and
 * returns the UTC offset used.  A NULL zone is UTC. */
int32_t mao_tz_to_local(mao_tz_civil_t *out, const mao_tz_t *tz, int64_t utc);

/* Maps local seconds (a wall-clock reading, see the file comment) to UTC:
 * whether the reading exists once, not at all (gap) or twice (overlap), and
 * the candidate instants (mao_tz_local_t).  A NULL zone is UTC.  Returns 0;
 * MAO_EINVAL when `local` lies outside [MAO_TZ_TIME_MIN, MAO_TZ_TIME_MAX]. */
int mao_tz_local_to_utc(mao_tz_local_t *out, const mao_tz_t *tz, int64_t local);

/* Writes instant `utc` as RFC 3339 local time with its offset, e.g.
 * "2026-03-29T03:00:00+02:00" (seconds in the offset only when it has them).
 * Returns 0, or MAO_EINVAL when `size` is too small (32 bytes always
 * suffice for years 0-9999). */
int mao_tz_format(char *out, size_t size, const mao_tz_t *tz, int64_t utc);

/* Civil calendar (proleptic Gregorian), independent of any zone. */

/* 1 when `year` is a leap year, else 0. */
int mao_tz_is_leap(int64_t year);

/* Days in `month` (1-12) of `year`; 0 for a month outside 1-12. */
int mao_tz_days_in_month(int64_t year, int month);

/* Days from 1970-01-01 to year-month-day (negative before 1970).  Values
 * past their range count on: month 13 of 2025 is January 2026, day 32 of
 * January is February 1st. */
int64_t mao_tz_days_from_civil(int64_t year, int month, int day);

/* The date `days` days after 1970-01-01 (negative: before). */
void mao_tz_civil_from_days(int64_t days, int64_t *year, int *month, int *day);

/* Day of the week of the date `days` days after 1970-01-01; 0 = Sunday. */
int mao_tz_weekday(int64_t days);

/* Breaks seconds since 1970-01-01 00:00 (UTC or local) down into *out. */
void mao_tz_civil_from_seconds(mao_tz_civil_t *out, int64_t seconds);

/* The inverse: seconds since 1970-01-01 00:00 of a reading (wday ignored). */
int64_t mao_tz_seconds_from_civil(const mao_tz_civil_t *civil);

#endif
