// Golden test of examples/combiner.lua (SEEDS.md §3) against scripts/reference/combiner.py, preset
// "tiny", every parameter random (α, M, β too): the "combined" graph (base at positions 1..T−1, the
// combiner at the last, T_1 from a second full pass over T + 1 positions) — loss, logits and every
// gradient to relative norm error < 1e-5 in fp32 (a gradient above it passes within the
// reference's own fp32 noise, GoldenCase::fp32_noise_floor) and < 1e-6 in fp64.
#include <gtest/gtest.h>

#include "runtime/train/combiner_fit.h"
#include "tests/support/golden_case.h"

namespace golf {
namespace {

GoldenCase combiner() {
  GoldenCase c;
  c.reference = "combiner.py --seed 3";
  c.script = "examples/combiner.lua";
  c.overrides = {"tiny", {}};
  c.mode = "combined";
  // The per-block q_gain gradients are sums with heavy cancellation, as PRISM's (docs/seeds.md):
  // in fp32 one sits at 1.01e-5; judged against the fp64 reference with the reference's own fp32
  // error as the floor.
  c.fp32_noise_floor = true;
  return c;
}

TEST(GoldenCombiner, combined_fp32) { run_golden_case(combiner(), DType::f32, 1e-5); }
TEST(GoldenCombiner, combined_fp64) { run_golden_case(combiner(), DType::f64, 1e-6); }

// The gradient fit against torch.optim.AdamW (scripts/reference/combiner.py --fit-steps): the same
// random features, embedding and starting combiner; the loss before each of 5 steps and after the
// last, and the final α, M, β. Micro-batches of 16 rows here, one full batch in the reference.
void expect_gradient_fit_matches(DType dtype, double tol) {
  if (!have_torch()) GTEST_SKIP() << "python3-torch is not installed";
  std::string dump = ::testing::TempDir() + "combiner_fit_" + dtype_name(dtype) + ".bin";
  std::string cmd = std::string("/usr/bin/python3 ") + GOLFRT_SOURCE_DIR +
                    "/scripts/reference/combiner.py --fit-steps 5 --fit-lr 1e-2 --fit-windows 48 --seed 5 --dtype " +
                    (dtype == DType::f64 ? "float64" : "float32") + " --out " + dump + " >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::map<std::string, Tensor> ref;
  for (auto& [name, t] : read_tensor_dump(dump)) ref[name] = t;

  ModelScript script(std::string(GOLFRT_SOURCE_DIR) + "/examples/combiner.lua", {"tiny", {}});
  GraphFactory factory = [&](const std::string& mode, int64_t b, int64_t t) -> std::unique_ptr<ModelGraph> {
    return script.build(mode, b, t);
  };
  auto m = script.build("combiner_fit", 16, 1);
  m->store.initialize(0, dtype);
  m->store.get("tok_emb.weight") = ref.at("tok_emb.weight").to(dtype);
  for (const char* n : {"alpha", "M", "beta"})
    m->store.get(std::string("combiner.") + n) = ref.at(std::string("start.") + n).to(dtype);
  CombinerFeatures f;
  const Tensor& h = ref.at("fit.h");
  f.n = h.dim(0);
  f.d = h.dim(1);
  for (int64_t i = 0; i < h.numel(); i++) f.h.push_back(h.get(i)), f.t1.push_back(ref.at("fit.t1").get(i));
  for (int64_t i = 0; i < f.n; i++) f.y.push_back(int32_t(ref.at("fit.y").get(i)));
  CombinerFitSpec spec;
  spec.method = "gradient";
  spec.batch = 16;
  spec.lr = 1e-2;
  spec.steps = 5;
  std::vector<double> losses = gradient_fit(factory, m->store, "live", f, spec, dtype);
  const Tensor& want = ref.at("fit.losses");
  ASSERT_EQ(int64_t(losses.size()), want.numel());
  for (size_t i = 0; i < losses.size(); i++) EXPECT_NEAR(losses[i], want.get(int64_t(i)), tol * want.get(0)) << "loss " << i;
  for (const char* n : {"combiner.alpha", "combiner.M", "combiner.beta"})
    EXPECT_LT(rel_err(m->store.get(n), ref.at(n)), tol) << n;
  std::printf("gradient fit %s: loss %.9g -> %.9g (reference %.9g -> %.9g)\n", dtype_name(dtype), losses.front(),
              losses.back(), want.get(0), want.get(want.numel() - 1));
}

TEST(GoldenCombiner, gradient_fit_fp32) { expect_gradient_fit_matches(DType::f32, 1e-5); }
TEST(GoldenCombiner, gradient_fit_fp64) { expect_gradient_fit_matches(DType::f64, 1e-9); }

}  // namespace
}  // namespace golf
