// Golden test of examples/record.lua (preset "tiny"): the 1.0611 record's model against a PyTorch
// reference written from the record's train_gpt.py (scripts/reference/record.py): BOS-masked
// SmearGate, blocks 3–5 looped three times with gated U-Net skips over the 17 virtual layers,
// parallel residual lanes from block 8 (lerp skips into lane 0, 2×2 lane weights, mean of the
// lanes), the sparse head gate (window 12, scale 0.5) and the dense one, XSA in every block, partial
// RoPE (¼ of each head, as 16/64), LN scale, q gain, LeakyReLU(0.5)². Every parameter randomized
// (the zero-initialized gates and lane weights included); loss, logits and every gradient.
#include <gtest/gtest.h>

#include "tests/support/golden_case.h"

namespace golf {
namespace {

GoldenCase record(const std::string& gate) {
  GoldenCase c;
  c.reference = "record.py --seed 3 --gate " + gate;
  c.script = "examples/record.lua";
  c.overrides = {"tiny", {}};
  if (gate == "dense") c.overrides.sets = {{"attn_gate", "dense"}, {"attn_gate_scale", "1"}};
  // 17 virtual layers with q gains of 5: the per-head q_gain gradients are sums with heavy
  // cancellation, and fp32 itself is their limit (see golden_case.h).
  c.fp32_noise_floor = true;
  return c;
}

TEST(GoldenRecord, sparse_gate_fp32) { run_golden_case(record("sparse"), DType::f32, 1e-5); }
TEST(GoldenRecord, sparse_gate_fp64) { run_golden_case(record("sparse"), DType::f64, 1e-6); }
TEST(GoldenRecord, dense_gate_fp32) { run_golden_case(record("dense"), DType::f32, 1e-5); }
TEST(GoldenRecord, dense_gate_fp64) { run_golden_case(record("dense"), DType::f64, 1e-6); }

}  // namespace
}  // namespace golf
