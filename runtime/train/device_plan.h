// The micro-batch a training run uses (issue 16, "a plan that fits"), decided before any graph is
// built. On the CPU nothing changes: the script's train.micro_batch, else the whole step. With
// --device cuda and no micro_batch set, it is derived from count-only plans of the run's graphs
// (runtime/train/step_on_paper.h) and the device's free memory (runtime/train/micro_batch_plan.h);
// a set one is checked against the free memory and refused, before step 1, when it cannot fit. A
// resumed run (and a replayed one) reuses the micro-batch its checkpoint (schedule.json) records,
// so that it stays the same run on a device with other free memory.
#pragma once
#include <cstdint>
#include <string>

#include "runtime/dist/communicator.h"
#include "runtime/json.h"
#include "runtime/model_graph.h"
#include "runtime/train/micro_batch_plan.h"
#include "runtime/train/trainer.h"

namespace golf {

// The device's free bytes: GOLFRT_DEVICE_FREE_BYTES when set (a whole number of bytes, e.g.
// 80000000000: CI, and plans made on a machine without a GPU), else cudaMemGetInfo in a CUDA
// build. Throws naming the variable when it is malformed, or when neither can answer.
int64_t device_free_bytes();

// All of the run's device bytes at n sequences per micro-batch, for plan_micro_batch: the
// train-step graph, the evaluator's graph and the optimizers' update graphs, counted by
// count-only executors (the optimizers once: they do not depend on n).
// storage: the run's (TrainerOptions::storage; bf16-stored values take half the bytes).
std::function<int64_t(int64_t)> planned_run_bytes(const GraphFactory& factory, const NameMatcher& matcher,
                                                  const Json& train, int64_t seq, int64_t ranks,
                                                  RealStorage storage = RealStorage::automatic);

struct MicroBatchChoice {
  int64_t micro_batch = 0;
  std::string line;  // one line for the run's log; empty when nothing was planned or reused (CPU)
};

// train: the script's train table; seq: its sequence length; ranks: the data-parallel ranks. comm:
// the ranks' communicator (each plans for its own device and the smallest free memory of any rank
// decides, so that all agree); null: this process's device alone (golfrt train --plan-only).
// Throws std::invalid_argument naming the planned bytes, the free bytes and the setting to change.
MicroBatchChoice choose_micro_batch(const GraphFactory& factory, const NameMatcher& matcher, const Json& train,
                                    int64_t seq, const TrainerOptions& opt, int64_t ranks, Communicator* comm);

}  // namespace golf
