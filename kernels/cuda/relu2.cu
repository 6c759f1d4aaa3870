// CUDA twins of kernels/cpu/relu2.cc: relu² / leaky relu² and its backward, one pass each. y (the
// MLP's hidden activation, the down projection's operand: DESIGN §3) and dx are fp32 or bf16:
// computed in fp32 as always and rounded once at the store (kernels/cuda/bf16_store.h); x (the up
// projection's output, bf16 where autocast would store it) and the backward's dy (the down
// projection's backward matmul output, bf16 likewise) are fp32 or bf16, widened exactly. The fp32
// path is the same arithmetic as before, bit for bit.
#include "kernels/cuda/bf16_store.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace golf::cuda {
namespace {

__global__ void relu2_kernel(int64_t n, float slope, Real x, RealOut y) {
  GOLF_GRID_STRIDE(i, n) {
    const float v = load_real(x, i);
    const float r = v > 0.f ? v : __fmul_rn(slope, v);
    store_real(y, i, __fmul_rn(r, r));
  }
}

__global__ void relu2_backward_kernel(int64_t n, float slope, Real x, Real dy, RealOut dx) {
  GOLF_GRID_STRIDE(i, n) {
    const float v = load_real(x, i);
    const bool pos = v > 0.f;
    const float r = pos ? v : __fmul_rn(slope, v);
    const float g = __fmul_rn(load_real(dy, i), 2.f * r);
    store_real(dx, i, pos ? g : __fmul_rn(g, slope));
  }
}

}  // namespace

void relu2(int64_t n, double slope, Real x, RealOut y) {
  if (n == 0) return;
  relu2_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, float(slope), x, y);
  check_launch("relu2");
}

void relu2_backward(int64_t n, double slope, Real x, Real dy, RealOut dx) {
  if (n == 0) return;
  relu2_backward_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, float(slope), x, dy, dx);
  check_launch("relu2_backward");
}

}  // namespace golf::cuda
