#!/usr/bin/env bash
# Acceptance: fuzz an artifact's script for 10 minutes (issue 17): the text of the model script of
# a real artifact is mutated, and each input is loaded and scored as `golfrt decode` does, under a
# 2-second deadline per call into the script and a 256 MiB allocation budget. No input may crash,
# run past 20 s, or allocate more than 1,100 MB at once. Builds the fuzzer (clang + libFuzzer).
#   scripts/acceptance/fuzz_script.sh [SECONDS]   (default 600)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
seconds=${1:-600}
[ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -G Ninja
if ! cmake --build "$build" --target artifact_fuzz_build; then
  echo "fuzz_script: the fuzzers are not configured (GOLFRT_FUZZ is OFF: clang++ with libFuzzer was not found;" >&2
  echo "scripts/setup.sh installs clang-14 and libclang-rt-14-dev)" >&2
  exit 1
fi
cd "$build"
CI=true "$root/tests/fuzz/run_script_fuzz.sh" "$build/fuzz/script_fuzz" "$root/tests/fuzz/script_seeds" "$seconds"
