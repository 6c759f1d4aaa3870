#!/usr/bin/env bash
# The main job, as far as golfrt goes today: set-up, build, then train a small transformer with
# the C++ core (forward, backward and the optimizer as separate graphs) and show the op table.
# It becomes `golfrt train examples/baseline.lua` → artifact → `golfrt decode` as those land.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/golfrt version
build/demo_copy_task --steps 300 --check
