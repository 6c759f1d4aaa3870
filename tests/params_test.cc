// Parameters, initializers, weight sets, the seeded generator, the AdamW update graph and the
// dtype conversions.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/autograd.h"
#include "runtime/optim/adamw.h"
#include "runtime/rng.h"
#include "runtime/train_step.h"

namespace golf {
namespace {

TEST(Params, hierarchical_names_and_sharing) {
  Graph g;
  ParamStore store;
  Scope root(store, g);
  Scope blk = root.sub("blocks").sub(3).sub("attn");
  Var w = blk.param("q", {4, 4}, Init::normal(0.02));
  EXPECT_EQ(blk.full_name("q"), "blocks.3.attn.q");
  EXPECT_TRUE(store.has("blocks.3.attn.q"));
  Var again = blk.param("q", {4, 4}, Init::normal(0.02));
  EXPECT_EQ(w.v, again.v);  // one leaf: gradients accumulate in one place
  EXPECT_THROW(blk.param("q", {4, 5}, Init::normal(0.02)), std::invalid_argument);
  EXPECT_THROW(blk.param("q", {4, 4}, Init::zeros()), std::invalid_argument);
  EXPECT_THROW(root.param("bad name", {1}, Init::zeros()), std::invalid_argument);
  EXPECT_EQ(store.count(), 16);
}

TEST(Params, initializers) {
  ParamStore store;
  store.declare("n", {200, 100}, Init::normal(0.02));
  store.declare("z", {3}, Init::zeros());
  store.declare("o", {3}, Init::ones());
  store.declare("c", {3}, Init::constant(1.5));
  store.declare("v", {2, 2}, Init::from_values({1, 2, 3, 4}));
  store.declare("q", {16, 32}, Init::orthogonal(2.0));
  store.declare("qt", {32, 16}, Init::orthogonal(1.0));
  store.initialize(7, DType::f64);
  const Tensor& n = store.get("n");
  double s = 0, s2 = 0;
  for (int64_t i = 0; i < n.numel(); i++) s += n.get(i), s2 += n.get(i) * n.get(i);
  double mean = s / double(n.numel()), sd = std::sqrt(s2 / double(n.numel()) - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.001);
  EXPECT_NEAR(sd, 0.02, 0.0005);
  EXPECT_EQ(store.get("z").get(2), 0.0);
  EXPECT_EQ(store.get("o").get(2), 1.0);
  EXPECT_EQ(store.get("c").get(0), 1.5);
  EXPECT_EQ(store.get("v").get(3), 4.0);
  // orthogonal: rows orthonormal (times gain) for the wide one, columns for the tall one
  const Tensor& q = store.get("q");
  for (int a = 0; a < 16; a++)
    for (int b = 0; b < 16; b++) {
      double d = 0;
      for (int k = 0; k < 32; k++) d += q.get(a * 32 + k) * q.get(b * 32 + k);
      EXPECT_NEAR(d, a == b ? 4.0 : 0.0, 1e-10);
    }
  const Tensor& qt = store.get("qt");
  for (int a = 0; a < 16; a++)
    for (int b = 0; b < 16; b++) {
      double d = 0;
      for (int k = 0; k < 32; k++) d += qt.get(k * 16 + a) * qt.get(k * 16 + b);
      EXPECT_NEAR(d, a == b ? 1.0 : 0.0, 1e-10);
    }
}

TEST(Params, same_seed_same_values_and_streams_independent_of_other_params) {
  ParamStore a, b;
  a.declare("x", {10}, Init::normal(1.0));
  b.declare("extra", {5}, Init::normal(1.0));
  b.declare("x", {10}, Init::normal(1.0));
  a.initialize(3);
  b.initialize(3);
  for (int i = 0; i < 10; i++) EXPECT_EQ(a.get("x").get(i), b.get("x").get(i));
  ParamStore c;
  c.declare("x", {10}, Init::normal(1.0));
  c.initialize(4);
  EXPECT_NE(a.get("x").get(0), c.get("x").get(0));
}

TEST(Params, weight_sets_are_copies_under_the_same_names) {
  ParamStore s;
  s.declare("w", {2}, Init::ones());
  s.initialize(0);
  s.copy_set("live", "ema");
  s.get("w", "live").set(0, 5.0);
  EXPECT_EQ(s.get("w", "ema").get(0), 1.0);
  EXPECT_TRUE(s.has_set("ema"));
  EXPECT_THROW(s.get("w", "swa"), std::out_of_range);
}

TEST(Rng, known_stream_and_uniform_below) {
  Rng r(1);
  uint64_t first = r.next_u64();
  Rng r2(1);
  EXPECT_EQ(first, r2.next_u64());
  for (int i = 0; i < 1000; i++) EXPECT_LT(r.below(7), 7u);
  Rng::State st = r.state();
  double x = r.normal();
  r.set_state(st);
  EXPECT_EQ(x, r.normal());
}

TEST(AdamW, update_graph_matches_the_formula) {
  ParamStore store;
  store.declare("w", {3}, Init::from_values({1.0, -2.0, 0.5}));
  store.initialize(0, DType::f64);
  AdamWConfig cfg{0.9, 0.95, 1e-8, 0.1};
  AdamW opt(store, {"w"}, cfg, DType::f64);
  double w[3] = {1.0, -2.0, 0.5}, m[3] = {}, v[3] = {};
  for (int t = 1; t <= 3; t++) {
    Tensor g({3}, DType::f64);
    for (int i = 0; i < 3; i++) g.set(i, 0.3 * (i + 1) * t - w[i]);
    for (int i = 0; i < 3; i++) {
      double gi = g.get(i);
      m[i] = 0.9 * m[i] + 0.1 * gi;
      v[i] = 0.95 * v[i] + 0.05 * gi * gi;
      double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.95, t));
      w[i] -= 0.01 * (mh / (std::sqrt(vh) + 1e-8) + 0.1 * w[i]);
    }
    opt.step({{"w", g}}, 0.01);
    for (int i = 0; i < 3; i++) EXPECT_NEAR(store.get("w").get(i), w[i], 1e-14) << "step " << t;
  }
}

TEST(TrainStep, micro_batches_accumulate_and_training_reduces_the_loss) {
  // Least squares y = W·x with two micro-batches: the accumulated gradient equals the sum.
  Graph g;
  ParamStore store;
  Scope s(store, g);
  Var w = s.param("w", {1, 2}, Init::zeros());
  Var x = input(g, "x", {2, 4});
  Var y = input(g, "y", {1, 4});
  Var loss = mean_all(square(matmul(w, x) - y));
  store.initialize(0, DType::f64);
  TrainStep step(g, loss, store, {DType::f64}, 0.5);
  AdamW opt(store, {"w"}, {}, DType::f64);
  Tensor xs({2, 4}, DType::f64), ys({1, 4}, DType::f64);
  for (int i = 0; i < 4; i++) xs.set(i, i), xs.set(4 + i, 1.0), ys.set(i, 3.0 * i - 1.0);
  double first = 0, last = 0;
  for (int it = 0; it < 300; it++) {
    step.zero_grad();
    double l = step.run({{"x", xs}, {"y", ys}});
    step.run({{"x", xs}, {"y", ys}});
    if (it == 0) {
      first = l;
      // d/dw mean((w·x − y)²) at w = 0 is −2·mean(y·x); two halves add up to one full gradient.
      double g0 = 0;
      for (int i = 0; i < 4; i++) g0 += -2.0 * ys.get(i) * xs.get(i) / 4.0;
      EXPECT_NEAR(step.grads().at("w").get(0), g0, 1e-12);
    }
    opt.step(step.grads(), 0.05);
    last = l;
  }
  EXPECT_GT(first, 10.0);
  EXPECT_LT(last, 0.01);
  EXPECT_NEAR(store.get("w").get(0), 3.0, 0.05);
}

TEST(DType, half_conversions) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80);  // halfway: ties to even
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65536.0f), 0x7c00);      // overflow to infinity
  EXPECT_EQ(f32_to_f16(5.9604645e-8f), 0x0001);  // smallest subnormal
  EXPECT_EQ(f16_to_f32(0x0001), 5.9604645e-8f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  for (uint32_t h = 0; h < 0x7c00; h++) EXPECT_EQ(f32_to_f16(f16_to_f32(uint16_t(h))), h);
  Tensor t({3}, DType::bf16);
  t.set(0, 3.14159);
  EXPECT_NEAR(t.get(0), 3.14159, 0.01);
  EXPECT_EQ(dtype_from_name("u16"), DType::u16);
  EXPECT_THROW(dtype_from_name("f8"), std::invalid_argument);
}

}  // namespace
}  // namespace golf
