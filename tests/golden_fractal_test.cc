// Golden test of examples/fractal.lua (preset tiny: SpectralLinear, SharedProjector, two causal
// folds, the byte-level virtual vocab with its tied head) against scripts/reference/fractal.py,
// every parameter randomized: loss, logits and every gradient, fp32 < 1e-5 and fp64 < 1e-6
// relative norm error. The reference builds its DCT and Hadamard bases directly (the cosine
// formula; Sylvester rows sorted by sign changes); golfrt composes them from small tables in the
// graph (golf/spectral.lua) and keeps its own values (unstored buffers), so the test checks them
// too. Both evaluation orders of the spectral linears are checked: factored and materialized.
// The new pieces are compositions of existing ops: their gradients are those ops' (each checked by
// tests/grad_check_test.cc), and the reference's own autograd is checked by finite differences
// (`fractal.py --gradcheck`, run below).
#include <cstdlib>

#include "tests/support/golden_case.h"

namespace golf {
namespace {

GoldenCase fractal(const std::string& basis, const std::string& eval) {
  GoldenCase c;
  c.reference = "fractal.py --basis " + basis;
  c.script = "examples/fractal.lua";
  c.overrides = {"tiny", {{"basis", basis}, {"spectral_eval", eval}}};
  return c;
}

TEST(GoldenFractal, dct_fp32) { run_golden_case(fractal("dct", "auto"), DType::f32, 1e-5); }
TEST(GoldenFractal, dct_fp64) { run_golden_case(fractal("dct", "auto"), DType::f64, 1e-6); }
TEST(GoldenFractal, dct_factored_fp64) { run_golden_case(fractal("dct", "factored"), DType::f64, 1e-6); }
TEST(GoldenFractal, dct_materialized_fp64) { run_golden_case(fractal("dct", "materialized"), DType::f64, 1e-6); }
TEST(GoldenFractal, dct_factored_fp32) { run_golden_case(fractal("dct", "factored"), DType::f32, 1e-5); }
TEST(GoldenFractal, hadamard_fp32) { run_golden_case(fractal("hadamard", "auto"), DType::f32, 1e-5); }
TEST(GoldenFractal, hadamard_fp64) { run_golden_case(fractal("hadamard", "auto"), DType::f64, 1e-6); }

TEST(GoldenFractal, reference_autograd_matches_finite_differences) {
  if (!have_torch()) GTEST_SKIP() << "python3-torch is not installed";
  std::string cmd = std::string("/usr/bin/python3 ") + GOLFRT_SOURCE_DIR + "/scripts/reference/fractal.py --gradcheck >/dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

}  // namespace
}  // namespace golf
