"""Every expected slot is accounted for, across pauses, long absences and
restarts: paused slots never come back, a long absence leaves no slot without
a record, a run waiting under queue-one still waits after a restart, and
`why` remembers the last slot.  Tools run as local commands (runtime = exec)
so that only the scheduling is under test."""

import re
import time

from harness import check, check_eq, main, wait_for

EXEC = {"WORKER": {"runtime": "exec"}}


def runs_of(env, sched_id):
    status, runs = env.http("GET", "/v1/runs?limit=10000")
    check_eq(status, 200, "GET /v1/runs")
    return sorted([r for r in runs if r.get("schedule") == sched_id], key=lambda r: r["slot"])


def test_paused_slots_never_come_back(env):
    etcd = env.etcd()
    coord = env.start_coordinator(etcd)
    env.start_worker(config=EXEC)
    env.tool("quick", "none", command=["true"])
    sched = env.maoctl("tool", "schedule", "quick", "--every", "2s", "-o", "json").json()
    wait_for("a first run", lambda: any(r["status"] == "succeeded"
                                        for r in runs_of(env, sched["id"])), timeout=30)
    check_eq(env.maoctl("schedule", "pause", sched["id"]).rc, 0, "pause")
    paused_at = time.time()
    time.sleep(7)
    check_eq(env.maoctl("schedule", "resume", sched["id"]).rc, 0, "resume")
    resumed_at = time.time()
    coord.kill()
    coord.start()
    wait_for("a run after the resume", lambda: any(
        r["slot"] > resumed_at and r["status"] == "succeeded" for r in runs_of(env, sched["id"])),
        timeout=30)
    inside = [r for r in runs_of(env, sched["id"]) if paused_at + 0.5 < r["slot"] < resumed_at]
    check_eq(inside, [], "no run and no record for the slots of the pause, even after a restart")

    r = env.maoctl("why", "quick", "-o", "json").json()
    check("No slot has come yet" not in r["explanation"], "why remembers the last slot", r)
    check(re.search(r"made run \w+: (succeeded|running|queued)", r["explanation"]),
          "and what it made", r)
    coord.kill()
    coord.start()
    r = env.maoctl("why", "quick", "-o", "json").json()
    check("No slot has come yet" not in r["explanation"], "even after a restart", r)


def covered(record):
    """How many slots a record stands for: one, or a range's count."""
    m = re.match(r"coalesced: (\d+) slots from", record["reason"] or "")
    if m:
        return int(m.group(1))
    m = re.match(r"(\d+) slots from .* were missed", record["reason"] or "")
    return int(m.group(1)) if m else 1


def test_a_long_absence_leaves_no_slot_unaccounted(env):
    etcd = env.etcd()
    coord = env.start_coordinator(etcd)
    env.start_worker(config=EXEC)
    env.tool("quick", "none", command=["true"])
    sched = env.maoctl("tool", "schedule", "quick", "--every", "1s", "-o", "json").json()
    wait_for("a first run", lambda: any(r["status"] == "succeeded"
                                        for r in runs_of(env, sched["id"])), timeout=30)
    coord.kill()
    killed = time.time()
    time.sleep(35)
    coord.start()
    back = time.time()
    wait_for("slots after the restart", lambda: any(
        r["slot"] > back + 2 for r in runs_of(env, sched["id"])), timeout=30)
    records = runs_of(env, sched["id"])
    slots = [r["slot"] for r in records]
    check_eq(len(slots), len(set(slots)), "one record per slot at most")
    first, last = slots[0], slots[-1]
    check_eq(sum(covered(r) for r in records), last - first + 1,
             "every slot from the first to the last is a run or in a record")
    check(any(covered(r) > 1 for r in records), "the long absence is summed up in one record",
          records)
    down = [r for r in records if killed + 1 < r["slot"] < back - 1]
    ran = [r for r in down if r["status"] not in ("missed", "skipped")]
    check(len(ran) <= 1, "the slots of the absence ran once at most (coalesced)", down)


def test_queue_one_waits_across_a_restart(env):
    etcd = env.etcd()
    coord = env.start_coordinator(etcd)
    env.start_worker(capacity=4, config=EXEC)
    env.tool("slow", "none", command=["sleep", "6"])
    sched = env.maoctl("tool", "schedule", "slow", "--every", "2s", "--overlap", "queue-one",
                       "-o", "json").json()

    def held():
        for r in runs_of(env, sched["id"]):
            if r["status"] == "queued":
                status, run = env.http("GET", f"/v1/runs/{r['id']}")
                if "queue-one" in (run.get("waiting_for") or ""):
                    return run
        return None

    wait_for("a run waiting under queue-one", held, timeout=30)
    status, s = env.http("GET", f"/v1/schedules/{sched['id']}")
    check_eq(s["last"]["status"], "queued", "the last slot's run waits")
    running = [r for r in runs_of(env, sched["id"]) if r["status"] == "running"]
    check_eq(len(running), 1, "one runs meanwhile")
    coord.kill()
    coord.start()
    time.sleep(14)
    env.maoctl("schedule", "pause", sched["id"])
    wait_for("the last run to end", lambda: all(
        r["status"] not in ("queued", "running") for r in runs_of(env, sched["id"])), timeout=40)
    spans = sorted((r["started_at"], r["finished_at"]) for r in runs_of(env, sched["id"])
                   if r["started_at"] and r["finished_at"])
    check(len(spans) >= 3, "runs before and after the restart", spans)
    for (a_start, a_end), (b_start, b_end) in zip(spans, spans[1:]):
        check(b_start >= a_end, "never two at once, across the restart", spans)


def test_the_last_slot_shows_its_run_running(env):
    env.start_coordinator(env.etcd())
    env.start_worker(config=EXEC)
    env.tool("slow", "none", command=["sleep", "4"])
    sched = env.maoctl("tool", "schedule", "slow", "--every", "30s", "--start",
                       time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2)),
                       "-o", "json").json()
    wait_for("the schedule's run to be running", lambda: env.http(
        "GET", f"/v1/schedules/{sched['id']}")[1].get("last", {}).get("status") == "running",
        timeout=30)
    wait_for("and then to have succeeded", lambda: env.http(
        "GET", f"/v1/schedules/{sched['id']}")[1].get("last", {}).get("status") == "succeeded",
        timeout=30)


if __name__ == "__main__":
    main(globals())
