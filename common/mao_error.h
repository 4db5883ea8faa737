/*
 * mao_error: return codes and one line of thread-local error detail.
 *
 * Every fallible function in mao returns 0 on success, -1 (MAO_EFAIL) or one
 * of the named negatives below on failure, and leaves a human-readable line in
 * a thread-local buffer through mao_error_set().  The first setter wins while
 * an error propagates: callers add context with mao_error_prefix(), they never
 * overwrite the root cause.
 */
#ifndef MAO_ERROR_H
#define MAO_ERROR_H

#include <stdarg.h>

enum {
    MAO_OK = 0,
    MAO_EFAIL = -1,        /* generic failure, detail in mao_error_last() */
    MAO_ENOTFOUND = -2,    /* the thing asked for does not exist */
    MAO_ECONFLICT = -3,    /* exists already, or a compare-and-swap lost */
    MAO_ETIMEOUT = -4,     /* a peer did not answer in time */
    MAO_EMALFORMED = -5,   /* input from outside is not what it must be */
    MAO_EUNAVAILABLE = -6, /* a server we need cannot be reached */
    MAO_EINVAL = -7,       /* a caller passed something invalid */
    MAO_ENOMEM = -8,       /* out of memory */
};

/* Sets the calling thread's error detail (printf format) and returns nothing.
 * Clears any previous detail. */
void mao_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prepends "context: " to the current detail, so that a caller can say where
 * the root cause happened without losing it. */
void mao_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The calling thread's last detail; "" when none.  Owned by the thread; valid
 * until the next mao_error_* call on that thread. */
const char *mao_error_last(void);

/* Forgets the detail. */
void mao_error_clear(void);

/* A short English name for a return code ("not found", "conflict", ...). */
const char *mao_error_name(int rc);

#endif
