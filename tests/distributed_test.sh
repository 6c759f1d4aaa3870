#!/usr/bin/env bash
# Data-parallel training over MPI on CPU (docs/distributed.md), with tests/data/tiny_train.lua:
#   (a) 2 ranks under mpirun take the same steps as 1 rank with the same global batch: per-step
#       losses equal to 1e-5 relative, and both artifacts decode to the same val_bpb;
#   (b) the 2-rank checkpoint resumes on 1 rank, and continues as the 1-rank checkpoint does;
#   (c) one rank killed (SIGKILL) mid-run: the job exits non-zero within 60 s;
#   (d) --nproc on CPU is refused plainly (it starts NCCL ranks);
#   and 2 ranks on the stand-in device (docs/cuda.md) take the CPU's 2-rank steps.
# Usage: distributed_test.sh GOLFRT SOURCE_DIR. Exit 77 (CTest: skipped) when this golfrt has no
# MPI or mpirun is missing, except under CI=true (scripts/setup.sh installs OpenMPI), where that fails.
set -uo pipefail
golfrt=$1
src=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/golfrt_distributed.XXXXXX")
fail() { echo "distributed_test: FAIL: $*" >&2; echo "distributed_test: runs kept in $work" >&2; exit 1; }
skip() {
  if [ "${CI:-}" = true ]; then fail "$* (CI=true: scripts/setup.sh installs OpenMPI, so this must not happen)"; fi
  echo "distributed_test: SKIPPED: $*"; rm -rf "$work"; exit 77
}
"$golfrt" version | grep -q "^data-parallel ranks: .*mpi" || skip "this golfrt was built without MPI (GOLFRT_MPI)"
command -v mpirun >/dev/null || skip "no mpirun on PATH (apt-get install openmpi-bin)"

# One thread per rank on 2 cores, one BLAS thread (thread counts change sgemm's bits); OpenMPI
# refuses root without these two.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Shared memory without cross-memory attach (containers often forbid ptrace): plain copies.
mpirun_=(mpirun --oversubscribe --mca btl self,vader --mca btl_vader_single_copy_mechanism none)
mpi=("${mpirun_[@]}" -np 2)
script=$src/tests/data/tiny_train.lua

# A byte-level corpus from the project's own docs (fixed text, so the runs are reproducible).
cat "$src"/docs/*.md "$src"/README.md >"$work/text.txt"
"$golfrt" data prepare --text "$work/text.txt" --out "$work/data" --bytes --quiet >"$work/prepare.log" 2>&1 ||
  fail "data prepare: $(cat "$work/prepare.log")"
common=(--data "$work/data" --quiet --steps 8)

# (a) 8 steps of 4 sequences in 2 micro-batches: 1 rank runs both, each of 2 ranks one.
"$golfrt" train "$script" "${common[@]}" --out "$work/r1" >"$work/r1.log" 2>&1 || fail "1 rank: $(tail -20 "$work/r1.log")"
"${mpi[@]}" "$golfrt" train "$script" "${common[@]}" --out "$work/r2" >"$work/r2.log" 2>&1 ||
  fail "2 ranks: $(tail -30 "$work/r2.log")"
grep -q "2 ranks (mpi)" "$work/r2.log" || fail "the 2-rank run did not say it ran 2 MPI ranks: $(head "$work/r2.log")"

compare_losses() {  # A B FIRST_STEP [TOLERANCE]: the per-step losses of two metrics.jsonl from FIRST_STEP on
  python3 - "$1" "$2" "$3" "${4:-1e-5}" <<'PY'
import json, sys
def losses(p):
    return {j["step"]: j["loss"] for j in map(json.loads, open(p)) if "loss" in j}
a, b, first = losses(sys.argv[1]), losses(sys.argv[2]), int(sys.argv[3])
steps = sorted(s for s in a if s >= first)
if not steps or steps != sorted(s for s in b if s >= first):
    sys.exit(f"different steps: {sorted(a)} and {sorted(b)}")
worst = max(abs(a[s] - b[s]) / abs(a[s]) for s in steps)
print(f"steps {steps[0]}..{steps[-1]}: worst relative loss difference {worst:.2e}")
for s in steps:
    print(f"  step {s}: {a[s]!r} {b[s]!r}")
sys.exit(0 if worst <= float(sys.argv[4]) else 1)
PY
}
compare_losses "$work/r1/metrics.jsonl" "$work/r2/metrics.jsonl" 1 || fail "1 rank and 2 ranks took different steps"
# The final evaluation, split over 2 ranks and reduced in float64, against 1 rank's.
python3 - "$work/r1/metrics.jsonl" "$work/r2/metrics.jsonl" <<'PY' || fail "the final evaluations differ"
import json, sys
a, b = ([j for j in map(json.loads, open(p)) if j.get("final")][-1] for p in sys.argv[1:])
print(f"final val_bpb {a['val_bpb']!r} (1 rank) {b['val_bpb']!r} (2 ranks), targets {a['val_targets']} {b['val_targets']}")
sys.exit(a["val_targets"] != b["val_targets"] or abs(a["val_bpb"] - b["val_bpb"]) > 1e-5 * a["val_bpb"])
PY

# Phases (a frozen embedding, replayed batches), EMA, SWA and gradient clipping: 40 steps.
"$golfrt" train "$script" --data "$work/data" --quiet --preset phased_long --out "$work/p1" --no-artifact >"$work/p1.log" 2>&1 ||
  fail "phased_long, 1 rank: $(tail -20 "$work/p1.log")"
"${mpi[@]}" "$golfrt" train "$script" --data "$work/data" --quiet --preset phased_long --out "$work/p2" --no-artifact >"$work/p2.log" 2>&1 ||
  fail "phased_long, 2 ranks: $(tail -30 "$work/p2.log")"
compare_losses "$work/p1/metrics.jsonl" "$work/p2/metrics.jsonl" 1 >"$work/p.cmp" ||
  fail "phased_long: 1 rank and 2 ranks took different steps: $(cat "$work/p.cmp")"
echo "phased_long: $(head -1 "$work/p.cmp")"

# The stand-in device (docs/cuda.md): 2 ranks with device-resident gradients (all-reduced where
# they lie, the stand-in's host memory) and Muon's update buffers on the device take the CPU
# 2-rank run's steps bit for bit (--fuse off: the CPU run is unfused; tests/train_test.cc compares
# the fused graphs; --storage fp32: the CPU run stores every value in fp32, where the device's
# default stores matmul operands in bf16, runtime/precision_pass.h). phased_long clips: the device graph sums the norm and scales in
# f32 where the host works in double, which moves its 40 steps' losses by up to about 4e-5.
"${mpi[@]}" "$golfrt" train "$script" "${common[@]}" --device standin --fuse off --storage fp32 --out "$work/s2" --no-artifact >"$work/s2.log" 2>&1 ||
  fail "2 ranks on the stand-in device: $(tail -30 "$work/s2.log")"
python3 - "$work/r2/metrics.jsonl" "$work/s2/metrics.jsonl" <<'PY' || fail "2 ranks: the stand-in device's losses differ from the CPU's"
import json, sys
a, b = ([j["loss"] for j in map(json.loads, open(p)) if "loss" in j] for p in sys.argv[1:])
print(f"2 ranks, cpu vs stand-in: {len(a)} and {len(b)} steps, equal: {a == b}")
sys.exit(len(a) != 8 or a != b)
PY
"${mpi[@]}" "$golfrt" train "$script" --data "$work/data" --quiet --preset phased_long --device standin --storage fp32 --out "$work/ps2" \
  --no-artifact >"$work/ps2.log" 2>&1 || fail "phased_long, 2 ranks on the stand-in device: $(tail -30 "$work/ps2.log")"
compare_losses "$work/p2/metrics.jsonl" "$work/ps2/metrics.jsonl" 1 2e-4 >"$work/ps.cmp" ||
  fail "phased_long, 2 ranks: the stand-in device took other steps than the CPU: $(cat "$work/ps.cmp")"
echo "phased_long on the stand-in device: $(head -1 "$work/ps.cmp")"

val_bpb() { "$golfrt" decode "$1" --data "$work/data" | sed -n 's/.*val_bpb \([0-9.]*\).*/\1/p'; }
b1=$(val_bpb "$work/r1/artifact.bin") b2=$(val_bpb "$work/r2/artifact.bin")
[ -n "$b1" ] && [ -n "$b2" ] || fail "decode printed no val_bpb ($b1, $b2)"
python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'artifacts: val_bpb {a} (1 rank) {b} (2 ranks)'); sys.exit(abs(a - b) > 1e-5 * a)" "$b1" "$b2" ||
  fail "the artifacts decode to different val_bpb: $b1 (1 rank), $b2 (2 ranks)"
# Rank 0 alone wrote: one metrics line per step, not two.
[ "$(grep -c '"loss"' "$work/r2/metrics.jsonl")" = 8 ] || fail "metrics.jsonl of 2 ranks has $(grep -c '"loss"' "$work/r2/metrics.jsonl") step lines, not 8"

# (b) both step-8 checkpoints resumed on 1 rank for 2 more steps take the same steps.
cp -r "$work/r1" "$work/r1c" && cp -r "$work/r2" "$work/r2c"
for r in r1c r2c; do
  "$golfrt" train "$script" --data "$work/data" --quiet --steps 10 --out "$work/$r" --resume --no-artifact >"$work/$r.log" 2>&1 ||
    fail "resuming $r on 1 rank: $(tail -20 "$work/$r.log")"
done
compare_losses "$work/r1c/metrics.jsonl" "$work/r2c/metrics.jsonl" 9 || fail "the 2-rank checkpoint resumed differently from the 1-rank one"

# (c) a rank killed mid-run: the other must not wait forever in a collective.
"${mpi[@]}" "$golfrt" train "$script" --data "$work/data" --quiet --steps 100000 --out "$work/r_kill" --no-artifact \
  >"$work/kill.log" 2>&1 &
job=$!
for _ in $(seq 600); do  # up to 60 s for the first steps
  [ -s "$work/r_kill/metrics.jsonl" ] && break
  kill -0 $job 2>/dev/null || fail "the long 2-rank run ended before it was killed: $(tail -20 "$work/kill.log")"
  sleep 0.1
done
[ -s "$work/r_kill/metrics.jsonl" ] || { kill $job; fail "the long 2-rank run wrote no step in 60 s"; }
ranks=$(ps -o pid= --ppid $job)
victim=$(echo "$ranks" | awk 'NR == 2 {print $1}')
[ -n "$victim" ] || { kill $job; fail "cannot find mpirun's ranks (children of $job: $ranks)"; }
t0=$(date +%s.%N)
kill -9 "$victim"
for _ in $(seq 600); do
  kill -0 $job 2>/dev/null || break
  sleep 0.1
done
if kill -0 $job 2>/dev/null; then
  kill $job
  fail "60 s after one rank was killed, mpirun is still running"
fi
wait $job
rc=$?
t=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)")
[ $rc != 0 ] || fail "mpirun exited 0 after one rank was killed"
echo "one rank killed: mpirun exited with status $rc after $t s"
# mpirun may return while the last rank is still exiting: a few seconds' grace (a zombie counts as gone).
alive() { [ -e "/proc/$1/stat" ] && ! awk '{exit $3 == "Z" ? 0 : 1}' "/proc/$1/stat" 2>/dev/null; }
for pid in $ranks; do
  for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
  alive "$pid" && fail "rank pid $pid still runs 10 s after mpirun ended"
done

# (e) more ranks than a step has micro-batches: refused at once by every rank, no hang.
t0=$(date +%s)
if timeout 60 "${mpirun_[@]}" -np 3 "$golfrt" train "$script" "${common[@]}" --out "$work/r3" >"$work/r3.log" 2>&1; then
  fail "3 ranks for 2 micro-batches per step ran"
fi
grep -q "cannot share evenly" "$work/r3.log" || fail "3 ranks: $(tail -20 "$work/r3.log")"
[ $(( $(date +%s) - t0 )) -lt 60 ] || fail "3 ranks: the refusal took 60 s"

# (f) a time budget: the ranks stop on the same step (rank 0's clock), the job ends by itself.
timeout 60 "${mpi[@]}" "$golfrt" train "$script" --data "$work/data" --quiet --preset timed --time-budget 2 --out "$work/timed" \
  --no-artifact >"$work/timed.log" 2>&1 || fail "2 ranks with a 2-s budget: status $? $(tail -20 "$work/timed.log")"
grep -q '"final":true' "$work/timed/metrics.jsonl" || fail "2 ranks with a 2-s budget wrote no final evaluation"

# (d) --nproc starts NCCL ranks only.
if "$golfrt" train "$script" --data "$work/data" --nproc 2 2>"$work/nproc.err"; then fail "--nproc 2 on CPU ran"; fi
grep -q "use mpirun -np N" "$work/nproc.err" || fail "--nproc on CPU: $(cat "$work/nproc.err")"

echo "distributed_test: all checks passed"
rm -rf "$work"
