#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec_math.h"

namespace golf::cpu {

namespace {
// Validated up front: an exception must not leave an OpenMP parallel region.
void check_targets(const char* op, int64_t n, int64_t v, const int32_t* targets) {
  for (int64_t i = 0; i < n; ++i)
    if (targets[i] < 0 || targets[i] >= v)
      throw std::out_of_range(std::string(op) + ": target " + std::to_string(targets[i]) + " at position " +
                              std::to_string(i) + " outside [0, " + std::to_string(v) + ")");
}

// Per-logit work in T: float evaluates tanh and exp in float (vectorized, vec_math.h), double in
// double. Row maxima are exact in either type; row sums are accumulated in double, in eight
// interleaved partial sums combined in a fixed order (so the loop vectorizes and the result
// depends on nothing but the row).
constexpr int kLanes = 8;

inline float exp_of(float x) { return vec::exp(x); }
inline double exp_of(double x) { return std::exp(x); }
inline float tanh_of(float x) { return vec::tanh(x); }
inline double tanh_of(double x) { return std::tanh(x); }

// Fills z (the capped logits) and th (tanh(x/softcap), for the backward) and returns the row
// maximum of z. c·tanh(x/c) is even in c, so a negative softcap behaves as its absolute value.
template <class T> T capped_max(int64_t v, double softcap, const T* x, T* z, T* th) {
  if (softcap != 0.0) {
    const T inv = T(1.0 / softcap), cap = T(softcap);
    for (int64_t j = 0; j < v; ++j) {
      th[j] = tanh_of(x[j] * inv);
      z[j] = cap * th[j];
    }
  } else {
    std::copy(x, x + v, z);
  }
  T m[kLanes];
  for (int l = 0; l < kLanes; ++l) m[l] = -INFINITY;
  int64_t j = 0;
  for (; j + kLanes <= v; j += kLanes)
    for (int l = 0; l < kLanes; ++l) m[l] = vec::max(z[j + l], m[l]);
  for (; j < v; ++j) m[0] = vec::max(z[j], m[0]);
  T r = m[0];
  for (int l = 1; l < kLanes; ++l) r = vec::max(m[l], r);
  return r;
}

// e[j] = exp(z[j] − m); returns Σ e[j] in double.
template <class T> double exp_sum(int64_t v, const T* z, T m, T* e) {
  double acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= v; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      e[j + l] = exp_of(z[j + l] - m);
      acc[l] += double(e[j + l]);
    }
  for (; j < v; ++j) {
    e[j] = exp_of(z[j] - m);
    acc[0] += double(e[j]);
  }
  double s = acc[0];
  for (int l = 1; l < kLanes; ++l) s += acc[l];
  return s;
}
}  // namespace

template <class T>
void cross_entropy(int64_t n, int64_t v, double softcap, const T* x, const int32_t* targets, T* loss) {
  check_targets("cross_entropy", n, v, targets);
#pragma omp parallel if (n * v > (1 << 15))
  {
    std::vector<T> z(v), th(softcap != 0.0 ? v : 0), e(v);
#pragma omp for
    for (int64_t i = 0; i < n; ++i) {
      const T m = capped_max(v, softcap, x + i * v, z.data(), th.data());
      const double lse = double(m) + std::log(exp_sum(v, z.data(), m, e.data()));
      loss[i] = T(lse - double(z[targets[i]]));
    }
  }
}

template <class T>
void cross_entropy_backward(int64_t n, int64_t v, double softcap, const T* x, const int32_t* targets,
                            const T* dloss, T* dx) {
  check_targets("cross_entropy_backward", n, v, targets);
#pragma omp parallel if (n * v > (1 << 15))
  {
    std::vector<T> z(v), th(softcap != 0.0 ? v : 0), e(v);
#pragma omp for
    for (int64_t i = 0; i < n; ++i) {
      const T m = capped_max(v, softcap, x + i * v, z.data(), th.data());
      const double sum = exp_sum(v, z.data(), m, e.data());
      // softmax_j = e_j / sum; dz_j = (softmax_j − [j = target])·dloss; dx_j = dz_j·(1 − th_j²).
      const T g = T(double(dloss[i]) / sum), gt = dloss[i];
      T* dr = dx + i * v;
      if (softcap != 0.0) {
        for (int64_t j = 0; j < v; ++j) dr[j] = e[j] * g * (T(1) - th[j] * th[j]);
      } else {
        for (int64_t j = 0; j < v; ++j) dr[j] = e[j] * g;
      }
      const int64_t tj = targets[i];
      // The target's term is subtracted in double: softmax_t − 1 loses no precision to e_t·g.
      const double dzt = (double(e[tj]) / sum - 1.0) * double(gt);
      dr[tj] = T(softcap != 0.0 ? dzt * (1.0 - double(th[tj]) * double(th[tj])) : dzt);
    }
  }
}

template void cross_entropy<float>(int64_t, int64_t, double, const float*, const int32_t*, float*);
template void cross_entropy<double>(int64_t, int64_t, double, const double*, const int32_t*, double*);
template void cross_entropy_backward<float>(int64_t, int64_t, double, const float*, const int32_t*, const float*,
                                            float*);
template void cross_entropy_backward<double>(int64_t, int64_t, double, const double*, const int32_t*,
                                             const double*, double*);

// ---- soft targets (distillation) ----------------------------------------------------------

namespace {
// Row log-sum-exp in double, with the row maximum taken first.
template <class T> double row_lse(int64_t v, const T* x, T* e) {
  T m = x[0];
  for (int64_t j = 1; j < v; ++j) m = std::max(m, x[j]);
  return double(m) + std::log(exp_sum(v, x, m, e));
}
}  // namespace

template <class T> void soft_cross_entropy(int64_t n, int64_t v, const T* x, const T* p, T* loss) {
#pragma omp parallel if (n * v > (1 << 15))
  {
    std::vector<T> e(v);
#pragma omp for
    for (int64_t i = 0; i < n; ++i) {
      const T* xi = x + i * v;
      const T* pi = p + i * v;
      const double lse = row_lse(v, xi, e.data());
      double acc = 0.0;
      for (int64_t j = 0; j < v; ++j) acc -= double(pi[j]) * (double(xi[j]) - lse);
      loss[i] = T(acc);
    }
  }
}

template <class T>
void soft_cross_entropy_backward(int64_t n, int64_t v, const T* x, const T* p, const T* dloss, T* dx, T* dp) {
#pragma omp parallel if (n * v > (1 << 15))
  {
    std::vector<T> e(v);
#pragma omp for
    for (int64_t i = 0; i < n; ++i) {
      const T* xi = x + i * v;
      const T* pi = p + i * v;
      const double lse = row_lse(v, xi, e.data());
      double psum = 0.0;
      for (int64_t j = 0; j < v; ++j) psum += double(pi[j]);
      const double g = double(dloss[i]);
      for (int64_t j = 0; j < v; ++j) {
        const double logq = double(xi[j]) - lse;
        dx[i * v + j] = T(g * (std::exp(logq) * psum - double(pi[j])));
        dp[i * v + j] = T(-g * logq);
      }
    }
  }
}

template void soft_cross_entropy<float>(int64_t, int64_t, const float*, const float*, float*);
template void soft_cross_entropy<double>(int64_t, int64_t, const double*, const double*, double*);
template void soft_cross_entropy_backward<float>(int64_t, int64_t, const float*, const float*, const float*, float*,
                                                 float*);
template void soft_cross_entropy_backward<double>(int64_t, int64_t, const double*, const double*, const double*,
                                                  double*, double*);

}  // namespace golf::cpu
