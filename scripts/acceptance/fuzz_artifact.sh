#!/usr/bin/env bash
# Acceptance: fuzz the artifact reader for 10 minutes (DESIGN §7: no input crashes it, none makes
# it allocate more than its length allows). Builds the fuzzer (clang + libFuzzer) first.
#   scripts/acceptance/fuzz_artifact.sh [SECONDS]   (default 600)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
seconds=${1:-600}
[ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -G Ninja
cmake --build "$build" --target artifact_fuzz_seeds
if ! cmake --build "$build" --target artifact_fuzz_build 2>/dev/null; then
  echo "fuzz_artifact: the fuzzer is not configured (GOLFRT_FUZZ is OFF: clang++ with libFuzzer was not found;" >&2
  echo "scripts/setup.sh installs clang-14 and libclang-rt-14-dev)" >&2
  exit 1
fi
cd "$build"
CI=true "$root/tests/fuzz/run_fuzz.sh" "$build/fuzz/artifact_fuzz" "$build/tests/artifact_fuzz_seeds" "$seconds"
