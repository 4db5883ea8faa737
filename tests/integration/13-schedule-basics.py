"""Schedules: a tool on `--every 2s` runs again and again and the history
shows every run; schedules can be listed, previewed, paused, resumed and
removed; bad input is refused with a clear message and nothing is stored."""

import json
import time

from harness import build_images, check, check_eq, main, one_line_error, wait_for


def schedule_runs(env, sched_id):
    status, runs = env.http("GET", "/v1/runs?limit=1000")
    return [r for r in runs if r.get("schedule") == sched_id]


def test_every_two_seconds(env):
    build_images()
    etcd = env.etcd()
    coord = env.start_coordinator(etcd)
    env.start_worker()
    env.tool("demo", "mao-demo:latest")
    r = env.maoctl("tool", "schedule", "demo", "--every", "2s", "-o", "json")
    check(r.rc == 0, "schedule made", r)
    sched = r.json()
    check_eq((sched["tool"], sched["trigger"], sched["overlap"], sched["coalesce"],
              sched["misfire_grace_s"]), ("demo", "every 2s", "skip", True, 3600),
             "the schedule and its default policies")
    check(etcd.get(env.prefix + "schedules/" + sched["id"]) is not None, "it is stored in etcd")

    # At least 4 runs within a generous bound (the interval says 2 s).
    wait_for("4 scheduled runs to succeed",
             lambda: len([x for x in schedule_runs(env, sched["id"])
                          if x["status"] == "succeeded"]) >= 4, timeout=60)
    runs = sorted(schedule_runs(env, sched["id"]), key=lambda x: x["slot"])
    slots = [x["slot"] for x in runs]
    check_eq(slots, sorted(set(slots)), "one run per slot")
    check(all(b - a == 2 for a, b in zip(slots, slots[1:])), "slots two seconds apart", slots)
    history = env.maoctl("tool", "history", "demo", "-o", "json").json()
    for x in runs:
        if x["status"] == "succeeded":
            check(any(h["id"] == x["id"] for h in history), "each run is in the history", x)
    r = env.maoctl("tool", "history", "demo")
    check(r.rc == 0 and "succeeded" in r.out, "the human history", r)

    r = env.maoctl("schedule", "get")
    check(sched["id"] in r.out and "every 2s" in r.out, "schedule get lists it", r)
    r = env.maoctl("schedule", "preview", sched["id"], "--count", "3", "-o", "json")
    fires = r.json()["fires"]
    check_eq(len(fires), 3, "three previewed fire times")

    check(env.maoctl("schedule", "pause", sched["id"]).rc == 0, "pause")
    paused_at = len(schedule_runs(env, sched["id"]))
    import time
    time.sleep(5)  # more than two intervals
    check(len(schedule_runs(env, sched["id"])) <= paused_at + 1,
          "at most the run in flight when pausing")
    check(json.loads(etcd.get(env.prefix + "schedules/" + sched["id"]))["paused"] is True,
          "paused is stored")
    check(env.maoctl("schedule", "resume", sched["id"]).rc == 0, "resume")
    wait_for("runs again after resume",
             lambda: len(schedule_runs(env, sched["id"])) >= paused_at + 2, timeout=30)
    r = env.maoctl("why", "demo")
    check(r.rc == 0 and "every 2s" in r.out and "last ran" in r.out, "why", r)

    check(env.maoctl("schedule", "remove", sched["id"]).rc == 0, "remove")
    check(etcd.get(env.prefix + "schedules/" + sched["id"]) is None, "gone from etcd")
    one_line_error(env.maoctl("schedule", "get", sched["id"]), "no such schedule")
    coord.stop_clean()


def test_bad_schedules_are_refused(env):
    etcd = env.etcd()
    env.start_coordinator(etcd)
    env.tool("demo", "mao-demo:latest")
    cases = [
        (["--cron", "61 * * * *"], "minute"),
        (["--cron", "0 0 * *"], "needs 5"),
        (["--cron", "0 0 30 2 *"], "never"),
        (["--cron", "0 2 * * *", "--tz", "Mars/Olympus"], "Mars/Olympus"),
        (["--cron", "0 2 * * *", "--tz", "../../etc/passwd"], "time zone"),
        (["--every", "0s"], "at least 1 second"),
        (["--every", "-5m"], "-5m"),
        (["--every", "soon"], "soon"),
        (["hourly"], "daily or weekly"),
        (["daily", "--overlap", "sometimes"], "skip, queue-one or allow"),
        (["daily", "--grace", "forever"], "forever"),
        (["daily", "--site", "a/b"], "invalid site name"),
        (["daily", "--grace", "0s"], "from 1 to"),
        (["daily", "--start", "2020-01-01T00:00:00Z"], "in the past"),
        (["daily", "--start", "2030-01-01T00:00:00"], "no offset"),
        (["daily", "--start", "next tuesday"], "ISO 8601"),
    ]
    for args, fragment in cases:
        r = env.maoctl("tool", "schedule", "demo", *args)
        one_line_error(r, fragment)
    one_line_error(env.maoctl("tool", "schedule", "nosuch", "daily"), "not registered")
    status, body = env.http("POST", "/v1/tools/demo/schedules", {"every": "1m", "cron": "* * * * *"})
    check(status == 400 and "not several" in body["message"], "two triggers at once", body)
    status, body = env.http("POST", "/v1/tools/demo/schedules", {"every": "1m", "bogus": 1})
    check(status == 400 and "bogus" in body["message"], "an unknown field", body)
    for path in ("/v1/runs?limit=0", "/v1/runs?limit=lots", "/v1/tools/demo/history?limit=-1"):
        status, body = env.http("GET", path)
        check(status == 400 and "whole number from 1 to" in body["message"], path, body)
    check_eq(etcd.keys(env.prefix + "schedules/"), [], "nothing was stored")
    check_eq(env.http("GET", "/v1/schedules")[1], [], "nothing is scheduled")


def test_start_sets_the_first_fire(env):
    etcd = env.etcd()
    env.start_coordinator(etcd)
    env.tool("demo", "mao-demo:latest")
    now = int(time.time())
    start_s = now + 86400 * 200 - (now % 3600)
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start_s))
    local = time.strftime("%Y-%m-%dT%H:%M:%S+02:00", time.gmtime(start_s + 7200))
    r = env.maoctl("tool", "schedule", "demo", "--every", "6h", "--start", local, "-o", "json")
    check_eq(r.rc, 0, "a schedule with --start: " + r.err)
    sched = r.json()
    check_eq(sched["next_fire"], start.replace("Z", ".000Z"), "the first fire is the start")
    fires = env.maoctl("schedule", "preview", sched["id"], "--count", "2", "-o", "json").json()["fires"]
    later = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(start_s + 6 * 3600))
    check_eq(fires, [start.replace("Z", ".000Z"), later], "then every interval from it")
    r = env.maoctl("tool", "schedule", "demo", "--cron", "30 * * * *", "--start", start,
                   "-o", "json")
    want = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(start_s + 1800))
    check_eq(r.json()["next_fire"], want, "cron: the first slot at or after the start")


def jitter_ms(name, max_s):
    """The coordinator's jitter: FNV-1a 64 of the tool's name; the whole
    seconds modulo max_s, the milliseconds from the hash's other digits."""
    h = 14695981039346656037
    for c in name.encode():
        h = ((h ^ c) * 1099511628211) % (1 << 64)
    return (h % max_s if max_s > 1 else 0) * 1000 + (h // max_s) % 1000


def iso(ms):
    """The API's form of a time: ISO 8601 UTC with milliseconds (which also
    sorts as text)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def test_jitter_to_the_millisecond(env):
    build_images()
    etcd = env.etcd()
    env.start_coordinator(etcd)
    env.tool("demo", "mao-demo:latest")
    env.tool("weather", "mao-demo:latest")
    # Far ahead: the offset shows in next_fire and in the preview.
    now = int(time.time())
    start_s = now + 86400 * 200 - (now % 3600)
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start_s))
    for tool, jitter, max_s in (("demo", "1h", 3600), ("weather", "1s", 1)):
        r = env.maoctl("tool", "schedule", tool, "--every", "6h", "--start", start,
                       "--jitter", jitter, "-o", "json")
        check_eq(r.rc, 0, f"a schedule with --jitter {jitter}: " + r.err)
        sched = r.json()
        j = jitter_ms(tool, max_s)
        check(0 <= j < max_s * 1000 and j % 1000 != 0, "an offset with milliseconds", j)
        want = iso(start_s * 1000 + j)
        check_eq(sched["next_fire"], want, f"{tool}: next_fire is the start plus its jitter")
        fires = env.maoctl("schedule", "preview", sched["id"], "--count", "2",
                           "-o", "json").json()["fires"]
        check_eq(fires, [want, iso((start_s + 6 * 3600) * 1000 + j)],
                 f"{tool}: every fire has the same offset")
        check(env.maoctl("schedule", "remove", sched["id"]).rc == 0, "remove")
    # Running: each slot's run is planned at its second plus the offset, and
    # is not started before it.
    env.start_worker()
    r = env.maoctl("tool", "schedule", "weather", "--every", "2s", "--jitter", "1s", "-o", "json")
    check_eq(r.rc, 0, "an every-2s schedule with a jitter of 1 s: " + r.err)
    sched = r.json()
    j = jitter_ms("weather", 1)
    wait_for("2 jittered runs to succeed",
             lambda: len([x for x in schedule_runs(env, sched["id"])
                          if x["status"] == "succeeded"]) >= 2, timeout=60)
    for x in schedule_runs(env, sched["id"]):
        planned = iso(x["slot"] * 1000 + j)
        check_eq(x["planned_at"], planned, "planned at the slot plus the offset")
        if x.get("started_at"):
            check(x["started_at"] >= planned, "not started before its time", x)


def test_original_run_with_cron(env):
    etcd = env.etcd()
    env.start_coordinator(etcd)
    env.tool("demo", "mao-demo:latest")
    status, body = env.http("POST", "/run", {"name": "demo", "cron": True, "frequency": "daily"})
    check_eq(status, 200, "POST /run with cron")
    check_eq(sorted(body), ["datadir", "message", "scheduler_output", "tool"], "its keys")
    job = body["scheduler_output"]["job_id"]
    check("scheduled" in body["message"] and job in body["message"], "the message", body)
    status, sched = env.http("GET", f"/v1/schedules/{job}")
    check_eq((status, sched["trigger"]), (200, "daily"), "the job id is the schedule")
    status, body = env.http("POST", "/run", {"name": "demo", "cron": True, "frequency": "yearly"})
    check(status == 400 and "daily or weekly" in body["message"], "a bad frequency", body)


if __name__ == "__main__":
    main(globals())
