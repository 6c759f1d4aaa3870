// How many sequences a micro-batch holds on a device (issue 16, "a plan that fits"): the largest
// micro-batch that divides the step's sequences, gives every rank the same number of
// micro-batches (runtime/train/trainer.cc's rule), and whose planned device bytes fit the free
// bytes less a headroom. A pure function: the caller measures the bytes (count-only executors of
// the train-step and update graphs, runtime/train/step_on_paper.h) and the free memory.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace golf {

// Kept back from the free bytes: the CUDA context's lazy allocations, cuBLASLt's heuristics,
// NCCL's buffers and allocator fragmentation are not in the plan.
constexpr double kMicroBatchHeadroom = 0.10;

struct MicroBatchPlan {
  int64_t micro_batch = 0;
  int64_t planned_bytes = 0;  // device bytes of a step at that micro-batch
  int64_t free_bytes = 0;
  int64_t usable_bytes = 0;   // free_bytes less the headroom
  bool derived = false;       // false: the script (or --set) chose it
  std::string describe() const;  // one line for the run's log
};

// step_sequences: sequences of one optimizer step over all ranks (train.batch_tokens / seq_len).
// set_micro_batch: 0 derives it; otherwise it is checked (divides, suits the ranks, fits).
// planned_bytes(n): device bytes of a step whose micro-batches hold n sequences; called for the
// candidates from the largest down until one fits. Throws std::invalid_argument naming the
// planned bytes, the free bytes and the setting to change when nothing (or the set one) fits.
MicroBatchPlan plan_micro_batch(int64_t step_sequences, int64_t ranks, int64_t free_bytes, int64_t set_micro_batch,
                                const std::function<int64_t(int64_t)>& planned_bytes);

// "12.35 GB" (decimal, as GPU memory is sold).
std::string gigabytes(int64_t bytes);

}  // namespace golf
