#!/usr/bin/env bash
# Runs a reader's fuzzer (the artifact's, the safetensors one) for a bounded time on a fresh seed corpus.
#   run_fuzz.sh FUZZER SEED_MAKER SECONDS [CRASH_PREFIX]
# Exits 77 (CTest: skipped) when the fuzzer was not built because clang's libFuzzer is missing,
# except under CI=true, where scripts/setup.sh installs it and a missing fuzzer is a failure.
# A crashing input is kept as ./CRASH_PREFIX* in the working folder (default artifact-fuzz-crash-).
set -euo pipefail
fuzzer=$1 seeds=$2 seconds=$3 prefix=${4:-artifact-fuzz-crash-}
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
"$seeds" "$work/corpus"
# -malloc_limit_mb: the reader's bounds keep every allocation for these small inputs far below it.
"$fuzzer" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=8192 \
  -print_final_stats=1 -artifact_prefix="$PWD/$prefix" "$work/corpus"
