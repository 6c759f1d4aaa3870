// How many sequences a micro-batch holds on a device (issue 16, "a plan that fits"): the largest
// micro-batch that divides the step's sequences, gives every rank the same number of
// micro-batches (runtime/train/trainer.cc's rule), holds at most kMaxMicroBatchTokens tokens, and
// whose planned device bytes fit the free bytes less a headroom. A pure function: the caller
// measures the bytes (count-only executors of the train-step, evaluation and update graphs,
// runtime/train/device_plan.h) and the free memory.
//
// Why a cap on tokens, not only memory: past the point where every kernel of a micro-batch fills
// the GPU, a larger micro-batch is no faster per token; it saves only the per-micro-batch fixed
// costs (its launches: about 3.5 ms per micro-batch of the baseline outside a CUDA graph, next to
// nothing inside one; reading the weights and accumulating the gradients once more: under 0.1 ms)
// and costs its activations' memory, which brings the plan closer to the device's limit, where
// what no plan sees lives (cuBLASLt workspaces, NCCL buffers, CUDA-graph pools, fragmentation).
// At 65,536 tokens (the challenge's reference: 64 sequences of 1024 per GPU) the baseline's
// narrowest GEMM ([65536, 512] x [512, 256], the K/V projections) is 1,024 output tiles of
// 128 x 128, about 8 waves over an H100's 132 SMs; an activation is 33.5 M elements (134 MB in
// fp32, about 50 us of HBM traffic against a few us of launch latency); attention has 512 (batch,
// head) pairs times 8+ query tiles. Doubling the micro-batch improves none of these by more than
// a few percent; on paper it saves 11 ms of a 585 ms step outside a graph (1.9%: launches) and
// 0.3 ms as one graph, for 25 GB more of the device.
// docs/perf.md ("A plan that fits") has the numbers. A set train.micro_batch is not capped.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace golf {

// Kept back from the free bytes: the CUDA context's lazy allocations, cuBLASLt's heuristics,
// NCCL's buffers and allocator fragmentation are not in the plan.
constexpr double kMicroBatchHeadroom = 0.10;
// The most tokens (sequences x seq_len) a derived micro-batch holds (see above).
constexpr int64_t kMaxMicroBatchTokens = 65536;

struct MicroBatchPlan {
  int64_t micro_batch = 0;
  int64_t planned_bytes = 0;  // device bytes of a step at that micro-batch
  int64_t free_bytes = 0;
  int64_t usable_bytes = 0;   // free_bytes less the headroom
  bool derived = false;       // false: the script (or --set) chose it
  bool capped = false;        // derived at the cap: larger candidates left out by kMaxMicroBatchTokens
  std::string describe() const;  // one line for the run's log
};

// step_sequences: sequences of one optimizer step over all ranks (train.batch_tokens / seq_len).
// set_micro_batch: 0 derives it; otherwise it is checked (divides, suits the ranks, fits).
// planned_bytes(n): device bytes of a step whose micro-batches hold n sequences; called for the
// candidates from the largest down until one fits. seq_len: tokens per sequence, for the cap
// (0: no cap; a single sequence longer than the cap is still a candidate). Throws
// std::invalid_argument naming the planned bytes, the free bytes and the setting to change when
// nothing (or the set one) fits.
MicroBatchPlan plan_micro_batch(int64_t step_sequences, int64_t ranks, int64_t free_bytes, int64_t set_micro_batch,
                                const std::function<int64_t(int64_t)>& planned_bytes, int64_t seq_len);

// "12.35 GB" (decimal, as GPU memory is sold).
std::string gigabytes(int64_t bytes);

}  // namespace golf
