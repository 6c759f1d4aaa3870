// relu² and leaky relu² in one pass: y = r², r = x > 0 ? x : slope·x (slope 0: relu); the backward
// reads x and dy once. In place of square(relu(x)) / square(leaky_relu(x, slope)), whose forward
// and backward took two and four passes over the MLP's hidden units.
#include "kernels/cpu/cpu_kernels.h"

namespace golf::cpu {

template <class T> void relu2(int64_t n, double slope, const T* x, T* y) {
  const T s = T(slope);
#pragma omp parallel for if (n > (1 << 15))
  for (int64_t i = 0; i < n; ++i) {
    const T r = x[i] > T(0) ? x[i] : s * x[i];
    y[i] = r * r;
  }
}

template <class T> void relu2_backward(int64_t n, double slope, const T* x, const T* dy, T* dx) {
  const T s = T(slope);
#pragma omp parallel for if (n > (1 << 15))
  for (int64_t i = 0; i < n; ++i) {
    const bool pos = x[i] > T(0);
    const T r = pos ? x[i] : s * x[i];
    // d r² / dx = 2r · (1 or slope), in the unfused chain's order: dy·2r, then the relu's factor
    const T g = dy[i] * (T(2) * r);
    dx[i] = pos ? g : g * s;
  }
}

template void relu2<float>(int64_t, double, const float*, float*);
template void relu2<double>(int64_t, double, const double*, double*);
template void relu2_backward<float>(int64_t, double, const float*, const float*, float*);
template void relu2_backward<double>(int64_t, double, const double*, const double*, double*);

}  // namespace golf::cpu
