#!/usr/bin/env bash
# Configure and build golfrt into build/ (Release, Ninja). Extra arguments go to cmake's
# configure step, e.g. scripts/build.sh -DGOLFRT_CUDA=OFF
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >build.configure.log || { cat build.configure.log; exit 1; }
grep -E "golfrt: CUDA backend" build.configure.log || true
cmake --build build -j "$(nproc)"
