// The linear combiner (examples/combiner.lua, runtime/train/combiner_fit.h, WindowThinker):
//  - identity at init: α, M, β zero ⇒ the combined graph's logits and loss are the base's, bit for bit;
//  - T_1 through the KV cache (prefill, then one thinking step) equals T_1 from a full forward over
//    T + 1 positions with the last input embedding replaced (the "combined" graph), in fp32 and fp64;
//  - the ridge solve: exact recovery of a noise-free combiner, and the joint normal equations over
//    all 1 + d² + d unknowns (solved here independently) with λ > 0 and noise;
//  - the gradient fit: AdamW's first step and a falling loss;
//  - the last-position scores: the base's equal Evaluator::run_last's;
//  - the fit phase's parsing, and both fits end to end: `golfrt train` with the fit as the last
//    phase, then `golfrt decode --eval last` reproducing the metrics' two numbers from the artifact.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "dsl/script.h"
#include "runtime/decode/kv_decoder.h"
#include "runtime/executor.h"
#include "runtime/rng.h"
#include "runtime/train/combiner_fit.h"
#include "runtime/train/evaluate.h"

namespace golf {
namespace {

const int64_t kB = 2, kT = 16;

std::string script_path() { return std::string(GOLFRT_SOURCE_DIR) + "/examples/combiner.lua"; }

// Every parameter away from its init (zeros would hide paths): matrices N(0, 1/√cols), the
// embedding N(0, 0.5), vectors and scalars their init + N(0, 0.2²). The combiner too unless
// `zero_combiner`.
void randomize(ParamStore& store, uint64_t seed, bool zero_combiner) {
  Rng rng{seed};
  for (const ParamSpec& p : store.specs()) {
    Tensor& t = store.get(p.name);
    const bool comb = p.name.rfind("combiner.", 0) == 0;
    for (int64_t i = 0; i < t.numel(); i++) {
      double v = t.get(i);
      if (comb && zero_combiner) v = 0;
      else if (p.name == "tok_emb.weight") v = 0.5 * rng.normal();
      else if (p.shape.size() == 2 && !p.name.ends_with("resid_mix") && !p.name.ends_with("skip_weights") &&
               !p.name.ends_with("skip_gates"))
        v = rng.normal() / std::sqrt(double(p.shape[1]));
      else v += 0.2 * rng.normal();
      t.set(i, v);
    }
  }
}

Tensor random_ids(Shape shape, int64_t vocab, uint64_t seed) {
  Rng rng{seed};
  Tensor t(shape, DType::i32);
  for (int64_t i = 0; i < t.numel(); i++) t.set(i, double(rng.below(uint64_t(vocab))));
  return t;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.numel(), b.numel());
  double m = 0;
  for (int64_t i = 0; i < a.numel(); i++) m = std::max(m, std::abs(a.get(i) - b.get(i)));
  return m;
}

struct Fixture {
  ModelScript script{script_path(), {"tiny", {}}};
  GraphFactory factory = [this](const std::string& mode, int64_t b, int64_t t) -> std::unique_ptr<ModelGraph> {
    return script.build(mode, b, t);
  };
};

TEST(Combiner, zero_combiner_gives_the_base_logits_bit_for_bit) {
  Fixture f;
  auto base = f.script.build("eval", kB, kT);
  auto comb = f.script.build("combined", kB, kT);
  comb->store.initialize(7);
  randomize(comb->store, 11, true);
  Executor eb(base->graph, {base->loss, base->logits});
  for (const ParamSpec& p : base->store.specs()) eb.bind(p.name, comb->store.get(p.name));
  Executor ec(comb->graph, {comb->loss, comb->logits});
  ec.bind_params(comb->store);
  Tensor x = random_ids({kB, kT}, 64, 1), y = random_ids({kB, kT}, 64, 2);
  for (Executor* e : {&eb, &ec}) e->bind("tokens", x), e->bind("targets", y), e->run();
  for (size_t i = 0; i < 2; i++) {
    ASSERT_EQ(eb.result(i).nbytes(), ec.result(i).nbytes());
    EXPECT_EQ(std::memcmp(eb.result(i).raw(), ec.result(i).raw(), eb.result(i).nbytes()), 0)
        << (i == 0 ? "loss" : "logits") << ": max difference " << max_abs_diff(eb.result(i), ec.result(i));
  }
  // The control: a nonzero combiner moves the last position's logits (and only those).
  comb->store.get("combiner.alpha").set(0, 0.5);
  ec.bind_params(comb->store);
  ec.run();
  const int64_t V = 64;
  double moved = 0, kept = 0;
  for (int64_t r = 0; r < kB * kT; r++)
    for (int64_t v = 0; v < V; v++) {
      const double d = std::abs(eb.result(1).get(r * V + v) - ec.result(1).get(r * V + v));
      (r % kT == kT - 1 ? moved : kept) = std::max(r % kT == kT - 1 ? moved : kept, d);
    }
  EXPECT_GT(moved, 1e-3);
  EXPECT_EQ(kept, 0.0);
}

void expect_cache_matches_full_pass(DType real, double tol) {
  Fixture f;
  auto comb = f.script.build("combined", kB, kT);
  comb->store.initialize(7, real);
  randomize(comb->store, 13, false);
  Var h = comb->outputs.at("h"), t1 = comb->outputs.at("t1");
  Executor ec(comb->graph, {comb->loss, h, t1}, {real});
  ec.bind_params(comb->store);
  Tensor x = random_ids({kB, kT}, 64, 3), y = random_ids({kB, kT}, 64, 4);
  ec.bind("tokens", x);
  ec.bind("targets", y);
  ec.run();
  auto base = f.script.build("eval", kB, kT);
  Executor eb(base->graph, {base->loss}, {real});
  for (const ParamSpec& p : base->store.specs()) eb.bind(p.name, comb->store.get(p.name));
  eb.bind("tokens", x);
  eb.bind("targets", y);
  eb.run();

  WindowThinker th(f.factory, comb->store, "live", kB, kT, real);
  std::vector<int32_t> rows;
  for (int64_t b = 0; b < kB; b++) {
    for (int64_t i = 0; i < kT; i++) rows.push_back(int32_t(x.get(b * kT + i)));
    rows.push_back(int32_t(y.get(b * kT + kT - 1)));
  }
  // Twice: the second window's prefill must not see the first's thinking row.
  for (int rep = 0; rep < 2; rep++) {
    th.run(rows);
    double scale = 0;
    for (int64_t i = 0; i < ec.result(2).numel(); i++) scale = std::max(scale, std::abs(ec.result(2).get(i)));
    EXPECT_LT(max_abs_diff(th.h(), ec.result(1)), tol) << "h";
    EXPECT_LT(max_abs_diff(th.t1(), ec.result(2)), tol * scale) << "T_1 (largest |T_1| " << scale << ")";
    for (int64_t b = 0; b < kB; b++) {
      EXPECT_NEAR(th.combined_loss().get(b), ec.result(0).get(b * kT + kT - 1), tol * 10) << "combined loss, row " << b;
      EXPECT_NEAR(th.base_loss().get(b), eb.result(0).get(b * kT + kT - 1), tol * 10) << "base loss, row " << b;
    }
    EXPECT_GT(std::abs(th.combined_loss().get(0) - th.base_loss().get(0)), 1e-3) << "the combiner changes the prediction";
  }
}

TEST(Combiner, thinking_step_with_the_kv_cache_equals_the_full_pass_fp32) { expect_cache_matches_full_pass(DType::f32, 2e-5); }
TEST(Combiner, thinking_step_with_the_kv_cache_equals_the_full_pass_fp64) { expect_cache_matches_full_pass(DType::f64, 1e-11); }

// Random features h, t [n, d] and a combiner.
struct Synthetic {
  int64_t n, d;
  std::vector<double> h, t, target;
  CombinerParams truth;
  Synthetic(int64_t n_, int64_t d_, double noise, uint64_t seed) : n(n_), d(d_) {
    Rng rng{seed};
    for (int64_t i = 0; i < n * d; i++) h.push_back(rng.normal()), t.push_back(rng.normal() + 0.3);
    truth.alpha = 0.37;
    for (int64_t i = 0; i < d * d; i++) truth.M.push_back(rng.normal() / std::sqrt(double(d)));
    for (int64_t i = 0; i < d; i++) truth.beta.push_back(rng.normal());
    for (int64_t i = 0; i < n; i++)
      for (int64_t j = 0; j < d; j++) {
        double v = (1 + truth.alpha) * h[size_t(i * d + j)] + truth.beta[size_t(j)] + noise * rng.normal();
        for (int64_t k = 0; k < d; k++) v += truth.M[size_t(j * d + k)] * t[size_t(i * d + k)];
        target.push_back(v);
      }
  }
};

TEST(CombinerRidge, recovers_a_noise_free_combiner) {
  Synthetic s(300, 6, 0.0, 5);
  CombinerParams p = ridge_solve(s.h.data(), s.t.data(), s.target.data(), s.n, s.d, 1e-12);
  EXPECT_NEAR(p.alpha, s.truth.alpha, 1e-8);
  for (size_t i = 0; i < p.M.size(); i++) EXPECT_NEAR(p.M[i], s.truth.M[i], 1e-8) << "M " << i;
  for (size_t i = 0; i < p.beta.size(); i++) EXPECT_NEAR(p.beta[i], s.truth.beta[i], 1e-8) << "beta " << i;
}

// The joint problem over θ = [α, M (row-major), β]: rows (i, j) of the design read
// h_ij·α + Σ_k t_ik·M_jk + β_j ≈ target_ij − h_ij; normal equations (AᵀA + λ·diag(1, 1…1, 0…0))θ = Aᵀb
// solved by Gaussian elimination with partial pivoting.
TEST(CombinerRidge, equals_the_joint_normal_equations) {
  Synthetic s(80, 4, 0.5, 9);
  const double lambda = 7.5;
  const int64_t d = s.d, u = 1 + d * d + d;
  std::vector<double> A(size_t(u * u), 0.0), rhs(size_t(u), 0.0), a(static_cast<size_t>(u));
  for (int64_t i = 0; i < s.n; i++)
    for (int64_t j = 0; j < d; j++) {
      std::fill(a.begin(), a.end(), 0.0);
      a[0] = s.h[size_t(i * d + j)];
      for (int64_t k = 0; k < d; k++) a[size_t(1 + j * d + k)] = s.t[size_t(i * d + k)];
      a[size_t(1 + d * d + j)] = 1.0;
      const double b = s.target[size_t(i * d + j)] - s.h[size_t(i * d + j)];
      for (int64_t r = 0; r < u; r++) {
        rhs[size_t(r)] += a[size_t(r)] * b;
        for (int64_t c = 0; c < u; c++) A[size_t(r * u + c)] += a[size_t(r)] * a[size_t(c)];
      }
    }
  for (int64_t r = 0; r < 1 + d * d; r++) A[size_t(r * u + r)] += lambda;
  for (int64_t c = 0; c < u; c++) {
    int64_t piv = c;
    for (int64_t r = c + 1; r < u; r++)
      if (std::abs(A[size_t(r * u + c)]) > std::abs(A[size_t(piv * u + c)])) piv = r;
    for (int64_t k = 0; k < u; k++) std::swap(A[size_t(c * u + k)], A[size_t(piv * u + k)]);
    std::swap(rhs[size_t(c)], rhs[size_t(piv)]);
    for (int64_t r = c + 1; r < u; r++) {
      const double f = A[size_t(r * u + c)] / A[size_t(c * u + c)];
      for (int64_t k = c; k < u; k++) A[size_t(r * u + k)] -= f * A[size_t(c * u + k)];
      rhs[size_t(r)] -= f * rhs[size_t(c)];
    }
  }
  std::vector<double> theta(static_cast<size_t>(u));
  for (int64_t r = u - 1; r >= 0; r--) {
    double v = rhs[size_t(r)];
    for (int64_t k = r + 1; k < u; k++) v -= A[size_t(r * u + k)] * theta[size_t(k)];
    theta[size_t(r)] = v / A[size_t(r * u + r)];
  }
  CombinerParams p = ridge_solve(s.h.data(), s.t.data(), s.target.data(), s.n, s.d, lambda);
  EXPECT_NEAR(p.alpha, theta[0], 1e-10);
  for (int64_t i = 0; i < d * d; i++) EXPECT_NEAR(p.M[size_t(i)], theta[size_t(1 + i)], 1e-10) << "M " << i;
  for (int64_t i = 0; i < d; i++) EXPECT_NEAR(p.beta[size_t(i)], theta[size_t(1 + d * d + i)], 1e-10) << "beta " << i;
  EXPECT_GT(std::abs(p.alpha - s.truth.alpha), 1e-4) << "λ and the noise should move the answer off the truth";
}

// Features of the tiny model (random base, zero combiner) on random windows.
CombinerFeatures tiny_features(Fixture& f, std::unique_ptr<BuiltModel>& m, int64_t windows) {
  m = f.script.build("combined", 1, kT);
  m->store.initialize(7);
  randomize(m->store, 17, true);
  WindowThinker th(f.factory, m->store, "live", 8, kT);
  Tensor ids = random_ids({windows * (kT + 1)}, 64, 21);
  std::vector<int32_t> rows;
  for (int64_t i = 0; i < ids.numel(); i++) rows.push_back(int32_t(ids.get(i)));
  return collect_combiner_features(th, rows);
}

TEST(CombinerGradientFit, first_step_is_adamw_and_the_loss_falls) {
  Fixture f;
  std::unique_ptr<BuiltModel> m;
  CombinerFeatures feats = tiny_features(f, m, 32);
  ASSERT_EQ(feats.n, 32);
  EXPECT_NEAR(feats.combined_nats, feats.base_nats, 1e-4 * feats.base_nats) << "a zero combiner is the base";
  CombinerFitSpec spec;
  spec.method = "gradient";
  spec.batch = 8;
  spec.lr = 1e-2;
  spec.steps = 1;
  std::vector<double> one = gradient_fit(f.factory, m->store, "live", feats, spec);
  ASSERT_EQ(one.size(), 2u);
  EXPECT_NEAR(one[0], feats.base_nats / double(feats.n), 1e-5) << "the fit starts from the base's loss";
  // From zero, AdamW's first step moves every parameter by lr·g/(|g| + eps): by lr unless g ≈ 0.
  CombinerParams p = read_combiner(m->store, "live");
  int64_t full = 0, total = 0;
  for (double v : p.M) full += std::abs(std::abs(v) - spec.lr) < 1e-3 * spec.lr, total++;
  for (double v : p.beta) full += std::abs(std::abs(v) - spec.lr) < 1e-3 * spec.lr, total++;
  EXPECT_NEAR(std::abs(p.alpha), spec.lr, 1e-3 * spec.lr);
  EXPECT_GT(full, total * 9 / 10);
  EXPECT_LT(one[1], one[0]);

  write_combiner(m->store, "live", CombinerParams{0, std::vector<double>(p.M.size()), std::vector<double>(p.beta.size())});
  spec.steps = 40;
  std::vector<double> losses = gradient_fit(f.factory, m->store, "live", feats, spec);
  ASSERT_EQ(losses.size(), 41u);
  EXPECT_LT(losses.back(), losses.front() - 0.05) << "40 steps should fit 32 windows noticeably";
  // What the fit wrote is what the cached path then scores.
  WindowThinker th(f.factory, m->store, "live", 8, kT);
  Tensor ids = random_ids({32 * (kT + 1)}, 64, 21);
  std::vector<int32_t> rows;
  for (int64_t i = 0; i < ids.numel(); i++) rows.push_back(int32_t(ids.get(i)));
  CombinerFeatures again = collect_combiner_features(th, rows);
  EXPECT_NEAR(again.combined_nats / double(again.n), losses.back(), 1e-4);
}

// On a model's features: the last quarter of the windows is held out and chooses λ and the step,
// so the fit never loses to the base there, and what lands in the set is the returned c·Δ.
TEST(CombinerRidge, fit_on_model_features_never_loses_on_the_held_out_windows) {
  Fixture f;
  std::unique_ptr<BuiltModel> m;
  CombinerFeatures feats = tiny_features(f, m, 64);
  RidgeReport r;
  CombinerParams p = ridge_fit(f.factory, m->store, "live", feats, 1e-2, 8, DType::f32, Device::cpu, &r);
  EXPECT_EQ(r.fit_windows, 48);
  EXPECT_EQ(r.held_windows, 16);
  EXPECT_GE(r.step, 0.0);
  EXPECT_LE(r.step, 8.0);
  EXPECT_LE(r.loss_fitted, r.loss_base);
  EXPECT_TRUE(r.lambda == 1e-2 || r.lambda == 1e-2 * 10 || r.lambda == 1e-2 * 100 || r.lambda == 1e-2 * 1000) << r.lambda;
  EXPECT_NEAR(m->store.get("combiner.alpha").get(0), p.alpha, 1e-6 * (1 + std::abs(p.alpha)));
  EXPECT_NEAR(m->store.get("combiner.beta").get(3), p.beta[3], 1e-6 * (1 + std::abs(p.beta[3])));
  std::printf("ridge on random-model features: residual rms %.4f, lambda %g, step %.4f, held-out loss %.5f -> %.5f\n",
              r.residual_rms, r.lambda, r.step, r.loss_base, r.loss_fitted);
}

TEST(CombinerRidge, too_few_windows_to_hold_some_out_is_an_error) {
  Fixture f;
  std::unique_ptr<BuiltModel> m;
  CombinerFeatures feats = tiny_features(f, m, 8);
  EXPECT_THROW(ridge_fit(f.factory, m->store, "live", feats, 1e-2, 8), std::invalid_argument);
}

TEST(Combiner, last_position_base_scores_equal_the_evaluator) {
  Fixture f;
  auto m = f.script.build("combined", 1, kT);
  m->store.initialize(7);
  randomize(m->store, 19, false);
  Tensor ids = random_ids({5 * 40 + 3}, 64, 23);
  std::vector<uint16_t> tokens;
  for (int64_t i = 0; i < ids.numel(); i++) tokens.push_back(uint16_t(ids.get(i)));
  ByteTable table;
  table.vocab = 64;
  for (int v = 0; v < 64; v++) {
    table.base_bytes.push_back(1 + v % 3);
    table.has_leading_space.push_back(v % 2);
    table.is_boundary.push_back(v == 1);
  }
  LastPositionScores s = score_last_combined(f.factory, m->store, "live", tokens, table, kT, 40, 3);
  Evaluator ev(f.factory, kT, 3, DType::f32);
  EvalResult r = ev.run_last(m->store, "live", tokens, table, 40);
  EXPECT_EQ(s.base.targets, 5);
  EXPECT_EQ(r.targets, 5);
  EXPECT_EQ(s.base.bytes, r.bytes);
  EXPECT_EQ(s.combined.bytes, r.bytes);
  EXPECT_NEAR(s.base.nats, r.nats, 1e-4);
  EXPECT_GT(std::abs(s.combined.nats - s.base.nats), 1e-3);
}

TEST(CombinerFitPhase, parses_and_refuses) {
  CombinerFitSpec s;
  EXPECT_FALSE(combiner_fit_phase(Json::parse(R"({"phases":[{"name":"a"}]})"), &s));
  ASSERT_TRUE(combiner_fit_phase(Json::parse(R"({"phases":[{"name":"a"},{"fit":"ridge","windows":64,"batch":16}]})"), &s));
  EXPECT_EQ(s.method, "ridge");
  EXPECT_EQ(s.windows, 64);
  EXPECT_THROW(combiner_fit_phase(Json::parse(R"({"phases":[{"fit":"ridge"},{"name":"a"}]})"), &s), std::invalid_argument);
  EXPECT_THROW(combiner_fit_phase(Json::parse(R"({"phases":[{"fit":"lstsq"}]})"), &s), std::invalid_argument);
  EXPECT_THROW(combiner_fit_phase(Json::parse(R"({"phases":[{"fit":"ridge","windos":3}]})"), &s), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// End to end through the CLI, on byte-level data prepared from generated text.

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int sh(const std::string& cmd) { return std::system(cmd.c_str()); }

const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string d = ::testing::TempDir() + "combiner_e2e_" + std::to_string(::getpid());
    sh("rm -rf " + d + " && mkdir -p " + d);
    std::string text;
    uint64_t x = 0x2545f4914f6cdd1dull;
    static const char* const words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far", "home", "at", "noon"};
    for (int i = 0; i < 12000; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      text += words[x % 13];
      text += (i % 11 == 10) ? ".\n" : " ";
    }
    std::ofstream(d + "/text.txt") << text;
    EXPECT_EQ(sh(std::string(GOLFRT_CLI) + " data prepare --text " + d + "/text.txt --out " + d + "/data --bytes --quiet"), 0);
    // The script beside a copy of examples/combiner.lua, which it extends (require finds it there).
    std::ofstream(d + "/combiner.lua") << slurp(script_path());
    return d;
  }();
  return dir;
}

void expect_fit_end_to_end(const std::string& fit) {
  const std::string d = scratch_dir(), run = d + "/run_" + fit, script = d + "/fit_" + fit + ".lua";
  std::ofstream(script) << "local M = require \"combiner\"\n"
                           "M.train = { batch_tokens = 128, micro_batch = 8, steps = 6, log_every = 2,\n"
                           "  optim = { { match = \".*\", adam = { lr = 0.01 } } },\n"
                           "  phases = { { name = \"base\" }, { name = \"combiner\", fit = \"" + fit +
                               "\", windows = 32, batch = 8, steps = 10, lr = 0.01, chunk = 64 } } }\n"
                           "M.quant = { default = \"int8\", keep_float_below = 0, rules = { { match = \"combiner%.alpha\", encoding = \"fp16\" },"
                           " { match = \"combiner%.beta\", encoding = \"fp16\" } } }\n"
                           "return M\n";
  const std::string cli = GOLFRT_CLI;
  ASSERT_EQ(sh(cli + " train " + script + " --preset tiny --set vocab=260 --data " + d + "/data --out " + run +
               " --quiet > " + run + ".log 2>&1"), 0) << slurp(run + ".log");
  Json line;
  std::istringstream metrics(slurp(run + "/metrics.jsonl"));
  for (std::string l; std::getline(metrics, l);)
    if (l.find("combiner_fit") != std::string::npos) line = Json::parse(l);
  ASSERT_TRUE(line.is_object()) << "no combiner line in " << run << "/metrics.jsonl";
  EXPECT_EQ(line["combiner_fit"].str(), fit);
  EXPECT_EQ(line["fit_windows"].integer(), 32);
  const double base = line["last_base_bpb"].number(), combined = line["last_combined_bpb"].number();
  EXPECT_GT(base, 0);
  EXPECT_GT(combined, 0);
  EXPECT_LE(line["fit_combined_loss"].number(), line["fit_base_loss"].number() + 1e-6)
      << "the fit should not lose to the base on its own windows";
  if (fit == "gradient") {
    EXPECT_LT(line["fit_loss_last"].number(), line["fit_loss_first"].number());
  } else {
    EXPECT_LE(line["held_loss_fitted"].number(), line["held_loss_base"].number()) << "λ and the step are chosen on the held-out windows";
  }
  ASSERT_EQ(sh(cli + " decode " + run + "/artifact.bin --data " + d + "/data --eval last --chunk 64 > " + run +
               ".decode 2>&1"),
            0)
      << slurp(run + ".decode");
  const std::string out = slurp(run + ".decode");
  double got[2] = {-1, -1};
  int k = 0;
  std::istringstream lines(out);
  for (std::string l; std::getline(lines, l) && k < 2;) {
    size_t at = l.find("val_bpb ");
    if (at == std::string::npos) continue;
    EXPECT_NE(l.find(k == 0 ? "without combiner" : "with combiner"), std::string::npos) << l;
    got[k++] = std::stod(l.substr(at + 8));
  }
  ASSERT_EQ(k, 2) << out;
  // The artifact's weights are int8 / fp16: the decoded scores agree to the quantization's effect.
  EXPECT_NEAR(got[0], base, 0.02 * base) << out;
  EXPECT_NEAR(got[1], combined, 0.02 * combined) << out;
  std::printf("%s fit: last-position bpb %.5f without, %.5f with (decoded %.5f, %.5f)\n", fit.c_str(), base, combined,
              got[0], got[1]);
}

TEST(CombinerEndToEnd, ridge_fit_phase_and_decode) { expect_fit_end_to_end("ridge"); }
TEST(CombinerEndToEnd, gradient_fit_phase_and_decode) { expect_fit_end_to_end("gradient"); }

// Messages that once named no value (issue 15): each must carry what it refused.
TEST(Combiner, ridge_without_features_names_the_sizes) {
  std::string e;
  try {
    ridge_solve(nullptr, nullptr, nullptr, 0, 4, 1e-2);
  } catch (const std::invalid_argument& x) {
    e = x.what();
  }
  EXPECT_NE(e.find("ridge: no features (0 rows of width 4)"), std::string::npos) << e;
}

}  // namespace
}  // namespace golf
