/*
 * mao_id: run ids that sort by creation time and are unique across
 * coordinators: 26 characters of Crockford base32 (a ULID), 48 bits of
 * milliseconds since 1970 then 80 random bits.  Within one process, ids
 * created in the same millisecond still sort in creation order.
 */
#ifndef MAO_ID_H
#define MAO_ID_H

#include <stddef.h>
#include <stdint.h>

#define MAO_ID_LEN 26

/* Writes a new id and its NUL into `out` (MAO_ID_LEN + 1 bytes). */
void mao_id_new(char out[MAO_ID_LEN + 1]);

/* The milliseconds since 1970 an id was made at, or -1 when `id` is not one. */
int64_t mao_id_time_ms(const char *id);

/* Milliseconds since 1970, now. */
int64_t mao_now_ms(void);

/* Writes `ms` (milliseconds since 1970) as ISO 8601 UTC with milliseconds,
 * "2026-11-21T22:18:24.123Z", into `out` (at least 32 bytes). */
void mao_time_iso(char *out, size_t size, int64_t ms);

/* Reads an instant written as ISO 8601 / RFC 3339 with an explicit offset:
 * "2026-11-22T02:00:00Z", "2026-11-22T03:00+01:00", seconds and a fraction
 * optional, 'T' or a space between date and time.  Writes seconds since
 * 1970 (fractions dropped) into *out.  Returns 0, or MAO_EINVAL with a
 * detail (a time without an offset is refused: it would be ambiguous). */
int mao_time_parse(int64_t *out, const char *text);

#endif
