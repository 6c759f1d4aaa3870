#!/usr/bin/env bash
# The acceptance table for seed scripts (seeds1.sh, seeds2.sh): trains each script's cpu preset on
# the default corpus (bytes260 for byte-level scripts), writes its artifact, decodes it with
# `golfrt decode`, and prints one table: script, parameters, artifact bytes, val_bpb (the train-end
# round trip), decoded val_bpb, unigram bpb and how far below it. Fails unless every script is at
# least 15% below the unigram bpb and decode reproduces the round trip to 1e-6. A model with a
# linear combiner also gets `golfrt decode --eval last --chunk CHUNK` (both numbers, after the table).
#
#   scripts/acceptance/seed_table.sh NAME SCRIPT...      (writes runs/NAME_table.txt)
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1
shift
scripts/build.sh >/dev/null
scripts/prepare_default_data.sh >/dev/null
# Byte-level scripts train and decode on the bytes260 form of the same corpus; the unigram bpb the
# trainer prints is then over bytes (specials count 0), the same denominator as the model's.
data_for() {
  case "$1" in
    fractal) scripts/prepare_default_data.sh --bytes >/dev/null; echo data/nlp-corpus-bytes260 ;;
    *) echo data/nlp-corpus-sp1024 ;;
  esac
}
mkdir -p runs
table=runs/${name}_table.txt
extra=runs/${name}_last.txt
: > "$extra"
printf "%-16s %12s %12s %10s %10s %10s %8s\n" script params bytes val_bpb decoded unigram below > "$table"
status=0
for s in "$@"; do
  out=runs/${name}_$s
  log=$out.log
  data=$(data_for "$s")
  build/golfrt train "examples/$s.lua" --preset cpu --data "$data" --out "$out" --overwrite --quiet | tee "$log"
  params=$(build/golfrt summary "examples/$s.lua" --preset cpu | grep -oP '^parameters: \K[0-9]+')
  roundtrip=$(grep -oP 'after the artifact round trip \K[0-9.]+' "$log")
  unigram=$(grep -oP '^unigram bpb \K[0-9.]+' "$log")
  decoded=$(build/golfrt decode "$out/artifact.bin" --data "$data" | grep -oP 'val_bpb \K[0-9.]+')
  bytes=$(stat -c %s "$out/artifact.bin")
  below=$(awk -v v="$roundtrip" -v u="$unigram" 'BEGIN { printf "%.1f%%", 100 * (1 - v / u) }')
  printf "%-16s %12s %12s %10s %10s %10s %8s\n" "$s" "$params" "$bytes" "$roundtrip" "$decoded" "$unigram" "$below" >> "$table"
  awk -v r="$roundtrip" -v d="$decoded" 'BEGIN { exit !((r - d) < 1e-6 && (d - r) < 1e-6) }' || { echo "FAIL $s: decode differs from the round trip"; status=1; }
  awk -v v="$roundtrip" -v u="$unigram" 'BEGIN { exit !(v <= 0.85 * u) }' || { echo "FAIL $s: not 15% below the unigram bpb"; status=1; }
  if grep -q '"combiner_fit"' "$out/metrics.jsonl"; then
    # The trainer's own report of the fit (its metrics line), then the artifact's, both ways.
    grep '"combiner_fit"' "$out/metrics.jsonl" | tail -1 |
      grep -oP '"(combiner_fit|ridge_lambda|ridge_step|last_targets|last_base_bpb|last_combined_bpb)":[^,}]*' |
      tr '\n' ' ' | sed "s/^/$s trainer: /;s/ $/\n/" >> "$extra"
    build/golfrt decode "$out/artifact.bin" --data "$data" --eval last --chunk "${CHUNK:-2048}" > "$out.last.txt"
    cat "$out.last.txt" >> "$extra"
    [ "$(grep -c "without combiner\|with combiner" "$out.last.txt")" = 2 ] || { echo "FAIL $s: decode --eval last did not report both numbers"; status=1; }
  fi
done
cat "$table"
[ -s "$extra" ] && cat "$extra"
[ $status = 0 ] && echo "$name: ok"
exit $status
