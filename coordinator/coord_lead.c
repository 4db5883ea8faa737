/*
 * coord_lead: the leadership thread (see coord_lead.h).
 */
#include "coord_lead.h"
#include "mao_error.h"
#include "mao_id.h"
#include "mao_log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_KEY "leader"
#define S_TERM_KEY "leader-term"
#define S_STANDBY_POLL_MS 500 /* how often a standby looks whether the key went */

struct coord_lead_t {
    mao_etcd_t *etcd;
    json_t *me;
    char *me_text;          /* our record as stored */
    long ttl_s;
    int wake_fd;
    pthread_t thread;
    int started;
    pthread_mutex_t lock;   /* guards everything below */
    pthread_cond_t cond;
    int stop;
    coord_lead_state_t state;
    int64_t lease;
    int64_t fence;          /* create revision of our key */
    int64_t term;
    int64_t valid_until_ms; /* our lease cannot have run out before this */
    json_t *leader;         /* the leader's record as last seen */
    int follows;            /* standing by behind another live leader */
};

static void s_wake(coord_lead_t *self)
{
    uint64_t one = 1;
    if (self->wake_fd >= 0 && write(self->wake_fd, &one, sizeof one) < 0) {
        /* The reactor looks at the state on its next round anyway. */
    }
}

static int64_t s_term_of(const mao_etcd_kv_t *kv)
{
    return kv->value ? strtoll(kv->value, NULL, 10) : 0;
}

/* Reads `leader-term`: 0 when it does not exist yet. */
static int s_read_term(coord_lead_t *self, int64_t *term)
{
    mao_etcd_kv_t kv = {0};
    int rc = mao_etcd_get(self->etcd, S_TERM_KEY, &kv);
    if (rc == MAO_ENOTFOUND) {
        *term = 0;
        return 0;
    }
    if (rc < 0)
        return rc;
    *term = s_term_of(&kv);
    mao_etcd_kv_free(&kv);
    return 0;
}

/* Creates our key with a new lease when it does not exist and the term is
 * `term`; `next_term` goes into leader-term.  Returns 1 (ours now), 0 (not),
 * or a negative code. */
static int s_take(coord_lead_t *self, int64_t term, int64_t next_term)
{
    int64_t lease = 0, revision = 0;
    int rc = mao_etcd_lease_grant(self->etcd, self->ttl_s, &lease);
    if (rc < 0)
        return rc;
    char term_text[32], next_text[32];
    snprintf(term_text, sizeof term_text, "%lld", (long long)term);
    snprintf(next_text, sizeof next_text, "%lld", (long long)next_term);
    mao_etcd_cmp_t cmps[2] = {{.key = S_KEY, .target = MAO_ETCD_CREATE, .number = 0}};
    cmps[1] = term == 0 ? (mao_etcd_cmp_t){.key = S_TERM_KEY, .target = MAO_ETCD_CREATE}
                        : (mao_etcd_cmp_t){.key = S_TERM_KEY, .target = MAO_ETCD_VALUE,
                                           .value = term_text};
    mao_etcd_op_t ops[2] = {
        {.key = S_KEY, .value = self->me_text, .len = strlen(self->me_text), .lease = lease},
        {.key = S_TERM_KEY, .value = next_text, .len = strlen(next_text)}};
    int64_t before = mao_now_ms();
    int ok = 0;
    rc = mao_etcd_txn(self->etcd, cmps, 2, ops, next_term == term ? 1 : 2, &ok, &revision);
    mao_etcd_kv_t kv = {0};
    if (rc == 0 && !ok && mao_etcd_get(self->etcd, S_KEY, &kv) == 0) {
        /* A repeated request may find its own first try: ours after all? */
        ok = kv.value && strcmp(kv.value, self->me_text) == 0 && kv.lease == lease;
        revision = kv.create_revision;
        mao_etcd_kv_free(&kv);
    }
    if (rc < 0 || !ok) {
        mao_etcd_lease_revoke(self->etcd, lease);
        return rc < 0 ? rc : 0;
    }
    pthread_mutex_lock(&self->lock);
    self->lease = lease;
    self->fence = revision;
    self->term = next_term;
    self->valid_until_ms = before + self->ttl_s * 1000;
    self->state = COORD_LEAD_LEADING;
    json_decref(self->leader);
    self->leader = json_incref(self->me);
    pthread_mutex_unlock(&self->lock);
    return 1;
}

/* 1 when `leader` is an earlier process of ours: same host, same API
 * address, another id.  We bound that address before campaigning, so that
 * process is gone (killed before it could give its lease back), and waiting
 * for its lease to run out would only delay the restart. */
static int s_is_our_predecessor(coord_lead_t *self, json_t *leader)
{
    static const char *const same[] = {"host", "bind"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        const char *a = json_string_value(json_object_get(leader, same[i]));
        const char *b = json_string_value(json_object_get(self->me, same[i]));
        if (!a || !b || strcmp(a, b) != 0)
            return 0;
    }
    const char *id = json_string_value(json_object_get(leader, "id"));
    return id && strcmp(id, json_string_value(json_object_get(self->me, "id"))) != 0;
}

static void s_campaign(coord_lead_t *self)
{
    mao_etcd_kv_t kv = {0};
    int rc = mao_etcd_get(self->etcd, S_KEY, &kv);
    if (rc == 0) {
        json_t *leader = kv.value ? json_loads(kv.value, 0, NULL) : NULL;
        int64_t seen = kv.mod_revision;
        mao_etcd_kv_free(&kv);
        if (leader && s_is_our_predecessor(self, leader) &&
            mao_etcd_delete_if(self->etcd, S_KEY, seen) == 0) {
            mao_log_info("lead", "leader.replaced id=%s reason=\"an earlier process at this "
                                 "host and address\"",
                         json_string_value(json_object_get(leader, "id")));
            json_decref(leader);
            rc = MAO_ENOTFOUND; /* campaign now */
        } else {
            pthread_mutex_lock(&self->lock);
            json_decref(self->leader);
            self->leader = leader;
            self->follows = leader != NULL;
            pthread_mutex_unlock(&self->lock);
            return;
        }
    }
    pthread_mutex_lock(&self->lock);
    self->follows = 0;
    pthread_mutex_unlock(&self->lock);
    if (rc != MAO_ENOTFOUND)
        return; /* etcd away: try again later */
    int64_t term = 0;
    if (s_read_term(self, &term) < 0)
        return;
    if (s_take(self, term, term + 1) == 1) {
        mao_log_info("lead", "leader.elected term=%lld fence=%lld ttl_s=%ld",
                     (long long)self->term, (long long)self->fence, self->ttl_s);
        s_wake(self);
    }
}

static void s_lose(coord_lead_t *self, const char *why)
{
    pthread_mutex_lock(&self->lock);
    self->state = COORD_LEAD_LOST;
    self->valid_until_ms = 0;
    pthread_mutex_unlock(&self->lock);
    mao_log_warn("lead", "leader.lost term=%lld reason=\"%s\"", (long long)self->term, why);
    s_wake(self);
}

static void s_renew(coord_lead_t *self)
{
    long left = 0;
    int64_t before = mao_now_ms();
    int rc = mao_etcd_lease_keepalive(self->etcd, self->lease, &left);
    if (rc < 0 && rc != MAO_ENOTFOUND)
        return; /* etcd away: we go on from memory; valid_until runs out */
    mao_etcd_kv_t kv = {0};
    int found = rc == 0 && left > 0 ? mao_etcd_get(self->etcd, S_KEY, &kv) : MAO_ENOTFOUND;
    if (found < 0 && found != MAO_ENOTFOUND)
        return;
    if (found == 0) {
        int ours = kv.create_revision == self->fence;
        mao_etcd_kv_free(&kv);
        if (!ours) {
            s_lose(self, "another coordinator holds the leader key");
            return;
        }
        pthread_mutex_lock(&self->lock);
        self->valid_until_ms = before + left * 1000;
        pthread_mutex_unlock(&self->lock);
        return;
    }
    /* Our lease or key is gone (etcd was away longer than the TTL, or someone
     * deleted it): take it back if nobody led since. */
    int64_t term = 0;
    if (s_read_term(self, &term) < 0)
        return;
    if (term != self->term) {
        s_lose(self, "another coordinator led meanwhile");
        return;
    }
    int64_t old_lease = self->lease;
    rc = s_take(self, term, term);
    if (rc == 1) {
        mao_etcd_lease_revoke(self->etcd, old_lease);
        mao_log_info("lead", "leader.resumed term=%lld fence=%lld", (long long)self->term,
                     (long long)self->fence);
        s_wake(self);
    } else if (rc == 0) {
        s_lose(self, "another coordinator took the leader key");
    }
}

static void *s_thread(void *arg)
{
    coord_lead_t *self = arg;
    pthread_mutex_lock(&self->lock);
    while (!self->stop) {
        coord_lead_state_t state = self->state;
        pthread_mutex_unlock(&self->lock);
        if (state == COORD_LEAD_STANDBY)
            s_campaign(self);
        else if (state == COORD_LEAD_LEADING)
            s_renew(self);
        pthread_mutex_lock(&self->lock);
        long wait_ms = self->state == COORD_LEAD_LEADING ? self->ttl_s * 1000 / 3
                                                         : S_STANDBY_POLL_MS;
        if (self->stop || self->state == COORD_LEAD_LOST)
            break;
        int64_t until = mao_now_ms() + wait_ms;
        struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (long)(until % 1000) * 1000000};
        pthread_cond_timedwait(&self->cond, &self->lock, &ts);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

int coord_lead_new(coord_lead_t **out, mao_etcd_t *etcd, json_t *me, long ttl_s, int wake_fd)
{
    coord_lead_t *self = calloc(1, sizeof *self);
    if (!self)
        return MAO_ENOMEM;
    self->etcd = etcd;
    self->me = json_incref(me);
    self->me_text = json_dumps(me, JSON_COMPACT | JSON_SORT_KEYS);
    self->ttl_s = ttl_s;
    self->wake_fd = wake_fd;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->cond, NULL);
    /* The clock of pthread_cond_timedwait is the realtime one, as mao_now_ms. */
    if (!self->me_text || pthread_create(&self->thread, NULL, s_thread, self) != 0) {
        coord_lead_destroy(&self);
        return MAO_ENOMEM;
    }
    self->started = 1;
    *out = self;
    return 0;
}

coord_lead_state_t coord_lead_state(coord_lead_t *self)
{
    pthread_mutex_lock(&self->lock);
    coord_lead_state_t s = self->state;
    pthread_mutex_unlock(&self->lock);
    return s;
}

int64_t coord_lead_fence(coord_lead_t *self)
{
    pthread_mutex_lock(&self->lock);
    int64_t f = self->state == COORD_LEAD_LEADING ? self->fence : -1;
    pthread_mutex_unlock(&self->lock);
    return f;
}

int64_t coord_lead_term(coord_lead_t *self)
{
    pthread_mutex_lock(&self->lock);
    int64_t t = self->term;
    pthread_mutex_unlock(&self->lock);
    return t;
}

int coord_lead_may_act(coord_lead_t *self)
{
    pthread_mutex_lock(&self->lock);
    int ok = self->state == COORD_LEAD_LEADING && mao_now_ms() < self->valid_until_ms;
    pthread_mutex_unlock(&self->lock);
    return ok;
}

int coord_lead_follows(coord_lead_t *self)
{
    pthread_mutex_lock(&self->lock);
    int f = self->state == COORD_LEAD_STANDBY && self->follows;
    pthread_mutex_unlock(&self->lock);
    return f;
}

json_t *coord_lead_leader(coord_lead_t *self)
{
    pthread_mutex_lock(&self->lock);
    json_t *l = json_incref(self->leader);
    pthread_mutex_unlock(&self->lock);
    return l;
}

void coord_lead_destroy(coord_lead_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_lead_t *self = *self_p;
    if (self->started) {
        pthread_mutex_lock(&self->lock);
        self->stop = 1;
        pthread_cond_broadcast(&self->cond);
        pthread_mutex_unlock(&self->lock);
        pthread_join(self->thread, NULL);
    }
    if (self->state == COORD_LEAD_LEADING && self->lease) {
        /* Give the key back: a standby takes over at once. */
        if (mao_etcd_lease_revoke(self->etcd, self->lease) == 0)
            mao_log_info("lead", "leader.resigned term=%lld", (long long)self->term);
    }
    json_decref(self->me);
    json_decref(self->leader);
    free(self->me_text);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->cond);
    free(self);
    *self_p = NULL;
}
