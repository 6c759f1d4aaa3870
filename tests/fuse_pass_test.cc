// runtime/fuse_pass: the rewrite the CUDA trainer applies, switched on here for the CPU. On the
// baseline's tiny preset (and variants with the LN scale and leaky relu²) every chain the DSL
// emits is matched (counted by fused node), no unfused chain is left, the backward uses the fused
// backward ops, and the rewritten graph's loss and every gradient equal the unfused graph's:
// relative norm error < 1e-12 in fp64 (the same math, summed in another order) and < 1e-5 in
// fp32 (products and norms rounded at other points; on the baseline the worst is a q gain's
// gradient, a sum with heavy cancellation, at 4.8e-6; record's deeper stack: < 6e-5). Every parameter is randomized (the zero
// inits of the output projections would hide the attention and MLP paths). The backward's
// gradient sums are folded as TrainStep folds them (fold_gradient_sums: counted, none left, none
// on the unfused graph); the folded ops add after rounding as the unfused adds do, so the errors
// above are the fused forward ops' alone (the same with the folds off).
#include <map>

#include <gtest/gtest.h>


#include "dsl/script.h"
#include "kernels/channel_chunks.h"
#include "runtime/device_ledger.h"
#include "runtime/autograd.h"
#include "runtime/executor.h"
#include "runtime/fuse_pass.h"
#include "runtime/rng.h"
#include "runtime/train_step.h"
#include "tests/support/golden.h"

namespace golf {
namespace {

constexpr int64_t kBatch = 2, kSeq = 16;

int count_ops(const Graph& g, Op op) {
  int c = 0;
  for (const Node& n : g.nodes()) c += n.op == op;
  return c;
}

// The chains fuse_pass replaces, counted in a graph: each outer node fed by its inner one (for
// the residual stream's adds, a product with a per-channel weight of more than one value; the
// parallel lanes' [1] scalars are not chains of the pass).
int unfused_chains(const Graph& g) {
  int c = 0;
  for (const Node& n : g.nodes()) {
    auto from = [&](size_t i, Op op) { return i < n.inputs.size() && g.node(n.inputs[i].node).op == op; };
    auto channel_product = [&](size_t i) {
      if (!from(i, Op::mul)) return false;
      const Node& m = g.node(n.inputs[i].node);
      const Shape& out = m.outs[0].shape;
      for (const Value& w : m.inputs) {
        const Shape& s = g.shape(w);
        if (s.size() < out.size() && !s.empty() && s.back() == out.back() && s.back() > 1 && shape_numel(s) == s.back())
          return true;
      }
      return false;
    };
    if (n.op == Op::square && (from(0, Op::relu) || from(0, Op::leaky_relu))) c++;
    if (n.op == Op::rope && from(0, Op::rms_norm)) c++;
    if (n.op == Op::add && (channel_product(0) || channel_product(1))) c++;
    if (n.op == Op::scale && from(0, Op::rms_norm)) c++;
    if (n.op == Op::rms_norm && (from(0, Op::mix) || from(0, Op::add_scaled))) c++;  // the pre-norm
  }
  return c;
}

struct Run {
  Tensor loss;
  std::vector<std::pair<std::string, Tensor>> grads;
};

// The adds of the backward (nodes first..) that fold_gradient_sums should have folded: an operand
// made by a matmul or rms_norm_backward that nothing else reads, shaped as the sum; or the du of a
// channel_scale_backward that nothing else reads, the other operand (behind reshapes) made before it.
int unfolded_sums(const Graph& g, int first) {
  std::vector<int> uses(size_t(g.size()), 0);
  std::map<std::pair<int, int>, int> value_uses;
  for (const Node& n : g.nodes())
    for (const Value& v : n.inputs) uses[size_t(v.node)]++, value_uses[{v.node, v.out}]++;
  auto root = [&](Value v) {
    while (g.node(v.node).op == Op::reshape) v = g.node(v.node).inputs[0];
    return v;
  };
  int c = 0;
  for (int id = first; id < g.size(); id++) {
    const Node& n = g.node(id);
    if (n.op != Op::add) continue;
    for (int k = 0; k < 2; k++) {
      const Value v = n.inputs[size_t(k)], other = n.inputs[size_t(1 - k)];
      const Node& p = g.node(v.node);
      const bool same = g.shape(n.inputs[0]) == g.shape(n.inputs[1]) && p.outs[0].shape == n.outs[0].shape;
      if ((p.op == Op::matmul || p.op == Op::rms_norm_backward) && uses[size_t(v.node)] == 1 && same) {
        c++;
        break;
      }
      if (p.op == Op::channel_scale_backward && v.out == 0 && value_uses[{v.node, 0}] == 1 && same &&
          root(other).node < v.node) {
        c++;
        break;
      }
    }
  }
  return c;
}

// Loss and every gradient of the model on one random batch, with every parameter random. The
// gradient sums are folded as TrainStep folds them (by the graph's gradient_folds: none unfused).
Run run_model(ModelGraph& m, DType dtype, int64_t vocab, FoldCounts* folds = nullptr, int* unfolded = nullptr) {
  Var loss = mean_all(m.loss);
  const int first = m.graph.size();
  std::vector<Gradient> grads = backward(loss);
  const FoldCounts f = fold_gradient_sums(m.graph, first, {loss.v}, m.graph.gradient_folds());
  if (folds) *folds = f;
  if (unfolded) *unfolded = unfolded_sums(m.graph, first);
  std::vector<Var> outs = {loss};
  for (const Gradient& g : grads) outs.push_back(g.grad);
  m.store.initialize(0, dtype);
  Rng rng(17);
  for (const ParamSpec& p : m.store.specs()) {
    if (p.is_buffer()) continue;
    Tensor& t = m.store.get(p.name);
    for (int64_t i = 0; i < t.numel(); i++) t.set(i, 0.3 * rng.normal() + (p.shape.size() == 1 ? 1.0 : 0.0));
  }
  Tensor tokens({kBatch, kSeq}, DType::i32), targets({kBatch, kSeq}, DType::i32);
  for (int64_t i = 0; i < tokens.numel(); i++) {
    tokens.set(i, int32_t(rng.below(uint64_t(vocab))));
    targets.set(i, int32_t(rng.below(uint64_t(vocab))));
  }
  Executor ex(m.graph, outs, {dtype});
  ex.bind_params(m.store);
  ex.bind("tokens", tokens);
  ex.bind("targets", targets);
  ex.run();
  Run r;
  r.loss = ex.result(0).clone();
  for (size_t i = 0; i < grads.size(); i++) r.grads.emplace_back(grads[i].name, ex.result(i + 1).clone());
  return r;
}

struct Expect {
  std::vector<std::pair<std::string, std::string>> sets;
  FuseCounts counts;
  FoldCounts folds;
};

void check_variant(const std::string& example, const Expect& e, DType dtype, double tol) {
  ModelScript script(std::string(GOLFRT_SOURCE_DIR) + "/examples/" + example, Overrides{"tiny", e.sets});
  const int64_t vocab = script.config_count("vocab");
  auto plain = script.build("train", kBatch, kSeq);
  auto fused = script.build("train", kBatch, kSeq);
  const int before = fused->graph.size();
  const FuseCounts c = fuse_model(*fused);
  EXPECT_EQ(c.str(), e.counts.str());
  // The pre-norm: a mix or add_scaled chain that took the rms_norm after it is the two-output op.
  EXPECT_EQ(count_ops(fused->graph, Op::mix), c.mix - c.mix_rms_norm);
  EXPECT_EQ(count_ops(fused->graph, Op::add_scaled), c.add_scaled - c.add_scaled_rms_norm);
  EXPECT_EQ(count_ops(fused->graph, Op::mix_rms_norm), c.mix_rms_norm);
  EXPECT_EQ(count_ops(fused->graph, Op::add_scaled_rms_norm), c.add_scaled_rms_norm);
  EXPECT_EQ(count_ops(fused->graph, Op::rms_norm), count_ops(plain->graph, Op::rms_norm) - c.mix_rms_norm -
                                                        c.add_scaled_rms_norm - c.rms_norm_rope - c.rms_norm_rope_gain -
                                                        c.rms_norm_scaled);
  EXPECT_EQ(count_ops(fused->graph, Op::relu2), c.relu2);
  EXPECT_EQ(count_ops(fused->graph, Op::rms_norm_rope), c.rms_norm_rope);
  EXPECT_EQ(count_ops(fused->graph, Op::rms_norm_rope_gain), c.rms_norm_rope_gain);
  EXPECT_EQ(count_ops(fused->graph, Op::rms_norm_scaled), c.rms_norm_scaled);
  EXPECT_GT(unfused_chains(plain->graph), 0);
  EXPECT_EQ(unfused_chains(fused->graph), 0) << "a chain the pass should have fused is left";
  EXPECT_LT(fused->graph.size(), before);

  FoldCounts none, folds;
  int unfolded_plain = 0, unfolded_fused = 0;
  const Run a = run_model(*plain, dtype, vocab, &none, &unfolded_plain);
  const Run b = run_model(*fused, dtype, vocab, &folds, &unfolded_fused);
  // The gradient sums: the unfused graph keeps its adds, the fused one folds every one of them.
  EXPECT_EQ(none.matmul_add + none.rms_norm_backward_add + none.channel_scale_backward_add, 0);
  EXPECT_EQ(count_ops(plain->graph, Op::matmul_add) + count_ops(plain->graph, Op::rms_norm_backward_add), 0);
  EXPECT_GT(unfolded_plain, 0);
  EXPECT_EQ(unfolded_fused, 0) << "a gradient sum the folds should have taken is left";
  EXPECT_EQ(folds.matmul_add, e.folds.matmul_add);
  EXPECT_EQ(folds.rms_norm_backward_add, e.folds.rms_norm_backward_add);
  EXPECT_EQ(folds.channel_scale_backward_add, e.folds.channel_scale_backward_add);
  EXPECT_EQ(count_ops(fused->graph, Op::matmul_add), folds.matmul_add);
  EXPECT_EQ(count_ops(fused->graph, Op::rms_norm_backward_add), folds.rms_norm_backward_add);
  EXPECT_EQ(count_ops(fused->graph, Op::channel_scale_backward_add), folds.channel_scale_backward_add);
  EXPECT_EQ(count_ops(plain->graph, Op::channel_scale_backward_add), 0);
  // The backward of the fused graph runs the fused backward ops, once per fused forward use (a
  // channel_scale_backward folded in place is a channel_scale_backward_add).
  EXPECT_EQ(count_ops(fused->graph, Op::channel_scale_backward) + folds.channel_scale_backward_add,
            2 * c.mix + c.add_scaled);
  EXPECT_EQ(count_ops(fused->graph, Op::relu2_backward), c.relu2);
  EXPECT_EQ(count_ops(fused->graph, Op::rms_norm_rope_backward), c.rms_norm_rope);
  EXPECT_EQ(count_ops(fused->graph, Op::rms_norm_rope_gain_backward), c.rms_norm_rope_gain);
  EXPECT_EQ(count_ops(fused->graph, Op::rms_norm_scaled_backward), c.rms_norm_scaled);

  EXPECT_LT(rel_err(b.loss, a.loss), tol) << "loss " << b.loss.get(0) << " vs " << a.loss.get(0);
  ASSERT_EQ(a.grads.size(), b.grads.size());
  double worst = 0;
  for (size_t i = 0; i < a.grads.size(); i++) {
    ASSERT_EQ(a.grads[i].first, b.grads[i].first);
    const double err = rel_err(b.grads[i].second, a.grads[i].second);
    EXPECT_LT(err, tol) << "gradient of " << a.grads[i].first;
    worst = std::max(worst, err);
  }
  std::printf("%s: loss %.9g vs %.9g, worst gradient error %.3g over %zu tensors\n", dtype_name(dtype), b.loss.get(0),
              a.loss.get(0), worst, a.grads.size());
}

// tiny: 5 blocks, so 5 resid_mix, 2 × 5 block scales + 2 U-Net skips, 5 MLPs, 5 q and 5 k paths.
// Folds: the normed input's gradient, q's + k's + v's (two adds per block), and the tied
// embedding's (its lm-head product plus the lookup's scatter): 11 matmul_add; the residual's
// gradient through each block's two norms: 10 rms_norm_backward_add.
Expect baseline_tiny() {
  Expect e;
  e.counts.mix = 5, e.counts.add_scaled = 12, e.counts.relu2 = 5, e.counts.rms_norm_rope = 5, e.counts.rms_norm_rope_gain = 5;
  // The pre-norms: each block's attention norm reads its mix (5), its MLP norm the attention's
  // scale-add (5), and the final norm the last block's MLP scale-add (1).
  e.counts.mix_rms_norm = 5, e.counts.add_scaled_rms_norm = 6;
  e.folds.matmul_add = 11, e.folds.rms_norm_backward_add = 10;
  // x0's gradient, one part per block's mix: 4 sums; each encoder output's (the next block's mix
  // and the U-Net skip): 2; one more where a skip's sum meets the first decoder block's: 7.
  e.folds.channel_scale_backward_add = 7;
  return e;
}
// examples/record.lua's tiny preset: 17 virtual layers (blocks 3-5 looped three times), the last 3
// parallel; leaky relu², partial RoPE, the LN scale (both norms of each virtual layer), a gated
// U-Net of 8 skips. mix: 14 sequential resid_mix + 3 parallel attention inputs + 8 gated skips
// (g⊙x + (1−g)⊙skip); add_scaled: the 14 sequential layers' two scales (the parallel lanes scale
// by [1] scalars, which are not per channel, and read each branch twice).
Expect record_tiny() {
  Expect e;
  e.counts.mix = 25, e.counts.add_scaled = 28, e.counts.relu2 = 17, e.counts.rms_norm_rope = 17;
  e.counts.rms_norm_rope_gain = 17, e.counts.rms_norm_scaled = 34;
  // Folds: the q/k/v input sums of every virtual layer and the weight gradients summed over the
  // looped blocks' reuses and the tied embedding; its norms are all rms_norm_scaled, whose
  // backward has no folded form, so no rms_norm_backward_add.
  e.folds.matmul_add = 94, e.folds.rms_norm_backward_add = 0;
  e.folds.channel_scale_backward_add = 27;  // x0's 24 sums over 25 mixes, and the skips'
  return e;
}

TEST(FusePass, baseline_tiny_fp64_equals_the_unfused_graph) { check_variant("baseline.lua", baseline_tiny(), DType::f64, 1e-12); }
TEST(FusePass, baseline_tiny_fp32_equals_the_unfused_graph) { check_variant("baseline.lua", baseline_tiny(), DType::f32, 1e-5); }
TEST(FusePass, record_tiny_fp64_equals_the_unfused_graph) { check_variant("record.lua", record_tiny(), DType::f64, 1e-12); }
// 17 virtual layers of random weights carry fp32 rounding further: measured worst 3.2e-5.
TEST(FusePass, record_tiny_fp32_equals_the_unfused_graph) { check_variant("record.lua", record_tiny(), DType::f32, 6e-5); }

// A gradient sum folds only where its producer has no other reader and is not a result (folding
// would compute the product twice), in place (node ids stay), and a chain of sums folds from its
// outermost add in: add(add(m1, m2), m3) -> matmul_add(.., matmul_add(.., m1)).
TEST(FusePass, gradient_sums_fold_in_place_where_the_producer_has_no_other_reader) {
  Graph g;
  Var x = input(g, "x", {3, 4}), w = input(g, "w", {5, 4}), c = input(g, "c", {3, 5}), dy = input(g, "dy", {3, 5});
  Var m1 = matmul(x, w, false, true), m2 = matmul(x, w, false, true), m3 = matmul(x, w, false, true);
  Var chain = add(add(m1, m2), m3);
  Var shared = matmul(x, w, false, true);
  Var s_shared = shared + c, other = shared * c;  // the product has two readers
  Var result = matmul(x, w, false, true);
  Var s_result = c + result;                      // the product is a result
  Var nb = make_op(attrs::rms_norm_backward{.eps = 1e-6}, {c, dy});
  Var s_norm = c + nb;
  const int size = g.size();
  GradientFolds all;
  all.matmul_add = all.rms_norm_backward_add = true;
  const FoldCounts f = fold_gradient_sums(g, 0, {chain.v, s_shared.v, other.v, s_result.v, result.v, s_norm.v}, all);
  EXPECT_EQ(f.matmul_add, 2);
  EXPECT_EQ(f.rms_norm_backward_add, 1);
  EXPECT_EQ(g.size(), size);
  const Node& outer = g.node(chain.v.node);
  ASSERT_EQ(outer.op, Op::matmul_add);
  EXPECT_TRUE(outer.inputs[0] == x.v && outer.inputs[1] == w.v);
  EXPECT_EQ(outer.ints, (std::vector<int64_t>{0, 1}));  // matmul's transposes, kept
  const Node& inner = g.node(outer.inputs[2].node);
  ASSERT_EQ(inner.op, Op::matmul_add);
  EXPECT_TRUE(inner.inputs[2] == m1.v || inner.inputs[2] == m2.v);
  EXPECT_EQ(g.node(s_shared.v.node).op, Op::add);
  EXPECT_EQ(g.node(s_result.v.node).op, Op::add);
  const Node& norm = g.node(s_norm.v.node);
  ASSERT_EQ(norm.op, Op::rms_norm_backward_add);
  EXPECT_TRUE(norm.inputs[0] == c.v && norm.inputs[1] == dy.v && norm.inputs[2] == c.v);
  EXPECT_EQ(norm.floats, (std::vector<double>{1e-6}));
  // Nodes before `first` (the forward) are never rewritten; no kinds, nothing.
  Graph g2;
  Var y = add(matmul(input(g2, "x", {3, 4}), input(g2, "w", {4, 5})), input(g2, "c", {3, 5}));
  EXPECT_EQ(fold_gradient_sums(g2, g2.size(), {y.v}, all).matmul_add, 0);
  EXPECT_EQ(fold_gradient_sums(g2, 0, {y.v}, GradientFolds{}).matmul_add, 0);
  EXPECT_EQ(g2.node(y.v.node).op, Op::add);
  EXPECT_EQ(FuseKinds::parse("matmul_add").matmul_add, true);
  EXPECT_EQ(FuseKinds::parse("matmul_add").norm_backward_add, false);
  EXPECT_EQ(FuseKinds::parse("norm_backward_add").norm_backward_add, true);
  EXPECT_EQ(FuseKinds::none().matmul_add || FuseKinds::none().norm_backward_add, false);
}

// channel_scale_backward's sums fold into the producer, in place: the later producer of a sum
// takes the earlier part as its addend, the add becomes a view (a reshape) of it, and a chain folds
// from its innermost add out, each later producer reading the sum so far through that view. Not
// folded: a du read elsewhere or a result, a sum whose other part is made after the producer.
TEST(FusePass, channel_scale_sums_fold_into_the_later_producer) {
  Graph g;
  const Shape s{2, 3, 4};
  Var u = input(g, "u", s), w = input(g, "w", {1, 4}), dy = input(g, "dy", s), late = input(g, "late", s);
  auto csb = [&]() { return make_op(attrs::channel_scale_backward{}, {u, w, dy}); };
  Var p1 = csb(), p2 = csb(), p3 = csb();
  Var dw1 = output(p1, 1), dw2 = output(p2, 1);
  Var chain = add(p3, add(p1, p2));  // either operand order
  Var q1 = csb(), q2 = csb();
  Var read_elsewhere = add(q1, q2), other = q2 * u;  // q2's du has another reader
  Var r1 = csb(), r2 = csb();
  Var s_result = add(r1, r2);  // r2 is a result
  Var t1 = csb();
  Var after = make_op(attrs::channel_scale_backward{}, {u, w, late});
  Var s_after = add(t1, after);  // folds: after is the later one and takes t1
  Var v1 = csb();
  Var made_later = exp(u);
  Var s_later = add(v1, made_later);  // the other part comes after v1: nothing folds
  const int size = g.size();
  GradientFolds all;
  all.channel_scale_backward_add = true;
  const FoldCounts f =
      fold_gradient_sums(g, 0, {chain.v, dw1.v, dw2.v, read_elsewhere.v, other.v, s_result.v, r2.v, s_after.v, s_later.v}, all);
  EXPECT_EQ(f.channel_scale_backward_add, 3);
  EXPECT_EQ(f.matmul_add + f.rms_norm_backward_add, 0);
  EXPECT_EQ(g.size(), size);
  EXPECT_EQ(g.node(p1.v.node).op, Op::channel_scale_backward);
  const Node& n2 = g.node(p2.v.node);
  ASSERT_EQ(n2.op, Op::channel_scale_backward_add);
  EXPECT_TRUE(n2.inputs[0] == u.v && n2.inputs[1] == w.v && n2.inputs[2] == dy.v && n2.inputs[3] == p1.v);
  const Node& n3 = g.node(p3.v.node);
  ASSERT_EQ(n3.op, Op::channel_scale_backward_add);
  EXPECT_TRUE(n3.inputs[3] == p2.v) << "p3 reads the first sum through its view, from its producer";
  const Node& outer = g.node(chain.v.node);
  ASSERT_EQ(outer.op, Op::reshape);
  EXPECT_TRUE(outer.inputs[0] == p3.v);
  EXPECT_EQ(g.shape(chain.v), s);
  EXPECT_EQ(g.node(q2.v.node).op, Op::channel_scale_backward);
  EXPECT_EQ(g.node(read_elsewhere.v.node).op, Op::add);
  EXPECT_EQ(g.node(r2.v.node).op, Op::channel_scale_backward);
  EXPECT_EQ(g.node(s_result.v.node).op, Op::add);
  EXPECT_EQ(g.node(after.v.node).op, Op::channel_scale_backward_add);
  EXPECT_EQ(g.node(v1.v.node).op, Op::channel_scale_backward);
  EXPECT_EQ(g.node(s_later.v.node).op, Op::add);
  EXPECT_EQ(FuseKinds::parse("scale_backward_add").scale_backward_add, true);
  EXPECT_EQ(FuseKinds::parse("matmul_add").scale_backward_add, false);
  EXPECT_EQ(FuseKinds::none().scale_backward_add, false);

  // The folded graph computes what the adds computed, bit for bit (fp32). Failed with the CPU
  // kernel's sum in the product's expression (GCC contracted it into a fused multiply-add).
  Graph plain;
  Var pu = input(plain, "u", s), pw = input(plain, "w", {1, 4}), pdy = input(plain, "dy", s);
  auto pcsb = [&]() { return make_op(attrs::channel_scale_backward{}, {pu, pw, pdy}); };
  Var a1 = pcsb(), a2 = pcsb(), a3 = pcsb();
  Var pchain = add(a3, add(a1, a2));
  Rng rng(5);
  std::map<std::string, Tensor> bound;
  for (const char* name : {"u", "w", "dy", "late"}) {
    Tensor t(name == std::string("w") ? Shape{1, 4} : s, DType::f32);
    for (int64_t i = 0; i < t.numel(); i++) t.set(i, rng.normal());
    bound.emplace(name, t);
  }
  Executor ef(g, {chain, dw1, dw2}, {DType::f32});
  Executor ep(plain, {pchain, output(a1, 1), output(a2, 1)}, {DType::f32});
  for (const char* name : {"u", "w", "dy", "late"}) ef.bind(name, bound.at(name));
  for (const char* name : {"u", "w", "dy"}) ep.bind(name, bound.at(name));
  ef.run();
  ep.run();
  for (size_t k = 0; k < 3; k++) {
    ASSERT_EQ(ef.result(k).numel(), ep.result(k).numel());
    for (int64_t i = 0; i < ef.result(k).numel(); i++)
      ASSERT_EQ(ef.result(k).get(i), ep.result(k).get(i)) << "result " << k << " element " << i;
  }
}

// TrainStep folds the gradient sums of the graphs fuse_model marked, and of no other: the CPU's
// graphs keep autograd's adds.
TEST(FusePass, train_step_folds_the_sums_of_fused_graphs_only) {
  ModelScript script(std::string(GOLFRT_SOURCE_DIR) + "/examples/baseline.lua", Overrides{"tiny", {}});
  for (bool fuse : {false, true}) {
    auto m = script.build("train", kBatch, kSeq);
    if (fuse) fuse_model(*m);
    m->store.initialize(0, DType::f32);
    TrainStep step(m->graph, mean_all(m->loss), m->store);
    EXPECT_EQ(count_ops(m->graph, Op::matmul_add), fuse ? 11 : 0);
    EXPECT_EQ(count_ops(m->graph, Op::rms_norm_backward_add), fuse ? 10 : 0);
    EXPECT_EQ(count_ops(m->graph, Op::channel_scale_backward_add), fuse ? 7 : 0);
  }
  auto m = script.build("train", kBatch, kSeq);
  FuseKinds k;
  k.norm_backward_add = false;
  fuse_model(*m, k);
  m->store.initialize(0, DType::f32);
  TrainStep step(m->graph, mean_all(m->loss), m->store);
  EXPECT_EQ(count_ops(m->graph, Op::matmul_add), 11);
  EXPECT_EQ(count_ops(m->graph, Op::rms_norm_backward_add), 0);
  EXPECT_EQ(count_ops(m->graph, Op::channel_scale_backward_add), 7);
}

// A chain whose inner value has another reader, or is a result, stays as it is: fusing it would
// compute that value twice.
TEST(FusePass, an_inner_value_read_elsewhere_is_not_fused) {
  Graph g;
  Var x = input(g, "x", {3, 4}), s = input(g, "s", {4}), y = input(g, "y", {3, 4});
  Var h = relu(x);
  Var sq = square(h);
  Var shared = s * y;
  Var sum1 = x + shared;
  Var other = shared + y;  // reads the product too
  FusedGraph f = fuse_graph(g, {sq.v, sum1.v, other.v, h.v});
  EXPECT_EQ(f.counts.total(), 0) << f.counts.str();
  EXPECT_EQ(f.graph.size(), g.size());
  // Without the extra readers both chains fuse.
  FusedGraph f2 = fuse_graph(g, {sq.v, sum1.v});
  EXPECT_EQ(f2.counts.relu2, 1);
  EXPECT_EQ(f2.counts.add_scaled, 0);  // `other` still reads the product
}

// The ledger counts the fused ops' launches as kernels/cuda/ makes them: one each, but two for
// channel_scale_backward (partial column sums into scratch, then their totals).
TEST(FusePass, cuda_costs_of_the_fused_ops_follow_their_kernels) {
  Graph g;
  Var x = input(g, "x", {2, 300, 16}), y = input(g, "y", {2, 300, 16}), s = input(g, "s", {16});
  Var q = input(g, "q", {2, 5, 4, 8}), gain = input(g, "gain", {4, 1});
  std::vector<Var> fused = {add_scaled(x, y, s), mix(x, y, s, s), relu2(x, 0.5), rms_norm_scaled(x, 1e-6, 0.5),
                            rms_norm_rope(q, 1e-6, 8, 1e4), rms_norm_rope_gain(q, gain, 1e-6, 8, 1e4)};
  auto cost = [&](const Node& n) {
    std::vector<Shape> ins, outs;
    for (const Value& v : n.inputs) ins.push_back(g.spec(v).shape);
    for (const OutSpec& o : n.outs) outs.push_back(o.shape);
    return cuda_node_cost(n, ins, outs, true);
  };
  for (const Var& v : fused) EXPECT_EQ(cost(g.node(v.v.node)).launches, 1) << op_info(g.node(v.v.node).op).name;
  Var d = make_op(attrs::channel_scale_backward{}, {y, s, x});
  const CudaNodeCost c = cost(g.node(d.v.node));
  EXPECT_EQ(c.launches, 2);
  // 600 rows: chunks of 32 rows (the minimum), 19 of them, 16 partial sums each in double.
  EXPECT_EQ(kernels::channel_chunks(600, 16).chunks, 19);
  EXPECT_EQ(c.scratch_bytes, 19 * 16 * 8);

  // The gradient folds: matmul_add costs what its matmul costs (the addend is read by the GEMM's
  // epilogue: no launch of its own), rms_norm_backward_add one launch as rms_norm_backward.
  Var a = input(g, "a", {2, 300, 16}), w = input(g, "w", {24, 16}), acc = input(g, "acc", {2, 300, 24});
  const int mm_id = matmul(a, w, false, true).v.node, mma_id = matmul_add(a, w, acc, false, true).v.node;
  const Node &mm = g.node(mm_id), &mma = g.node(mma_id);  // no node is added below
  for (uint32_t cached : {0u, 2u}) {
    std::vector<Shape> ins = {g.shape(a.v), g.shape(w.v)}, outs = {g.shape(acc.v)};
    const CudaNodeCost plain = cuda_node_cost(mm, ins, outs, true, true, cached);
    ins.push_back(g.shape(acc.v));
    const CudaNodeCost folded = cuda_node_cost(mma, ins, outs, true, true, cached);
    EXPECT_EQ(folded.launches, plain.launches);
    EXPECT_EQ(folded.scratch_bytes, plain.scratch_bytes);
  }
  const int nb_id = rms_norm_backward_add(x, y, x, 1e-6).v.node;
  EXPECT_EQ(cost(g.node(nb_id)).launches, 1);
  // channel_scale_backward_add: channel_scale_backward's two launches and scratch (the addend is
  // read by the same kernel); the pre-norm fused into the residual op: one launch.
  Var cs = channel_scale_backward_add(y, s, x, x);
  const CudaNodeCost ca = cost(g.node(cs.v.node));
  EXPECT_EQ(ca.launches, 2);
  EXPECT_EQ(ca.scratch_bytes, 19 * 16 * 8);
  const int mn = mix_rms_norm(x, y, s, s, 1e-6).v.node, an = add_scaled_rms_norm(x, y, s, 1e-6).v.node;
  EXPECT_EQ(cost(g.node(mn)).launches, 1);
  EXPECT_EQ(cost(g.node(an)).launches, 1);
}

// The pre-norm fuses only with mix / add_scaled on and residual_norm on; the stream keeps its
// other readers (output 0), a second norm of the same stream stays an rms_norm, and a norm of an
// unfused sum stays as it is.
TEST(FusePass, the_pre_norm_joins_the_residual_op_before_it) {
  Graph g;
  const Shape s{2, 3, 8};
  Var x = input(g, "x", s), y = input(g, "y", s), w = input(g, "w", {8}), w2 = input(g, "w2", {1, 8});
  Var stream = x + w * y;                  // add_scaled
  Var n1 = rms_norm(stream, 1e-5);         // joins it
  Var n2 = rms_norm(stream, 1e-5);         // a second norm of the same stream: stays
  Var next = w2 * stream + w * x;          // mix, reading the stream: its norm joins it too
  Var n3 = rms_norm(next, 1e-6);
  Var plain_sum = x + y;
  Var n4 = rms_norm(plain_sum, 1e-6);      // no residual op before it
  const std::vector<Value> results = {n1.v, n2.v, next.v, n3.v, n4.v};
  FusedGraph f = fuse_graph(g, results);
  EXPECT_EQ(f.counts.add_scaled, 1);
  EXPECT_EQ(f.counts.mix, 1);
  EXPECT_EQ(f.counts.add_scaled_rms_norm, 1);
  EXPECT_EQ(f.counts.mix_rms_norm, 1);
  const Value fn1 = f.at(n1.v), fn3 = f.at(n3.v), fnext = f.at(next.v);
  EXPECT_EQ(f.graph.node(fn1.node).op, Op::add_scaled_rms_norm);
  EXPECT_EQ(fn1.out, 1);
  EXPECT_EQ(f.graph.node(fn1.node).floats, (std::vector<double>{1e-5}));
  EXPECT_EQ(f.graph.node(f.at(n2.v).node).op, Op::rms_norm);
  EXPECT_TRUE(f.graph.node(f.at(n2.v).node).inputs[0] == (Value{fn1.node, 0})) << "the second norm reads output 0";
  EXPECT_EQ(f.graph.node(fn3.node).op, Op::mix_rms_norm);
  EXPECT_TRUE((fnext == Value{fn3.node, 0}) && fn3.out == 1);
  EXPECT_TRUE(f.graph.node(fn3.node).inputs[0] == (Value{fn1.node, 0})) << "the mix reads the stream";
  EXPECT_EQ(f.graph.node(f.at(n4.v).node).op, Op::rms_norm);

  FuseKinds k;
  k.residual_norm = false;
  FusedGraph off = fuse_graph(g, results, k);
  EXPECT_EQ(off.counts.mix_rms_norm + off.counts.add_scaled_rms_norm, 0);
  EXPECT_EQ(count_ops(off.graph, Op::rms_norm), 4);

  // Bit for bit in fp32 what the residual ops and rms_norm compute one after the other (the CPU
  // kernels are those two in turn), and the unfused graph's numbers within fp32 rounding (the
  // compiler may fuse add_scaled's multiply and add where mul and add round twice).
  Rng rng(3);
  std::map<std::string, Tensor> bound;
  for (const char* name : {"x", "y", "w", "w2"}) {
    const std::string nm = name;
    Tensor t(nm == "w" ? Shape{8} : nm == "w2" ? Shape{1, 8} : s, DType::f32);
    for (int64_t i = 0; i < t.numel(); i++) t.set(i, rng.normal());
    bound.emplace(nm, t);
  }
  auto run = [&](Graph& gr, const std::vector<Value>& outs) {
    std::vector<Var> vars;
    for (const Value& v : outs) vars.push_back(Var(&gr, v));
    Executor ex(gr, vars, {DType::f32});
    for (const auto& [name, t] : bound) ex.bind(name, t);
    ex.run();
    std::vector<Tensor> r;
    for (size_t q = 0; q < outs.size(); q++) r.push_back(ex.result(q));
    return r;
  };
  std::vector<Value> fused_outs, off_outs;
  for (const Value& v : results) fused_outs.push_back(f.at(v)), off_outs.push_back(off.at(v));
  const std::vector<Tensor> rp = run(g, results), rf = run(f.graph, fused_outs), ro = run(off.graph, off_outs);
  for (size_t q = 0; q < results.size(); q++)
    for (int64_t i = 0; i < rp[q].numel(); i++) {
      ASSERT_EQ(rf[q].get(i), ro[q].get(i)) << "result " << q << " element " << i;
      ASSERT_NEAR(rf[q].get(i), rp[q].get(i), 1e-5 * (1 + std::fabs(rp[q].get(i)))) << "result " << q << " element " << i;
    }
  EXPECT_EQ(FuseKinds::parse("residual_norm").residual_norm, true);
  EXPECT_EQ(FuseKinds::parse("mix").residual_norm, false);
  EXPECT_EQ(FuseKinds::none().residual_norm, false);
}

}  // namespace
}  // namespace golf
