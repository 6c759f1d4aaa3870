// Causal attention through BLAS. Per (batch, head) the scores are computed in blocks of query
// rows, S = scale·Q·Kᵀ over only the key columns the block can see, then a softmax in T (max and
// exp in T, the row sums in double), then O = P·V; the backward pass recomputes P from the saved
// log-sum-exp and uses four more gemms per block (dP = dO·Vᵀ, dQ = dS·K, dK += dSᵀ·Q, dV += Pᵀ·dO).
// Q, K, V, Y and their gradients are addressed in place in their [B, T, heads, hd] layout (leading
// dimension heads·hd): nothing is copied or transposed.
//
// Threads: OpenMP over (batch, head) tasks, each a fixed sequence of single-threaded BLAS calls,
// so the result does not depend on the thread count or the schedule. OpenBLAS runs
// single-threaded (kernels/cpu/blas_threads.h); concurrent single-threaded calls from several
// threads are safe and deterministic (checked by tests/kernels_fused_test.cc's thread-count tests
// and docs/perf.md).
#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/blas_threads.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec_math.h"

namespace golf::cpu {

namespace {

// Same guard as torch.nn.functional.normalize: v / max(||v||, eps), so a zero value vector
// yields v̂ = 0 (and XSA removes nothing) instead of NaN.
constexpr double xsa_eps = 1e-12;

// Query rows per score block: S is kRowBlock × (block end) in T, 64 KB in float at T = 256.
constexpr int64_t kRowBlock = 64;

void check_heads(const char* op, int64_t h, int64_t hkv) {
  if (hkv <= 0 || h % hkv != 0)
    throw std::invalid_argument(std::string(op) + ": " + std::to_string(h) + " query heads are not a multiple of " +
                                std::to_string(hkv) + " KV heads");
}

int blas_int(int64_t v, const char* op) {
  if (v > INT_MAX) throw std::length_error(std::string(op) + ": a size exceeds the BLAS int range");
  return static_cast<int>(v);
}

// C = alpha·op(A)·op(B) + beta·C, row-major.
void gemm(bool ta, bool tb, int m, int n, int k, double alpha, const float* a, int lda, const float* b, int ldb,
          double beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, float(alpha), a,
              lda, b, ldb, float(beta), c, ldc);
}
void gemm(bool ta, bool tb, int m, int n, int k, double alpha, const double* a, int lda, const double* b, int ldb,
          double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda,
              b, ldb, beta, c, ldc);
}


// ---- row softmax pieces: max and exp in T, sums in double ---------------------------------
// Eight interleaved partial results, combined in a fixed order: the loops vectorize (a single
// accumulator is a serial dependency chain) and the result does not depend on anything but n.
constexpr int kLanes = 8;

template <class T> T row_max(const T* s, int64_t n) {
  T m[kLanes];
  for (int l = 0; l < kLanes; ++l) m[l] = -INFINITY;
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) m[l] = vec::max(s[j + l], m[l]);
  for (; j < n; ++j) m[0] = vec::max(s[j], m[0]);
  T r = m[0];
  for (int l = 1; l < kLanes; ++l) r = vec::max(m[l], r);
  return r;
}

inline float exp_of(float x) { return vec::exp(x); }
inline double exp_of(double x) { return std::exp(x); }

// s[j] ← exp(s[j] − c) for j < n; returns Σ s[j] in double.
template <class T> double exp_shift_sum(T* s, int64_t n, T c) {
  double acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const T e = exp_of(s[j + l] - c);
      s[j + l] = e;
      acc[l] += double(e);
    }
  for (; j < n; ++j) {
    s[j] = exp_of(s[j] - c);
    acc[0] += double(s[j]);
  }
  double r = acc[0];
  for (int l = 1; l < kLanes; ++l) r += acc[l];
  return r;
}

// s[j] ← exp(s[j] − c) for j < n.
template <class T> void exp_shift(T* s, int64_t n, T c) {
  for (int64_t j = 0; j < n; ++j) s[j] = exp_of(s[j] - c);
}

template <class A, class B> double dot(int64_t n, const A* a, const B* b) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += double(a[i]) * double(b[i]);
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

// One (batch, query head) problem: base pointers and leading dimensions into [B, T, heads, hd].
template <class T> struct Head {
  const T *q, *k, *v;
  int ldq, ldkv;
};

// Query rows r0..r0+rows of one (batch, head), at absolute positions p0 + i, each attending to key
// rows 0..p0+i: S = scale·Q·Kᵀ over the visible columns, a softmax in T (max and exp in T, the row
// sums in double), Y = P̃·V with the unnormalized P̃, then each row over its sum, and XSA against
// the query's own value row. L (optional) receives each row's log-sum-exp. s holds rows ×
// (p0 + r0 + rows) scores, sums and vhat rows and hd doubles.
template <class T>
void attend_rows(const T* Q, int ldq, const T* K, const T* V, int ldkv, int64_t hd, int64_t p0, int64_t r0, int rows,
                 double scale, bool xsa, T* s, double* sums, double* vhat, T* Y, T* L) {
  const int cols = int(p0 + r0 + rows), hdi = int(hd);
  gemm(false, true, rows, cols, hdi, scale, Q + r0 * ldq, ldq, K, ldkv, 0.0, s, cols);
  for (int ii = 0; ii < rows; ++ii) {
    const int64_t n = p0 + r0 + ii + 1;
    T* row = s + int64_t(ii) * cols;
    const T m = row_max(row, n);
    const double sum = exp_shift_sum(row, n, m);
    std::fill(row + n, row + cols, T(0));
    sums[ii] = sum;
    if (L) L[r0 + ii] = T(double(m) + std::log(sum));
  }
  T* Yb = Y + r0 * ldq;
  gemm(false, false, rows, hdi, cols, 1.0, s, cols, V, ldkv, 0.0, Yb, ldq);
  for (int ii = 0; ii < rows; ++ii) {
    T* yr = Yb + int64_t(ii) * ldq;
    const double inv = 1.0 / sums[ii];
    if (!xsa) {
      for (int64_t d = 0; d < hd; ++d) yr[d] = T(double(yr[d]) * inv);
      continue;
    }
    // y ← o − (o·v̂)v̂ with v̂ from the query's own position's value vector.
    unit(hd, V + (p0 + r0 + ii) * ldkv, vhat);
    double ov = 0.0;
    for (int64_t d = 0; d < hd; ++d) ov += double(yr[d]) * inv * vhat[d];
    for (int64_t d = 0; d < hd; ++d) yr[d] = T(double(yr[d]) * inv - ov * vhat[d]);
  }
}

// Every (batch, query head) of causal attention whose keys and values are the first p0 + t of c
// rows per batch ([B, c, Hkv, hd]; c = t, p0 = 0 for a whole sequence): queries at absolute
// positions p0.., as attend_rows. OpenMP over the heads, each a fixed sequence of single-threaded
// BLAS calls. lse [B, H, t] is written when given.
template <class T>
void attend_heads(const char* op, int64_t b, int64_t t, int64_t c, int64_t p0, int64_t h, int64_t hkv, int64_t hd,
                  double scale, bool xsa, const T* q, const T* k, const T* v, T* y, T* lse) {
  const int64_t group = h / hkv, n_keys = p0 + t;
  const int ldq = blas_int(h * hd, op), ldkv = blas_int(hkv * hd, op);
  blas_int(hd, op);
  blas_int(n_keys, op);
  use_single_threaded_blas();
#pragma omp parallel if (b * h * t * n_keys * hd > (1 << 16))
  {
    std::vector<T> s(std::min(t, kRowBlock) * n_keys);
    std::vector<double> sums(kRowBlock), vhat(hd);
#pragma omp for schedule(dynamic, 1)
    for (int64_t bh = 0; bh < b * h; ++bh) {
      const int64_t bi = bh / h, hi = bh % h, g = hi / group;
      const T* Q = q + (bi * t * h + hi) * hd;
      const T* K = k + (bi * c * hkv + g) * hd;
      const T* V = v + (bi * c * hkv + g) * hd;
      T* Y = y + (bi * t * h + hi) * hd;
      T* L = lse ? lse + bh * t : nullptr;
      for (int64_t r0 = 0; r0 < t; r0 += kRowBlock)
        attend_rows(Q, ldq, K, V, ldkv, hd, p0, r0, int(std::min(kRowBlock, t - r0)), scale, xsa, s.data(), sums.data(),
                    vhat.data(), Y, L);
    }
  }
}

}  // namespace

template <class T>
void attention(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa, const T* q,
               const T* k, const T* v, T* y, T* lse) {
  check_heads("attention", h, hkv);
  if (b == 0 || t == 0 || h == 0) return;
  if (hd == 0) {  // every score is 0: a uniform softmax over the visible positions
    for (int64_t r = 0; r < b * h * t; ++r) lse[r] = T(std::log(double(r % t + 1)));
    return;
  }
  attend_heads("attention", b, t, t, 0, h, hkv, hd, scale, xsa, q, k, v, y, lse);
}

template <class T>
void attention_backward(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa,
                        const T* q, const T* k, const T* v, const T* y, const T* lse, const T* dy, T* dq, T* dk,
                        T* dv) {
  check_heads("attention_backward", h, hkv);
  if (b == 0 || t == 0 || h == 0) return;
  const int64_t group = h / hkv;
  const int ldq = blas_int(h * hd, "attention_backward"), ldkv = blas_int(hkv * hd, "attention_backward");
  const int hdi = blas_int(hd, "attention_backward");
  blas_int(t, "attention_backward");
  if (hd == 0) return;  // dq, dk and dv are empty
  use_single_threaded_blas();
  // One task per (batch, KV head): it owns dk and dv of that KV head and adds the contributions of
  // its query heads in head order, then of their row blocks in order. No cross-task reduction, and
  // the result is independent of the thread count.
#pragma omp parallel if (b * h * t * t * hd > (1 << 16))
  {
    const int64_t rb = std::min(t, kRowBlock);
    std::vector<T> p(rb * t), ds(rb * t), o(xsa ? rb * hd : 0), dout(xsa ? rb * hd : 0);
    std::vector<double> di(rb), vhat(hd), gv(hd), dd(hd);
#pragma omp for schedule(dynamic, 1)
    for (int64_t bg = 0; bg < b * hkv; ++bg) {
      const int64_t bi = bg / hkv, g = bg % hkv;
      const T* K = k + (bi * t * hkv + g) * hd;
      const T* V = v + (bi * t * hkv + g) * hd;
      T* dK = dk + (bi * t * hkv + g) * hd;
      T* dV = dv + (bi * t * hkv + g) * hd;
      for (int64_t j = 0; j < t; ++j) {
        std::fill(dK + j * ldkv, dK + j * ldkv + hd, T(0));
        std::fill(dV + j * ldkv, dV + j * ldkv + hd, T(0));
      }
      for (int64_t hi = g * group; hi < (g + 1) * group; ++hi) {
        const int64_t off = (bi * t * h + hi) * hd;
        const T *Q = q + off, *Y = y + off, *dY = dy + off;
        T* dQ = dq + off;
        const T* L = lse + (bi * h + hi) * t;
        for (int64_t r0 = 0; r0 < t; r0 += kRowBlock) {
          const int rows = int(std::min(kRowBlock, t - r0)), cols = int(r0 + rows);
          // P = exp(scale·Q·Kᵀ − lse), zero above the diagonal.
          gemm(false, true, rows, cols, hdi, scale, Q + r0 * ldq, ldq, K, ldkv, 0.0, p.data(), cols);
          for (int ii = 0; ii < rows; ++ii) {
            const int64_t n = r0 + ii + 1;
            T* row = p.data() + int64_t(ii) * cols;
            exp_shift(row, n, L[r0 + ii]);
            std::fill(row + n, row + cols, T(0));
          }
          // The gradient reaching the softmax output (dO) and the row terms D_i = dO_i · o_i.
          const T* dO;
          int lddo;
          if (xsa) {
            // y = o − (o·v̂)v̂ needs the pre-XSA o, which the forward did not keep: O = P·V.
            gemm(false, false, rows, hdi, cols, 1.0, p.data(), cols, V, ldkv, 0.0, o.data(), hdi);
            for (int ii = 0; ii < rows; ++ii) {
              const int64_t i = r0 + ii;
              const T* oi = o.data() + int64_t(ii) * hd;
              const T* dyi = dY + i * ldq;
              T* doi = dout.data() + int64_t(ii) * hd;
              const double nrm = unit(hd, V + i * ldkv, vhat.data());
              const double dyv = dot(hd, vhat.data(), dyi), ov = dot(hd, vhat.data(), oi);
              double dsum = 0.0;
              for (int64_t d = 0; d < hd; ++d) {
                dd[d] = double(dyi[d]) - dyv * vhat[d];
                doi[d] = T(dd[d]);
                dsum += dd[d] * double(oi[d]);
              }
              di[ii] = dsum;
              // ∂L/∂v̂ = −(o·v̂)dy − (dy·v̂)o, then through v̂ = v/||v|| (tangential part over ||v||;
              // a plain 1/eps when the norm guard is active).
              for (int64_t d = 0; d < hd; ++d) gv[d] = -ov * double(dyi[d]) - dyv * double(oi[d]);
              const double gvv = nrm > xsa_eps ? dot(hd, gv.data(), vhat.data()) : 0.0;
              T* dvi = dV + i * ldkv;
              for (int64_t d = 0; d < hd; ++d) dvi[d] += T((gv[d] - gvv * vhat[d]) / nrm);
            }
            dO = dout.data();
            lddo = hdi;
          } else {
            for (int ii = 0; ii < rows; ++ii) di[ii] = dot(hd, dY + (r0 + ii) * ldq, Y + (r0 + ii) * ldq);
            dO = dY + r0 * ldq;
            lddo = ldq;
          }
          // dP = dO · V[0 : cols]ᵀ, then dS = P ⊙ (dP − D) (zero above the diagonal, as P).
          gemm(false, true, rows, cols, hdi, 1.0, dO, lddo, V, ldkv, 0.0, ds.data(), cols);
          for (int ii = 0; ii < rows; ++ii) {
            const int64_t n = r0 + ii + 1;
            const T* pr = p.data() + int64_t(ii) * cols;
            T* dr = ds.data() + int64_t(ii) * cols;
            const T dii = T(di[ii]);
            for (int64_t j = 0; j < n; ++j) dr[j] = pr[j] * (dr[j] - dii);
            std::fill(dr + n, dr + cols, T(0));
          }
          // dQ = scale·dS·K, dK += scale·dSᵀ·Q, dV += Pᵀ·dO.
          gemm(false, false, rows, hdi, cols, scale, ds.data(), cols, K, ldkv, 0.0, dQ + r0 * ldq, ldq);
          gemm(true, false, cols, hdi, rows, scale, ds.data(), cols, Q + r0 * ldq, ldq, 1.0, dK, ldkv);
          gemm(true, false, cols, hdi, rows, 1.0, p.data(), cols, dO, lddo, 1.0, dV, ldkv);
        }
      }
    }
  }
}

template <class T>
void attention_cached(int64_t b, int64_t t, int64_t c, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa,
                      int64_t p0, const T* q, const T* k, const T* v, T* k_cache, T* v_cache, T* y) {
  check_heads("attention_cached", h, hkv);
  if (p0 < 0 || p0 + t > c)
    throw std::out_of_range("attention_cached: positions " + std::to_string(p0) + ".." + std::to_string(p0 + t - 1) +
                            " do not fit a KV cache of " + std::to_string(c));
  if (b == 0 || t == 0 || h == 0) return;
  const int64_t row = hkv * hd;
  for (int64_t bi = 0; bi < b; ++bi) {
    std::copy(k + bi * t * row, k + (bi + 1) * t * row, k_cache + (bi * c + p0) * row);
    std::copy(v + bi * t * row, v + (bi + 1) * t * row, v_cache + (bi * c + p0) * row);
  }
  if (hd == 0) return;
  attend_heads("attention_cached", b, t, c, p0, h, hkv, hd, scale, xsa, q, k_cache, v_cache, y, static_cast<T*>(nullptr));
}

template void attention_cached<float>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, double, bool, int64_t,
                                      const float*, const float*, const float*, float*, float*, float*);
template void attention_cached<double>(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, double, bool, int64_t,
                                       const double*, const double*, const double*, double*, double*, double*);
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
