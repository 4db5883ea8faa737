#!/bin/sh
# Assembles the root file systems of mao's runtime images, in the build stage
# of compose/Dockerfile, from the binaries just built and the Debian packages
# of the base image.  Each image is FROM scratch and gets only what it runs:
# the files named below, every shared library those load (found with ldd, the
# loader included), the users and groups, and the few /etc files glibc reads.
#
#   rootfs.sh OUT       writes OUT/coordinator, OUT/worker, OUT/etcd,
#                       OUT/postgres, OUT/demo-setup and OUT/demo
#
# The layout is Debian's merged /usr (/bin, /lib, /lib64 and /sbin are links
# into /usr), so that paths baked into binaries (the loader, PostgreSQL's
# lib and share folders) hold.  Binaries are stripped; files keep their
# ownership, which the Dockerfile's COPY keeps too: state folders belong to
# the user of their image.
#
# Users (fixed ids, so that volumes keep their owners across upgrades):
#   mao 10001 (coordinator, worker)   etcd 10002   postgres 10003
set -eu

OUT=${1:?usage: rootfs.sh OUT}
BUILD=${MAO_BUILD_DIR:-/build}
HERE=$(cd "$(dirname "$0")" && pwd)
PG=/usr/lib/postgresql/15
ARCH=$(gcc -print-multiarch)

# skeleton DEST: the folders, links and /etc files every image has.
skeleton() {
  d=$1
  mkdir -p "$d/usr/bin" "$d/usr/sbin" "$d/usr/lib/$ARCH" "$d/usr/lib64" "$d/etc" "$d/run" \
    "$d/var/lib" "$d/root"
  ln -s usr/bin "$d/bin"
  ln -s usr/sbin "$d/sbin"
  ln -s usr/lib "$d/lib"
  ln -s usr/lib64 "$d/lib64"
  ln -s ../run "$d/var/run"
  mkdir -m 1777 "$d/tmp"
  chmod 700 "$d/root"
  cat >"$d/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/usr/sbin/nologin
mao:x:10001:10001:mao orchestrator:/var/lib/mao:/usr/sbin/nologin
etcd:x:10002:10002:etcd:/var/lib/etcd:/usr/sbin/nologin
postgres:x:10003:10003:PostgreSQL:/var/lib/postgresql:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
  cat >"$d/etc/group" <<'EOF'
root:x:0:
mao:x:10001:
etcd:x:10002:
postgres:x:10003:
nogroup:x:65534:
EOF
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nservices: files\n' \
    >"$d/etc/nsswitch.conf"
  cp /etc/services "$d/etc/services"
}

# libs DEST FILE...: the shared libraries FILE loads, at their canonical
# paths under DEST (symbolic links followed: one real file per soname).
libs() {
  d=$1
  shift
  for f in "$@"; do
    ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
  done | sort -u | while read -r lib; do
    dir=$(realpath "$(dirname "$lib")")
    name=$(basename "$lib")
    if [ ! -e "$d$dir/$name" ]; then
      mkdir -p "$d$dir"
      cp -L "$lib" "$d$dir/$name"
    fi
  done
}

# bin DEST FILE [PATH]: FILE at PATH (default: its own path), stripped, and its libraries.
bin() {
  d=$1 f=$2 p=${3:-$2}
  mkdir -p "$d$(dirname "$p")"
  strip --strip-unneeded -o "$d$p" "$f"
  chmod 755 "$d$p"
  libs "$d" "$f"
}

# busybox DEST: busybox, with a link for each applet that names no file yet,
# for entrypoints, healthchecks (wget, pidof) and looking around.
busybox() {
  d=$1
  cp /usr/bin/busybox "$d/usr/bin/busybox"
  for applet in $(/usr/bin/busybox --list); do
    [ -e "$d/usr/bin/$applet" ] || [ -L "$d/usr/bin/$applet" ] || ln -s busybox "$d/usr/bin/$applet"
  done
}

certs() {
  mkdir -p "$1/etc/ssl/certs" "$1/usr/lib/ssl"
  cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/"
  ln -s /etc/ssl/certs "$1/usr/lib/ssl/certs"
  ln -s /etc/ssl/certs/ca-certificates.crt "$1/usr/lib/ssl/cert.pem"
}

zoneinfo() {
  mkdir -p "$1/usr/share"
  cp -a /usr/share/zoneinfo "$1/usr/share/"
}

# ld.so.cache, so that the loader needs no search
ldcache() {
  ldconfig -r "$1" 2>/dev/null || true
}

rm -rf "$OUT"
mkdir -p "$OUT"

# --- the coordinator (and maoctl, for `docker-compose exec coordinator maoctl ...`)
d=$OUT/coordinator
skeleton "$d"
bin "$d" "$BUILD/bin/mao-coordinator" /usr/bin/mao-coordinator
bin "$d" "$BUILD/bin/maoctl" /usr/bin/maoctl
busybox "$d"
certs "$d"
zoneinfo "$d"
mkdir -p "$d/etc/mao/keys" "$d/var/lib/mao"
chown 10001:10001 "$d/var/lib/mao"
ldcache "$d"

# --- the worker: runs as root only in its entrypoint (see worker-entrypoint)
d=$OUT/worker
skeleton "$d"
bin "$d" "$BUILD/bin/mao-worker" /usr/bin/mao-worker
bin "$d" "$BUILD/bin/maoctl" /usr/bin/maoctl
bin "$d" /usr/bin/setpriv
busybox "$d"
certs "$d"
zoneinfo "$d"
mkdir -p "$d/usr/lib/mao" "$d/etc/mao/keys" "$d/var/lib/mao/spool" "$d/var/lib/mao/data" \
  "$d/srv/mao/repos"
install -m 755 "$HERE/worker-entrypoint" "$d/usr/lib/mao/worker-entrypoint"
install -m 755 "$HERE/worker-health" "$d/usr/lib/mao/worker-health"
chown -R 10001:10001 "$d/var/lib/mao"
ldcache "$d"

# --- etcd: Debian's etcd-server and etcd-client (Go, linked with libc only)
d=$OUT/etcd
skeleton "$d"
bin "$d" /usr/bin/etcd
bin "$d" /usr/bin/etcdctl
mkdir -m 700 "$d/var/lib/etcd"
chown 10002:10002 "$d/var/lib/etcd"
ldcache "$d"

# --- PostgreSQL 15: the server, initdb and the client tools an operator
# needs, the extension libraries (not the LLVM JIT: jit is off), the share
# folder and the time zones.
d=$OUT/postgres
skeleton "$d"
for b in postgres initdb pg_ctl pg_isready psql pg_dump pg_dumpall pg_restore pg_controldata \
  pg_resetwal pg_upgrade pg_basebackup; do
  bin "$d" "$PG/bin/$b"
done
mkdir -p "$d$PG/lib"
for so in "$PG"/lib/*.so; do
  case $(basename "$so") in llvmjit*) continue ;; esac
  cp "$so" "$d$PG/lib/"
  libs "$d" "$so"
done
# `locale -a` and C.UTF-8, which initdb and its collation import look for
bin "$d" /usr/bin/locale
mkdir -p "$d/usr/lib/locale"
cp -a /usr/lib/locale/C.utf8 "$d/usr/lib/locale/"
mkdir -p "$d/usr/share/postgresql"
cp -a /usr/share/postgresql/15 "$d/usr/share/postgresql/"
rm -rf "$d/usr/share/postgresql/15/man"
zoneinfo "$d"
busybox "$d"
mkdir -p "$d/usr/lib/mao" "$d/var/lib/postgresql/data" "$d/run/postgresql"
install -m 755 "$HERE/postgres-entrypoint" "$d/usr/lib/mao/postgres-entrypoint"
chmod 700 "$d/var/lib/postgresql/data"
chmod 2775 "$d/run/postgresql"
chown -R 10003:10003 "$d/var/lib/postgresql" "$d/run/postgresql"
ldcache "$d"

# --- the demo's one-shot setup: its dataset (a bare git repository) and the
# script that registers it; the image is the coordinator's plus these.
d=$OUT/demo-setup
mkdir -p "$d/usr/lib/mao" "$d/usr/share/mao/demo"
install -m 755 "$HERE/demo-setup" "$d/usr/lib/mao/demo-setup"
work=$(mktemp -d)
git -c init.defaultBranch=main init -q "$work"
printf '# demo dataset\nData collected by the demo tool.\n' >"$work/README.md"
git -C "$work" add README.md
GIT_AUTHOR_DATE=2024-01-01T00:00:00Z GIT_COMMITTER_DATE=2024-01-01T00:00:00Z \
  git -C "$work" -c user.name=mao -c user.email=mao@localhost commit -q -m "demo dataset"
git clone -q --bare "$work" "$d/usr/share/mao/demo/demo-data.git"
rm -rf "$work"
# the worker's user owns it: git refuses repositories of other owners
chown -R 10001:10001 "$d/usr/share/mao/demo/demo-data.git"

# --- the demo tool, as compose/demo/Dockerfile makes it (busybox-static and
# demo.sh, FROM scratch), here from the base image's busybox.
d=$OUT/demo
mkdir -p "$d/bin" "$d/usr/src/app"
cp /usr/bin/busybox "$d/bin/busybox"
for applet in $(/usr/bin/busybox --list); do
  [ -e "$d/bin/$applet" ] || ln -s /bin/busybox "$d/bin/$applet"
done
install -m 755 "$HERE/../demo/demo.sh" "$d/bin/mao-demo"
