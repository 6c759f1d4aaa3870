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

}  // namespace golf
