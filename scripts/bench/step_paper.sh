#!/usr/bin/env bash
# The baseline's training step on the CUDA backend, on paper (docs/perf.md, "GPU step on paper"):
# the challenge's batch (524,288 tokens) in the micro-batches the planner derives for 80 GB free
# (64 sequences: the token cap, runtime/train/micro_batch_plan.h), then in micro-batches of 128
# (what memory alone would allow: the cap's cost). No GPU needed. Launches are printed launch by
# launch and as the trainer's CUDA graphs (EXTRA="--cuda-graph off" counts the step without them).
#
#   scripts/bench/step_paper.sh            EXTRA="--set dim=640" scripts/bench/step_paper.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bench=build/scripts/bench/bench_step_paper
[[ -x $bench ]] || { echo "no $bench: build it first (cmake --build build --target bench_step_paper)" >&2; exit 1; }
# shellcheck disable=SC2086
"$bench" examples/baseline.lua --free-gb 80 ${EXTRA:-}
echo
# shellcheck disable=SC2086
"$bench" examples/baseline.lua --micro 128 ${EXTRA:-}
echo
# The graph the CUDA trainer runs: the fused chains of runtime/fuse_pass.h (docs/perf.md, "Fused kernels").
# shellcheck disable=SC2086
"$bench" examples/baseline.lua --micro 64 --fuse all ${EXTRA:-}
