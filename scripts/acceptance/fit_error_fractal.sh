#!/usr/bin/env bash
# How far `golfrt fit`'s projection lands from a real trained artifact of examples/fractal.lua
# (its own quant scheme: int8 per row with the quantile clip, small tensors as floats): trains
# the cpu preset on the bytes data for BUDGET seconds (default 300), asks `golfrt fit` to project
# the same config (its dim as the only candidate) and prints both byte counts and the error.
#
#   scripts/acceptance/fit_error_fractal.sh      BUDGET=90 OUT=runs/fit_error_fractal scripts/acceptance/fit_error_fractal.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-runs/fit_error_fractal}
budget=${BUDGET:-300}
scripts/build.sh >/dev/null
scripts/prepare_bytes_data.sh >/dev/null
mkdir -p "$(dirname "$out")"
build/golfrt train examples/fractal.lua --preset cpu --data data/nlp-corpus-bytes260 --time-budget "$budget" \
  --out "$out" --quiet | tee "$out.log"
bytes=$(stat -c %s "$out/artifact.bin")
dim=128  # the cpu preset's width
projected=$(build/golfrt fit examples/fractal.lua --preset cpu --vary dim --min "$dim" --max "$dim" --step "$dim" \
  | grep -oP 'projected \K[0-9]+' | tail -1)
val=$(grep -oP 'after the artifact round trip \K[0-9.]+' "$out.log")
awk -v p="$projected" -v b="$bytes" -v v="$val" -v s="$budget" 'BEGIN {
  printf "fractal cpu preset trained %d s (round-trip val_bpb %s): artifact %d bytes, fit projected %d bytes, error %+.2f%%\n",
         s, v, b, p, 100 * (p - b) / b }'
