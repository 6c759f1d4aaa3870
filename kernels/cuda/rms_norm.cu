// RMSNorm over the last axis: one warp per row up to kWarpRowMax numbers (the per-head norms over
// 64, the model's 512), one block per longer row. The statistic in double through a fixed-order
// sum (DESIGN §3: fp32 storage, statistics at least fp32). The forwards' y is fp32 or bf16
// (a matmul's operand, DESIGN §3): computed in fp32 as always and rounded once at the store
// (kernels/cuda/bf16_store.h); the fp32 path is the same arithmetic as before, bit for bit.
#include "kernels/cuda/bf16_store.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/row_group.cuh"

namespace golf::cuda {
namespace {

// y's row starts at element `off` of y.
template <class Row>
__device__ void rms_norm_row(const Row& g, int64_t d, double eps, const float* xr, RealOut y, int64_t off) {
  double ss = 0.0;
  for (int64_t j = g.lane(); j < d; j += Row::kWidth) ss += double(xr[j]) * double(xr[j]);
  ss = g.sum(ss);
  const double inv = 1.0 / sqrt(ss / double(d) + eps);
  for (int64_t j = g.lane(); j < d; j += Row::kWidth) store_real(y, off + j, float(double(xr[j]) * inv));
}

// ar (or null): the gradient sum's other term, added to each dx after its rounding to fp32, as
// add(rms_norm_backward(x, dy), acc) rounds it (cpu::rms_norm_backward_add).
template <class Row>
__device__ void rms_norm_backward_row(const Row& g, int64_t d, double eps, const float* xr, const float* gr,
                                      const float* ar, float* dr) {
  double ss = 0.0, gx = 0.0;
  for (int64_t j = g.lane(); j < d; j += Row::kWidth) {
    ss += double(xr[j]) * double(xr[j]);
    gx += double(gr[j]) * double(xr[j]);
  }
  ss = g.sum(ss);
  gx = g.sum(gx);
  const double inv = 1.0 / sqrt(ss / double(d) + eps);
  // dx = r·dy − x·r³·mean(dy·x): the second term is the path through the shared statistic.
  const double c = inv * inv * inv * gx / double(d);
  // One expression for both forms, so the folded op's backward term is the unfolded one's bits.
  for (int64_t j = g.lane(); j < d; j += Row::kWidth) {
    const float v = float(inv * double(gr[j]) - c * double(xr[j]));
    dr[j] = ar ? v + ar[j] : v;
  }
}

__global__ void rms_norm_block_kernel(int64_t d, double eps, const float* x, RealOut y) {
  __shared__ double dbuf[kThreads];
  const BlockRow g{dbuf, nullptr};
  const int64_t off = g.row() * d;
  rms_norm_row(g, d, eps, x + off, y, off);
}

__global__ void rms_norm_warp_kernel(int64_t rows, int64_t d, double eps, const float* x, RealOut y) {
  const WarpRow g;
  if (g.row() >= rows) return;  // the whole warp leaves together
  const int64_t off = g.row() * d;
  rms_norm_row(g, d, eps, x + off, y, off);
}

__global__ void rms_norm_backward_block_kernel(int64_t d, double eps, const float* x, const float* dy, const float* add,
                                               float* dx) {
  __shared__ double dbuf[kThreads];
  const BlockRow g{dbuf, nullptr};
  const int64_t off = g.row() * d;
  rms_norm_backward_row(g, d, eps, x + off, dy + off, add ? add + off : nullptr, dx + off);
}

__global__ void rms_norm_backward_warp_kernel(int64_t rows, int64_t d, double eps, const float* x, const float* dy,
                                              const float* add, float* dx) {
  const WarpRow g;
  if (g.row() >= rows) return;
  const int64_t off = g.row() * d;
  rms_norm_backward_row(g, d, eps, x + off, dy + off, add ? add + off : nullptr, dx + off);
}

// The LN scale c folded into the norm (rms_norm_scaled): the kernels above with one more factor.
__global__ void rms_norm_scaled_kernel(int64_t d, double eps, double c, const float* x, RealOut y) {
  __shared__ double buf[kThreads];
  const int64_t off = int64_t(blockIdx.x) * d;
  const float* xr = x + off;
  double ss = 0.0;
  for (int64_t j = threadIdx.x; j < d; j += kThreads) ss += double(xr[j]) * double(xr[j]);
  ss = block_sum(ss, buf);
  const double inv = c / sqrt(ss / double(d) + eps);
  for (int64_t j = threadIdx.x; j < d; j += kThreads) store_real(y, off + j, float(double(xr[j]) * inv));
}

__global__ void rms_norm_scaled_backward_kernel(int64_t d, double eps, double c, const float* x, const float* dy,
                                                float* dx) {
  __shared__ double buf[kThreads];
  const int64_t off = int64_t(blockIdx.x) * d;
  const float *xr = x + off, *gr = dy + off;
  float* dr = dx + off;
  double ss = 0.0, gx = 0.0;
  for (int64_t j = threadIdx.x; j < d; j += kThreads) {
    ss += double(xr[j]) * double(xr[j]);
    gx += double(gr[j]) * double(xr[j]);
  }
  ss = block_sum(ss, buf);
  gx = block_sum(gx, buf);
  const double inv = 1.0 / sqrt(ss / double(d) + eps);
  const double k = inv * inv * inv * gx / double(d);
  for (int64_t j = threadIdx.x; j < d; j += kThreads) dr[j] = float(c * (inv * double(gr[j]) - k * double(xr[j])));
}

void check_rows(int64_t rows) {
  if (rows > int64_t(INT32_MAX)) throw std::length_error("rms_norm: more than 2^31 rows");
}

}  // namespace

void rms_norm(int64_t rows, int64_t d, double eps, const float* x, RealOut y) {
  if (rows == 0 || d == 0) return;
  check_rows(rows);
  if (warp_rows(d)) rms_norm_warp_kernel<<<row_blocks(rows, d), kThreads, 0, stream()>>>(rows, d, eps, x, y);
  else rms_norm_block_kernel<<<row_blocks(rows, d), kThreads, 0, stream()>>>(d, eps, x, y);
  check_launch("rms_norm");
}

void rms_norm_backward(int64_t rows, int64_t d, double eps, const float* x, const float* dy, float* dx, const float* add) {
  if (rows == 0 || d == 0) return;
  check_rows(rows);
  if (warp_rows(d))
    rms_norm_backward_warp_kernel<<<row_blocks(rows, d), kThreads, 0, stream()>>>(rows, d, eps, x, dy, add, dx);
  else
    rms_norm_backward_block_kernel<<<row_blocks(rows, d), kThreads, 0, stream()>>>(d, eps, x, dy, add, dx);
  check_launch("rms_norm_backward");
}

void rms_norm_scaled(int64_t rows, int64_t d, double eps, double c, const float* x, RealOut y) {
  if (rows == 0 || d == 0) return;
  check_rows(rows);
  rms_norm_scaled_kernel<<<unsigned(rows), kThreads, 0, stream()>>>(d, eps, c, x, y);
  check_launch("rms_norm_scaled");
}

void rms_norm_scaled_backward(int64_t rows, int64_t d, double eps, double c, const float* x, const float* dy, float* dx) {
  if (rows == 0 || d == 0) return;
  check_rows(rows);
  rms_norm_scaled_backward_kernel<<<unsigned(rows), kThreads, 0, stream()>>>(d, eps, c, x, dy, dx);
  check_launch("rms_norm_scaled_backward");
}

}  // namespace golf::cuda
