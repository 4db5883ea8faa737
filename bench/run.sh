#!/bin/sh
# End-to-end run benchmark: `maoctl tool run demo` against a raw
# `docker run --rm -v DIR:/usr/src/app/data mao-demo:latest` of the same image,
# interleaved, each timed as a whole command (process start included).
# Starts its own etcd, coordinator and worker on free loopback ports.
#
#   bench/run.sh [ROUNDS]      (default 15 of each)
set -eu
cd "$(dirname "$0")/.."
rounds=${1:-15}
cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" >/dev/null
compose/demo/build.sh >/dev/null
tmp=$(mktemp -d /tmp/mao-bench-run-XXXXXX)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
EC=$(port); EP=$(port); AP=$(port); WP=$(port); VP=$(port)
etcd --name bench --data-dir "$tmp/etcd" --listen-client-urls "http://127.0.0.1:$EC" \
  --advertise-client-urls "http://127.0.0.1:$EC" --listen-peer-urls "http://127.0.0.1:$EP" \
  --initial-advertise-peer-urls "http://127.0.0.1:$EP" --initial-cluster "bench=http://127.0.0.1:$EP" \
  --log-level error >"$tmp/etcd.log" 2>&1 &
pids="$pids $!"
git -c init.defaultBranch=main init -q "$tmp/work" && echo data >"$tmp/work/README" &&
  git -C "$tmp/work" add README && git -C "$tmp/work" -c user.name=b -c user.email=b@b commit -qm d &&
  git clone -q --bare "$tmp/work" "$tmp/repo.git"
cat >"$tmp/mao.conf" <<CONF
[WORKING_ENVIRONMENT]
importdir = $tmp/data
allow_local_repos = true
[ETCD]
endpoints = http://127.0.0.1:$EC
prefix = /bench/
[COORDINATOR]
api = 127.0.0.1:$AP
workers = tcp://127.0.0.1:$WP
events = tcp://127.0.0.1:$VP
[WORKER]
coordinator = tcp://127.0.0.1:$WP
spool = $tmp/spool
[LOG]
level = warn
CONF
until curl -fsS "http://127.0.0.1:$EC/health" >/dev/null 2>&1; do sleep 0.1; done
build/bin/mao-coordinator -c "$tmp/mao.conf" >"$tmp/coordinator.log" 2>&1 &
pids="$pids $!"
build/bin/mao-worker -c "$tmp/mao.conf" >"$tmp/worker.log" 2>&1 &
pids="$pids $!"
export MAO_SERVER="http://127.0.0.1:$AP"
until build/bin/maoctl worker get 2>/dev/null | grep -q " up "; do sleep 0.1; done
build/bin/maoctl tool add demo bench mao-demo:latest "$tmp/repo.git" c csv >/dev/null
mkdir -p "$tmp/raw"
# Warm both paths once (the first mao run clones the dataset).
build/bin/maoctl tool run demo >/dev/null 2>&1
docker run --rm -v "$tmp/raw:/usr/src/app/data" mao-demo:latest >/dev/null
python3 - "$rounds" "$tmp" <<'PY'
import statistics, subprocess, sys, time
rounds, tmp = int(sys.argv[1]), sys.argv[2]
mao, raw = [], []
for _ in range(rounds):
    t = time.perf_counter()
    subprocess.run(["build/bin/maoctl", "tool", "run", "demo"], check=True, capture_output=True)
    mao.append(time.perf_counter() - t)
    t = time.perf_counter()
    subprocess.run(["docker", "run", "--rm", "-v", f"{tmp}/raw:/usr/src/app/data",
                    "mao-demo:latest"], check=True, capture_output=True)
    raw.append(time.perf_counter() - t)
m, r = statistics.median(mao), statistics.median(raw)
print(f"rounds: {rounds} of each, interleaved")
print(f"maoctl tool run demo      median {m*1000:7.1f} ms  min {min(mao)*1000:7.1f}  max {max(mao)*1000:7.1f}")
print(f"docker run --rm -v ...    median {r*1000:7.1f} ms  min {min(raw)*1000:7.1f}  max {max(raw)*1000:7.1f}")
print(f"ratio mao / raw docker: {m/r:.2f}")
PY
