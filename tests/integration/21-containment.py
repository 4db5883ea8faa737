"""A tool stays inside its container: it cannot mount, change what it does
not own, fork without end or take more memory than it may; each attempt is
stopped, the host is untouched, and the run says why it failed.  A tool may
ask for less than the site's limits, and for capabilities only the site
allows."""

import os

from harness import build_images, check, check_eq, main

IMAGE = "mao-test/busybox:1"


def host_state(path):
    st = os.stat(path)
    return (st.st_uid, st.st_gid, st.st_mode)


def test_hostile_tools_are_stopped(env):
    build_images()
    env.start_coordinator(env.etcd())
    worker = env.start_worker(capacity=4, config={"WORKER": {"memory": "256m", "pids": "64",
                                                             "timeout": "60"}})
    before = host_state(worker.importdir)
    passwd = host_state("/etc/passwd")

    env.tool("mounter", IMAGE, command=["sh", "-c", "mount -t tmpfs none /mnt && echo mounted"])
    run = env.maoctl("tool", "run", "mounter", "-o", "json").json()
    check_eq(run["status"], "failed", "mounting fails")
    check("exited with code" in run["reason"], "the exit code is the reason", run)
    r = env.maoctl("run", "logs", run["id"])
    check("mounted" not in r.out and "ermission" in r.out + r.err + str(run), "not permitted", r)

    env.tool("chowner", IMAGE,
             command=["sh", "-c", "chown 0:0 /usr/src/app/data && chown -R 0:0 / 2>/dev/null;"
                                  " touch /etc/x; exit 3"])
    run = env.maoctl("tool", "run", "chowner", "-o", "json").json()
    check_eq((run["status"], run["exit_code"]), ("failed", 3), "changing ownership gets nowhere")
    data = os.path.join(worker.importdir, "chowner")
    check_eq(os.stat(data).st_uid, os.getuid(), "its data folder still belongs to the worker")

    env.tool("forker", IMAGE, timeout_s=15,
             command=["sh", "-c", "i=0; while [ $i -lt 500 ]; do sleep 30 & i=$((i+1)); done; "
                                  "wait"])
    run = env.maoctl("tool", "run", "forker", "-o", "json").json()
    check(run["status"] in ("failed", "timed_out"), "forking without end is stopped", run)
    r = env.maoctl("run", "logs", run["id"])
    check("fork" in r.out.lower() or "resource" in r.out.lower() or run["status"] == "timed_out",
          "by the process limit", r.out[-500:])

    env.tool("eater", IMAGE, resources={"memory": "32m"},
             command=["sh", "-c", "head -c 200000000 /dev/zero | sort > /dev/null"])
    run = env.maoctl("tool", "run", "eater", "-o", "json").json()
    check_eq(run["status"], "failed", "allocating past the limit fails")
    check("memory limit of 32 MiB" in run["reason"], "it says so, with the tool's own limit", run)

    env.tool("greedy", IMAGE, capabilities=["NET_ADMIN"])
    run = env.maoctl("tool", "run", "greedy", "-o", "json").json()
    check(run["status"] == "failed" and "NET_ADMIN" in run["reason"] and
          "allow_capabilities" in run["reason"], "a capability the site does not allow", run)
    check_eq(run["failure"], "tool", "is the tool's failure, not retried")

    check_eq(host_state(worker.importdir), before, "the host's folders are untouched")
    check_eq(host_state("/etc/passwd"), passwd, "and so is the host's /etc")
    worker.stop_clean()


def test_a_site_may_allow_capabilities(env):
    build_images()
    env.start_coordinator(env.etcd())
    env.start_worker(config={"WORKER": {"allow_capabilities": "chown, CAP_FOWNER"}})
    env.tool("owner", IMAGE, capabilities=["CHOWN"], writable_root=True,
             command=["sh", "-c", "touch /made-here && echo 5 > data/control-1.csv"])
    run = env.maoctl("tool", "run", "owner", "-o", "json").json()
    check_eq(run["status"], "succeeded", "an allowed capability and a writable root: " +
             str(run.get("reason")))
    status, body = env.http("POST", "/v1/tools", {
        "name": "bad", "author": "a", "image": IMAGE, "data_repo": "https://example.org/d.git",
        "code_repo": "", "artefact": "", "capabilities": ["ROOT_EVERYTHING"]})
    check(status == 400 and "not a Linux capability" in body["message"], "an unknown one", body)
    status, body = env.http("POST", "/v1/tools", {
        "name": "bad", "author": "a", "image": IMAGE, "data_repo": "https://example.org/d.git",
        "code_repo": "", "artefact": "", "resources": {"memory": "1k"}})
    check(status == 400 and "resources.memory" in body["message"], "a tiny memory", body)


if __name__ == "__main__":
    main(globals())
