#!/bin/sh
# Builds the Debian base image the compose images are made from, without
# Docker Hub: debootstrap fetches Debian's packages from an apt mirror, and the
# resulting tree is imported with `docker import`.
#
#   compose/base/build.sh            build mao-build-base:bookworm unless it exists
#   compose/base/build.sh --force    build it again
#
# The image holds the tools and -dev packages that build mao, and the Debian
# packages whose files the runtime images are assembled from (etcd, PostgreSQL,
# busybox, tzdata, CA certificates): see compose/Dockerfile.  Nothing runs on
# it; the runtime images are FROM scratch.
#
# Environment:
#   MAO_BASE_IMAGE     the tag (default mao-build-base:bookworm)
#   MAO_DEBIAN_MIRROR  the apt mirror (default http://deb.debian.org/debian)
#   MAO_DEBOOTSTRAP_CACHE  a folder that keeps the downloaded .debs between builds
#
# The image carries a label with a digest of the package list: when the list
# below changes, the existing image is out of date and is built again.
set -eu

IMAGE=${MAO_BASE_IMAGE:-mao-build-base:bookworm}
MIRROR=${MAO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm

# What mao needs to build (as scripts/install-deps.sh, without the test tools) ...
BUILD_PACKAGES="build-essential cmake pkg-config git ca-certificates
  libzmq3-dev libczmq-dev libmsgpack-dev libgit2-dev libmicrohttpd-dev
  libjansson-dev libinih-dev libcurl4-openssl-dev libpq-dev"
# ... and what the runtime images copy files from.
RUNTIME_PACKAGES="busybox-static tzdata etcd-server etcd-client postgresql-15 util-linux"

force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "base/build.sh: unknown argument '$1'" >&2; exit 2 ;;
esac

# shellcheck disable=SC2086 # the lists are split into words on purpose
packages=$(echo $BUILD_PACKAGES $RUNTIME_PACKAGES | tr ' ' '\n' | sort -u | tr '\n' ',' | sed 's/,$//')
digest=$(printf '%s %s %s\n' "$SUITE" "$MIRROR" "$packages" | sha256sum | cut -c1-16)

if [ "$force" -eq 0 ] &&
   [ "$(docker image inspect -f '{{index .Config.Labels "mao.base.packages"}}' "$IMAGE" 2>/dev/null)" = "$digest" ]; then
  echo "base/build.sh: $IMAGE is up to date"
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "base/build.sh: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null 2>&1 ||
  { echo "base/build.sh: debootstrap is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }

tmp=$(mktemp -d /var/tmp/mao-base.XXXXXX)
root=$tmp/root
# debootstrap mounts /proc, /sys (and, inside a container, binds /dev) into the
# tree; an interrupted run can leave them mounted, so unmount before removing.
cleanup() {
  grep -o " $tmp/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cache_opt=""
if [ -n "${MAO_DEBOOTSTRAP_CACHE:-}" ]; then
  mkdir -p "$MAO_DEBOOTSTRAP_CACHE"
  cache_opt="--cache-dir=$(cd "$MAO_DEBOOTSTRAP_CACHE" && pwd)"
fi

echo "base/build.sh: debootstrap $SUITE from $MIRROR (a few minutes)"
# shellcheck disable=SC2086
if ! debootstrap --variant=minbase --include="$packages" $cache_opt \
    "$SUITE" "$root" "$MIRROR" >"$tmp/debootstrap.log" 2>&1; then
  tail -n 30 "$tmp/debootstrap.log" >&2
  [ -f "$root/debootstrap/debootstrap.log" ] && tail -n 30 "$root/debootstrap/debootstrap.log" >&2
  echo "base/build.sh: debootstrap failed" >&2
  exit 1
fi

# What an image needs not: package caches and lists, and the PostgreSQL
# cluster the package's scripts made (the postgres image makes its own).
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/var/lib/postgresql/15 "$root"/etc/postgresql/15 "$root"/debootstrap

old=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
echo "base/build.sh: importing as $IMAGE"
tar -C "$root" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf - . |
  docker import \
    --change "LABEL mao.base.packages=$digest" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    - "$IMAGE" >/dev/null
# The image this one replaces, unless images built on it still need it.
if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$IMAGE")" ]; then
  docker image rm "$old" >/dev/null 2>&1 ||
    echo "base/build.sh: the previous $IMAGE ($old) stays while images built on it exist"
fi
docker image ls "$IMAGE"
