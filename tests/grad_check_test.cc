// Gradient checks for every op of runtime/ops.def, one CTest entry per op (GradCheck/<op>):
//   FD        autograd vs central finite differences in fp64 on random inputs, on the op's case of
//             the shared table (tests/support/op_cases.h) at CaseSize::grad
//   BACKWARD  the op must appear in (and so be exercised by) the FD check of its forward op; one
//             that only the gradient folds introduce: FD through a folded graph (check_folded_op)
//   STE       the gradient must equal the identity's
//   EFFECT    runs and writes exactly what it declares
//   LEAF      has no inputs and no gradient rule output
// CTest names them AllOps/OpGrad.check/<op>. An FD op without a case in the table fails its test:
// adding an op to ops.def without a check is red.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "runtime/autograd.h"
#include "runtime/executor.h"
#include "runtime/fuse_pass.h"
#include "runtime/params.h"
#include "runtime/rng.h"
#include "tests/support/op_cases.h"

namespace golf {
namespace {

std::set<Op> ops_in(const Graph& g) {
  std::set<Op> s;
  for (const Node& n : g.nodes()) s.insert(n.op);
  return s;
}

void bind_all(Executor& ex, BuiltCase& b) {
  ex.bind_params(b.store);
  ex.bind("probe", b.probe);
  for (auto& [name, t] : b.ints) ex.bind(name, t);
}

void check_fd(const std::string& op) {
  auto it = op_cases().find(op);
  ASSERT_NE(it, op_cases().end()) << "op '" << op << "' is declared FD in ops.def but has no case in tests/support/op_cases.h";
  auto b = build_op_case(it->second, CaseSize::grad, 1234, DType::f64);
  ASSERT_TRUE(ops_in(b->g).count(op_by_name(op))) << "the case for '" << op << "' does not use it";
  const std::vector<std::string> names = b->g.param_names();
  std::vector<Gradient> grads = backward(b->loss, names);
  std::vector<Var> outs = {b->loss};
  bool zero = it->second.zero_gradient;
  for (const Gradient& gr : grads) {
    // A piecewise-constant op's rule emits no gradient at all; finite differences must agree.
    ASSERT_EQ(gr.grad.valid(), !zero) << (zero ? "a gradient reached " : "no gradient reached ") << gr.name;
    outs.push_back(zero ? b->out : gr.grad);
  }
  Executor ex(b->g, outs, {DType::f64});
  bind_all(ex, *b);
  ex.run();

  Executor fwd(b->g, {b->loss}, {DType::f64});
  bind_all(fwd, *b);
  auto loss_at = [&]() {
    fwd.run();
    return fwd.result(0).get(0);
  };
  const double h = 1e-6;
  double total_norm = 0;
  for (size_t p = 0; p < names.size(); p++) {
    Tensor& w = b->store.get(names[p]);
    const Tensor& ga = ex.result(p + 1);
    for (int64_t i = 0; i < w.numel(); i++) {
      double x0 = w.get(i);
      w.set(i, x0 + h);
      double lp = loss_at();
      w.set(i, x0 - h);
      double lm = loss_at();
      w.set(i, x0);
      double num = (lp - lm) / (2 * h);
      double ana = zero ? 0.0 : ga.get(i);
      total_norm += num * num;
      ASSERT_NEAR(ana, num, 1e-6 + 1e-6 * std::fabs(num))
          << op << ": d loss / d " << names[p] << "[" << i << "]";
    }
  }
  if (zero) EXPECT_EQ(total_norm, 0.0);
  else EXPECT_GT(total_norm, 1e-6) << op << ": a vacuous check (all gradients zero)";
}

// A backward op that only fold_gradient_sums introduces (runtime/fuse_pass.h): a graph whose
// gradient of x sums it with another part, folded, then its gradients against finite differences
// in fp64. rms_norm_backward_add: loss = Σ (rms_norm(x) + x⊙w)·probe, so that dL/dx =
// add(rms_norm_backward(x, probe), probe⊙w) becomes rms_norm_backward_add.
// channel_scale_backward_add: loss = Σ add_scaled(add_scaled(add_scaled(z, x, s1), x, s2), x, s3)·probe,
// so that dL/dx = add(add(s3⊙probe, s2⊙probe), s1⊙probe), a chain of two folds (the second reads
// the first through its view), and the scales' gradients come out of the folded ops' second output.
void check_folded_op(const std::string& op) {
  Graph g;
  ParamStore store;
  Scope s(store, g);
  Var probe = input(g, "probe", {3, 8});
  GradientFolds folds;
  std::vector<std::string> names;
  Var loss;
  if (op == "rms_norm_backward_add") {
    Var x = s.param("x", {3, 8}, Init::normal(1.0)), w = s.param("w", {3, 8}, Init::normal(1.0));
    loss = sum_all((rms_norm(x, 1e-6) + x * w) * probe);
    names = {"x", "w"};
    folds.rms_norm_backward_add = true;
  } else if (op == "channel_scale_backward_add") {
    Var x = s.param("x", {3, 8}, Init::normal(1.0)), z = s.param("z", {3, 8}, Init::normal(1.0));
    Var s1 = s.param("s1", {8}, Init::normal(1.0)), s2 = s.param("s2", {1, 8}, Init::normal(1.0));
    Var s3 = s.param("s3", {8}, Init::normal(1.0));
    loss = sum_all(add_scaled(add_scaled(add_scaled(z, x, s1), x, s2), x, s3) * probe);
    names = {"x", "s1", "s2", "s3", "z"};
    folds.channel_scale_backward_add = true;
  } else {
    FAIL() << "a folded BACKWARD op without a check: " << op;
  }
  const int first = g.size();
  std::vector<Gradient> grads = backward(loss, names);
  const FoldCounts f = fold_gradient_sums(g, first, {loss.v}, folds);
  EXPECT_EQ(f.rms_norm_backward_add + f.channel_scale_backward_add, op == "rms_norm_backward_add" ? 1 : 2);
  ASSERT_TRUE(ops_in(g).count(op_by_name(op)));
  Value xg = grads[0].grad.v;
  while (g.node(xg.node).op == Op::reshape) xg = g.node(xg.node).inputs[0];  // the fold's view
  EXPECT_EQ(g.node(xg.node).op, op_by_name(op)) << "x's gradient is not the folded op";
  store.initialize(11, DType::f64);
  Tensor pr({3, 8}, DType::f64);
  Rng rng(13);
  for (int64_t i = 0; i < pr.numel(); i++) pr.set(i, rng.normal());
  std::vector<Var> outs;
  for (const Gradient& gr : grads) outs.push_back(gr.grad);
  Executor ex(g, outs, {DType::f64});
  ex.bind_params(store);
  ex.bind("probe", pr);
  ex.run();
  Executor fwd(g, {loss}, {DType::f64});
  fwd.bind_params(store);
  fwd.bind("probe", pr);
  const double h = 1e-6;
  for (size_t p = 0; p < names.size(); p++) {
    Tensor& t = store.get(names[p]);
    for (int64_t i = 0; i < t.numel(); i++) {
      const double x0 = t.get(i);
      t.set(i, x0 + h);
      fwd.run();
      const double lp = fwd.result(0).get(0);
      t.set(i, x0 - h);
      fwd.run();
      const double lm = fwd.result(0).get(0);
      t.set(i, x0);
      const double num = (lp - lm) / (2 * h);
      ASSERT_NEAR(ex.result(p).get(i), num, 1e-6 + 1e-6 * std::fabs(num)) << op << ": d loss / d " << names[p] << "[" << i << "]";
    }
  }
}

void check_backward_op(const std::string& op) {
  if (op == "rms_norm_backward_add" || op == "channel_scale_backward_add") return check_folded_op(op);
  // The forward op whose gradient rule emits this op: its FD case must contain it after backward.
  static const std::map<std::string, std::string> forward_of = {
      {"gelu_grad", "gelu"},
      {"rms_norm_backward", "rms_norm"},
      {"attention_backward", "attention"},
      {"cross_entropy_backward", "cross_entropy"},
      {"soft_cross_entropy_backward", "soft_cross_entropy"},
      {"channel_scale_backward", "add_scaled"},
      {"relu2_backward", "relu2"},
      {"rms_norm_rope_backward", "rms_norm_rope"},
      {"rms_norm_rope_gain_backward", "rms_norm_rope_gain"},
      {"rms_norm_scaled_backward", "rms_norm_scaled"},
  };
  auto f = forward_of.find(op);
  ASSERT_NE(f, forward_of.end()) << "BACKWARD op '" << op << "' names no forward op in this test";
  auto b = build_op_case(op_cases().at(f->second), CaseSize::grad, 7, DType::f64);
  backward(b->loss, b->g.param_names());
  EXPECT_TRUE(ops_in(b->g).count(op_by_name(op))) << "the gradient of " << f->second << " does not use " << op;
}

void check_straight_through(const std::string& op) {
  ASSERT_EQ(op, "fake_quant") << "STE op without a check";
  Graph g;
  ParamStore store;
  Scope s(store, g);
  Var x = s.param("x", {3, 8}, Init::normal(1.0));
  Var probe = input(g, "probe", {3, 8});
  Var y = fake_quant(x, 4);
  Var loss = sum_all(y * probe);
  auto grads = backward(loss);
  store.initialize(3, DType::f64);
  Tensor pr({3, 8}, DType::f64);
  Rng rng(5);
  for (int64_t i = 0; i < pr.numel(); i++) pr.set(i, rng.normal());
  Executor ex(g, {grads[0].grad, y}, {DType::f64});
  ex.bind_params(store);
  ex.bind("probe", pr);
  ex.run();
  int differ = 0;
  for (int64_t i = 0; i < pr.numel(); i++) {
    EXPECT_EQ(ex.result(0).get(i), pr.get(i)) << "gradient of fake_quant is not the identity at " << i;
    differ += ex.result(1).get(i) != store.get("x").get(i);
  }
  EXPECT_GT(differ, 0) << "fake_quant changed nothing: the check would be vacuous";
}

// attention_cached after `p0` earlier positions must equal the last rows of attention over the
// whole sequence, write its k and v at rows p0.., and leave every other cache row alone.
void check_attention_cached(bool xsa) {
  const int64_t B = 2, T = 3, H = 4, Hkv = 2, hd = 4, C = 8, p0 = 2;
  Rng rng(7);
  auto rand = [&](Shape s) {
    Tensor t(s, DType::f64);
    for (int64_t i = 0; i < t.numel(); i++) t.set(i, rng.normal());
    return t;
  };
  Tensor qf = rand({B, p0 + T, H, hd}), kf = rand({B, p0 + T, Hkv, hd}), vf = rand({B, p0 + T, Hkv, hd});
  Tensor kc = rand({B, C, Hkv, hd}), vc = rand({B, C, Hkv, hd});
  for (int64_t b = 0; b < B; b++)  // the earlier positions, as earlier steps left them
    for (int64_t j = 0; j < p0 * Hkv * hd; j++) {
      kc.set(b * C * Hkv * hd + j, kf.get(b * (p0 + T) * Hkv * hd + j));
      vc.set(b * C * Hkv * hd + j, vf.get(b * (p0 + T) * Hkv * hd + j));
    }
  Tensor kc0 = kc.clone(), vc0 = vc.clone();
  Graph g;
  Var q = input(g, "qf", {B, p0 + T, H, hd}), k = input(g, "kf", {B, p0 + T, Hkv, hd}), v = input(g, "vf", {B, p0 + T, Hkv, hd});
  Var full_y = slice(attention(q, k, v, 0.5, xsa).y, 1, p0, p0 + T);
  Var y = attention_cached(slice(q, 1, p0, p0 + T), slice(k, 1, p0, p0 + T), slice(v, 1, p0, p0 + T),
                           input(g, "kc", {B, C, Hkv, hd}), input(g, "vc", {B, C, Hkv, hd}), input(g, "pos", {1}, true), 0.5, xsa);
  Tensor pos({1}, DType::i32);
  pos.set(0, double(p0));
  Executor ex(g, {full_y, y}, {DType::f64});
  for (auto& [name, t] : std::map<std::string, Tensor>{{"qf", qf}, {"kf", kf}, {"vf", vf}, {"kc", kc}, {"vc", vc}, {"pos", pos}})
    ex.bind(name, t);
  ex.run();
  for (int64_t i = 0; i < ex.result(0).numel(); i++) EXPECT_NEAR(ex.result(1).get(i), ex.result(0).get(i), 1e-12) << "y at " << i;
  for (int64_t b = 0; b < B; b++)
    for (int64_t r = 0; r < C; r++)
      for (int64_t j = 0; j < Hkv * hd; j++) {
        int64_t at = (b * C + r) * Hkv * hd + j;
        bool written = r >= p0 && r < p0 + T;
        int64_t src = (b * (p0 + T) + r) * Hkv * hd + j;
        EXPECT_EQ(kc.get(at), written ? kf.get(src) : kc0.get(at)) << "k cache row " << r;
        EXPECT_EQ(vc.get(at), written ? vf.get(src) : vc0.get(at)) << "v cache row " << r;
      }
  pos.set(0, double(C - T + 1));  // one row past the end
  EXPECT_THROW(ex.run(), std::exception);
}

void check_effect(const std::string& op) {
  if (op == "attention_cached") {
    check_attention_cached(false);
    check_attention_cached(true);
    return;
  }
  Graph g;
  Var target = input(g, "target", {4});
  Var value = input(g, "value", {4});
  if (op == "assign") assign(target, value * value);
  else if (op == "accumulate") accumulate(target, value * value);
  else FAIL() << "EFFECT op '" << op << "' without a check";
  Tensor t({4}, DType::f64), v({4}, DType::f64);
  for (int i = 0; i < 4; i++) t.set(i, 10 + i), v.set(i, i + 1);
  Executor ex(g, {}, {DType::f64});
  ex.bind("target", t);
  ex.bind("value", v);
  ex.run();
  ex.run();
  for (int i = 0; i < 4; i++)
    EXPECT_EQ(t.get(i), op == "assign" ? (i + 1) * (i + 1) : 10 + i + 2 * (i + 1) * (i + 1));
}

// Integer-input ops: no gradient can flow; their values are checked here (and the hashes against
// independently computed golden vectors in hashing/tests/ngram_hash_test.cc).
void check_int_op(const std::string& op) {
  Graph g;
  Var ids = input(g, "ids", {2, 3}, true);
  Tensor t({2, 3}, DType::i32);
  const int v[6] = {5, 0, 7, 1, 2, 3};
  for (int i = 0; i < 6; i++) t.set(i, v[i]);
  if (op == "to_real") {
    Executor ex(g, {to_real(ids)}, {DType::f64});
    ex.bind("ids", t);
    ex.run();
    EXPECT_FALSE(g.spec(to_real(ids).v).integer);
    for (int i = 0; i < 6; i++) EXPECT_EQ(ex.result(0).get(i), v[i]);
  } else if (op == "ngram_hash") {
    NgramHash h;
    h.buckets = 11;
    h.p0 = 3, h.p1 = 5;
    Executor ex(g, {ngram_hash(ids, h)});
    ex.bind("ids", t);
    ex.run();
    // Row 0: reserved, (3·0 ^ 5·5) % 10 = 25 % 10, (3·7 ^ 5·0) % 10; row 1: reserved, (3·2 ^ 5·1) % 10, (3·3 ^ 5·2) % 10.
    const int want[6] = {10, 5, 1, 10, (6 ^ 5) % 10, (9 ^ 10) % 10};
    for (int i = 0; i < 6; i++) EXPECT_EQ(ex.result(0).get(i), want[i]) << i;
  } else if (op == "ngram_hash_at") {
    // Each position of a row, hashed from its window of the last n ids (zeros before the row's
    // start), equals ngram_hash over the whole row there: both kinds, bigrams and trigrams.
    const int seq[7] = {5, 900, 7, 1, 1023, 3, 64};
    Tensor row({1, 7}, DType::i32);
    for (int i = 0; i < 7; i++) row.set(i, seq[i]);
    for (int kind : {0, 1})
      for (int n : {2, 3}) {
        NgramHash h;
        h.n = n, h.kind = NgramKind(kind), h.buckets = 97, h.seed = 11;
        Graph g2;
        Var full = ngram_hash(input(g2, "row", {1, 7}, true), h);
        Var at = ngram_hash_at(input(g2, "w", {1, n}, true), input(g2, "pos", {1}, true), h);
        Executor ex(g2, {full, at});
        Tensor w({1, n}, DType::i32), pos({1}, DType::i32);
        ex.bind("row", row);
        ex.bind("w", w);
        ex.bind("pos", pos);
        for (int p = 0; p < 7; p++) {
          for (int j = 0; j < n; j++) w.set(j, p - (n - 1) + j >= 0 ? seq[p - (n - 1) + j] : 0);
          pos.set(0, p);
          ex.run();
          EXPECT_EQ(ex.result(1).get(0), ex.result(0).get(p)) << "kind " << kind << " n " << n << " position " << p;
        }
      }
  } else {
    FAIL() << "INT op '" << op << "' without a check";
  }
}

void check_leaf(const std::string& op) {
  EXPECT_EQ(op_info(op_by_name(op)).arity, 0) << "a LEAF op must have no inputs";
  Graph g;
  Var x = op == "full" ? full(g, {2}, 3.0) : op == "input" ? input(g, "x", {2}) : param(g, "x", {2});
  Var y = square(x);
  Executor ex(g, {y}, {DType::f64});
  Tensor t({2}, DType::f64);
  t.fill(3.0);
  ex.bind("x", t);
  ex.run();
  EXPECT_EQ(ex.result(0).get(1), 9.0);
}

class OpGrad : public ::testing::TestWithParam<int> {};

TEST_P(OpGrad, check) {
  Op op = Op(GetParam());
  std::string name = op_info(op).name;
  switch (op_info(op).check) {
    case GradCheck::FD: check_fd(name); break;
    case GradCheck::BACKWARD: check_backward_op(name); break;
    case GradCheck::STE: check_straight_through(name); break;
    case GradCheck::EFFECT: check_effect(name); break;
    case GradCheck::LEAF: check_leaf(name); break;
    case GradCheck::INT: check_int_op(name); break;
  }
}

std::vector<int> all_ops() {
  std::vector<int> v;
  for (int i = 0; i < op_count(); i++) v.push_back(i);
  return v;
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpGrad, ::testing::ValuesIn(all_ops()),
                         [](const ::testing::TestParamInfo<int>& info) { return std::string(op_info(Op(info.param)).name); });

// The coverage report: every FD op has its case (tests/op_table_test.cc checks the rest of the table).
TEST(GradCheckCoverage, every_fd_op_has_a_case) {
  std::vector<std::string> missing;
  for (int i = 0; i < op_count(); i++) {
    const OpInfo& info = op_info(Op(i));
    if (info.check == GradCheck::FD && !op_cases().count(info.name)) missing.push_back(info.name);
  }
  EXPECT_TRUE(missing.empty()) << "ops declared FD with no case in tests/support/op_cases.h: " << ::testing::PrintToString(missing);
}

}  // namespace
}  // namespace golf
