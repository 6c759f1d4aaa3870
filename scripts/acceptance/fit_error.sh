#!/usr/bin/env bash
# Acceptance: how far `golfrt fit`'s projection lands from a real trained artifact. Trains the
# baseline's cpu preset for BUDGET seconds (default 1200: as close to convergence as 2 CPU cores
# get; the 240 s demo is far from it), then asks `golfrt fit` to project the same config (the
# same dim as the only candidate) and prints both byte counts and the relative error.
#
#   scripts/acceptance/fit_error.sh            BUDGET=600 OUT=runs/fit_error scripts/acceptance/fit_error.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-runs/fit_error}
budget=${BUDGET:-1200}
scripts/build.sh >/dev/null
scripts/prepare_default_data.sh >/dev/null
mkdir -p "$(dirname "$out")"
build/golfrt train examples/baseline.lua --preset cpu --time-budget "$budget" \
  --out "$out" --quiet | tee "$out.log"
bytes=$(stat -c %s "$out/artifact.bin")
dim=128  # the cpu preset's width
projected=$(build/golfrt fit examples/baseline.lua --preset cpu --vary dim --min "$dim" --max "$dim" --step "$dim" \
  | grep -oP 'projected \K[0-9]+' | tail -1)
val=$(grep -oP 'after the artifact round trip \K[0-9.]+' "$out.log")
awk -v p="$projected" -v b="$bytes" -v v="$val" -v s="$budget" 'BEGIN {
  printf "cpu preset trained %d s (round-trip val_bpb %s): artifact %d bytes, fit projected %d bytes, error %+.2f%%\n",
         s, v, b, p, 100 * (p - b) / b }'
