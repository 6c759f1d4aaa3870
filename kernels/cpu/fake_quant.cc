#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cpu/cpu_kernels.h"

namespace golf::cpu {

template <class T> void fake_quant(int64_t rows, int64_t d, int bits, const T* x, T* y) {
  // bits = 1 would give an empty grid (qmax = 0) and a division by zero.
  if (bits < 2 || bits > 31) throw std::invalid_argument("fake_quant: bits " + std::to_string(bits) + " outside [2, 31]");
  const double qmax = double((int64_t(1) << (bits - 1)) - 1);
#pragma omp parallel for if (rows * d > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    double m = 0.0;
    for (int64_t j = 0; j < d; ++j) m = std::fmax(m, std::fabs(double(xr[j])));
    if (m == 0.0) {
      for (int64_t j = 0; j < d; ++j) yr[j] = T(0);
      continue;
    }
    const double s = m / qmax;
    for (int64_t j = 0; j < d; ++j) {
      const double q = std::fmin(std::fmax(std::nearbyint(double(xr[j]) / s), -qmax), qmax);
      // The grid ends are exactly ±max|x|, but q·s can miss them by an ulp (1/49·49 < 1 in
      // double); snapping keeps the largest element exact, which the scale's meaning requires.
      yr[j] = T(std::fabs(q) == qmax ? std::copysign(m, q) : q * s);
    }
  }
}

template void fake_quant<float>(int64_t, int64_t, int, const float*, float*);
template void fake_quant<double>(int64_t, int64_t, int, const double*, double*);

}  // namespace golf::cpu
