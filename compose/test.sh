#!/bin/sh
# The compose stack, end to end, on this machine's dockerd and without a
# registry: builds the base image (debootstrap, once) and the images (from a
# snapshot of the tree), validates both compose files, brings the site up as
# its own project on ports Docker chooses, waits for every healthcheck, runs
# the demo three times through the coordinator and checks the verdicts, the
# run history in PostgreSQL and the files the tool wrote, then takes the
# project down with its volumes.
#
#   compose/test.sh            run it (as root: debootstrap, and the data folder)
#   compose/test.sh --keep     leave the stack up afterwards, to look around
#   compose/test.sh --rmi      also remove the images it built (tag :test)
#   cd build && ctest -L compose   the same, from CTest
#
# It removes only what it made: its project's containers, network and
# volumes (docker-compose -p mao-compose-test-PID down -v), its data folder,
# and tool containers whose data folder is under it.  Images stay (tag
# MAO_TAG=test, and the build stages as mao-compose-build:test) as the cache
# for the next run, unless --rmi; those of its previous build are removed.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
keep=0
rmi=0
for arg; do
  case $arg in
    --keep) keep=1 ;;
    --rmi) rmi=1 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compose/test.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

project=mao-compose-test-$$
work=$(mktemp -d /var/tmp/mao-compose-test.XXXXXX)
chmod 755 "$work"
log=$work/log

# The site's settings come from here only: not from the caller's MAO_*
# variables (except those of the base image's build) nor from a compose/.env.
for v in $(env | sed -n 's/^\(MAO_[A-Z0-9_]*\)=.*/\1/p'); do
  case $v in
    MAO_TEST_TAG | MAO_BASE_IMAGE | MAO_DEBIAN_MIRROR | MAO_DEBOOTSTRAP_CACHE) ;;
    *) unset "$v" ;;
  esac
done
: >"$work/env"

# A snapshot of the tree to build from: the images are built one service
# after another, and files that change meanwhile (others editing, a fuzzer's
# corpus) would make each build differ and leave its stages behind.  No
# build folders, no version control, no keys.
mkdir -p "$work/src" "$work/keys"
for f in "$root"/* "$root"/.[!.]*; do
  case ${f##*/} in build* | .git | .mao | fuzz) continue ;; esac
  cp -a "$f" "$work/src/"
done
rm -rf "$work/src/compose/keys" "$work/src/compose/.env"
here=$work/src/compose

export COMPOSE_PROJECT_NAME=$project
export MAO_TAG="${MAO_TEST_TAG:-test}"
export MAO_DEMO_IMAGE="mao-demo:compose-$MAO_TAG"
export MAO_DATA="$work/data"
export MAO_HEALTH_INTERVAL=2s
export MAO_POSTGRES_PASSWORD="pw $$ 'quoted'"
export MAO_KEYS_DIR="$work/keys"
# empty ports: Docker chooses free ones
export MAO_API_PORT='' MAO_WORKERS_PORT='' MAO_EVENTS_PORT='' MAO_ETCD_CLIENT_PORT='' MAO_ETCD_PEER_PORT=''
compose() {
  docker-compose --project-directory "$here" --env-file "$work/env" -f "$here/docker-compose.yml" "$@"
}

say() { printf 'compose/test: %s\n' "$*"; }
fail() {
  printf 'compose/test: FAILED: %s\n' "$*" >&2
  if [ -f "$log" ]; then tail -n 40 "$log" >&2; fi
  compose ps >&2 2>/dev/null || true
  compose logs --no-color --tail=40 >&2 2>/dev/null || true
  exit 1
}

cleanup() {
  rc=$?
  if [ "$keep" = 1 ]; then
    say "left up: COMPOSE_PROJECT_NAME=$project MAO_DATA=$MAO_DATA docker-compose -f $here/docker-compose.yml ..."
    say "take it down with: COMPOSE_PROJECT_NAME=$project docker-compose -f $here/docker-compose.yml down -v; rm -rf $work"
    exit $rc
  fi
  say "taking $project down"
  # Tool containers left by an interrupted run: only those bound to our data folder.
  for c in $(docker ps -aq --filter label=org.mao.run 2>/dev/null); do
    if docker inspect -f '{{range .Mounts}}{{.Source}}{{"\n"}}{{end}}' "$c" 2>/dev/null |
      grep -q "^$MAO_DATA/"; then
      docker rm -f "$c" >/dev/null 2>&1 || true
    fi
  done
  if [ "$rmi" = 1 ]; then
    compose down -v --remove-orphans --rmi all >>"$log" 2>&1 || true
    docker image rm "mao-compose-build:$MAO_TAG" >>"$log" 2>&1 || true
  else
    compose down -v --remove-orphans >>"$log" 2>&1 || true
  fi
  if ! rm -rf "$work" 2>/dev/null; then
    # not root here: the tool's files belong to uid 10001; the worker's image removes them
    docker run --rm -v "$work:$work" --entrypoint /usr/bin/rm "mao-worker:$MAO_TAG" -rf "$work/data" \
      >/dev/null 2>&1 || true
    rm -rf "$work" 2>/dev/null || true
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v docker-compose >/dev/null 2>&1 || fail "docker-compose is not installed (Debian package docker-compose)"
docker info >/dev/null 2>&1 || fail "dockerd does not answer (scripts/ensure-dockerd.sh starts one)"

say "validating the compose files"
compose config -q || fail "docker-compose.yml does not validate"
MAO_ETCD_NAME=site2 MAO_ETCD_ADVERTISE_CLIENT_URLS=http://site2.example.org:2379 \
  MAO_ETCD_ADVERTISE_PEER_URLS=http://site2.example.org:2380 \
  MAO_ETCD_INITIAL_CLUSTER=mao-etcd-1=http://site1.example.org:2380,site2=http://site2.example.org:2380 \
  MAO_COORDINATOR_WORKERS=tcp://site1.example.org:5570 MAO_SITE=site2 \
  docker-compose --project-directory "$here" --env-file "$work/env" -f "$here/docker-compose.join.yml" \
    config -q ||
  fail "docker-compose.join.yml does not validate"

say "building the base image (debootstrap, when it is missing or out of date)"
"$here/base/build.sh" >>"$log" 2>&1 || fail "compose/base/build.sh"

say "building the images (tag $MAO_TAG)"
# With the profile `build`, the build stages are tagged mao-compose-build:TAG
# (the builder leaves stages untagged, and would pile up one set per build),
# and the images of this test's previous build, untagged now, are removed.
ours="mao-compose-build mao-coordinator mao-worker mao-etcd mao-postgres mao-demo-setup"
old=$(for i in $ours; do docker image inspect -f '{{.Id}}' "$i:$MAO_TAG" 2>/dev/null || true; done
  docker image inspect -f '{{.Id}}' "$MAO_DEMO_IMAGE" 2>/dev/null || true)
compose --profile build build >>"$log" 2>&1 || fail "docker-compose build"
# What this build replaced: the images of the previous one, untagged now.
for id in $old; do
  if [ -z "$(docker image inspect -f '{{join .RepoTags ""}}' "$id" 2>/dev/null)" ]; then
    docker image rm "$id" >>"$log" 2>&1 || true
  fi
done
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' |
  grep -E "^mao-(coordinator|worker|etcd|postgres|demo-setup):$MAO_TAG |^$MAO_DEMO_IMAGE " |
  sed 's/^/compose\/test:   /'

say "bringing $project up"
compose up -d >>"$log" 2>&1 || fail "docker-compose up"

# Every long-running service healthy, the demo's setup done.
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$(compose ps -q "$1")" 2>/dev/null; }
i=0
while :; do
  waiting=""
  for s in etcd postgres coordinator worker; do
    [ "$(health "$s")" = healthy ] || waiting="$waiting $s"
  done
  setup=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$(compose ps -q demo)" 2>/dev/null || echo missing)
  [ "$setup" = "exited 0" ] || waiting="$waiting demo"
  case $setup in exited\ [1-9]*) fail "the demo's setup failed" ;; esac
  [ -n "$waiting" ] || break
  i=$((i + 1))
  [ $i -le 90 ] || fail "not healthy within 180 s:$waiting"
  sleep 2
done
say "healthy: etcd postgres coordinator worker; demo registered"

api=$(compose port coordinator 8080)
curl -fsS "http://$api/healthz" | grep -q '"status":"ok"' || fail "the API is not published at $api"
say "the API answers at http://$api"

run_demo() {
  n=$1 expect=$2
  compose exec -T coordinator maoctl tool run demo >"$work/run$n" 2>&1 ||
    { cat "$work/run$n" >&2; fail "maoctl tool run demo (run $n) failed"; }
  grep -q "^Status  *succeeded" "$work/run$n" || { cat "$work/run$n" >&2; fail "run $n did not succeed"; }
  verdict=$(sed -n 's/^Verdict  *//p' "$work/run$n")
  case $verdict in
    "$expect"*) say "run $n: $verdict" ;;
    *) cat "$work/run$n" >&2; fail "run $n: verdict '$verdict', expected '$expect'" ;;
  esac
}
run_demo 1 "not enough data"
run_demo 2 "not enough data"
run_demo 3 "no spike"

# What users see besides the reports: the history in PostgreSQL, and the
# files the tool wrote into the site's data folder, as the worker's user.
runs=$(compose exec -T postgres psql -d mao -tAc "select count(*) from mao_runs where tool = 'demo' and status = 'succeeded'" | tr -d '\r ')
[ "$runs" = 3 ] || fail "PostgreSQL holds $runs succeeded runs of demo, expected 3"
say "PostgreSQL holds the 3 runs"
controls=$(find "$MAO_DATA/demo" -maxdepth 1 -name 'control-*.csv' -user 10001 | wc -l)
[ "$controls" = 3 ] || fail "$MAO_DATA/demo holds $controls control files of the user mao, expected 3"
say "$MAO_DATA/demo holds 3 control files, owned by uid 10001"

say "passed"
