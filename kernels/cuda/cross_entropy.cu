// Softcapped cross entropy over rows of logits: one warp per row up to kWarpRowMax classes (the
// baseline's 1,024-token vocabulary), one block per longer row. The capped logits' maximum, then
// Σ exp(z − max) in double through a fixed-order sum (DESIGN §3: fp32 or better loss statistics).
// The hard-target backward's dx (the logits' gradient, the head matmul's operand) is fp32 or bf16:
// computed in fp32 as always and rounded once at the store (kernels/cuda/bf16_store.h). The hard-target
// kernels' logits x (the head matmul's output, bf16 where autocast would store it) are fp32 or bf16,
// widened exactly at each read; the statistics stay fp32/double. The fp32 path is the same
// arithmetic as before, bit for bit.
#include "kernels/cuda/bf16_store.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/row_group.cuh"

namespace golf::cuda {
namespace {

__device__ inline float capped(float x, float softcap, float inv) { return softcap != 0.f ? softcap * tanhf(x * inv) : x; }

// The row maximum and Σ exp(z − max) (every lane of the row gets both).
template <class Row>
__device__ inline void row_stats(const Row& g, int64_t v, Real x, int64_t xo, float softcap, float& m, double& sum) {
  const float inv = softcap != 0.f ? 1.f / softcap : 0.f;
  float mx = -INFINITY;
  for (int64_t j = g.lane(); j < v; j += Row::kWidth) mx = fmaxf(mx, capped(load_real(x, xo + j), softcap, inv));
  m = g.max(mx);
  double s = 0.0;
  for (int64_t j = g.lane(); j < v; j += Row::kWidth) s += double(expf(capped(load_real(x, xo + j), softcap, inv) - m));
  sum = g.sum(s);
}

template <class Row>
__device__ void cross_entropy_row(const Row& g, int64_t v, float softcap, Real x, const int32_t* targets,
                                  float* loss, FaultRecord* f, int tag) {
  const int64_t i = g.row();
  const int64_t xo = i * v;  // x's row
  const int32_t tg = targets[i];
  const bool ok = tg >= 0 && tg < v;
  if (!ok && g.lane() == 0) raise_fault(f, Fault::target_range, tag, tg, i, v);
  float m;
  double sum;
  row_stats(g, v, x, xo, softcap, m, sum);
  if (g.lane() == 0) {
    const float inv = softcap != 0.f ? 1.f / softcap : 0.f;
    loss[i] = ok ? float(double(m) + log(sum) - double(capped(load_real(x, xo + tg), softcap, inv))) : 0.f;
  }
}

template <class Row>
__device__ void cross_entropy_backward_row(const Row& g, int64_t v, float softcap, Real x,
                                           const int32_t* targets, const float* dloss, RealOut dx, FaultRecord* f,
                                           int tag) {
  const int64_t i = g.row();
  const int64_t xo = i * v;  // x's row
  const int32_t tg = targets[i];
  const bool ok = tg >= 0 && tg < v;
  if (!ok && g.lane() == 0) raise_fault(f, Fault::target_range, tag, tg, i, v);
  float m;
  double sum;
  row_stats(g, v, x, xo, softcap, m, sum);
  const float inv = softcap != 0.f ? 1.f / softcap : 0.f;
  const float gs = float(double(dloss[i]) / sum);
  for (int64_t j = g.lane(); j < v; j += Row::kWidth) {
    const float th = softcap != 0.f ? tanhf(load_real(x, xo + j) * inv) : 0.f;
    const float e = expf((softcap != 0.f ? softcap * th : load_real(x, xo + j)) - m);
    if (j == tg) {
      // softmax_t − 1 in double: no precision lost to e_t·g.
      const double dzt = (double(e) / sum - 1.0) * double(dloss[i]);
      store_real(dx, i * v + j, float(softcap != 0.f ? dzt * (1.0 - double(th) * double(th)) : dzt));
    } else {
      store_real(dx, i * v + j, softcap != 0.f ? e * gs * (1.f - th * th) : e * gs);
    }
  }
}

__global__ void cross_entropy_block_kernel(int64_t v, float softcap, Real x, const int32_t* targets,
                                           float* loss, FaultRecord* f, int tag) {
  __shared__ float mbuf[kThreads];
  __shared__ double sbuf[kThreads];
  cross_entropy_row(BlockRow{sbuf, mbuf}, v, softcap, x, targets, loss, f, tag);
}

__global__ void cross_entropy_warp_kernel(int64_t n, int64_t v, float softcap, Real x, const int32_t* targets,
                                          float* loss, FaultRecord* f, int tag) {
  const WarpRow g;
  if (g.row() >= n) return;  // the whole warp leaves together
  cross_entropy_row(g, v, softcap, x, targets, loss, f, tag);
}

__global__ void cross_entropy_backward_block_kernel(int64_t v, float softcap, Real x, const int32_t* targets,
                                                    const float* dloss, RealOut dx, FaultRecord* f, int tag) {
  __shared__ float mbuf[kThreads];
  __shared__ double sbuf[kThreads];
  cross_entropy_backward_row(BlockRow{sbuf, mbuf}, v, softcap, x, targets, dloss, dx, f, tag);
}

__global__ void cross_entropy_backward_warp_kernel(int64_t n, int64_t v, float softcap, Real x,
                                                   const int32_t* targets, const float* dloss, RealOut dx,
                                                   FaultRecord* f, int tag) {
  const WarpRow g;
  if (g.row() >= n) return;
  cross_entropy_backward_row(g, v, softcap, x, targets, dloss, dx, f, tag);
}

// Soft targets, one block per row: lse from the row maximum and Σ exp in double, then the
// p-weighted sums in double (the CPU's statistics).
__device__ inline double row_lse(int64_t v, const float* xr, float* mbuf, double* sbuf) {
  float mx = -INFINITY;
  for (int64_t j = threadIdx.x; j < v; j += kThreads) mx = fmaxf(mx, xr[j]);
  const float m = block_max(mx, mbuf);
  double s = 0.0;
  for (int64_t j = threadIdx.x; j < v; j += kThreads) s += double(expf(xr[j] - m));
  return double(m) + log(block_sum(s, sbuf));
}

__global__ void soft_cross_entropy_kernel(int64_t v, const float* x, const float* p, float* loss) {
  __shared__ float mbuf[kThreads];
  __shared__ double sbuf[kThreads];
  const int64_t off = int64_t(blockIdx.x) * v;
  const double lse = row_lse(v, x + off, mbuf, sbuf);
  double acc = 0.0;
  for (int64_t j = threadIdx.x; j < v; j += kThreads) acc -= double(p[off + j]) * (double(x[off + j]) - lse);
  acc = block_sum(acc, sbuf);
  if (threadIdx.x == 0) loss[blockIdx.x] = float(acc);
}

__global__ void soft_cross_entropy_backward_kernel(int64_t v, const float* x, const float* p, const float* dloss,
                                                   float* dx, float* dp) {
  __shared__ float mbuf[kThreads];
  __shared__ double sbuf[kThreads];
  const int64_t off = int64_t(blockIdx.x) * v;
  const double lse = row_lse(v, x + off, mbuf, sbuf);
  double ps = 0.0;
  for (int64_t j = threadIdx.x; j < v; j += kThreads) ps += double(p[off + j]);
  const double psum = block_sum(ps, sbuf), g = double(dloss[blockIdx.x]);
  for (int64_t j = threadIdx.x; j < v; j += kThreads) {
    const double logq = double(x[off + j]) - lse;
    dx[off + j] = float(g * (exp(logq) * psum - double(p[off + j])));
    dp[off + j] = float(-g * logq);
  }
}

}  // namespace

void soft_cross_entropy(int64_t n, int64_t v, const float* x, const float* p, float* loss) {
  if (n == 0) return;
  if (n > int64_t(INT32_MAX)) throw std::length_error("soft_cross_entropy: more than 2^31 rows");
  soft_cross_entropy_kernel<<<unsigned(n), kThreads, 0, stream()>>>(v, x, p, loss);
  check_launch("soft_cross_entropy");
}

void soft_cross_entropy_backward(int64_t n, int64_t v, const float* x, const float* p, const float* dloss, float* dx,
                                 float* dp) {
  if (n == 0) return;
  if (n > int64_t(INT32_MAX)) throw std::length_error("soft_cross_entropy_backward: more than 2^31 rows");
  soft_cross_entropy_backward_kernel<<<unsigned(n), kThreads, 0, stream()>>>(v, x, p, dloss, dx, dp);
  check_launch("soft_cross_entropy_backward");
}

void cross_entropy(int64_t n, int64_t v, double softcap, Real x, const int32_t* targets, float* loss, int tag) {
  if (n == 0) return;
  if (n > int64_t(INT32_MAX)) throw std::length_error("cross_entropy: more than 2^31 rows");
  if (warp_rows(v))
    cross_entropy_warp_kernel<<<row_blocks(n, v), kThreads, 0, stream()>>>(n, v, float(softcap), x, targets, loss,
                                                                          fault_slot(), tag);
  else
    cross_entropy_block_kernel<<<row_blocks(n, v), kThreads, 0, stream()>>>(v, float(softcap), x, targets, loss,
                                                                           fault_slot(), tag);
  check_launch("cross_entropy");
}

void cross_entropy_backward(int64_t n, int64_t v, double softcap, Real x, const int32_t* targets,
                            const float* dloss, RealOut dx, int tag) {
  if (n == 0) return;
  if (n > int64_t(INT32_MAX)) throw std::length_error("cross_entropy_backward: more than 2^31 rows");
  if (warp_rows(v))
    cross_entropy_backward_warp_kernel<<<row_blocks(n, v), kThreads, 0, stream()>>>(n, v, float(softcap), x, targets,
                                                                                   dloss, dx, fault_slot(), tag);
  else
    cross_entropy_backward_block_kernel<<<row_blocks(n, v), kThreads, 0, stream()>>>(v, float(softcap), x, targets,
                                                                                    dloss, dx, fault_slot(), tag);
  check_launch("cross_entropy_backward");
}

}  // namespace golf::cuda
