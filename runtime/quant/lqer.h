// LQER (low-rank quantization error reconstruction), as the 1.0611 record applies it after GPTQ:
// the `top` integer matrices with the largest ‖W − Ŵ‖_F each get a rank-r correction of their
// quantization error E = W − Ŵ, E ≈ A·B from its SVD (A = U_r·S_r, B = V_rᵀ), stored quantized:
// A intN with one scale (int2 in the record), B intN with one scale per `group` consecutive
// elements of its flattened [r, cols] (int4, groups of 64). The decoder's weight is
// Ŵ + Â·B̂ (dequantize_corrected). scripts/reference/lqer.py is the PyTorch reference;
// tests/lqer_test.cc checks one against the other.
//
// Factor quantization (the record's "asymmetric" rule): scale = fp16(max|x| / (2^(N−1) − ½)) over
// the tensor or group, q = clamp(round_half_even(x / scale), −2^(N−1), 2^(N−1) − 1): the full
// two's-complement range, so int2 holds {−2, −1, 0, 1}.
//
// Singular vectors are defined up to sign, and the asymmetric range makes the quantized factors
// depend on it, so each pair (u_j, v_j) is flipped to make u_j's entry of largest magnitude (the
// first on a tie) positive. The record takes whatever sign its LAPACK returns.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/artifact/artifact.h"
#include "runtime/json.h"
#include "runtime/quant/quantize.h"

namespace golf {

// The quant table's `lqer = { top = 3, rank = 4, a_bits = 2, b_bits = 4, group = 64 }` (the
// record's values are the defaults of each key); absent or false: off (top = 0).
struct LqerSpec {
  int top = 0;  // how many tensors get a correction; 0 = LQER off
  int rank = 4;
  int a_bits = 2, b_bits = 4;
  int64_t group = 64;  // B's group size; 0 = one scale for B too
};
// Throws std::invalid_argument naming quant.lqer.KEY on a malformed table.
LqerSpec read_lqer(const Json& quant);

// One factor quantized by the rule above: one scale (group = 0) or one per group.
QTensor quantize_factor(const std::string& name, const Tensor& x, int bits, int64_t group);

struct LqerFactors {
  QTensor a, b;  // [rows, r] and [r, cols]
};
// The rank-min(spec.rank, rows, cols) factors of `error` ([rows, cols] f32), named name.lqer_a/_b.
LqerFactors lqer_factors(const std::string& name, const Tensor& error, const LqerSpec& spec);

// After quantization: the corrections for artifact `a`. `originals` pairs each candidate tensor's
// index in a.tensors with its unquantized f32 weight; the `top` with the largest ‖W − Ŵ‖_F (ties:
// the earlier tensor) get factors, appended to a.tensors with their corrections. Returns the
// corrected tensors' names, largest error first.
std::vector<std::string> add_lqer(Artifact& a, const std::vector<std::pair<size_t, Tensor>>& originals, const LqerSpec& spec);

// The decoder's f32 (or i32) value of a.tensors[index]: dequantize(), plus Â·B̂ when a correction
// names it as its base (summed over k in order, in f32, then added).
Tensor dequantize_corrected(const Artifact& a, size_t index);
// w += dequantize(fa) · dequantize(fb) in place; w [rows, cols] f32.
void add_low_rank(Tensor& w, const QTensor& fa, const QTensor& fb);

}  // namespace golf
