#!/usr/bin/env bash
# Generation cost per token at position POSITION (default 512), in one run: golfrt's KV-cached
# decode step, golfrt recomputing the window, and PyTorch (the reference baseline, no cache)
# recomputing the window, for the baseline's cpu preset and its full config.
#
#   scripts/bench/decode.sh            THREADS=1 POSITION=256 scripts/bench/decode.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${THREADS:-$(nproc)}
position=${POSITION:-512}
bench=build/scripts/bench/bench_decode
[[ -x $bench ]] || { echo "no $bench: build first (scripts/build.sh)" >&2; exit 1; }
for preset in cpu ""; do
  OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads "$bench" examples/baseline.lua ${preset:+--preset $preset} \
    --position "$position" --context 1024 --tokens 32
  /usr/bin/python3 scripts/bench/decode_torch.py "$threads" "$position" $preset
done
