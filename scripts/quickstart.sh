#!/bin/sh
# A working single-site mao on this machine, in one command: etcd, the
# coordinator, one worker (and dockerd when none runs), the demo tool built
# offline and run until the spike detector has a verdict.
#
#   scripts/quickstart.sh          install what is missing, build, start the site, run the demo
#   scripts/quickstart.sh stop     stop everything this script started
#   scripts/quickstart.sh status   show what runs
#
# All state lives under one folder, $MAO_HOME (default: .mao in the checkout):
# the config, etcd's data, the datasets, the logs and the process ids.
# Running it again reuses what is there.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
MAO_HOME=${MAO_HOME:-$ROOT/.mao}
BIN=$ROOT/build/bin
ETCD_PORT=${MAO_ETCD_CLIENT_PORT:-12379}
ETCD_PEER_PORT=${MAO_ETCD_PEER_PORT:-12380}
API=${MAO_API:-127.0.0.1:8080}
WORKERS=${MAO_WORKERS_ENDPOINT:-tcp://127.0.0.1:5570}
EVENTS=${MAO_EVENTS_ENDPOINT:-tcp://127.0.0.1:5571}
export MAO_SERVER="http://$API"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_one() {
  name=$1; pidfile=$MAO_HOME/run/$name.pid
  if pid_alive "$pidfile"; then
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$pid" 2>/dev/null || true
    echo "stopped $name (pid $pid)"
  fi
  rm -f "$pidfile"
}

cmd_stop() {
  for name in worker coordinator etcd; do stop_one "$name"; done
}

cmd_status() {
  for name in etcd coordinator worker; do
    if pid_alive "$MAO_HOME/run/$name.pid"; then
      echo "$name: running (pid $(cat "$MAO_HOME/run/$name.pid"))"
    else
      echo "$name: stopped"
    fi
  done
}

# Starts a daemon in the background with its own log and pid file, unless it runs.
start_bg() {
  name=$1; shift
  pidfile=$MAO_HOME/run/$name.pid
  if pid_alive "$pidfile"; then echo "$name already runs (pid $(cat "$pidfile"))"; return; fi
  setsid "$@" >>"$MAO_HOME/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

wait_http() {
  what=$1; url=$2; i=0
  until curl -fsS --max-time 2 "$url" >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 150 ] || die "$what did not come up; see $MAO_HOME/logs/"
    sleep 0.2
  done
}

cmd_start() {
  say "Installing what is missing"
  scripts/install-deps.sh
  say "Building"
  cmake -S . -B build >/dev/null
  cmake --build build -j"$(nproc)" >/dev/null
  mkdir -p "$MAO_HOME/etcd" "$MAO_HOME/data" "$MAO_HOME/logs" "$MAO_HOME/run" "$MAO_HOME/repos" \
    "$MAO_HOME/spool"

  conf=$MAO_HOME/mao.conf
  if [ ! -f "$conf" ]; then
    cat >"$conf" <<CONF
; mao single-site configuration written by scripts/quickstart.sh
[WORKING_ENVIRONMENT]
importdir = $MAO_HOME/data
allow_local_repos = true

[ETCD]
endpoints = http://127.0.0.1:$ETCD_PORT
prefix = /mao/

[COORDINATOR]
api = $API
workers = $WORKERS
events = $EVENTS

[WORKER]
coordinator = $WORKERS
site = local
spool = $MAO_HOME/spool
CONF
  fi
  export MAO_CONFIG=$conf

  say "Starting etcd on 127.0.0.1:$ETCD_PORT"
  start_bg etcd etcd --name quickstart --data-dir "$MAO_HOME/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "quickstart=http://127.0.0.1:$ETCD_PEER_PORT"
  wait_http etcd "http://127.0.0.1:$ETCD_PORT/health"

  say "Starting the coordinator on $API"
  if ! pid_alive "$MAO_HOME/run/coordinator.pid" && curl -fsS --max-time 1 "$MAO_SERVER/healthz" >/dev/null 2>&1; then
    die "something else already answers on $API; set MAO_API=127.0.0.1:<port> and run again"
  fi
  start_bg coordinator "$BIN/mao-coordinator" -c "$conf"
  wait_http coordinator "$MAO_SERVER/healthz"

  say "Making sure Docker runs, and building the demo tool offline"
  scripts/ensure-dockerd.sh
  compose/demo/build.sh

  say "Starting a worker for site 'local'"
  start_bg worker "$BIN/mao-worker" -c "$conf"
  i=0
  until "$BIN/maoctl" worker get 2>/dev/null | grep -q " up "; do
    i=$((i + 1))
    [ $i -lt 150 ] || die "the worker did not connect; see $MAO_HOME/logs/worker.log"
    sleep 0.2
  done

  say "Registering the demo tool and its dataset"
  repo=$MAO_HOME/repos/demo-data.git
  if [ ! -d "$repo" ]; then
    work=$(mktemp -d)
    git -c init.defaultBranch=main init -q "$work"
    printf '# demo dataset\nData collected by the demo tool.\n' >"$work/README.md"
    git -C "$work" add README.md
    git -C "$work" -c user.name=mao -c user.email=mao@localhost commit -q -m "demo dataset"
    git clone -q --bare "$work" "$repo"
    rm -rf "$work"
  fi
  "$BIN/maoctl" tool get demo >/dev/null 2>&1 ||
    "$BIN/maoctl" tool add demo "mao quickstart" mao-demo:latest "$repo" \
      https://example.org/mao-demo.git csv --description "writes one control value per run"
  "$BIN/maoctl" dataset get demo-data >/dev/null 2>&1 ||
    "$BIN/maoctl" dataset add demo-data "$repo"
  "$BIN/maoctl" tool get

  say "Running the demo until the spike detector has a verdict"
  i=0
  while :; do
    i=$((i + 1))
    "$BIN/maoctl" tool run demo >"$MAO_HOME/run/last-report" || {
      cat "$MAO_HOME/run/last-report"; die "the demo run failed; see $MAO_HOME/logs/worker.log"; }
    grep -q "not enough data" "$MAO_HOME/run/last-report" && [ $i -lt 5 ] || break
    grep Verdict "$MAO_HOME/run/last-report"
  done
  echo
  cat "$MAO_HOME/run/last-report"

  say "Scheduling the demo: daily, from now"
  "$BIN/maoctl" -o json schedule get --tool demo 2>/dev/null | grep -q '"id"' ||
    "$BIN/maoctl" tool schedule demo daily
  "$BIN/maoctl" schedule get --tool demo
  cat <<NEXT

mao runs: etcd, the coordinator and a worker, with all state under $MAO_HOME.

Try next (maoctl is $BIN/maoctl):
  export MAO_SERVER=$MAO_SERVER MAO_CONFIG=$conf
  $BIN/maoctl tool run demo                  # once more: a new control value
  $BIN/maoctl run list                       # what ran, with control values
  $BIN/maoctl tool history demo              # its control values, spikes marked
  $BIN/maoctl why demo                       # when it ran, when it runs next
  $BIN/maoctl tool schedule demo --every 1m  # more often (then: maoctl schedule get)
  $BIN/maoctl worker get
  $BIN/maoctl watch                          # live events; run the demo in another terminal
  $BIN/maoctl tool add jumpy you mao-demo:jump $repo https://example.org/c.git csv
  $BIN/maoctl tool run jumpy                 # three times: the third spikes
  $BIN/maoctl spike $MAO_HOME/data/demo      # the detector, locally

Stop it all:   scripts/quickstart.sh stop
Logs:          $MAO_HOME/logs/
NEXT
}

case "${1:-start}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command '$1' (use start, stop or status)" ;;
esac
