#include "runtime/train/micro_batch_plan.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <vector>

namespace golf {

std::string gigabytes(int64_t bytes) {
  char s[32];
  std::snprintf(s, sizeof s, "%.2f GB", double(bytes) / 1e9);
  return s;
}

std::string MicroBatchPlan::describe() const {
  return "micro_batch " + std::to_string(micro_batch) + (derived ? " (derived)" : " (set)") + ": " +
         gigabytes(planned_bytes) + " planned of " + gigabytes(usable_bytes) + " usable (" + gigabytes(free_bytes) +
         " free, " + std::to_string(int(kMicroBatchHeadroom * 100)) + "% kept back)" +
         (capped ? "; larger ones exceed " + std::to_string(kMaxMicroBatchTokens) + " tokens per micro-batch" : "");
}

MicroBatchPlan plan_micro_batch(int64_t step_sequences, int64_t ranks, int64_t free_bytes, int64_t set_micro_batch,
                                const std::function<int64_t(int64_t)>& planned_bytes, int64_t seq_len) {
  if (step_sequences <= 0 || ranks <= 0 || free_bytes < 0 || seq_len < 0)
    throw std::invalid_argument("plan_micro_batch: " + std::to_string(step_sequences) + " sequences per step, " +
                                std::to_string(ranks) + " ranks, " + std::to_string(free_bytes) + " free bytes");
  // Candidates, largest first: n divides the step and the step's n-sequence micro-batches share
  // evenly over the ranks.
  std::vector<int64_t> candidates;
  for (int64_t n = step_sequences; n >= 1; n--)
    if (step_sequences % n == 0 && (step_sequences / n) % ranks == 0) candidates.push_back(n);
  if (candidates.empty())
    throw std::invalid_argument("the " + std::to_string(step_sequences) + " sequences of a step (train.batch_tokens / "
                                "seq_len) cannot be split into micro-batches that " + std::to_string(ranks) +
                                " ranks share evenly: change train.batch_tokens or the rank count");
  MicroBatchPlan p;
  p.free_bytes = free_bytes;
  p.usable_bytes = int64_t(double(free_bytes) * (1.0 - kMicroBatchHeadroom));
  auto largest_fitting = [&](int64_t below, int64_t* bytes) -> int64_t {
    for (int64_t n : candidates) {
      if (n >= below) continue;
      int64_t b = planned_bytes(n);
      if (b <= p.usable_bytes) {
        *bytes = b;
        return n;
      }
    }
    return 0;
  };
  if (set_micro_batch > 0) {
    if (step_sequences % set_micro_batch)
      throw std::invalid_argument("train.micro_batch (" + std::to_string(set_micro_batch) + ") must divide the " +
                                  std::to_string(step_sequences) + " sequences of a step");
    if ((step_sequences / set_micro_batch) % ranks)
      throw std::invalid_argument("train.micro_batch " + std::to_string(set_micro_batch) + " makes " +
                                  std::to_string(step_sequences / set_micro_batch) + " micro-batches per step, which " +
                                  std::to_string(ranks) + " ranks cannot share evenly");
    p.micro_batch = set_micro_batch;
    p.planned_bytes = planned_bytes(set_micro_batch);
    if (p.planned_bytes > p.usable_bytes) {
      int64_t fit_bytes = 0;
      int64_t fit = largest_fitting(set_micro_batch, &fit_bytes);
      throw std::invalid_argument(
          "train.micro_batch " + std::to_string(set_micro_batch) + " plans " + gigabytes(p.planned_bytes) +
          " of device memory, and the device has " + gigabytes(free_bytes) + " free (" + gigabytes(p.usable_bytes) +
          " usable): " +
          (fit ? "set --set train.micro_batch=" + std::to_string(fit) + " (plans " + gigabytes(fit_bytes) +
                     "), or leave train.micro_batch unset to derive it"
               : std::string("no micro_batch fits; lower train.batch_tokens or the model's size")));
    }
    return p;
  }
  p.derived = true;
  // The cap: only candidates of at most kMaxMicroBatchTokens tokens (the smallest one always).
  int64_t above = step_sequences + 1;
  if (seq_len > 0) above = std::max<int64_t>(kMaxMicroBatchTokens / seq_len, candidates.back()) + 1;
  p.micro_batch = largest_fitting(above, &p.planned_bytes);
  // Capped: memory would allow more, the cap took the largest candidate below it.
  for (int64_t n : candidates)
    if (n < above) {
      p.capped = p.micro_batch == n && candidates.front() >= above;
      break;
    }
  if (p.micro_batch == 0) {
    const int64_t smallest = candidates.back();
    throw std::invalid_argument("no micro_batch fits the device: micro_batch " + std::to_string(smallest) + " plans " +
                                gigabytes(planned_bytes(smallest)) + ", and the device has " + gigabytes(free_bytes) +
                                " free (" + gigabytes(p.usable_bytes) +
                                " usable); lower train.batch_tokens or the model's size");
  }
  return p;
}

}  // namespace golf
