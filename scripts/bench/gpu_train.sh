#!/usr/bin/env bash
# The side-by-side training benchmark (issue 18): the challenge baseline's step in PyTorch 2
# (scripts/bench/gpu_train_torch.py: SDPA flash, torch.compile, bf16 autocast, the baseline's
# optimizers) and in golfrt (scripts/bench/bench_gpu_train.cc: examples/baseline.lua, its
# train.optim rules), on one GPU, the same 524,288-token batches and the same initial weights (the
# PyTorch side writes both to a tensor dump that golfrt loads). PyTorch runs first and exits before
# golfrt starts, so each has the GPU to itself.
#
#   scripts/bench/gpu_train.sh                          # cuda, 10 steps, 3 untimed
#   scripts/bench/gpu_train.sh --steps 20 --warmup 5
#   scripts/bench/gpu_train.sh --device cpu --tiny      # the smoke test (CTest gpu_train_smoke)
#
# Prints each side's ms/step over the timed steps, `speedup vs PyTorch: X.XX` (PyTorch's ms/step
# divided by golfrt's), both losses after N steps, and fails (exit 1) when the losses after N steps
# differ by more than the stated relative tolerance: 2% on cuda (both sides round matmul inputs to
# bf16, in different kernels and orders, and 10 steps of training compound it), 1e-4 on the CPU
# (both sides fp32). LOSS_TOL overrides it. Environment: BENCH (golfrt's binary, default
# build/scripts/bench/bench_gpu_train), PYTHON (default python3; here /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
device=cuda tiny=() steps=10 warmup=3
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift 2 ;;
    --tiny) tiny=(--tiny); shift ;;
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    *) echo "gpu_train.sh: unknown argument '$1' (--device cuda|cpu, --tiny, --steps N, --warmup W)" >&2; exit 2 ;;
  esac
done
case $device in
  cuda) tol=${LOSS_TOL:-0.02} ;;
  cpu) tol=${LOSS_TOL:-1e-4} ;;
  *) echo "gpu_train.sh: --device '$device' (cuda or cpu)" >&2; exit 2 ;;
esac
bench=${BENCH:-build/scripts/bench/bench_gpu_train}
python=${PYTHON:-python3}
[ -x "$bench" ] || { echo "gpu_train.sh: no $bench (build the target bench_gpu_train)" >&2; exit 1; }
# Without PyTorch there is nothing to compare against: exit 77 (CTest's skip) rather than fail.
"$python" -c "import torch" 2>/dev/null || { echo "gpu_train.sh: $python has no torch (scripts/setup.sh installs it)" >&2; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$python" scripts/bench/gpu_train_torch.py --device "$device" "${tiny[@]}" --steps "$steps" --warmup "$warmup" \
  --dump "$work/batches.bin" | tee "$work/torch.txt"
"$bench" --dump "$work/batches.bin" --device "$device" "${tiny[@]}" --steps "$steps" --warmup "$warmup" |
  tee "$work/golfrt.txt"

"$python" - "$work/torch.txt" "$work/golfrt.txt" "$tol" "$steps" <<'PY'
import re, sys
def read(path, who):
    text = open(path).read()
    ms = re.search(r"ms/step ([0-9.]+)", text)
    losses = re.search(who + r" losses: (.*)", text)
    if not ms or not losses:
        sys.exit(f"gpu_train.sh: cannot read ms/step and losses from {who}'s output:\n{text}")
    return float(ms.group(1)), [float(v) for v in losses.group(1).split()]
t_ms, t_loss = read(sys.argv[1], "torch")
g_ms, g_loss = read(sys.argv[2], "golfrt")
tol, steps = float(sys.argv[3]), int(sys.argv[4])
print(f"PyTorch: {t_ms:.1f} ms/step, golfrt: {g_ms:.1f} ms/step")
print(f"speedup vs PyTorch: {t_ms / g_ms:.2f}")
print(f"loss after {steps} steps: PyTorch {t_loss[-1]:.6f}, golfrt {g_loss[-1]:.6f}")
worst = max(abs(a - b) / abs(b) for a, b in zip(g_loss, t_loss))
rel = abs(g_loss[-1] - t_loss[-1]) / abs(t_loss[-1])
print(f"relative difference after {steps} steps {rel:.2e} (worst over the steps {worst:.2e}), tolerance {tol:g}")
if len(t_loss) != steps or len(g_loss) != steps:
    sys.exit(f"gpu_train.sh: expected {steps} losses from each side, got {len(t_loss)} and {len(g_loss)}")
if not rel <= tol:
    sys.exit(f"gpu_train.sh: the losses after {steps} steps differ by {rel:.2e}, beyond {tol:g}")
PY
