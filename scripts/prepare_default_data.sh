#!/usr/bin/env bash
# The default training data: nlp-corpus (scripts/fetch_corpus.sh) with 5,000 validation documents,
#   scripts/prepare_default_data.sh           tokenized with a freshly trained 1024-piece SentencePiece
#                                             BPE into data/nlp-corpus-sp1024;
#   scripts/prepare_default_data.sh --bytes   as the challenge's byte260 tokens (ids 0-3 specials, byte
#                                             b at id b + 4; each byte counts 1 toward val_bpb, specials
#                                             0) into data/nlp-corpus-bytes260 (examples/fractal.lua),
#                                             the same validation documents.
#   scripts/prepare_default_data.sh --caseops as the first, CaseOps text (lowercase with case markers,
#                                             golfrt data prepare --caseops, docs/decoding.md) into
#                                             data/nlp-corpus-sp1024-caseops (examples/record.lua's cpu preset).
# Idempotent: does nothing when the manifest is already there. GOLFRT=path overrides the binary.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
golfrt=${GOLFRT:-$root/build/golfrt}
if [[ "${1:-}" == "--bytes" ]]; then
  out="$root/data/nlp-corpus-bytes260"
  how=(--bytes)
elif [[ "${1:-}" == "--caseops" ]]; then
  out="$root/data/nlp-corpus-sp1024-caseops"
  how=(--vocab 1024 --caseops)
elif [[ -z "${1:-}" ]]; then
  out="$root/data/nlp-corpus-sp1024"
  how=(--vocab 1024)
else
  echo "usage: scripts/prepare_default_data.sh [--bytes | --caseops]" >&2
  exit 2
fi

"$root/scripts/fetch_corpus.sh"
if [[ -f "$out/manifest.json" ]]; then
  echo "prepare_default_data: $out is prepared"
  exit 0
fi
if [[ ! -x "$golfrt" ]]; then
  echo "prepare_default_data: $golfrt not found; build first (scripts/build.sh)" >&2
  exit 1
fi
"$golfrt" data prepare --text "$root/data/corpus/nlp-corpus.txt" --out "$out" "${how[@]}" --val-docs 5000
