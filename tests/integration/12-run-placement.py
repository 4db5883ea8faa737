"""Where runs go: a named site, the site that ran the tool last, and a clear
word when no worker can take a run; notifications that fail are retried."""

from harness import build_images, check, check_eq, main, wait_for


def test_site_placement(env):
    build_images()
    env.start_coordinator(env.etcd())
    zurich = env.start_worker(site="zurich")
    bern = env.start_worker(site="bern")
    env.tool("demo", "mao-demo:latest")
    for site in ("bern", "zurich", "bern"):
        run = env.maoctl("tool", "run", "demo", "--site", site, "-o", "json").json()
        check_eq((run["site"], run["requested_site"]), (site, site), f"--site {site}")
    # Any site: the one that ran the tool last, whose clone holds its history.
    for _ in range(3):
        run = env.maoctl("tool", "run", "demo", "-o", "json").json()
        check_eq(run["site"], "bern", "a run for any site goes where the tool ran last")
    check(zurich.running() and bern.running(), "both workers up")


def test_no_worker_at_the_site(env):
    build_images()
    env.start_coordinator(env.etcd())
    env.start_worker(site="zurich")
    env.tool("demo", "mao-demo:latest")
    r = env.maoctl("tool", "run", "demo", "--site", "geneva", "--no-wait")
    run_id = r.out.strip()
    status, run = env.http("GET", f"/v1/runs/{run_id}")
    check_eq((run["status"], run["waiting_for"]), ("queued", "no worker is up at the requested site"),
             "the run waits, and says why")
    geneva = env.start_worker(site="geneva")
    wait_for("the run to finish at geneva",
             lambda: env.http("GET", f"/v1/runs/{run_id}")[1]["status"] == "succeeded")
    check_eq(env.http("GET", f"/v1/runs/{run_id}")[1]["worker"], geneva.id, "it ran at geneva")
    r = env.maoctl("tool", "run", "demo", "--site", "a/b")
    check(r.rc == 1 and "invalid site name" in r.err, "a bad site name", r)


def test_webhook_failures_are_retried(env):
    build_images()
    webhook = env.webhook(fail_first=2)
    coord = env.start_coordinator(env.etcd(), config={"NOTIFY": {"webhook": webhook.url}})
    env.start_worker()
    env.tool("jumpy", "mao-demo:jump")
    for _ in range(3):
        check(env.maoctl("tool", "run", "jumpy").rc == 0, "a run")
    wait_for("the third delivery attempt to succeed", lambda: webhook.received, timeout=60)
    check_eq(webhook.received[0]["tool"], "jumpy", "the notification arrived")
    log = coord.log()
    check(log.count("webhook.failed") == 2 and "webhook.delivered" in log and
          "attempts=3" in log, "two failures were logged and retried", log[-2000:])


if __name__ == "__main__":
    main(globals())
