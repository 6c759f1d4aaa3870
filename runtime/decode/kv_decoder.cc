#include "runtime/decode/kv_decoder.h"

#include "runtime/train/evaluate.h"

#include <map>
#include <stdexcept>

namespace golf {

KvDecoder::KvDecoder(const GraphFactory& factory, ParamStore& weights, const std::string& set, int64_t context,
                     DType real, Device device)
    : context_(context) {
  if (context <= 0)
    throw std::invalid_argument("incremental decoding: the cache must hold at least one position, got a context of " +
                                std::to_string(context));
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

namespace {

Var named_output(const ModelGraph& m, const std::string& mode, const std::string& name) {
  auto it = m.outputs.find(name);
  if (it == m.outputs.end())
    throw std::runtime_error("the model's " + mode + " graph declares no output '" + name +
                             "' (core.output): it has no linear combiner (examples/combiner.lua)");
  return it->second;
}

Tensor to_host(const Tensor& t) { return t.device() == Device::cpu ? t.clone() : t.to_device(Device::cpu); }

}  // namespace

WindowThinker::WindowThinker(const GraphFactory& factory, ParamStore& weights, const std::string& set, int64_t batch,
                             int64_t window, DType real, Device device, size_t memory_budget)
    : batch_(batch), window_(window), device_(device) {
  if (batch <= 0 || window <= 0)
    throw std::invalid_argument("thinking step: batch and window must be positive, got batch " + std::to_string(batch) +
                                " and window " + std::to_string(window));
  prefill_ = factory("prefill", batch, window);
  think_ = factory("think", batch, window);
  Var h = named_output(*prefill_, "prefill", "h"), t1 = named_output(*think_, "think", "t1");
  if (h.shape() != t1.shape() || h.rank() != 3 || h.dim(0) != batch || h.dim(1) != 1)
    throw std::runtime_error("thinking step: outputs h " + shape_str(h.shape()) + " and t1 " + shape_str(t1.shape()) +
                             " must both be [" + std::to_string(batch) + ", 1, D]");
  dim_ = h.dim(2);
  // The two graphs share the caches: the same attention uses, in the same order.
  if (prefill_->caches.size() != think_->caches.size())
    throw std::runtime_error("thinking step: the prefill graph has " + std::to_string(prefill_->caches.size()) +
                             " cache inputs, the think graph " + std::to_string(think_->caches.size()));
  ExecOptions opt{real, true, device};
  Var prefill_loss = prefill_->loss, think_loss = think_->loss;
  if (memory_budget > 0) {
    prefill_loss = golfrt_scored_loss(*prefill_);
    think_loss = golfrt_scored_loss(*think_);
    opt.max_bytes = memory_budget;
  }
  prefill_exec_ = std::make_unique<Executor>(prefill_->graph, std::vector<Var>{prefill_loss, h}, opt);
  think_exec_ = std::make_unique<Executor>(think_->graph, std::vector<Var>{think_loss, t1}, opt);
  std::map<std::string, size_t> on_device;
  for (ModelGraph* m : {prefill_.get(), think_.get()}) {
    Executor& ex = m == prefill_.get() ? *prefill_exec_ : *think_exec_;
    for (const ParamSpec& p : m->store.specs()) {
      const Tensor& t = weights.get(p.name, set);
      if (t.shape() != p.shape)
        throw std::runtime_error("thinking step: parameter '" + p.name + "' is " + shape_str(t.shape()) +
                                 " in the weights but " + shape_str(p.shape) + " in the graph");
      if (device == Device::cpu) {
        ex.bind(p.name, t);
        continue;
      }
      auto it = on_device.find(p.name);
      if (it == on_device.end()) {
        device_weights_.push_back(t.to_device(device));
        it = on_device.emplace(p.name, device_weights_.size() - 1).first;
      }
      ex.bind(p.name, device_weights_[it->second]);
    }
  }
  for (size_t i = 0; i < prefill_->caches.size(); i++) {
    const CacheInput& c = prefill_->caches[i];
    const CacheInput& d = think_->caches[i];
    if (c.name != d.name || c.shape != d.shape || c.integer != d.integer)
      throw std::runtime_error("thinking step: cache " + c.name + " " + shape_str(c.shape) + " of the prefill graph is " +
                               d.name + " " + shape_str(d.shape) + " in the think graph");
    if (c.name.rfind("kv.", 0) != 0)
      throw std::runtime_error("thinking step: state '" + c.name + "' (a token shift or n-gram hash) has no value for " +
                               "a row fed an embedding instead of a token; the combiner needs a model whose only " +
                               "state is its KV caches");
    caches_.emplace_back(c.shape, real, device);
    prefill_exec_->bind(c.name, caches_.back());
    think_exec_->bind(c.name, caches_.back());
  }
  tokens_ = Tensor({batch, window}, DType::i32);
  targets_ = Tensor({batch, window}, DType::i32);
  think_targets_ = Tensor({batch, 1}, DType::i32);
  pos0_ = Tensor({1}, DType::i32);
  pos_t_ = Tensor({1}, DType::i32);
  pos_t_.set(0, double(window));
  prefill_exec_->bind("tokens", tokens_);
  prefill_exec_->bind("targets", targets_);
  prefill_exec_->bind("pos", pos0_);
  // The thinking row has no token: its "tokens" input stays zero (never the target it predicts).
  think_exec_->bind("tokens", Tensor({batch, 1}, DType::i32));
  think_exec_->bind("targets", think_targets_);
  think_exec_->bind("pos", pos_t_);
}

void WindowThinker::run(const std::vector<int32_t>& rows) {
  const int64_t B = batch_, T = window_;
  if (int64_t(rows.size()) != B * (T + 1))
    throw std::invalid_argument("thinking step: expects " + std::to_string(B) + " rows of " + std::to_string(T + 1) +
                                " tokens, got " + std::to_string(rows.size()) + " ids");
  int32_t* x = tokens_.data<int32_t>();
  int32_t* y = targets_.data<int32_t>();
  for (int64_t b = 0; b < B; b++) {
    for (int64_t i = 0; i < T; i++) {
      x[b * T + i] = rows[size_t(b * (T + 1) + i)];
      y[b * T + i] = rows[size_t(b * (T + 1) + i + 1)];
    }
    think_targets_.set(b, rows[size_t(b * (T + 1) + T)]);
  }
  prefill_exec_->run();
  Tensor loss = to_host(prefill_exec_->result(0));
  base_loss_ = Tensor({B}, DType::f64);
  for (int64_t b = 0; b < B; b++) base_loss_.set(b, loss.get(b * T + T - 1));
  h_ = to_host(prefill_exec_->result(1));
  if (device_ == Device::cpu) think_exec_->bind("h", h_);
  else think_exec_->bind("h", h_.to_device(device_));
  think_exec_->run();
  combined_loss_ = to_host(think_exec_->result(0)).to(DType::f64);
  t1_ = to_host(think_exec_->result(1));
}

}  // namespace golf
