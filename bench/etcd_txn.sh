#!/bin/sh
# What a transaction costs etcd and mao's client over gRPC and through the
# JSON gateway: starts its own etcd on free loopback ports (data in a
# temporary folder), runs bench_etcd_txn against it, stops it.
#
#   bench/etcd_txn.sh [--calls N] [--repeat R]
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" --target bench_etcd_txn >/dev/null

tmp=$(mktemp -d /tmp/mao-bench-XXXXXX)
pid=""
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

EC=$(port); EP=$(port)
etcd --name bench --data-dir "$tmp/etcd" --listen-client-urls "http://127.0.0.1:$EC" \
  --advertise-client-urls "http://127.0.0.1:$EC" --listen-peer-urls "http://127.0.0.1:$EP" \
  --initial-advertise-peer-urls "http://127.0.0.1:$EP" --initial-cluster "bench=http://127.0.0.1:$EP" \
  --log-level error >"$tmp/etcd.log" 2>&1 &
pid=$!
until curl -fsS "http://127.0.0.1:$EC/health" >/dev/null 2>&1; do sleep 0.1; done

echo "machine: $(nproc) cores, $(uname -r), etcd $(etcd --version | head -1 | awk '{print $3}'), $(curl -V | head -1 | cut -d' ' -f1-2)"
build/bench/bench_etcd_txn --etcd "http://127.0.0.1:$EC" --pid "$pid" "$@"
