#!/usr/bin/env bash
# scripts/gpu/run.sh's time boxes, checked here where it cannot run: each mode's step caps add
# up to no more than its budget (quick <= 300 s, full <= 540 s, so two calls and their machine
# starts fit the 15 minutes a session may hold a GPU), and an unknown mode is refused.
set -euo pipefail
# The real caps: run.sh's own dry run (GOLFRT_GPU_CAP_SCALE=8) runs this suite too.
unset GOLFRT_GPU_CAP_SCALE GOLFRT_GPU_BUDGET_S
run=$1/scripts/gpu/run.sh
for mode in quick full; do
  out=$("$run" "$mode" --plan)
  echo "$out"
  budget=$(echo "$out" | sed -n 's/.*budget \([0-9]*\) s/\1/p')
  limit=300; [ "$mode" = full ] && limit=540
  [ "$budget" -le "$limit" ] || { echo "mode $mode: budget $budget s over $limit s"; exit 1; }
done
# The caps must be enforced: a budget smaller than the caps' sum is refused.
if GOLFRT_GPU_BUDGET_S=100 "$run" quick --plan >/dev/null 2>&1; then echo "an over-budget plan was accepted"; exit 1; fi
if "$run" fast --plan >/dev/null 2>&1; then echo "an unknown mode was accepted"; exit 1; fi
echo "gpu run plan: ok"
