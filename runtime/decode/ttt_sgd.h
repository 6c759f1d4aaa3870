// The whole-model trainer of test-time training (runtime/decode/ttt.h): SGD with momentum on
// windows of already-scored tokens, with golfrt's cross-entropy of the model's logits as the loss.
// Used by the sgd scheme for each chunk and by the lora scheme's global passes.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/decode/ttt.h"
#include "runtime/train_step.h"

namespace golf {

class SgdTrainer {
 public:
  SgdTrainer(const TttSettings& s, const GraphFactory& factory, ParamStore& store, int64_t seq);
  // Trains settings.epochs epochs on the windows of seq tokens that cover tokens[lo .. hi] (every
  // target at most hi; a last window may reach back before lo, to tokens scored even earlier).
  // Returns the optimizer steps taken.
  int64_t train_span(const std::vector<uint16_t>& tokens, int64_t lo, int64_t hi, double lr);

 private:
  struct Compiled {
    std::unique_ptr<ModelGraph> model;
    std::unique_ptr<TrainStep> step;
  };
  TrainStep& step_for(int64_t batch);
  void update(const std::map<std::string, Tensor>& grads, double lr);

  const TttSettings& s_;
  GraphFactory factory_;
  ParamStore& store_;
  int64_t seq_;
  std::map<int64_t, Compiled> graphs_;
  std::map<std::string, std::vector<float>> velocity_;
};

// The sgd scheme (run_ttt with scheme "sgd").
TttResult run_ttt_sgd(const TttSettings& s, const GraphFactory& factory, ParamStore& store, Evaluator& ev,
                      const std::vector<uint16_t>& tokens, const ByteTable& table, const Evaluator::Windows& w,
                      const std::function<void(const TttProgress&)>& on_chunk);

// The lora scheme (runtime/decode/ttt_lora.cc).
TttResult run_ttt_lora(const TttSettings& s, const GraphFactory& factory, ParamStore& store, int64_t seq,
                       const std::vector<uint16_t>& tokens, const ByteTable& table, const Evaluator::Windows& w,
                       const NameMatcher& names, const std::function<void(const TttProgress&)>& on_chunk);

}  // namespace golf
