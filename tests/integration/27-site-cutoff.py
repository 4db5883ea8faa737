"""A site cut off from the coordinator by the network: its worker runs in a
network namespace made by the test, joined to the host by a veth pair, and
the test takes the link down while the worker runs a tool.  The worker keeps
running in isolation; the coordinator marks it down and moves the run to
another site, where it ends once.  When the link comes back the worker
returns, its own late result changes nothing, and it takes work again.
Tools run as local commands (runtime = exec)."""

import json
import os
import subprocess
import time

from harness import Worker, check, check_eq, free_port, main, wait_for

EXEC = {"WORKER": {"runtime": "exec"}}
HOST_IP, SITE_IP = "10.254.213.1", "10.254.213.2"


def ip(*argv, ns=None):
    p = subprocess.run((ns or []) + ["ip"] + list(argv), capture_output=True, text=True,
                       timeout=30)
    check(p.returncode == 0, f"ip {' '.join(argv)}: {p.stderr.strip()}")
    return p.stdout


class Site:
    """A network namespace joined to the host by a veth pair (a /30 of its own)."""

    def __init__(self):
        if os.geteuid() != 0:
            raise AssertionError("this test needs root to make a network namespace")
        self.holder = subprocess.Popen(["unshare", "--net", "sleep", "600"],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        self.ns = ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net"]
        self.link = f"maoh{os.getpid() % 100000}"
        self.peer = f"maos{os.getpid() % 100000}"
        try:
            self._join()
        except BaseException:
            self.close()
            raise

    def _join(self):
        wait_for("the namespace", lambda: os.readlink(f"/proc/{self.holder.pid}/ns/net") !=
                 os.readlink("/proc/self/ns/net"))
        ip("link", "add", self.link, "type", "veth", "peer", "name", self.peer)
        ip("link", "set", self.peer, "netns", str(self.holder.pid))
        ip("addr", "add", f"{HOST_IP}/30", "dev", self.link)
        ip("link", "set", self.link, "up")
        ip("link", "set", "lo", "up", ns=self.ns)
        ip("addr", "add", f"{SITE_IP}/30", "dev", self.peer, ns=self.ns)
        ip("link", "set", self.peer, "up", ns=self.ns)
        wait_for("the link to be up", lambda: "LOWER_UP" in ip(
            "-o", "link", "show", "dev", self.peer, ns=self.ns), timeout=30)

    def cut(self):
        ip("link", "set", self.link, "down")

    def mend(self):
        ip("link", "set", self.link, "up")

    def close(self):
        subprocess.run(["ip", "link", "del", self.link], capture_output=True)
        self.holder.kill()
        self.holder.wait()


def run_of(env, rid):
    status, run = env.http("GET", f"/v1/runs/{rid}")
    check_eq(status, 200, f"GET /v1/runs/{rid}")
    return run


def workers(env):
    return {w["id"]: w["state"] for w in env.http("GET", "/v1/workers")[1]}


def test_a_site_cut_off_mid_run(env):
    site = Site()
    env.closers.append(site.close)
    # The workers' socket on the host's end of the link, which only the
    # test's namespace reaches; plain, as a test on a private link may be.
    coord = env.start_coordinator(env.etcd(), config={"COORDINATOR": {
        "workers": f"tcp://{HOST_IP}:{free_port()}", "insecure": "true"}})
    remote = Worker(env, coord, site="remote", capacity=1, config=EXEC)
    remote.argv = site.ns + remote.argv
    remote.start()
    env.tool("slow", "none", command=["sh", "-c", "sleep 4; echo 7 > control-1.csv"])

    status, run = env.http("POST", "/v1/tools/slow/runs", {})
    check_eq(status, 201, "the run is queued")
    rid = run["id"]
    wait_for("the run to start at the remote site",
             lambda: run_of(env, rid)["status"] == "running")
    check_eq(run_of(env, rid)["site"], "remote", "it runs at the remote site")
    campus = env.start_worker(site="campus", capacity=1, config=EXEC)

    site.cut()
    cut = time.time()
    wait_for("the remote worker to be down", lambda: workers(env)[remote.id] == "down",
             timeout=30)
    end = wait_for("the run to end at the campus", lambda: run_of(env, rid) if run_of(
        env, rid)["status"] not in ("queued", "running") else None, timeout=60)
    check_eq(end["status"], "succeeded", "it ends: " + json.dumps(end))
    check_eq((end["site"], end["attempt"]), ("campus", 2), "as a second attempt elsewhere")
    check_eq([(a["worker"], a["status"]) for a in end["attempts"]], [(remote.id, "lost")],
             "the cut-off attempt is in its history")
    check(remote.running(), "the cut-off worker kept running")
    # Its own attempt ends in isolation; the result waits in its spool.
    time.sleep(max(0.0, cut + 5 - time.time()))

    site.mend()
    wait_for("the remote worker to be back", lambda: workers(env)[remote.id] == "up", timeout=30)
    time.sleep(2)  # its spooled result arrives meanwhile
    again = run_of(env, rid)
    check_eq((again["status"], again["site"], again["attempt"]), ("succeeded", "campus", 2),
             "its late result changes nothing")
    runs = env.http("GET", "/v1/runs?tool=slow")[1]
    check_eq([r["id"] for r in runs], [rid], "one run, one final result")
    stored = env.maoctl("tool", "history", "slow", "-o", "json")
    check(stored.rc == 0, "maoctl tool history", stored)

    # Back in the federation, the site takes work again.
    r = env.maoctl("tool", "run", "slow", "--site", "remote", "-o", "json")
    check(r.rc == 0, "a run at the remote site after the link came back", r)
    check_eq((r.json()["status"], r.json()["site"]), ("succeeded", "remote"), "it ran there")
    remote.stop_clean()
    campus.stop_clean()
    coord.stop_clean()


if __name__ == "__main__":
    main(globals())
