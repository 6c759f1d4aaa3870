#include <cmath>

#include "kernels/cpu/cpu_kernels.h"

namespace golf::cpu {

namespace {
// Below this many elements the thread start-up costs more than the work.
constexpr int64_t parallel_min = 1 << 15;

template <class T> double inv_rms(int64_t d, double eps, const T* x) {
  double ss = 0.0;
  for (int64_t j = 0; j < d; ++j) ss += double(x[j]) * double(x[j]);
  return 1.0 / std::sqrt(ss / double(d) + eps);
}
}  // namespace

template <class T> void rms_norm(int64_t rows, int64_t d, double eps, const T* x, T* y) {
#pragma omp parallel for if (rows * d > parallel_min)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    const double inv = inv_rms(d, eps, xr);
    for (int64_t j = 0; j < d; ++j) yr[j] = T(double(xr[j]) * inv);
  }
}

// dx = c·(r·dy − x·r³·mean(dy·x)); c = 1 for the plain norm (multiplying by 1.0 is exact, so its
// bits are the unscaled expression's), the LN scale for rms_norm_scaled. acc (or null) is added to
// each dx after its rounding to T, so that the fused op equals add(rms_norm_backward(x, dy), acc)
// bit for bit.
template <class T>
void rms_norm_backward_rows(int64_t rows, int64_t d, double eps, double c, const T* x, const T* dy, const T* acc,
                            T* dx) {
#pragma omp parallel for if (rows * d > parallel_min)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    const T* gr = dy + r * d;
    T* dr = dx + r * d;
    const double inv = inv_rms(d, eps, xr);
    double gx = 0.0;
    for (int64_t j = 0; j < d; ++j) gx += double(gr[j]) * double(xr[j]);
    // The second term is the path through the shared statistic.
    const double k = inv * inv * inv * gx / double(d);
    // One expression for every form, so the folded op's backward term is the unfolded one's bits.
    const T* ar = acc ? acc + r * d : nullptr;
    for (int64_t j = 0; j < d; ++j) {
      const T v = T(c * (inv * double(gr[j]) - k * double(xr[j])));
      dr[j] = ar ? T(v + ar[j]) : v;
    }
  }
}

template <class T> void rms_norm_backward(int64_t rows, int64_t d, double eps, const T* x, const T* dy, T* dx) {
  rms_norm_backward_rows<T>(rows, d, eps, 1.0, x, dy, nullptr, dx);
}

template <class T>
void rms_norm_backward_add(int64_t rows, int64_t d, double eps, const T* x, const T* dy, const T* acc, T* dx) {
  rms_norm_backward_rows<T>(rows, d, eps, 1.0, x, dy, acc, dx);
}

// The LN scale folded in: y = c·x·r, dx = c·(r·dy − x·r³·mean(dy·x)).
template <class T> void rms_norm_scaled(int64_t rows, int64_t d, double eps, double c, const T* x, T* y) {
#pragma omp parallel for if (rows * d > parallel_min)
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    const double inv = inv_rms(d, eps, xr) * c;
    for (int64_t j = 0; j < d; ++j) yr[j] = T(double(xr[j]) * inv);
  }
}

template <class T>
void rms_norm_scaled_backward(int64_t rows, int64_t d, double eps, double c, const T* x, const T* dy, T* dx) {
  rms_norm_backward_rows<T>(rows, d, eps, c, x, dy, nullptr, dx);
}

template void rms_norm<float>(int64_t, int64_t, double, const float*, float*);
template void rms_norm<double>(int64_t, int64_t, double, const double*, double*);
template void rms_norm_backward<float>(int64_t, int64_t, double, const float*, const float*, float*);
template void rms_norm_backward<double>(int64_t, int64_t, double, const double*, const double*, double*);
template void rms_norm_backward_add<float>(int64_t, int64_t, double, const float*, const float*, const float*, float*);
template void rms_norm_backward_add<double>(int64_t, int64_t, double, const double*, const double*, const double*,
                                            double*);
template void rms_norm_scaled<float>(int64_t, int64_t, double, double, const float*, float*);
template void rms_norm_scaled<double>(int64_t, int64_t, double, double, const double*, double*);
template void rms_norm_scaled_backward<float>(int64_t, int64_t, double, double, const float*, const float*, float*);
template void rms_norm_scaled_backward<double>(int64_t, int64_t, double, double, const double*, const double*, double*);

}  // namespace golf::cpu
