// GPTQ (Frantar et al. 2022) for one linear layer y = x·Wᵀ, W [rows = out, cols = in], given the
// calibration Hessian H = XᵀX over its inputs (runtime/quant/hessian_pass.h collects it).
//
// As the reference implementation and PARAMETER_GOLF.md describe: the scales are chosen first, per
// row (or per tensor), by the spec's clip rule on the original weights, and stay fixed; dead columns
// (diag H = 0: inputs that are always zero) are zeroed with H_ii set to 1; columns are processed in
// descending diag(H) order ("act-order"); damp·mean(diag H) is added to the diagonal; U is the upper
// Cholesky factor of H⁻¹; within a block of `block` columns each quantization error, divided by
// U_ii, is fed back into the block's later columns through row i of U, and the block's errors are
// fed into all later columns once it is done; the permutation is undone at the end.
//
// Differences from the reference that do not change the result beyond rounding: everything runs in
// double; U is computed as J·chol(J·H·J)⁻¹·J (J reverses the order), one factorization and one
// triangular inverse (LAPACK dpotrf/dtrtri through OpenBLAS) instead of chol → inverse → chol;
// within a block the rows, which GPTQ treats independently, run in parallel, each row on one
// thread; the across-block update is one dgemm. If H + damping is not positive definite the
// damping is multiplied by 10 and the factorization retried (up to 6 times) before giving up.
#pragma once
#include <cstdint>
#include <string>

#include "runtime/quant/quantize.h"

namespace golf {

struct GptqReport {
  double damp = 0;           // the damping finally added to the diagonal (absolute)
  int retries = 0;           // factorizations that failed before one succeeded
  int64_t dead_columns = 0;  // columns whose input was always zero
  double loss = 0;           // GPTQ's objective: Σ (w − q)² / (2·U_ii²), summed over rows
};

// w: [rows, cols] float; hessian: [cols, cols] f64 or f32 (symmetric). A float encoding has
// nothing to round and is passed to quantize(). The result is stored like quantize()'s.
QTensor gptq_quantize(const std::string& name, const Tensor& w, const Tensor& hessian, const QuantSpec& spec,
                      double damp = 0.01, int64_t block = 128, GptqReport* report = nullptr);

}  // namespace golf
