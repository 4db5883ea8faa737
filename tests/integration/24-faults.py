"""Faults of real processes, every loop bounded: the coordinator killed with
results in flight records each exactly once after its restart; a soak of
1,000 runs across three workers killed at random ends every run in exactly
one terminal state.  Tools run as local commands (runtime = exec)."""

import collections
import os
import random
import time

from harness import check, check_eq, main, wait_for

EXEC = {"WORKER": {"runtime": "exec"}}
TERMINAL = ("succeeded", "failed", "timed_out")


def all_runs(env, tool):
    status, runs = env.http("GET", f"/v1/runs?tool={tool}&limit=10000")
    check_eq(status, 200, "GET /v1/runs")
    return runs


def check_once(env, etcd, tool, ids, what):
    runs = all_runs(env, tool)
    by_id = collections.Counter(r["id"] for r in runs)
    check_eq(sorted(by_id), sorted(ids), f"{what}: every run is there, and no other")
    check(all(c == 1 for c in by_id.values()), f"{what}: each once", by_id.most_common(3))
    stored = [k for k in etcd.keys(env.prefix + f"runs/{tool}/")]
    check_eq(len(stored), len(ids), f"{what}: one finished record each in the store")
    check_eq(etcd.keys(env.prefix + "queue/"), [], f"{what}: nothing left in the queue")
    return collections.Counter(r["status"] for r in runs)


def test_coordinator_killed_with_results_in_flight(env):
    etcd = env.etcd()
    coord = env.start_coordinator(etcd)
    workers = [env.start_worker(capacity=4, config=EXEC) for _ in range(3)]
    env.tool("quick", "none", command=["sh", "-c", "sleep 0.3; echo 1 > control-$$.csv"])
    ids = env.queue_runs("quick", 60)
    wait_for("some runs to end", lambda: sum(r["status"] == "succeeded"
                                             for r in all_runs(env, "quick")) >= 10)
    coord.kill()
    time.sleep(2)  # results pile up in the workers' spools meanwhile
    coord.start()
    wait_for("every run to end", lambda: all(
        r["status"] in TERMINAL for r in all_runs(env, "quick")) and
        len(all_runs(env, "quick")) == 60, timeout=120)
    counts = check_once(env, etcd, "quick", ids, "after the coordinator's crash")
    print(f"coordinator killed with results in flight: {dict(counts)}", flush=True)
    check_eq(counts["succeeded"], 60, "all succeeded")
    for w in workers:
        wait_for("the spool to empty", lambda w=w: not any(
            f.endswith(".json") for f in os.listdir(w.spool)), timeout=30)
        w.stop_clean()
    coord.stop_clean()


def test_soak_with_random_worker_kills(env):
    rng = random.Random(20261121)
    etcd = env.etcd()
    coord = env.start_coordinator(etcd, config={"COORDINATOR": {"history": "5000"}})
    workers = [env.start_worker(capacity=8, config=EXEC) for _ in range(3)]
    env.tool("tick", "none", command=["sh", "-c", "echo 1 > control-$$.csv"])
    ids = []
    kills = 0
    deadline = time.monotonic() + 240
    while len(ids) < 1000:
        ids += env.queue_runs("tick", 50)
        if rng.random() < 0.6 and kills < 12:
            victim = rng.choice(workers)
            victim.kill()
            kills += 1
            victim.start(wait_up=False)
        check(time.monotonic() < deadline, "the soak stays within its time")
    wait_for("every run to end", lambda: sum(
        r["status"] in TERMINAL for r in all_runs(env, "tick")) == 1000, timeout=300,
        interval=1.0)
    counts = check_once(env, etcd, "tick", ids, "after the soak")
    attempts = collections.Counter(r["attempt"] for r in all_runs(env, "tick"))
    print(f"soak: 1000 runs, {kills} worker kills; end states {dict(counts)}; "
          f"attempts {dict(sorted(attempts.items()))}", flush=True)
    check_eq(sum(counts.values()), 1000, "one end state each")
    for w in workers:
        w.wait_up(timeout=30)
        w.stop_clean()
    coord.stop_clean()


if __name__ == "__main__":
    main(globals())
