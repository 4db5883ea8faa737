/*
 * fuzz_text: the small checks every entry point applies to short texts
 * from outside: instants (mao_time_parse), names (mao_name_check), dataset
 * URLs (mao_url_check), zone names, sizes, capability names, run ids, and
 * the quoting that repeats hostile text in error messages.
 *
 * Properties:
 *   - an instant that parses is written back (mao_time_iso) and parses to
 *     the same second, when it lies in years 1 to 9999 UTC (an offset can
 *     move a reading of year 1 or 9999 just outside, where ISO 8601's four
 *     digits end);
 *   - a name is accepted exactly when the rule in mao_name.h holds (checked
 *     here independently), and a zone name accepted by mao_tz_name_check
 *     never starts with '/' nor holds "..";
 *   - a URL accepted where local paths are refused is accepted where they
 *     are allowed;
 *   - quoted text always ends inside its buffer and holds no control bytes.
 */
#include "fuzz.h"
#include "mao_error.h"
#include "mao_id.h"
#include "mao_name.h"
#include "mao_sched.h"
#include "mao_tool.h"
#include "mao_tz.h"

/* The rule of mao_name.h, written again. */
static int s_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > MAO_NAME_MAX || name[0] == '.' || name[0] == '-' || strstr(name, ".."))
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

static void s_time(const char *text)
{
    int64_t t = 0, again = 0;
    char iso[64];
    mao_error_clear();
    if (mao_time_parse(&t, text) != 0) {
        FUZZ_CHECK(mao_error_last()[0] != '\0');
        return;
    }
    if (t < MAO_SCHED_TIME_MIN || t > MAO_SCHED_TIME_MAX)
        return;
    mao_time_iso(iso, sizeof iso, t * 1000);
    if (mao_time_parse(&again, iso) != 0 || again != t)
        fprintf(stderr, "'%s' read as %lld, written as '%s'\n", text, (long long)t, iso);
    FUZZ_CHECK(mao_time_parse(&again, iso) == 0);
    FUZZ_CHECK(again == t);
}

static void s_quote(const char *text)
{
    static const size_t sizes[] = {0, 1, 7, 8, 9, 16, 80};
    char out[96];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        memset(out, 'x', sizeof out);
        mao_text_quote(out, sizes[i], text);
        if (sizes[i] == 0)
            continue;
        size_t len = strnlen(out, sizes[i]);
        FUZZ_CHECK(len < sizes[i]);
        for (size_t k = 0; k < len; k++)
            FUZZ_CHECK((unsigned char)out[k] >= 0x20 && out[k] != 0x7f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    FUZZ_CHECK(text != NULL);

    s_time(text);
    s_quote(text);

    mao_error_clear();
    int rc = mao_name_check("tool", text);
    FUZZ_CHECK((rc == 0) == s_name_ok(text));
    FUZZ_CHECK(rc == 0 || mao_error_last()[0] != '\0');

    if (mao_url_check(text, 0) == 0)
        FUZZ_CHECK(mao_url_check(text, 1) == 0);

    if (mao_tz_name_check(text) == 0)
        FUZZ_CHECK(text[0] != '/' && !strstr(text, "..") && strlen(text) <= MAO_TZ_NAME_MAX);

    long long bytes = 0;
    if (mao_size_parse(&bytes, text) == 0)
        FUZZ_CHECK(bytes >= 0);
    char cap[32];
    if (mao_capability_name(cap, sizeof cap, text) == 0)
        FUZZ_CHECK(strlen(cap) > 0);
    int64_t ms = mao_id_time_ms(text);
    FUZZ_CHECK(ms == -1 || (ms >= 0 && strlen(text) == MAO_ID_LEN));

    free(text);
    return 0;
}
