// GPTQ: on correlated inputs it beats round-to-nearest on the layer's output error at the same
// bits; on uncorrelated inputs it is round-to-nearest; its output decodes like quantize()'s. The
// Hessian graph pass accumulates exactly XᵀX summed over every linear use of a weight.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "runtime/executor.h"
#include "runtime/quant/gptq.h"
#include "runtime/quant/hessian_pass.h"
#include "runtime/rng.h"

namespace golf {
namespace {

Tensor randn(const Shape& shape, double std, Rng& rng, DType t = DType::f32) {
  Tensor x(shape, t);
  for (int64_t i = 0; i < x.numel(); i++) x.set(i, rng.normal() * std);
  return x;
}

// X [n, cols] = Z·A + a little noise: a few latent directions mixed into every column, each column
// with its own scale, as activations after a norm and a projection tend to be.
Tensor correlated_inputs(int64_t n, int64_t cols, int64_t latent, Rng& rng) {
  Tensor z = randn({n, latent}, 1.0, rng, DType::f64), a = randn({latent, cols}, 1.0, rng, DType::f64);
  Tensor x({n, cols}, DType::f64);
  std::vector<double> col_scale(static_cast<size_t>(cols));
  for (auto& s : col_scale) s = 0.2 + 2.0 * rng.uniform();
  const double* zp = z.data<double>();
  const double* ap = a.data<double>();
  double* xp = x.data<double>();
  for (int64_t i = 0; i < n; i++)
    for (int64_t c = 0; c < cols; c++) {
      double v = 0.1 * rng.normal();
      for (int64_t k = 0; k < latent; k++) v += zp[i * latent + k] * ap[k * cols + c];
      xp[i * cols + c] = v * col_scale[size_t(c)];
    }
  return x;
}

Tensor gram(const Tensor& x) {  // XᵀX, x f64
  int64_t n = x.dim(0), c = x.dim(1);
  Tensor h({c, c}, DType::f64);
  double* hp = h.data<double>();
  const double* xp = x.data<double>();
  for (int64_t i = 0; i < n; i++)
    for (int64_t a = 0; a < c; a++) {
      double xa = xp[i * c + a];
      for (int64_t b = 0; b < c; b++) hp[a * c + b] += xa * xp[i * c + b];
    }
  return h;
}

// ‖X·(W − Ŵ)ᵀ‖_F through H = XᵀX: Σ_r d_r·H·d_rᵀ.
double output_error(const Tensor& w, const Tensor& what, const Tensor& h) {
  int64_t rows = w.dim(0), cols = w.dim(1);
  const double* hp = h.data<double>();
  double total = 0;
  std::vector<double> d(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t c = 0; c < cols; c++) d[size_t(c)] = w.get(r * cols + c) - what.get(r * cols + c);
    for (int64_t a = 0; a < cols; a++)
      for (int64_t b = 0; b < cols; b++) total += d[size_t(a)] * hp[a * cols + b] * d[size_t(b)];
  }
  return std::sqrt(std::max(total, 0.0));
}

double output_norm(const Tensor& w, const Tensor& h) { return output_error(w, Tensor(w.shape(), DType::f32), h); }

struct Errors {
  double rtn, gptq;
};

Errors compare(const Tensor& w, const Tensor& h, const QuantSpec& spec, int64_t block = 128) {
  QTensor r = quantize("w", w, spec);
  QTensor g = gptq_quantize("w", w, h, spec, 0.01, block);
  EXPECT_EQ(g.scales, r.scales) << "GPTQ keeps the clip rule's scales";
  return {output_error(w, dequantize(r), h), output_error(w, dequantize(g), h)};
}

TEST(Gptq, beats_round_to_nearest_on_correlated_inputs) {
  const int64_t n = 4096, rows = 64, cols = 192;
  // latent < cols: a few directions dominate (low effective rank); latent = cols: a full-rank
  // random mixing, correlated but with no direction missing.
  for (int64_t latent : {int64_t(24), cols}) {
    Rng rng(1);
    Tensor h = gram(correlated_inputs(n, cols, latent, rng));
    Tensor w = randn({rows, cols}, 0.05, rng);
    double norm = output_norm(w, h);
    for (const char* enc : {"int4", "int6"}) {
      for (const char* clip : {"max", "search"}) {
        QuantSpec spec{enc, true, clip};
        Errors e = compare(w, h, spec, 64);  // 3 blocks: feedback within and across blocks
        std::printf("[ gptq ] latent %3ld %s per-row clip=%-6s  relative output error: RTN %.5f  GPTQ %.5f  (x%.2f)\n",
                    long(latent), enc, clip, e.rtn / norm, e.gptq / norm, e.rtn / e.gptq);
        EXPECT_LT(e.gptq, (latent < cols ? 0.5 : 0.9) * e.rtn) << enc << " " << clip << " latent " << latent;
      }
    }
  }
}

// The textbook algorithm, unblocked: explicit H⁻¹ (Gauss–Jordan), its upper Cholesky factor,
// column-by-column error feedback over all later columns.
std::vector<int8_t> reference_gptq(const Tensor& w, const Tensor& h, const QTensor& scales_from, double damp) {
  int64_t rows = w.dim(0), n = w.dim(1);
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) perm[size_t(i)] = i;
  std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return h.get(a * n + a) > h.get(b * n + b); });
  std::vector<double> a(size_t(n * 2 * n), 0.0);  // [H | I]
  double mean = 0;
  for (int64_t i = 0; i < n; i++) mean += h.get(i * n + i) / double(n);
  for (int64_t i = 0; i < n; i++) {
    for (int64_t j = 0; j < n; j++) a[size_t(i * 2 * n + j)] = h.get(perm[size_t(i)] * n + perm[size_t(j)]);
    a[size_t(i * 2 * n + i)] += damp * mean;
    a[size_t(i * 2 * n + n + i)] = 1;
  }
  for (int64_t c = 0; c < n; c++) {  // SPD: no pivoting needed
    double p = a[size_t(c * 2 * n + c)];
    for (int64_t j = 0; j < 2 * n; j++) a[size_t(c * 2 * n + j)] /= p;
    for (int64_t r = 0; r < n; r++) {
      if (r == c) continue;
      double f = a[size_t(r * 2 * n + c)];
      for (int64_t j = 0; j < 2 * n; j++) a[size_t(r * 2 * n + j)] -= f * a[size_t(c * 2 * n + j)];
    }
  }
  auto hinv = [&](int64_t i, int64_t j) { return a[size_t(i * 2 * n + n + j)]; };
  std::vector<double> u(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; i++) {
    double d = hinv(i, i);
    for (int64_t k = 0; k < i; k++) d -= u[size_t(k * n + i)] * u[size_t(k * n + i)];
    u[size_t(i * n + i)] = std::sqrt(d);
    for (int64_t j = i + 1; j < n; j++) {
      double v = hinv(i, j);
      for (int64_t k = 0; k < i; k++) v -= u[size_t(k * n + i)] * u[size_t(k * n + j)];
      u[size_t(i * n + j)] = v / u[size_t(i * n + i)];
    }
  }
  std::vector<int8_t> q(size_t(rows * n));
  int qmax = (1 << (scales_from.bits - 1)) - 1;
  for (int64_t r = 0; r < rows; r++) {
    float s = f16_to_f32(scales_from.scales[size_t(r)]);
    std::vector<double> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; i++) x[size_t(i)] = w.get(r * n + perm[size_t(i)]);
    for (int64_t i = 0; i < n; i++) {
      int8_t v = quantize_value(x[size_t(i)], s, qmax);
      q[size_t(r * n + perm[size_t(i)])] = v;
      double e = (x[size_t(i)] - double(v) * s) / u[size_t(i * n + i)];
      for (int64_t j = i + 1; j < n; j++) x[size_t(j)] -= e * u[size_t(i * n + j)];
    }
  }
  return q;
}

TEST(Gptq, blocked_matches_the_textbook_algorithm) {
  Rng rng(8);
  const int64_t cols = 40;
  Tensor h = gram(correlated_inputs(512, cols, 10, rng));
  Tensor w = randn({24, cols}, 0.05, rng);
  QuantSpec spec{"int4"};
  std::vector<int8_t> want = reference_gptq(w, h, quantize("w", w, spec), 0.01);
  for (int64_t block : {1, 7, 16, 40, 128}) {
    std::vector<int8_t> got = gptq_quantize("w", w, h, spec, 0.01, block).q;
    int64_t same = 0;
    for (size_t i = 0; i < got.size(); i++) same += got[i] == want[i];
    // Identical up to rounding: a value that sits on a rounding boundary may flip.
    EXPECT_GE(double(same), 0.995 * double(got.size())) << "block " << block;
    if (block == 16) std::printf("[ gptq ] blocked vs textbook: %ld of %zu values equal\n", long(same), got.size());
  }
}

TEST(Gptq, output_decodes_like_quantize_and_stays_on_the_grid) {
  Rng rng(2);
  Tensor h = gram(correlated_inputs(1024, 48, 6, rng));
  Tensor w = randn({10, 48}, 0.05, rng);
  for (bool per_row : {true, false}) {
    QuantSpec spec{"int5", per_row};
    QTensor g = gptq_quantize("layer.weight", w, h, spec);
    EXPECT_EQ(g.name, "layer.weight");
    EXPECT_EQ(g.encoding, "int5");
    EXPECT_EQ(g.bits, 5);
    EXPECT_EQ(g.per_row, per_row);
    ASSERT_EQ(g.scales.size(), per_row ? 10u : 1u);
    ASSERT_EQ(g.q.size(), 480u);
    for (int8_t q : g.q) ASSERT_LE(std::abs(q), 15);
    EXPECT_EQ(unpack_bits(pack_bits(g.q, 5), 5, g.q.size()), g.q);
    Tensor d = dequantize(g);
    for (int64_t i = 0; i < 480; i++)
      ASSERT_EQ(d.data<float>()[i], float(g.q[size_t(i)]) * f16_to_f32(g.scales[per_row ? size_t(i / 48) : 0]));
  }
  // Float encodings have nothing to round: the same as quantize().
  QTensor f = gptq_quantize("w", w, h, QuantSpec{"fp16"});
  EXPECT_EQ(f.encoding, "fp16");
}

TEST(Gptq, identity_hessian_is_round_to_nearest) {
  Rng rng(3);
  const int64_t cols = 96;
  Tensor w = randn({32, cols}, 0.05, rng);
  Tensor eye({cols, cols}, DType::f64);
  for (int64_t i = 0; i < cols; i++) eye.set(i * cols + i, 1.0);
  for (const char* enc : {"int4", "int6"}) {
    QuantSpec spec{enc};
    EXPECT_EQ(gptq_quantize("w", w, eye, spec, 0.01, 32).q, quantize("w", w, spec).q) << enc;
  }
  // Uncorrelated data (H ≈ n·I up to sampling noise): close to round-to-nearest.
  Tensor h = gram(randn({4096, cols}, 1.0, rng, DType::f64));
  for (const char* enc : {"int4", "int6"}) {
    Errors e = compare(w, h, QuantSpec{enc});
    std::printf("[ gptq ] %s uncorrelated inputs: RTN %.5f  GPTQ %.5f (relative)\n", enc, e.rtn / output_norm(w, h),
                e.gptq / output_norm(w, h));
    EXPECT_LT(e.gptq, 1.02 * e.rtn) << enc;
    EXPECT_GT(e.gptq, 0.85 * e.rtn) << enc;
  }
}

TEST(Gptq, dead_columns_are_zeroed_and_the_rest_still_improves) {
  Rng rng(4);
  const int64_t cols = 64;
  Tensor x = correlated_inputs(2048, cols, 8, rng);
  for (int64_t i = 0; i < 2048; i++) x.set(i * cols + 5, 0.0), x.set(i * cols + 40, 0.0);
  Tensor h = gram(x);
  Tensor w = randn({16, cols}, 0.05, rng);
  GptqReport rep;
  QTensor g = gptq_quantize("w", w, h.to(DType::f32), QuantSpec{"int4"}, 0.01, 128, &rep);
  EXPECT_EQ(rep.dead_columns, 2);
  EXPECT_EQ(rep.retries, 0);
  EXPECT_GT(rep.loss, 0);
  for (int64_t r = 0; r < 16; r++) {
    EXPECT_EQ(g.q[size_t(r * cols + 5)], 0);
    EXPECT_EQ(g.q[size_t(r * cols + 40)], 0);
  }
  Errors e = compare(w, h, QuantSpec{"int4"});
  EXPECT_LT(e.gptq, 0.8 * e.rtn);
}

TEST(Gptq, singular_hessians_are_damped_and_bad_inputs_refused) {
  Rng rng(5);
  // Rank 4 of 32: positive semi-definite only; the damping makes it definite.
  Tensor h = gram(correlated_inputs(8, 32, 4, rng));
  Tensor w = randn({8, 32}, 0.05, rng);
  EXPECT_NO_THROW(gptq_quantize("w", w, h, QuantSpec{"int4"}));
  // Zero damping on a singular H: the retry adds some.
  Tensor rank1({32, 32}, DType::f64);
  for (int64_t i = 0; i < 32 * 32; i++) rank1.set(i, 1.0);
  GptqReport rep;
  EXPECT_NO_THROW(gptq_quantize("w", w, rank1, QuantSpec{"int4"}, 0.0, 128, &rep));
  EXPECT_GT(rep.retries, 0);
  EXPECT_GT(rep.damp, 0);
  EXPECT_THROW(gptq_quantize("w", w, Tensor({31, 31}, DType::f64), QuantSpec{"int4"}), std::invalid_argument);
  EXPECT_THROW(gptq_quantize("w", Tensor({8, 4, 8}, DType::f32), h, QuantSpec{"int4"}), std::invalid_argument);
  EXPECT_THROW(gptq_quantize("w", w, h, QuantSpec{"int4"}, 0.01, 0), std::invalid_argument);
}

// ---- the Hessian pass --------------------------------------------------------------------------

// XᵀX of a [..., in] tensor flattened to [-1, in], added into acc.
void add_gram(const Tensor& x, std::vector<double>& acc, int64_t in) {
  int64_t n = x.numel() / in;
  for (int64_t i = 0; i < n; i++)
    for (int64_t a = 0; a < in; a++)
      for (int64_t b = 0; b < in; b++) acc[size_t(a * in + b)] += x.get(i * in + a) * x.get(i * in + b);
}

void expect_close(const Tensor& got, const std::vector<double>& want, double rel, const std::string& what) {
  ASSERT_EQ(size_t(got.numel()), want.size()) << what;
  double scale = 0;
  for (double v : want) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < want.size(); i++) ASSERT_NEAR(got.get(int64_t(i)), want[i], rel * scale) << what << " [" << i << "]";
}

TEST(HessianPass, accumulates_xtx_over_every_linear_use) {
  const int64_t B = 2, T = 3, D = 6, V = 7;
  Graph g;
  Var x = input(g, "x", {B, T, D});
  Var ids = input(g, "ids", {B, T}, true);
  Var w = param(g, "w", {D, D});
  Var emb = param(g, "emb", {V, D});
  Var p = param(g, "p", {5, D});
  Var w2 = param(g, "w2", {4, D});
  Var left = param(g, "left", {D, D});
  Var gathered = param(g, "gathered", {V, D});
  Var h = relu(matmul(x, w, false, true));                    // use 1 of w
  Var y2 = matmul(h, reshape(w, {D, D}), false, true);        // use 2 of w, through a reshape
  Var z = y2 + embedding(emb, ids) + embedding(gathered, ids);
  Var y3 = matmul(z, transpose(p, 0, 1));                     // p through a transpose, no trans_b
  Var logits = matmul(reshape(y2, {B * T, D}), emb, false, true);  // the tied head
  Var zt = transpose(reshape(z, {B * T, D}), 0, 1);          // [D, B·T]
  Var y4 = matmul(zt, w2, true, true);                        // trans_a on the input side
  Var y5 = matmul(left, reshape(z, {B * T, D}), false, true);  // `left` is a left operand: no target
  Var sink = sum_all(y3) + sum_all(logits) + sum_all(y4) + sum_all(y5);

  std::vector<std::string> got =
      add_hessian_accumulators(g, {"w", "emb", "p", "w2", "left", "gathered", "missing"});
  EXPECT_EQ(got, (std::vector<std::string>{"w", "emb", "p", "w2"}));
  EXPECT_FALSE(g.find_input("hessian.left").valid());
  EXPECT_EQ(g.shape(g.find_input("hessian.p")), (Shape{D, D}));

  ExecOptions opt;
  opt.real = DType::f64;
  Executor ex(g, {h, y2, z, sink}, opt);
  Rng rng(6);
  Tensor xt = randn({B, T, D}, 1.0, rng, DType::f64);
  Tensor idt({B, T}, DType::i32);
  for (int64_t i = 0; i < B * T; i++) idt.set(i, int64_t(rng.below(V)));
  ex.bind("x", xt);
  ex.bind("ids", idt);
  for (auto [name, shape] : std::vector<std::pair<std::string, Shape>>{
           {"w", {D, D}}, {"emb", {V, D}}, {"p", {5, D}}, {"w2", {4, D}}, {"left", {D, D}}, {"gathered", {V, D}}})
    ex.bind(name, randn(shape, 0.5, rng, DType::f64));
  std::map<std::string, Tensor> hs;
  for (const std::string& n : got) ex.bind("hessian." + n, hs[n] = Tensor({D, D}, DType::f64));
  ex.run();
  ex.run();  // accumulate: two runs add twice

  std::vector<double> hw(D * D), he(D * D), hz(D * D);
  add_gram(xt, hw, D);
  add_gram(ex.result(0), hw, D);
  add_gram(ex.result(1), he, D);
  add_gram(ex.result(2), hz, D);
  for (auto* v : {&hw, &he, &hz})
    for (double& e : *v) e *= 2;
  expect_close(hs["w"], hw, 1e-12, "w: x and relu(x·wᵀ)");
  expect_close(hs["emb"], he, 1e-12, "emb: the tied head's input");
  expect_close(hs["p"], hz, 1e-12, "p");
  expect_close(hs["w2"], hz, 1e-12, "w2 (trans_a input)");
}

// tokens -> embedding -> linear -> tied head -> cross entropy.
std::unique_ptr<ModelGraph> tiny_model(int64_t B, int64_t T, int64_t V, int64_t D) {
  auto m = std::make_unique<ModelGraph>();
  Scope s(m->store, m->graph);
  Var tokens = input(m->graph, "tokens", {B, T}, true);
  Var targets = input(m->graph, "targets", {B, T}, true);
  Var emb = s.param("tok_emb.weight", {V, D}, Init::normal(0.5));
  Var w = s.sub("blocks").sub(0).param("fc.weight", {D, D}, Init::normal(0.3));
  Var y = matmul(embedding(emb, tokens), w, false, true);
  m->logits = matmul(reshape(y, {B * T, D}), emb, false, true);
  m->loss = cross_entropy(m->logits, reshape(targets, {B * T}));
  return m;
}

TEST(HessianPass, collect_hessians_sums_over_batches) {
  const int64_t B = 2, T = 5, V = 9, D = 4;
  ParamStore weights;
  {
    auto m = tiny_model(B, T, V, D);
    m->store.initialize(11);
    weights = m->store;
  }
  Rng rng(7);
  std::vector<std::pair<Tensor, Tensor>> batches;
  for (int k = 0; k < 3; k++) {
    Tensor tok({B, T}, DType::i32), tgt({B, T}, DType::i32);
    for (int64_t i = 0; i < B * T; i++) tok.set(i, int64_t(rng.below(V))), tgt.set(i, int64_t(rng.below(V)));
    batches.emplace_back(tok, tgt);
  }
  // Direct: the linear sees embedding rows e_t; the head sees W·e_t.
  const Tensor& e = weights.get("tok_emb.weight");
  const Tensor& w = weights.get("blocks.0.fc.weight");
  std::vector<double> hw(D * D), he(D * D);
  for (const auto& [tok, tgt] : batches)
    for (int64_t i = 0; i < B * T; i++) {
      int64_t t = int64_t(tok.get(i));
      std::vector<double> x(D), y(D, 0.0);
      for (int64_t a = 0; a < D; a++) x[size_t(a)] = e.get(t * D + a);
      for (int64_t o = 0; o < D; o++)
        for (int64_t a = 0; a < D; a++) y[size_t(o)] += w.get(o * D + a) * x[size_t(a)];
      for (int64_t a = 0; a < D; a++)
        for (int64_t b = 0; b < D; b++) {
          hw[size_t(a * D + b)] += x[size_t(a)] * x[size_t(b)];
          he[size_t(a * D + b)] += y[size_t(a)] * y[size_t(b)];
        }
    }
  for (DType real : {DType::f64, DType::f32}) {
    auto m = tiny_model(B, T, V, D);
    double loss = 0;
    auto hs = collect_hessians(*m, weights, "live", batches, {"tok_emb.weight", "blocks.0.fc.weight"}, real, &loss);
    ASSERT_EQ(hs.size(), 2u);
    EXPECT_EQ(hs.at("tok_emb.weight").dtype(), DType::f64);
    double tol = real == DType::f64 ? 1e-12 : 1e-5;
    expect_close(hs.at("blocks.0.fc.weight"), hw, tol, "fc");
    expect_close(hs.at("tok_emb.weight"), he, tol, "tied head");
    EXPECT_GT(loss, 0);
    EXPECT_TRUE(std::isfinite(loss));
  }
  // GPTQ takes them as they come.
  auto m = tiny_model(B, T, V, D);
  auto hs = collect_hessians(*m, weights, "live", batches, {"blocks.0.fc.weight"});
  EXPECT_EQ(gptq_quantize("blocks.0.fc.weight", w, hs.at("blocks.0.fc.weight"), QuantSpec{"int6"}).q.size(),
            size_t(D * D));
}

}  // namespace
}  // namespace golf
