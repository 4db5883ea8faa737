/*
 * coord_sched: the schedules' heap, their records, and firing.
 *
 * Invariants: a schedule is in the heap iff it is not paused; `next_slot` is
 * always the first slot after `last_slot` (or after the anchor when nothing
 * ran yet); `last_slot` only moves forward, in the same store transaction as
 * what its slot made.
 */
#include "coord_sched.h"
#include "coord_dispatch.h"
#include "coord_store.h"
#include "coord_tools.h"
#include "mao_error.h"
#include "mao_log.h"
#include "mao_name.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CATCH_UP_MAX 100   /* slots looked at one by one in one catch-up */
#define S_MISSED_RECORDS 20  /* missed slots recorded one by one; the rest together */
#define S_LOOKAHEAD_MS 1000  /* slots are claimed this much ahead (at most half the interval) */

struct coord_scheds_t {
    zhashx_t *by_id;        /* id -> coord_sched_t *, owns them */
    coord_sched_t **heap;   /* min-heap by key_ms of the schedules not paused */
    size_t len, cap;
    zlistx_t *unwritten;    /* s_unwritten_t *, oldest first: outcomes to write behind */
};

/* A schedule whose outcome changed at `mark_ms` and was not written. */
typedef struct {
    int64_t mark_ms;
    char id[MAO_ID_LEN + 1];
} s_unwritten_t;

/* ---- the heap ------------------------------------------------------------------ */

static void s_swap(coord_scheds_t *h, size_t a, size_t b)
{
    coord_sched_t *t = h->heap[a];
    h->heap[a] = h->heap[b];
    h->heap[b] = t;
    h->heap[a]->heap_at = a;
    h->heap[b]->heap_at = b;
}

static void s_up(coord_scheds_t *h, size_t i)
{
    while (i > 0 && h->heap[(i - 1) / 2]->key_ms > h->heap[i]->key_ms) {
        s_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void s_down(coord_scheds_t *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->len && h->heap[l]->key_ms < h->heap[m]->key_ms)
            m = l;
        if (r < h->len && h->heap[r]->key_ms < h->heap[m]->key_ms)
            m = r;
        if (m == i)
            return;
        s_swap(h, i, m);
        i = m;
    }
}

static void s_heap_push(coord_scheds_t *h, coord_sched_t *s)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        coord_sched_t **grown = realloc(h->heap, cap * sizeof *grown);
        if (!grown) {
            mao_log_error("sched", "out of memory: schedule %s not armed", s->id);
            return;
        }
        h->heap = grown;
        h->cap = cap;
    }
    s->heap_at = h->len;
    h->heap[h->len++] = s;
    s_up(h, s->heap_at);
}

static void s_heap_remove(coord_scheds_t *h, coord_sched_t *s)
{
    size_t i = s->heap_at;
    if (i == SIZE_MAX || i >= h->len || h->heap[i] != s)
        return;
    s_swap(h, i, h->len - 1);
    h->len--;
    s->heap_at = SIZE_MAX;
    if (i < h->len) {
        s_up(h, i);
        s_down(h, i);
    }
}

static void s_heap_fix(coord_scheds_t *h, coord_sched_t *s)
{
    if (s->heap_at == SIZE_MAX)
        return;
    s_up(h, s->heap_at);
    s_down(h, s->heap_at);
}

/* ---- one schedule --------------------------------------------------------------- */

static const char *s_overlap_names[] = {"skip", "queue-one", "allow"};

static int64_t s_jitter_ms(const coord_sched_t *s)
{
    return mao_sched_jitter_ms(s->tool, s->jitter_s);
}

int64_t coord_sched_planned_ms(const coord_sched_t *s, int64_t slot)
{
    return slot * 1000 + s_jitter_ms(s);
}

/* How far ahead a slot is claimed: S_LOOKAHEAD_MS, and at most half the
 * interval, so that a claim is decided before the next one is made. */
static int64_t s_lookahead_ms(const coord_sched_t *s)
{
    int64_t interval = mao_sched_trigger_interval(s->trigger);
    if (interval > 0 && interval * 500 < S_LOOKAHEAD_MS)
        return interval * 500;
    return S_LOOKAHEAD_MS;
}

/* Sets key_ms, the heap's order (see coord_sched.h). */
static void s_key(coord_sched_t *s)
{
    if (s->claimed[0])
        s->key_ms = s->claimed_due_ms;
    else if (s->due_ms == INT64_MAX)
        s->key_ms = INT64_MAX;
    else
        s->key_ms = s->due_ms - s_lookahead_ms(s);
}

/* Sets next_slot: the first slot after last_slot (or the anchor) and after
 * the last resume. */
static int s_plan(coord_sched_t *s)
{
    int64_t after = s->last_slot ? s->last_slot : s->anchor;
    if (s->resumed_at > after)
        after = s->resumed_at;
    int64_t next = 0;
    int rc = mao_sched_trigger_next(&next, s->trigger, s->anchor, after);
    if (rc < 0) {
        s->next_slot = INT64_MAX / 2000;
        s->due_ms = INT64_MAX;
        s_key(s);
        return rc;
    }
    s->next_slot = next;
    s->due_ms = coord_sched_planned_ms(s, next);
    s_key(s);
    return 0;
}

void coord_sched_destroy(coord_sched_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_sched_t *s = *self_p;
    mao_sched_trigger_destroy(&s->trigger);
    free(s->last_reason);
    free(s);
    *self_p = NULL;
}

static void s_note(coord_sched_t *s, const char *run, const char *outcome, const char *reason)
{
    snprintf(s->last_run, sizeof s->last_run, "%s", run ? run : "");
    snprintf(s->last_outcome, sizeof s->last_outcome, "%s", outcome);
    free(s->last_reason);
    s->last_reason = reason ? strdup(reason) : NULL;
    s->last_outcome_ms = mao_now_ms();
}

/* Reads a whole number of seconds from a field: a number, or a duration text
 * ("90s", "1h"). */
static int s_seconds(long *out, json_t *body, const char *key, long min, long max)
{
    json_t *v = json_object_get(body, key);
    if (!v || json_is_null(v))
        return 0;
    int64_t secs;
    if (json_is_integer(v))
        secs = json_integer_value(v);
    else if (json_is_string(v)) {
        if (mao_sched_duration_parse(&secs, json_string_value(v)) < 0) {
            mao_error_prefix("field \"%s\"", key);
            return MAO_EINVAL;
        }
    } else {
        mao_error_set("field \"%s\" must be seconds or a duration such as \"90s\"", key);
        return MAO_EINVAL;
    }
    if (secs < min || secs > max) {
        mao_error_set("field \"%s\" must be from %ld to %ld seconds", key, min, max);
        return MAO_EINVAL;
    }
    *out = (long)secs;
    return 0;
}

/* The trigger a request asks for, as the text mao_sched reads. */
static int s_request_trigger(char *out, size_t size, json_t *body)
{
    const char *trigger = json_string_value(json_object_get(body, "trigger"));
    const char *freq = json_string_value(json_object_get(body, "frequency"));
    const char *every = json_string_value(json_object_get(body, "every"));
    const char *cron = json_string_value(json_object_get(body, "cron"));
    const char *tz = json_string_value(json_object_get(body, "tz"));
    int given = !!trigger + !!freq + !!every + !!cron;
    if (given != 1) {
        mao_error_set(given ? "give one of \"trigger\", \"frequency\", \"every\" and \"cron\", "
                              "not several"
                            : "missing the schedule: \"frequency\" (daily or weekly), \"every\" "
                              "(a duration such as 15m), or \"cron\" (five fields)");
        return MAO_EINVAL;
    }
    if (tz && !cron) {
        mao_error_set("\"tz\" goes with \"cron\" only");
        return MAO_EINVAL;
    }
    if (trigger)
        snprintf(out, size, "%s", trigger);
    else if (freq) {
        if (strcmp(freq, "daily") != 0 && strcmp(freq, "weekly") != 0) {
            mao_error_set("\"frequency\" is daily or weekly (or use \"every\" or \"cron\")");
            return MAO_EINVAL;
        }
        snprintf(out, size, "%s", freq);
    } else if (every)
        snprintf(out, size, "every %s", every);
    else if (tz && *tz)
        snprintf(out, size, "cron:TZ=%s %s", tz, cron);
    else
        snprintf(out, size, "cron:%s", cron);
    return 0;
}

static int s_policies(coord_sched_t *s, json_t *body)
{
    int rc;
    if ((rc = s_seconds(&s->grace_s, body, "misfire_grace_s", 1, 366 * 86400)) < 0 ||
        (rc = s_seconds(&s->max_run_s, body, "max_run_s", 0, 7 * 86400)) < 0 ||
        (rc = s_seconds(&s->retry_backoff_s, body, "retry_backoff_s", 1, 86400)) < 0 ||
        (rc = s_seconds(&s->jitter_s, body, "jitter_s", 0, 86400)) < 0)
        return rc;
    json_t *v = json_object_get(body, "retries");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 20) {
            mao_error_set("field \"retries\" must be a whole number from 0 to 20");
            return MAO_EINVAL;
        }
        s->retries = (long)json_integer_value(v);
    }
    v = json_object_get(body, "coalesce");
    if (v && !json_is_null(v)) {
        if (!json_is_boolean(v)) {
            mao_error_set("field \"coalesce\" must be true or false");
            return MAO_EINVAL;
        }
        s->coalesce = json_is_true(v);
    }
    const char *overlap = json_string_value(json_object_get(body, "overlap"));
    if (json_object_get(body, "overlap") && !json_is_null(json_object_get(body, "overlap"))) {
        int found = 0;
        for (int i = 0; i < 3 && overlap; i++)
            if (strcmp(overlap, s_overlap_names[i]) == 0) {
                s->overlap = (coord_overlap_t)i;
                found = 1;
            }
        if (!found) {
            mao_error_set("field \"overlap\" is skip, queue-one or allow");
            return MAO_EINVAL;
        }
    }
    v = json_object_get(body, "paused");
    if (v && !json_is_null(v))
        s->paused = json_is_true(v);
    return 0;
}

/* "start": the first fire is at that instant (an interval) or the first
 * slot at or after it (cron).  Done by moving the anchor, which is all a
 * restart needs to know. */
static int s_start(coord_sched_t *s, json_t *body, int64_t now_ms)
{
    json_t *v = json_object_get(body, "start");
    int64_t start;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v))
        start = json_integer_value(v);
    else if (!json_is_string(v)) {
        mao_error_set("field \"start\" must be a time such as \"2026-11-22T02:00:00Z\" or "
                      "seconds since 1970");
        return MAO_EINVAL;
    } else if (mao_time_parse(&start, json_string_value(v)) < 0) {
        mao_error_prefix("field \"start\"");
        return MAO_EINVAL;
    }
    if (start < now_ms / 1000 - 60) {
        mao_error_set("field \"start\" is in the past");
        return MAO_EINVAL;
    }
    if (start > now_ms / 1000 + MAO_SCHED_INTERVAL_MAX) {
        mao_error_set("field \"start\" is more than 366 days ahead");
        return MAO_EINVAL;
    }
    if (mao_sched_trigger_kind(s->trigger) == MAO_SCHED_INTERVAL)
        s->anchor = start - mao_sched_trigger_interval(s->trigger);
    else
        s->anchor = start - 1;
    return 0;
}

static coord_sched_t *s_new(void)
{
    coord_sched_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->grace_s = 3600;
    s->coalesce = 1;
    s->overlap = COORD_OVERLAP_SKIP;
    s->retry_backoff_s = 60;
    s->heap_at = SIZE_MAX;
    return s;
}

int coord_sched_from_request(coord_sched_t **out, json_t *body, const char *tool, int64_t now_ms)
{
    static const char *known[] = {"trigger",   "frequency",  "every",   "cron",
                                  "tz",        "site",       "misfire_grace_s", "coalesce",
                                  "overlap",   "max_run_s",  "retries", "retry_backoff_s",
                                  "jitter_s",  "paused",     "start",   "all_sites", NULL};
    char text[MAO_SCHED_TEXT_MAX];
    int rc;
    const char *key;
    json_t *value;
    if (!json_is_object(body)) {
        mao_error_set("request body must be a JSON object");
        return MAO_EINVAL;
    }
    json_object_foreach(body, key, value) {
        int ok = 0;
        for (size_t i = 0; known[i]; i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok) {
            char shown[64];
            mao_error_set("unknown field \"%s\" in a schedule",
                          mao_text_quote(shown, sizeof shown, key));
            return MAO_EINVAL;
        }
    }
    if ((rc = mao_name_check("tool", tool)) < 0 ||
        (rc = s_request_trigger(text, sizeof text, body)) < 0)
        return rc;
    coord_sched_t *s = s_new();
    if (!s)
        return MAO_ENOMEM;
    mao_id_new(s->id);
    snprintf(s->tool, sizeof s->tool, "%s", tool);
    s->created_ms = now_ms;
    s->anchor = now_ms / 1000;
    const char *site = json_string_value(json_object_get(body, "site"));
    if (site && *site) {
        if ((rc = mao_name_check("site", site)) < 0)
            goto fail;
        snprintf(s->site, sizeof s->site, "%s", site);
    }
    json_t *all = json_object_get(body, "all_sites");
    if (all && !json_is_boolean(all)) {
        mao_error_set("field \"all_sites\" is true or false");
        rc = MAO_EINVAL;
        goto fail;
    }
    s->all_sites = json_is_true(all);
    if (s->all_sites && s->site[0]) {
        mao_error_set("give a site or all_sites, not both");
        rc = MAO_EINVAL;
        goto fail;
    }
    if ((rc = mao_sched_trigger_parse(&s->trigger, text)) < 0) {
        if (rc == MAO_ENOTFOUND)
            rc = MAO_EINVAL; /* an unknown time zone is bad input here */
        goto fail;
    }
    if ((rc = s_policies(s, body)) < 0 || (rc = s_start(s, body, now_ms)) < 0)
        goto fail;
    if ((rc = s_plan(s)) < 0) {
        rc = MAO_EINVAL;
        goto fail;
    }
    *out = s;
    return 0;
fail:
    coord_sched_destroy(&s);
    return rc;
}

static char *s_iso(char *buf, size_t size, int64_t ms)
{
    mao_time_iso(buf, size, ms);
    return buf;
}

static json_t *s_record(const coord_sched_t *s)
{
    char trigger[MAO_SCHED_TEXT_MAX], created[40];
    mao_sched_trigger_format(trigger, sizeof trigger, s->trigger);
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:I, s:b, s:s, s:I, s:I, s:I, s:I}",
                          "id", s->id, "tool", s->tool, "trigger", trigger, "created_at",
                          s_iso(created, sizeof created, s->created_ms), "anchor",
                          (json_int_t)s->anchor, "last_slot", (json_int_t)s->last_slot, "paused",
                          s->paused, "misfire_grace_s", (json_int_t)s->grace_s, "coalesce",
                          s->coalesce, "overlap", s_overlap_names[s->overlap], "max_run_s",
                          (json_int_t)s->max_run_s, "retries", (json_int_t)s->retries,
                          "retry_backoff_s", (json_int_t)s->retry_backoff_s, "jitter_s",
                          (json_int_t)s->jitter_s);
    if (!r)
        return NULL;
    json_object_set_new(r, "site", s->site[0] ? json_string(s->site) : json_null());
    json_object_set_new(r, "all_sites", json_boolean(s->all_sites));
    if (s->resumed_at)
        json_object_set_new(r, "resumed_at", json_integer(s->resumed_at));
    if (s->last_outcome[0]) {
        /* What the last slot made, kept so that `why` still knows after a restart. */
        json_t *last = json_pack("{s:s, s:s, s:s}", "run", s->last_run, "status",
                                 s->last_outcome, "at",
                                 s_iso(created, sizeof created, s->last_outcome_ms));
        json_object_set_new(last, "reason",
                            s->last_reason ? json_string(s->last_reason) : json_null());
        json_object_set_new(r, "last", last);
    }
    return r;
}

coord_sched_t *coord_sched_from_record(json_t *record)
{
    const char *id = json_string_value(json_object_get(record, "id"));
    const char *tool = json_string_value(json_object_get(record, "tool"));
    const char *trigger = json_string_value(json_object_get(record, "trigger"));
    if (!id || mao_id_time_ms(id) < 0 || !tool || mao_name_check("tool", tool) < 0 || !trigger) {
        mao_log_warn("sched", "record.skipped detail=\"not a schedule record\"");
        return NULL;
    }
    coord_sched_t *s = s_new();
    if (!s)
        return NULL;
    snprintf(s->id, sizeof s->id, "%s", id);
    snprintf(s->tool, sizeof s->tool, "%s", tool);
    const char *site = json_string_value(json_object_get(record, "site"));
    if (site && mao_name_check("site", site) == 0)
        snprintf(s->site, sizeof s->site, "%s", site);
    s->all_sites = json_is_true(json_object_get(record, "all_sites")) && !s->site[0];
    s->created_ms = mao_id_time_ms(id);
    s->anchor = (int64_t)json_integer_value(json_object_get(record, "anchor"));
    s->last_slot = (int64_t)json_integer_value(json_object_get(record, "last_slot"));
    s->resumed_at = (int64_t)json_integer_value(json_object_get(record, "resumed_at"));
    json_t *last = json_object_get(record, "last");
    const char *last_run = json_string_value(json_object_get(last, "run"));
    const char *last_status = json_string_value(json_object_get(last, "status"));
    if (last_run && last_status) {
        snprintf(s->last_run, sizeof s->last_run, "%s", last_run);
        snprintf(s->last_outcome, sizeof s->last_outcome, "%s", last_status);
        const char *reason = json_string_value(json_object_get(last, "reason"));
        s->last_reason = reason ? strdup(reason) : NULL;
        s->last_outcome_ms = mao_id_time_ms(last_run);
        const char *at = json_string_value(json_object_get(last, "at"));
        int64_t at_s;
        if (at && mao_time_parse(&at_s, at) == 0)
            s->last_outcome_ms = at_s * 1000;
    }
    if (mao_sched_trigger_parse(&s->trigger, trigger) < 0 || s_policies(s, record) < 0 ||
        s_plan(s) < 0) {
        mao_log_warn("sched", "record.skipped id=%s detail=\"%s\"", id, mao_error_last());
        coord_sched_destroy(&s);
        return NULL;
    }
    return s;
}

json_t *coord_sched_record(coord_sched_t *s)
{
    s->outcome_unwritten_ms = 0;
    return s_record(s);
}

json_t *coord_sched_to_json(const coord_sched_t *s)
{
    char buf[40];
    json_t *j = s_record(s);
    if (!j)
        return NULL;
    int64_t next = s->claimed[0] ? s->claimed_due_ms : s->due_ms;
    json_object_set_new(j, "next_fire", s->paused || next == INT64_MAX
                                            ? json_null()
                                            : json_string(s_iso(buf, sizeof buf, next)));
    json_object_set_new(j, "last_slot_time",
                        s->last_slot ? json_string(s_iso(buf, sizeof buf, s->last_slot * 1000))
                                     : json_null());
    json_object_set_new(j, "active_run", s->active[0] ? json_string(s->active) : json_null());
    return j;
}

/* ---- the collection ---------------------------------------------------------------- */

static void s_free_sched(void **item)
{
    coord_sched_destroy((coord_sched_t **)item);
}

static void s_free_unwritten(void **item)
{
    free(*item);
    *item = NULL;
}

int coord_scheds_new(coord_scheds_t **out)
{
    coord_scheds_t *self = calloc(1, sizeof *self);
    if (!self || !(self->by_id = zhashx_new()) || !(self->unwritten = zlistx_new())) {
        if (self)
            zhashx_destroy(&self->by_id);
        free(self);
        return MAO_ENOMEM;
    }
    zhashx_set_destructor(self->by_id, s_free_sched);
    zlistx_set_destructor(self->unwritten, s_free_unwritten);
    *out = self;
    return 0;
}

void coord_scheds_destroy(coord_scheds_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    coord_scheds_t *self = *self_p;
    zhashx_destroy(&self->by_id);
    zlistx_destroy(&self->unwritten);
    free(self->heap);
    free(self);
    *self_p = NULL;
}

void coord_scheds_add(coord_scheds_t *self, coord_sched_t *s)
{
    zhashx_insert(self->by_id, s->id, s);
    if (!s->paused)
        s_heap_push(self, s);
}

coord_sched_t *coord_scheds_find(coord_scheds_t *self, const char *id)
{
    return zhashx_lookup(self->by_id, id);
}

void coord_scheds_remove(coord_scheds_t *self, coord_sched_t *s)
{
    s_heap_remove(self, s);
    zhashx_delete(self->by_id, s->id);
}

void coord_scheds_pause(coord_scheds_t *self, coord_sched_t *s, int paused, int64_t now_ms)
{
    if (paused && !s->paused) {
        s->paused = 1;
        s_heap_remove(self, s);
    } else if (!paused && s->paused) {
        s->paused = 0;
        /* Slots while paused were not expected: start again after now, and
         * remember it (the record keeps resumed_at) so a restart does too. */
        s->resumed_at = now_ms / 1000;
        s_plan(s);
        s_heap_push(self, s);
    }
}

size_t coord_scheds_count(coord_scheds_t *self)
{
    return zhashx_size(self->by_id);
}

coord_sched_t *coord_scheds_first(coord_scheds_t *self)
{
    return zhashx_first(self->by_id);
}

coord_sched_t *coord_scheds_next(coord_scheds_t *self)
{
    return zhashx_next(self->by_id);
}

int64_t coord_scheds_next_due(coord_scheds_t *self)
{
    return self->len ? self->heap[0]->key_ms : INT64_MAX;
}

/* ---- firing ---------------------------------------------------------------------- */

/* The run still in flight of a schedule, or NULL (and the note forgotten). */
static coord_run_t *s_live(coord_server_t *server, char *id)
{
    if (!id[0])
        return NULL;
    coord_run_t *run = coord_dispatch_find(server, id);
    if (!run || coord_run_terminal(run)) {
        id[0] = '\0';
        return NULL;
    }
    return run;
}

/* Writes a schedule's record alone (its last outcome changed). */
static void s_store(coord_server_t *server, coord_sched_t *s)
{
    json_t *record = coord_sched_record(s);
    coord_store_item_t item = {.kind = COORD_STORE_SCHEDULE, .id = s->id, .record = record};
    coord_store_write(server->store, &item, 1);
    json_decref(record);
}

/* The outcome changed: written with the next claim or by coord_sched_flush. */
static void s_store_later(coord_server_t *server, coord_sched_t *s)
{
    if (s->outcome_unwritten_ms)
        return; /* already waiting */
    s_unwritten_t *u = calloc(1, sizeof *u);
    if (!u || !zlistx_add_end(server->scheds->unwritten, u)) {
        free(u);
        s_store(server, s);
        return;
    }
    u->mark_ms = s->outcome_unwritten_ms = mao_now_ms();
    snprintf(u->id, sizeof u->id, "%s", s->id);
}

void coord_sched_flush(coord_server_t *server, int64_t now_ms)
{
    zlistx_t *list = server->scheds->unwritten;
    s_unwritten_t *u;
    while ((u = zlistx_first(list)) &&
           (now_ms == INT64_MAX || now_ms - u->mark_ms >= COORD_SCHED_OUTCOME_WRITE_MS)) {
        coord_sched_t *s = coord_scheds_find(server->scheds, u->id);
        /* Written since (a claim), or changed again later (a newer entry). */
        if (s && s->outcome_unwritten_ms == u->mark_ms)
            s_store(server, s);
        zlistx_delete(list, zlistx_cursor(list));
    }
}

/* Why a slot at `planned_ms` seen at `now_ms` is missed, into `reason`. */
static void s_missed_reason(char *reason, size_t size, const coord_sched_t *s, int64_t planned_ms,
                            int64_t now_ms, int64_t started_ms)
{
    char when[40];
    if (planned_ms < started_ms)
        snprintf(reason, size,
                 "the coordinator was not running at %s, and started more than the grace time "
                 "of %ld s later",
                 s_iso(when, sizeof when, planned_ms), s->grace_s);
    else
        snprintf(reason, size, "due at %s, seen %lld s late, past the grace time of %ld s",
                 s_iso(when, sizeof when, planned_ms),
                 (long long)((now_ms - planned_ms) / 1000), s->grace_s);
}

/* Accounts for one slot: a run, or why there is none. */
static void s_handle(coord_server_t *server, coord_sched_t *s, int64_t slot, int64_t now_ms,
                     json_t *tool, int64_t started_ms)
{
    char reason[320];
    int64_t planned_ms = coord_sched_planned_ms(s, slot);
    s->last_slot = slot;
    if (now_ms - planned_ms > s->grace_s * 1000) {
        s_missed_reason(reason, sizeof reason, s, planned_ms, now_ms, started_ms);
        coord_dispatch_record_slot(server, s, slot, COORD_RUN_MISSED, reason);
        return;
    }
    if (!tool) {
        snprintf(reason, sizeof reason, "tool %s is not registered any more", s->tool);
        coord_dispatch_record_slot(server, s, slot, COORD_RUN_SKIPPED, reason);
        return;
    }
    coord_run_t *live = s_live(server, s->active);
    int held = 0;
    if (live && s->overlap != COORD_OVERLAP_ALLOW) {
        coord_run_t *waiting = s->overlap == COORD_OVERLAP_QUEUE_ONE ? s_live(server, s->held) : NULL;
        if (s->overlap == COORD_OVERLAP_SKIP || waiting) {
            if (waiting)
                snprintf(reason, sizeof reason,
                         "run %s of an earlier slot was still %s and run %s was already waiting",
                         live->id, coord_run_status_name(live->status), waiting->id);
            else
                snprintf(reason, sizeof reason, "run %s of an earlier slot was still %s",
                         live->id, coord_run_status_name(live->status));
            coord_dispatch_record_slot(server, s, slot, COORD_RUN_SKIPPED, reason);
            return;
        }
        held = 1; /* queue-one: waits for the running one */
    }
    coord_run_t *run = coord_dispatch_scheduled(server, tool, s, slot, planned_ms, 0, 0, held, 0);
    if (!run)
        return;
    if (held)
        snprintf(s->held, sizeof s->held, "%s", run->id);
    else
        snprintf(s->active, sizeof s->active, "%s", run->id);
    s_note(s, run->id, "queued", NULL);
}

/* Claims the next slot ahead of time: its run is written now, gated until
 * the slot comes (s_gate decides then). */
static void s_claim(coord_server_t *server, coord_sched_t *s, json_t *tool)
{
    int64_t slot = s->next_slot, planned_ms = s->due_ms;
    s->claim_prev_slot = s->last_slot;
    s->last_slot = slot;
    if (!tool) {
        char reason[160];
        snprintf(reason, sizeof reason, "tool %s is not registered any more", s->tool);
        coord_dispatch_record_slot(server, s, slot, COORD_RUN_SKIPPED, reason);
        return;
    }
    coord_run_t *run =
        coord_dispatch_scheduled(server, tool, s, slot, planned_ms, 0, planned_ms, 0, 1);
    if (!run)
        return;
    snprintf(s->claimed, sizeof s->claimed, "%s", run->id);
    s->claimed_due_ms = planned_ms;
}

/* The claimed slot has come: decide for its run as a fire at this instant
 * would have (grace, overlap), and let it go. */
static void s_gate(coord_server_t *server, coord_sched_t *s, int64_t now_ms)
{
    char reason[320];
    coord_run_t *run = coord_dispatch_find(server, s->claimed);
    s->claimed[0] = '\0';
    if (!run || coord_run_terminal(run) || !run->gate)
        return;
    if (run->status != COORD_RUN_QUEUED || run->worker[0]) {
        /* A worker has it already (it was sent before a crash of ours). */
        coord_dispatch_ungate(server, run);
        snprintf(s->active, sizeof s->active, "%s", run->id);
        return;
    }
    if (now_ms - run->planned_ms > s->grace_s * 1000) {
        s_missed_reason(reason, sizeof reason, s, run->planned_ms, now_ms, server->started_ms);
        s_note(s, run->id, "missed", reason);
        coord_dispatch_drop(server, run, COORD_RUN_MISSED, reason);
        return;
    }
    if (s->coalesce && s->due_ms <= now_ms) {
        /* Later slots came too (the coordinator was away): the newest runs. */
        snprintf(reason, sizeof reason, "coalesced: a later slot runs in its place");
        s_note(s, run->id, "missed", reason);
        coord_dispatch_drop(server, run, COORD_RUN_MISSED, reason);
        return;
    }
    coord_run_t *live = s_live(server, s->active);
    if (live && s->overlap != COORD_OVERLAP_ALLOW) {
        coord_run_t *waiting = s->overlap == COORD_OVERLAP_QUEUE_ONE ? s_live(server, s->held) : NULL;
        if (s->overlap == COORD_OVERLAP_SKIP || waiting) {
            if (waiting)
                snprintf(reason, sizeof reason,
                         "run %s of an earlier slot was still %s and run %s was already waiting",
                         live->id, coord_run_status_name(live->status), waiting->id);
            else
                snprintf(reason, sizeof reason, "run %s of an earlier slot was still %s",
                         live->id, coord_run_status_name(live->status));
            s_note(s, run->id, "skipped", reason);
            coord_dispatch_drop(server, run, COORD_RUN_SKIPPED, reason);
            return;
        }
        coord_dispatch_ungate(server, run);
        run->held = 1; /* queue-one: waits for the running one */
        snprintf(s->held, sizeof s->held, "%s", run->id);
        s_note(s, run->id, "queued", NULL);
        coord_dispatch_touch(server, run);
        return;
    }
    coord_dispatch_ungate(server, run);
    snprintf(s->active, sizeof s->active, "%s", run->id);
    s_note(s, run->id, "queued", NULL);
}

void coord_sched_unclaim(coord_server_t *server, coord_sched_t *s)
{
    coord_run_t *run = s->claimed[0] ? coord_dispatch_find(server, s->claimed) : NULL;
    s->claimed[0] = '\0';
    if (run && !coord_run_terminal(run) && run->gate) {
        s->last_slot = s->claim_prev_slot;
        s_plan(s);
        coord_dispatch_forget(server, run, s);
    }
    s_key(s);
}

/* Slots that came while the coordinator was away or busy, one schedule. */
static void s_catch_up(coord_server_t *server, coord_sched_t *s, int64_t now_ms, json_t *tool,
                       int *fired)
{
    int64_t slots[S_CATCH_UP_MAX];
    size_t n = 0;
    int64_t slot = s->next_slot, skipped_count = 0, first_skipped = 0;
    int64_t jitter = s_jitter_ms(s);
    char reason[320], when[40], newest[40];
    while (slot * 1000 + jitter <= now_ms) {
        if (n == S_CATCH_UP_MAX) {
            /* Too many to look at one by one: all but the newest few are
             * missed, counted together. */
            if (!first_skipped)
                first_skipped = slots[0];
            skipped_count += 1;
            memmove(slots, slots + 1, (n - 1) * sizeof *slots);
            n--;
        }
        slots[n++] = slot;
        int64_t next;
        if (mao_sched_trigger_next(&next, s->trigger, s->anchor, slot) < 0)
            break;
        slot = next;
        /* An interval far behind: jump by arithmetic, counting. */
        int64_t iv = mao_sched_trigger_interval(s->trigger);
        if (iv > 0 && n == S_CATCH_UP_MAX && (now_ms / 1000 - slot) / iv > 2 * S_CATCH_UP_MAX) {
            int64_t jump = ((now_ms / 1000 - slot) / iv) - S_CATCH_UP_MAX;
            if (!first_skipped)
                first_skipped = slots[0];
            skipped_count += jump;
            slot += jump * iv;
        }
    }
    if (skipped_count > 0) {
        snprintf(reason, sizeof reason,
                 "%lld slots from %s on were missed while the coordinator was away (the "
                 "next ones are recorded one by one)",
                 (long long)skipped_count, s_iso(when, sizeof when, first_skipped * 1000));
        s->last_slot = first_skipped;
        coord_dispatch_record_slot(server, s, first_skipped, COORD_RUN_MISSED, reason);
    }
    if (n > 1 && s->coalesce) {
        /* Coalesce: the newest slot runs once; the others are missed, the
         * first few recorded one by one, the rest in one record. */
        size_t k = n - 1;
        s_iso(newest, sizeof newest, slots[n - 1] * 1000 + jitter);
        for (size_t i = 0; i < k; i++) {
            if (k > S_MISSED_RECORDS && i == S_MISSED_RECORDS - 1) {
                char last[40];
                snprintf(reason, sizeof reason,
                         "coalesced: %zu slots from %s to %s; the slot at %s runs in their place",
                         k - i, s_iso(when, sizeof when, slots[i] * 1000 + jitter),
                         s_iso(last, sizeof last, slots[k - 1] * 1000 + jitter), newest);
                s->last_slot = slots[k - 1];
                coord_dispatch_record_slot(server, s, slots[i], COORD_RUN_MISSED, reason);
                break;
            }
            snprintf(reason, sizeof reason, "coalesced: the slot at %s runs in its place", newest);
            s->last_slot = slots[i];
            coord_dispatch_record_slot(server, s, slots[i], COORD_RUN_MISSED, reason);
        }
        s_handle(server, s, slots[n - 1], now_ms, tool, server->started_ms);
    } else {
        for (size_t i = 0; i < n; i++)
            s_handle(server, s, slots[i], now_ms, tool, server->started_ms);
    }
    *fired += (int)n;
}

void coord_sched_tick(coord_server_t *server, int64_t now_ms)
{
    coord_scheds_t *h = server->scheds;
    int fired = 0;
    /* Nothing fires before the tools are known: a slot would be skipped as
     * "not registered". */
    if (!coord_tools_ready(server->tools))
        return;
    while (h->len > 0 && h->heap[0]->key_ms <= now_ms && fired < 10000) {
        coord_sched_t *s = h->heap[0];
        if (s->claimed[0]) {
            s_gate(server, s, now_ms);
            fired++;
        } else {
            json_t *tool = coord_tools_get(server->tools, s->tool);
            if (s->due_ms > now_ms) {
                s_claim(server, s, tool);
                fired++;
            } else {
                s_catch_up(server, s, now_ms, tool, &fired);
            }
            json_decref(tool);
            if (s_plan(s) < 0)
                mao_log_warn("sched", "schedule.ended id=%s detail=\"%s\"", s->id,
                             mao_error_last());
        }
        s_key(s);
        s_heap_fix(h, s);
    }
}

void coord_sched_run_ended(coord_server_t *server, coord_run_t *run)
{
    if (!run->schedule[0])
        return;
    coord_sched_t *s = coord_scheds_find(server->scheds, run->schedule);
    if (!s)
        return;
    const char *failure = run->result ? json_string_value(json_object_get(run->result, "failure"))
                                      : NULL;
    int infra = run->status == COORD_RUN_FAILED && failure && strcmp(failure, "infrastructure") == 0;
    const char *reason = run->result ? json_string_value(json_object_get(run->result, "reason"))
                                     : run->reason;
    if (strcmp(s->active, run->id) == 0 && infra && run->retry < s->retries) {
        /* An infrastructure failure (image, dataset, Docker: the worker says
         * which): the slot is tried again after a backoff.  A tool's own
         * failure, a timeout or a spike are findings, not retried.  (A lost
         * worker is not a failure: its run is queued again, attempt + 1.) */
        long backoff = s->retry_backoff_s << (run->retry < 20 ? run->retry : 20);
        json_t *tool = coord_tools_get(server->tools, s->tool);
        if (!tool)
            tool = json_incref(run->tool_record);
        coord_run_t *again =
            coord_dispatch_scheduled(server, tool, s, run->slot, run->planned_ms, run->retry + 1,
                                     mao_now_ms() + backoff * 1000, 0, 0);
        json_decref(tool);
        if (again && s->all_sites && run->want_site[0]) {
            /* A slot at every site: the retry is its site's. */
            snprintf(again->want_site, sizeof again->want_site, "%s", run->want_site);
            coord_dispatch_touch(server, again);
        }
        if (again) {
            mao_log_info("sched", "slot.retry schedule=%s run=%s retry=%ld in_s=%ld", s->id,
                         again->id, again->retry, backoff);
            snprintf(s->active, sizeof s->active, "%s", again->id);
            s_note(s, again->id, "queued", reason);
            return;
        }
    }
    if (strcmp(s->active, run->id) == 0) {
        s->active[0] = '\0';
        s_note(s, run->id, coord_run_status_name(run->status), reason);
        s_store_later(server, s);
        coord_run_t *held = s->held[0] ? coord_dispatch_find(server, s->held) : NULL;
        if (held && !coord_run_terminal(held)) {
            held->held = 0;
            snprintf(s->active, sizeof s->active, "%s", held->id);
            coord_dispatch_touch(server, held);
            coord_server_wake(server);
        }
        s->held[0] = '\0';
    }
}

void coord_sched_run_moved(coord_server_t *server, coord_run_t *run)
{
    coord_sched_t *s = run->schedule[0] ? coord_scheds_find(server->scheds, run->schedule) : NULL;
    if (s && strcmp(s->last_run, run->id) == 0)
        snprintf(s->last_outcome, sizeof s->last_outcome, "%s",
                 coord_run_status_name(run->status));
}

void coord_sched_adopt(coord_server_t *server, coord_run_t *run)
{
    coord_sched_t *s = run->schedule[0] ? coord_scheds_find(server->scheds, run->schedule) : NULL;
    if (!s || run->sibling)
        return;
    if (!run->planned_ms && run->slot)
        run->planned_ms = coord_sched_planned_ms(s, run->slot);
    if (run->gate) {
        /* A slot claimed ahead: decided when it comes (at once if it came
         * while we were away, with the grace time applying). */
        snprintf(s->claimed, sizeof s->claimed, "%s", run->id);
        s->claimed_due_ms = run->planned_ms;
        /* What the slot before was is not kept: giving this claim up leaves
         * its slot as the last one. */
        s->claim_prev_slot = s->last_slot;
        s_key(s);
        s_heap_fix(server->scheds, s);
    } else if (run->held) {
        snprintf(s->held, sizeof s->held, "%s", run->id);
    } else {
        snprintf(s->active, sizeof s->active, "%s", run->id);
    }
}

json_t *coord_sched_why(coord_server_t *server, const char *tool)
{
    json_t *out = json_object();
    json_t *list = json_array();
    char text[1024] = "";
    char when[40];
    size_t n = 0;
    for (coord_sched_t *s = coord_scheds_first(server->scheds); s;
         s = coord_scheds_next(server->scheds)) {
        if (strcmp(s->tool, tool) != 0)
            continue;
        json_array_append_new(list, coord_sched_to_json(s));
        char trig[MAO_SCHED_TEXT_MAX];
        mao_sched_trigger_format(trig, sizeof trig, s->trigger);
        size_t used = strlen(text);
        if (s->paused) {
            snprintf(text + used, sizeof text - used, "%sSchedule %s (%s) is paused.", n ? " " : "",
                     s->id, trig);
        } else {
            snprintf(text + used, sizeof text - used, "%sSchedule %s (%s) fires next at %s.",
                     n ? " " : "", s->id, trig, s_iso(when, sizeof when, s->due_ms));
            used = strlen(text);
            if (s->last_outcome[0] && (strcmp(s->last_outcome, "skipped") == 0 ||
                                       strcmp(s->last_outcome, "missed") == 0 ||
                                       strcmp(s->last_outcome, "failed") == 0 ||
                                       strcmp(s->last_outcome, "timed_out") == 0))
                snprintf(text + used, sizeof text - used,
                         " Its last slot (%s) did not run as planned: %s%s%s.",
                         s_iso(when, sizeof when, s->last_slot * 1000), s->last_outcome,
                         s->last_reason ? ": " : "", s->last_reason ? s->last_reason : "");
            else if (s->last_outcome[0])
                snprintf(text + used, sizeof text - used, " Its last slot (%s) made run %s: %s.",
                         s_iso(when, sizeof when, s->last_slot * 1000), s->last_run,
                         s->last_outcome);
            else
                snprintf(text + used, sizeof text - used, " No slot has come yet.");
            if (s->site[0] && !coord_dispatch_site_up(server, s->site)) {
                used = strlen(text);
                snprintf(text + used, sizeof text - used,
                         " No worker is up at its site %s, so its runs will wait.", s->site);
            }
        }
        n++;
    }
    if (n == 0)
        snprintf(text, sizeof text, "%s has no schedule: it runs only when asked (maoctl tool run "
                                    "%s).",
                 tool, tool);
    json_object_set_new(out, "tool", json_string(tool));
    json_object_set_new(out, "schedules", list);
    json_object_set_new(out, "explanation", json_string(text));
    return out;
}
