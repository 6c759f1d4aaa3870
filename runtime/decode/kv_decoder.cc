#include "runtime/decode/kv_decoder.h"

#include <stdexcept>

namespace golf {

KvDecoder::KvDecoder(const GraphFactory& factory, ParamStore& weights, const std::string& set, int64_t context,
                     DType real, Device device)
    : context_(context) {
  if (context <= 0) throw std::invalid_argument("incremental decoding: the cache must hold at least one position");
  model_ = factory("decode", 1, context);
  if (!model_->logits.valid()) throw std::runtime_error("the model's build() returns no logits: it cannot generate");
  if (model_->caches.empty())
    throw std::runtime_error("the decode graph has no attention cache: the model never calls attention, or builds it "
                             "in a way the decode mode does not see");
  exec_ = std::make_unique<Executor>(model_->graph, std::vector<Var>{model_->logits}, ExecOptions{real, true, device});
  for (const ParamSpec& p : model_->store.specs()) {
    const Tensor& t = weights.get(p.name, set);
    if (t.shape() != p.shape)
      throw std::runtime_error("decoding: parameter '" + p.name + "' is " + shape_str(t.shape()) +
                               " in the weights but " + shape_str(p.shape) + " in the decode graph");
    if (device == Device::cpu) {
      exec_->bind(p.name, t);
    } else {
      device_weights_.push_back(t.to_device(device));
      exec_->bind(p.name, device_weights_.back());
    }
  }
  for (const CacheInput& c : model_->caches) {
    caches_.emplace_back(c.shape, c.integer ? DType::i32 : real, device);
    exec_->bind(c.name, caches_.back());
  }
  tokens_ = Tensor({1, 1}, DType::i32);
  pos_in_ = Tensor({1}, DType::i32);
  exec_->bind("tokens", tokens_);
  exec_->bind("targets", Tensor({1, 1}, DType::i32));
  exec_->bind("pos", pos_in_);
  vocab_ = model_->logits.dim(-1);
  logits_.resize(size_t(vocab_));
}

// The states start at zero: token_shift's previous x at position 0 is zero. (KV rows past the
// position are never read, so for the caches zeroing is hygiene: nothing stale can leak.)
void KvDecoder::reset() {
  for (Tensor& c : caches_) c.fill(0);
  pos_ = 0;
}

const float* KvDecoder::step(int token) {
  if (pos_ >= context_)
    throw std::out_of_range("incremental decoding: the cache of " + std::to_string(context_) +
                            " positions is full (reset() and feed a shorter window)");
  tokens_.set(0, token);
  pos_in_.set(0, double(pos_));
  exec_->run();
  const Tensor& l = exec_->result(0);
  for (int64_t v = 0; v < vocab_; v++) logits_[size_t(v)] = float(l.get(v));
  pos_++;
  return logits_.data();
}

}  // namespace golf
