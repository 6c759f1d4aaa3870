#!/usr/bin/env bash
# Training throughput, golfrt against PyTorch, on the same model, data, batch and thread count:
# examples/baseline.lua --preset cpu (d=128, 4 layers, 4 heads / 2 KV heads, seq 256, 32 sequences
# per step, vocab 1024, Muon + Adam) and its PyTorch twin (scripts/bench/cpu_train_torch.py, fp32).
# Both take WARMUP steps, then TIMED steps are timed; golfrt's final evaluation is not timed (its
# metrics.jsonl records the training-only elapsed time every 10 steps, which is what is read here).
#
#   scripts/bench/cpu_train.sh                 # 2 threads on a 2-core machine: nproc
#   THREADS=1 WARMUP=10 TIMED=20 REPEAT=3 scripts/bench/cpu_train.sh
#
# REPEAT runs each side that many times, alternating, and keeps each side's best (the development
# machine is shared; the best run is the one least disturbed; `nice -n -10 scripts/bench/...` helps
# further, see docs/perf.md). Needs a build (scripts/build.sh) and Debian's python3-torch
# (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${THREADS:-$(nproc)}
warmup=${WARMUP:-10}
timed=${TIMED:-20}
repeat=${REPEAT:-1}
data=${DATA:-data/nlp-corpus-sp1024}
golfrt=${GOLFRT:-build/golfrt}
python=${PYTHON:-/usr/bin/python3}
if (( warmup % 10 || timed % 10 )); then
  echo "WARMUP and TIMED must be multiples of 10 (the cpu preset logs every 10 steps)" >&2
  exit 2
fi
[[ -x $golfrt ]] || { echo "no $golfrt: build first (scripts/build.sh)" >&2; exit 1; }
[[ -d $data ]] || scripts/prepare_default_data.sh

# The same train shard, and a validation shard cut to 33 sequences so that the run's closing
# evaluation (untimed, but it takes wall time) is short.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/data"
for f in "$data"/*; do
  case $(basename "$f") in
    fineweb_val_*) ;;
    *) ln -s "$(realpath "$f")" "$work/data/" ;;
  esac
done
"$python" - "$data" "$work/data" <<'EOF'
import glob, os, sys
import numpy as np
src, dst = sys.argv[1], sys.argv[2]
path = sorted(glob.glob(os.path.join(src, "fineweb_val_*.bin")))[0]
header = np.fromfile(path, dtype="<i4", count=256)
n = min(int(header[2]), 33 * 256 + 1)
tokens = np.fromfile(path, dtype="<u2", count=n, offset=1024)
header[2] = n
with open(os.path.join(dst, os.path.basename(path)), "wb") as f:
    f.write(header.tobytes())
    f.write(tokens.tobytes())
EOF

steps=$((warmup + timed))
best_g=0
best_t=0
for ((r = 1; r <= repeat; r++)); do
  OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads "$golfrt" train examples/baseline.lua --preset cpu \
    --data "$work/data" --steps "$steps" --out "$work/run" --overwrite --quiet >"$work/golfrt.log" 2>&1 ||
    { cat "$work/golfrt.log" >&2; exit 1; }
  g=$("$python" - "$work/run/metrics.jsonl" "$warmup" "$steps" <<'EOF'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    j = json.loads(line)
    if "elapsed_s" in j:
        rows[j["step"]] = j
a, b = rows[int(sys.argv[2])], rows[int(sys.argv[3])]
print(f"{(b['tokens'] - a['tokens']) / (b['elapsed_s'] - a['elapsed_s']):.1f} {b['elapsed_s'] - a['elapsed_s']:.2f} {b['loss']:.4f}")
EOF
)
  read -r g_tps g_s g_loss <<<"$g"
  echo "golfrt run $r: $timed steps in $g_s s, $g_tps tokens/s (loss at step $steps: $g_loss)"
  best_g=$("$python" -c "print(max($best_g, $g_tps))")

  out=$(OMP_NUM_THREADS=$threads "$python" scripts/bench/cpu_train_torch.py --data "$data" --threads "$threads" \
        --warmup "$warmup" --steps "$timed")
  t_tps=$(sed -n 's/.*, \([0-9.]*\) tokens\/s.*/\1/p' <<<"$out" | head -1)
  flops=$(sed -n 's/^flops_per_token \([0-9]*\).*/\1/p' <<<"$out")
  echo "torch  run $r: $(head -1 <<<"$out")"
  best_t=$("$python" -c "print(max($best_t, $t_tps))")
done

grep '^flops_per_token' <<<"$out"
"$python" - "$best_g" "$best_t" "$flops" "$threads" "$repeat" <<'EOF'
import sys
g, t, flops, threads, repeat = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
print(f"best of {repeat}, {threads} threads:")
print(f"  golfrt  {g:8.0f} tokens/s  {g * flops / 1e9:6.2f} GFLOP/s")
print(f"  PyTorch {t:8.0f} tokens/s  {t * flops / 1e9:6.2f} GFLOP/s")
print(f"  ratio golfrt/PyTorch {g / t:.2f}")
EOF
