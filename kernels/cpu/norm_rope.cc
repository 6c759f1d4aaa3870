// q's and k's path in golf.Attention in one pass: RMSNorm over each head's values, rope, and q's
// per-head gain (runtime/fuse_pass.cc puts it in place of rms_norm → rope → mul). The arithmetic
// follows the unfused kernels (rms_norm.cc, rope.cc): the norm rounds to T before the rotation.
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"

namespace golf::cpu {

namespace {

// n = rms_norm(x) of one head's hd values, then r = the rotation of n with row tables c, s.
template <class T>
void norm_rotate(int64_t hd, int64_t half, int64_t rot, double eps, const T* x, const T* c, const T* s, T* r) {
  double ss = 0.0;
  for (int64_t j = 0; j < hd; ++j) ss += double(x[j]) * double(x[j]);
  const double inv = 1.0 / std::sqrt(ss / double(hd) + eps);
  for (int64_t j = 0; j < half; ++j) {
    const T a = T(double(x[j]) * inv), e = T(double(x[j + half]) * inv);
    r[j] = a * c[j] + e * s[j];
    r[j + half] = -a * s[j] + e * c[j];
  }
  for (int64_t j = rot; j < hd; ++j) r[j] = T(double(x[j]) * inv);
}

}  // namespace

template <class T>
void rms_norm_rope(int64_t b, int64_t t, int64_t h, int64_t hd, int64_t rot, double base, int64_t train_len, bool inverse,
                   double eps, const T* x, const T* gain, T* y) {
  std::vector<T> cos_t, sin_t;
  rope_table(t, rot, base, train_len, t, 0, inverse, cos_t, sin_t);
  const int64_t half = rot / 2, rows = b * t;
#pragma omp parallel for if (rows * h * hd > (1 << 15))
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t hh = 0; hh < h; ++hh) {
      const int64_t off = (r * h + hh) * hd;
      norm_rotate(hd, half, rot, eps, x + off, cos_t.data() + (r % t) * half, sin_t.data() + (r % t) * half, y + off);
      if (gain)
        for (int64_t j = 0; j < hd; ++j) y[off + j] = y[off + j] * gain[hh];
    }
}

template <class T>
void rms_norm_rope_backward(int64_t b, int64_t t, int64_t h, int64_t hd, int64_t rot, double base, int64_t train_len,
                            bool inverse, double eps, const T* x, const T* gain, const T* dy, T* dx, T* dgain_rows) {
  std::vector<T> cos_t, sin_t;
  rope_table(t, rot, base, train_len, t, 0, inverse, cos_t, sin_t);
  const int64_t half = rot / 2, rows = b * t;
#pragma omp parallel for if (rows * h * hd > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<T> u(static_cast<size_t>(hd)), v(static_cast<size_t>(hd)), fwd(static_cast<size_t>(hd));
    const T* c = cos_t.data() + (r % t) * half;
    const T* s = sin_t.data() + (r % t) * half;
    for (int64_t hh = 0; hh < h; ++hh) {
      const int64_t off = (r * h + hh) * hd;
      const T* xr = x + off;
      const T* gr = dy + off;
      if (gain) {
        // The gain's gradient: Σ dy·rope(norm(x)), the forward recomputed.
        norm_rotate(hd, half, rot, eps, xr, c, s, fwd.data());
        double dg = 0.0;
        for (int64_t j = 0; j < hd; ++j) dg += double(gr[j]) * double(fwd[size_t(j)]);
        dgain_rows[r * h + hh] = T(dg);
      }
      for (int64_t j = 0; j < hd; ++j) u[size_t(j)] = gain ? gr[j] * gain[hh] : gr[j];
      // The inverse rotation (the transpose of the forward one).
      for (int64_t j = 0; j < half; ++j) {
        const T a = u[size_t(j)], e = u[size_t(j + half)];
        v[size_t(j)] = a * c[j] - e * s[j];
        v[size_t(j + half)] = a * s[j] + e * c[j];
      }
      for (int64_t j = rot; j < hd; ++j) v[size_t(j)] = u[size_t(j)];
      // rms_norm's backward: dx = r·v − x·r³·mean(v·x)
      double ss = 0.0, gx = 0.0;
      for (int64_t j = 0; j < hd; ++j) {
        ss += double(xr[j]) * double(xr[j]);
        gx += double(v[size_t(j)]) * double(xr[j]);
      }
      const double inv = 1.0 / std::sqrt(ss / double(hd) + eps);
      const double k = inv * inv * inv * gx / double(hd);
      for (int64_t j = 0; j < hd; ++j) dx[off + j] = T(inv * double(v[size_t(j)]) - k * double(xr[j]));
    }
  }
}

#define GOLF_INSTANTIATE(T)                                                                                        \
  template void rms_norm_rope<T>(int64_t, int64_t, int64_t, int64_t, int64_t, double, int64_t, bool, double,      \
                                 const T*, const T*, T*);                                                         \
  template void rms_norm_rope_backward<T>(int64_t, int64_t, int64_t, int64_t, int64_t, double, int64_t, bool, double, \
                                          const T*, const T*, const T*, T*, T*);
GOLF_INSTANTIATE(float)
GOLF_INSTANTIATE(double)
#undef GOLF_INSTANTIATE

}  // namespace golf::cpu
