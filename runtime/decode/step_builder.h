// The decode step builder (docs/decoding.md): the four ops whose graph differs when a model is built
// as one step of incremental decoding — token shift, n-gram hash, RoPE and attention — decided in
// one place, for the Lua binding (dsl/lua_core.cc only binds) and for models built with the C++
// API (examples/cpp/copy_task.cc) alike. Built for a full sequence it returns the plain ops; built
// for a decode step it names the state inputs ("kv.N.k", "shift.N", "ngram.N"), adds the `assign`
// effects that carry them to the next step, and records them as the graph's caches.
#pragma once
#include <string>
#include <vector>

#include "runtime/model_graph.h"
#include "runtime/ops.h"

namespace golf {

// Raised by ops that mix positions in a way a decode step cannot reproduce; the generator
// recognizes it and falls back to full recomputation, saying so.
constexpr const char* kNotIncremental = "cannot decode incrementally";

class DecodeStepBuilder {
 public:
  // context 0: a full-sequence graph (train, eval, ...). context > 0: a decode step whose caches
  // hold `context` positions, with the integer input "pos" [1] giving the step's first position.
  DecodeStepBuilder(Graph& g, int64_t context);

  bool decoding() const { return context_ > 0; }
  int64_t context() const { return context_; }
  // The step's position input, made on first use (decode steps only).
  Var position();
  // The state inputs made so far, in build order (ModelGraph::caches).
  const std::vector<CacheInput>& caches() const { return caches_; }
  std::vector<CacheInput> take_caches() { return std::move(caches_); }

  // token_shift(x, k). A decode step carries x [B, 1, ...] to the next step in "shift.N" (zero
  // before the first step, as token_shift's t = 0); only k = 1 has such a state.
  Var token_shift(Var x, int64_t k);
  // ngram_hash(tokens, h). A decode step keeps the last n−1 ids [B, n−1] in "ngram.N".
  Var ngram_hash(Var tokens, const NgramHash& h);
  // rope(x, ...). A decode step starts at its position, with the NTK rescale of a sequence as long
  // as the cache.
  Var rope(Var x, int64_t dims, double base, int64_t train_len, bool inverse);
  // attention(q, k, v). In a decode step each call is one attention use with its own KV cache
  // ("kv.N.k", "kv.N.v" [B, context, Hkv, hd]): k and v are the step's new rows, and y attends
  // over everything the cache holds; lse is then invalid.
  AttentionOut attention(Var q, Var k, Var v, double scale, bool xsa);

 private:
  Graph* g_;
  int64_t context_;
  Var pos_;
  std::vector<CacheInput> caches_;
};

}  // namespace golf
