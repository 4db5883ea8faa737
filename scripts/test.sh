#!/bin/sh
# Runs mao's whole test suite on this machine: installs what is missing,
# makes sure dockerd runs, builds, and runs every unit and integration test
# (each test starts its own etcd, PostgreSQL, registry, ... on free loopback
# ports and stops them).
#
#   scripts/test.sh               plain build in build/
#   MAO_SANITIZE=1 scripts/test.sh  AddressSanitizer + UBSan build in build-asan/
#   scripts/test.sh -R etcd       extra arguments go to ctest
set -eu
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/ensure-dockerd.sh

case "${MAO_SANITIZE:-0}" in
  1|on|ON|true|yes) dir=build-asan; opts="-DMAO_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug" ;;
  *) dir=build; opts="" ;;
esac
# shellcheck disable=SC2086
cmake -S . -B "$dir" -DMAO_WERROR=ON $opts >/dev/null
cmake --build "$dir" -j"$(nproc)"
cd "$dir"
ctest --output-on-failure -j2 --timeout 900 -LE compose "$@"
