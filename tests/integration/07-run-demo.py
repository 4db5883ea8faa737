"""Running a tool at a site, end to end with a real etcd, coordinator, worker
and the machine's dockerd: the demo tool three times, then its jumping
variant until it spikes, with every channel of notification."""

import json
import os

from harness import build_images, check, check_eq, main, wait_for


def test_demo_three_runs_then_a_spike(env):
    build_images()
    etcd = env.etcd()
    webhook = env.webhook()
    smtp = env.smtp()
    coord = env.start_coordinator(etcd, config={"NOTIFY": {
        "webhook": webhook.url, "smtp_url": smtp.url, "mail_from": "mao@test.invalid",
        "mail_to": "ops@test.invalid"}})
    worker = env.start_worker(site="zurich")
    repo = env.bare_repo("demo-data", {"README.md": "the demo's data\n"})
    check(env.maoctl("tool", "add", "demo", "alice", "mao-demo:latest", repo,
                     "https://example.org/demo.git", "csv").rc == 0, "register demo")
    watch = env.maoctl_bg("watch", "--timeout", "90", "-o", "json")

    # First run: clones the dataset from the bare repository; not enough data yet.
    r = env.maoctl("tool", "run", "demo")
    check(r.rc == 0, "the first run succeeds", r)
    check("Snapshots        1" in r.out and "not enough data yet (1 of 3 snapshots)" in r.out,
          "one snapshot, not enough data", r)
    check("queued" in r.err and "started at site zurich" in r.err, "progress lines", r)
    clone = os.path.join(worker.importdir, "demo")
    check(os.path.isfile(os.path.join(clone, "README.md")), "the dataset was cloned there")
    check(os.path.isdir(os.path.join(clone, ".git")), "as a git clone")

    r = env.maoctl("tool", "run", "demo", "-o", "json")
    first = r.json()
    check_eq((first["status"], first["report"]["snapshots"], first["verdict"]),
             ("succeeded", 2, "not enough data"), "the second run")
    for field in ["id", "tool", "site", "worker", "status", "created_at", "started_at",
                  "finished_at", "exit_code", "control_value", "verdict"]:
        check(field in first, f"the run record has {field}", first)

    r = env.maoctl("tool", "run", "demo")
    check(r.rc == 0, "the third run succeeds", r)
    for label in ["Rolling average", "Control value", "Difference", "Gain"]:
        check(label in r.out, f"the third report shows {label}", r)
    check("Verdict          no spike" in r.out and "Snapshots        3" in r.out, "no spike", r)

    # The jumping variant: its third run is three times the others.
    check(env.maoctl("tool", "add", "jumpy", "alice", "mao-demo:jump", env.bare_repo("jumpy"),
                     "c", "csv").rc == 0, "register jumpy")
    for _ in range(2):
        check(env.maoctl("tool", "run", "jumpy").rc == 0, "a jumpy run")
    r = env.maoctl("tool", "run", "jumpy", "-o", "json")
    spiked = r.json()
    check(r.rc == 0 and spiked["verdict"] == "spike" and spiked["spike"] is True,
          "the third jumpy run spikes; a spike is a finding, exit 0", r)

    keys = wait_for("the notification entry in etcd",
                    lambda: etcd.keys(env.prefix + "notifications/"))
    check_eq(len(keys), 1, "one notification entry in etcd")
    note = json.loads(etcd.get(keys[0]))
    check_eq((note["tool"], note["run"], note["site"]), ("jumpy", spiked["id"], "zurich"),
             "the notification names the tool, run and site")
    wait_for("the webhook", lambda: webhook.received)
    check_eq((webhook.received[0]["tool"], webhook.received[0]["run"]), ("jumpy", spiked["id"]),
             "the webhook got the notification")
    wait_for("the mail", lambda: smtp.messages)
    mail = smtp.messages[0]
    check("Subject: [mao] spike in jumpy" in mail["data"] and "ops@test.invalid" in mail["to"][0],
          "a mail went to the operator", mail)

    watch.terminate()
    out, _ = watch.communicate(timeout=10)
    events = [json.loads(l) for l in out.splitlines() if l.strip()]
    types = [e["type"] for e in events]
    check(types.count("run.finished") == 6 and "spike" in types and "run.started" in types,
          "maoctl watch showed the runs and the spike", types)
    spike = next(e for e in events if e["type"] == "spike")
    check_eq(spike["run"], spiked["id"], "the spike event names the run")

    # What the API keeps: run get, run list, logs, metrics.
    r = env.maoctl("run", "get", spiked["id"])
    check(r.rc == 0 and "Verdict          spike" in r.out, "run get shows the report", r)
    r = env.maoctl("run", "list", "--tool", "demo", "-o", "json")
    check_eq(len(r.json()), 3, "three demo runs listed")
    r = env.maoctl("run", "logs", spiked["id"])
    check("mao-demo: run 3 found" in r.out, "the log tail", r)
    status, metrics = env.http("GET", "/metrics")
    check("mao_spikes_total 1" in metrics and 'mao_runs_total{status="succeeded"} 6' in metrics
          and 'mao_workers{state="up"} 1' in metrics, "metrics", metrics)

    worker.stop_clean()
    coord.stop_clean()


def test_original_run_endpoint(env):
    build_images()
    env.start_coordinator(env.etcd())
    env.start_worker()
    env.tool("demo", "mao-demo:latest")
    for n in range(1, 4):
        status, body = env.http("POST", "/run", {"name": "demo", "cron": False}, timeout=120)
        check_eq(status, 200, "POST /run")
        check_eq(sorted(body), ["datadir", "message", "scheduler_output", "tool"], "its keys")
        result = body["scheduler_output"]["exec_result"]
        check_eq((body["tool"], result["snapshots"], result["datapath"]),
                 ("demo", n, body["datadir"]), f"run {n}")
        if n < 3:
            check("control_metric" not in result and result["spike"] is False,
                  "no numbers before there are enough snapshots", result)
        else:
            for k in ["rolling_avg", "control_metric", "diff", "gain"]:
                check(k in result, f"{k} once there are enough snapshots", result)
    status, body = env.http("POST", "/run", {"name": "nothing", "cron": False})
    check(status == 404 and "not registered" in body["message"], "an unknown tool", body)


if __name__ == "__main__":
    main(globals())
