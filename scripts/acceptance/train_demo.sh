#!/usr/bin/env bash
# Acceptance: the README demo end to end (a few minutes): train the baseline's CPU preset on the
# default corpus, then check that the artifact decodes to the train-end round-trip val_bpb, that
# the model beats the unigram bpb by at least 15%, and that the artifact fits the budget.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-runs/acceptance_demo}
scripts/build.sh >/dev/null
scripts/prepare_default_data.sh >/dev/null
mkdir -p "$(dirname "$out")"
build/golfrt train examples/baseline.lua --preset cpu --out "$out" --overwrite --quiet | tee "$out.log"
roundtrip=$(grep -oP 'after the artifact round trip \K[0-9.]+' "$out.log")
val=$(grep -oP '^val_loss \S+  val_bpb \K[0-9.]+' "$out.log")
unigram=$(grep -oP '^unigram bpb \K[0-9.]+' "$out.log")
decoded=$(build/golfrt decode "$out/artifact.bin" | grep -oP 'val_bpb \K[0-9.]+')
bytes=$(stat -c %s "$out/artifact.bin")
echo "val_bpb $val, round trip $roundtrip, decoded $decoded, unigram $unigram, artifact $bytes bytes"
awk -v r="$roundtrip" -v d="$decoded" 'BEGIN { exit !((r - d) < 1e-6 && (d - r) < 1e-6) }' || { echo "FAIL: decode differs from the round trip"; exit 1; }
awk -v v="$roundtrip" -v u="$unigram" 'BEGIN { exit !(v <= 0.85 * u) }' || { echo "FAIL: not 15% below the unigram bpb"; exit 1; }
[ "$bytes" -le 16000000 ] || { echo "FAIL: artifact over budget"; exit 1; }
echo "acceptance: ok"
