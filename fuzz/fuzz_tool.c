/*
 * fuzz_tool: registry records from JSON text, as the API reads a request
 * (MAO_PARSE_STRICT) and as the coordinator and the worker read a record
 * back from etcd or from a job (MAO_PARSE_STORED), for tools and datasets.
 *
 * Properties, for each parse mode and dataset-URL policy:
 *   - a refused record leaves a detail and nothing to free;
 *   - an accepted record written back as JSON text (mao_tool_to_json, then
 *     json_dumps as etcd stores it) is accepted again in the same mode and
 *     gives the same JSON: storing a record never changes or loses it;
 *   - whatever STRICT accepts, STORED accepts, with the same JSON; whatever
 *     a site without local paths accepts, a site with them accepts.
 */
#include "fuzz.h"
#include "mao_error.h"
#include "mao_tool.h"

typedef struct {
    mao_parse_mode_t mode;
    int allow_local;
} s_way_t;

static const s_way_t s_ways[] = {
    {MAO_PARSE_STRICT, 0}, {MAO_PARSE_STRICT, 1}, {MAO_PARSE_STORED, 0}, {MAO_PARSE_STORED, 1}};
#define S_WAYS (sizeof s_ways / sizeof s_ways[0])

/* Parses `json` as a tool (`dataset` 0) or a dataset the way `way` says.
 * Returns the record's JSON (new reference), or NULL when it is refused. */
static json_t *s_parse(json_t *json, int dataset, const s_way_t *way)
{
    json_t *out = NULL;
    int rc;
    mao_error_clear();
    if (dataset) {
        mao_dataset_t ds;
        rc = mao_dataset_from_json(&ds, json, way->mode, way->allow_local);
        if (rc == 0) {
            out = mao_dataset_to_json(&ds);
            FUZZ_CHECK(out != NULL);
        } else {
            FUZZ_CHECK(ds.name == NULL && ds.url == NULL);
        }
        mao_dataset_clear(&ds);
    } else {
        mao_tool_t tool;
        rc = mao_tool_from_json(&tool, json, way->mode, way->allow_local);
        if (rc == 0) {
            out = mao_tool_to_json(&tool);
            FUZZ_CHECK(out != NULL);
        } else {
            FUZZ_CHECK(tool.name == NULL && tool.command == NULL && tool.env == NULL);
        }
        mao_tool_clear(&tool);
    }
    if (rc < 0) {
        FUZZ_CHECK(rc == MAO_EINVAL || rc == MAO_ENOMEM);
        FUZZ_CHECK(mao_error_last()[0] != '\0');
    }
    return out;
}

/* The record's JSON, stored as text and read back, must give itself. */
static void s_round_trip(const json_t *first, int dataset, const s_way_t *way)
{
    char *text = json_dumps(first, JSON_COMPACT);
    FUZZ_CHECK(text != NULL);
    json_t *stored = mao_json_parse(text, strlen(text), "stored record");
    FUZZ_CHECK(stored != NULL);
    json_t *second = s_parse(stored, dataset, way);
    if (!second)
        fprintf(stderr, "refused on the way back: %s\n%s\n", mao_error_last(), text);
    FUZZ_CHECK(second != NULL);
    FUZZ_CHECK(json_equal(first, second));
    json_decref(second);
    json_decref(stored);
    free(text);
}

static void s_record(json_t *json, int dataset)
{
    json_t *seen[S_WAYS] = {NULL};
    for (size_t i = 0; i < S_WAYS; i++) {
        seen[i] = s_parse(json, dataset, &s_ways[i]);
        if (seen[i])
            s_round_trip(seen[i], dataset, &s_ways[i]);
    }
    /* 0: STRICT local refused, 1: STRICT local allowed, 2 and 3: STORED. */
    FUZZ_CHECK(!seen[0] || (seen[1] && json_equal(seen[0], seen[1])));
    FUZZ_CHECK(!seen[1] || (seen[2] && json_equal(seen[1], seen[2])));
    FUZZ_CHECK(!seen[2] == !seen[3]);
    FUZZ_CHECK(!seen[2] || json_equal(seen[2], seen[3]));
    for (size_t i = 0; i < S_WAYS; i++)
        json_decref(seen[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mao_error_clear();
    json_t *json = mao_json_parse((const char *)data, size, "input");
    if (!json) {
        FUZZ_CHECK(mao_error_last()[0] != '\0');
        return 0;
    }
    s_record(json, 0);
    s_record(json, 1);
    json_decref(json);
    return 0;
}
