#!/usr/bin/env bash
# CPU kernels, golfrt and PyTorch side by side in one run (same shapes, fp32, same threads).
# Needs a build (scripts/build.sh) and Debian's python3-torch (scripts/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${THREADS:-$(nproc)}
echo "== golfrt ($threads threads)"
OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads build/scripts/bench/bench_cpu_kernels --benchmark_min_time=0.5 2>/dev/null
echo "== PyTorch"
/usr/bin/python3 scripts/bench/cpu_kernels_torch.py "$threads"
