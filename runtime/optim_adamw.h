// AdamW as an update graph, separate from the forward+backward graph: it reads each parameter,
// its gradient and its moments, and assigns the new values in place. The learning rate and the
// bias corrections are scalar graph inputs (schedule scalars), so one planned graph serves every
// step and a captured CUDA graph would pick up new values without re-capture.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/executor.h"

namespace golf {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.0;
};

// Inputs: "<name>", "grad.<name>", "adam_m.<name>", "adam_v.<name>" per parameter and the
// scalars "lr", "bias1" (1 − β1^t) and "bias2" (1 − β2^t).
void build_adamw_update(Graph& g, const ParamStore& store, const std::vector<std::string>& names, const AdamWConfig& cfg);

class AdamW {
 public:
  AdamW(ParamStore& store, std::vector<std::string> names, AdamWConfig cfg, DType real = DType::f32);
  // One update of the "live" weights from `grads` (name -> gradient tensor).
  void step(const std::map<std::string, Tensor>& grads, double lr);
  int64_t steps_taken() const { return t_; }
  const Tensor& moment(const std::string& which, const std::string& name) const;  // "m" or "v"

 private:
  ParamStore& store_;
  std::vector<std::string> names_;
  AdamWConfig cfg_;
  Graph g_;
  std::unique_ptr<Executor> ex_;
  std::map<std::string, Tensor> m_, v_;
  Tensor lr_, bias1_, bias2_;
  int64_t t_ = 0;
};

}  // namespace golf
