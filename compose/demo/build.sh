#!/bin/sh
# Builds the demo tool's images offline from Debian's busybox-static:
#   mao-demo:latest  a steady control metric
#   mao-demo:jump    the same, its value three times larger from the third run on
# Images that exist are left alone unless --force is given.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
force=0
[ "${1:-}" = "--force" ] && force=1
busybox=${MAO_BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "build.sh: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/Dockerfile" "$here/demo.sh" "$tmp/"
cp "$busybox" "$tmp/busybox"
chmod 755 "$tmp/demo.sh"
for variant in latest:1 jump:3; do
    tag=mao-demo:${variant%%:*}
    if [ "$force" -eq 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
        continue
    fi
    echo "build.sh: building $tag"
    DOCKER_BUILDKIT=0 docker build -q --build-arg "JUMP=${variant##*:}" -t "$tag" "$tmp" >"$tmp/log" 2>&1 ||
        { cat "$tmp/log" >&2; exit 1; }
done
