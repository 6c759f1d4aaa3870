#!/usr/bin/env bash
# The test command: set-up, configure + build, then every test through CTest, printing each
# stage's time. This is what CI runs (.ci/run), and it must stay under 30 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/stage.sh
total0=$SECONDS
stage "setup" scripts/setup.sh
stage "build" scripts/build.sh
stage "ctest" ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 900
echo "== total: $((SECONDS - total0)) s"
