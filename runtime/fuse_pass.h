// The graph rewrite that introduces the fused ops (runtime/ops.def, "fused") in place of the
// unfused chains the DSL's library emits, so that scripts never change. It runs on a forward
// graph, before autograd, so each fused op's gradient rule brings its fused backward:
//   add(mul(wa, a), mul(wb, b))      -> mix(a, b, wa, wb)        golf.Block's resid_mix
//   add(x, mul(s, y))                -> add_scaled(x, y, s)      attn_scale, mlp_scale, U-Net skips
//   square(relu(h)), square(leaky_relu(h, k)) -> relu2(h, k)     golf.MLP's relu2, leaky_relu2
//   rope(rms_norm(x))                -> rms_norm_rope(x)         golf.Attention's k
//   mul(rope(rms_norm(x)), gain)     -> rms_norm_rope_gain(x, gain)   its q with the q gain
//   scale(rms_norm(x), c)            -> rms_norm_scaled(x, c)    golf.Block's LN scale
// (weights per channel: [D] or [1, ..., 1, D] against [..., D]; the gain [H, 1] against
// [B, T, H, hd]). A chain is fused only where its inner values have no other reader and are not
// results of the graph. The trainer applies it to the graphs it runs on CUDA (runtime/train/
// trainer.cc); the CPU's graphs stay unfused unless asked for (tests/fuse_pass_test.cc).
#pragma once
#include <string>
#include <vector>

#include "runtime/graph.h"
#include "runtime/model_graph.h"

namespace golf {

struct FuseCounts {
  int mix = 0, add_scaled = 0, relu2 = 0, rms_norm_rope = 0, rms_norm_rope_gain = 0, rms_norm_scaled = 0;
  int total() const { return mix + add_scaled + relu2 + rms_norm_rope + rms_norm_rope_gain + rms_norm_scaled; }
  std::string str() const;  // "mix 5, add_scaled 22, ..."
};

struct FusedGraph {
  Graph graph;
  std::vector<std::vector<Value>> map;  // map[node][out]: the value in `graph` (invalid: fused away)
  FuseCounts counts;
  Value at(Value v) const { return map.at(size_t(v.node)).at(size_t(v.out)); }
};

// Which chains to fuse (all by default; the byte accounting of docs/perf.md turns them on one at a
// time). norm_rope covers rms_norm_rope and rms_norm_rope_gain.
struct FuseKinds {
  bool mix = true, add_scaled = true, relu2 = true, norm_rope = true, rms_norm_scaled = true;
  static FuseKinds none() { return {false, false, false, false, false}; }
  // "all", "none" or a comma-separated list of mix, add_scaled, relu2, norm_rope, rms_norm_scaled;
  // throws naming an unknown kind.
  static FuseKinds parse(const std::string& list);
};

// `results`: the values the caller reads (loss, logits, named outputs); they survive the rewrite.
FusedGraph fuse_graph(const Graph& g, const std::vector<Value>& results, const FuseKinds& kinds = {});

// Rewrites a model's graph in place; its loss, logits and outputs follow.
FuseCounts fuse_model(ModelGraph& m, const FuseKinds& kinds = {});

// A factory whose graphs are rewritten by fuse_model.
GraphFactory fused_factory(GraphFactory factory, const FuseKinds& kinds = {});

}  // namespace golf
