/*
 * coord_tools: the watched copy of tools/.
 */
#include "coord_tools.h"
#include "mao_error.h"
#include "mao_log.h"
#include "mao_name.h"
#include "mao_tool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct coord_tools_t {
    mao_etcd_t *etcd;         /* borrowed */
    pthread_t thread;
    pthread_mutex_t lock;     /* guards `tools` and `ready` */
    json_t *tools;            /* name -> record */
    int ready;
    volatile int stop;
};

/* The checked record of a stored value, or NULL. */
static json_t *s_check(const char *key, const char *value, size_t len)
{
    const char *name = strrchr(key, '/');
    json_t *j = json_loadb(value, len, 0, NULL);
    mao_tool_t tool;
    json_t *out = NULL;
    if (j && name && mao_tool_from_json(&tool, j, MAO_PARSE_STORED, 1) == 0) {
        if (strcmp(tool.name, name + 1) == 0)
            out = mao_tool_to_json(&tool);
        mao_tool_clear(&tool);
    }
    json_decref(j);
    return out;
}

static int s_on_event(mao_etcd_event_type_t type, const mao_etcd_kv_t *kv, void *arg)
{
    coord_tools_t *self = arg;
    const char *name = strrchr(kv->key, '/');
    if (!name)
        return 0;
    json_t *record = type == MAO_ETCD_PUT ? s_check(kv->key, kv->value, kv->value_len) : NULL;
    pthread_mutex_lock(&self->lock);
    if (record)
        json_object_set_new(self->tools, name + 1, record);
    else
        json_object_del(self->tools, name + 1);
    pthread_mutex_unlock(&self->lock);
    return self->stop;
}

static void *s_thread(void *arg)
{
    coord_tools_t *self = arg;
    int64_t next = 0;
    int backoff = 0;
    while (!self->stop) {
        if (next == 0) {
            mao_etcd_kvs_t kvs;
            if (mao_etcd_list(self->etcd, "tools/", 0, 0, &kvs) < 0) {
                backoff = backoff ? (backoff * 2 > 5000 ? 5000 : backoff * 2) : 200;
                for (int waited = 0; waited < backoff && !self->stop; waited += 50)
                    usleep(50 * 1000);
                continue;
            }
            json_t *tools = json_object();
            for (size_t i = 0; i < kvs.count; i++) {
                json_t *r = s_check(kvs.items[i].key, kvs.items[i].value, kvs.items[i].value_len);
                if (r)
                    json_object_set_new(tools, strrchr(kvs.items[i].key, '/') + 1, r);
            }
            next = kvs.revision + 1;
            mao_etcd_kvs_free(&kvs);
            pthread_mutex_lock(&self->lock);
            json_decref(self->tools);
            self->tools = tools;
            self->ready = 1;
            pthread_mutex_unlock(&self->lock);
            backoff = 0;
        }
        /* Watch in bounded stretches, so that stopping is prompt. */
        int rc = mao_etcd_watch(self->etcd, "tools/", 1, next, 5000, &self->stop, s_on_event, self,
                                &next);
        if (rc < 0 && rc != MAO_ETIMEOUT) {
            mao_log_debug("tools", "watch.broken detail=\"%s\"", mao_error_last());
            next = 0; /* list again: we may have missed events */
            for (int waited = 0; waited < 500 && !self->stop; waited += 50)
                usleep(50 * 1000);
        }
    }
    return NULL;
}

int coord_tools_new(coord_tools_t **out, mao_etcd_t *etcd)
{
    coord_tools_t *self = calloc(1, sizeof *self);
    if (!self)
        return MAO_ENOMEM;
    self->etcd = etcd;
    self->tools = json_object();
    pthread_mutex_init(&self->lock, NULL);
    if (!self->tools || pthread_create(&self->thread, NULL, s_thread, self) != 0) {
        json_decref(self->tools);
        free(self);
        return MAO_ENOMEM;
    }
    *out = self;
    return 0;
}

json_t *coord_tools_get(coord_tools_t *self, const char *name)
{
    pthread_mutex_lock(&self->lock);
    json_t *r = json_incref(json_object_get(self->tools, name));
    pthread_mutex_unlock(&self->lock);
    return r;
}

int coord_tools_ready(coord_tools_t *self)
{
    pthread_mutex_lock(&self->lock);
    int r = self->ready;
    pthread_mutex_unlock(&self->lock);
    return r;
}

void coord_tools_note(coord_tools_t *self, json_t *record)
{
    const char *name = json_string_value(json_object_get(record, "name"));
    if (!name)
        return;
    pthread_mutex_lock(&self->lock);
    json_object_set(self->tools, name, record);
    pthread_mutex_unlock(&self->lock);
}

void coord_tools_forget(coord_tools_t *self, const char *name)
{
    pthread_mutex_lock(&self->lock);
    json_object_del(self->tools, name);
    pthread_mutex_unlock(&self->lock);
}

void coord_tools_destroy(coord_tools_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_tools_t *self = *self_p;
    self->stop = 1;
    pthread_join(self->thread, NULL);
    json_decref(self->tools);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}
