#!/usr/bin/env bash
# The CLI runs, every subcommand answers --help, and commands that are not built yet say so and
# exit non-zero instead of pretending.
set -euo pipefail
golfrt=$1
fail() { echo "cli_smoke: $*" >&2; exit 1; }
err=$(mktemp)
trap 'rm -f "$err"' EXIT

"$golfrt" --help | grep -q "usage: golfrt" || fail "--help has no usage line"
"$golfrt" --version | grep -q "^golfrt " || fail "--version"
for cmd in train decode import inspect data summary fit ops version; do
  "$golfrt" "$cmd" --help >/dev/null || fail "$cmd --help exited non-zero"
done
"$golfrt" ops | grep -qE "^rms_norm +1 +FD" || fail "ops does not list rms_norm as FD-checked"
if "$golfrt" train examples/none.lua 2>"$err"; then fail "train of a missing script exited 0"; fi
grep -q "examples/none.lua: cannot open" "$err" || fail "train did not name the missing script"
if "$golfrt" decode /nonexistent/x.bin 2>"$err"; then fail "decode of a missing artifact exited 0"; fi
grep -q "/nonexistent/x.bin" "$err" || fail "decode did not name the missing artifact"
if "$golfrt" frobnicate 2>/dev/null; then fail "an unknown command exited 0"; fi
src=$(cd "$(dirname "$0")/.." && pwd)
"$golfrt" summary "$src/examples/baseline.lua" | grep -q "^parameters: 17059912 " || fail "baseline does not have 17059912 parameters"
"$golfrt" summary "$src/examples/baseline.lua" --set dim=640 | grep -q "^parameters: 26485832 " || fail "baseline at dim=640"
if "$golfrt" summary "$src/examples/baseline.lua" --set dimm=3 2>"$err"; then fail "an unknown --set key was accepted"; fi
grep -q "'dimm' is not a config key" "$err" || fail "unknown --set key message"
# --device cuda is refused plainly where it cannot run (a build without CUDA, or no GPU).
if ! "$golfrt" version | grep -q "^cuda:0 "; then
  if "$golfrt" train "$src/examples/baseline.lua" --device cuda 2>"$err"; then fail "train --device cuda ran without a GPU"; fi
  grep -qE "built without CUDA|no usable CUDA device" "$err" || fail "train --device cuda: $(cat "$err")"
fi
if "$golfrt" train "$src/examples/baseline.lua" --device tpu 2>"$err"; then fail "--device tpu was accepted"; fi
grep -q "must be cpu, cuda or standin" "$err" || fail "--device tpu message"
if "$golfrt" train "$src/examples/baseline.lua" --device standin --cuda-graph maybe 2>"$err"; then fail "--cuda-graph maybe was accepted"; fi
grep -q -- "--cuda-graph maybe: give on or off" "$err" || fail "--cuda-graph maybe: $(cat "$err")"

if "$golfrt" train "$src/examples/baseline.lua" --storage half 2>"$err"; then fail "--storage half was accepted"; fi
grep -q -- "--storage half: give auto, fp32 or bf16" "$err" || fail "--storage half message: $(cat "$err")"
# Numbers are parsed whole, and the error names the flag and the value (it said "stoll").
if "$golfrt" summary "$src/examples/baseline.lua" --seq abc 2>"$err"; then fail "summary --seq abc was accepted"; fi
grep -q -- "--seq needs a whole number (at least 1), got 'abc'" "$err" || fail "summary --seq abc: $(cat "$err")"
if "$golfrt" train "$src/examples/baseline.lua" --steps 1e99 2>"$err"; then fail "train --steps 1e99 was accepted"; fi
grep -q -- "--steps needs a whole number (at least 0), got '1e99'" "$err" || fail "train --steps 1e99: $(cat "$err")"
echo "cli_smoke: ok"
