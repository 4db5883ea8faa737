#!/bin/sh
# Installs, from Debian's packages, everything mao needs to build, to run its
# tests and to run a site: compilers, libraries, and the servers (etcd,
# dockerd, PostgreSQL, docker-registry).  Idempotent: packages already present
# are left alone, and apt is not touched when nothing is missing.
#
#   scripts/install-deps.sh           install what is missing
#   scripts/install-deps.sh --check   only list what is missing (exit 1 if any)
set -eu

PACKAGES="
  build-essential cmake pkg-config git ca-certificates
  libzmq3-dev libczmq-dev libmsgpack-dev libgit2-dev libmicrohttpd-dev
  libjansson-dev libinih-dev libcmocka-dev libcurl4-openssl-dev libpq-dev
  etcd-server etcd-client docker.io docker-registry docker-compose
  postgresql postgresql-client busybox-static tzdata debootstrap
  python3 python3-zmq python3-msgpack iproute2 procps curl
  clang libclang-rt-14-dev valgrind man-db groff-base
  bash-completion systemd openssl
"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ "${1:-}" = "--check" ]; then
  if [ -n "$missing" ]; then echo "missing:$missing"; exit 1; fi
  echo "all dependencies are installed"; exit 0
fi

if [ -z "$missing" ]; then
  echo "install-deps: all dependencies are installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: these packages are missing:$missing" >&2
    echo "install-deps: run this script as root (or install sudo) to install them" >&2
    exit 1
  fi
fi
echo "install-deps: installing$missing"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
