// Rotary embeddings. The angle is computed in fp32 exactly as the CPU kernel (and the PyTorch
// reference) does: inv_freq in fp32, position · inv_freq as one fp32 product; cos/sin are CUDA's
// fp32 functions (within 2 ulp of glibc's).
#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace golf::cuda {
namespace {

__global__ void rope_kernel(int64_t rows, int64_t t, int64_t h, int64_t hd, int64_t rot, float base_eff,
                            const int32_t* p0_dev, float sign, const float* x, float* y) {
  const int64_t half = rot / 2;
  const int64_t p0 = p0_dev ? int64_t(p0_dev[0]) : 0;
  // One thread per (row, head, j < hd - half): j < half rotates a pair, the rest copy through.
  const int64_t per_head = hd - half;
  GOLF_GRID_STRIDE(i, rows * h * per_head) {
    const int64_t rh = i / per_head, j = i % per_head, r = rh / h;
    const float* xr = x + rh * hd;
    float* yr = y + rh * hd;
    if (j < half) {
      const float inv_freq = 1.0f / powf(base_eff, float(2 * j) / float(rot));
      const float angle = float(p0 + r % t) * inv_freq;
      const float c = cosf(angle), s = sign * sinf(angle);
      const float a = xr[j], e = xr[j + half];
      yr[j] = a * c + e * s;
      yr[j + half] = -a * s + e * c;
    } else {
      const int64_t jj = j + half;  // dims [rot, hd)
      yr[jj] = xr[jj];
    }
  }
}

}  // namespace

void rope_at(int64_t b, int64_t t, int64_t h, int64_t hd, int64_t rot, double base, int64_t train_len,
             int64_t ntk_len, const int32_t* p0_dev, bool inverse, const float* x, float* y) {
  if (rot < 0 || rot > hd || rot % 2 != 0)
    throw std::invalid_argument("rope: rot " + std::to_string(rot) + " must be even and within [0, " +
                                std::to_string(hd) + "]");
  double base_eff = base;
  if (train_len > 0 && ntk_len > train_len && rot > 2)
    base_eff = base * std::pow(double(ntk_len) / double(train_len), double(rot) / double(rot - 2));
  const int64_t n = b * t * h * (hd - rot / 2);
  if (n == 0) return;
  rope_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(b * t, t, h, hd, rot, float(base_eff), p0_dev,
                                                        inverse ? -1.f : 1.f, x, y);
  check_launch("rope");
}

}  // namespace golf::cuda
