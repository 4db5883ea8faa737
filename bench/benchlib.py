"""What the Python benchmarks share: the integration harness (its servers on
free loopback ports, build/bin by default), and small measuring helpers."""

import json
import os
import sys
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
