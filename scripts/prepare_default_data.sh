#!/usr/bin/env bash
# The default training data: nlp-corpus (scripts/fetch_corpus.sh) tokenized with a freshly trained
# 1024-piece SentencePiece BPE into data/nlp-corpus-sp1024, 5,000 validation documents.
# Idempotent: does nothing when the manifest is already there. GOLFRT=path overrides the binary.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
golfrt=${GOLFRT:-$root/build/golfrt}
out="$root/data/nlp-corpus-sp1024"

"$root/scripts/fetch_corpus.sh"
if [[ -f "$out/manifest.json" ]]; then
  echo "prepare_default_data: $out is prepared"
  exit 0
fi
if [[ ! -x "$golfrt" ]]; then
  echo "prepare_default_data: $golfrt not found; build first (scripts/build.sh)" >&2
  exit 1
fi
"$golfrt" data prepare --text "$root/data/corpus/nlp-corpus.txt" --out "$out" --vocab 1024 --val-docs 5000
