/*
 * coord_store: the recorder thread.
 *
 * Invariants: items are written in the order they were queued, except that a
 * newer item for the same key replaces an older one still waiting; a batch
 * that failed is retried whole (puts and deletes are idempotent), so nothing
 * queued is lost while the process lives.
 */
#include "coord_store.h"
#include "mao_error.h"
#include "mao_log.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_BATCH 32         /* items per transaction (each up to two operations) */
#define S_PRUNE_EVERY 20   /* prune a tool's history after this many of its writes */

typedef struct s_item_t {
    struct s_item_t *next;
    char *key;
    char *text;            /* the value as JSON text */
    char *also_delete;
    char *tag;
    char *prune_tool;
} s_item_t;

struct coord_store_t {
    mao_etcd_t *etcd;          /* borrowed */
    int wake_fd;               /* borrowed eventfd */
    long retention;
    pthread_t thread;
    pthread_mutex_t lock;      /* guards everything below */
    pthread_cond_t more;       /* items arrived, or stop */
    s_item_t *head, *tail;     /* waiting items */
    size_t pending;
    json_t *done;              /* tags written, not yet taken */
    json_t *prune_counts;      /* tool -> writes since its last prune */
    int stop;
    int healthy;
    int64_t deadline_ms;       /* when stopping: give up writing after this */
};

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_item_free(s_item_t *item)
{
    if (!item)
        return;
    free(item->key);
    free(item->text);
    free(item->also_delete);
    free(item->tag);
    free(item->prune_tool);
    free(item);
}

static char *s_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void coord_store_put(coord_store_t *self, const char *key, json_t *value, const char *also_delete,
                     const char *tag, const char *prune_tool)
{
    s_item_t *item = calloc(1, sizeof *item);
    char *text = json_dumps(value, JSON_COMPACT);
    if (!item || !text) {
        free(item);
        free(text);
        mao_log_error("store", "out of memory key=%s", key);
        return;
    }
    item->key = strdup(key);
    item->text = text;
    item->also_delete = s_dup(also_delete);
    item->tag = s_dup(tag);
    item->prune_tool = s_dup(prune_tool);
    pthread_mutex_lock(&self->lock);
    /* A newer value for a key still waiting replaces the older one, keeping
     * its place in the queue; tags and deletes of both are kept. */
    for (s_item_t *old = self->head; old; old = old->next) {
        if (strcmp(old->key, key) != 0)
            continue;
        free(old->text);
        old->text = item->text;
        item->text = NULL;
        if (item->also_delete) {
            free(old->also_delete);
            old->also_delete = item->also_delete;
            item->also_delete = NULL;
        }
        if (item->tag) {
            free(old->tag);
            old->tag = item->tag;
            item->tag = NULL;
        }
        if (item->prune_tool && !old->prune_tool) {
            old->prune_tool = item->prune_tool;
            item->prune_tool = NULL;
        }
        pthread_mutex_unlock(&self->lock);
        s_item_free(item);
        return;
    }
    if (self->tail)
        self->tail->next = item;
    else
        self->head = item;
    self->tail = item;
    self->pending++;
    pthread_cond_signal(&self->more);
    pthread_mutex_unlock(&self->lock);
}

json_t *coord_store_take_done(coord_store_t *self)
{
    pthread_mutex_lock(&self->lock);
    json_t *done = self->done;
    self->done = json_array();
    pthread_mutex_unlock(&self->lock);
    return done;
}

size_t coord_store_pending(coord_store_t *self)
{
    pthread_mutex_lock(&self->lock);
    size_t n = self->pending;
    pthread_mutex_unlock(&self->lock);
    return n;
}

int coord_store_healthy(coord_store_t *self)
{
    pthread_mutex_lock(&self->lock);
    int h = self->healthy;
    pthread_mutex_unlock(&self->lock);
    return h;
}

/* Keeps the newest `retention` finished runs of a tool. */
static void s_prune(coord_store_t *self, const char *tool)
{
    char prefix[128];
    mao_etcd_kvs_t kvs;
    snprintf(prefix, sizeof prefix, "runs/%s/", tool);
    if (mao_etcd_list(self->etcd, prefix, 0, 1, &kvs) < 0)
        return;
    if ((long)kvs.count > self->retention) {
        size_t extra = kvs.count - (size_t)self->retention;
        mao_etcd_op_t ops[64];
        for (size_t i = 0; i < extra; i += 64) {
            size_t n = 0;
            for (size_t j = i; j < extra && n < 64; j++, n++)
                ops[n] = (mao_etcd_op_t){.del = 1, .key = kvs.items[j].key};
            if (mao_etcd_batch(self->etcd, ops, n) < 0)
                break;
        }
        mao_log_debug("store", "history.pruned tool=%s removed=%zu", tool, extra);
    }
    mao_etcd_kvs_free(&kvs);
}

static void s_wake(coord_store_t *self)
{
    uint64_t one = 1;
    if (self->wake_fd >= 0 && write(self->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        mao_log_warn("store", "wake.failed error=\"%s\"", strerror(errno));
}

static void *s_thread(void *arg)
{
    coord_store_t *self = arg;
    long backoff_ms = 0;
    pthread_mutex_lock(&self->lock);
    for (;;) {
        while (!self->head && !self->stop)
            pthread_cond_wait(&self->more, &self->lock);
        if (!self->head || (self->stop && s_now_ms() > self->deadline_ms))
            break;
        /* Take a batch off the queue; it goes back in front if it fails. */
        s_item_t *batch = self->head;
        s_item_t *last = batch;
        size_t n = 1;
        while (last->next && n < S_BATCH) {
            last = last->next;
            n++;
        }
        self->head = last->next;
        if (!self->head)
            self->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&self->lock);

        mao_etcd_op_t ops[2 * S_BATCH];
        size_t nops = 0;
        for (s_item_t *it = batch; it; it = it->next) {
            if (it->also_delete)
                ops[nops++] = (mao_etcd_op_t){.del = 1, .key = it->also_delete};
            ops[nops++] = (mao_etcd_op_t){.key = it->key, .value = it->text,
                                          .len = strlen(it->text)};
        }
        int rc = mao_etcd_batch(self->etcd, ops, nops);

        pthread_mutex_lock(&self->lock);
        self->healthy = rc == 0;
        if (rc < 0) {
            /* Back in front, in order; newer items for the same keys that
             * arrived meanwhile stay behind and win when written later. */
            last->next = self->head;
            self->head = batch;
            if (!self->tail)
                self->tail = last;
            backoff_ms = backoff_ms ? (backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2) : 100;
            mao_log_warn("store", "write.failed items=%zu retry_in_ms=%ld detail=\"%s\"", n,
                         backoff_ms, mao_error_last());
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += backoff_ms / 1000;
            until.tv_nsec += (backoff_ms % 1000) * 1000000;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            if (!self->stop)
                pthread_cond_timedwait(&self->more, &self->lock, &until);
            continue;
        }
        if (backoff_ms)
            mao_log_info("store", "write.recovered");
        backoff_ms = 0;
        self->pending -= n;
        int tagged = 0;
        json_t *prune = json_array();
        for (s_item_t *it = batch; it; it = it->next) {
            if (it->tag) {
                json_array_append_new(self->done, json_string(it->tag));
                tagged = 1;
            }
            if (it->prune_tool) {
                json_int_t c = json_integer_value(json_object_get(self->prune_counts,
                                                                  it->prune_tool)) + 1;
                if (c >= S_PRUNE_EVERY) {
                    c = 0;
                    json_array_append_new(prune, json_string(it->prune_tool));
                }
                json_object_set_new(self->prune_counts, it->prune_tool, json_integer(c));
            }
        }
        pthread_mutex_unlock(&self->lock);
        while (batch) {
            s_item_t *next = batch->next;
            s_item_free(batch);
            batch = next;
        }
        size_t i;
        json_t *tool;
        json_array_foreach(prune, i, tool) s_prune(self, json_string_value(tool));
        json_decref(prune);
        if (tagged)
            s_wake(self);
        pthread_mutex_lock(&self->lock);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

int coord_store_new(coord_store_t **out, mao_etcd_t *etcd, int wake_fd, long retention)
{
    coord_store_t *self = calloc(1, sizeof *self);
    if (!self)
        return MAO_ENOMEM;
    self->etcd = etcd;
    self->wake_fd = wake_fd;
    self->retention = retention > 0 ? retention : 200;
    self->done = json_array();
    self->prune_counts = json_object();
    self->healthy = 1;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->more, NULL);
    if (!self->done || !self->prune_counts ||
        pthread_create(&self->thread, NULL, s_thread, self) != 0) {
        json_decref(self->done);
        json_decref(self->prune_counts);
        free(self);
        return MAO_ENOMEM;
    }
    *out = self;
    return 0;
}

void coord_store_destroy(coord_store_t **self_p, long grace_ms)
{
    if (!self_p || !*self_p)
        return;
    coord_store_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    self->stop = 1;
    self->deadline_ms = s_now_ms() + grace_ms;
    pthread_cond_signal(&self->more);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL);
    if (self->pending)
        mao_log_warn("store", "stopped.unwritten items=%zu", self->pending);
    while (self->head) {
        s_item_t *next = self->head->next;
        s_item_free(self->head);
        self->head = next;
    }
    json_decref(self->done);
    json_decref(self->prune_counts);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->more);
    free(self);
    *self_p = NULL;
}
