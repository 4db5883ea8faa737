/*
 * fuzz_msg: the wire decoder, as both daemons run it on every frame a peer
 * sends: mao_msg_decode(), then mao_msg_check() against the type's schema,
 * then, for a job, the tool record checked as the worker checks it.
 *
 * Properties: a frame is decoded into a map or refused with a detail and no
 * object; a decoded message encodes again and decodes back to an equal
 * object (the decoder's limits and the encoder's agree); a message that
 * passes the schema has its "type" among the known ones.
 */
#include "fuzz.h"
#include "mao_error.h"
#include "mao_msg.h"
#include "mao_tool.h"

static const char *const s_types[] = {"hello",  "heartbeat",  "job",   "accepted",
                                      "result", "result_ack", "cancel"};

static void s_job_tool(json_t *msg)
{
    mao_tool_t tool;
    for (int allow_local = 0; allow_local <= 1; allow_local++) {
        if (mao_tool_from_json(&tool, json_object_get(msg, "tool"), MAO_PARSE_STORED,
                               allow_local) == 0) {
            json_t *json = mao_tool_to_json(&tool);
            FUZZ_CHECK(json != NULL);
            json_decref(json);
        }
        mao_tool_clear(&tool);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *msg = NULL, *again = NULL;
    char *wire = NULL;
    size_t len = 0;
    const char *type = NULL;

    mao_error_clear();
    if (mao_msg_decode(&msg, data, size) < 0) {
        FUZZ_CHECK(msg == NULL);
        FUZZ_CHECK(mao_error_last()[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(json_is_object(msg));

    /* A float32 grows to a float64 when encoded again: only a frame near
     * the limit may come back too large. */
    int rc = mao_msg_encode(msg, &wire, &len);
    FUZZ_CHECK(rc == 0 || (rc == MAO_EINVAL && size > MAO_MSG_MAX / 2));
    if (rc == 0) {
        FUZZ_CHECK(mao_msg_decode(&again, wire, len) == 0);
        FUZZ_CHECK(json_equal(msg, again));
    }

    mao_error_clear();
    if (mao_msg_check(msg, &type) == 0) {
        int known = 0;
        for (size_t i = 0; i < sizeof s_types / sizeof s_types[0]; i++)
            known |= type && strcmp(type, s_types[i]) == 0;
        FUZZ_CHECK(known);
        FUZZ_CHECK(strcmp(type, json_string_value(json_object_get(msg, "type"))) == 0);
        if (strcmp(type, "job") == 0)
            s_job_tool(msg);
    } else {
        FUZZ_CHECK(mao_error_last()[0] != '\0');
    }

    json_decref(again);
    free(wire);
    json_decref(msg);
    return 0;
}
