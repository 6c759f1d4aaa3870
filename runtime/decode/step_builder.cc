#include "runtime/decode/step_builder.h"

#include <stdexcept>

namespace golf {

DecodeStepBuilder::DecodeStepBuilder(Graph& g, int64_t context) : g_(&g), context_(context) {}

Var DecodeStepBuilder::position() {
  if (!pos_.valid()) {
    // The input is shared by every op that reads it, so it is not located at the first of them.
    std::string loc = g_->location();
    g_->set_location("input");
    pos_ = input(*g_, "pos", {1}, true);
    g_->set_location(loc);
  }
  return pos_;
}

// The step reads the state through a copy made before the assign that stores this step's x; nodes
// run in build order, so the read always sees the previous step.
Var DecodeStepBuilder::token_shift(Var x, int64_t k) {
  if (!decoding()) return golf::token_shift(x, k);
  if (k != 1)
    throw std::runtime_error("token_shift by " + std::to_string(k) + " carries no state across decode steps: this model " +
                             kNotIncremental);
  if (x.integer() || x.rank() < 2 || x.dim(1) != 1)
    throw std::runtime_error("token_shift: expects a real [B, 1, ...] tensor in decode mode");
  std::string name = "shift." + std::to_string(caches_.size());
  Var state = input(*g_, name, x.shape());
  caches_.push_back({name, x.shape()});
  Var prev = scale(state, 1.0);
  assign(state, x);
  return prev;
}

// The window is the state and the step's id, read before the assign that stores its last n−1 ids.
Var DecodeStepBuilder::ngram_hash(Var tokens, const NgramHash& h) {
  if (!decoding()) return golf::ngram_hash(tokens, h);
  if (tokens.rank() != 2 || tokens.dim(1) != 1) throw std::runtime_error("ngram_hash: expects ids [B, 1] in decode mode");
  std::string name = "ngram." + std::to_string(caches_.size());
  Shape shape{tokens.dim(0), int64_t(h.n - 1)};
  Var state = input(*g_, name, shape, true);
  caches_.push_back({name, shape, true});
  Var window = concat({state, tokens}, 1);
  Var bucket = ngram_hash_at(window, position(), h);
  assign(state, slice(window, 1, 1, h.n));
  return bucket;
}

Var DecodeStepBuilder::rope(Var x, int64_t dims, double base, int64_t train_len, bool inverse) {
  if (!decoding()) return golf::rope(x, dims, base, train_len, inverse);
  return rope_at(x, position(), dims, base, train_len, context_, inverse);
}

AttentionOut DecodeStepBuilder::attention(Var q, Var k, Var v, double scale, bool xsa) {
  if (!decoding()) return golf::attention(q, k, v, scale, xsa);
  if (k.rank() != 4) throw std::runtime_error("attention: expects k [B, T, Hkv, hd]");
  // Named by half the number of states made so far, as decode graphs always were (the names are
  // bound by callers, e.g. WindowThinker's "kv." check).
  std::string base = "kv." + std::to_string(caches_.size() / 2);
  Shape shape{k.dim(0), context_, k.dim(2), k.dim(3)};
  Var kc = input(*g_, base + ".k", shape), vc = input(*g_, base + ".v", shape);
  caches_.push_back({base + ".k", shape});
  caches_.push_back({base + ".v", shape});
  return AttentionOut{attention_cached(q, k, v, kc, vc, position(), scale, xsa), Var()};
}

}  // namespace golf
