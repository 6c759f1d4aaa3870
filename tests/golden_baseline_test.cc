// Golden test: examples/baseline.lua (preset "tiny") against the PyTorch reference written from
// PARAMETER_GOLF.md (scripts/reference/baseline.py). Every parameter is randomized by the
// reference (no zero inits), golfrt loads the same weights and batch, and logits, loss and every
// gradient must match to relative norm error < 1e-5 in fp32 (and < 1e-6 in fp64, where only the
// fp32 RoPE tables differ by an ulp between PyTorch and glibc).
#include <gtest/gtest.h>

#include "tests/support/golden_case.h"

namespace golf {
namespace {

void run_golden(DType dtype, double tol) {
  GoldenCase c;
  c.reference = "baseline.py --vocab 64 --dim 32 --layers 5 --heads 4 --kv-heads 2 --mlp-mult 2 --seq 16 --batch 2 --seed 3";
  c.script = "examples/baseline.lua";
  c.overrides = {"tiny", {}};
  c.ref_name = reference_name;
  run_golden_case(c, dtype, tol);
}

TEST(GoldenBaseline, fp32_logits_loss_and_every_gradient_match_pytorch) { run_golden(DType::f32, 1e-5); }
TEST(GoldenBaseline, fp64_logits_loss_and_every_gradient_match_pytorch) { run_golden(DType::f64, 1e-6); }

}  // namespace
}  // namespace golf
