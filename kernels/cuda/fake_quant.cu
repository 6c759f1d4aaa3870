// Per-row fake quantization, one block per row: the row's max |x| (exact in any order), then each
// element rounded half to even in double (rint), as the CPU kernel does with nearbyint.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace golf::cuda {
namespace {

__global__ void fake_quant_kernel(int64_t d, double qmax, const float* x, float* y) {
  __shared__ double buf[kThreads];
  const float* xr = x + int64_t(blockIdx.x) * d;
  float* yr = y + int64_t(blockIdx.x) * d;
  double m = 0.0;
  for (int64_t j = threadIdx.x; j < d; j += kThreads) m = fmax(m, fabs(double(xr[j])));
  m = block_max(m, buf);
  if (m == 0.0) {
    for (int64_t j = threadIdx.x; j < d; j += kThreads) yr[j] = 0.f;
    return;
  }
  const double s = m / qmax;
  for (int64_t j = threadIdx.x; j < d; j += kThreads) {
    const double q = fmin(fmax(rint(double(xr[j]) / s), -qmax), qmax);
    // Snap the grid ends to ±max|x| exactly (q·s can miss by an ulp), as the CPU kernel does.
    yr[j] = float(fabs(q) == qmax ? copysign(m, q) : q * s);
  }
}

}  // namespace

void fake_quant(int64_t rows, int64_t d, int bits, const float* x, float* y) {
  if (bits < 2 || bits > 31) throw std::invalid_argument("fake_quant: bits " + std::to_string(bits) + " outside [2, 31]");
  if (rows == 0 || d == 0) return;
  if (rows > int64_t(INT32_MAX))
    throw std::length_error("fake_quant: " + std::to_string(rows) + " rows, more than the 2^31 - 1 one launch takes");
  const double qmax = double((int64_t(1) << (bits - 1)) - 1);
  fake_quant_kernel<<<unsigned(rows), kThreads, 0, stream()>>>(d, qmax, x, y);
  check_launch("fake_quant");
}

}  // namespace golf::cuda
