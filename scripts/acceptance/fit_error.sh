#!/usr/bin/env bash
# Acceptance: how far `golfrt fit`'s projection lands from a real trained artifact. Trains SCRIPT's
# cpu preset for BUDGET seconds (the baseline by default, 1200 s: as close to convergence as 2 CPU
# cores get; the 240 s demo is far from it), then asks `golfrt fit` to project the same config
# (its dim as the only candidate) and prints both byte counts and the relative error. Byte-level
# scripts (fractal) train on the bytes260 data.
#
#   scripts/acceptance/fit_error.sh            BUDGET=600 OUT=runs/fit_error scripts/acceptance/fit_error.sh
#   SCRIPT=fractal BUDGET=300 scripts/acceptance/fit_error.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
script=${SCRIPT:-baseline}
out=${OUT:-runs/fit_error$([ "$script" = baseline ] || echo "_$script")}
budget=${BUDGET:-$([ "$script" = baseline ] && echo 1200 || echo 300)}
scripts/build.sh >/dev/null
scripts/prepare_default_data.sh >/dev/null
data=data/nlp-corpus-sp1024
if [ "$script" = fractal ]; then
  scripts/prepare_default_data.sh --bytes >/dev/null
  data=data/nlp-corpus-bytes260
fi
mkdir -p "$(dirname "$out")"
build/golfrt train "examples/$script.lua" --preset cpu --data "$data" --time-budget "$budget" \
  --out "$out" --overwrite --quiet | tee "$out.log"
bytes=$(stat -c %s "$out/artifact.bin")
dim=$(build/golfrt summary "examples/$script.lua" --preset cpu | grep -oP '\bdim=\K[0-9]+' | head -1)
projected=$(build/golfrt fit "examples/$script.lua" --preset cpu --vary dim --min "$dim" --max "$dim" --step "$dim" \
  | grep -oP 'projected \K[0-9]+' | tail -1)
val=$(grep -oP 'after the artifact round trip \K[0-9.]+' "$out.log")
awk -v n="$script" -v p="$projected" -v b="$bytes" -v v="$val" -v s="$budget" 'BEGIN {
  printf "%s cpu preset trained %d s (round-trip val_bpb %s): artifact %d bytes, fit projected %d bytes, error %+.2f%%\n",
         n, s, v, b, p, 100 * (p - b) / b }'
