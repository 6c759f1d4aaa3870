// A model as the runtime sees it: one built graph with its parameters, the per-token loss and
// (optionally) the logits. The DSL builds these from a script; trainers and evaluators ask a
// factory for one per (mode, batch, seq) and share weights between them by parameter name.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "runtime/params.h"

namespace golf {

// A state input of a decode graph (docs/decoding.md): a KV cache per attention use, the previous
// step's x per token shift, the last ids per n-gram hash. Zero before the first step.
struct CacheInput {
  std::string name;  // "kv.3.k", "shift.4", "ngram.5"
  Shape shape;       // [B, C, Hkv, hd], [B, 1, ...], [B, n-1]
  bool integer = false;
};

struct ModelGraph {
  Graph graph;
  ParamStore store;
  Var loss;    // per-token loss [B·T]; inputs "tokens" and "targets" are [B, T] integers
  Var logits;  // [B·T, V], invalid when the model does not expose them
  // Decode graphs only ("decode", "prefill", "think"): the integer input "pos" [1] gives the
  // position of the step's first row; these caches (C rows each: the factory's seq argument for
  // "decode", seq + 1 for the other two) carry the past between steps.
  std::vector<CacheInput> caches;
  // Extra named results the script declares with core.output(name, x) (e.g. the combiner's
  // features "h" and "t1"); a caller asks for them by name and errs when one is missing.
  std::map<std::string, Var> outputs;
  virtual ~ModelGraph() = default;
};

// mode: "train", "eval", "generate", "calibrate", ... build [batch, seq] graphs; "decode" builds the
// one-token step of incremental decoding with caches of `seq` positions. "prefill" and "think"
// are decode graphs for windows of `seq` tokens whose caches hold seq + 1 rows: prefill feeds the
// window's `seq` tokens at positions 0.., think one more row at the position in "pos" (the
// linear combiner's thinking step, docs/seeds.md).
using GraphFactory = std::function<std::unique_ptr<ModelGraph>(const std::string& mode, int64_t batch, int64_t seq)>;
// Lua-pattern name matching, anchored (the script's rules use it); provided by the DSL.
using NameMatcher = std::function<bool(const std::string& name, const std::string& pattern)>;

}  // namespace golf
