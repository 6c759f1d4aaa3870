#!/usr/bin/env bash
# The byte-level training data (examples/fractal.lua): the default corpus (scripts/fetch_corpus.sh,
# the same text as data/nlp-corpus-sp1024) as the challenge's byte260 tokens (ids 0-3 specials,
# byte b at id b + 4; each byte counts 1 toward val_bpb, specials 0) into data/nlp-corpus-bytes260,
# 5,000 validation documents with the default shuffle seed (the same documents as the sp1024 split).
# Idempotent: does nothing when the manifest is already there. GOLFRT=path overrides the binary.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
golfrt=${GOLFRT:-$root/build/golfrt}
out="$root/data/nlp-corpus-bytes260"

"$root/scripts/fetch_corpus.sh"
if [[ -f "$out/manifest.json" ]]; then
  echo "prepare_bytes_data: $out is prepared"
  exit 0
fi
if [[ ! -x "$golfrt" ]]; then
  echo "prepare_bytes_data: $golfrt not found; build first (scripts/build.sh)" >&2
  exit 1
fi
"$golfrt" data prepare --text "$root/data/corpus/nlp-corpus.txt" --out "$out" --bytes --val-docs 5000
