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

#endif
