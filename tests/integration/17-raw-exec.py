"""The exec runtime (off by default, enabled per site): tools run as local
commands of the worker's user in the dataset folder, for sites without
Docker and for measuring the orchestration itself."""

import json
import os
import subprocess
import time

from harness import BIN, check, check_eq, main, wait_for, write_config

WRITE = ["sh", "-c", 'n=$(ls | grep -c "^control-"); echo $((100 + n)) > control-$(printf %04d $n).csv; echo wrote $n']


def run_many(env, tool, n):
    """Queues n runs of `tool` through the API; returns their ids once all succeeded."""
    ids = env.queue_runs(tool, n)
    wait_for("every run to end", lambda: all(
        env.http("GET", f"/v1/runs/{i}")[1].get("status") == "succeeded" for i in ids), 120)
    return ids


def test_exec_runtime(env):
    env.start_coordinator(env.etcd())
    worker = env.start_worker(config={"WORKER": {"runtime": "exec"}})
    status, workers = env.http("GET", "/v1/workers")
    check_eq(workers[0]["labels"]["runtime"], "exec", "the worker says how it runs tools")
    env.tool("counter", "none", command=WRITE)
    for n in range(1, 4):
        r = env.maoctl("tool", "run", "counter", "-o", "json")
        run = r.json()
        check_eq((run["status"], run["report"]["snapshots"]), ("succeeded", n), f"run {n}")
    check_eq(run["verdict"], "no spike", "the detector ran on what the command wrote")
    check(os.path.isfile(os.path.join(worker.importdir, "counter", "control-0002.csv")),
          "in the dataset folder")
    r = env.maoctl("run", "logs", run["id"])
    check("wrote 2" in r.out, "the output's tail is kept", r)

    # 37 s: no other test's processes match (21-containment sleeps 30 s).
    env.tool("sleeper", "none", command=["sh", "-c", "sleep 37 & sleep 37"], timeout_s=1)
    run = env.maoctl("tool", "run", "sleeper", "-o", "json").json()
    check_eq(run["status"], "timed_out", "a command past its timeout is stopped")

    def left():
        return subprocess.run(["pgrep", "-f", "sleep 37"], capture_output=True,
                              text=True).stdout.split()
    # SIGKILL is sent to the whole group before the result; a process dies
    # when the kernel next runs it, which on a loaded machine may be a moment
    # after the run is recorded.
    wait_for("every process it started to be gone", lambda: not left(), timeout=5)

    env.tool("fails", "none", command=["sh", "-c", "exit 4"])
    run = env.maoctl("tool", "run", "fails", "-o", "json").json()
    check_eq((run["status"], run["exit_code"]), ("failed", 4), "an exit code")
    env.tool("missing", "none", command=["/no/such/program"])
    run = env.maoctl("tool", "run", "missing", "-o", "json").json()
    check(run["status"] == "failed" and "could not run" in run["reason"], "a missing program", run)
    env.tool("nocommand", "none")
    run = env.maoctl("tool", "run", "nocommand", "-o", "json").json()
    check(run["status"] == "failed" and "has no command" in run["reason"],
          "a tool without a command", run)
    worker.stop_clean()


def test_many_runs_past_the_memory_bound(env):
    """More finished runs than the coordinator keeps in memory: the oldest are
    forgotten there and still answered from the store."""
    env.start_coordinator(env.etcd(), config={"COORDINATOR": {"keep_finished": "10"}})
    env.start_worker(capacity=8, config={"WORKER": {"runtime": "exec"}})
    env.tool("quick", "none", command=["true"])
    ids = run_many(env, "quick", 40)
    status, first = env.http("GET", f"/v1/runs/{ids[0]}")
    check_eq((status, first["status"]), (200, "succeeded"), "the oldest, from the store")
    check_eq(len(env.http("GET", "/v1/runs?tool=quick&limit=100")[1]), 40, "all forty listed")
    env.coordinator.stop_clean()


def test_history_kept_to_its_bound(env):
    """`history = 5`: etcd keeps about the newest five runs of a tool (pruned
    every 20 finished runs), and the runs that go are the oldest."""
    etcd = env.etcd()
    env.start_coordinator(etcd, config={"COORDINATOR": {"history": "5"}})
    env.start_worker(capacity=8, config={"WORKER": {"runtime": "exec"}})
    env.tool("quick", "none", command=["true"])
    ids = run_many(env, "quick", 45)
    prefix = env.prefix + "runs/quick/"

    def kept():
        return [k[len(prefix):] for k in etcd.keys(prefix)]
    wait_for("the history to be pruned", lambda: len(kept()) < 25, 30)
    left = kept()
    check(5 <= len(left) < 25, "the newest few are kept", left)
    check_eq(left, sorted(ids)[-len(left):], "the ones kept are the newest")
    r = env.maoctl("tool", "history", "quick", "-o", "json")
    check_eq(len(r.json()), len(left), "history shows what etcd keeps")


def test_events_reach_whoever_listens(env):
    """Events are made only while someone subscribes: every subscriber gets
    them, one leaving does not stop them for another, and one coming after
    all have left gets them again."""
    env.start_coordinator(env.etcd())
    env.start_worker(config={"WORKER": {"runtime": "exec"}})
    env.tool("quick", "none", command=["true"])

    def watch(count, topic="run.finished"):
        return env.maoctl_bg("watch", "--topic", topic, "--count", str(count),
                             "--timeout", "60", "-o", "json")

    def run_while(*watchers):
        deadline = time.time() + 55
        while any(w.poll() is None for w in watchers) and time.time() < deadline:
            env.http("POST", "/v1/tools/quick/runs", {})
            time.sleep(0.3)

    def topics(w, label):
        out, err = w.communicate(timeout=30)
        check_eq(w.returncode, 0, label + ": " + err)
        return [json.loads(line)["topic"] for line in out.splitlines() if line.strip()]

    # Two topics: the one that leaves ends a subscription of its own.
    long, short = watch(12, "run."), watch(1)
    run_while(short)
    check_eq(topics(short, "a subscriber that wants one event"), ["run.finished"], "it got it")
    run_while(long)
    got = topics(long, "a subscriber that stays after the other left")
    check(len(got) == 12 and all(t.startswith("run.") for t in got), "it got every one", got)
    late = watch(1)
    run_while(late)
    check_eq(topics(late, "a subscriber after all had left"), ["run.finished"], "it got one")


def test_runs_below_the_worker(env):
    """`run_nice`: the commands a worker starts go that much below its own
    priority; without it, at its priority."""
    env.start_coordinator(env.etcd())
    env.start_worker(site="a", config={"WORKER": {"runtime": "exec", "run_nice": "7"}})
    env.start_worker(site="b", config={"WORKER": {"runtime": "exec"}})
    env.tool("niceness", "none", command=["nice"])  # prints its own niceness
    own = os.nice(0)  # the workers' too: they inherit it
    for site, want in (("a", min(own + 7, 19)), ("b", own)):
        run = env.maoctl("tool", "run", "niceness", "--site", site, "-o", "json").json()
        check_eq(run["status"], "succeeded", f"the run at site {site}")
        check_eq(env.maoctl("run", "logs", run["id"]).out.strip(), str(want),
                 f"the niceness of the command at site {site}")
    path = os.path.join(env.dir, "w.conf")
    write_config(path, {"WORKER": {"run_nice": "20", "spool": os.path.join(env.dir, "s")},
                        "WORKING_ENVIRONMENT": {"importdir": os.path.join(env.dir, "d")}})
    p = subprocess.run([os.path.join(BIN, "mao-worker"), "-c", path], capture_output=True,
                       text=True, timeout=30)
    check(p.returncode == 1 and "run_nice" in p.stderr, "a value past 19: a clear error",
          p.stderr)


def test_bad_runtime_is_refused(env):
    path = os.path.join(env.dir, "w.conf")
    write_config(path, {"WORKER": {"runtime": "vm", "spool": os.path.join(env.dir, "s")},
                        "WORKING_ENVIRONMENT": {"importdir": os.path.join(env.dir, "d")}})
    p = subprocess.run([os.path.join(BIN, "mao-worker"), "-c", path], capture_output=True,
                       text=True, timeout=30)
    check(p.returncode == 1 and "runtime = 'vm'" in p.stderr, "a clear error", p.stderr)


if __name__ == "__main__":
    main(globals())
