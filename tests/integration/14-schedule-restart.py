"""kill -9 of the coordinator while schedules exist, then a restart: every
schedule is back; a slot missed during the downtime runs exactly once when
within the grace time, and is recorded as missed when outside it.  With the
schedule in etcd and with it in PostgreSQL."""

import time

from harness import VALGRIND, build_images, check, check_eq, main, wait_for

# Under valgrind the coordinator takes a few seconds to start: no slot may
# come due while it starts, or the test could not tell what it should do.
PERIOD = 8 if VALGRIND else 4


def runs_of(env, sched_id):
    status, runs = env.http("GET", "/v1/runs?limit=10000")
    check_eq(status, 200, "GET /v1/runs")
    return [r for r in runs if r.get("schedule") == sched_id]


def scenario(env, pg=None):
    build_images()
    etcd = env.etcd()
    config = pg.config() if pg else {}
    coord = env.start_coordinator(etcd, config=config)
    env.start_worker()
    env.tool("demo", "mao-demo:latest")
    graceful = env.maoctl("tool", "schedule", "demo", "--every", f"{PERIOD}s", "-o", "json").json()
    strict = env.maoctl("tool", "schedule", "demo", "--every", f"{PERIOD}s", "--grace", "1s",
                        "-o", "json").json()
    for s in (graceful, strict):
        wait_for("a first scheduled run", lambda s=s: any(
            r["status"] == "succeeded" for r in runs_of(env, s["id"])), timeout=30)
    if pg:
        check_eq(pg.psql("SELECT count(*) FROM mao_schedules"), "2", "schedules in PostgreSQL")
        check(int(pg.psql("SELECT count(*) FROM mao_runs")) >= 2, "runs in PostgreSQL")
        check_eq(etcd.keys(env.prefix + "schedules/"), [], "and not in etcd")

    coord.kill()
    killed = time.time()
    # Down for at least two periods, and come back 2 s after one of the strict
    # schedule's slots: past its 1 s grace, well within the default hour.
    anchor = strict["anchor"]
    restart = killed + 2 * PERIOD
    restart += (anchor - restart) % PERIOD + 2
    time.sleep(restart - time.time())
    coord.start()
    back = time.time()

    status, schedules = env.http("GET", "/v1/schedules")
    check_eq(sorted(s["id"] for s in schedules), sorted([graceful["id"], strict["id"]]),
             "every schedule is back")

    def settled():
        rs = runs_of(env, graceful["id"])
        return any(r["slot"] > killed and r["status"] == "succeeded" for r in rs)

    wait_for("the graceful schedule's catch-up run", settled, timeout=30)
    # Slots that came due while the coordinator was down (after the kill, up
    # to the restart).
    down = lambda r: killed < r["slot"] <= back  # noqa: E731
    g = [r for r in runs_of(env, graceful["id"]) if down(r)]
    ran = [r for r in g if r["status"] not in ("missed", "skipped")]
    check_eq(len(ran), 1, "the missed slots of the graceful schedule ran exactly once")
    check(all("coalesced" in r["reason"] for r in g if r["status"] == "missed"),
          "the other slots are recorded as coalesced", g)
    check(len(g) >= 2, "the downtime covered at least two slots", g)

    st = [r for r in runs_of(env, strict["id"]) if down(r)]
    check(st and all(r["status"] == "missed" for r in st),
          "the strict schedule's slots are recorded as missed", st)
    check(any("grace" in r["reason"] for r in st), "with the grace time as the reason", st)

    # No slot ever ran twice, before or after the restart.
    for s in (graceful, strict):
        real = [r["slot"] for r in runs_of(env, s["id"]) if r["status"] not in ("missed", "skipped")]
        check_eq(len(real), len(set(real)), "no slot ran twice")
    # And it goes on firing.
    count = len(runs_of(env, graceful["id"]))
    wait_for("more runs after the restart",
             lambda: len(runs_of(env, graceful["id"])) >= count + 1, timeout=30)
    coord.stop_clean()


def test_restart_with_etcd_store(env):
    scenario(env)


def test_restart_with_postgresql_store(env):
    scenario(env, pg=env.postgres())


if __name__ == "__main__":
    main(globals())
