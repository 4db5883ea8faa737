"""Several sites: one run at every site shown side by side, by hand and for
each slot of a schedule; a run whose worker is killed, or frozen past its
liveness, moves to another worker and ends once, with both attempts in its
history.  Tools run as local commands
(runtime = exec) at each site, each site with its own data folder."""

import json
import signal
import time

from harness import check, check_eq, main, wait_for

EXEC = {"WORKER": {"runtime": "exec"}}
# Writes one control file per run, its value 100 + the number of earlier ones.
COUNTER = ["sh", "-c", 'n=$(ls | grep -c "^control-"); '
                       'echo $((100 + n)) > control-$(printf %04d $n).csv']


def test_every_site_side_by_side(env):
    env.start_coordinator(env.etcd())
    workers = {site: env.start_worker(site=site, config=EXEC) for site in ("alpha", "beta",
                                                                         "gamma")}
    env.tool("counter", "none", command=COUNTER)
    for n in (1, 2):
        r = env.maoctl("tool", "run", "counter", "--all-sites", "-o", "json")
        check_eq(r.rc, 0, f"round {n}: " + r.err)
    r = env.maoctl("tool", "run", "counter", "--all-sites")
    check_eq(r.rc, 0, "the third round: " + r.err)
    lines = r.out.splitlines()
    check(lines[0].startswith("Group ") and "at 3 sites" in lines[0], "a group of three", r.out)
    check(lines[1].split()[:3] == ["SITE", "RUN", "STATUS"], "a table", r.out)
    rows = [line.split() for line in lines[2:]]
    check_eq([row[0] for row in rows], ["alpha", "beta", "gamma"], "one row per site, by name")
    for row in rows:
        check(row[2] == "succeeded" and row[3] == "3" and row[4] == "102" and
              "no spike" in " ".join(row), "each site's own third value and verdict", r.out)

    r = env.maoctl("tool", "run", "counter", "--all-sites", "-o", "json")
    group = r.json()
    check_eq(sorted(run["site"] for run in group["runs"]), ["alpha", "beta", "gamma"],
             "-o json: the group's runs")
    check(all(run["group"] == group["group"] for run in group["runs"]), "sharing the group id")
    for run in group["runs"]:
        check(run["datadir"].startswith(workers[run["site"]].importdir),
              "each ran in its site's own clone", run["datadir"])

    r = env.maoctl("tool", "run", "counter", "--all-sites", "--site", "alpha")
    check_eq(r.rc, 2, "--site and --all-sites together are a usage error")
    for w in workers.values():
        w.stop_clean()
    wait_for("the workers to be down", lambda: all(
        w["state"] == "down" for w in env.http("GET", "/v1/workers")[1]), timeout=30)
    status, body = env.http("POST", "/v1/tools/counter/runs", {"all_sites": True})
    check(status == 409 and "no worker is up" in body["message"], "no site up", body)


def slots_of(env, tool):
    """Finished runs of a tool by slot: {slot: [run, ...]}."""
    slots = {}
    for run in env.http("GET", f"/v1/runs?tool={tool}&limit=500")[1]:
        if run.get("slot") and run["status"] == "succeeded":
            slots.setdefault(run["slot"], []).append(run)
    return slots


def test_a_schedule_for_every_site(env):
    env.start_coordinator(env.etcd())
    workers = {site: env.start_worker(site=site, config=EXEC) for site in ("alpha", "beta",
                                                                         "gamma")}
    env.tool("counter", "none", command=COUNTER)
    status, body = env.http("POST", "/v1/tools/counter/schedules",
                            {"every": "2s", "site": "alpha", "all_sites": True})
    check(status == 400 and "not both" in body["message"], "a site and all_sites: refused", body)
    r = env.maoctl("tool", "schedule", "counter", "--every", "2s", "--all-sites", "-o", "json")
    check_eq(r.rc, 0, r.err)
    check(r.json()["all_sites"] is True, "the schedule is for every site", r.out)
    r = env.maoctl("schedule", "get")
    check("every" in r.out.split("\n")[1].split(), "listed with SITE every", r.out)

    def full_slots():
        full = [runs for runs in slots_of(env, "counter").values() if len(runs) == 3]
        return full if len(full) >= 2 else None

    full = wait_for("two slots run at the three sites", full_slots, timeout=60)
    for runs in full:
        check_eq(sorted(run["site"] for run in runs), ["alpha", "beta", "gamma"],
                 "one run per site in a slot")
        check(len({run["group"] for run in runs}) == 1 and runs[0]["group"],
              "a slot's runs share a group", runs)
    for slot, runs in slots_of(env, "counter").items():
        sites = [run["site"] for run in runs]
        check_eq(len(sites), len(set(sites)), f"slot {slot}: no site ran it twice")

    r = env.maoctl("tool", "history", "counter", "--limit", "60")
    rows = [line.split() for line in r.out.splitlines()[1:]]
    by_when = {}
    for row in rows:
        if row[3] == "succeeded":
            by_when.setdefault(row[1], []).append(row[2])
    triples = [sites for sites in by_when.values() if len(sites) == 3]
    check(len(triples) >= 2 and all(sites == ["alpha", "beta", "gamma"] for sites in triples),
          "tool history: the sites of a slot side by side, by name", r.out)

    # A site that goes away is left out of the slots that come after.
    workers["gamma"].stop_clean()
    wait_for("gamma to be down", lambda: any(
        w["site"] == "gamma" and w["state"] == "down" for w in env.http("GET", "/v1/workers")[1]),
        timeout=30)
    after = time.time()
    wait_for("a slot at the two sites left", lambda: any(
        sorted(run["site"] for run in runs) == ["alpha", "beta"] and runs[0]["slot"] > after
        for runs in slots_of(env, "counter").values()), timeout=60)


def run_of(env, run_id):
    return env.http("GET", f"/v1/runs/{run_id}")[1]


def test_a_killed_worker_run_moves(env):
    env.start_coordinator(env.etcd())
    a = env.start_worker(capacity=1, config=EXEC)
    b = env.start_worker(capacity=1, config=EXEC)
    by_id = {a.id: a, b.id: b}
    env.tool("slow", "none", command=["sh", "-c", "sleep 3; echo 7 > control-1.csv"])
    status, run = env.http("POST", "/v1/tools/slow/runs", {})
    rid = run["id"]
    first = wait_for("the run to start", lambda: run_of(env, rid)["status"] == "running" and
                     run_of(env, rid)["worker"])
    first = run_of(env, rid)["worker"]
    by_id[first].kill()
    end = wait_for("the run to end elsewhere",
                   lambda: run_of(env, rid) if run_of(env, rid)["status"] == "succeeded"
                   else None, timeout=60)
    check(end["worker"] != first, "it ended on the other worker", end)
    check_eq(end["attempt"], 2, "as a second attempt")
    check_eq([(x["worker"], x["status"]) for x in end["attempts"]], [(first, "lost")],
             "the first attempt is in its history")
    runs = [r for r in env.http("GET", "/v1/runs?tool=slow")[1]]
    check_eq(len(runs), 1, "one run, one final result")


def test_a_frozen_worker_comes_back_too_late(env):
    coord = env.start_coordinator(env.etcd())
    a = env.start_worker(capacity=1, config=EXEC)
    b = env.start_worker(capacity=1, config=EXEC)
    by_id = {a.id: a, b.id: b}
    env.tool("slow", "none", command=["sh", "-c", "sleep 4; echo 7 > control-1.csv"])
    status, run = env.http("POST", "/v1/tools/slow/runs", {})
    rid = run["id"]
    wait_for("the run to start", lambda: run_of(env, rid)["status"] == "running")
    first = run_of(env, rid)["worker"]
    frozen = by_id[first]
    frozen.signal(signal.SIGSTOP)
    wait_for("the frozen worker to be down", lambda: any(
        w["id"] == first and w["state"] == "down" for w in env.http("GET", "/v1/workers")[1]),
        timeout=30)
    wait_for("the run to move", lambda: run_of(env, rid)["attempt"] == 2, timeout=30)
    frozen.signal(signal.SIGCONT)
    end = wait_for("the run to end", lambda: run_of(env, rid) if run_of(env, rid)["status"]
                   not in ("queued", "running") else None, timeout=60)
    check_eq(end["status"], "succeeded", "it ends once: " + json.dumps(end))
    time.sleep(6)  # the frozen worker's own attempt finishes meanwhile
    end = run_of(env, rid)
    check_eq(end["status"], "succeeded", "still one final result")
    workers = {x["worker"] for x in end["attempts"]} | {end["worker"]}
    check_eq(workers, {a.id, b.id}, "both attempts are in its history: " + json.dumps(end))
    check("worker.down" in coord.log() and "worker.up" in coord.log(), "down, then up again")
    a.stop_clean()
    b.stop_clean()


if __name__ == "__main__":
    main(globals())
