// CUDA twin of kernels/cpu/norm_rope.cc: one warp per head vector (hd values of one row and head),
// eight per block. The norm's statistics in double, summed lane by lane and then down the warp in
// a fixed order (the result does not depend on scheduling); the angles as rope.cu computes them.
// y (the forward) and dx (the backward) are fp32 or bf16 (q and k, and their gradients, are
// attention's operands: DESIGN §3): computed in fp32 as always and rounded once at the store
// (kernels/cuda/bf16_store.h). x (the q or k projection's output, bf16 where autocast would store
// it) is fp32 or bf16, widened exactly at each read; the fp32 path is the same arithmetic as
// before, bit for bit. The gain's dgain_rows stays fp32 (a sum on its way to a weight gradient).
#include <cmath>

#include "kernels/cuda/bf16_store.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace golf::cuda {
namespace {

constexpr int kWarps = kThreads / 32;

// Sum over the warp, fixed order; every lane gets lane 0's total.
__device__ inline double warp_total(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return __shfl_sync(0xffffffffu, v, 0);
}

__device__ inline void angle_cs(int64_t pos, int64_t j, int64_t rot, float base_eff, float sign, float* c, float* s) {
  const float inv_freq = 1.0f / powf(base_eff, float(2 * j) / float(rot));
  const float angle = float(pos) * inv_freq;
  *c = cosf(angle);
  *s = sign * sinf(angle);
}

__global__ void norm_rope_kernel(int64_t vecs, int64_t t, int64_t h, int64_t hd, int64_t rot, float base_eff, float sign,
                                 double eps, Real x, const float* gain, RealOut y) {
  const int lane = threadIdx.x & 31;
  const int64_t half = rot / 2, step = int64_t(gridDim.x) * kWarps;
  for (int64_t v = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32; v < vecs; v += step) {
    const int64_t xo = v * hd;  // x's row
    const int64_t yo = v * hd;  // y's row
    const int64_t pos = (v / h) % t;
    double ss = 0.0;
    for (int64_t j = lane; j < hd; j += 32) ss += double(load_real(x, xo + j)) * double(load_real(x, xo + j));
    const double inv = 1.0 / sqrt(warp_total(ss) / double(hd) + eps);
    const float g = gain ? gain[v % h] : 1.f;
    for (int64_t j = lane; j < half; j += 32) {
      float c, s;
      angle_cs(pos, j, rot, base_eff, sign, &c, &s);
      const float a = float(double(load_real(x, xo + j)) * inv), e = float(double(load_real(x, xo + j + half)) * inv);
      const float r0 = a * c + e * s, r1 = -a * s + e * c;
      store_real(y, yo + j, gain ? r0 * g : r0);
      store_real(y, yo + j + half, gain ? r1 * g : r1);
    }
    for (int64_t j = rot + lane; j < hd; j += 32) {
      const float n = float(double(load_real(x, xo + j)) * inv);
      store_real(y, yo + j, gain ? n * g : n);
    }
  }
}

__global__ void norm_rope_backward_kernel(int64_t vecs, int64_t t, int64_t h, int64_t hd, int64_t rot, float base_eff,
                                          float sign, double eps, Real x, const float* gain, const float* dy,
                                          RealOut dx, float* dgain_rows) {
  const int lane = threadIdx.x & 31;
  const int64_t half = rot / 2, step = int64_t(gridDim.x) * kWarps;
  for (int64_t v = int64_t(blockIdx.x) * kWarps + threadIdx.x / 32; v < vecs; v += step) {
    const int64_t xo = v * hd;  // x's row
    const float* gr = dy + v * hd;
    const int64_t dxo = v * hd;  // dx's row
    const int64_t pos = (v / h) % t;
    const float g = gain ? gain[v % h] : 1.f;
    // Pass 1: Σx² and Σ v·x, v = the inverse rotation of u = dy·gain.
    double ss = 0.0, gx = 0.0;
    for (int64_t j = lane; j < half; j += 32) {
      float c, s;
      angle_cs(pos, j, rot, base_eff, sign, &c, &s);
      const float u0 = gain ? gr[j] * g : gr[j], u1 = gain ? gr[j + half] * g : gr[j + half];
      const float v0 = u0 * c - u1 * s, v1 = u0 * s + u1 * c;
      ss += double(load_real(x, xo + j)) * double(load_real(x, xo + j)) + double(load_real(x, xo + j + half)) * double(load_real(x, xo + j + half));
      gx += double(v0) * double(load_real(x, xo + j)) + double(v1) * double(load_real(x, xo + j + half));
    }
    for (int64_t j = rot + lane; j < hd; j += 32) {
      const float u = gain ? gr[j] * g : gr[j];
      ss += double(load_real(x, xo + j)) * double(load_real(x, xo + j));
      gx += double(u) * double(load_real(x, xo + j));
    }
    ss = warp_total(ss);
    gx = warp_total(gx);
    const double inv = 1.0 / sqrt(ss / double(hd) + eps);
    const double k = inv * inv * inv * gx / double(hd);
    // Pass 2: dx, and the gain's Σ dy·rope(norm(x)) with the forward recomputed.
    double dg = 0.0;
    for (int64_t j = lane; j < half; j += 32) {
      float c, s;
      angle_cs(pos, j, rot, base_eff, sign, &c, &s);
      const float u0 = gain ? gr[j] * g : gr[j], u1 = gain ? gr[j + half] * g : gr[j + half];
      const float v0 = u0 * c - u1 * s, v1 = u0 * s + u1 * c;
      store_real(dx, dxo + j, float(inv * double(v0) - k * double(load_real(x, xo + j))));
      store_real(dx, dxo + j + half, float(inv * double(v1) - k * double(load_real(x, xo + j + half))));
      if (dgain_rows) {
        const float a = float(double(load_real(x, xo + j)) * inv), e = float(double(load_real(x, xo + j + half)) * inv);
        dg += double(gr[j]) * double(a * c + e * s) + double(gr[j + half]) * double(-a * s + e * c);
      }
    }
    for (int64_t j = rot + lane; j < hd; j += 32) {
      const float u = gain ? gr[j] * g : gr[j];
      store_real(dx, dxo + j, float(inv * double(u) - k * double(load_real(x, xo + j))));
      if (dgain_rows) dg += double(gr[j]) * double(float(double(load_real(x, xo + j)) * inv));
    }
    if (dgain_rows) {
      dg = warp_total(dg);
      if (lane == 0) dgain_rows[v] = float(dg);
    }
  }
}

float effective_base(int64_t hd, int64_t rot, double base, int64_t train_len, int64_t t) {
  if (rot < 2 || rot > hd || rot % 2 != 0)
    throw std::invalid_argument("rms_norm_rope: rot " + std::to_string(rot) + " must be even and within [2, " +
                                std::to_string(hd) + "]");
  double base_eff = base;
  if (train_len > 0 && t > train_len && rot > 2)
    base_eff = base * std::pow(double(t) / double(train_len), double(rot) / double(rot - 2));
  return float(base_eff);
}

unsigned warp_blocks(int64_t vecs) {
  const int64_t b = (vecs + kWarps - 1) / kWarps;
  return unsigned(b > (int64_t(1) << 30) ? (int64_t(1) << 30) : b);
}

}  // namespace

void rms_norm_rope(int64_t b, int64_t t, int64_t h, int64_t hd, int64_t rot, double base, int64_t train_len, bool inverse,
                   double eps, Real x, const float* gain, RealOut y) {
  const float base_eff = effective_base(hd, rot, base, train_len, t);
  const int64_t vecs = b * t * h;
  if (vecs == 0 || hd == 0) return;
  norm_rope_kernel<<<warp_blocks(vecs), kThreads, 0, stream()>>>(vecs, t, h, hd, rot, base_eff, inverse ? -1.f : 1.f, eps,
                                                                 x, gain, y);
  check_launch("rms_norm_rope");
}

void rms_norm_rope_backward(int64_t b, int64_t t, int64_t h, int64_t hd, int64_t rot, double base, int64_t train_len,
                            bool inverse, double eps, Real x, const float* gain, const float* dy, RealOut dx,
                            float* dgain_rows) {
  const float base_eff = effective_base(hd, rot, base, train_len, t);
  const int64_t vecs = b * t * h;
  if (vecs == 0 || hd == 0) return;
  norm_rope_backward_kernel<<<warp_blocks(vecs), kThreads, 0, stream()>>>(vecs, t, h, hd, rot, base_eff,
                                                                          inverse ? -1.f : 1.f, eps, x, gain, dy, dx,
                                                                          dgain_rows);
  check_launch("rms_norm_rope_backward");
}

}  // namespace golf::cuda
