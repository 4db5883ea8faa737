#!/bin/sh
# Registry benchmark: starts its own etcd and coordinator on free loopback
# ports (data in a temporary folder on the same disk as /tmp), runs
# bench_registry against them side by side with bare etcd puts, stops them.
#
#   bench/registry.sh [--count N] [--clients N] [--runs N]
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" --target mao-coordinator maoctl bench_registry >/dev/null

tmp=$(mktemp -d /tmp/mao-bench-XXXXXX)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

EC=$(port); EP=$(port); AP=$(port)
etcd --name bench --data-dir "$tmp/etcd" --listen-client-urls "http://127.0.0.1:$EC" \
  --advertise-client-urls "http://127.0.0.1:$EC" --listen-peer-urls "http://127.0.0.1:$EP" \
  --initial-advertise-peer-urls "http://127.0.0.1:$EP" --initial-cluster "bench=http://127.0.0.1:$EP" \
  --log-level error >"$tmp/etcd.log" 2>&1 &
pids="$pids $!"
cat >"$tmp/mao.conf" <<CONF
[ETCD]
endpoints = http://127.0.0.1:$EC
prefix = /bench/
[COORDINATOR]
api = 127.0.0.1:$AP
[LOG]
level = warn
CONF
until curl -fsS "http://127.0.0.1:$EC/health" >/dev/null 2>&1; do sleep 0.1; done
build/bin/mao-coordinator -c "$tmp/mao.conf" >"$tmp/coordinator.log" 2>&1 &
pids="$pids $!"
until curl -fsS "http://127.0.0.1:$AP/healthz" >/dev/null 2>&1; do sleep 0.1; done

echo "machine: $(nproc) cores, $(uname -r), etcd $(etcd --version | head -1 | awk '{print $3}'), data in $tmp"
build/bench/bench_registry --etcd "http://127.0.0.1:$EC" --api "http://127.0.0.1:$AP" \
  --prefix /bench/ --maoctl build/bin/maoctl "$@"
