#!/usr/bin/env bash
# Runs the script fuzzer for a bounded time on a copy of its seed scripts.
#   run_script_fuzz.sh FUZZER SEED_DIR SECONDS
# Exits 77 (CTest: skipped) when the fuzzer was not built, except under CI=true (as run_fuzz.sh).
# A crashing, hanging or over-allocating input is kept as ./script-fuzz-crash-* (or -timeout-,
# -oom-) in the working folder.
set -euo pipefail
fuzzer=$1 seeds=$2 seconds=$3
if [ ! -x "$fuzzer" ]; then
  if [ "${CI:-}" = true ]; then
    echo "fuzz: $fuzzer was not built, and under CI=true it must run (scripts/setup.sh installs clang-14 and libclang-rt-14-dev)" >&2
    exit 1
  fi
  echo "fuzz: skipped: $fuzzer was not built (needs clang++ with libFuzzer; GOLFRT_FUZZ=ON)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
cp "$seeds"/*.lua "$work/corpus/"
# -timeout 20: each call into a script has a 2 s deadline, so an input running 20 s is a hang the
# deadline missed. -malloc_limit_mb 1100: the Lua heap (1 GiB) is the largest single allocation a
# script may cause; the decode budget the target uses is 256 MiB.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$fuzzer" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
  -malloc_limit_mb=1100 -max_len=16384 -print_final_stats=1 -artifact_prefix="$PWD/script-fuzz-" "$work/corpus"
