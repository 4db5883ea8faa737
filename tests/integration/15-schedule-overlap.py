"""A tool slower than its interval: under `skip` it never runs twice at once
and the skipped slots are recorded; under `queue-one` one run waits and runs
right after.  Infrastructure failures are retried with backoff; a tool's own
failure is not."""

import time

from harness import build_images, check, check_eq, main, wait_for


def runs_of(env, sched_id):
    status, runs = env.http("GET", "/v1/runs?limit=10000")
    return sorted([r for r in runs if r.get("schedule") == sched_id], key=lambda r: r["id"])


def intervals(runs):
    return sorted((r["started_at"], r["finished_at"]) for r in runs
                  if r["started_at"] and r["finished_at"])


def test_skip_never_overlaps(env):
    build_images()
    env.start_coordinator(env.etcd())
    env.start_worker(capacity=4)
    env.tool("slow", "mao-test/writer:1", env={"SLEEP": "5"})
    sched = env.maoctl("tool", "schedule", "slow", "--every", "2s", "-o", "json").json()
    wait_for("three runs to finish", lambda: len(
        [r for r in runs_of(env, sched["id"]) if r["status"] == "succeeded"]) >= 3, timeout=60)
    env.maoctl("schedule", "pause", sched["id"])
    wait_for("the last run to end", lambda: all(
        r["status"] not in ("queued", "running") for r in runs_of(env, sched["id"])), timeout=30)
    runs = runs_of(env, sched["id"])
    spans = intervals(runs)
    for (a_start, a_end), (b_start, b_end) in zip(spans, spans[1:]):
        check(b_start >= a_end, "never two runs of the schedule at once", spans)
    skipped = [r for r in runs if r["status"] == "skipped"]
    check(len(skipped) >= 2, "skipped slots are recorded", runs)
    check(all("still" in r["reason"] for r in skipped), "with the run that was still going",
          skipped)
    slots = [r["slot"] for r in runs]
    check_eq(len(slots), len(set(slots)), "each slot accounted for once")


def test_queue_one_waits_and_runs_after(env):
    build_images()
    env.start_coordinator(env.etcd())
    env.start_worker(capacity=4)
    env.tool("slow", "mao-test/writer:1", env={"SLEEP": "3"})
    sched = env.maoctl("tool", "schedule", "slow", "--every", "2s", "--overlap", "queue-one",
                       "-o", "json").json()
    wait_for("four runs to finish", lambda: len(
        [r for r in runs_of(env, sched["id"]) if r["status"] == "succeeded"]) >= 4, timeout=60)
    env.maoctl("schedule", "pause", sched["id"])
    wait_for("the last run to end", lambda: all(
        r["status"] not in ("queued", "running") for r in runs_of(env, sched["id"])), timeout=30)
    runs = runs_of(env, sched["id"])
    spans = intervals(runs)
    for (a_start, a_end), (b_start, b_end) in zip(spans, spans[1:]):
        check(b_start >= a_end, "never two at once", spans)
    skipped = [r for r in runs if r["status"] == "skipped"]
    check(skipped and all("already waiting" in r["reason"] for r in skipped),
          "slots past the one waiting are skipped, saying so", runs)
    ran = sorted([r for r in runs if r["status"] == "succeeded"], key=lambda r: r["started_at"])
    waited = [b for a, b in zip(ran, ran[1:])
              if b["created_at"] < a["finished_at"] <= b["started_at"]]
    check(waited, "a run was made while the one before ran, and started after it ended", ran)


def test_infrastructure_failures_are_retried(env):
    build_images()
    registry = env.registry()
    env.start_coordinator(env.etcd())
    env.start_worker()
    env.tool("noimage", f"{registry.host}/mao-test/never-pushed:1")
    env.tool("exits", "mao-test/writer:1", env={"EXIT": "3"})
    broken = env.maoctl("tool", "schedule", "noimage", "--every", "3s", "--retries", "2",
                        "--retry-backoff", "1s", "-o", "json").json()
    failing = env.maoctl("tool", "schedule", "exits", "--every", "3s", "--retries", "2",
                         "--retry-backoff", "1s", "-o", "json").json()

    def first_slot_done(sched_id, want):
        rs = runs_of(env, sched_id)
        if not rs:
            return False
        first = min(r["slot"] for r in rs)
        return len([r for r in rs if r["slot"] == first and r["status"] == "failed"]) >= want

    wait_for("the broken image's slot to be tried three times",
             lambda: first_slot_done(broken["id"], 3), timeout=60)
    env.maoctl("schedule", "pause", broken["id"])
    wait_for("the failing tool's first slot", lambda: first_slot_done(failing["id"], 1),
             timeout=30)
    time.sleep(3)  # a retry would come after 1 s
    env.maoctl("schedule", "pause", failing["id"])

    rs = runs_of(env, broken["id"])
    first = min(r["slot"] for r in rs)
    tries = [r for r in rs if r["slot"] == first]
    check_eq(sorted(r.get("retry", 0) for r in tries), [0, 1, 2],
             "the slot was tried, then retried twice")
    check(all("image" in r["reason"] for r in tries), "each failed on the image", tries)

    rs = runs_of(env, failing["id"])
    first = min(r["slot"] for r in rs)
    check_eq(len([r for r in rs if r["slot"] == first]), 1,
             "a tool's own failure is not retried")


if __name__ == "__main__":
    main(globals())
