// One training step on the CUDA backend, on paper: count-only executors (runtime/device_ledger.h)
// of the train-step graph (one micro-batch, gradients accumulated into "grad.*" leaves, as
// TrainStep builds it), of the optimizers' update graphs (runtime/optim/) and of the evaluator's
// forward graph (its executor, made at the first evaluation, holds its memory beside the others
// until the run ends), with the FLOPs and bytes their nodes imply. Needs no GPU; used by the micro-batch planner and by
// scripts/bench/bench_step_paper.cc (docs/perf.md, "GPU step on paper").
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "runtime/device_ledger.h"
#include "runtime/executor.h"
#include "runtime/json.h"
#include "runtime/model_graph.h"

namespace golf {

struct GraphOnPaper {
  DeviceLedger ledger;  // one run (a later one: first-run allocations excluded)
  // The launches of a run launch by launch (outside a CUDA graph); with graphs, `ledger` is a
  // replayed run's: one graph launch, and only the bf16 weight conversions launched outside it.
  int64_t node_launches = 0;
  DeviceBytes bytes;
  int64_t nodes = 0;            // planned steps that do work (leaves and reshape views excluded)
  double matmul_flops = 0;      // tensor cores (bf16 inputs, fp32 accumulation)
  double attention_flops = 0;   // attention forward and backward (bf16 tensor cores by default)
  double other_flops = 0;       // the rest, one per element of each node's largest operand
  double other_bytes = 0;       // the rest's reads and writes (memory bound), and the conversions below
  // The traffic the matmul and attention kernels add beside their FLOPs, in other_bytes too: an
  // fp32 matmul operand that is neither stored in bf16 nor a cached weight is converted into bf16
  // scratch per call (read 4, write 2 bytes an element); tensor-core attention whose q, k, v are
  // not stored in bf16 packs them (and dO) per call (read fp32, write the padded bf16 layout).
  double conversion_bytes = 0;
  double pack_bytes = 0;
  // Per op name, every node that does work (matmul and attention included): how many, and the
  // bytes its inputs and outputs hold as stored (2 bytes an element in bf16, 4 in fp32 or i32: what
  // an unfused kernel reads and writes at least), plus the two rows above ("matmul operand
  // conversion", "attention pack"). For predictions that fuse or narrow some ops (docs/perf.md).
  struct OpTally {
    int64_t nodes = 0;
    double bytes = 0;
  };
  std::map<std::string, OpTally> by_op;
};

struct StepOnPaper {
  int64_t micro_batch = 0, micro_batches = 0, seq = 0;  // micro_batches per rank per step
  bool bf16_storage = false;  // the micro-batch graph stores values in bf16 (runtime/precision_pass.h)
  GraphOnPaper micro;        // one micro-batch's forward+backward
  GraphOnPaper muon, adam;   // one run of each update graph (absent: zeros)
  GraphOnPaper eval;         // the evaluator's forward graph at train.eval_batch (absent: zeros)
  int64_t eval_batch = 0;
  // Device bytes a run holds: the train-step executor's plus each optimizer executor's and the
  // evaluator's (today each executor mirrors the host tensors it reads, so parameters live once
  // per executor), and the kernels' scratch once (it is process-wide).
  int64_t device_bytes() const;
};

// micro_batch: sequences per micro-batch; step_sequences: sequences per step (all ranks).
// optimizers false: the train-step and evaluation graphs alone (faster: the planner's
// per-candidate call adds the optimizers' bytes, which do not depend on the micro-batch, once).
// The evaluation graph is planned at train.eval_batch, or at micro_batch as the trainer defaults it.
// graphs: count the executors as the CUDA trainer runs them by default, as CUDA graphs
// (ExecOptions::graph: the steady run is one graph launch). storage: the executors'
// (ExecOptions::storage; automatic is what the CUDA trainer runs: bf16).
StepOnPaper step_on_paper(GraphFactory factory, NameMatcher matcher, const Json& train, int64_t micro_batch,
                          int64_t seq, int64_t step_sequences, int64_t ranks = 1, bool optimizers = true,
                          bool graphs = false, RealStorage storage = RealStorage::automatic);

}  // namespace golf
