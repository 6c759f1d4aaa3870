#!/usr/bin/env bash
# The main job on the default data: set-up, build, fetch and tokenize the default corpus
# (nlp-corpus 4.4.0, SentencePiece BPE 1024), then train the baseline's CPU preset (the same
# module types as the full model, smaller) for 4 minutes of wall clock and score it exactly as
# the challenge does, next to a unigram model; write the artifact and decode it. Each stage prints
# its time.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/stage.sh
stage "setup" scripts/setup.sh
stage "build" scripts/build.sh
stage "data" scripts/prepare_default_data.sh
build/golfrt summary examples/baseline.lua --preset cpu | tail -1
stage "train" build/golfrt train examples/baseline.lua --preset cpu --out runs/demo --overwrite
# The artifact alone (its own script, dequantized weights) scored on the same data: the same val_bpb.
stage "decode" build/golfrt decode runs/demo/artifact.bin
# Sampling from the artifact, one KV-cached decode step per token (docs/decoding.md).
stage "generate" build/golfrt decode runs/demo/artifact.bin --generate "The history of" --tokens 48 --seed 1
build/golfrt inspect runs/demo/artifact.bin | tail -1
scripts/plot runs/demo/metrics.jsonl -o runs/demo/curve.png
