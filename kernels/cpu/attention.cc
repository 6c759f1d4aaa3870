#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cpu/cpu_kernels.h"

namespace golf::cpu {

namespace {

// Same guard as torch.nn.functional.normalize: v / max(||v||, eps), so a zero value vector
// yields v̂ = 0 (and XSA removes nothing) instead of NaN.
constexpr double xsa_eps = 1e-12;

void check_heads(const char* op, int64_t h, int64_t hkv) {
  if (hkv <= 0 || h % hkv != 0)
    throw std::invalid_argument(std::string(op) + ": " + std::to_string(h) + " query heads are not a multiple of " +
                                std::to_string(hkv) + " KV heads");
}

template <class T> double dot(int64_t n, const double* a, const T* b) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * double(b[i]);
  return s;
}

// Writes v̂ and returns the divisor used (||v|| or xsa_eps).
template <class T> double unit(int64_t n, const T* v, double* out) {
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += double(v[i]) * double(v[i]);
  const double nrm = std::fmax(std::sqrt(ss), xsa_eps);
  for (int64_t i = 0; i < n; ++i) out[i] = double(v[i]) / nrm;
  return nrm;
}

// Addressing of [B, T, heads, hd] tensors.
struct layout {
  int64_t t, hd;
  int64_t at(int64_t bi, int64_t pos, int64_t heads, int64_t head) const { return ((bi * t + pos) * heads + head) * hd; }
};

}  // namespace

template <class T>
void attention(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa, const T* q,
               const T* k, const T* v, T* y, T* lse) {
  check_heads("attention", h, hkv);
  const int64_t group = h / hkv;
  const layout L{t, hd};
  const int64_t rows = b * h * t;  // ordered as lse: (b, h, t)
#pragma omp parallel if (rows * t * hd > (1 << 16))
  {
    std::vector<double> p(t), qi(hd), o(hd), vhat(hd);
    // Causal rows differ in length; dynamic scheduling balances them (each row is independent,
    // so the result does not depend on the schedule).
#pragma omp for schedule(dynamic, 16)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t bi = r / (h * t), hi = (r / t) % h, i = r % t, g = hi / group;
      const T* qr = q + L.at(bi, i, h, hi);
      for (int64_t d = 0; d < hd; ++d) qi[d] = double(qr[d]);
      double m = -INFINITY;
      for (int64_t j = 0; j <= i; ++j) {
        p[j] = scale * dot(hd, qi.data(), k + L.at(bi, j, hkv, g));
        m = std::fmax(m, p[j]);
      }
      double sum = 0.0;
      for (int64_t j = 0; j <= i; ++j) sum += (p[j] = std::exp(p[j] - m));
      std::fill(o.begin(), o.end(), 0.0);
      for (int64_t j = 0; j <= i; ++j) {
        const T* vj = v + L.at(bi, j, hkv, g);
        for (int64_t d = 0; d < hd; ++d) o[d] += p[j] * double(vj[d]);
      }
      for (int64_t d = 0; d < hd; ++d) o[d] /= sum;
      if (xsa) {
        unit(hd, v + L.at(bi, i, hkv, g), vhat.data());
        const double ov = dot(hd, vhat.data(), o.data());
        for (int64_t d = 0; d < hd; ++d) o[d] -= ov * vhat[d];
      }
      T* yr = y + L.at(bi, i, h, hi);
      for (int64_t d = 0; d < hd; ++d) yr[d] = T(o[d]);
      lse[r] = T(m + std::log(sum));
    }
  }
}

template <class T>
void attention_backward(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa,
                        const T* q, const T* k, const T* v, const T* y, const T* lse, const T* dy, T* dq, T* dk,
                        T* dv) {
  check_heads("attention_backward", h, hkv);
  const int64_t group = h / hkv;
  const layout L{t, hd};
  // Each query head accumulates its own dk/dv contribution ([B, H, T, hd], in double); they are
  // summed over the heads of a group afterwards in head order. The result is thus independent of
  // the thread count while all B·H heads still run in parallel.
  std::vector<double> dk_h(b * h * t * hd, 0.0), dv_h(b * h * t * hd, 0.0);
  const bool par = b * h * t * t * hd > (1 << 16);
#pragma omp parallel if (par)
  {
    std::vector<double> p(t), qi(hd), o(hd), dout(hd), dqi(hd), vhat(hd), gv(hd);
#pragma omp for schedule(dynamic, 1)
    for (int64_t bh = 0; bh < b * h; ++bh) {
      const int64_t bi = bh / h, hi = bh % h, g = hi / group;
      double* dkh = dk_h.data() + bh * t * hd;
      double* dvh = dv_h.data() + bh * t * hd;
      for (int64_t i = 0; i < t; ++i) {
        const T* qr = q + L.at(bi, i, h, hi);
        const T* dyr = dy + L.at(bi, i, h, hi);
        for (int64_t d = 0; d < hd; ++d) qi[d] = double(qr[d]);
        const double lse_i = double(lse[bh * t + i]);
        for (int64_t j = 0; j <= i; ++j) p[j] = std::exp(scale * dot(hd, qi.data(), k + L.at(bi, j, hkv, g)) - lse_i);

        double di;  // D_i = dO_i · o_i, the softmax-backward row term
        if (xsa) {
          // y = o − (o·v̂)v̂ needs the pre-XSA o, which the forward did not keep.
          std::fill(o.begin(), o.end(), 0.0);
          for (int64_t j = 0; j <= i; ++j) {
            const T* vj = v + L.at(bi, j, hkv, g);
            for (int64_t d = 0; d < hd; ++d) o[d] += p[j] * double(vj[d]);
          }
          const double nrm = unit(hd, v + L.at(bi, i, hkv, g), vhat.data());
          const double dyv = dot(hd, vhat.data(), dyr), ov = dot(hd, vhat.data(), o.data());
          for (int64_t d = 0; d < hd; ++d) dout[d] = double(dyr[d]) - dyv * vhat[d];
          di = dot(hd, dout.data(), o.data());
          // ∂L/∂v̂ = −(o·v̂)dy − (dy·v̂)o, then through v̂ = v/||v|| (tangential part over ||v||;
          // a plain 1/eps when the norm guard is active).
          for (int64_t d = 0; d < hd; ++d) gv[d] = -ov * double(dyr[d]) - dyv * o[d];
          const double gvv = nrm > xsa_eps ? dot(hd, gv.data(), vhat.data()) : 0.0;
          double* dvi = dvh + i * hd;
          for (int64_t d = 0; d < hd; ++d) dvi[d] += (gv[d] - gvv * vhat[d]) / nrm;
        } else {
          for (int64_t d = 0; d < hd; ++d) dout[d] = double(dyr[d]);
          di = dot(hd, dout.data(), y + L.at(bi, i, h, hi));
        }

        std::fill(dqi.begin(), dqi.end(), 0.0);
        for (int64_t j = 0; j <= i; ++j) {
          const T* kj = k + L.at(bi, j, hkv, g);
          const double ds = p[j] * (dot(hd, dout.data(), v + L.at(bi, j, hkv, g)) - di);
          double* dkj = dkh + j * hd;
          double* dvj = dvh + j * hd;
          for (int64_t d = 0; d < hd; ++d) {
            dqi[d] += ds * double(kj[d]);
            dkj[d] += scale * ds * qi[d];
            dvj[d] += p[j] * dout[d];
          }
        }
        T* dqr = dq + L.at(bi, i, h, hi);
        for (int64_t d = 0; d < hd; ++d) dqr[d] = T(scale * dqi[d]);
      }
    }

#pragma omp for
    for (int64_t r = 0; r < b * t * hkv; ++r) {
      const int64_t bi = r / (t * hkv), j = (r / hkv) % t, g = r % hkv;
      T* dkr = dk + L.at(bi, j, hkv, g);
      T* dvr = dv + L.at(bi, j, hkv, g);
      for (int64_t d = 0; d < hd; ++d) {
        double sk = 0.0, sv = 0.0;
        for (int64_t hi = g * group; hi < (g + 1) * group; ++hi) {
          sk += dk_h[((bi * h + hi) * t + j) * hd + d];
          sv += dv_h[((bi * h + hi) * t + j) * hd + d];
        }
        dkr[d] = T(sk);
        dvr[d] = T(sv);
      }
    }
  }
}

template void attention<float>(int64_t, int64_t, int64_t, int64_t, int64_t, double, bool, const float*, const float*,
                               const float*, float*, float*);
template void attention<double>(int64_t, int64_t, int64_t, int64_t, int64_t, double, bool, const double*,
                                const double*, const double*, double*, double*);
template void attention_backward<float>(int64_t, int64_t, int64_t, int64_t, int64_t, double, bool, const float*,
                                        const float*, const float*, const float*, const float*, const float*, float*,
                                        float*, float*);
template void attention_backward<double>(int64_t, int64_t, int64_t, int64_t, int64_t, double, bool, const double*,
                                         const double*, const double*, const double*, const double*, const double*,
                                         double*, double*, double*);

}  // namespace golf::cpu
