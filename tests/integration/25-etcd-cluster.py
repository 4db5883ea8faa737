"""A three-member etcd cluster on loopback: with one member stopped nothing the
user does fails; with the whole cluster stopped for 30 s while schedules
fire, nothing crashes and every slot that came meanwhile is recorded once
etcd is back."""

import collections
import time

from harness import EtcdCluster, check, check_eq, main, wait_for

EXEC = {"WORKER": {"runtime": "exec"}}


def runs_of(env, sched_id):
    status, runs = env.http("GET", "/v1/runs?limit=10000")
    check_eq(status, 200, "GET /v1/runs")
    return [r for r in runs if r.get("schedule") == sched_id]


def site_with_a_schedule(env):
    """A cluster, a coordinator, a worker and a schedule that has run once."""
    cluster = EtcdCluster(env).start()
    coord = env.start_coordinator(cluster)
    worker = env.start_worker(config=EXEC)
    env.tool("quick", "none", command=["sh", "-c", "echo 1 > control-$$.csv"])
    sched = env.maoctl("tool", "schedule", "quick", "--every", "2s", "-o", "json").json()
    wait_for("a first scheduled run", lambda: any(
        r["status"] == "succeeded" for r in runs_of(env, sched["id"])), timeout=30)
    return cluster, coord, worker, sched


def test_one_member_down(env):
    cluster, coord, worker, sched = site_with_a_schedule(env)

    # The member the coordinator tries first goes away.
    cluster.members[0].kill()
    # When it was the raft leader the two others elect one first; until then
    # etcd itself answers nothing (on a loaded machine, longer than the
    # coordinator's 2 s request timeout).
    wait_for("the two members left to have a leader", cluster.healthy, timeout=60)
    steps = [
        ("tool", "add", "second", "a", "none", "https://example.org/d.git",
         "https://example.org/c.git", "csv"),
        ("tool", "get"),
        ("tool", "get", "second"),
        ("dataset", "add", "data", "https://example.org/d.git"),
        ("dataset", "get"),
        ("tool", "run", "quick"),
        ("schedule", "get"),
        ("tool", "history", "quick"),
        ("why", "quick"),
        ("run", "list"),
        ("tool", "remove", "second"),
    ]
    for args in steps:
        r = env.maoctl(*args)
        check_eq(r.rc, 0, f"maoctl {' '.join(args)} with a member down: {r.err}")
    before = len(runs_of(env, sched["id"]))
    wait_for("the schedule to go on", lambda: len(runs_of(env, sched["id"])) >= before + 2,
             timeout=30)
    cluster.start()
    worker.stop_clean()
    coord.stop_clean()


def test_whole_cluster_down_while_schedules_fire(env):
    cluster, coord, worker, sched = site_with_a_schedule(env)

    cluster.stop()
    down = time.time()
    for _ in range(30):
        time.sleep(1)
        check(coord.running() and worker.running(), "nothing crashes while etcd is away")
        check_eq(env.http("GET", "/healthz")[0] in (200, 503), True, "the API answers")
    cluster.start()
    back = time.time()

    def settled():
        rs = runs_of(env, sched["id"])
        return rs if any(r["slot"] > back + 2 and r["status"] == "succeeded" for r in rs) \
            else None

    records = wait_for("the schedule to catch up", settled, timeout=90)
    window = [r for r in records if down + 1 < r["slot"] < back - 1]
    slots = collections.Counter(r["slot"] for r in window)
    check(all(c == 1 for c in slots.values()), "each slot recorded once", slots.most_common(3))
    first, last = min(slots), max(slots)
    check_eq(sorted(slots), list(range(first, last + 1, 2)), "every slot of the outage is there")
    check(len(slots) >= 12, "the outage covered its slots", len(slots))
    statuses = collections.Counter(r["status"] for r in window)
    print(f"slots while etcd was away: {len(slots)}, {dict(statuses)}", flush=True)
    check(all(r["status"] in ("succeeded", "skipped", "missed") for r in window),
          "each ran, or says why not", statuses)
    worker.stop_clean()
    coord.stop_clean()


if __name__ == "__main__":
    main(globals())
