#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cpu/cpu_kernels.h"

namespace golf::cpu {

namespace {
// Validated up front: an exception must not leave an OpenMP parallel region.
void check_targets(const char* op, int64_t n, int64_t v, const int32_t* targets) {
  for (int64_t i = 0; i < n; ++i)
    if (targets[i] < 0 || targets[i] >= v)
      throw std::out_of_range(std::string(op) + ": target " + std::to_string(targets[i]) + " at position " +
                              std::to_string(i) + " outside [0, " + std::to_string(v) + ")");
}

// Fills z (the capped logits) and th (tanh(x/softcap), for the backward) and returns logsumexp(z).
// c·tanh(x/c) is even in c, so a negative softcap behaves as its absolute value.
template <class T> double capped_lse(int64_t v, double softcap, const T* x, double* z, double* th) {
  double m = -INFINITY;
  for (int64_t j = 0; j < v; ++j) {
    if (softcap != 0.0) {
      th[j] = std::tanh(double(x[j]) / softcap);
      z[j] = softcap * th[j];
    } else {
      z[j] = double(x[j]);
    }
    m = std::fmax(m, z[j]);
  }
  double s = 0.0;
  for (int64_t j = 0; j < v; ++j) s += std::exp(z[j] - m);
  return m + std::log(s);
}
}  // namespace

template <class T>
void cross_entropy(int64_t n, int64_t v, double softcap, const T* x, const int32_t* targets, T* loss) {
  check_targets("cross_entropy", n, v, targets);
#pragma omp parallel if (n * v > (1 << 15))
  {
    std::vector<double> z(v), th(softcap != 0.0 ? v : 0);
#pragma omp for
    for (int64_t i = 0; i < n; ++i) {
      const double lse = capped_lse(v, softcap, x + i * v, z.data(), th.data());
      loss[i] = T(lse - z[targets[i]]);
    }
  }
}

template <class T>
void cross_entropy_backward(int64_t n, int64_t v, double softcap, const T* x, const int32_t* targets,
                            const T* dloss, T* dx) {
  check_targets("cross_entropy_backward", n, v, targets);
#pragma omp parallel if (n * v > (1 << 15))
  {
    std::vector<double> z(v), th(softcap != 0.0 ? v : 0);
#pragma omp for
    for (int64_t i = 0; i < n; ++i) {
      const double lse = capped_lse(v, softcap, x + i * v, z.data(), th.data());
      const double g = double(dloss[i]);
      T* dr = dx + i * v;
      for (int64_t j = 0; j < v; ++j) {
        double dz = (std::exp(z[j] - lse) - (j == targets[i] ? 1.0 : 0.0)) * g;
        if (softcap != 0.0) dz *= 1.0 - th[j] * th[j];
        dr[j] = T(dz);
      }
    }
  }
}

template void cross_entropy<float>(int64_t, int64_t, double, const float*, const int32_t*, float*);
template void cross_entropy<double>(int64_t, int64_t, double, const double*, const int32_t*, double*);
template void cross_entropy_backward<float>(int64_t, int64_t, double, const float*, const int32_t*, const float*,
                                            float*);
template void cross_entropy_backward<double>(int64_t, int64_t, double, const double*, const int32_t*,
                                             const double*, double*);

}  // namespace golf::cpu
