"""Two runs at once on a worker of capacity 2 both complete, and the HTTP API
keeps answering while the containers run."""

from harness import build_images, check, check_eq, main, wait_for


def test_two_runs_at_once(env):
    build_images()
    coord = env.start_coordinator(env.etcd())
    worker = env.start_worker(capacity=2)
    env.tool("slow-a", "mao-test/writer:1", env={"SLEEP": "4"})
    env.tool("slow-b", "mao-test/writer:1", env={"SLEEP": "4"})
    ids = []
    for tool in ("slow-a", "slow-b"):
        r = env.maoctl("tool", "run", tool, "--no-wait")
        check(r.rc == 0, "queued", r)
        ids.append(r.out.strip())

    def both_running():
        return all(env.http("GET", f"/v1/runs/{i}")[1]["status"] == "running" for i in ids)

    wait_for("both runs to be running", both_running)
    # While both containers run, the API answers.
    status, tools = env.http("GET", "/v1/tools")
    check_eq((status, sorted(t["name"] for t in tools)), (200, ["slow-a", "slow-b"]),
             "GET /v1/tools while the runs run")
    status, workers = env.http("GET", "/v1/workers")
    check_eq(workers[0]["in_flight"], 2, "the worker runs both")
    check_eq(sorted(workers[0]["runs"]), sorted(ids), "the worker lists both runs")
    status, metrics = env.http("GET", "/metrics")
    check('mao_runs{status="running"} 2' in metrics and 'mao_runs{status="queued"} 0' in metrics,
          "the metrics count both as running", metrics)
    check(both_running(), "and both were still running while the API answered")
    r = env.maoctl("worker", "get")
    check(r.rc == 0 and r.out.splitlines()[1].split()[4] == "2", "maoctl worker get", r)

    for i in ids:
        status, record = env.http("GET", f"/v1/runs/{i}?wait=60&version=0")
        wait_for("the run to end",
                 lambda: env.http("GET", f"/v1/runs/{i}")[1]["status"] == "succeeded")
    overlap = [env.http("GET", f"/v1/runs/{i}")[1] for i in ids]
    check(overlap[0]["started_at"] < overlap[1]["finished_at"] and
          overlap[1]["started_at"] < overlap[0]["finished_at"], "the two runs overlapped",
          overlap)
    status, workers = env.http("GET", "/v1/workers")
    check_eq((workers[0]["in_flight"], workers[0]["runs"]), (0, []), "the worker runs none now")
    status, metrics = env.http("GET", "/metrics")
    check('mao_runs{status="running"} 0' in metrics, "nor do the metrics count them", metrics)
    worker.stop_clean()
    coord.stop_clean()


def test_third_run_waits_for_room(env):
    build_images()
    env.start_coordinator(env.etcd())
    env.start_worker(capacity=1)
    env.tool("slow", "mao-test/writer:1", env={"SLEEP": "2"})
    first = env.maoctl("tool", "run", "slow", "--no-wait").out.strip()
    second = env.maoctl("tool", "run", "slow", "--no-wait").out.strip()
    wait_for("the first to run", lambda: env.http("GET", f"/v1/runs/{first}")[1]["status"]
             == "running")
    check_eq(env.http("GET", f"/v1/runs/{second}")[1]["status"], "queued",
             "the second waits while the worker is full")
    wait_for("both to succeed",
             lambda: all(env.http("GET", f"/v1/runs/{i}")[1]["status"] == "succeeded"
                         for i in (first, second)), timeout=60)


if __name__ == "__main__":
    main(globals())
