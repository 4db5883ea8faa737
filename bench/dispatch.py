#!/usr/bin/python3
"""Dispatch benchmark: runs per second through the coordinator, and latency.

One etcd, one coordinator and `workers` workers with `runtime = exec` (tools
run as local commands, no Docker), capacity `capacity` each, on free loopback
ports; `tools` tools whose command is a no-op: bench/noop.c, built static
without the C library (`--command noop`, the default), or any other command,
such as `--command true` (/bin/true spends 0.6 to 0.8 ms of CPU per start in
the dynamic loader and the C library, the no-op about 0.1). Each worker would
clone a tool's dataset on its first run of it: the clones are made once
before the first trial and copied (hard links) into every worker's importdir,
and a warm-up of runs goes through the workers; neither is measured.
Heartbeats and liveness are mao's defaults (1 s and 10 s) on both sides:
with the test harness's 2 s liveness the coordinator marks every worker down
under overload, and its 200 ms heartbeats cost 100 workers 1,000 messages a
second before any run (`--heartbeat-ms 200` to see them).

For each offered rate R (runs per second) and each repeat, a trial:
  1. from scratch: the coordinator and the workers stopped, a fresh etcd, the
     workers' spools emptied (results of the last trial that no coordinator
     will take), the coordinator (same ports) and the workers started again,
     the tools registered again; `[COORDINATOR] history` large enough that
     every run of the trial stays in etcd until it is counted;
  2. the load:
     - schedules (the main mode): R x PERIOD schedules `every PERIOD s`, with
       `start` spread so that R of them are due each second (as
       bench/schedules.py does); the fire is the slot, so a second's R slots
       are all due at its first instant; with `--jitter S`, every schedule
       has `jitter_s` S, each tool's slots come at its own instant within
       S seconds (to the millisecond), and the fire is the record's
       `planned_at`;
     - http: `clients` threads POST /v1/tools/<tool>/runs `{}`, paced to R
       per second in all, each over one kept-alive connection (a request
       answers once the run is in etcd, so the clients may send fewer:
       "fired/s"); the fire is the moment the request is sent;
  3. measured over a window of `window` seconds, after `skip` seconds of
     firing left out:
     - recorded/s: final run records in etcd (read back through etcd's JSON
       gateway, `<prefix>runs/<tool>/`, in pages at one revision, `drain`
       seconds after the window) with `finished_at` inside the window,
       divided by the window;
     - fire -> start, p50 and p99: the record's `started_at` (ISO 8601, the
       coordinator's clock when the worker's `accepted` came in) minus the
       fire (the slot, or `planned_at` with a jitter; or the send), over the window's
       slots (requests) that have a record;
     - fire -> dispatch, p50 and p99: the `late_ms=` of the coordinator's
       `run.dispatched` lines (http: the line's time minus the send);
     - slots of the window `skipped`, `missed`, or without a record yet;
     - CPU over the window, in percent of one core, of the coordinator (and
       its threads), etcd, the workers, the workers' children (the command), this
       script, the rest of the machine and the whole machine, also per run
       recorded; etcd's own counters (ranges, transactions, puts, deletes,
       WAL fsyncs per second); the coordinator's RSS; all from /proc;
     - the largest queue and store backlog seen (the coordinator's /metrics,
       every 0.5 s), and workers marked down (`worker.down` in its log).
Each configuration runs `repeat` times, interleaved; the table gives the
medians, with ratios against the target (2,000 runs recorded per second, p99
fire -> start under 20 ms) and the scale anchor (Nomad's published 1,000,000
containers in under 5 minutes on 5,000 hosts, about 3,750 per second).

    bench/dispatch.py [--rates 500,1000,2000,3000] [--mode schedules|http|both]
                      [--workers 100] [--capacity 4] [--tools 100] [--window 20]
                      [--repeat 3] [--jitter 0] [--coordinator-nice 0] [--run-nice 0]
                      [--service-groups] [--no-build] [--json]

MAO_BIN chooses the binaries (default build/bin, built first unless
--no-build). The default invocation takes about 10 minutes on 2 cores.
"""

import argparse
import base64
import calendar
import http.client
import json
import math
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from benchlib import create_schedules, harness, mem_kb, pct, post  # noqa: E402

TARGET_RATE = 2000      # runs recorded per second
TARGET_P99_MS = 20      # fire -> start
NOMAD_RATE = 3750      # runs per second: the scale anchor as the project states it
TICK = os.sysconf("SC_CLK_TCK")


# ---- small helpers -------------------------------------------------------------------


def iso_ms(text):
    """Milliseconds since 1970 of mao's UTC times, 2026-11-22T01:53:39.289Z."""
    base = calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    return base * 1000 + int(text[20:23])


def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


# ---- etcd's JSON gateway ---------------------------------------------------------------


def etcd_call(endpoint, path, body, timeout=60):
    req = urllib.request.Request(endpoint + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


def etcd_values(endpoint, prefix, page=1000, max_pages=100000):
    """Every value under `prefix` (parsed JSON), in pages of `page` keys, all
    read at the revision of the first page; the next page starts after the
    last key read."""
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    body = {"key": b64(prefix), "range_end": b64(end), "limit": page}
    out = []
    for _ in range(max_pages):
        reply = etcd_call(endpoint, "/v3/kv/range", body)
        if "revision" not in body:
            body["revision"] = reply["header"]["revision"]
        kvs = reply.get("kvs") or []
        for kv in kvs:
            out.append(json.loads(base64.b64decode(kv.get("value", ""))))
        if not reply.get("more") or not kvs:
            return out
        body["key"] = b64(base64.b64decode(kvs[-1]["key"]) + b"\0")
    raise SystemExit(f"more than {max_pages} pages under {prefix}")


# ---- /proc -----------------------------------------------------------------------------


def proc_ticks(pid):
    """(own CPU, reaped children's CPU) of a process, in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0, 0
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def thread_ticks(pid):
    """{tid: (name, ticks)} of a process's threads."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rpartition(")")[2].split()
        out[int(tid)] = (name, int(fields[11]) + int(fields[12]))
    return out


def machine_ticks():
    """(busy, all) clock ticks of every CPU since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    total = sum(v[:8])
    return total - idle, total


class CpuSample:
    def __init__(self, coord, etcd, workers):
        self.t = time.monotonic()
        self.pid = coord.pid
        self.coord = proc_ticks(coord.pid)[0]
        self.threads = thread_ticks(coord.pid)
        self.etcd = proc_ticks(etcd.pid)[0]
        own = children = 0
        for w in workers:
            o, c = proc_ticks(w.pid)
            own += o
            children += c
        self.workers, self.children = own, children
        t = os.times()
        self.me = t.user + t.system
        self.machine = machine_ticks()
        self.etcd_metrics = etcd_metrics(etcd.endpoint)


ETCD_COUNTERS = ("etcd_mvcc_range_total", "etcd_mvcc_txn_total", "etcd_mvcc_put_total",
                 "etcd_mvcc_delete_total", "etcd_disk_wal_fsync_duration_seconds_count")


def etcd_metrics(endpoint):
    """etcd's own counters: ranges, transactions, puts, deletes, WAL fsyncs."""
    out = {}
    try:
        with urllib.request.urlopen(endpoint + "/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                name, _, value = line.partition(" ")
                if name in ETCD_COUNTERS:
                    out[name] = float(value)
    except Exception:  # noqa: BLE001
        pass
    return out


def cpu_between(a, b):
    """Percent of one core over the interval, per part."""
    s = b.t - a.t

    def p(ticks):
        return round(100.0 * ticks / TICK / s, 1)

    threads = []
    for tid, (name, ticks) in b.threads.items():
        before = a.threads.get(tid, (name, 0))[1]
        threads.append({"tid": tid, "name": "reactor" if tid == b.pid else name,
                        "cpu": p(ticks - before)})
    threads.sort(key=lambda x: -x["cpu"])
    busy = b.machine[0] - a.machine[0]
    total = b.machine[1] - a.machine[1]
    out = {"coordinator": p(b.coord - a.coord), "etcd": p(b.etcd - a.etcd),
           "workers": p(b.workers - a.workers), "children": p(b.children - a.children),
           "bench": round(100.0 * (b.me - a.me) / s, 1),
           "machine": round(100.0 * busy / total * os.cpu_count(), 1) if total else 0,
           "coordinator_threads": threads[:6]}
    # Whatever else ran on the machine meanwhile (kernel threads included).
    out["other"] = round(out["machine"] - sum(out[k] for k in ("coordinator", "etcd", "workers",
                                                                "children", "bench")), 1)
    out["etcd_per_s"] = {k.replace("etcd_mvcc_", "").replace("etcd_disk_wal_fsync_duration_"
                                                             "seconds_count", "wal_fsync"):
                         round((b.etcd_metrics.get(k, 0) - a.etcd_metrics.get(k, 0)) / s)
                         for k in ETCD_COUNTERS}
    return out


class MetricsWatch(threading.Thread):
    """Reads the coordinator's /metrics every 0.5 s; keeps the largest queue,
    store backlog and workers down seen."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url = url
        self.stop_at = threading.Event()
        self.peak = {"queued": 0, "running": 0, "store_pending": 0, "workers_down": 0}

    def run(self):
        keys = {'mao_runs{status="queued"}': "queued", 'mao_runs{status="running"}': "running",
                "mao_store_pending": "store_pending", 'mao_workers{state="down"}': "workers_down"}
        for _ in range(100000):
            if self.stop_at.wait(0.5):
                return
            try:
                with urllib.request.urlopen(self.url + "/metrics", timeout=5) as r:
                    text = r.read().decode()
            except Exception:  # noqa: BLE001 - a slow answer is a gap, not a failure
                continue
            for line in text.splitlines():
                name, _, value = line.rpartition(" ")
                if name in keys:
                    self.peak[keys[name]] = max(self.peak[keys[name]], int(float(value)))


# ---- the benchmark ---------------------------------------------------------------------


class ServiceGroups:
    """--service-groups: etcd, the coordinator and the workers (with the
    commands they start) each in a CPU control group of its own, as compose
    runs its services (and systemd, once a unit sets a CPU weight), the
    coordinator with ten times the default weight (compose's cpu_shares
    10240, a systemd unit's CPUWeight=1000).
    Per-thread nice values (--coordinator-nice) weigh the coordinator's
    threads one by one against every thread of the workers; a group weighs
    the coordinator as a whole against the workers as a whole.  cgroup v2
    (cpu.weight) or v1's cpu hierarchy (cpu.shares); needs root."""

    NAMES = ("coordinator", "etcd", "workers")

    def __init__(self, coordinator_weight=1000):
        v2 = "/sys/fs/cgroup"
        v1 = "/sys/fs/cgroup/cpu"
        self.dirs = {}
        try:
            if os.path.exists(f"{v2}/cgroup.controllers") and \
                    "cpu" in open(f"{v2}/cgroup.controllers").read().split():
                base, knob, scale = v2, "cpu.weight", 1.0
                if "cpu" not in open(f"{v2}/cgroup.subtree_control").read().split():
                    # Left on at the end: other groups may have come to use it.
                    with open(f"{v2}/cgroup.subtree_control", "w") as f:
                        f.write("+cpu")
            elif os.path.exists(f"{v1}/cpu.shares"):
                base, knob, scale = v1, "cpu.shares", 1024 / 100
            else:
                raise SystemExit("--service-groups: this machine has no cpu controller under "
                                 "/sys/fs/cgroup (cgroup v2's cpu, or v1's cpu hierarchy)")
            for name in self.NAMES:
                d = os.path.join(base, f"mao-bench-{os.getpid()}-{name}")
                os.makedirs(d, exist_ok=True)
                self.dirs[name] = d
                weight = coordinator_weight if name == "coordinator" else 100
                with open(os.path.join(d, knob), "w") as f:
                    f.write(str(int(weight * scale)))
        except OSError as e:
            self.close()
            raise SystemExit(f"--service-groups: cannot make the CPU groups ({e}); it needs "
                             "root and a writable /sys/fs/cgroup")

    def place(self, name, pid):
        """Moves process `pid` (every thread of it) into group `name`."""
        with open(os.path.join(self.dirs[name], "cgroup.procs"), "w") as f:
            f.write(str(pid))

    def close(self):
        for d in self.dirs.values():
            try:
                os.rmdir(d)
            except OSError:
                pass  # a process of ours still in it: left for the system to reap


class Bench:
    def __init__(self, args):
        self.args = args
        self.env = harness.TestEnv("bench-dispatch")
        self.tools = [f"t{n:03d}" for n in range(args.tools)]
        self.etcd = None
        self.coord = None
        self.workers = []
        self.trial_no = 0
        self.log_offset = 0
        self.groups = ServiceGroups() if args.service_groups else None

    # ---- setup --------------------------------------------------------------
    def coordinator_config(self):
        return {"LOG": {"level": "info"},
                "COORDINATOR": {"keep_finished": str(self.args.keep_finished),
                                "history": str(self.args.history or 200),
                                "heartbeat_ms": str(self.args.heartbeat_ms),
                                "liveness_ms": str(self.args.liveness_ms)}}

    def prioritise_coordinator(self):
        """--coordinator-nice: the coordinator's threads at that nice value
        against the workers and their runs on one machine, as the packaged
        systemd unit's Nice=-10 places them."""
        if not self.args.coordinator_nice:
            return
        for tid in os.listdir(f"/proc/{self.coord.pid}/task"):
            try:
                os.setpriority(os.PRIO_PROCESS, int(tid), self.args.coordinator_nice)
            except ProcessLookupError:
                pass  # a short-lived thread (a start-up helper) already gone

    def place(self):
        """--service-groups: every process in its service's group."""
        if not self.groups:
            return
        self.groups.place("etcd", self.etcd.pid)
        self.groups.place("coordinator", self.coord.pid)
        for w in self.workers:
            self.groups.place("workers", w.pid)

    def start(self):
        a, env = self.args, self.env
        self.etcd = env.etcd("etcd-0")
        self.coord = env.start_coordinator(self.etcd, config=self.coordinator_config())
        self.prioritise_coordinator()
        self.repo = env.bare_repo("data")
        self.command = self.build_command()
        self.register_tools()
        # Each worker would clone each tool's dataset on its first run of it;
        # the clones are made before, once, and copied (not measured).
        # Hard links: nothing writes into a dataset of the no-op.
        template = os.path.join(env.dir, "dataset-template")
        harness.run(["git", "clone", "-q", "--template=", self.repo,
                     os.path.join(template, self.tools[0])])
        for t in self.tools[1:]:
            harness.run(["cp", "-al", os.path.join(template, self.tools[0]),
                         os.path.join(template, t)])
        t0 = time.monotonic()
        wcfg = {"WORKER": {"runtime": "exec", "heartbeat_ms": str(a.heartbeat_ms),
                           "liveness_ms": str(a.liveness_ms), "run_nice": str(a.run_nice)},
                "LOG": {"level": "warn"}}
        for _ in range(a.workers):
            w = harness.Worker(env, self.coord, capacity=a.capacity, config=wcfg)
            harness.run(["cp", "-al", template, w.importdir])
            w.start(wait_up=False)
            self.workers.append(w)
        self.place()
        self.wait_workers_up()
        print(f"datasets copied and {a.workers} workers up in {time.monotonic() - t0:.1f} s",
              flush=True)
        self.warm_up()

    def build_command(self):
        """The tools' command: the no-op built here, or what --command says."""
        if self.args.command != "noop":
            return shlex.split(self.args.command)
        out = os.path.join(self.env.dir, "noop")
        flags = ["-static", "-nostdlib"] if os.uname().machine in ("x86_64", "aarch64") \
            else ["-static"]
        harness.run([os.environ.get("CC", "cc"), "-O2", *flags, "-o", out,
                     os.path.join(HERE, "noop.c")])
        return [out]

    def register_tools(self):
        for t in self.tools:
            status, body = self.env.http("POST", "/v1/tools", {
                "name": t, "author": "bench", "image": "none", "data_repo": self.repo,
                "code_repo": "https://example.org/code.git", "artefact": "bench",
                "command": self.command})
            if status != 201:
                raise SystemExit(f"registering {t}: {status} {body}")

    def wait_workers_up(self, timeout=120):
        def up():
            for w in self.workers:
                if not w.running():
                    raise AssertionError(f"{w.name} exited:\n{w.log()[-2000:]}")
            status, ws = self.env.http("GET", "/v1/workers")
            return status == 200 and sum(x["state"] == "up" for x in ws) == len(self.workers)
        harness.wait_for("every worker to be up", up, timeout=timeout, interval=0.2)

    def warm_up(self):
        """Runs through every worker (the placement takes the least loaded):
        a few per worker slot, by HTTP, then waits for them to end."""
        a = self.args
        n = a.workers * a.capacity * 2
        ids = []
        lock = threading.Lock()
        counter = iter(range(n))

        def client():
            for i in counter:
                status, body = post(f"{self.coord.url}/v1/tools/{self.tools[i % len(self.tools)]}"
                                    "/runs", {})
                with lock:
                    ids.append(body["id"])

        t0 = time.monotonic()
        threads = [threading.Thread(target=client) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        def ended():
            m = self.metrics()
            return m.get('mao_runs{status="queued"}', 1) == 0 and \
                m.get('mao_runs{status="running"}', 1) == 0
        harness.wait_for("the warm-up runs to end", ended, timeout=120, interval=0.2)
        print(f"warm-up: {n} runs in {time.monotonic() - t0:.1f} s", flush=True)

    def metrics(self):
        with urllib.request.urlopen(self.coord.url + "/metrics", timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def fresh_store(self, history):
        """Every trial from scratch: the coordinator and the workers stopped,
        a new etcd, the workers' spools emptied (results of the last trial that
        no coordinator will take any more), then the coordinator (same ports)
        and the workers started again; the workers keep their dataset clones.
        The tools are registered again."""
        self.trial_no += 1
        t0 = time.monotonic()
        self.coord.stop(timeout=60)
        for w in self.workers:
            if w.running():
                os.kill(w.pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        for w in self.workers:
            try:
                w.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.kill()
        self.etcd.kill()
        shutil.rmtree(self.etcd.data, ignore_errors=True)
        for w in self.workers:
            shutil.rmtree(w.spool, ignore_errors=True)
        self.etcd = self.env.etcd(f"etcd-{self.trial_no}")
        self.coord.cfg["ETCD"]["endpoints"] = self.etcd.endpoint
        self.coord.cfg["COORDINATOR"]["history"] = str(history)
        harness.write_config(self.coord.config_path, self.coord.cfg)
        self.log_offset = os.path.getsize(self.coord.log_path)
        self.coord.start()
        self.prioritise_coordinator()
        self.register_tools()
        for w in self.workers:
            w.start(wait_up=False)
        self.place()
        self.wait_workers_up()
        return time.monotonic() - t0

    # ---- load -----------------------------------------------------------------
    def create_schedules(self, rate, period, start):
        count = rate * period
        ids, pending, errors, _ = create_schedules(self.coord.url, self.tools, count, period,
                                                   start, self.args.clients, self.args.jitter)
        if errors:
            raise RuntimeError(f"{len(errors)} schedules not created, e.g. {errors[:3]}")
        if pending:
            print(f"note: {pending} of {count} schedules were answered 202 (the store took "
                  "more than 5 s to confirm them)", flush=True)
        return ids

    def http_load(self, rate, t_begin, t_end, sent):
        """`clients` threads, each with one kept-alive connection, POST runs
        at `rate` per second in all from t_begin to t_end (wall clock);
        sent[id] = the send time in ms."""
        k = self.args.clients
        host, port = self.coord.url.split("//")[1].split(":")
        errors = []
        lock = threading.Lock()

        def client(j):
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            n = 0
            while n < 10_000_000:
                due = t_begin + (n * k + j) / rate
                if due >= t_end:
                    break
                delay = due - time.time()
                if delay > 0:
                    time.sleep(delay)
                tool = self.tools[(n * k + j) % len(self.tools)]
                at = time.time()
                try:
                    conn.request("POST", f"/v1/tools/{tool}/runs", body=b"{}",
                                 headers={"Content-Type": "application/json"})
                    r = conn.getresponse()
                    body = json.loads(r.read())
                    if r.status not in (201, 202):
                        errors.append(r.status)
                    else:
                        with lock:
                            sent[body["id"]] = at * 1000
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e))
                    conn.close()
                    conn = http.client.HTTPConnection(host, int(port), timeout=30)
                n += 1
            conn.close()

        threads = [threading.Thread(target=client, args=(j,), daemon=True) for j in range(k)]
        for t in threads:
            t.start()
        return threads, errors

    # ---- one trial ------------------------------------------------------------
    def trial(self, mode, rate):
        a = self.args
        t_trial = time.monotonic()
        period = a.period
        # Far enough ahead for the creation of the schedules (measured as it goes).
        # Twice the time making them should take: the first made fire meanwhile.
        lead = max(3, math.ceil(2 * rate * period / a.create_rate) + 2) if mode == "schedules" else 1
        # Every run of the trial stays in etcd until it is counted.
        history = a.history or max(200, math.ceil(
            1.5 * rate * (lead + a.skip + a.window + a.drain + 10) / len(self.tools)))
        restart_s = self.fresh_store(history)
        sent = {}
        if mode == "schedules":
            start = int(time.time()) + lead
            t0 = time.monotonic()
            sched_ids = self.create_schedules(rate, period, start)
            took = time.monotonic() - t0
            a.create_rate = max(200, min(5000, rate * period / took))
            first = max(start, math.ceil(time.time()))
            w0 = first + a.skip
        else:
            w0 = math.ceil(time.time()) + 1 + a.skip
            load_threads, load_errors = self.http_load(rate, w0 - a.skip, w0 + a.window + a.drain,
                                                       sent)
        w1 = w0 + a.window
        time.sleep(max(0, w0 - time.time()))
        watch = MetricsWatch(self.coord.url)
        watch.start()
        c0 = CpuSample(self.coord, self.etcd, self.workers)
        time.sleep(max(0, w1 - time.time()))
        c1 = CpuSample(self.coord, self.etcd, self.workers)
        mem = mem_kb(self.coord.pid)
        time.sleep(max(0, w1 + a.drain - time.time()))
        watch.stop_at.set()
        watch.join(timeout=10)
        # The records as etcd holds them `drain` s after the window.
        records = []
        for t in self.tools:
            records += etcd_values(self.etcd.endpoint, f"{self.env.prefix}runs/{t}/")
        if mode == "http":
            for t in load_threads:
                t.join(timeout=60)
        log = self.coord_log()
        res = self.figures(mode, rate, w0, w1, records, log, sent, c0, c1, mem, watch.peak,
                           sched_ids if mode == "schedules" else None,
                           load_errors if mode == "http" else [])
        res["trial_s"] = time.monotonic() - t_trial
        res["history"] = history
        res["restart_s"] = restart_s
        return res

    def coord_log(self):
        with open(self.coord.log_path, "rb") as f:
            f.seek(self.log_offset)
            return f.read().decode("utf-8", "replace")

    def figures(self, mode, rate, w0, w1, records, log, sent, c0, c1, mem, peak, sched_ids,
                errors):
        a = self.args
        w0ms, w1ms = w0 * 1000, w1 * 1000
        ran = ("succeeded", "failed", "timed_out")
        recorded = 0
        fire_start, fire_of = [], {}
        status = {}
        per_tool = {}
        for r in records:
            per_tool[r["tool"]] = per_tool.get(r["tool"], 0) + 1
            if mode == "schedules":
                if r.get("schedule") not in sched_ids:
                    continue
                fire = iso_ms(r["planned_at"]) if r.get("planned_at") else \
                    r["slot"] * 1000 if r.get("slot") else None
            else:
                fire = sent.get(r["id"])
                if fire is None:
                    continue
            if r["status"] in ran and r.get("finished_at") and \
                    w0ms <= iso_ms(r["finished_at"]) < w1ms:
                recorded += 1
            if fire is None or not (w0ms <= fire < w1ms):
                continue
            status[r["status"]] = status.get(r["status"], 0) + 1
            fire_of[r["id"]] = fire
            if r["status"] in ran and r.get("started_at"):
                fire_start.append(iso_ms(r["started_at"]) - fire)
        fired = rate * a.window if mode == "schedules" else \
            sum(1 for v in sent.values() if w0ms <= v < w1ms)
        dispatch = []
        pat = re.compile(r"^(\S+) .*?run\.dispatched run=(\S+) .*?(?:late_ms=(-?\d+))?$")
        for line in log.splitlines():
            if "run.dispatched" not in line:
                continue
            m = pat.match(line)
            if not m or m.group(2) not in fire_of:
                continue
            if mode == "schedules" and m.group(3) is not None:
                dispatch.append(int(m.group(3)))
            elif mode == "http":
                dispatch.append(iso_ms(m.group(1)) - fire_of[m.group(2)])
        cpu = cpu_between(c0, c1)
        res = {
            "mode": mode, "offered": rate, "window_s": a.window, "jitter_s": a.jitter,
            "coordinator_nice": a.coordinator_nice, "run_nice": a.run_nice,
            "service_groups": a.service_groups,
            "recorded_per_s": recorded / a.window,
            "fired": fired, "fired_per_s": fired / a.window,
            "start_p50_ms": pct(fire_start, 50), "start_p99_ms": pct(fire_start, 99),
            "start_max_ms": max(fire_start) if fire_start else None,
            "dispatch_p50_ms": pct(dispatch, 50), "dispatch_p99_ms": pct(dispatch, 99),
            "skipped": status.get("skipped", 0), "missed": status.get("missed", 0),
            "failed": status.get("failed", 0) + status.get("timed_out", 0),
            "unrecorded": max(0, fired - sum(status.values())),
            "workers_down": log.count("worker.down"),
            "requeued": log.count("run.requeued"), "refused": log.count("job.refused"),
            "unanswered": log.count("job.unanswered"),
            "peak_queued": peak["queued"], "peak_store_pending": peak["store_pending"],
            "rss_mb": round(mem["VmRSS"] / 1024, 1), "hwm_mb": round(mem["VmHWM"] / 1024, 1),
            "cpu": cpu, "http_errors": len(errors),
            "most_records_per_tool": max(per_tool.values()) if per_tool else 0,
        }
        if res["most_records_per_tool"] >= int(self.coord.cfg["COORDINATOR"]["history"]):
            print(f"warning: a tool holds {res['most_records_per_tool']} records, the history "
                  "kept: records may have been pruned; raise --history", flush=True)
        # CPU per run recorded, in ms, for each part.
        res["cpu_ms_per_run"] = {k: round(cpu[k] * 10 / recorded * a.window, 3)
                                 if recorded else None
                                 for k in ("coordinator", "etcd", "workers", "children", "bench",
                                           "other", "machine")}
        return res

    def close(self, failed):
        self.env.close(failed)
        if self.groups:
            self.groups.close()


# ---- report -------------------------------------------------------------------------------


def med(results, key):
    vals = [r[key] for r in results if r[key] is not None]
    return statistics.median(vals) if vals else None


def fmt(v, unit="", nd=0):
    if v is None:
        return "-"
    return f"{v:,.{nd}f}{unit}"


def summary(results, repeat):
    rows = []
    by = {}
    for r in results:
        by.setdefault((r["mode"], r["offered"]), []).append(r)
    for (mode, rate), rs in by.items():
        row = {"mode": mode, "offered": rate, "runs": len(rs)}
        for k in ("fired_per_s", "recorded_per_s", "start_p50_ms", "start_p99_ms",
                  "dispatch_p50_ms", "dispatch_p99_ms", "skipped", "missed", "unrecorded", "failed",
                  "workers_down", "peak_queued", "peak_store_pending", "rss_mb"):
            row[k] = med(rs, k)
        for k in ("coordinator", "etcd", "workers", "children", "bench", "other", "machine"):
            row["cpu_" + k] = statistics.median(r["cpu"][k] for r in rs)
        for k in rs[0]["cpu_ms_per_run"]:
            vals = [r["cpu_ms_per_run"][k] for r in rs if r["cpu_ms_per_run"][k] is not None]
            row["cpu_ms_per_run_" + k] = statistics.median(vals) if vals else None
        for k in rs[0]["cpu"]["etcd_per_s"]:
            row["etcd_" + k + "_per_s"] = statistics.median(r["cpu"]["etcd_per_s"][k] for r in rs)
        row["recorded_vs_target"] = row["recorded_per_s"] / TARGET_RATE
        row["recorded_vs_nomad"] = row["recorded_per_s"] / NOMAD_RATE
        row["p99_vs_target"] = (row["start_p99_ms"] / TARGET_P99_MS
                                if row["start_p99_ms"] is not None else None)
        rows.append(row)
    return rows


def print_table(rows, repeat):
    print(f"\nmedians of up to {repeat} trials each; target {TARGET_RATE:,} recorded/s and p99 "
          f"fire->start < {TARGET_P99_MS} ms; Nomad's anchor {NOMAD_RATE:,}/s")
    head = ("mode", "trials", "offered/s", "fired/s", "recorded/s", "x target", "x Nomad", "start p50", "p99",
            "x 20ms", "dispatch p50", "p99", "skipped", "unrec.", "down", "max queue",
            "max store", "CPU coord", "etcd", "workers", "command", "bench", "other", "machine",
            "RSS")
    print(" | ".join(head))
    for r in rows:
        print(" | ".join([
            r["mode"], fmt(r["runs"]), fmt(r["offered"]), fmt(r["fired_per_s"]), fmt(r["recorded_per_s"]),
            fmt(r["recorded_vs_target"], nd=2), fmt(r["recorded_vs_nomad"], nd=2),
            fmt(r["start_p50_ms"], " ms"), fmt(r["start_p99_ms"], " ms"),
            fmt(r["p99_vs_target"], nd=2),
            fmt(r["dispatch_p50_ms"], " ms"), fmt(r["dispatch_p99_ms"], " ms"),
            fmt(r["skipped"]), fmt(r["unrecorded"]), fmt(r["workers_down"]),
            fmt(r["peak_queued"]), fmt(r["peak_store_pending"]),
            fmt(r["cpu_coordinator"], "%"), fmt(r["cpu_etcd"], "%"), fmt(r["cpu_workers"], "%"),
            fmt(r["cpu_children"], "%"), fmt(r["cpu_bench"], "%"), fmt(r["cpu_other"], "%"),
            fmt(r["cpu_machine"], "%"),
            fmt(r["rss_mb"], " MB", 1)]), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="500,1000,2000,3000",
                    help="offered runs per second, comma-separated")
    ap.add_argument("--mode", choices=["schedules", "http", "both"], default="schedules")
    ap.add_argument("--workers", type=int, default=100)
    ap.add_argument("--capacity", type=int, default=4)
    ap.add_argument("--tools", type=int, default=100)
    ap.add_argument("--window", type=int, default=20, help="seconds measured per trial")
    ap.add_argument("--skip", type=int, default=3,
                    help="seconds of firing left out before the window")
    ap.add_argument("--drain", type=int, default=3,
                    help="seconds after the window before the records are read")
    ap.add_argument("--period", type=int, default=5,
                    help="the schedules' interval (rate x period schedules)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--coordinator-nice", type=int, default=0,
                    help="the coordinator's nice value (-10: the packaged systemd unit's "
                         "Nice=-10; needs root)")
    ap.add_argument("--service-groups", action="store_true",
                    help="etcd, the coordinator and the workers each in a CPU control group "
                         "of its own, as compose runs them, the coordinator with ten times "
                         "the default weight (needs root)")
    ap.add_argument("--run-nice", type=int, default=0,
                    help="[WORKER] run_nice: the workers' run threads and the commands they "
                         "start that much below the workers' own priority (0 to 19)")
    ap.add_argument("--jitter", type=int, default=0,
                    help="schedules: jitter_s of every schedule (1: each tool's slots fire at "
                         "their own instant within the second)")
    ap.add_argument("--clients", type=int, default=16, help="HTTP client threads")
    ap.add_argument("--history", type=int, default=0,
                    help="[COORDINATOR] history (default: 1.5 times the most runs a tool can "
                         "get in the trial, at least 200)")
    ap.add_argument("--keep-finished", type=int, default=10000,
                    help="[COORDINATOR] keep_finished")
    ap.add_argument("--liveness-ms", type=int, default=10000,
                    help="[COORDINATOR] and [WORKER] liveness_ms (the harness's 2000 lets the "
                         "coordinator mark every worker down under overload; 10000 is mao's "
                         "default)")
    ap.add_argument("--command", default="noop",
                    help="the tools' command: noop (bench/noop.c, built static) or a command "
                         "line such as true")
    ap.add_argument("--heartbeat-ms", type=int, default=1000,
                    help="[COORDINATOR] and [WORKER] heartbeat_ms (1000, mao's default; the "
                         "test harness uses 200)")
    ap.add_argument("--no-build", action="store_true", help="do not run cmake --build first")
    ap.add_argument("--json", action="store_true", help="print every trial as JSON at the end")
    args = ap.parse_args()
    rates = [int(x) for x in args.rates.split(",") if x.strip()]
    # A SIGTERM stops everything this script started, as the end does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    modes = ["schedules", "http"] if args.mode == "both" else [args.mode]
    args.create_rate = 1500.0  # schedules made per second, refined as trials go
    if not args.no_build:
        subprocess.run(["cmake", "--build", os.path.join(HERE, "..", "build"), "-j2"],
                       check=True, stdout=subprocess.DEVNULL)
    print(f"machine: {os.cpu_count()} cores, Linux {os.uname().release}; binaries "
          f"{os.environ['MAO_BIN']}; {args.workers} exec workers x {args.capacity}, "
          f"{args.tools} tools (command {args.command}); history {args.history or 'per trial'}, "
          f"keep_finished {args.keep_finished}; heartbeat {args.heartbeat_ms} ms, liveness {args.liveness_ms} "
          f"ms; window {args.window} s after {args.skip} s; repeat {args.repeat}; jitter "
          f"{args.jitter} s; coordinator nice {args.coordinator_nice}; run nice {args.run_nice}; "
          f"service groups {'yes' if args.service_groups else 'no'}",
          flush=True)
    b0, t0 = machine_ticks()
    time.sleep(2)
    b1, t1 = machine_ticks()
    print(f"machine busy before the start: {100.0 * (b1 - b0) / (t1 - t0) * os.cpu_count():.0f}% "
          "of one core", flush=True)
    bench = Bench(args)
    failed = True
    results = []
    t_all = time.monotonic()
    try:
        bench.start()
        for rep in range(args.repeat):
            for mode in modes:
                for rate in rates:
                    try:
                        r = bench.trial(mode, rate)
                    except Exception as e:  # noqa: BLE001 - one failed trial, the others stand
                        print(f"[{mode} {rate}/s #{rep + 1}] failed: {e!r}; the trial is left "
                              "out", flush=True)
                        continue
                    r["repeat"] = rep + 1
                    results.append(r)
                    print(f"[{mode} {rate}/s #{rep + 1}] recorded {r['recorded_per_s']:,.0f}/s; "
                          f"fire->start p50 {fmt(r['start_p50_ms'], ' ms')} p99 "
                          f"{fmt(r['start_p99_ms'], ' ms')}; fire->dispatch p50 "
                          f"{fmt(r['dispatch_p50_ms'], ' ms')} p99 "
                          f"{fmt(r['dispatch_p99_ms'], ' ms')}; skipped {r['skipped']}, "
                          f"missed {r['missed']}, unrecorded {r['unrecorded']}, failed "
                          f"{r['failed']}; workers down {r['workers_down']}; max queue "
                          f"{r['peak_queued']}, max store backlog {r['peak_store_pending']}; "
                          f"CPU coord {r['cpu']['coordinator']}% etcd {r['cpu']['etcd']}% "
                          f"workers {r['cpu']['workers']}% command {r['cpu']['children']}% "
                          f"bench {r['cpu']['bench']}% other {r['cpu']['other']}% machine "
                          f"{r['cpu']['machine']}%; RSS {r['rss_mb']} MB; etcd per s "
                          f"{r['cpu']['etcd_per_s']}; trial {r['trial_s']:.0f} s", flush=True)
        failed = False
    finally:
        bench.close(failed)
    rows = summary(results, args.repeat)
    print_table(rows, args.repeat)
    print(f"total {time.monotonic() - t_all:.0f} s")
    if args.json:
        print(json.dumps({"summary": rows, "trials": results}))


if __name__ == "__main__":
    main()
