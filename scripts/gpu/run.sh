#!/usr/bin/env bash
# Run THERE (the GPU machine: CUDA 13, cmake, ninja, a C++ compiler, no Debian -dev packages, no
# network), from the repository root, with the folder scripts/gpu/bundle.sh made here carried
# along (docs/cuda.md). Two modes, so that two calls and their machine starts fit the 15 minutes a
# session may hold a GPU:
#
#   scripts/gpu/run.sh quick   (<= 300 s) facts, configure, build what the checks need, ldd, the
#                              CUDA tests, the step benchmark (bench_cuda, with GOLFRT_PROFILE)
#   scripts/gpu/run.sh full    (<= 540 s) quick's steps, then the whole build, NCCL, PyTorch's side
#                              at the same shapes (attention rows; the whole training step side by
#                              side, scripts/bench/gpu_train.sh), compute-sanitizer where present,
#                              the rest of the suite
#   scripts/gpu/run.sh MODE --plan   print each step and its cap, check the caps fit the mode's
#                              budget, run nothing (CTest `gpu_run_plan` runs this here)
#
# A second call on a warm machine reuses the first call's build folder (build-gpu/ is ignored by
# git, and the device tool keeps ignored build outputs between calls), so `full` after `quick`
# builds only what quick did not.
#
# Every step runs under `timeout -k` with a cap; the caps of a mode add up to no more than its
# budget, so the script cannot outrun the device tool's 600 s limit. Shell-function steps run in
# a child bash under the same timeout (their own inner timeouts are derived from the step's cap).
# As each step ends, $OUT/results.json is rewritten (name, status, exit, seconds, cap); logs are
# written outside $OUT and packed into one $OUT/logs.tar.gz at exit, since a call returns at most
# 8 files. GOLFRT_GPU_EXPECTED=0 allows a dry run on a machine without a GPU (the CUDA tests then
# skip instead of failing, the GPU-only steps are skipped), which is how it is tested here.
set -uo pipefail
cd "$(dirname "$0")/../.."
MODE=${1:-quick}
PLAN_ONLY=0
[ "${2:-}" = "--plan" ] && PLAN_ONLY=1
case "$MODE" in
  quick) BUDGET=${GOLFRT_GPU_BUDGET_S:-295} ;;
  full) BUDGET=${GOLFRT_GPU_BUDGET_S:-535} ;;
  -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
  *) echo "run.sh: unknown mode '$MODE' (quick or full; add --plan to print the steps)" >&2; exit 2 ;;
esac

# The steps of each mode and their caps in seconds, in order. The plan test checks the sums.
QUICK_STEPS="facts:10 configure:45 build_quick:130 ldd:10 cuda_tests:60 bench_step:40"
# full's gpu_train (the side-by-side step against PyTorch) took its 70 s from build_all (90 -> 65:
# quick already built golfrt, the CUDA suites and both benchmarks), nccl (40 -> 30: its inner
# timeouts are a quarter of the cap each), bench_torch (30 -> 25), sanitizer and ctest (40 -> 25).
FULL_STEPS="$QUICK_STEPS build_all:65 nccl:30 bench_torch:25 gpu_train:70 sanitizer:25 ctest:25"
if [ "$MODE" = quick ]; then STEPS=$QUICK_STEPS; else STEPS=$FULL_STEPS; fi
# GOLFRT_GPU_CAP_SCALE (default 1) multiplies every cap and the budget: for a dry run on the slow
# 2-core build machine, never on the GPU machine.
SCALE=${GOLFRT_GPU_CAP_SCALE:-1}
BUDGET=$((BUDGET * SCALE))
cap_of() { local s; for s in $STEPS; do [ "${s%%:*}" = "$1" ] && { echo $(( ${s##*:} * SCALE )); return; }; done; echo 0; }
total=0
for s in $STEPS; do total=$((total + $(cap_of "${s%%:*}"))); done
if [ "$PLAN_ONLY" = 1 ]; then
  for s in $STEPS; do printf '%-12s %4s s\n' "${s%%:*}" "$(cap_of "${s%%:*}")"; done
  echo "mode $MODE: caps add up to $total s, budget $BUDGET s"
  [ "$total" -le "$BUDGET" ] || { echo "run.sh: the caps of mode $MODE exceed its budget" >&2; exit 1; }
  exit 0
fi
[ "$total" -le "$BUDGET" ] || { echo "run.sh: the caps of mode $MODE ($total s) exceed its budget ($BUDGET s)" >&2; exit 2; }

export ROOT=$PWD
export SYSROOT=${GOLFRT_SYSROOT:-$ROOT/gpu-sysroot}
export BUILD=${GOLFRT_GPU_BUILD:-$ROOT/build-gpu}
export OUT=${OUT:-$ROOT/gpu-out}
export LOGS=${GOLFRT_GPU_LOGS:-$ROOT/gpu-logs}
GPU_EXPECTED=${GOLFRT_GPU_EXPECTED:-1}
START=$(date +%s)
export CORES=$(nproc)  # before OMP_NUM_THREADS is set: GNU nproc honours it
mkdir -p "$OUT"
rm -rf "$LOGS" && mkdir -p "$LOGS"
: >"$OUT/summary.txt"
FAILED=()
RESULTS=()
say() { echo "== run.sh $MODE [$(( $(date +%s) - START ))s] $*" | tee -a "$OUT/summary.txt"; }

write_results() {
  local IFS=,
  printf '{"mode": "%s", "budget_s": %d, "elapsed_s": %d, "steps": [%s]}\n' \
    "$MODE" "$BUDGET" "$(( $(date +%s) - START ))" "${RESULTS[*]}" >"$OUT/results.json.tmp" &&
    mv "$OUT/results.json.tmp" "$OUT/results.json"
}
pack_logs() { tar -czf "$OUT/logs.tar.gz" -C "$LOGS" . 2>/dev/null; }
trap pack_logs EXIT

# step NAME CMD...: runs CMD (a program or a shell function of this file) under its cap from the
# mode's table, logging to $LOGS/NAME.log; records the result; 124/137 mean the cap was hit.
step() {
  local name=$1 rc=0 t0 cap; shift
  cap=$(cap_of "$name")
  t0=$(date +%s)
  say "$name (cap ${cap}s): $*"
  if declare -F "$1" >/dev/null; then
    STEP_CAP=$cap timeout -k 5 "$cap" bash -c "$(declare -f "$1"); \"\$@\"" _ "$@" >"$LOGS/$name.log" 2>&1 || rc=$?
  else
    timeout -k 5 "$cap" "$@" >"$LOGS/$name.log" 2>&1 || rc=$?
  fi
  local secs=$(( $(date +%s) - t0 )) status=ok
  if [ $rc = 124 ] || [ $rc = 137 ]; then status=timeout
  elif [ $rc != 0 ]; then status=failed
  fi
  RESULTS+=("{\"name\": \"$name\", \"status\": \"$status\", \"exit\": $rc, \"seconds\": $secs, \"cap_s\": $cap}")
  write_results
  if [ $rc = 0 ]; then say "$name: ok (${secs}s)"; return 0; fi
  say "$name: $status (exit $rc after ${secs}s; last lines below, all in logs.tar.gz:$name.log)"
  tail -n 25 "$LOGS/$name.log" | tee -a "$OUT/summary.txt"
  FAILED+=("$name")
  return $rc
}
skip() {  # skip NAME WHY
  RESULTS+=("{\"name\": \"$1\", \"status\": \"skipped\", \"why\": \"$2\"}")
  write_results
  say "$1: skipped ($2)"
}

facts() {
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader 2>&1 || echo "nvidia-smi: unavailable"
  (command -v nvcc >/dev/null && nvcc --version || /usr/local/cuda/bin/nvcc --version) 2>&1 | tail -1
  c++ --version 2>&1 | head -1
  cmake --version | head -1
  ninja --version
  echo "cores: $CORES"
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' 2>&1 | tail -1
}
step facts facts
cp "$LOGS/facts.log" "$OUT/facts.txt" 2>/dev/null
[ -d "$SYSROOT" ] || { say "no sysroot at $SYSROOT: run scripts/gpu/bundle.sh on the build machine and carry gpu-sysroot"; exit 2; }
export NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)

# Unpack the sysroot's .xz archives (xz, or Python's lzma where xz is not installed): seconds.
for f in "$SYSROOT"/lib/*.xz; do
  [ -e "$f" ] || continue
  dst=${f%.xz}
  [ -s "$dst" ] && continue
  if command -v xz >/dev/null; then xz -dc "$f" >"$dst.tmp"
  else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$f" "$dst.tmp"
  fi && mv "$dst.tmp" "$dst" || { say "unpack: cannot decompress $f"; exit 2; }
done

step configure cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGOLFRT_SYSROOT="$SYSROOT" \
  -DGOLFRT_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES=90a -DGOLFRT_FUZZ=OFF \
  -DGOLFRT_MPI=OFF -DGOLFRT_NCCL=AUTO || exit 1

# What quick needs first: the CLI, the CUDA suites and the benchmark; the rest comes in full.
step build_quick cmake --build "$BUILD" -j "$CORES" --target golfrt cuda_ops_test cuda_train_test cuda_real_shapes_test cuda_attention_tc_test cuda_graph_test cuda_folds_test bench_cuda bench_gpu_train || exit 1

ldd_check() {  # nothing "not found": the shared libraries come from the sysroot through the rpath
  local bad=0 b
  for b in "$BUILD"/golfrt "$BUILD"/tests/*_test "$BUILD"/scripts/bench/bench_*; do
    [ -x "$b" ] || continue
    echo "--- $b"
    ldd "$b"
    if ldd "$b" | grep -q "not found"; then bad=1; fi
  done
  return $bad
}
step ldd ldd_check || exit 1

# With a GPU expected, a skip is a failure (tests/support/cuda.h). Each suite runs as one process;
# if one dies (a kernel fault poisons its CUDA context), the tests it did not finish run again one
# process each, so one fault does not take the other tests' verdicts with it.
export GOLFRT_REQUIRE_CUDA=$GPU_EXPECTED OMP_NUM_THREADS=${OMP_NUM_THREADS:-8} OPENBLAS_NUM_THREADS=1
"$BUILD"/golfrt version >"$OUT/version.txt" 2>&1
cuda_tests() {
  local bin base rc t bad=0
  for bin in "$BUILD"/tests/cuda_ops_test "$BUILD"/tests/cuda_train_test "$BUILD"/tests/cuda_real_shapes_test "$BUILD"/tests/cuda_attention_tc_test \
             "$BUILD"/tests/cuda_graph_test "$BUILD"/tests/cuda_folds_test; do
    base=$(basename "$bin")
    rc=0
    "$bin" >"$LOGS/$base.log" 2>&1 || rc=$?
    tail -n 30 "$LOGS/$base.log"
    if [ $rc = 1 ]; then bad=1; fi
    if [ $rc -gt 1 ]; then  # died: rerun what did not finish, one process each
      echo "$base died (exit $rc); running its unfinished tests one by one"
      bad=1
      for t in $("$bin" --gtest_list_tests | awk '/^[^ ]/ {s=$1} /^  / {print s $1}'); do
        grep -qE "^\[ +(OK|FAILED|SKIPPED) +\] $t( |$)" "$LOGS/$base.log" && continue
        timeout -k 2 20 "$bin" --gtest_filter="$t" >>"$LOGS/$base.one_by_one.log" 2>&1 || echo "FAILED (alone): $t"
      done
    fi
  done
  return $bad
}
step cuda_tests cuda_tests

# The step benchmark: bench_cuda's kernels and the baseline's step, with the executor's per-op
# profile and ledger (GOLFRT_PROFILE=1).
if [ "$GPU_EXPECTED" = 1 ]; then
  GOLFRT_PROFILE=1 step bench_step "$BUILD"/scripts/bench/bench_cuda --source "$ROOT"
else
  skip bench_step "no GPU expected"
fi

if [ "$MODE" = full ]; then
  step build_all cmake --build "$BUILD" -j "$CORES"

  nccl_check() {  # the NCCL path with one rank equals the plain run; a lone GPU's --nproc 2 fails fast
    local d=$LOGS/nccl t=$(( STEP_CAP / 4 ))
    "$BUILD"/golfrt version | grep -q "^data-parallel ranks: .*nccl" ||
      { echo "this build has no NCCL: nccl.h / libnccl not found in the CUDA toolkit (set NCCL_ROOT)"; return 1; }
    rm -rf "$d" && mkdir -p "$d"
    cat "$ROOT"/docs/*.md "$ROOT"/README.md >"$d/text.txt"
    "$BUILD"/golfrt data prepare --text "$d/text.txt" --out "$d/data" --bytes --quiet || return 1
    local args=("$ROOT"/tests/data/tiny_train.lua --data "$d/data" --device cuda --steps 8 --quiet --no-artifact)
    timeout -k 2 "$t" "$BUILD"/golfrt train "${args[@]}" --out "$d/plain" || return 1
    timeout -k 2 "$t" "$BUILD"/golfrt train "${args[@]}" --out "$d/nproc1" --nproc 1 || return 1
    python3 "$ROOT"/scripts/gpu/compare_losses.py "$d/plain/metrics.jsonl" "$d/nproc1/metrics.jsonl" 1e-5 || return 1
    if [ "$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')" = 1 ]; then
      local t0 rc=0 secs
      t0=$(date +%s)
      timeout -k 2 "$t" "$BUILD"/golfrt train "${args[@]}" --out "$d/nproc2" --nproc 2 >"$d/nproc2.log" 2>&1 || rc=$?
      secs=$(( $(date +%s) - t0 ))
      echo "--nproc 2 with one GPU: exit status $rc after $secs s"
      if [ $rc = 0 ] || [ $rc = 124 ]; then tail -20 "$d/nproc2.log"; return 1; fi
    fi
  }
  if [ "$GPU_EXPECTED" = 1 ]; then step nccl nccl_check; else skip nccl "no GPU expected"; fi

  # PyTorch's SDPA backends (cuDNN, flash) at the baseline's attention shape, beside bench_cuda's rows.
  if [ "$GPU_EXPECTED" = 1 ]; then step bench_torch python3 "$ROOT"/scripts/bench/cuda_attention_torch.py
  else skip bench_torch "no GPU expected"; fi

  # The side-by-side step (scripts/bench/gpu_train.sh): PyTorch 2 compiled with bf16 autocast and
  # flash SDPA, then golfrt, from the same weights and batches; 5 steps of 524,288 tokens, the first
  # 2 untimed (torch.compile); fails when the losses after 5 steps differ by more than 2%.
  if [ "$GPU_EXPECTED" = 1 ]; then
    BENCH="$BUILD"/scripts/bench/bench_gpu_train PYTHON=python3 step gpu_train "$ROOT"/scripts/bench/gpu_train.sh \
      --steps 5 --warmup 2
  else skip gpu_train "no GPU expected"; fi

  # compute-sanitizer on the kernels with tiles, shared memory and sorts.
  sanitizer() {
    local san filter rc=0
    san=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
    filter='AllOps/CudaOp.*attention*:AllOps/CudaOp.*/scatter_add_rows:AllOps/CudaOp.*/index_add:AllOps/CudaOp.*/matmul:AllOps/CudaOp.*/sum:AllOps/CudaOp.*/cross_entropy:CudaOps.attention_cached*'
    timeout -k 2 $(( STEP_CAP * 5 / 10 )) "$san" --tool memcheck --error-exitcode 1 "$BUILD"/tests/cuda_ops_test --gtest_filter="$filter" || rc=1
    timeout -k 2 $(( STEP_CAP * 2 / 10 )) "$san" --tool racecheck --error-exitcode 1 "$BUILD"/tests/cuda_ops_test \
      --gtest_filter='AllOps/CudaOp.*attention*:CudaOps.attention_cached*' || rc=1
    # The tensor-core attention (the op tests above run the fp32 one) at its small shapes.
    local tc='Shapes/CudaAttentionTc.matches*/t5:Shapes/CudaAttentionTc.matches*/t1000_hd40_mqa:Shapes/CudaAttentionTc.matches*/hd256'
    timeout -k 2 $(( STEP_CAP * 15 / 100 )) "$san" --tool memcheck --error-exitcode 1 "$BUILD"/tests/cuda_attention_tc_test \
      --gtest_filter="$tc" || rc=1
    timeout -k 2 $(( STEP_CAP * 10 / 100 )) "$san" --tool racecheck --error-exitcode 1 "$BUILD"/tests/cuda_attention_tc_test \
      --gtest_filter='Shapes/CudaAttentionTc.matches*/t5:Shapes/CudaAttentionTc.matches*/hd256' || rc=1
    return $rc
  }
  SAN=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  if [ "$GPU_EXPECTED" = 1 ] && [ -x "$SAN" ]; then step sanitizer sanitizer
  else skip sanitizer "no GPU expected or no compute-sanitizer"; fi

  # The rest of the suite (the CUDA suites ran above, one process per test).
  step ctest ctest --test-dir "$BUILD" -j "$CORES" --output-on-failure -E "^(AllOps/CudaOp|CudaOps|CudaTrain|CudaRealShapes|CudaFolds|GuardBytes|Shapes/CudaAttentionTc|CudaAttention|CudaGraph\.|gpu_train_smoke)" \
    --timeout "$(cap_of ctest)"
fi

if [ ${#FAILED[@]} -gt 0 ]; then say "FAILED: ${FAILED[*]}"; exit 1; fi
say "all steps passed"
