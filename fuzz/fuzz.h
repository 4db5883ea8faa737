/*
 * fuzz.h: what every libFuzzer target in fuzz/ shares.
 *
 * A target is one LLVMFuzzerTestOneInput() that feeds its bytes to a parser
 * as the daemons do and checks properties that must hold for any input.  A
 * broken property is a crash like any other: FUZZ_CHECK prints the condition
 * and aborts, libFuzzer saves the input, and scripts/fuzz.sh fails.  It is
 * never compiled out (assert() is, under NDEBUG in RelWithDebInfo).
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The input as a NUL-terminated string (cut at its first NUL, as a C
 * string would be), in new memory of exactly size + 1 bytes so that
 * AddressSanitizer catches a read past the end.  NULL only when out of
 * memory. */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return NULL;
    if (size > 0)
        memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
