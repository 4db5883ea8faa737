/*
 * coord_registry: tools and datasets in etcd.
 */
#include "coord_registry.h"
#include "mao_error.h"
#include "mao_log.h"
#include "mao_name.h"

#include <stdio.h>
#include <string.h>

static const char *s_dir[] = {"tools/", "datasets/"};

const char *coord_registry_noun(coord_kind_t kind)
{
    return kind == COORD_TOOLS ? "tool" : "dataset";
}

/* Checks a stored record; fills `out` (new reference) with its canonical JSON. */
static int s_check_stored(json_t **out, coord_kind_t kind, const char *key, const char *text,
                          size_t len)
{
    int rc;
    json_t *json = mao_json_parse(text, len, "stored record");
    if (!json)
        return MAO_EMALFORMED;
    if (kind == COORD_TOOLS) {
        mao_tool_t tool;
        if ((rc = mao_tool_from_json(&tool, json, MAO_PARSE_STORED, 1)) == 0) {
            *out = mao_tool_to_json(&tool);
            mao_tool_clear(&tool);
        }
    } else {
        mao_dataset_t ds;
        if ((rc = mao_dataset_from_json(&ds, json, MAO_PARSE_STORED, 1)) == 0) {
            *out = mao_dataset_to_json(&ds);
            mao_dataset_clear(&ds);
        }
    }
    json_decref(json);
    if (rc < 0)
        return MAO_EMALFORMED;
    /* The key and the name inside must agree, or the record is not what it says. */
    const char *name = json_string_value(json_object_get(*out, "name"));
    const char *slash = strrchr(key, '/');
    if (!name || !slash || strcmp(slash + 1, name) != 0) {
        json_decref(*out);
        *out = NULL;
        mao_error_set("its name does not match its key");
        return MAO_EMALFORMED;
    }
    return 0;
}

int coord_registry_list(json_t **out, mao_etcd_t *etcd, coord_kind_t kind)
{
    mao_etcd_kvs_t kvs;
    int rc = mao_etcd_list(etcd, s_dir[kind], 0, 0, &kvs);
    if (rc < 0)
        return rc;
    json_t *list = json_array();
    if (!list) {
        mao_etcd_kvs_free(&kvs);
        return MAO_ENOMEM;
    }
    for (size_t i = 0; i < kvs.count; i++) {
        json_t *record = NULL;
        const char *name = kvs.items[i].key + strlen(s_dir[kind]);
        if (mao_name_check(coord_registry_noun(kind), name) < 0 ||
            s_check_stored(&record, kind, kvs.items[i].key, kvs.items[i].value,
                           kvs.items[i].value_len) < 0) {
            char shown[128];
            mao_log_warn("registry", "record.skipped key=\"%s%s\" reason=\"%s\"",
                         mao_etcd_prefix(etcd), mao_text_quote(shown, sizeof shown, kvs.items[i].key),
                         mao_error_last());
            continue;
        }
        json_array_append_new(list, record);
    }
    mao_etcd_kvs_free(&kvs);
    *out = list;
    return 0;
}

static int s_key(char *out, size_t size, coord_kind_t kind, const char *name)
{
    int rc = mao_name_check(coord_registry_noun(kind), name);
    if (rc < 0)
        return rc;
    snprintf(out, size, "%s%s", s_dir[kind], name);
    return 0;
}

int coord_registry_get(json_t **out, mao_etcd_t *etcd, coord_kind_t kind, const char *name)
{
    char key[128];
    mao_etcd_kv_t kv;
    int rc;
    if ((rc = s_key(key, sizeof key, kind, name)) < 0)
        return rc;
    if ((rc = mao_etcd_get(etcd, key, &kv)) < 0) {
        if (rc == MAO_ENOTFOUND)
            mao_error_set("%s '%s' is not registered", coord_registry_noun(kind), name);
        return rc;
    }
    rc = s_check_stored(out, kind, kv.key, kv.value, kv.value_len);
    if (rc < 0)
        mao_error_prefix("the stored %s '%s' is damaged", coord_registry_noun(kind), name);
    mao_etcd_kv_free(&kv);
    return rc;
}

int coord_registry_put(json_t **stored, int *created, mao_etcd_t *etcd, coord_kind_t kind,
                       json_t *input, int replace, int allow_local)
{
    int rc;
    json_t *record = NULL;
    char *text = NULL;
    char key[128];

    *stored = NULL;
    if (kind == COORD_TOOLS) {
        mao_tool_t tool;
        if ((rc = mao_tool_from_json(&tool, input, MAO_PARSE_STRICT, allow_local)) < 0)
            return rc;
        record = mao_tool_to_json(&tool);
        mao_tool_clear(&tool);
    } else {
        mao_dataset_t ds;
        if ((rc = mao_dataset_from_json(&ds, input, MAO_PARSE_STRICT, allow_local)) < 0)
            return rc;
        record = mao_dataset_to_json(&ds);
        mao_dataset_clear(&ds);
    }
    const char *name = json_string_value(json_object_get(record, "name"));
    text = record ? json_dumps(record, JSON_COMPACT) : NULL;
    if (!text || !name) {
        rc = MAO_ENOMEM;
        goto cleanup;
    }
    if ((rc = s_key(key, sizeof key, kind, name)) < 0)
        goto cleanup;
    if (replace) {
        int existed = 0;
        if ((rc = mao_etcd_put(etcd, key, text, strlen(text), 0, NULL, &existed)) < 0)
            goto cleanup;
        *created = !existed;
    } else {
        if ((rc = mao_etcd_create(etcd, key, text, strlen(text), 0, NULL)) < 0) {
            if (rc == MAO_ECONFLICT)
                mao_error_set("%s '%s' is already registered; to overwrite it, ask for a "
                              "replace (maoctl --replace, or ?replace=true)",
                              coord_registry_noun(kind), name);
            goto cleanup;
        }
        *created = 1;
    }
    *stored = record;
    record = NULL;
cleanup:
    free(text);
    json_decref(record);
    return rc;
}

int coord_registry_remove(mao_etcd_t *etcd, coord_kind_t kind, const char *name)
{
    char key[128];
    int64_t deleted = 0;
    int rc;
    if ((rc = s_key(key, sizeof key, kind, name)) < 0)
        return rc;
    if ((rc = mao_etcd_delete(etcd, key, 0, &deleted)) < 0)
        return rc;
    if (deleted == 0) {
        mao_error_set("%s '%s' is not registered", coord_registry_noun(kind), name);
        return MAO_ENOTFOUND;
    }
    return 0;
}

int coord_registry_tool(mao_tool_t *out, mao_etcd_t *etcd, const char *name)
{
    json_t *json = NULL;
    int rc = coord_registry_get(&json, etcd, COORD_TOOLS, name);
    if (rc < 0)
        return rc;
    rc = mao_tool_from_json(out, json, MAO_PARSE_STORED, 1);
    json_decref(json);
    return rc < 0 ? MAO_EMALFORMED : 0;
}
