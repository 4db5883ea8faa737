#!/bin/sh
# Spike-detector benchmark: folders of 1,000, 10,000 and 100,000 control
# files in a temporary folder, page cache warm, median of 21 runs each.
# Arguments go to spike_bench: [-d BASEDIR] [-r RUNS] [-k] [N ...].
set -eu
cd "$(dirname "$0")/.."
cmake -S . -B build >/dev/null && cmake --build build -j"$(nproc)" --target spike_bench >/dev/null
exec build/bench/spike_bench "$@"
