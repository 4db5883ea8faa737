#!/bin/sh
# Makes sure a Docker daemon answers on /var/run/docker.sock: uses the one that
# runs, else starts Debian's dockerd (without iptables rules) in the
# background, logging to /var/log/mao-dockerd.log.  Idempotent.
set -eu
SOCK=/var/run/docker.sock
ping_docker() { curl -fsS --max-time 2 --unix-socket "$SOCK" http://docker/_ping >/dev/null 2>&1; }

if ping_docker; then exit 0; fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v dockerd >/dev/null 2>&1; then
  echo "ensure-dockerd: dockerd is not installed (Debian package docker.io)" >&2
  exit 1
fi
echo "ensure-dockerd: starting dockerd"
$SUDO sh -c 'setsid dockerd --iptables=false >>/var/log/mao-dockerd.log 2>&1 < /dev/null &'
i=0
while ! ping_docker; do
  i=$((i + 1))
  if [ $i -gt 120 ]; then
    echo "ensure-dockerd: dockerd did not answer within 60 s; see /var/log/mao-dockerd.log" >&2
    exit 1
  fi
  sleep 0.5
done
