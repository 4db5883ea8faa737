"""With etcd unreachable (killed, or frozen so connections hang) the
coordinator keeps running and answers 503 with a message; when etcd is back
it serves again without a restart."""

import signal
from concurrent.futures import ThreadPoolExecutor

from harness import check, check_eq, main, wait_for

TOOL = {"name": "t", "author": "a", "image": "i:1", "data_repo": "https://e.org/d.git",
        "code_repo": "c", "artefact": "x"}


def unavailable(env, what):
    # The client gives up after 20 s: an answer must come before that.
    status, body = env.http("GET", "/v1/tools", timeout=20)
    check_eq(status, 503, f"GET /v1/tools with etcd {what}")
    check("etcd" in body["message"], "the message says etcd is the problem", body)
    status, body = env.http("POST", "/v1/tools", dict(TOOL, name="during"), timeout=20)
    check_eq(status, 503, f"POST /v1/tools with etcd {what}")
    status, body = env.http("GET", "/healthz", timeout=20)
    check_eq((status, body["etcd"]), (503, "down"), f"healthz with etcd {what}")
    r = env.maoctl("tool", "get")
    check(r.rc == 1 and "unavailable" in r.err, "maoctl says the registry is unavailable", r)


def test_etcd_killed_then_back(env):
    etcd = env.etcd()
    coord = env.start_coordinator(etcd)
    check_eq(env.http("POST", "/v1/tools", TOOL)[0], 201, "register")
    etcd.kill()
    unavailable(env, "killed")
    check(coord.running(), "the coordinator keeps running")
    etcd.start()  # same data folder: the registry is still there
    wait_for("the API to serve again", lambda: env.http("GET", "/v1/tools")[0] == 200)
    check_eq(env.http("GET", "/v1/tools")[1], [TOOL], "the registry as before")
    check_eq(env.http("POST", "/v1/tools", dict(TOOL, name="after"))[0], 201, "writes work")
    coord.stop_clean()


def test_etcd_frozen_then_thawed(env):
    etcd = env.etcd()
    coord = env.start_coordinator(etcd)
    check_eq(env.http("POST", "/v1/tools", TOOL)[0], 201, "register")
    etcd.signal(signal.SIGSTOP)
    try:
        unavailable(env, "frozen")
    finally:
        etcd.signal(signal.SIGCONT)
    check(coord.running(), "the coordinator keeps running")
    wait_for("the API to serve again", lambda: env.http("GET", "/v1/tools")[0] == 200)
    check_eq(env.http("GET", "/v1/tools/t")[1], TOOL, "the registry as before")
    coord.stop_clean()


def test_coordinator_starts_without_etcd(env):
    etcd = env.etcd()
    etcd.kill()
    coord = env.start_coordinator(etcd)
    check_eq(env.http("GET", "/v1/tools")[0], 503, "503 while etcd has never been up")
    etcd.start()
    wait_for("the API to serve", lambda: env.http("GET", "/v1/tools")[0] == 200)
    coord.stop_clean()


def test_etcd_with_fewer_operations_per_transaction(env):
    """An etcd started with a --max-txn-ops below the coordinator's batches
    (up to 60 operations; etcd allows 128 by default): the refused batches
    are written again smaller, and every run is recorded."""
    etcd = env.etcd(args=["--max-txn-ops", "6"])
    coord = env.start_coordinator(etcd)
    env.start_worker(capacity=8, config={"WORKER": {"runtime": "exec"}})
    env.tool("quick", "none", command=["true"])
    with ThreadPoolExecutor(20) as pool:  # together, so that the writes batch
        answers = list(pool.map(lambda _: env.http("POST", "/v1/tools/quick/runs", {}),
                                range(60)))
    check_eq({status for status, _ in answers}, {201}, "every run is queued and stored")
    ids = [body["id"] for _, body in answers]
    wait_for("every run to end", lambda: all(
        env.http("GET", f"/v1/runs/{i}")[1].get("status") == "succeeded" for i in ids), 120)
    wait_for("every final record in etcd",
             lambda: len(etcd.keys(env.prefix + "runs/quick/")) == 60, 30)
    check("batch.smaller" in coord.log(), "the coordinator says it writes smaller batches",
          coord.log()[-3000:])
    coord.stop_clean()


if __name__ == "__main__":
    main(globals())
