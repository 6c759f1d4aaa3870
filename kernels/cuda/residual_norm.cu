// CUDA twins of kernels/cpu/residual_norm.cc: the residual stream's mix or scale-add and the
// RMSNorm of its result in one pass (golf.Block's pre-norms read the stream just written). Rows as
// rms_norm.cu has them (kernels/cuda/row_group.cuh): a warp per row up to 1,024 numbers, a block
// per longer row. Each thread computes its elements of the stream as mix_kernel / add_scaled_kernel
// do (the products rounded, then the sum: __fmul_rn, __fadd_rn), stores them and sums their squares
// in double; the row's fixed-order sum gives the statistic; the same thread then reads back the
// elements it wrote (its own stores: no synchronization needed) and writes the normed value, fp32
// or bf16 (a matmul's operand, DESIGN §3; rounded once at the store, kernels/cuda/bf16_store.h).
// The same arithmetic in the same order as mix or add_scaled then rms_norm: the same bits.
// Deterministic: no atomics.
#include "kernels/cuda/bf16_store.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/row_group.cuh"

namespace golf::cuda {
namespace {

// wa⊙a + wb⊙b at element i of channel j
struct MixTerms {
  const float *a, *b, *wa, *wb;
  __device__ float at(int64_t i, int64_t j) const { return __fadd_rn(__fmul_rn(wa[j], a[i]), __fmul_rn(wb[j], b[i])); }
};
// x + s⊙y, y fp32 or bf16 (widened exactly, as add_scaled_kernel reads it)
struct ScaledTerms {
  const float* x;
  Real y;
  const float* s;
  __device__ float at(int64_t i, int64_t j) const { return __fadd_rn(x[i], __fmul_rn(s[j], load_real(y, i))); }
};

template <class Row, class Terms>
__device__ void residual_norm_row(const Row& g, int64_t d, double eps, const Terms& t, int64_t off, float* s, RealOut n) {
  double ss = 0.0;
  for (int64_t j = g.lane(); j < d; j += Row::kWidth) {
    const float v = t.at(off + j, j);
    s[off + j] = v;
    ss += double(v) * double(v);
  }
  ss = g.sum(ss);
  const double inv = 1.0 / sqrt(ss / double(d) + eps);
  for (int64_t j = g.lane(); j < d; j += Row::kWidth) store_real(n, off + j, float(double(s[off + j]) * inv));
}

template <class Terms>
__global__ void residual_norm_warp_kernel(int64_t rows, int64_t d, double eps, Terms t, float* s, RealOut n) {
  const WarpRow g;
  if (g.row() >= rows) return;  // the whole warp leaves together
  residual_norm_row(g, d, eps, t, g.row() * d, s, n);
}

template <class Terms>
__global__ void residual_norm_block_kernel(int64_t d, double eps, Terms t, float* s, RealOut n) {
  __shared__ double dbuf[kThreads];
  const BlockRow g{dbuf, nullptr};
  residual_norm_row(g, d, eps, t, g.row() * d, s, n);
}

template <class Terms>
void launch(const char* name, int64_t rows, int64_t d, double eps, const Terms& t, float* s, RealOut n) {
  if (rows == 0 || d == 0) return;
  if (rows > int64_t(INT32_MAX)) throw std::length_error(std::string(name) + ": more than 2^31 rows");
  if (warp_rows(d)) residual_norm_warp_kernel<<<row_blocks(rows, d), kThreads, 0, stream()>>>(rows, d, eps, t, s, n);
  else residual_norm_block_kernel<<<row_blocks(rows, d), kThreads, 0, stream()>>>(d, eps, t, s, n);
  check_launch(name);
}

}  // namespace

void mix_rms_norm(int64_t rows, int64_t d, double eps, const float* a, const float* b, const float* wa, const float* wb,
                  float* s, RealOut n) {
  launch("mix_rms_norm", rows, d, eps, MixTerms{a, b, wa, wb}, s, n);
}

void add_scaled_rms_norm(int64_t rows, int64_t d, double eps, const float* x, Real y, const float* sc, float* s,
                         RealOut n) {
  launch("add_scaled_rms_norm", rows, d, eps, ScaledTerms{x, y, sc}, s, n);
}

}  // namespace golf::cuda
