"""Two coordinators on one etcd: one leads, the other stands by and says where
the leader is; maoctl and workers find the leader; when the leader is killed
the standby takes over and the schedules keep firing, no slot twice (schedules
in etcd, and in PostgreSQL); a leader frozen past its lease cannot record or
send anything when it wakes, and comes back as a standby.  Tools run as local
commands (runtime = exec)."""

import collections
import signal
import time

from harness import Coordinator, VALGRIND, check, check_eq, main, wait_for

PERIOD = 4 if VALGRIND else 2
TTL = 3
EXEC = {"WORKER": {"runtime": "exec"}}


def start_pair(env, etcd, config=None):
    cfg = {"COORDINATOR": {"lease_ttl": str(TTL)}}
    for section, values in (config or {}).items():
        cfg.setdefault(section, {}).update(values)
    a = env.start_coordinator(etcd, name="coord-a", config=cfg)
    wait_for("coord-a to lead", lambda: role(env, a) == ("leader", a.url))
    b = Coordinator(env, etcd, name="coord-b", config=cfg).start()
    wait_for("coord-b to stand by behind coord-a", lambda: role(env, b) == ("standby", a.url))
    return a, b


def role(env, coord):
    try:
        status, health = env.http("GET", "/healthz", url=coord.url, timeout=5)
    except OSError:
        return None
    return (health.get("role"), health.get("leader")) if status == 200 else None


def worker_for(env, coords):
    endpoints = ",".join(c.cfg["COORDINATOR"]["workers"] for c in coords)
    config = {"WORKER": {"runtime": "exec", "coordinator": endpoints}}
    return env.start_worker(coordinator=coords[0], config=config)


def runs_of(env, coord, sched_id):
    status, runs = env.http("GET", "/v1/runs?limit=10000", url=coord.url)
    check_eq(status, 200, "GET /v1/runs from the leader")
    return [r for r in runs if r.get("schedule") == sched_id]


def check_no_slot_twice(runs, what):
    slots = collections.Counter(r["slot"] for r in runs)
    check(all(n == 1 for n in slots.values()), f"{what}: no slot recorded twice",
          slots.most_common(3))


def test_a_standby_points_at_the_leader(env):
    etcd = env.etcd()
    a, b = start_pair(env, etcd)
    worker = worker_for(env, [a, b])
    env.tool("tick", "none", command=["sh", "-c", "echo 1 > control-$$.csv"])

    # The leader publishes its workers in etcd; a standby lists them from there.
    wait_for("the worker in etcd", lambda: etcd.keys(env.prefix + "workers/") ==
             [env.prefix + "workers/" + worker.id])
    status, members = env.http("GET", "/v1/workers", url=b.url)
    check_eq(status, 200, "a standby lists the workers")
    check_eq([(w["id"], w["site"], w["state"]) for w in members], [(worker.id, "local", "up")],
             "as the leader published them")
    shown = env.maoctl("worker", "get", server=b.url)
    check(shown.rc == 0 and worker.id in shown.out, "maoctl worker get through the standby", shown)

    # The standby serves the registry itself...
    status, tools = env.http("GET", "/v1/tools", url=b.url)
    check_eq(status, 200, "a standby lists the tools")
    check_eq([t["name"] for t in tools], ["tick"], "the shared registry")
    status, info = env.http("GET", "/v1/info", url=b.url)
    check_eq(info["role"], "standby", "/v1/info says standby")
    check_eq(info["leader"]["api"], a.url, "and names the leader's API")
    check_eq(info["leader"]["workers"], a.cfg["COORDINATOR"]["workers"],
             "and the leader's workers endpoint")
    # ...and turns runs away, naming the leader.
    for method, path in (("GET", "/v1/runs"), ("POST", "/v1/tools/tick/runs"),
                         ("GET", "/v1/schedules"), ("GET", "/v1/tools/tick/history")):
        status, body = env.http(method, path, {} if method == "POST" else None, url=b.url)
        check_eq(status, 503, f"{method} {path} on a standby")
        check_eq(body["error"], "standby", f"{method} {path}: the error says why")
        check_eq(body["leader"], a.url, f"{method} {path}: and where the leader is")
        check(a.url in body["message"], "the message names the leader", body)

    # maoctl asked at the standby follows it to the leader.
    run = env.maoctl("tool", "run", "tick", "-o", "json", server=b.url)
    check(run.rc == 0, "maoctl tool run through the standby", run)
    check_eq(run.json()["status"], "succeeded", "the run went to the leader's worker")
    # Several URLs: one that cannot be reached is skipped.
    listed = env.maoctl("run", "list", "-o", "json", server=f"http://127.0.0.1:1,{b.url}")
    check(listed.rc == 0, "maoctl with an unreachable first coordinator", listed)
    check_eq([r["id"] for r in listed.json()], [run.json()["id"]], "the leader's runs")
    bad = env.maoctl("run", "list", server=f"{a.url},ftp://x")
    check(bad.rc == 2, "a malformed URL in the list is a usage error", bad)
    check("ftp://x" in bad.err, "naming it", bad.err)


def scenario_takeover(env, pg=None):
    etcd = env.etcd()
    a, b = start_pair(env, etcd, pg.config() if pg else None)
    worker = worker_for(env, [a, b])
    env.tool("tick", "none", command=["sh", "-c", "echo 1 > control-$$.csv"])
    sched = env.maoctl("tool", "schedule", "tick", "--every", f"{PERIOD}s", "-o", "json",
                       server=a.url).json()
    wait_for("two scheduled runs", lambda: sum(
        r["status"] == "succeeded" for r in runs_of(env, a, sched["id"])) >= 2, timeout=30)

    a.kill()
    killed = time.time()
    wait_for("coord-b to take over", lambda: (role(env, b) or ("",))[0] == "leader",
             timeout=TTL * 4)
    took = time.time() - killed
    print(f"takeover after kill -9: {took:.1f} s (lease {TTL} s)", flush=True)
    worker.coordinator = b
    worker.wait_up(timeout=30)

    status, schedules = env.http("GET", "/v1/schedules", url=b.url)
    check_eq([s["id"] for s in schedules], [sched["id"]], "the new leader has the schedule")
    wait_for("scheduled runs after the takeover", lambda: sum(
        r["status"] == "succeeded" and r["slot"] > killed + TTL
        for r in runs_of(env, b, sched["id"])) >= 2, timeout=60)
    runs = runs_of(env, b, sched["id"])
    check_no_slot_twice(runs, "across the takeover")
    if pg:
        check_eq(pg.psql("SELECT count(*) - count(DISTINCT (schedule, slot)) FROM mao_runs "
                         "WHERE schedule IS NOT NULL"), "0",
                 "PostgreSQL holds each slot once")

    # The old leader, restarted, stands by behind the new one.
    a.start()
    wait_for("coord-a back as a standby", lambda: role(env, a) == ("standby", b.url))
    count = len(runs_of(env, b, sched["id"]))
    wait_for("the schedule still firing", lambda: len(runs_of(env, b, sched["id"])) > count)
    check_no_slot_twice(runs_of(env, b, sched["id"]), "with both running again")
    b.stop_clean()
    # Stopped cleanly, b gives its lease back: a leads at once.
    wait_for("coord-a to lead again", lambda: (role(env, a) or ("",))[0] == "leader",
             timeout=TTL * 2)
    a.stop_clean()


def test_takeover_with_schedules_in_etcd(env):
    scenario_takeover(env)


def test_takeover_with_schedules_in_postgresql(env):
    scenario_takeover(env, pg=env.postgres())


def test_a_frozen_leader_is_fenced(env):
    etcd = env.etcd()
    a, b = start_pair(env, etcd)
    worker_for(env, [a, b])
    env.tool("tick", "none", command=["sh", "-c", "echo 1 > control-$$.csv"])
    sched = env.maoctl("tool", "schedule", "tick", "--every", "1s", "-o", "json",
                       server=a.url).json()
    wait_for("a scheduled run", lambda: any(
        r["status"] == "succeeded" for r in runs_of(env, a, sched["id"])), timeout=30)

    # Frozen past its lease: its schedule's slots pile up in its timers.
    a.signal(signal.SIGSTOP)
    wait_for("coord-b to take over", lambda: (role(env, b) or ("",))[0] == "leader",
             timeout=TTL * 4)
    wait_for("coord-b to fire", lambda: any(
        r["status"] == "succeeded" for r in runs_of(env, b, sched["id"])
        if r["slot"] > time.time() - 3), timeout=30)
    a.signal(signal.SIGCONT)
    # Woken, it finds another leader and starts over as a standby.
    wait_for("coord-a to stand by", lambda: role(env, a) == ("standby", b.url), timeout=30)
    check("stepping.down" in a.log(), "coord-a's log says it stepped down", a.log()[-2000:])
    for line in a.log().splitlines():
        if any(w in line for w in ("lead:", "write.fenced", "stepping.down")):
            print("coord-a:", line.split(" ", 1)[1], flush=True)
    time.sleep(3)
    runs = runs_of(env, b, sched["id"])
    check_no_slot_twice(runs, "after the old leader woke")
    stored = [k for k in etcd.keys(env.prefix + "runs/tick/")]
    check_eq(len(stored), len({k for k in stored}), "each stored once")
    a.stop_clean()
    b.stop_clean()


if __name__ == "__main__":
    main(globals())
