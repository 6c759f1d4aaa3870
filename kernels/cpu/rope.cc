#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cpu/cpu_kernels.h"

namespace golf::cpu {

template <class T>
void rope_table(int64_t t, int64_t rot, double base, int64_t train_len, int64_t ntk_len, int64_t p0, bool inverse,
                std::vector<T>& cos_t, std::vector<T>& sin_t) {
  const int64_t half = rot / 2;

  // NTK-aware scaling stretches the lowest frequency to cover the longer context. With rot == 2
  // the only frequency is base'^0 = 1, so base' is irrelevant (and its exponent would divide by 0).
  double base_eff = base;
  if (train_len > 0 && ntk_len > train_len && rot > 2)
    base_eff = base * std::pow(double(ntk_len) / double(train_len), double(rot) / double(rot - 2));

  // The table is built in fp32 step by step as the PyTorch reference does, so that both agree
  // to the last bit of the angles whatever T is; a position is the same float whether a step
  // starts at 0 (training) or at p0 (incremental decoding), so both give the same rotation.
  std::vector<float> inv_freq(half);
  for (int64_t j = 0; j < half; ++j)
    inv_freq[j] = 1.0f / std::pow(float(base_eff), float(2 * j) / float(rot));
  cos_t.assign(size_t(t * half), T(0));
  sin_t.assign(size_t(t * half), T(0));
  const T sign = inverse ? T(-1) : T(1);
  for (int64_t p = 0; p < t; ++p)
    for (int64_t j = 0; j < half; ++j) {
      const float angle = float(p0 + p) * inv_freq[j];
      cos_t[p * half + j] = T(std::cos(angle));
      sin_t[p * half + j] = sign * T(std::sin(angle));
    }
}

template <class T>
void rope_at(int64_t b, int64_t t, int64_t h, int64_t hd, int64_t rot, double base, int64_t train_len,
             int64_t ntk_len, int64_t p0, bool inverse, const T* x, T* y) {
  if (rot < 0 || rot > hd || rot % 2 != 0)
    throw std::invalid_argument("rope: rot " + std::to_string(rot) + " must be even and within [0, " +
                                std::to_string(hd) + "]");
  const int64_t half = rot / 2;
  std::vector<T> cos_t, sin_t;
  rope_table(t, rot, base, train_len, ntk_len, p0, inverse, cos_t, sin_t);

  const int64_t rows = b * t;
#pragma omp parallel for if (rows * h * hd > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    const T* c = cos_t.data() + (r % t) * half;
    const T* s = sin_t.data() + (r % t) * half;
    for (int64_t hh = 0; hh < h; ++hh) {
      const T* xr = x + (r * h + hh) * hd;
      T* yr = y + (r * h + hh) * hd;
      for (int64_t j = 0; j < half; ++j) {
        const T a = xr[j], e = xr[j + half];
        yr[j] = a * c[j] + e * s[j];
        yr[j + half] = -a * s[j] + e * c[j];
      }
      for (int64_t j = rot; j < hd; ++j) yr[j] = xr[j];
    }
  }
}

template <class T>
void rope(int64_t b, int64_t t, int64_t h, int64_t hd, int64_t rot, double base, int64_t train_len, bool inverse,
          const T* x, T* y) {
  rope_at(b, t, h, hd, rot, base, train_len, t, 0, inverse, x, y);
}

template void rope<float>(int64_t, int64_t, int64_t, int64_t, int64_t, double, int64_t, bool, const float*, float*);
template void rope<double>(int64_t, int64_t, int64_t, int64_t, int64_t, double, int64_t, bool, const double*,
                           double*);
template void rope_table<float>(int64_t, int64_t, double, int64_t, int64_t, int64_t, bool, std::vector<float>&,
                                std::vector<float>&);
template void rope_table<double>(int64_t, int64_t, double, int64_t, int64_t, int64_t, bool, std::vector<double>&,
                                 std::vector<double>&);
template void rope_at<float>(int64_t, int64_t, int64_t, int64_t, int64_t, double, int64_t, int64_t, int64_t, bool,
                             const float*, float*);
template void rope_at<double>(int64_t, int64_t, int64_t, int64_t, int64_t, double, int64_t, int64_t, int64_t, bool,
                              const double*, double*);

}  // namespace golf::cpu
