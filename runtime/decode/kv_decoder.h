// Incremental decoding with KV caches (docs/decoding.md): the model's "decode" graph takes one
// token at a position held in an integer input, and each attention use reads and extends its own
// cache, so a new token costs one position's work instead of the whole window's.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "runtime/executor.h"
#include "runtime/model_graph.h"

namespace golf {

class KvDecoder {
 public:
  // Builds the decode graph with caches of `context` positions and binds the weights of `set`.
  // The factory's errors pass through unchanged (a model that cannot decode incrementally says so
  // there).
  // On Device::cuda the weights are copied to the device once and the caches live there.
  KvDecoder(const GraphFactory& factory, ParamStore& weights, const std::string& set, int64_t context,
            DType real = DType::f32, Device device = Device::cpu);

  // Empties the caches; the next token goes to position 0.
  void reset();
  // Feeds `token` at position() and returns the logits that predict the next one ([V]).
  const float* step(int token);
  int64_t position() const { return pos_; }
  int64_t context() const { return context_; }
  int64_t vocab() const { return vocab_; }
  size_t cache_count() const { return caches_.size(); }

 private:
  std::unique_ptr<ModelGraph> model_;
  std::unique_ptr<Executor> exec_;
  std::vector<Tensor> caches_;
  std::vector<Tensor> device_weights_;
  Tensor tokens_, pos_in_;
  std::vector<float> logits_;
  int64_t context_, vocab_ = 0, pos_ = 0;
};

// The linear combiner's thinking step with the KV cache (docs/seeds.md, "Linear combiner"), for
// B windows of T tokens at once. "prefill" (a decode graph of T rows, caches of T + 1 rows) runs
// each window at positions 0..T−1 and gives the base's loss at the last position and h (the
// final-RMSNorm output there); "think" (one row at position T, input "h") feeds RMSNorm(h) as that
// row's embedding and gives T_1 and the combined loss. Row T of the caches is scratch: the next
// window's prefill starts again at row 0, so the thinking step is never kept.
class WindowThinker {
 public:
  // memory_budget > 0: an untrusted artifact (golfrt decode): both losses are golfrt's
  // cross-entropy of the graphs' logits (golfrt_scored_loss, runtime/train/evaluate.h), never the
  // script's, and each plan must fit the budget.
  WindowThinker(const GraphFactory& factory, ParamStore& weights, const std::string& set, int64_t batch, int64_t window,
                DType real = DType::f32, Device device = Device::cpu, size_t memory_budget = 0);

  // rows: batch × (T + 1) token ids, each a window and the token after it (the target).
  void run(const std::vector<int32_t>& rows);
  int64_t batch() const { return batch_; }
  int64_t window() const { return window_; }
  int64_t dim() const { return dim_; }
  // Of the last run, on the host: the per-window losses [B] and the features [B, 1, D].
  const Tensor& base_loss() const { return base_loss_; }
  const Tensor& combined_loss() const { return combined_loss_; }
  const Tensor& h() const { return h_; }
  const Tensor& t1() const { return t1_; }

 private:
  std::unique_ptr<ModelGraph> prefill_, think_;
  std::unique_ptr<Executor> prefill_exec_, think_exec_;
  std::vector<Tensor> caches_, device_weights_;
  Tensor tokens_, targets_, think_targets_, pos0_, pos_t_;
  Tensor base_loss_, combined_loss_, h_, t1_;
  int64_t batch_, window_, dim_ = 0;
  Device device_;
};

}  // namespace golf
