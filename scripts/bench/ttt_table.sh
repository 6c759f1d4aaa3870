#!/usr/bin/env bash
# docs/decoding.md's test-time training table: an artifact scored without TTT and with each scheme,
# on the default corpus and on scripts/prepare_docs_corpus.sh's, the first MAX tokens of each
# validation split, one run at a time. Prints decode's result lines (val_bpb and seconds).
#   scripts/bench/ttt_table.sh [ARTIFACT] [MAX]      (default runs/demo/artifact.bin, 16384)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
golfrt=${GOLFRT:-$root/build/golfrt}
artifact=${1:-$root/runs/demo/artifact.bin}
max=${2:-16384}
for data in "$root/data/nlp-corpus-sp1024" "$root/data/docs-sp1024"; do
  name=$(basename "$data")
  common=(decode "$artifact" --data "$data" --max-tokens "$max")
  start=$(date +%s.%N)
  "$golfrt" "${common[@]}"
  echo "  (no ttt: $(echo "$(date +%s.%N) - $start" | bc) s)"
  "$golfrt" "${common[@]}" --ttt sgd --ttt-chunk 4096 --ttt-jsonl "/tmp/ttt_${name}_sgd.jsonl" 2>/dev/null
  "$golfrt" "${common[@]}" --ttt lora --ttt-jsonl "/tmp/ttt_${name}_lora.jsonl" 2>/dev/null
done
