// Golden test of examples/combiner.lua (SEEDS.md §3) against scripts/reference/combiner.py, preset
// "tiny", every parameter random (α, M, β too): the "combined" graph (base at positions 1..T−1, the
// combiner at the last, T_1 from a second full pass over T + 1 positions) — loss, logits and every
// gradient to relative norm error < 1e-5 in fp32 (a gradient above it passes within the
// reference's own fp32 noise, GoldenCase::fp32_noise_floor) and < 1e-6 in fp64.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace golf
