// The optimizers: Muon's update graph against a direct computation, Newton–Schulz's effect on
// singular values, momentum warmup, per-parameter Adam groups, the rule matching of
// OptimizerSet, frozen parameters, gradient clipping, EMA/SWA and optimizer state round trips.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <regex>
#include <tuple>

#include "tests/support/errors.h"
#include "runtime/optim/optimizer_set.h"
#include "runtime/rng.h"

namespace golf {
namespace {

// ---- a direct fp64 Muon, written from the formulas in runtime/optim/muon.h ----------------------

struct Mat {
  int64_t r = 0, c = 0;
  std::vector<double> a;
  Mat(int64_t rows, int64_t cols) : r(rows), c(cols), a(size_t(rows * cols), 0.0) {}
  double& at(int64_t i, int64_t j) { return a[size_t(i * c + j)]; }
  double at(int64_t i, int64_t j) const { return a[size_t(i * c + j)]; }
};

Mat mul(const Mat& x, const Mat& y) {
  Mat z(x.r, y.c);
  for (int64_t i = 0; i < x.r; i++)
    for (int64_t k = 0; k < x.c; k++)
      for (int64_t j = 0; j < y.c; j++) z.at(i, j) += x.at(i, k) * y.at(k, j);
  return z;
}

Mat tr(const Mat& x) {
  Mat z(x.c, x.r);
  for (int64_t i = 0; i < x.r; i++)
    for (int64_t j = 0; j < x.c; j++) z.at(j, i) = x.at(i, j);
  return z;
}

Mat lin(double p, const Mat& x, double q, const Mat& y) {  // p·x + q·y
  Mat z = x;
  for (size_t i = 0; i < z.a.size(); i++) z.a[i] = p * x.a[i] + q * y.a[i];
  return z;
}

Mat ref_orthogonalize(Mat u, const MuonConfig& cfg) {
  if (cfg.row_normalize)
    for (int64_t i = 0; i < u.r; i++) {
      double n = 0;
      for (int64_t j = 0; j < u.c; j++) n += u.at(i, j) * u.at(i, j);
      for (int64_t j = 0; j < u.c; j++) u.at(i, j) /= std::max(std::sqrt(n), 1e-7);
    }
  double fro = 0;
  for (double v : u.a) fro += v * v;
  Mat x = u;
  for (double& v : x.a) v /= std::sqrt(fro) + 1e-7;
  bool tall = u.r > u.c;
  if (tall) x = tr(x);
  for (int s = 0; s < cfg.ns_steps; s++) {
    Mat A = mul(x, tr(x));
    Mat B = lin(-4.7750, A, 2.0315, mul(A, A));
    x = lin(3.4445, x, 1.0, mul(B, x));
  }
  if (tall) x = tr(x);
  double k = std::sqrt(std::max(1.0, double(u.r) / double(u.c)));
  for (double& v : x.a) v *= k;
  return x;
}

Tensor to_tensor(const Mat& m, DType dt = DType::f64) {
  Tensor t({m.r, m.c}, dt);
  for (size_t i = 0; i < m.a.size(); i++) t.set(int64_t(i), m.a[i]);
  return t;
}

Mat random_mat(Rng& rng, int64_t r, int64_t c, double std = 1.0) {
  Mat m(r, c);
  for (double& v : m.a) v = std * rng.normal();
  return m;
}

double max_abs_diff(const Tensor& t, const Mat& m) {
  double d = 0;
  for (size_t i = 0; i < m.a.size(); i++) d = std::max(d, std::abs(t.get(int64_t(i)) - m.a[i]));
  return d;
}

TEST(Muon, update_graph_matches_a_direct_computation_in_fp64) {
  struct Case {
    const char* what;
    int64_t rows, cols;
    MuonConfig cfg;
  };
  MuonConfig base;
  base.lr = 0.05;
  base.momentum = 0.9;
  MuonConfig plain = base, rownorm = base, decay = base, warm = base, short_ns = base;
  plain.nesterov = false;
  rownorm.row_normalize = true;
  decay.weight_decay = 0.1;
  warm.warmup_from = 0.6;
  warm.warmup_steps = 2;
  short_ns.ns_steps = 3;
  std::vector<Case> cases = {
      {"wide", 3, 5, base},       {"tall", 6, 4, base},           {"square", 4, 4, base},
      {"wide plain momentum", 3, 5, plain}, {"tall plain momentum", 6, 4, plain},
      {"wide row-normalized", 3, 5, rownorm}, {"tall row-normalized", 6, 4, rownorm},
      {"wide weight decay", 3, 5, decay}, {"tall weight decay", 6, 4, decay},
      {"tall warmup", 6, 4, warm},  {"wide 3 NS steps", 3, 5, short_ns},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Rng rng(7);
    Mat w = random_mat(rng, c.rows, c.cols), buf(c.rows, c.cols);
    ParamStore store;
    store.declare("w", {c.rows, c.cols}, Init::from_values(w.a));
    store.initialize(0, DType::f64);
    Muon opt(store, {{"w", c.cfg}}, DType::f64);
    for (int t = 0; t < 4; t++) {
      Mat g = random_mat(rng, c.rows, c.cols, 0.1);
      double lr_mult = 1.0 - 0.2 * t;
      double mu = muon_momentum(c.cfg, t);
      buf = lin(mu, buf, 1.0, g);
      Mat u = c.cfg.nesterov ? lin(1.0, g, mu, buf) : buf;
      Mat o = ref_orthogonalize(u, c.cfg);
      double lr = c.cfg.lr * lr_mult;
      w = lin(1.0 - lr * c.cfg.weight_decay, w, -lr, o);
      opt.step({{"w", to_tensor(g)}}, lr_mult);
      EXPECT_LT(max_abs_diff(store.get("w"), w), 1e-13) << "step " << t;
      EXPECT_LT(max_abs_diff(opt.buffer("w"), buf), 1e-13) << "step " << t;
    }
    EXPECT_EQ(opt.steps_taken("w"), 4);
  }
}

TEST(Muon, higher_rank_parameters_are_flattened_to_dim0_by_the_rest) {
  MuonConfig cfg;
  cfg.lr = 0.1;
  Rng rng(3);
  Mat w = random_mat(rng, 2, 6), g = random_mat(rng, 2, 6);
  ParamStore store;
  store.declare("w", {2, 3, 2}, Init::from_values(w.a));
  store.initialize(0, DType::f64);
  Muon opt(store, {{"w", cfg}}, DType::f64);
  Tensor gt = to_tensor(g).view({2, 3, 2});
  opt.step({{"w", gt}}, 1.0);
  Mat want = lin(1.0, w, -0.1, ref_orthogonalize(lin(1.0, g, 0.95, g), cfg));  // buf = g after one step
  EXPECT_LT(max_abs_diff(store.get("w"), want), 1e-13);
  ParamStore vec;
  vec.declare("v", {4}, Init::zeros());
  EXPECT_THROW(Muon(vec, {{"v", cfg}}), std::invalid_argument);
}

// Eigenvalues of a symmetric matrix by cyclic Jacobi rotations (small matrices only).
std::vector<double> symmetric_eigenvalues(Mat a) {
  int64_t n = a.r;
  for (int sweep = 0; sweep < 100; sweep++) {
    double off = 0;
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = i + 1; j < n; j++) off += a.at(i, j) * a.at(i, j);
    if (off < 1e-24) break;
    for (int64_t p = 0; p < n; p++)
      for (int64_t q = p + 1; q < n; q++) {
        if (std::abs(a.at(p, q)) < 1e-300) continue;
        double theta = (a.at(q, q) - a.at(p, p)) / (2 * a.at(p, q));
        double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int64_t k = 0; k < n; k++) {  // A ← Jᵀ A J
          double akp = a.at(k, p), akq = a.at(k, q);
          a.at(k, p) = c * akp - s * akq;
          a.at(k, q) = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; k++) {
          double apk = a.at(p, k), aqk = a.at(q, k);
          a.at(p, k) = c * apk - s * aqk;
          a.at(q, k) = s * apk + c * aqk;
        }
      }
  }
  std::vector<double> ev;
  for (int64_t i = 0; i < n; i++) ev.push_back(a.at(i, i));
  return ev;
}

TEST(Muon, newton_schulz_pushes_singular_values_towards_one) {
  // The quintic iteration does not converge to exactly 1: with (3.4445, −4.7750, 2.0315) the
  // singular values end up in roughly [0.68, 1.13] (measured here: XXᵀ's eigenvalues, their
  // squares, in [0.47, 1.27]), hence the loose band [0.45, 1.5]. The random Gaussian inputs start
  // far from it (eigenvalue ratios 9 to 3·10⁴).
  for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{{8, 20}, {20, 8}, {12, 12}}) {
    SCOPED_TRACE(std::to_string(rows) + "x" + std::to_string(cols));
    Rng rng(11);
    Mat u = random_mat(rng, rows, cols);
    Graph g;
    Var x = input(g, "u", {rows, cols});
    MuonConfig cfg;
    Var o = muon_orthogonalize(x, cfg);
    Executor ex(g, {o}, {DType::f64});
    Tensor ut = to_tensor(u);
    ex.bind("u", ut);
    ex.run();
    Mat out(rows, cols);
    for (int64_t i = 0; i < rows * cols; i++) out.a[size_t(i)] = ex.result(0).get(i);
    double shape_scale2 = std::max(1.0, double(rows) / double(cols));
    Mat gram = rows <= cols ? mul(out, tr(out)) : mul(tr(out), out);  // the small side
    for (double& v : gram.a) v /= shape_scale2;
    std::vector<double> ev = symmetric_eigenvalues(gram);
    double lo = *std::min_element(ev.begin(), ev.end()), hi = *std::max_element(ev.begin(), ev.end());
    EXPECT_GT(lo, 0.45);
    EXPECT_LT(hi, 1.5);
    std::vector<double> ev_in = symmetric_eigenvalues(rows <= cols ? mul(u, tr(u)) : mul(tr(u), u));
    double in_lo = *std::min_element(ev_in.begin(), ev_in.end()), in_hi = *std::max_element(ev_in.begin(), ev_in.end());
    EXPECT_GT(in_hi / in_lo, 4.0) << "the input should be far from orthogonal";
    std::printf("%lldx%lld: eigenvalues of XXᵀ after 5 NS steps in [%.3f, %.3f] (input ratio %.1f)\n",
                (long long)rows, (long long)cols, lo, hi, in_hi / in_lo);
  }
}

// Newton–Schulz over stacks of same-shape matrices (muon_orthogonalize_all) against one matrix
// at a time, in f32 on the CPU: the same bits in every parameter and momentum buffer, with fewer
// matmul nodes. Wide and tall matrices of transposed shapes share a stack, other iteration counts
// and coefficient sets do not, a lone shape stays alone; [64, 256] is large enough for the CPU
// gemm's column blocks (kernels/cpu/matmul.cc). Fails on the code before batching (no
// muon_orthogonalize_all; the node counts were equal).
TEST(Muon, batched_newton_schulz_gives_the_per_matrix_bits_with_fewer_matmuls) {
  MuonConfig base, rownorm, polar, short_ns;
  rownorm.row_normalize = true;
  polar.polar_express = true;
  short_ns.ns_steps = 3;
  const std::vector<std::tuple<std::string, Shape, MuonConfig>> params = {
      {"a0", {8, 16}, base},  {"a1", {16, 8}, base},    {"a2", {8, 16}, rownorm}, {"a3", {8, 2, 8}, base},
      {"b0", {64, 256}, base}, {"b1", {64, 256}, base}, {"b2", {256, 64}, base},
      {"c0", {12, 12}, base},  {"c1", {12, 12}, polar}, {"c2", {12, 12}, polar},  {"c3", {12, 12}, short_ns},
      {"d0", {4, 6}, base},
  };
  // Stacks: a* (4 × [8, 16]), b* (3 × [64, 256]), c1+c2 (polar); alone: c0, c3, d0.
  Rng rng(5);
  ParamStore store;
  std::vector<std::pair<std::string, MuonConfig>> rules;
  for (const auto& [n, s, c] : params) {
    std::vector<double> v(size_t(shape_numel(s)));
    for (double& x : v) x = rng.normal();
    store.declare(n, s, Init::from_values(v));
    rules.push_back({n, c});
  }
  store.initialize(0, DType::f32);
  std::map<std::string, Tensor> inputs;  // the same gradients, momenta and scalars for both graphs
  for (const auto& [n, s, c] : params) {
    Tensor g(s, DType::f32), b(s, DType::f32);
    for (int64_t i = 0; i < g.numel(); i++) g.set(i, 0.1 * rng.normal()), b.set(i, 0.05 * rng.normal());
    Tensor lr({}, DType::f32), mu({}, DType::f32);
    lr.set(0, 0.02);
    mu.set(0, 0.9);
    inputs["grad." + n] = g, inputs["muon_buf." + n] = b, inputs["muon_lr." + n] = lr, inputs["muon_mu." + n] = mu;
  }
  auto matmuls = [](const Graph& g) {
    int k = 0;
    for (int i = 0; i < g.size(); i++) k += g.node(i).op == Op::matmul;
    return k;
  };
  std::map<std::string, Tensor> result[2];
  int nodes[2];
  for (int batched = 0; batched < 2; batched++) {
    Graph g;
    build_muon_update(g, store, rules, batched == 1);
    nodes[batched] = matmuls(g);
    Executor ex(g, {}, ExecOptions{DType::f32, true, Device::cpu});
    for (const auto& [n, s, c] : params) {
      result[batched][n] = store.get(n).clone();
      result[batched]["muon_buf." + n] = inputs["muon_buf." + n].clone();
      ex.bind(n, result[batched][n]);
      ex.bind("muon_buf." + n, result[batched]["muon_buf." + n]);
      for (const char* k : {"grad.", "muon_lr.", "muon_mu."}) ex.bind(k + n, inputs[k + n]);
    }
    ex.run();
  }
  // Per matrix: 12 matrices × 3 matmuls per iteration (5, or 3 for c3). Batched: stacks a, b, c1+c2
  // and the lone c0, c3, d0: 5 + 5 + 5 + 5 + 3 + 5 iterations.
  EXPECT_EQ(nodes[0], 3 * (11 * 5 + 3));
  EXPECT_EQ(nodes[1], 3 * (5 * 5 + 3));
  for (auto& [name, t] : result[0]) {
    const Tensor& b = result[1].at(name);
    ASSERT_EQ(t.nbytes(), b.nbytes());
    EXPECT_EQ(std::memcmp(t.raw(), b.raw(), t.nbytes()), 0) << name << ": batched and per-matrix Newton–Schulz differ";
    EXPECT_NE(std::memcmp(t.raw(), name.rfind("muon_buf.", 0) == 0 ? inputs.at(name).raw() : store.get(name).raw(),
                          t.nbytes()),
              0)
        << name << " did not change";
  }
}

TEST(Muon, momentum_warms_up_linearly_then_holds) {
  MuonConfig c;
  c.momentum = 0.95;
  c.warmup_from = 0.85;
  c.warmup_steps = 500;
  EXPECT_DOUBLE_EQ(muon_momentum(c, 0), 0.85);
  EXPECT_NEAR(muon_momentum(c, 250), 0.90, 1e-15);
  EXPECT_NEAR(muon_momentum(c, 100), 0.87, 1e-15);
  EXPECT_DOUBLE_EQ(muon_momentum(c, 500), 0.95);
  EXPECT_DOUBLE_EQ(muon_momentum(c, 10000), 0.95);
  c.warmup_steps = 0;
  EXPECT_DOUBLE_EQ(muon_momentum(c, 0), 0.95);
}

TEST(AdamW, per_parameter_groups_and_the_adam_l2_form_in_one_graph) {
  ParamStore store;
  store.declare("a", {2}, Init::from_values({1.0, -1.0}));
  store.declare("b", {2}, Init::from_values({0.5, 2.0}));
  store.initialize(0, DType::f64);
  AdamWConfig ca{0.9, 0.95, 1e-8, 0.1, 0.05, true};    // AdamW, lr 0.05
  AdamWConfig cb{0.8, 0.99, 1e-6, 0.2, 0.01, false};  // Adam with L2, lr 0.01
  AdamW opt(store, {{"a", ca}, {"b", cb}}, DType::f64);
  double w[2][2] = {{1.0, -1.0}, {0.5, 2.0}}, m[2][2] = {}, v[2][2] = {};
  const AdamWConfig* cfg[2] = {&ca, &cb};
  for (int t = 1; t <= 3; t++) {
    double mult = 1.0 / t;
    Tensor ga({2}, DType::f64), gb({2}, DType::f64);
    for (int i = 0; i < 2; i++) ga.set(i, 0.3 * t - w[0][i]), gb.set(i, 0.1 * i - w[1][i]);
    for (int p = 0; p < 2; p++) {
      const AdamWConfig& c = *cfg[p];
      for (int i = 0; i < 2; i++) {
        double gi = (p == 0 ? ga : gb).get(i);
        if (!c.decoupled) gi += c.weight_decay * w[p][i];
        m[p][i] = c.beta1 * m[p][i] + (1 - c.beta1) * gi;
        v[p][i] = c.beta2 * v[p][i] + (1 - c.beta2) * gi * gi;
        double upd = (m[p][i] / (1 - std::pow(c.beta1, t))) / (std::sqrt(v[p][i] / (1 - std::pow(c.beta2, t))) + c.eps);
        if (c.decoupled) upd += c.weight_decay * w[p][i];
        w[p][i] -= c.lr * mult * upd;
      }
    }
    opt.step({{"a", ga}, {"b", gb}}, mult);
    for (int i = 0; i < 2; i++) {
      EXPECT_NEAR(store.get("a").get(i), w[0][i], 1e-14) << "step " << t;
      EXPECT_NEAR(store.get("b").get(i), w[1][i], 1e-14) << "step " << t;
    }
  }
}

// ---- OptimizerSet -----------------------------------------------------------------------------

// A stand-in for the DSL's Lua matching in these tests: the patterns below use only %. and %d,
// which become \. and \d in a regex; anchored like the DSL's.
bool lua_like_match(const std::string& name, const std::string& pattern) {
  std::string re;
  for (char ch : pattern) re += ch == '%' ? '\\' : ch;
  return std::regex_match(name, std::regex(re));
}

Json parse(const std::string& text) { return Json::parse(text, "test rules"); }

void declare_model(ParamStore& store) {
  store.declare("blocks.0.w", {4, 3}, Init::normal(1.0));
  store.declare("blocks.0.gain", {3}, Init::normal(1.0));
  store.declare("blocks.1.w", {3, 5}, Init::normal(1.0));
  store.declare("emb.weight", {6, 3}, Init::normal(1.0));
  store.declare("head.w", {2, 2, 2}, Init::normal(1.0));
}

const char* kRules = R"([
  {"match": "blocks%.%d+%..*", "rank": 2, "muon": {"lr": 0.04, "momentum": 0.95,
                                                   "momentum_warmup": {"from": 0.85, "steps": 3}}},
  {"match": "emb%.weight", "adam": {"lr": 0.05, "betas": [0.9, 0.95], "eps": 1e-8}},
  {"match": ".*", "adamw": {"lr": 0.01, "weight_decay": 0.1}}
])";

std::map<std::string, Tensor> random_grads(const ParamStore& store, Rng& rng, DType dt) {
  std::map<std::string, Tensor> g;
  for (const ParamSpec& p : store.specs()) {
    Tensor t(p.shape, dt);
    for (int64_t i = 0; i < t.numel(); i++) t.set(i, rng.normal());
    g[p.name] = t;
  }
  return g;
}

TEST(OptimizerSet, first_matching_rule_wins_and_rank_filters) {
  ParamStore store;
  declare_model(store);
  store.initialize(1);
  OptimizerSet opt(store, parse(kRules), lua_like_match);
  std::map<std::string, std::string> a;
  for (auto& [name, what] : opt.assignment()) a[name] = what;
  EXPECT_EQ(a["blocks.0.w"], "muon lr=0.04 momentum=0.95 warmup=0.85->0.95/3");
  EXPECT_EQ(a["blocks.1.w"], "muon lr=0.04 momentum=0.95 warmup=0.85->0.95/3");
  EXPECT_EQ(a["blocks.0.gain"], "adamw lr=0.01 betas=0.9,0.95 eps=1e-08 wd=0.1");  // rank 1: skips the muon rule
  EXPECT_EQ(a["emb.weight"], "adam lr=0.05 betas=0.9,0.95 eps=1e-08");
  EXPECT_EQ(a["head.w"], "adamw lr=0.01 betas=0.9,0.95 eps=1e-08 wd=0.1");
  EXPECT_EQ(opt.assignment().front().first, "blocks.0.w");  // declaration order
  ASSERT_NE(opt.muon(), nullptr);
  EXPECT_EQ(opt.muon()->params().size(), 2u);
  EXPECT_EQ(opt.adamw()->params().size(), 3u);
}

TEST(OptimizerSet, bad_rules_are_errors_that_name_the_parameter_or_rule) {
  ParamStore store;
  declare_model(store);
  store.initialize(1);
  auto build = [&](const std::string& rules) { OptimizerSet(store, parse(rules), lua_like_match); };
  std::string e = error_of([&] { build(R"([{"match": "blocks.*", "adam": {"lr": 0.1}}])"); });
  EXPECT_NE(e.find("'emb.weight'"), std::string::npos) << e;
  EXPECT_NE(e.find("matches no optim rule"), std::string::npos) << e;
  e = error_of([&] { build(R"([{"match": ".*", "muon": {"lr": 0.1}}])"); });
  EXPECT_NE(e.find("'blocks.0.gain'"), std::string::npos) << e;
  EXPECT_NE(e.find("Muon needs a matrix"), std::string::npos) << e;
  e = error_of([&] { build(R"([{"match": ".*", "adam": {"lr": 0.1, "momentun": 0.9}}])"); });
  EXPECT_NE(e.find("optim[1].adam: unknown setting 'momentun'"), std::string::npos) << e;
  e = error_of([&] { build(R"([{"match": ".*", "adam": {"eps": 0.1}}])"); });
  EXPECT_NE(e.find("optim[1].adam.lr is required"), std::string::npos) << e;
  e = error_of([&] { build(R"([{"match": ".*"}])"); });
  EXPECT_NE(e.find("exactly one of muon, adam, adamw"), std::string::npos) << e;
  e = error_of([&] { build(R"([{"match": ".*", "adam": {"lr": 0.1}, "muon": {"lr": 0.1}}])"); });
  EXPECT_NE(e.find("exactly one of muon, adam, adamw"), std::string::npos) << e;
  e = error_of([&] { build(R"([{"match": ".*", "adam": {"lr": 0.1, "betas": [0.9]}}])"); });
  EXPECT_NE(e.find("optim[1].adam.betas"), std::string::npos) << e;
  OptimizerSet ok(store, parse(kRules), lua_like_match);
  e = error_of([&] { ok.set_frozen({"nope"}); });
  EXPECT_NE(e.find("'nope'"), std::string::npos) << e;
}

TEST(OptimizerSet, frozen_parameters_and_their_state_do_not_move) {
  ParamStore store;
  declare_model(store);
  store.initialize(1, DType::f64);
  OptimizerSet opt(store, parse(kRules), lua_like_match, DType::f64);
  Rng rng(5);
  opt.set_frozen({"blocks.0.w", "emb.weight"});
  store.copy_set("live", "before");
  opt.step(random_grads(store, rng, DType::f64), 1.0);
  for (const ParamSpec& p : store.specs()) {
    bool frozen = p.name == "blocks.0.w" || p.name == "emb.weight";
    double diff = 0;
    for (int64_t i = 0; i < shape_numel(p.shape); i++)
      diff = std::max(diff, std::abs(store.get(p.name).get(i) - store.get(p.name, "before").get(i)));
    if (frozen) EXPECT_EQ(diff, 0.0) << p.name;
    else EXPECT_GT(diff, 0.0) << p.name;
  }
  EXPECT_EQ(opt.muon()->steps_taken("blocks.0.w"), 0);
  EXPECT_EQ(opt.muon()->steps_taken("blocks.1.w"), 1);
  EXPECT_EQ(opt.adamw()->steps_taken("emb.weight"), 0);
  for (int64_t i = 0; i < 12; i++) EXPECT_EQ(opt.muon()->buffer("blocks.0.w").get(i), 0.0);
  opt.set_frozen({});
  opt.step(random_grads(store, rng, DType::f64), 1.0);
  EXPECT_EQ(opt.muon()->steps_taken("blocks.0.w"), 1);
  EXPECT_EQ(opt.muon()->steps_taken("blocks.1.w"), 2);
  EXPECT_EQ(opt.adamw()->steps_taken("emb.weight"), 1);
  EXPECT_EQ(opt.steps_taken(), 2);
  EXPECT_NE(store.get("emb.weight").get(0), store.get("emb.weight", "before").get(0));
}

TEST(OptimizerSet, state_round_trip_gives_identical_later_updates) {
  Rng rng(9);
  std::vector<std::map<std::string, Tensor>> grads;
  ParamStore shapes;
  declare_model(shapes);
  for (int i = 0; i < 5; i++) grads.push_back(random_grads(shapes, rng, DType::f32));

  ParamStore a;
  declare_model(a);
  a.initialize(2);
  OptimizerSet oa(a, parse(kRules), lua_like_match);
  oa.step(grads[0], 1.0);
  oa.step(grads[1], 0.9);
  std::map<std::string, Tensor> saved = oa.state();
  EXPECT_EQ(saved.at("step").get(0), 2.0);
  EXPECT_TRUE(saved.count("muon.buf.blocks.0.w") && saved.count("adam.m.emb.weight") && saved.count("adam.v.head.w"));
  EXPECT_EQ(saved.at("muon.t.blocks.1.w").get(0), 2.0);
  a.copy_set("live", "saved");
  for (int i = 2; i < 5; i++) oa.step(grads[size_t(i)], 0.8);

  ParamStore b;
  declare_model(b);
  b.initialize(99);  // different weights and a fresh optimizer: everything comes from the state
  for (const ParamSpec& p : b.specs()) b.get(p.name) = a.get(p.name, "saved").clone();
  OptimizerSet ob(b, parse(kRules), lua_like_match);
  ob.load_state(saved);
  EXPECT_EQ(ob.steps_taken(), 2);
  for (int i = 2; i < 5; i++) ob.step(grads[size_t(i)], 0.8);
  for (const ParamSpec& p : a.specs())
    for (int64_t i = 0; i < shape_numel(p.shape); i++)
      ASSERT_EQ(a.get(p.name).get(i), b.get(p.name).get(i)) << p.name << "[" << i << "]";

  // A state that does not fit is refused, naming every problem, and changes nothing.
  std::map<std::string, Tensor> bad = saved;
  bad.erase("adam.v.head.w");
  bad["muon.buf.blocks.1.w"] = Tensor({5, 3}, DType::f32);
  bad["lion.m.x"] = Tensor({1}, DType::f32);
  std::string e = error_of([&] { ob.load_state(bad); });
  EXPECT_NE(e.find("missing 'adam.v.head.w'"), std::string::npos) << e;
  EXPECT_NE(e.find("'muon.buf.blocks.1.w' has shape [5, 3], expected [3, 5]"), std::string::npos) << e;
  EXPECT_NE(e.find("unexpected 'lion.m.x'"), std::string::npos) << e;
  EXPECT_EQ(ob.steps_taken(), 5);
}

// ---- free functions -----------------------------------------------------------------------------

TEST(ClipGradNorm, scales_only_above_the_limit_and_returns_the_norm_before) {
  std::map<std::string, Tensor> g;
  g["a"] = Tensor({2}, DType::f32);
  g["b"] = Tensor({1}, DType::f64);
  g["a"].set(0, 3), g["a"].set(1, 4), g["b"].set(0, 12);
  EXPECT_DOUBLE_EQ(clip_grad_norm(g, 20.0), 13.0);
  EXPECT_EQ(g["a"].get(0), 3.0);
  EXPECT_DOUBLE_EQ(clip_grad_norm(g, 6.5), 13.0);
  double c = 6.5 / (13.0 + 1e-6);
  EXPECT_FLOAT_EQ(float(g["a"].get(1)), float(4 * c));
  EXPECT_DOUBLE_EQ(g["b"].get(0), 12 * c);
  EXPECT_NEAR(clip_grad_norm(g, 100.0), 6.5, 1e-6);
}

TEST(WeightAverages, ema_and_swa_sets_follow_live) {
  ParamStore store;
  store.declare("w", {2}, Init::from_values({1.0, 2.0}));
  store.initialize(0, DType::f64);
  ema_update(store, "ema", 0.9);  // created from live
  EXPECT_EQ(store.get("w", "ema").get(1), 2.0);
  store.get("w").set(0, 11.0);
  ema_update(store, "ema", 0.9);
  EXPECT_NEAR(store.get("w", "ema").get(0), 0.9 * 1.0 + 0.1 * 11.0, 1e-15);
  EXPECT_NEAR(store.get("w", "ema").get(1), 2.0, 1e-15);
  EXPECT_EQ(store.get("w").get(0), 11.0);  // live is untouched

  const double snapshots[3] = {1.0, 4.0, 10.0};
  for (int k = 0; k < 3; k++) {
    store.get("w").set(0, snapshots[k]);
    swa_update(store, "swa", k);
  }
  EXPECT_NEAR(store.get("w", "swa").get(0), 5.0, 1e-15);
  EXPECT_NEAR(store.get("w", "swa").get(1), 2.0, 1e-15);
  EXPECT_THROW(ema_update(store, "live", 0.9), std::invalid_argument);
}

// Messages that once named no value (issue 15): each must carry what it refused.
TEST(OptimizerSet, errors_name_the_value) {
  ParamStore store;
  declare_model(store);
  store.initialize(1);
  std::string e = error_of([&] { OptimizerSet(store, parse(R"({"match": ".*", "adam": {"lr": 0.5}})"), lua_like_match); });
  EXPECT_NE(e.find("optim rules must be a list"), std::string::npos) << e;
  EXPECT_NE(e.find(R"(got {"adam":{"lr":0.5},"match":".*"})"), std::string::npos) << e;
  e = error_of([&] { OptimizerSet(store, Json(), lua_like_match); });
  EXPECT_NE(e.find("got nothing"), std::string::npos) << e;
  store.copy_set("live", "swa");
  e = error_of([&] { swa_update(store, "swa", -2); });
  EXPECT_NE(e.find("swa_update: count must be >= 0, got -2"), std::string::npos) << e;
}

}  // namespace
}  // namespace golf
