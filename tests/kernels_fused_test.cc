// Fused CPU kernels (rms_norm, rope, attention, cross_entropy, fake_quant) against naive
// double-precision references and central finite differences.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"

namespace golf::cpu {
namespace {

using dvec = std::vector<double>;

template <class T> std::vector<T> random_vec(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> out(n);
  for (auto& e : out) e = T(dist(gen));
  return out;
}

template <class T> dvec to_double(const std::vector<T>& x) { return dvec(x.begin(), x.end()); }

template <class T> std::vector<T> cast(const dvec& x) {
  std::vector<T> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = T(x[i]);
  return out;
}

// Relative tolerance for comparing a kernel in T with a double reference.
template <class T> double tol() { return std::is_same_v<T, double> ? 1e-12 : 3e-6; }

template <class T> void expect_close(const std::vector<T>& got, const dvec& want, double rel, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(double(got[i]), want[i], rel * (1.0 + std::fabs(want[i]))) << what << " at " << i;
}

// Central difference of a scalar function of `x` in each coordinate.
template <class F> dvec finite_diff(dvec x, F loss, double step = 1e-6) {
  dvec g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double keep = x[i];
    x[i] = keep + step;
    const double up = loss(x);
    x[i] = keep - step;
    const double down = loss(x);
    x[i] = keep;
    g[i] = (up - down) / (2 * step);
  }
  return g;
}

double dot(const dvec& a, const dvec& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

template <class T> class Fused : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(Fused, Types);

// ---- rms_norm -----------------------------------------------------------------------------

TYPED_TEST(Fused, RmsNormMatchesNaive) {
  using T = TypeParam;
  const int64_t rows = 7, d = 13;
  const double eps = 1e-5;
  auto x = random_vec<T>(rows * d, 1, -3, 3);
  std::vector<T> y(x.size());
  rms_norm(rows, d, eps, x.data(), y.data());
  dvec want(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ms = 0;
    for (int64_t j = 0; j < d; ++j) ms += double(x[r * d + j]) * double(x[r * d + j]) / d;
    for (int64_t j = 0; j < d; ++j) want[r * d + j] = double(x[r * d + j]) / std::sqrt(ms + eps);
  }
  expect_close(y, want, tol<T>(), "rms_norm");
}

TEST(FusedDouble, RmsNormBackwardFiniteDiff) {
  const int64_t rows = 4, d = 9;
  const double eps = 1e-3;
  auto x = random_vec<double>(rows * d, 2, -2, 2);
  auto r = random_vec<double>(rows * d, 3);
  dvec dx(x.size());
  rms_norm_backward(rows, d, eps, x.data(), r.data(), dx.data());
  auto loss = [&](const dvec& xs) {
    dvec y(xs.size());
    rms_norm(rows, d, eps, xs.data(), y.data());
    return dot(y, r);
  };
  expect_close(dx, finite_diff(x, loss), 1e-7, "rms_norm dx");
}

TEST(FusedFloat, RmsNormBackwardMatchesDouble) {
  const int64_t rows = 5, d = 64;
  auto x = random_vec<float>(rows * d, 4, -2, 2);
  auto dy = random_vec<float>(rows * d, 5);
  std::vector<float> dx(x.size());
  dvec dxd(x.size());
  rms_norm_backward(rows, d, 1e-6, x.data(), dy.data(), dx.data());
  rms_norm_backward(rows, d, 1e-6, to_double(x).data(), to_double(dy).data(), dxd.data());
  expect_close(dx, dxd, 1e-5, "rms_norm dx float");
}

// ---- rope ---------------------------------------------------------------------------------

// Naive rope with the documented fp32 angle recipe, applied in double.
dvec naive_rope(int64_t b, int64_t t, int64_t h, int64_t hd, int64_t rot, double base_eff, const dvec& x) {
  dvec y = x;
  const int64_t half = rot / 2;
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t p = 0; p < t; ++p)
      for (int64_t hh = 0; hh < h; ++hh)
        for (int64_t j = 0; j < half; ++j) {
          const float inv = 1.0f / std::pow(float(base_eff), float(2 * j) / float(rot));
          const float ang = float(p) * inv;
          const double c = std::cos(ang), s = std::sin(ang);
          const int64_t o = ((bi * t + p) * h + hh) * hd;
          y[o + j] = x[o + j] * c + x[o + j + half] * s;
          y[o + j + half] = -x[o + j] * s + x[o + j + half] * c;
        }
  return y;
}

// cos/sin come from an fp32 table, so c² + s² is 1 only to fp32 precision: rotations are
// orthogonal (and inverse∘forward the identity) to about 1e-7 even when T is double.
template <class T> double rope_tol() { return std::max(10 * tol<T>(), 5e-7); }

TYPED_TEST(Fused, RopeInverseUndoesForward) {
  using T = TypeParam;
  const int64_t b = 2, t = 9, h = 3, hd = 8;
  auto x = random_vec<T>(b * t * h * hd, 6);
  std::vector<T> y(x.size()), back(x.size());
  rope(b, t, h, hd, hd, 10000.0, 0, false, x.data(), y.data());
  rope(b, t, h, hd, hd, 10000.0, 0, true, y.data(), back.data());
  expect_close(back, to_double(x), rope_tol<T>(), "rope inverse");
}

TYPED_TEST(Fused, RopePreservesPairNormsAndTail) {
  using T = TypeParam;
  const int64_t b = 1, t = 17, h = 2, hd = 10, rot = 6, half = rot / 2;
  auto x = random_vec<T>(b * t * h * hd, 7);
  std::vector<T> y(x.size());
  rope(b, t, h, hd, rot, 500.0, 0, false, x.data(), y.data());
  for (int64_t row = 0; row < b * t * h; ++row) {
    const T* xr = x.data() + row * hd;
    const T* yr = y.data() + row * hd;
    for (int64_t j = 0; j < half; ++j) {
      const double nx = std::hypot(double(xr[j]), double(xr[j + half]));
      const double ny = std::hypot(double(yr[j]), double(yr[j + half]));
      EXPECT_NEAR(ny, nx, rope_tol<T>()) << "row " << row << " pair " << j;
    }
    for (int64_t j = rot; j < hd; ++j) EXPECT_EQ(yr[j], xr[j]) << "tail row " << row << " dim " << j;
  }
}

TEST(FusedDouble, RopeInverseIsTranspose) {
  const int64_t b = 2, t = 6, h = 2, hd = 6, rot = 4;
  auto x = random_vec<double>(b * t * h * hd, 8);
  auto z = random_vec<double>(x.size(), 9);
  dvec rx(x.size()), rz(x.size());
  rope(b, t, h, hd, rot, 10000.0, 0, false, x.data(), rx.data());
  rope(b, t, h, hd, rot, 10000.0, 0, true, z.data(), rz.data());
  EXPECT_NEAR(dot(rx, z), dot(x, rz), 1e-12);
}

TYPED_TEST(Fused, RopeKnownValue) {
  using T = TypeParam;
  const std::vector<T> x = {1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4};
  std::vector<T> y(x.size());
  rope(1, 3, 1, 4, 4, 10000.0, 0, false, x.data(), y.data());
  // θ = t·(1, 1/100): position 0 is unchanged.
  const dvec want = {1, 2, 3, 4,                                              //
                     3.064715260, 2.039899334, 0.779435933, 3.979800335,      //
                     2.311745444, 2.079594680, -2.157737936, 3.959202693};
  expect_close(y, want, 1e-6, "rope known value");
}

TYPED_TEST(Fused, RopeNtkScaling) {
  using T = TypeParam;
  const int64_t b = 1, t = 12, h = 2, hd = 8, rot = 8, train_len = 4;
  const double base = 10000.0;
  auto x = random_vec<T>(b * t * h * hd, 10);
  std::vector<T> plain(x.size()), ntk(x.size()), long_train(x.size());
  rope(b, t, h, hd, rot, base, 0, false, x.data(), plain.data());
  rope(b, t, h, hd, rot, base, train_len, false, x.data(), ntk.data());
  rope(b, t, h, hd, rot, base, t, false, x.data(), long_train.data());
  EXPECT_EQ(long_train, plain) << "T <= train_len must not rescale";
  EXPECT_NE(ntk, plain);
  const double base_eff = base * std::pow(double(t) / train_len, double(rot) / (rot - 2));
  expect_close(ntk, naive_rope(b, t, h, hd, rot, base_eff, to_double(x)), tol<T>(), "rope ntk");
  expect_close(plain, naive_rope(b, t, h, hd, rot, base, to_double(x)), tol<T>(), "rope plain");
}

TEST(FusedDouble, RopeEdgeCases) {
  const int64_t t = 8, hd = 4;
  auto x = random_vec<double>(t * hd, 11);
  dvec y(x.size());
  // rot = 2 has the single frequency 1, whatever NTK does to the base.
  rope(1, t, 1, hd, 2, 10000.0, 2, false, x.data(), y.data());
  expect_close(y, naive_rope(1, t, 1, hd, 2, 10000.0, x), 1e-15, "rope rot=2");
  rope(1, t, 1, hd, 0, 10000.0, 0, false, x.data(), y.data());
  EXPECT_EQ(y, x);
  EXPECT_THROW(rope(1, t, 1, hd, 3, 10000.0, 0, false, x.data(), y.data()), std::invalid_argument);
  EXPECT_THROW(rope(1, t, 1, hd, 6, 10000.0, 0, false, x.data(), y.data()), std::invalid_argument);
}

// ---- attention ----------------------------------------------------------------------------

struct attn_shape {
  int64_t b, t, h, hkv, hd;
  int64_t q_size() const { return b * t * h * hd; }
  int64_t kv_size() const { return b * t * hkv * hd; }
};

// Explicit masked score matrix per (b, h), softmax, P·V, then XSA.
void naive_attention(const attn_shape& s, double scale, bool xsa, const dvec& q, const dvec& k, const dvec& v,
                     dvec& y, dvec& lse) {
  const double inf = std::numeric_limits<double>::infinity();
  y.assign(s.q_size(), 0.0);
  lse.assign(s.b * s.h * s.t, 0.0);
  auto qa = [&](int64_t bi, int64_t i, int64_t hi) { return ((bi * s.t + i) * s.h + hi) * s.hd; };
  auto ka = [&](int64_t bi, int64_t j, int64_t g) { return ((bi * s.t + j) * s.hkv + g) * s.hd; };
  for (int64_t bi = 0; bi < s.b; ++bi)
    for (int64_t hi = 0; hi < s.h; ++hi) {
      const int64_t g = hi / (s.h / s.hkv);
      std::vector<dvec> score(s.t, dvec(s.t, -inf));
      for (int64_t i = 0; i < s.t; ++i)
        for (int64_t j = 0; j <= i; ++j) {
          double d = 0;
          for (int64_t c = 0; c < s.hd; ++c) d += q[qa(bi, i, hi) + c] * k[ka(bi, j, g) + c];
          score[i][j] = scale * d;
        }
      for (int64_t i = 0; i < s.t; ++i) {
        const double m = *std::max_element(score[i].begin(), score[i].end());
        double sum = 0;
        for (int64_t j = 0; j < s.t; ++j) sum += std::exp(score[i][j] - m);
        lse[(bi * s.h + hi) * s.t + i] = m + std::log(sum);
        double* yi = y.data() + qa(bi, i, hi);
        for (int64_t j = 0; j < s.t; ++j)
          for (int64_t c = 0; c < s.hd; ++c) yi[c] += std::exp(score[i][j] - m) / sum * v[ka(bi, j, g) + c];
        if (xsa) {
          const double* vi = v.data() + ka(bi, i, g);
          double nn = 0;
          for (int64_t c = 0; c < s.hd; ++c) nn += vi[c] * vi[c];
          const double n = std::max(std::sqrt(nn), 1e-12);
          double yv = 0;
          for (int64_t c = 0; c < s.hd; ++c) yv += yi[c] * vi[c] / n;
          for (int64_t c = 0; c < s.hd; ++c) yi[c] -= yv * vi[c] / n;
        }
      }
    }
}

const attn_shape attn_shapes[] = {{2, 5, 4, 2, 3}, {1, 6, 4, 4, 4}, {2, 4, 4, 1, 5}, {1, 1, 2, 1, 3}};

TYPED_TEST(Fused, AttentionMatchesNaive) {
  using T = TypeParam;
  for (const auto& s : attn_shapes)
    for (bool xsa : {false, true}) {
      SCOPED_TRACE("H=" + std::to_string(s.h) + " Hkv=" + std::to_string(s.hkv) + " xsa=" + std::to_string(xsa));
      const double scale = 1.0 / std::sqrt(double(s.hd));
      auto q = random_vec<T>(s.q_size(), 20, -2, 2);
      auto k = random_vec<T>(s.kv_size(), 21, -2, 2);
      auto v = random_vec<T>(s.kv_size(), 22);
      std::vector<T> y(s.q_size()), lse(s.b * s.h * s.t);
      attention(s.b, s.t, s.h, s.hkv, s.hd, scale, xsa, q.data(), k.data(), v.data(), y.data(), lse.data());
      dvec want_y, want_lse;
      naive_attention(s, scale, xsa, to_double(q), to_double(k), to_double(v), want_y, want_lse);
      expect_close(y, want_y, 10 * tol<T>(), "y");
      expect_close(lse, want_lse, 10 * tol<T>(), "lse");
    }
}

TEST(FusedDouble, AttentionFirstPositionSeesOnlyItself) {
  const attn_shape s{2, 4, 4, 2, 3};
  const double scale = 0.7;
  auto q = random_vec<double>(s.q_size(), 23, -2, 2);
  auto k = random_vec<double>(s.kv_size(), 24, -2, 2);
  auto v = random_vec<double>(s.kv_size(), 25);
  dvec y(s.q_size()), yx(s.q_size()), lse(s.b * s.h * s.t);
  attention(s.b, s.t, s.h, s.hkv, s.hd, scale, true, q.data(), k.data(), v.data(), yx.data(), lse.data());
  attention(s.b, s.t, s.h, s.hkv, s.hd, scale, false, q.data(), k.data(), v.data(), y.data(), lse.data());
  for (int64_t bi = 0; bi < s.b; ++bi)
    for (int64_t hi = 0; hi < s.h; ++hi) {
      const int64_t g = hi / (s.h / s.hkv);
      double qk = 0;
      for (int64_t c = 0; c < s.hd; ++c) {
        const int64_t qo = (bi * s.t * s.h + hi) * s.hd + c, ko = (bi * s.t * s.hkv + g) * s.hd + c;
        EXPECT_NEAR(y[qo], v[ko], 1e-15);
        // Its own value is all it sees, and XSA removes exactly that direction.
        EXPECT_NEAR(yx[qo], 0.0, 1e-15);
        qk += q[qo] * k[ko];
      }
      EXPECT_NEAR(lse[(bi * s.h + hi) * s.t], scale * qk, 1e-14);
    }
}

TEST(FusedDouble, AttentionBackwardFiniteDiff) {
  for (const auto& s : attn_shapes)
    for (bool xsa : {false, true}) {
      SCOPED_TRACE("H=" + std::to_string(s.h) + " Hkv=" + std::to_string(s.hkv) + " xsa=" + std::to_string(xsa));
      const double scale = 0.6;
      auto q = random_vec<double>(s.q_size(), 30, -2, 2);
      auto k = random_vec<double>(s.kv_size(), 31, -2, 2);
      auto v = random_vec<double>(s.kv_size(), 32);
      auto r = random_vec<double>(s.q_size(), 33);
      dvec y(s.q_size()), lse(s.b * s.h * s.t), dq(s.q_size(), NAN), dk(s.kv_size(), NAN), dv(s.kv_size(), NAN);
      attention(s.b, s.t, s.h, s.hkv, s.hd, scale, xsa, q.data(), k.data(), v.data(), y.data(), lse.data());
      attention_backward(s.b, s.t, s.h, s.hkv, s.hd, scale, xsa, q.data(), k.data(), v.data(), y.data(), lse.data(),
                         r.data(), dq.data(), dk.data(), dv.data());
      auto loss = [&](const dvec& qs, const dvec& ks, const dvec& vs) {
        dvec yy(s.q_size()), ll(s.b * s.h * s.t);
        attention(s.b, s.t, s.h, s.hkv, s.hd, scale, xsa, qs.data(), ks.data(), vs.data(), yy.data(), ll.data());
        return dot(yy, r);
      };
      expect_close(dq, finite_diff(q, [&](const dvec& x) { return loss(x, k, v); }), 1e-7, "dq");
      expect_close(dk, finite_diff(k, [&](const dvec& x) { return loss(q, x, v); }), 1e-7, "dk");
      expect_close(dv, finite_diff(v, [&](const dvec& x) { return loss(q, k, x); }), 1e-7, "dv");
    }
}

TEST(FusedFloat, AttentionBackwardMatchesDouble) {
  const attn_shape s{2, 7, 4, 2, 8};
  for (bool xsa : {false, true}) {
    auto q = random_vec<float>(s.q_size(), 40, -2, 2);
    auto k = random_vec<float>(s.kv_size(), 41, -2, 2);
    auto v = random_vec<float>(s.kv_size(), 42);
    auto r = random_vec<float>(s.q_size(), 43);
    std::vector<float> y(s.q_size()), lse(s.b * s.h * s.t), dq(s.q_size()), dk(s.kv_size()), dv(s.kv_size());
    attention(s.b, s.t, s.h, s.hkv, s.hd, 0.35, xsa, q.data(), k.data(), v.data(), y.data(), lse.data());
    attention_backward(s.b, s.t, s.h, s.hkv, s.hd, 0.35, xsa, q.data(), k.data(), v.data(), y.data(), lse.data(),
                       r.data(), dq.data(), dk.data(), dv.data());
    dvec qd = to_double(q), kd = to_double(k), vd = to_double(v), rd = to_double(r);
    dvec yd(s.q_size()), lsed(s.b * s.h * s.t), dqd(s.q_size()), dkd(s.kv_size()), dvd(s.kv_size());
    attention(s.b, s.t, s.h, s.hkv, s.hd, 0.35, xsa, qd.data(), kd.data(), vd.data(), yd.data(), lsed.data());
    attention_backward(s.b, s.t, s.h, s.hkv, s.hd, 0.35, xsa, qd.data(), kd.data(), vd.data(), yd.data(),
                       lsed.data(), rd.data(), dqd.data(), dkd.data(), dvd.data());
    expect_close(dq, dqd, 1e-5, "dq");
    expect_close(dk, dkd, 1e-5, "dk");
    expect_close(dv, dvd, 1e-5, "dv");
  }
}

TEST(FusedDouble, AttentionBackwardIndependentOfThreadCount) {
  const attn_shape s{2, 48, 4, 2, 16};  // large enough to take the parallel path
  auto q = random_vec<double>(s.q_size(), 50);
  auto k = random_vec<double>(s.kv_size(), 51);
  auto v = random_vec<double>(s.kv_size(), 52);
  auto r = random_vec<double>(s.q_size(), 53);
  dvec y(s.q_size()), lse(s.b * s.h * s.t);
  attention(s.b, s.t, s.h, s.hkv, s.hd, 0.25, true, q.data(), k.data(), v.data(), y.data(), lse.data());
  auto run = [&](int threads) {
    const int keep = omp_get_max_threads();
    omp_set_num_threads(threads);
    std::vector<dvec> g = {dvec(s.q_size()), dvec(s.kv_size()), dvec(s.kv_size())};
    attention_backward(s.b, s.t, s.h, s.hkv, s.hd, 0.25, true, q.data(), k.data(), v.data(), y.data(), lse.data(),
                       r.data(), g[0].data(), g[1].data(), g[2].data());
    omp_set_num_threads(keep);
    return g;
  };
  EXPECT_EQ(run(1), run(3));
}

TEST(FusedDouble, AttentionXsaZeroValueStaysFinite) {
  const attn_shape s{1, 3, 2, 1, 4};
  auto q = random_vec<double>(s.q_size(), 60);
  auto k = random_vec<double>(s.kv_size(), 61);
  auto v = random_vec<double>(s.kv_size(), 62);
  std::fill(v.begin() + s.hd, v.begin() + 2 * s.hd, 0.0);  // position 1 has v = 0
  dvec y(s.q_size()), lse(s.b * s.h * s.t), dq(s.q_size()), dk(s.kv_size()), dv(s.kv_size());
  attention(s.b, s.t, s.h, s.hkv, s.hd, 0.5, true, q.data(), k.data(), v.data(), y.data(), lse.data());
  attention_backward(s.b, s.t, s.h, s.hkv, s.hd, 0.5, true, q.data(), k.data(), v.data(), y.data(), lse.data(),
                     y.data(), dq.data(), dk.data(), dv.data());
  for (const dvec* a : {&y, &lse, &dq, &dk, &dv})
    for (double e : *a) EXPECT_TRUE(std::isfinite(e));
  EXPECT_THROW(attention(1, 3, 3, 2, 4, 0.5, false, q.data(), k.data(), v.data(), y.data(), lse.data()),
               std::invalid_argument);
}

// ---- cross_entropy ------------------------------------------------------------------------

dvec naive_cross_entropy(int64_t n, int64_t v, double softcap, const dvec& x, const std::vector<int32_t>& tg) {
  dvec loss(n);
  for (int64_t i = 0; i < n; ++i) {
    dvec z(v);
    for (int64_t j = 0; j < v; ++j) z[j] = softcap > 0 ? softcap * std::tanh(x[i * v + j] / softcap) : x[i * v + j];
    const double m = *std::max_element(z.begin(), z.end());
    double s = 0;
    for (double e : z) s += std::exp(e - m);
    loss[i] = m + std::log(s) - z[tg[i]];
  }
  return loss;
}

TYPED_TEST(Fused, CrossEntropyMatchesNaive) {
  using T = TypeParam;
  const int64_t n = 6, v = 11;
  auto x = random_vec<T>(n * v, 70, -8, 8);
  const std::vector<int32_t> tg = {0, 10, 3, 5, 5, 7};
  for (double cap : {0.0, 5.0, 30.0}) {
    std::vector<T> loss(n);
    cross_entropy(n, v, cap, x.data(), tg.data(), loss.data());
    expect_close(loss, naive_cross_entropy(n, v, cap, to_double(x), tg), 10 * tol<T>(), "loss");
  }
}

TYPED_TEST(Fused, CrossEntropyLargeLogitsStable) {
  using T = TypeParam;
  const std::vector<T> x = {1000, 999, -1000};
  const std::vector<int32_t> tg = {1};
  std::vector<T> loss(1), dx(3);
  const std::vector<T> one = {1};
  cross_entropy(1, 3, 0.0, x.data(), tg.data(), loss.data());
  cross_entropy_backward(1, 3, 0.0, x.data(), tg.data(), one.data(), dx.data());
  EXPECT_NEAR(double(loss[0]), 1.0 + std::log1p(std::exp(-1.0)), 10 * tol<T>());
  for (T e : dx) EXPECT_TRUE(std::isfinite(double(e)));
}

TEST(FusedDouble, CrossEntropyBackwardFiniteDiff) {
  const int64_t n = 4, v = 7;
  auto x = random_vec<double>(n * v, 71, -6, 6);
  auto dloss = random_vec<double>(n, 72);
  const std::vector<int32_t> tg = {6, 0, 2, 2};
  for (double cap : {0.0, 3.0}) {
    dvec dx(x.size());
    cross_entropy_backward(n, v, cap, x.data(), tg.data(), dloss.data(), dx.data());
    auto loss = [&](const dvec& xs) {
      dvec l(n);
      cross_entropy(n, v, cap, xs.data(), tg.data(), l.data());
      return dot(l, dloss);
    };
    expect_close(dx, finite_diff(x, loss), 1e-7, cap > 0 ? "dx softcap" : "dx");
  }
}

TEST(FusedDouble, CrossEntropyTargetOutOfRangeThrows) {
  const dvec x(3 * 4, 0.5);
  dvec loss(3), dx(12);
  const dvec dl(3, 1.0);
  for (int32_t bad : {-1, 4}) {
    const std::vector<int32_t> tg = {0, 3, bad};
    try {
      cross_entropy(3, 4, 0.0, x.data(), tg.data(), loss.data());
      ADD_FAILURE() << "no throw for target " << bad;
    } catch (const std::out_of_range& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("position 2"), std::string::npos) << msg;
      EXPECT_NE(msg.find(std::to_string(bad)), std::string::npos) << msg;
    }
    EXPECT_THROW(cross_entropy_backward(3, 4, 0.0, x.data(), tg.data(), dl.data(), dx.data()), std::out_of_range);
  }
}

// ---- fake_quant ---------------------------------------------------------------------------

TYPED_TEST(Fused, FakeQuantOnGridAndMaxExact) {
  using T = TypeParam;
  const int64_t rows = 50, d = 33;
  auto x = random_vec<T>(rows * d, 80, -5, 5);
  std::fill(x.begin() + 3 * d, x.begin() + 4 * d, T(0));  // a zero row
  std::vector<T> y(x.size());
  for (int bits = 2; bits <= 8; ++bits) {
    SCOPED_TRACE("bits=" + std::to_string(bits));
    const double qmax = double((1 << (bits - 1)) - 1);
    fake_quant(rows, d, bits, x.data(), y.data());
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x.data() + r * d;
      const T* yr = y.data() + r * d;
      int64_t arg = 0;
      for (int64_t j = 1; j < d; ++j)
        if (std::fabs(double(xr[j])) > std::fabs(double(xr[arg]))) arg = j;
      const double m = std::fabs(double(xr[arg]));
      if (m == 0) {
        for (int64_t j = 0; j < d; ++j) EXPECT_EQ(yr[j], T(0));
        continue;
      }
      EXPECT_EQ(yr[arg], xr[arg]) << "row " << r;
      const double s = m / qmax;
      for (int64_t j = 0; j < d; ++j) {
        const double q = double(yr[j]) / s;
        EXPECT_NEAR(q, std::nearbyint(q), 10 * tol<T>() * qmax) << "off grid at " << r << "," << j;
        EXPECT_LE(std::fabs(q), qmax * (1 + tol<T>()));
        // The nearest grid point: within half a step of x.
        EXPECT_LE(std::fabs(double(yr[j]) - double(xr[j])), s / 2 * (1 + 10 * tol<T>()));
        const double want = std::clamp(std::nearbyint(double(xr[j]) / s), -qmax, qmax) * s;
        EXPECT_NEAR(double(yr[j]), want, tol<T>() * m);
      }
    }
  }
}

TYPED_TEST(Fused, FakeQuantRoundsHalfToEven) {
  using T = TypeParam;
  // bits = 3: qmax = 3 and max 3 gives s = 1, so each x/s below is exact.
  const std::vector<T> x = {3, T(1.5), T(2.5), T(-0.5), T(0.5), T(-2.5), T(-3)};
  const std::vector<T> want = {3, 2, 2, T(-0.0), 0, -2, -3};
  std::vector<T> y(x.size());
  fake_quant(1, int64_t(x.size()), 3, x.data(), y.data());
  EXPECT_EQ(y, want);
  EXPECT_THROW(fake_quant(1, int64_t(x.size()), 1, x.data(), y.data()), std::invalid_argument);
}

}  // namespace
}  // namespace golf::cpu
