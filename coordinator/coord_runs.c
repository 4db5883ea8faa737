/*
 * coord_runs: run records.
 */
#include "coord_runs.h"

#include <stdio.h>
#include <time.h>

#include <stdlib.h>
#include <string.h>

static const char *s_status[COORD_RUN_STATUSES] = {"queued",    "running", "succeeded", "failed",
                                                    "timed_out", "skipped", "missed"};

const char *coord_run_status_name(coord_run_status_t status)
{
    return (int)status >= 0 && (int)status < COORD_RUN_STATUSES ? s_status[status] : "unknown";
}

int coord_run_status_parse(coord_run_status_t *out, const char *name)
{
    for (int i = 0; i < COORD_RUN_STATUSES; i++)
        if (name && strcmp(name, s_status[i]) == 0) {
            *out = (coord_run_status_t)i;
            return 0;
        }
    return -7; /* MAO_EINVAL */
}

int coord_run_terminal(const coord_run_t *run)
{
    return run->status >= COORD_RUN_SUCCEEDED;
}

coord_run_t *coord_run_new(json_t *tool_record, const char *want_site, const char *trigger)
{
    coord_run_t *run = calloc(1, sizeof *run);
    if (!run)
        return NULL;
    mao_id_new(run->id);
    snprintf(run->tool, sizeof run->tool, "%s",
             json_string_value(json_object_get(tool_record, "name")) ?: "");
    run->tool_record = json_incref(tool_record);
    snprintf(run->want_site, sizeof run->want_site, "%s", want_site ? want_site : "");
    snprintf(run->trigger, sizeof run->trigger, "%s", trigger ? trigger : "manual");
    run->status = COORD_RUN_QUEUED;
    run->attempt = 1;
    run->created_ms = mao_now_ms();
    run->attempts = json_array();
    run->version = 1;
    if (!run->attempts) {
        coord_run_destroy(&run);
        return NULL;
    }
    return run;
}

static int64_t s_ms_from_iso(const char *text)
{
    if (!text)
        return 0;
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

coord_run_t *coord_run_from_record(json_t *record)
{
    const char *id = json_string_value(json_object_get(record, "id"));
    json_t *tool = json_object_get(record, "tool_record");
    if (!id || mao_id_time_ms(id) < 0 || !json_is_object(tool))
        return NULL;
    coord_run_t *run = coord_run_new(tool, json_string_value(json_object_get(record,
                                                                             "requested_site")),
                                     json_string_value(json_object_get(record, "trigger")));
    if (!run)
        return NULL;
    snprintf(run->id, sizeof run->id, "%s", id);
    run->attempt = (long)json_integer_value(json_object_get(record, "attempt"));
    if (run->attempt < 1)
        run->attempt = 1;
    run->created_ms = s_ms_from_iso(json_string_value(json_object_get(record, "created_at")));
    snprintf(run->schedule, sizeof run->schedule, "%s",
             json_string_value(json_object_get(record, "schedule")) ?: "");
    run->slot = (int64_t)json_integer_value(json_object_get(record, "slot"));
    run->retry = (long)json_integer_value(json_object_get(record, "retry"));
    run->timeout_s = (long)json_integer_value(json_object_get(record, "timeout_s"));
    const char *group = json_string_value(json_object_get(record, "group"));
    if (group && mao_id_time_ms(group) >= 0)
        snprintf(run->group, sizeof run->group, "%s", group);
    run->planned_ms = (int64_t)json_integer_value(json_object_get(record, "planned_ms"));
    run->not_before_ms = (int64_t)json_integer_value(json_object_get(record, "not_before_ms"));
    run->held = json_is_true(json_object_get(record, "held"));
    run->gate = json_is_true(json_object_get(record, "gate"));
    run->fan_out = json_is_true(json_object_get(record, "fan_out"));
    run->sibling = json_is_true(json_object_get(record, "sibling"));
    json_t *attempts = json_object_get(record, "attempts");
    if (json_is_array(attempts)) {
        json_decref(run->attempts);
        run->attempts = json_deep_copy(attempts);
    }
    return run;
}

void coord_run_set_reason(coord_run_t *run, const char *reason)
{
    free(run->reason);
    run->reason = reason ? strdup(reason) : NULL;
}

void coord_live_init(coord_link_t *head)
{
    head->prev = head->next = head;
}

void coord_live_add(coord_link_t *head, coord_run_t *run)
{
    if (run->live.next)
        return;
    run->live.prev = head->prev;
    run->live.next = head;
    head->prev->next = &run->live;
    head->prev = &run->live;
}

void coord_live_remove(coord_run_t *run)
{
    if (!run->live.next)
        return;
    run->live.prev->next = run->live.next;
    run->live.next->prev = run->live.prev;
    run->live.prev = run->live.next = NULL;
}

_Static_assert(offsetof(coord_run_t, live) == 0, "a run's place in a list comes first");

coord_run_t *coord_live_first(coord_link_t *head)
{
    return head->next == head ? NULL : (coord_run_t *)head->next;
}

coord_run_t *coord_live_next(coord_link_t *head, coord_run_t *run)
{
    return run->live.next == head ? NULL : (coord_run_t *)run->live.next;
}

void coord_run_destroy(coord_run_t **run_p)
{
    if (!run_p || !*run_p)
        return;
    coord_run_t *run = *run_p;
    coord_live_remove(run);
    json_decref(run->tool_record);
    json_decref(run->result);
    json_decref(run->attempts);
    free(run->reason);
    free(run);
    *run_p = NULL;
}

const char *coord_run_verdict(const coord_run_t *run)
{
    json_t *report = run->result ? json_object_get(run->result, "report") : NULL;
    if (!report)
        return NULL;
    const char *error = json_string_value(json_object_get(report, "error"));
    if (error && *error)
        return "error";
    if (!json_object_get(report, "control_metric"))
        return "not enough data";
    return json_is_true(json_object_get(report, "spike")) ? "spike" : "no spike";
}

static void s_set_time(json_t *obj, const char *key, int64_t ms)
{
    if (ms <= 0) {
        json_object_set_new(obj, key, json_null());
        return;
    }
    char text[40];
    mao_time_iso(text, sizeof text, ms);
    json_object_set_new(obj, key, json_string(text));
}

json_t *coord_run_to_json(const coord_run_t *run, int full, int queue_copy)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_t *r = run->result;
    json_object_set_new(o, "id", json_string(run->id));
    json_object_set_new(o, "tool", json_string(run->tool));
    json_object_set_new(o, "status", json_string(coord_run_status_name(run->status)));
    json_object_set_new(o, "attempt", json_integer(run->attempt));
    json_object_set_new(o, "site", run->site[0] ? json_string(run->site) : json_null());
    json_object_set_new(o, "worker", run->worker[0] ? json_string(run->worker) : json_null());
    json_object_set_new(o, "requested_site",
                        run->want_site[0] ? json_string(run->want_site) : json_null());
    json_object_set_new(o, "trigger", json_string(run->trigger));
    s_set_time(o, "created_at", run->created_ms);
    s_set_time(o, "started_at", run->started_ms);
    s_set_time(o, "finished_at", run->finished_ms);
    if (run->started_ms > 0 && run->finished_ms >= run->started_ms)
        json_object_set_new(o, "duration_s",
                            json_real((double)(run->finished_ms - run->started_ms) / 1000.0));
    else
        json_object_set_new(o, "duration_s", json_null());
    json_t *failure = r ? json_object_get(r, "failure") : NULL;
    if (json_is_string(failure))
        json_object_set(o, "failure", failure);
    json_t *exit_code = r ? json_object_get(r, "exit_code") : NULL;
    json_object_set(o, "exit_code", exit_code ? exit_code : json_null());
    const char *reason = r ? json_string_value(json_object_get(r, "reason")) : NULL;
    if (!reason)
        reason = run->reason;
    json_object_set_new(o, "reason", reason ? json_string(reason) : json_null());
    json_object_set(o, "image", json_object_get(run->tool_record, "image") ?: json_null());
    json_t *v;
    json_object_set(o, "image_digest", r && (v = json_object_get(r, "image_digest")) ? v
                                                                                     : json_null());
    json_object_set(o, "datadir", r && (v = json_object_get(r, "datadir")) ? v : json_null());
    json_t *report = r ? json_object_get(r, "report") : NULL;
    json_t *value = report ? json_object_get(report, "control_metric") : NULL;
    json_object_set(o, "control_value", value ? value : json_null());
    const char *verdict = coord_run_verdict(run);
    json_object_set_new(o, "verdict", verdict ? json_string(verdict) : json_null());
    json_object_set_new(o, "spike", json_boolean(report && json_is_true(json_object_get(report,
                                                                                       "spike"))));
    json_object_set(o, "report", report ? report : json_null());
    json_object_set(o, "attempts", run->attempts);
    json_object_set_new(o, "schedule", run->schedule[0] ? json_string(run->schedule) : json_null());
    if (run->group[0])
        json_object_set_new(o, "group", json_string(run->group));
    if (run->slot) {
        json_object_set_new(o, "slot", json_integer(run->slot));
        s_set_time(o, "slot_time", run->slot * 1000);
        if (run->planned_ms)
            s_set_time(o, "planned_at", run->planned_ms);
    }
    if (run->retry)
        json_object_set_new(o, "retry", json_integer(run->retry));
    if (run->timeout_s)
        json_object_set_new(o, "timeout_s", json_integer(run->timeout_s));
    if (full) {
        json_t *tail = r ? json_object_get(r, "log_tail") : NULL;
        json_object_set(o, "log_tail", tail ? tail : json_null());
    }
    if (queue_copy) {
        /* What a restarted coordinator needs to go on where this one stopped. */
        json_object_set(o, "tool_record", run->tool_record);
        if (run->planned_ms)
            json_object_set_new(o, "planned_ms", json_integer(run->planned_ms));
        if (run->not_before_ms)
            json_object_set_new(o, "not_before_ms", json_integer(run->not_before_ms));
        if (run->held)
            json_object_set_new(o, "held", json_true());
        if (run->gate)
            json_object_set_new(o, "gate", json_true());
        if (run->fan_out)
            json_object_set_new(o, "fan_out", json_true());
        if (run->sibling)
            json_object_set_new(o, "sibling", json_true());
    }
    return o;
}
