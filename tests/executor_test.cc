// The executor: memory reuse never aliases a live buffer, results are the same with and without
// reuse, dead code is dropped, and bad bindings or devices are refused with clear messages.
#include <gtest/gtest.h>

#include <cstring>

#include "runtime/autograd.h"
#include "runtime/executor.h"
#include "tests/support/cuda.h"
#include "runtime/params.h"

namespace golf {
namespace {

// A small transformer block with its backward pass: many values with varied lifetimes.
struct Model {
  Graph g;
  ParamStore store;
  Var loss;
  std::vector<Gradient> grads;
  Tensor tokens, targets;
};

std::unique_ptr<Model> make_model() {
  auto m = std::make_unique<Model>();
  const int64_t B = 2, T = 6, D = 16, H = 4, Hkv = 2, hd = 4, V = 11;
  Scope s(m->store, m->g);
  Var ids = input(m->g, "tokens", {B, T}, true);
  Var tgt = input(m->g, "targets", {B * T}, true);
  Var emb = s.param("embed", {V, D}, Init::normal(0.5));
  Var x = rms_norm(embedding(emb, ids));
  Scope blk = s.sub("blocks").sub(0);
  Var h = rms_norm(x);
  Var q = reshape(matmul(h, blk.param("q", {H * hd, D}, Init::normal(0.3)), false, true), {B, T, H, hd});
  Var k = reshape(matmul(h, blk.param("k", {Hkv * hd, D}, Init::normal(0.3)), false, true), {B, T, Hkv, hd});
  Var v = reshape(matmul(h, blk.param("v", {Hkv * hd, D}, Init::normal(0.3)), false, true), {B, T, Hkv, hd});
  q = rope(rms_norm(q), 4);
  k = rope(rms_norm(k), 4);
  Var a = reshape(attention(q, k, v, 0.5, true).y, {B, T, D});
  x = x + matmul(a, blk.param("o", {D, D}, Init::normal(0.3)), false, true);
  Var u = relu(matmul(rms_norm(x), blk.param("up", {2 * D, D}, Init::normal(0.3)), false, true));
  x = x + matmul(square(u), blk.param("down", {D, 2 * D}, Init::normal(0.3)), false, true);
  Var logits = matmul(reshape(rms_norm(x), {B * T, D}), emb, false, true);  // tied head
  m->loss = mean_all(cross_entropy(logits, tgt, 30.0));
  m->grads = backward(m->loss);
  m->store.initialize(42);
  m->tokens = Tensor({B, T}, DType::i32);
  m->targets = Tensor({B * T}, DType::i32);
  for (int64_t i = 0; i < B * T; i++) m->tokens.set(i, (i * 7) % V), m->targets.set(i, (i * 5 + 3) % V);
  return m;
}

std::vector<Var> outputs(const Model& m) {
  std::vector<Var> o = {m.loss};
  for (const Gradient& g : m.grads) o.push_back(g.grad);
  return o;
}

TEST(Executor, reuse_never_aliases_a_live_buffer) {
  auto m = make_model();
  Executor ex(m->g, outputs(*m));
  const MemoryPlan& p = ex.plan();
  ASSERT_GT(p.slots.size(), 50u);
  int checked = 0;
  for (size_t i = 0; i < p.slots.size(); i++) {
    for (size_t j = i + 1; j < p.slots.size(); j++) {
      const auto &a = p.slots[i], &b = p.slots[j];
      if (!a.in_arena || !b.in_arena) continue;
      bool live_together = a.first <= b.last && b.first <= a.last;
      bool overlap = a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
      if (live_together) {
        checked++;
        EXPECT_FALSE(overlap) << m->g.describe(a.value) << " and " << m->g.describe(b.value)
                              << " are live together but share bytes";
      }
    }
  }
  EXPECT_GT(checked, 100);
  EXPECT_LT(p.arena_bytes, p.unshared_bytes) << "no memory was reused";
}

TEST(Executor, results_equal_with_and_without_reuse) {
  auto m = make_model();
  std::vector<std::vector<double>> res[2];
  for (int reuse = 0; reuse < 2; reuse++) {
    Executor ex(m->g, outputs(*m), {DType::f32, reuse == 1});
    ex.bind_params(m->store);
    ex.bind("tokens", m->tokens);
    ex.bind("targets", m->targets);
    ex.run();
    ex.run();  // a second run over a reused arena must give the same numbers
    for (size_t i = 0; i < outputs(*m).size(); i++) {
      const Tensor& t = ex.result(i);
      std::vector<double> v;
      for (int64_t k = 0; k < t.numel(); k++) v.push_back(t.get(k));
      res[reuse].push_back(v);
    }
  }
  ASSERT_EQ(res[0].size(), res[1].size());
  for (size_t i = 0; i < res[0].size(); i++) EXPECT_EQ(res[0][i], res[1][i]) << "output " << i;
  double loss = res[1][0][0];
  EXPECT_GT(loss, 0.5);
  EXPECT_LT(loss, 20.0);
}

TEST(Executor, shared_parameter_accumulates_in_fixed_order) {
  // y = W·x1 + W·x2: dW is the sum over both uses; repeated runs are bit-identical.
  Graph g;
  ParamStore store;
  Scope s(store, g);
  Var w = s.param("w", {3, 2}, Init::normal(1.0));
  Var x1 = input(g, "x1", {2, 1}), x2 = input(g, "x2", {2, 1});
  Var loss = sum_all(square(matmul(w, x1) + matmul(w, x2)));
  auto grads = backward(loss);
  store.initialize(1, DType::f64);
  Tensor a({2, 1}, DType::f64), b({2, 1}, DType::f64);
  a.set(0, 1), a.set(1, 2), b.set(0, -3), b.set(1, 0.5);
  Executor ex(g, {grads[0].grad}, {DType::f64});
  ex.bind_params(store);
  ex.bind("x1", a);
  ex.bind("x2", b);
  ex.run();
  const Tensor& W = store.get("w");
  for (int r = 0; r < 3; r++) {
    double y = W.get(r * 2) * (1 - 3) + W.get(r * 2 + 1) * (2 + 0.5);
    EXPECT_NEAR(ex.result(0).get(r * 2), 2 * y * (1 - 3), 1e-12);
    EXPECT_NEAR(ex.result(0).get(r * 2 + 1), 2 * y * (2 + 0.5), 1e-12);
  }
}

TEST(Executor, dead_code_is_not_run_and_needs_no_binding) {
  Graph g;
  Var x = input(g, "x", {2});
  Var unused = input(g, "unused", {3});
  Var y = scale(x, 2.0);
  square(unused);
  Executor ex(g, {y});
  EXPECT_TRUE(ex.needs("x"));
  EXPECT_FALSE(ex.needs("unused"));
  Tensor t({2}, DType::f32);
  t.fill(1.5);
  ex.bind("x", t);
  ex.run();
  EXPECT_EQ(ex.result(0).get(0), 3.0);
  EXPECT_EQ(ex.plan().steps.size(), 2u);
}

TEST(Executor, refuses_unbound_and_mismatched_inputs) {
  Graph g;
  Var x = input(g, "x", {2, 3});
  Executor ex(g, {square(x)});
  try {
    ex.run();
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("'x' is not bound"), std::string::npos) << e.what();
  }
  try {
    ex.bind("x", Tensor({3, 2}, DType::f32));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("expects [2, 3] f32, got [3, 2] f32"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ex.bind("x", Tensor({2, 3}, DType::f64)), std::invalid_argument);
}

TEST(Executor, bad_ids_name_the_node) {
  Graph g;
  g.set_location("model.lua:3");
  Var t = input(g, "table", {4, 2});
  Var ids = input(g, "ids", {3}, true);
  Executor ex(g, {embedding(t, ids)});
  Tensor tab({4, 2}, DType::f32), id({3}, DType::i32);
  id.set(1, 9);
  ex.bind("table", tab);
  ex.bind("ids", id);
  try {
    ex.run();
    FAIL();
  } catch (const std::runtime_error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("embedding"), std::string::npos) << m;
    EXPECT_NE(m.find("model.lua:3"), std::string::npos) << m;
    EXPECT_NE(m.find("9"), std::string::npos) << m;
  }
}

TEST(Executor, cuda_device_is_an_error_not_a_fallback) {
  // Without a usable device (or without CUDA in the build) asking for one is an error; with one,
  // tests/cuda_ops_test.cc covers the CUDA executor.
  if (cuda_unavailable().empty()) GTEST_SKIP() << "a CUDA device is present";
  Graph g;
  Var x = input(g, "x", {2});
  EXPECT_THROW(Executor(g, {square(x)}, {DType::f32, true, Device::cuda}), std::runtime_error);
}

TEST(ShapeError, names_the_op_both_shapes_and_the_location) {
  Graph g;
  Var a = input(g, "a", {2, 3});
  Var b = input(g, "b", {4, 5});
  g.set_location("model.lua:12");
  try {
    matmul(a, b);
    FAIL() << "no error";
  } catch (const ShapeError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("'matmul'"), std::string::npos) << m;
    EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("[4, 5]"), std::string::npos) << m;
    EXPECT_NE(m.find("model.lua:12"), std::string::npos) << m;
  }
  EXPECT_THROW(add(a, b), ShapeError);
  EXPECT_THROW(reshape(a, {4, 2}), ShapeError);
  EXPECT_THROW(attention(input(g, "q", {1, 2, 3, 4}), input(g, "k", {1, 2, 2, 4}), input(g, "v", {1, 2, 2, 4}), 1.0),
               ShapeError);  // 2 KV heads do not divide 3
}

// Messages that once named no value (issue 15): each must carry what it refused.
TEST(Executor, an_output_of_another_graph_is_named) {
  Graph g, other;
  Var x = input(g, "x", {2});
  Var y = input(other, "y", {2});
  std::string e;
  try {
    Executor ex(g, {square(x), y});
  } catch (const std::invalid_argument& err) {
    e = err.what();
  }
  EXPECT_NE(e.find("executor: output 1 (node 0 there) belongs to another graph"), std::string::npos) << e;
}

}  // namespace
}  // namespace golf
