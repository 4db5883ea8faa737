#!/usr/bin/python3
"""Schedule benchmark: many schedules, about `rate` of them due each second.

For each store (etcd, and PostgreSQL when asked), on its own servers on free
loopback ports:
  1. registers `tools` tools whose command is `true` (workers run them with
     runtime = exec, so the figures are the orchestration's, not Docker's);
  2. creates `count` schedules through the API, `every PERIOD` with `start`
     spread so that count / PERIOD of them are due each second;
  3. restarts the coordinator and measures the reload: from the process's
     start to its log line "state.loaded", and to its API answering;
  4. lets the schedules fire for `window` seconds and reads the coordinator's
     "run.dispatched ... late_ms=" lines: the time from a slot's planned
     instant to its job message leaving the coordinator;
  5. reads the coordinator's memory (VmRSS, VmHWM) after the load and after
     the window.

    bench/schedules.py [--count N] [--rate R] [--window S] [--store etcd|pg|both]
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from benchlib import create_schedules, harness, mem_kb, pct  # noqa: E402


def make_schedules(url, tools, count, period, start, clients):
    """count schedules, schedule i due first at start + i % period; seconds."""
    _, pending, errors, took = create_schedules(url, tools, count, period, start, clients)
    if errors or pending:
        raise SystemExit(f"{len(errors) + pending} schedules not created (or not confirmed), "
                         f"e.g. {errors[:3]}")
    return took


def one_store(args, store):
    env = harness.TestEnv(f"bench-sched-{store}")
    failed = True
    try:
        etcd = env.etcd()
        config = {"LOG": {"level": "info"},
                  "COORDINATOR": {"heartbeat_ms": "1000", "liveness_ms": "10000"}}
        if store == "pg":
            config["POSTGRES"] = env.postgres().config()
        coord = env.start_coordinator(etcd, config=config)
        workers = [env.start_worker(capacity=args.capacity,
                                    config={"WORKER": {"runtime": "exec", "heartbeat_ms": "1000",
                                                       "liveness_ms": "10000"},
                                            "LOG": {"level": "warn"}})
                   for _ in range(args.workers)]
        repo = env.bare_repo("data")
        tools = [f"t{n:03d}" for n in range(args.tools)]
        for t in tools:
            env.tool(t, "none", data_repo=repo, command=["true"])

        period = max(1, args.count // args.rate)
        # Far enough ahead for the creation and the restart; measured below.
        start = int(time.time()) + args.lead
        took = make_schedules(coord.url, tools, args.count, period, start, args.clients)
        loaded = mem_kb(coord.pid)
        print(f"[{store}] created {args.count} schedules in {took:.1f} s "
              f"({args.count / took:.0f}/s, {args.clients} clients)", flush=True)

        # Restart after a crash (kill -9), the harsher case; same config.
        coord.kill()
        os.rename(coord.log_path, coord.log_path + ".1")
        t0 = time.monotonic()
        coord.start()
        api_up = time.monotonic() - t0
        harness.wait_for("state.loaded", lambda: "state.loaded" in coord.log(), timeout=120,
                         interval=0.01)
        reload_s = time.monotonic() - t0
        m = re.search(r"state.loaded schedules=(\d+)", coord.log())
        after_load = mem_kb(coord.pid)
        print(f"[{store}] reload after kill -9: {m.group(1)} schedules loaded {reload_s:.2f} s "
              f"after exec (API answering after {api_up:.2f} s); RSS "
              f"{after_load['VmRSS'] / 1024:.1f} MB (the first process after creating them: "
              f"{loaded['VmRSS'] / 1024:.1f} MB)", flush=True)
        for w in workers:
            w.wait_up(timeout=60)

        if time.time() > start:
            print(f"[{store}] warning: the window began {time.time() - start:.0f} s before the "
                  "restart ended; raise --lead", flush=True)
        # Skip the first seconds (the catch-up of anything due during the restart).
        w0, w1 = start + 5, start + 5 + args.window
        time.sleep(max(0, w1 - time.time() + 3))
        late, dispatched = [], 0
        for line in coord.log().splitlines():
            if "run.dispatched" not in line or "late_ms=" not in line:
                continue
            at = iso_s(line.split()[0])
            if w0 <= at < w1:
                dispatched += 1
                late.append(int(line.rsplit("late_ms=", 1)[1].split()[0]))
        end = mem_kb(coord.pid)
        skipped = coord.log().count("dispatch: slot.skipped")
        if not late:
            raise SystemExit(f"[{store}] nothing dispatched in the window")
        print(f"[{store}] window {args.window} s: {dispatched} runs dispatched "
              f"({dispatched / args.window:.0f}/s; expected {args.count / period:.0f}/s); "
              f"lateness p50 {statistics.median(late):.0f} ms, p99 {pct(late, 99):.0f} ms, "
              f"max {max(late)} ms; RSS {end['VmRSS'] / 1024:.1f} MB, peak "
              f"{end['VmHWM'] / 1024:.1f} MB; skipped slots {skipped}", flush=True)
        failed = False
        return {"store": store, "create_s": took, "reload_s": reload_s, "api_s": api_up,
                "rss_mb": after_load["VmRSS"] / 1024, "rss_end_mb": end["VmRSS"] / 1024,
                "hwm_mb": end["VmHWM"] / 1024, "p50": statistics.median(late),
                "p99": pct(late, 99), "max": max(late), "dispatched": dispatched}
    finally:
        env.close(failed)


def iso_s(text):
    """Seconds since 1970 of the log's UTC timestamps, 2026-11-21T23:36:37.289Z."""
    base = time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    import calendar
    return calendar.timegm(base) + int(text[20:23]) / 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=100000)
    ap.add_argument("--rate", type=int, default=100, help="schedules due each second")
    ap.add_argument("--tools", type=int, default=100)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--capacity", type=int, default=64)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--window", type=int, default=60, help="seconds of firing measured")
    ap.add_argument("--lead", type=int, default=None,
                    help="seconds from the start until the first schedules are due "
                         "(default: 30 + count / 1000)")
    ap.add_argument("--store", choices=["etcd", "pg", "both"], default="both")
    args = ap.parse_args()
    if args.lead is None:
        args.lead = 30 + args.count // 1000
    subprocess.run(["cmake", "--build", os.path.join(HERE, "..", "build"), "-j2"], check=True,
                   stdout=subprocess.DEVNULL)
    cores = os.cpu_count()
    print(f"machine: {cores} cores, {os.uname().release}; {args.count} schedules on "
          f"{args.tools} tools, {args.rate} due per second, {args.workers} exec workers x "
          f"{args.capacity}", flush=True)
    results = [one_store(args, s) for s in (["etcd", "pg"] if args.store == "both"
                                            else [args.store])]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
