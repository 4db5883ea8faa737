#!/bin/sh
# Builds mao's libFuzzer targets (fuzz/) with clang in build-fuzz/ and runs
# each one for a bounded time, one after the other: first every input in
# fuzz/regressions/<target>/ once (inputs that once broke it), then fuzzing
# from a temporary copy of fuzz/corpus/<target>/, so the repository's corpus
# is never written to.  Exits 1 when any target crashes, leaks, times out,
# breaks one of its properties or trips a sanitizer; the input that did it
# is kept in build-fuzz/artifacts/<target>/ and its path is printed.
#
#   scripts/fuzz.sh                  every target, 60 s each (what CI runs)
#   scripts/fuzz.sh 300 sched tool   the targets named, 300 s each
#
# docs/development.md, "Fuzzing", tells how to reproduce a crash, add a
# target and merge new inputs into the corpus.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=$ROOT/build-fuzz

seconds=60
case "${1:-}" in
  '' | *[!0-9]*) ;;
  *) seconds=$1; shift ;;
esac
targets=$*
if [ -z "$targets" ]; then
  for src in fuzz/fuzz_*.c; do
    name=${src#fuzz/fuzz_}
    targets="$targets ${name%.c}"
  done
fi

# The longest input each target is given: enough to cross every limit its
# parser checks, short enough to keep the runs fast.
max_len() {
  case "$1" in
    msg | tool) echo 16384 ;; # containers of 4096 entries, fields of 4096 bytes
    cfg) echo 8192 ;;
    spike) echo 4096 ;;
    sched) echo 1024 ;; # schedules are at most 512 bytes
    *) echo 512 ;;
  esac
}

scripts/install-deps.sh
# Warnings are the gcc builds' business (clang does not know all of their
# -W options), so -DMAO_WERROR stays off here.
cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DMAO_FUZZ=ON -DMAO_TESTS=OFF -DMAO_WERROR=OFF \
  >/dev/null
cmake --build "$BUILD" --target fuzz -j"$(nproc)"

work=$(mktemp -d "${TMPDIR:-/tmp}/mao-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
export UBSAN_OPTIONS=print_stacktrace=1
export LSAN_OPTIONS="suppressions=$ROOT/tests/sanitizer/lsan.supp:print_suppressions=0"

failed=""
for t in $targets; do
  bin=$BUILD/fuzz/fuzz_$t
  if [ ! -x "$bin" ]; then
    echo "fuzz: no target '$t' (fuzz/fuzz_$t.c)" >&2
    exit 2
  fi
  artifacts=$BUILD/artifacts/$t
  mkdir -p "$artifacts" "$work/$t"
  dict=""
  [ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
  log=$work/$t.log

  if [ -n "$(ls "fuzz/regressions/$t" 2>/dev/null)" ]; then
    echo "fuzz: $t: replaying fuzz/regressions/$t/"
    if ! "$bin" -timeout=10 -rss_limit_mb=2048 "fuzz/regressions/$t"/* >"$log" 2>&1; then
      tail -n 40 "$log"
      echo "fuzz: $t: FAILED on an input of fuzz/regressions/$t/ (see above)" >&2
      failed="$failed $t"
      continue
    fi
  fi

  echo "fuzz: $t: $seconds s from fuzz/corpus/$t/ (max_len $(max_len "$t"))"
  cp -R "fuzz/corpus/$t/." "$work/$t/"
  # shellcheck disable=SC2086
  if "$bin" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 $dict -artifact_prefix="$artifacts/" \
      "$work/$t" >"$log" 2>&1; then
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log"
  else
    tail -n 60 "$log"
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "fuzz: $t: FAILED; the input: ${input:-(none written, see the log above)}" >&2
    [ -n "$input" ] && echo "fuzz: $t: reproduce with: $bin $input" >&2
    failed="$failed $t"
  fi
done

if [ -n "$failed" ]; then
  echo "fuzz: FAILED:$failed" >&2
  exit 1
fi
echo "fuzz: all passed:$targets"
