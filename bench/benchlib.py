"""What the Python benchmarks share: the integration harness (its servers on
free loopback ports, build/bin by default), and small measuring helpers."""

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("MAO_BIN", os.path.join(HERE, "..", "build", "bin"))
os.environ.setdefault("MAO_SOURCE", os.path.join(HERE, ".."))

import harness  # noqa: E402,F401  (re-exported)


def mem_kb(pid):
    """VmRSS and VmHWM of a process, in kB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def post(url, body, timeout=60):
    """POSTs JSON; returns (status, parsed answer)."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.load(r)


def pct(values, p):
    """The p-th percentile (nearest rank) of values; None when there are none."""
    values = sorted(values)
    if not values:
        return None
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def create_schedules(url, tools, count, period, start, clients, jitter=0):
    """count schedules `every period s` over `clients` threads, schedule i of
    tool i // period (round robin) due first at start + i % period, with
    `jitter_s` = jitter (each tool's fires then come at their own instant
    within the second, or the jitter's seconds).  Returns
    (ids, answered 202, errors, seconds); 202 means made but not yet
    confirmed by the store within 5 s."""
    next_i = [0]
    lock = threading.Lock()
    errors, ids, pending = [], set(), [0]

    def client():
        while True:
            with lock:
                i = next_i[0]
                if i >= count:
                    return
                next_i[0] += 1
            tool = tools[(i // period) % len(tools)]
            body = {"every": f"{period}s", "start": start + i % period}
            if jitter:
                body["jitter_s"] = jitter
            try:
                status, rec = post(f"{url}/v1/tools/{tool}/schedules", body)
                if status not in (201, 202):
                    errors.append(status)
                    continue
                with lock:
                    ids.add(rec["id"])
                    pending[0] += status == 202
            except urllib.error.HTTPError as e:
                errors.append(f"{e.code}: {e.read().decode(errors='replace')[:200]}")
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids, pending[0], errors, time.monotonic() - t0
