/*
 * coord_registry: tools and datasets in etcd.
 */
#include "coord_registry.h"
#include "mao_error.h"
#include "mao_log.h"
#include "mao_name.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_dir[] = {"tools/", "datasets/"};

/* The last full list of one kind, and what identifies the etcd state it was
 * read from: the number of keys under the prefix and the newest mod_revision. */
typedef struct {
    pthread_mutex_t lock;
    json_t *list;         /* immutable once cached; NULL when nothing is cached */
    int64_t count;        /* keys under the prefix when read (valid or not) */
    int64_t max_revision; /* newest mod_revision among them */
} s_cache_t;

struct coord_registry_t {
    mao_etcd_t *etcd;     /* borrowed */
    s_cache_t cache[2];   /* by coord_kind_t */
};

coord_registry_t *coord_registry_new(mao_etcd_t *etcd)
{
    coord_registry_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->etcd = etcd;
    for (int i = 0; i < 2; i++)
        pthread_mutex_init(&self->cache[i].lock, NULL);
    return self;
}

void coord_registry_destroy(coord_registry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_registry_t *self = *self_p;
    for (int i = 0; i < 2; i++) {
        json_decref(self->cache[i].list);
        pthread_mutex_destroy(&self->cache[i].lock);
    }
    free(self);
    *self_p = NULL;
}

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

/* Reads every record of `kind` from etcd; fills the cache fields. */
static int s_read_all(json_t **out, int64_t *count, int64_t *max_revision, mao_etcd_t *etcd,
                      coord_kind_t kind)
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
    *count = (int64_t)kvs.count;
    *max_revision = 0;
    for (size_t i = 0; i < kvs.count; i++) {
        json_t *record = NULL;
        const char *name = kvs.items[i].key + strlen(s_dir[kind]);
        if (kvs.items[i].mod_revision > *max_revision)
            *max_revision = kvs.items[i].mod_revision;
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

int coord_registry_list(json_t **out, coord_registry_t *self, coord_kind_t kind)
{
    s_cache_t *cache = &self->cache[kind];
    int64_t count = 0, max_revision = 0;
    int rc;

    pthread_mutex_lock(&cache->lock);
    json_t *cached = json_incref(cache->list);
    int64_t cached_count = cache->count, cached_max = cache->max_revision;
    pthread_mutex_unlock(&cache->lock);

    if (cached) {
        int newer = 1;
        rc = mao_etcd_probe(self->etcd, s_dir[kind], cached_max + 1, &count, &newer);
        if (rc < 0 || (!newer && count == cached_count)) {
            if (rc < 0)
                json_decref(cached);
            else
                *out = cached;
            return rc;
        }
        json_decref(cached);
    }
    json_t *list = NULL;
    if ((rc = s_read_all(&list, &count, &max_revision, self->etcd, kind)) < 0)
        return rc;
    pthread_mutex_lock(&cache->lock);
    if (!cache->list || max_revision >= cache->max_revision) {
        json_decref(cache->list);
        cache->list = json_incref(list);
        cache->count = count;
        cache->max_revision = max_revision;
    }
    pthread_mutex_unlock(&cache->lock);
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

int coord_registry_get(json_t **out, coord_registry_t *self, coord_kind_t kind, const char *name)
{
    mao_etcd_t *etcd = self->etcd;
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

int coord_registry_put(json_t **stored, int *created, coord_registry_t *self, coord_kind_t kind,
                       json_t *input, int replace, int allow_local)
{
    mao_etcd_t *etcd = self->etcd;
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

int coord_registry_remove(coord_registry_t *self, coord_kind_t kind, const char *name)
{
    mao_etcd_t *etcd = self->etcd;
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

int coord_registry_tool(mao_tool_t *out, coord_registry_t *self, const char *name)
{
    json_t *json = NULL;
    int rc = coord_registry_get(&json, self, COORD_TOOLS, name);
    if (rc < 0)
        return rc;
    rc = mao_tool_from_json(out, json, MAO_PARSE_STORED, 1);
    json_decref(json);
    return rc < 0 ? MAO_EMALFORMED : 0;
}
