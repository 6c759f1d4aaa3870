// The graph rewrite that introduces the fused ops (runtime/ops.def, "fused") in place of the
// unfused chains the DSL's library emits, so that scripts never change. It runs on a forward
// graph, before autograd, so each fused op's gradient rule brings its fused backward:
//   add(mul(wa, a), mul(wb, b))      -> mix(a, b, wa, wb)        golf.Block's resid_mix
//   add(x, mul(s, y))                -> add_scaled(x, y, s)      attn_scale, mlp_scale, U-Net skips
//   square(relu(h)), square(leaky_relu(h, k)) -> relu2(h, k)     golf.MLP's relu2, leaky_relu2
//   rope(rms_norm(x))                -> rms_norm_rope(x)         golf.Attention's k
//   mul(rope(rms_norm(x)), gain)     -> rms_norm_rope_gain(x, gain)   its q with the q gain
//   scale(rms_norm(x), c)            -> rms_norm_scaled(x, c)    golf.Block's LN scale
//   rms_norm(mix(..)), rms_norm(add_scaled(..)) -> mix_rms_norm, add_scaled_rms_norm: the stream
//                                       (output 0, its other readers kept) and its norm (output 1);
//                                       golf.Block's pre-norms of the stream it just wrote
// and, once autograd has written the backward (TrainStep, through Graph::gradient_folds), the
// gradient sums into their producers, rewritten in place:
//   add(matmul(a, b), c)             -> matmul_add(a, b, c)      the q/k/v input gradients' sums
//   add(rms_norm_backward(x, dy), acc) -> rms_norm_backward_add(x, dy, acc)   the residual's gradient
//   add(channel_scale_backward(u, w, g).du, acc) -> channel_scale_backward_add(u, w, g, acc)
//                                       the x0 stream's and the U-Net skips' gradients; rewritten at
//                                       the producer's place, the add becoming a view of it
//                                       (fuse_pass.cc says why), chains from the innermost add out
// (either operand order; chains fold from the outermost add in: add(add(m1, m2), m3) becomes
// matmul_add(.., matmul_add(.., m1)).)
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
  // of the mix and add_scaled chains, those that took the rms_norm after them (no more chains)
  int mix_rms_norm = 0, add_scaled_rms_norm = 0;
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
// matmul_add, norm_backward_add and scale_backward_add are the gradient folds (GradientFolds);
// residual_norm the pre-norm joining the mix / add_scaled before it.
struct FuseKinds {
  bool mix = true, add_scaled = true, relu2 = true, norm_rope = true, rms_norm_scaled = true;
  bool matmul_add = true, norm_backward_add = true, scale_backward_add = true;
  bool residual_norm = true;  // rms_norm(mix) / rms_norm(add_scaled): only with mix / add_scaled on
  static FuseKinds none() { return {false, false, false, false, false, false, false, false, false}; }
  // "all", "none" or a comma-separated list of mix, add_scaled, relu2, norm_rope, rms_norm_scaled,
  // matmul_add, norm_backward_add, scale_backward_add, residual_norm; throws naming an unknown kind.
  static FuseKinds parse(const std::string& list);
};

// `results`: the values the caller reads (loss, logits, named outputs); they survive the rewrite.
FusedGraph fuse_graph(const Graph& g, const std::vector<Value>& results, const FuseKinds& kinds = {});

// The gradient folds: rewrites, in place, the adds among nodes first.. (the backward autograd
// appended) whose operand is a matmul or rms_norm_backward read by that add alone and not in
// `results`. Node ids and values do not change; the folded producers are left unread. A
// channel_scale_backward's sum folds into the producer instead (its du read by the add alone and
// not in `results`, the addend made earlier), and the add becomes a reshape of it (a view).
struct FoldCounts {
  int matmul_add = 0, rms_norm_backward_add = 0, channel_scale_backward_add = 0;
};
FoldCounts fold_gradient_sums(Graph& g, int first, const std::vector<Value>& results, const GradientFolds& folds);

// Rewrites a model's graph in place; its loss, logits and outputs follow. The graph carries the
// kinds' gradient folds (Graph::gradient_folds) for TrainStep to apply after autograd.
FuseCounts fuse_model(ModelGraph& m, const FuseKinds& kinds = {});

// A factory whose graphs are rewritten by fuse_model.
GraphFactory fused_factory(GraphFactory factory, const FuseKinds& kinds = {});

}  // namespace golf
