// Each kernel against a naive loop written out here, for float and double.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#ifdef GOLFRT_WITH_CUDA
#include "kernels/cuda/cuda_kernels.h"
#endif

namespace golf::cpu {
namespace {

int64_t numel(const Dims& d) {
  int64_t n = 1;
  for (int64_t v : d) n *= v;
  return n;
}

template <class T> std::vector<T> random_vec(int64_t n, uint32_t seed, double lo = -2.0, double hi = 2.0) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(n);
  for (auto& e : v) e = static_cast<T>(dist(gen));
  return v;
}

// Multi-index of flat position i in dims (row-major).
Dims unflatten(int64_t i, const Dims& dims) {
  Dims idx(dims.size());
  for (int64_t r = static_cast<int64_t>(dims.size()) - 1; r >= 0; --r) {
    idx[r] = i % dims[r];
    i /= dims[r];
  }
  return idx;
}

// Flat offset of idx in dims, reading axes of size 1 at 0 (broadcasting).
int64_t flatten_bcast(const Dims& idx, const Dims& dims) {
  int64_t off = 0;
  for (size_t r = 0; r < dims.size(); ++r) off = off * dims[r] + (dims[r] == 1 ? 0 : idx[r]);
  return off;
}

template <class T> double tol() { return std::is_same_v<T, float> ? 2e-5 : 1e-12; }

template <class T> void expect_near_vec(const std::vector<T>& got, const std::vector<T>& want, double rel) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], rel * (1.0 + std::abs(static_cast<double>(want[i])))) << "at " << i;
}

template <class T> class KernelsTest : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(KernelsTest, Types);

// ---- unary -----------------------------------------------------------------------------------

double naive_unary(Unary op, double x, double a) {
  switch (op) {
    case Unary::neg: return -x;
    case Unary::exp: return std::exp(x);
    case Unary::log: return std::log(x);
    case Unary::sqrt: return std::sqrt(x);
    case Unary::rsqrt: return 1.0 / std::sqrt(x);
    case Unary::square: return x * x;
    case Unary::tanh: return std::tanh(x);
    case Unary::sigmoid: return 1.0 / (1.0 + std::exp(-x));
    case Unary::softplus: return std::log(1.0 + std::exp(x));
    case Unary::relu: return x > 0 ? x : 0.0;
    case Unary::step: return x > 0 ? 1.0 : 0.0;
    case Unary::gelu: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case Unary::gelu_grad:
      return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI);
    case Unary::silu: return x / (1.0 + std::exp(-x));
    case Unary::elu: return x > 0 ? x : a * (std::exp(x) - 1.0);
    case Unary::leaky_relu: return x > 0 ? x : a * x;
    case Unary::scale: return a * x;
    case Unary::add_scalar: return x + a;
    case Unary::pow_scalar: return std::pow(x, a);
  }
  return 0.0;
}

TYPED_TEST(KernelsTest, UnaryMatchesNaive) {
  using T = TypeParam;
  const std::vector<Unary> ops = {Unary::neg,      Unary::exp,   Unary::log,        Unary::sqrt,  Unary::rsqrt,
                                  Unary::square,   Unary::tanh,  Unary::sigmoid,    Unary::softplus,
                                  Unary::relu,     Unary::step,  Unary::gelu,       Unary::gelu_grad,
                                  Unary::silu,     Unary::elu,   Unary::leaky_relu, Unary::scale,
                                  Unary::add_scalar, Unary::pow_scalar};
  // Big enough to take the parallel path too.
  const int64_t n = 40000;
  std::vector<T> x = random_vec<T>(n, 1, -6.0, 6.0);
  std::vector<T> xpos = random_vec<T>(n, 2, 0.01, 6.0);
  x[0] = T(0);
  for (Unary op : ops) {
    const bool positive = op == Unary::log || op == Unary::sqrt || op == Unary::rsqrt || op == Unary::pow_scalar;
    const std::vector<T>& in = positive ? xpos : x;
    const double a = op == Unary::pow_scalar ? 1.7 : 0.3;
    std::vector<T> y(n), want(n);
    unary<T>(op, n, in.data(), y.data(), a);
    for (int64_t i = 0; i < n; ++i) want[i] = static_cast<T>(naive_unary(op, in[i], static_cast<T>(a)));
    SCOPED_TRACE("op " + std::to_string(static_cast<int>(op)));
    expect_near_vec(y, want, std::is_same_v<T, float> ? 5e-6 : 1e-13);
  }
}

template <class T> T unary1(Unary op, T x, double a = 0.0) {
  T y;
  unary<T>(op, 1, &x, &y, a);
  return y;
}

TYPED_TEST(KernelsTest, UnaryValues) {
  using T = TypeParam;
  const double t = tol<T>();
  EXPECT_NEAR(unary1<T>(Unary::gelu, T(1)), 0.8413447460685429, t);
  EXPECT_NEAR(unary1<T>(Unary::gelu, T(-1)), -0.15865525393145707, t);
  EXPECT_EQ(unary1<T>(Unary::gelu, T(0)), T(0));
  EXPECT_NEAR(unary1<T>(Unary::gelu_grad, T(0)), 0.5, t);
  EXPECT_NEAR(unary1<T>(Unary::gelu_grad, T(1)), 0.8413447460685429 + 0.24197072451914337, t);

  EXPECT_EQ(unary1<T>(Unary::softplus, T(100)), T(100));
  EXPECT_EQ(unary1<T>(Unary::softplus, T(1000)), T(1000));
  EXPECT_NEAR(unary1<T>(Unary::softplus, T(0)), std::log(2.0), t);
  const T sp_neg = unary1<T>(Unary::softplus, T(-100));
  EXPECT_FALSE(std::isnan(sp_neg));
  EXPECT_GE(sp_neg, T(0));
  EXPECT_LT(sp_neg, T(1e-40));

  const T s_neg = unary1<T>(Unary::sigmoid, T(-100));
  EXPECT_FALSE(std::isnan(s_neg));
  EXPECT_GE(s_neg, T(0));
  EXPECT_LT(s_neg, T(1e-40));
  EXPECT_FALSE(std::isnan(unary1<T>(Unary::sigmoid, T(-1000))));
  EXPECT_EQ(unary1<T>(Unary::sigmoid, T(100)), T(1));
  EXPECT_EQ(unary1<T>(Unary::sigmoid, T(0)), T(0.5));

  EXPECT_FALSE(std::isnan(unary1<T>(Unary::silu, T(-1000))));
  EXPECT_NEAR(unary1<T>(Unary::silu, T(2)), 2.0 / (1.0 + std::exp(-2.0)), t);
  EXPECT_NEAR(unary1<T>(Unary::elu, T(-1), 0.5), 0.5 * (std::exp(-1.0) - 1.0), t);
  EXPECT_EQ(unary1<T>(Unary::elu, T(3), 0.5), T(3));
  EXPECT_EQ(unary1<T>(Unary::leaky_relu, T(-2), 0.1), static_cast<T>(0.1) * T(-2));
  EXPECT_EQ(unary1<T>(Unary::leaky_relu, T(2), 0.1), T(2));
  EXPECT_EQ(unary1<T>(Unary::step, T(0)), T(0));
  EXPECT_EQ(unary1<T>(Unary::step, T(1e-30)), T(1));
  EXPECT_EQ(unary1<T>(Unary::relu, T(-3)), T(0));
  EXPECT_EQ(unary1<T>(Unary::rsqrt, T(4)), T(0.5));
  EXPECT_NEAR(unary1<T>(Unary::pow_scalar, T(2), 3.0), 8.0, t);
  EXPECT_NEAR(unary1<T>(Unary::pow_scalar, T(4), 0.5), 2.0, t);
  EXPECT_EQ(unary1<T>(Unary::scale, T(3), 2.0), T(6));
  EXPECT_EQ(unary1<T>(Unary::add_scalar, T(3), 2.0), T(5));
}

TEST(KernelsUnary, GeluGradMatchesCentralDifference) {
  const double h = 1e-5;
  for (double x : {-4.0, -2.5, -1.0, -0.3, 0.0, 0.2, 0.7, 1.0, 2.0, 3.5}) {
    const double g = unary1<double>(Unary::gelu_grad, x);
    const double fd = (unary1<double>(Unary::gelu, x + h) - unary1<double>(Unary::gelu, x - h)) / (2 * h);
    EXPECT_NEAR(g, fd, 1e-9) << "x = " << x;
  }
}

// ---- binary ----------------------------------------------------------------------------------

double naive_binary(Binary op, double p, double q) {
  switch (op) {
    case Binary::add: return p + q;
    case Binary::sub: return p - q;
    case Binary::mul: return p * q;
    case Binary::div: return p / q;
  }
  return 0.0;
}

template <class T> void check_binary(const Dims& out_dims, const Dims& a_dims, const Dims& b_dims) {
  const std::vector<T> a = random_vec<T>(numel(a_dims), 11, 0.5, 2.0);
  const std::vector<T> b = random_vec<T>(numel(b_dims), 12, 0.5, 2.0);
  for (Binary op : {Binary::add, Binary::sub, Binary::mul, Binary::div}) {
    std::vector<T> out(numel(out_dims)), want(numel(out_dims));
    binary<T>(op, out_dims, a_dims, a.data(), b_dims, b.data(), out.data());
    for (int64_t i = 0; i < numel(out_dims); ++i) {
      Dims idx = unflatten(i, out_dims);
      want[i] = static_cast<T>(naive_binary(op, a[flatten_bcast(idx, a_dims)], b[flatten_bcast(idx, b_dims)]));
    }
    // The kernel computes in T, the reference in double and rounds once.
    SCOPED_TRACE("op " + std::to_string(static_cast<int>(op)));
    expect_near_vec(out, want, std::is_same_v<T, float> ? 1e-6 : 1e-15);
  }
}

TYPED_TEST(KernelsTest, BinarySameShape) { check_binary<TypeParam>({2, 3, 4}, {2, 3, 4}, {2, 3, 4}); }
TYPED_TEST(KernelsTest, BinaryTrailingSuffix) {
  check_binary<TypeParam>({2, 3, 4}, {2, 3, 4}, {1, 1, 4});
  check_binary<TypeParam>({2, 3, 4}, {1, 1, 4}, {2, 3, 4});
  check_binary<TypeParam>({2, 3, 4}, {2, 3, 4}, {1, 3, 4});
  check_binary<TypeParam>({1, 3, 4}, {1, 3, 4}, {1, 1, 4});
}
TYPED_TEST(KernelsTest, BinaryBothBroadcast) { check_binary<TypeParam>({2, 3, 4}, {2, 1, 4}, {1, 3, 1}); }
TYPED_TEST(KernelsTest, BinaryScalar) {
  check_binary<TypeParam>({2, 3, 4}, {2, 3, 4}, {1, 1, 1});
  check_binary<TypeParam>({2, 3, 4}, {1, 1, 1}, {2, 3, 4});
  check_binary<TypeParam>({}, {}, {});
}
TYPED_TEST(KernelsTest, BinaryGeneral) {
  check_binary<TypeParam>({2, 3, 4}, {2, 3, 1}, {2, 3, 4});
  check_binary<TypeParam>({2, 3, 4}, {2, 3, 4}, {2, 1, 4});
  check_binary<TypeParam>({5, 1, 3, 2}, {5, 1, 1, 2}, {1, 1, 3, 1});
  check_binary<TypeParam>({7}, {1}, {7});
  check_binary<TypeParam>({4, 3}, {4, 1}, {1, 3});
}
TYPED_TEST(KernelsTest, BinaryLargeParallelPaths) {
  check_binary<TypeParam>({64, 33, 40}, {64, 33, 40}, {64, 1, 40});
  check_binary<TypeParam>({64, 33, 40}, {1, 1, 40}, {64, 33, 40});
  check_binary<TypeParam>({64, 33, 40}, {64, 33, 40}, {1, 1, 1});
  check_binary<TypeParam>({64, 33, 40}, {64, 33, 40}, {64, 33, 40});
}
TYPED_TEST(KernelsTest, BinaryRejectsBadShapes) {
  using T = TypeParam;
  std::vector<T> a(6), b(6), out(6);
  EXPECT_THROW(binary<T>(Binary::add, {2, 3}, {2, 3}, a.data(), {3, 2}, b.data(), out.data()),
               std::invalid_argument);
}

TYPED_TEST(KernelsTest, CopyAndAddInto) {
  using T = TypeParam;
  const int64_t n = 50000;
  std::vector<T> x = random_vec<T>(n, 3), y = random_vec<T>(n, 4), z(n);
  copy<T>(n, x.data(), z.data());
  EXPECT_EQ(z, x);
  std::vector<T> want(n);
  for (int64_t i = 0; i < n; ++i) want[i] = y[i] + x[i];
  add_into<T>(n, x.data(), y.data());
  EXPECT_EQ(y, want);
}

// ---- reduce ----------------------------------------------------------------------------------

template <class T> std::vector<T> naive_reduce(const Dims& in_dims, const std::vector<T>& x, const Dims& out_dims) {
  std::vector<double> acc(numel(out_dims), 0.0);
  for (int64_t i = 0; i < numel(in_dims); ++i) acc[flatten_bcast(unflatten(i, in_dims), out_dims)] += x[i];
  return std::vector<T>(acc.begin(), acc.end());
}

TYPED_TEST(KernelsTest, ReduceSumEveryAxisPattern) {
  using T = TypeParam;
  const Dims in_dims = {3, 4, 5, 6};
  const std::vector<T> x = random_vec<T>(numel(in_dims), 5);
  for (int mask = 0; mask < 16; ++mask) {
    Dims out_dims = in_dims;
    for (int r = 0; r < 4; ++r)
      if (mask & (1 << r)) out_dims[r] = 1;
    std::vector<T> out(numel(out_dims));
    reduce_sum<T>(in_dims, x.data(), out_dims, out.data());
    SCOPED_TRACE("mask " + std::to_string(mask));
    // Same double accumulation order as the kernel, so equality is exact.
    EXPECT_EQ(out, naive_reduce(in_dims, x, out_dims));
  }
}

TYPED_TEST(KernelsTest, ReduceSumUnitAxesAndEmpty) {
  using T = TypeParam;
  const Dims in_dims = {1, 4, 1, 3};
  const std::vector<T> x = random_vec<T>(12, 6);
  for (const Dims& out_dims : {Dims{1, 1, 1, 3}, Dims{1, 4, 1, 1}, Dims{1, 4, 1, 3}, Dims{1, 1, 1, 1}}) {
    std::vector<T> out(numel(out_dims));
    reduce_sum<T>(in_dims, x.data(), out_dims, out.data());
    EXPECT_EQ(out, naive_reduce(in_dims, x, out_dims));
  }
  std::vector<T> out(3, T(7));
  reduce_sum<T>({0, 3}, x.data(), {1, 3}, out.data());
  EXPECT_EQ(out, std::vector<T>(3, T(0)));
  T s = T(7);
  reduce_sum<T>({}, x.data(), {}, &s);
  EXPECT_EQ(s, x[0]);
}

TYPED_TEST(KernelsTest, ReduceSumLargeIsThreadCountIndependent) {
  using T = TypeParam;
  const Dims in_dims = {300, 7, 130};
  const std::vector<T> x = random_vec<T>(numel(in_dims), 7);
  const int saved = omp_get_max_threads();
  for (const Dims& out_dims : {Dims{1, 1, 130}, Dims{300, 1, 1}, Dims{300, 1, 130}, Dims{1, 7, 1}, Dims{1, 1, 1}}) {
    std::vector<T> one(numel(out_dims)), four(numel(out_dims));
    omp_set_num_threads(1);
    reduce_sum<T>(in_dims, x.data(), out_dims, one.data());
    omp_set_num_threads(4);
    reduce_sum<T>(in_dims, x.data(), out_dims, four.data());
    EXPECT_EQ(one, four);
    EXPECT_EQ(one, naive_reduce(in_dims, x, out_dims));
  }
  omp_set_num_threads(saved);
}

TYPED_TEST(KernelsTest, Broadcast) {
  using T = TypeParam;
  const Dims out_dims = {3, 4, 5};
  for (const Dims& in_dims : {Dims{1, 4, 1}, Dims{3, 1, 5}, Dims{1, 1, 5}, Dims{1, 1, 1}, Dims{3, 4, 5}}) {
    const std::vector<T> x = random_vec<T>(numel(in_dims), 8);
    std::vector<T> out(numel(out_dims)), want(numel(out_dims));
    broadcast<T>(in_dims, x.data(), out_dims, out.data());
    for (int64_t i = 0; i < numel(out_dims); ++i) want[i] = x[flatten_bcast(unflatten(i, out_dims), in_dims)];
    EXPECT_EQ(out, want);
  }
  const Dims big = {100, 50, 20};
  const std::vector<T> x = random_vec<T>(20, 9);
  std::vector<T> out(numel(big));
  broadcast<T>({1, 1, 20}, x.data(), big, out.data());
  for (int64_t i = 0; i < numel(big); ++i) ASSERT_EQ(out[i], x[i % 20]);
}

// ---- layout ----------------------------------------------------------------------------------

template <class T> void check_permute(const Dims& in_dims, const Dims& perm) {
  std::vector<T> x(numel(in_dims));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(i);
  Dims out_dims(in_dims.size());
  for (size_t r = 0; r < perm.size(); ++r) out_dims[r] = in_dims[perm[r]];
  std::vector<T> out(x.size()), want(x.size());
  permute<T>(in_dims, x.data(), perm, out.data());
  for (int64_t i = 0; i < numel(in_dims); ++i) {
    Dims in_idx = unflatten(i, in_dims), out_idx(in_dims.size());
    for (size_t r = 0; r < perm.size(); ++r) out_idx[r] = in_idx[perm[r]];
    want[flatten_bcast(out_idx, out_dims)] = x[i];
  }
  EXPECT_EQ(out, want);
}

TYPED_TEST(KernelsTest, PermuteRank4) {
  check_permute<TypeParam>({2, 3, 4, 5}, {2, 0, 3, 1});
  check_permute<TypeParam>({2, 3, 4, 5}, {0, 2, 1, 3});
  check_permute<TypeParam>({2, 3, 4, 5}, {3, 2, 1, 0});
  check_permute<TypeParam>({2, 3, 4, 5}, {0, 1, 2, 3});
  check_permute<TypeParam>({16, 40, 8, 16}, {0, 2, 1, 3});  // parallel path
  check_permute<TypeParam>({7, 9}, {1, 0});
}

TEST(KernelsLayout, PermuteInt32AndBadPerm) {
  check_permute<int32_t>({2, 3, 4, 5}, {1, 3, 0, 2});
  std::vector<float> x(6), out(6);
  EXPECT_THROW(permute<float>({2, 3}, x.data(), {0, 0}, out.data()), std::invalid_argument);
}

template <class T> void check_slice_pad_concat() {
  const int64_t outer = 3, dim = 5, inner = 4;
  std::vector<T> x(outer * dim * inner);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(i + 1);

  // slice against the naive loop
  const int64_t start = 1, end = 4;
  std::vector<T> s(outer * (end - start) * inner), want_s(s.size());
  slice<T>(outer, dim, inner, start, end, x.data(), s.data());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t d = start; d < end; ++d)
      for (int64_t i = 0; i < inner; ++i)
        want_s[(o * (end - start) + (d - start)) * inner + i] = x[(o * dim + d) * inner + i];
  EXPECT_EQ(s, want_s);

  // pad against the naive loop, then slice back to x
  const int64_t before = 2, after = 3, out_dim = before + dim + after;
  std::vector<T> p(outer * out_dim * inner, T(99)), want_p(p.size(), T(0));
  pad<T>(outer, dim, inner, before, after, x.data(), p.data());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t d = 0; d < dim; ++d)
      for (int64_t i = 0; i < inner; ++i) want_p[(o * out_dim + before + d) * inner + i] = x[(o * dim + d) * inner + i];
  EXPECT_EQ(p, want_p);
  std::vector<T> back(x.size());
  slice<T>(outer, out_dim, inner, before, before + dim, p.data(), back.data());
  EXPECT_EQ(back, x);

  // concat of x and y along the axis
  const int64_t dim2 = 2;
  std::vector<T> y(outer * dim2 * inner);
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<T>(-static_cast<int>(i) - 1);
  const int64_t cat_dim = dim + dim2;
  std::vector<T> c(outer * cat_dim * inner, T(0)), want_c(c.size());
  concat_part<T>(outer, dim, inner, cat_dim, 0, x.data(), c.data());
  concat_part<T>(outer, dim2, inner, cat_dim, dim, y.data(), c.data());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t d = 0; d < cat_dim; ++d)
      for (int64_t i = 0; i < inner; ++i)
        want_c[(o * cat_dim + d) * inner + i] =
            d < dim ? x[(o * dim + d) * inner + i] : y[(o * dim2 + d - dim) * inner + i];
  EXPECT_EQ(c, want_c);

  EXPECT_THROW(slice<T>(outer, dim, inner, 3, 6, x.data(), s.data()), std::out_of_range);
  EXPECT_THROW(concat_part<T>(outer, dim, inner, cat_dim, 3, x.data(), c.data()), std::out_of_range);
}

TYPED_TEST(KernelsTest, SlicePadConcat) { check_slice_pad_concat<TypeParam>(); }
TEST(KernelsLayout, SlicePadConcatInt32) { check_slice_pad_concat<int32_t>(); }

// ---- gather ----------------------------------------------------------------------------------

TYPED_TEST(KernelsTest, EmbeddingAndScatterAddWithDuplicates) {
  using T = TypeParam;
  const int64_t rows = 5, d = 3;
  const std::vector<int32_t> ids = {4, 0, 2, 4, 4, 1, 0};
  const int64_t n = static_cast<int64_t>(ids.size());
  const std::vector<T> table = random_vec<T>(rows * d, 10);
  std::vector<T> out(n * d), want(n * d);
  embedding<T>(n, rows, d, table.data(), ids.data(), out.data());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) want[i * d + j] = table[ids[i] * d + j];
  EXPECT_EQ(out, want);

  const std::vector<T> src = random_vec<T>(n * d, 11);
  std::vector<T> g(rows * d, T(123)), want_g(rows * d, T(0));
  scatter_add_rows<T>(n, rows, d, ids.data(), src.data(), g.data());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) want_g[ids[i] * d + j] += src[i * d + j];
  EXPECT_EQ(g, want_g);
}

TYPED_TEST(KernelsTest, ScatterAddLargeIsThreadCountIndependent) {
  using T = TypeParam;
  const int64_t rows = 50, d = 700, n = 400;
  std::vector<int32_t> ids(n);
  for (int64_t i = 0; i < n; ++i) ids[i] = static_cast<int32_t>((i * 37) % rows);
  const std::vector<T> src = random_vec<T>(n * d, 12);
  std::vector<T> one(rows * d), four(rows * d), want(rows * d, T(0));
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  scatter_add_rows<T>(n, rows, d, ids.data(), src.data(), one.data());
  omp_set_num_threads(4);
  scatter_add_rows<T>(n, rows, d, ids.data(), src.data(), four.data());
  omp_set_num_threads(saved);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) want[ids[i] * d + j] += src[i * d + j];
  EXPECT_EQ(one, four);
  EXPECT_EQ(one, want);
}

TYPED_TEST(KernelsTest, OutOfRangeIdsThrow) {
  using T = TypeParam;
  const std::vector<T> table(5 * 2);
  std::vector<T> out(3 * 2);
  const std::vector<int32_t> bad_hi = {0, 5, 1}, bad_lo = {0, 1, -1};
  EXPECT_THROW(embedding<T>(3, 5, 2, table.data(), bad_hi.data(), out.data()), std::out_of_range);
  EXPECT_THROW(embedding<T>(3, 5, 2, table.data(), bad_lo.data(), out.data()), std::out_of_range);
  try {
    embedding<T>(3, 5, 2, table.data(), bad_hi.data(), out.data());
    FAIL() << "no throw";
  } catch (const std::out_of_range& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("5"), std::string::npos) << msg;
    EXPECT_NE(msg.find("position 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[0, 5)"), std::string::npos) << msg;
  }
  std::vector<T> g(5 * 2);
  EXPECT_THROW(scatter_add_rows<T>(3, 5, 2, bad_hi.data(), out.data(), g.data()), std::out_of_range);
  EXPECT_THROW(scatter_add_rows<T>(3, 5, 2, bad_lo.data(), out.data(), g.data()), std::out_of_range);
  // index_select / index_add: 2 rows of 5 columns, 3 indices
  EXPECT_THROW(index_select<T>(2, 5, 3, table.data(), bad_hi.data(), out.data()), std::out_of_range);
  EXPECT_THROW(index_add<T>(2, 3, 5, out.data(), bad_lo.data(), g.data()), std::out_of_range);
}

TYPED_TEST(KernelsTest, IndexSelectAndIndexAdd) {
  using T = TypeParam;
  const int64_t rows = 4, c = 6;
  const std::vector<int32_t> idx = {5, 0, 3, 3, 0};
  const int64_t k = static_cast<int64_t>(idx.size());
  const std::vector<T> x = random_vec<T>(rows * c, 13);
  std::vector<T> out(rows * k), want(rows * k);
  index_select<T>(rows, c, k, x.data(), idx.data(), out.data());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) want[r * k + j] = x[r * c + idx[j]];
  EXPECT_EQ(out, want);

  const std::vector<T> g = random_vec<T>(rows * k, 14);
  std::vector<T> acc(rows * c, T(-5)), want_acc(rows * c, T(0));
  index_add<T>(rows, k, c, g.data(), idx.data(), acc.data());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) want_acc[r * c + idx[j]] += g[r * k + j];
  EXPECT_EQ(acc, want_acc);
}

TYPED_TEST(KernelsTest, TokenShift) {
  using T = TypeParam;
  const int64_t b = 2, t = 4, inner = 3;
  const std::vector<T> x = random_vec<T>(b * t * inner, 15);
  for (int64_t k : {1, -1, 0, 5, -5, 4, 3}) {
    std::vector<T> out(x.size(), T(77)), want(x.size());
    token_shift<T>(b, t, inner, k, x.data(), out.data());
    for (int64_t bi = 0; bi < b; ++bi)
      for (int64_t ti = 0; ti < t; ++ti)
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t src = ti - k;
          want[(bi * t + ti) * inner + i] = (src >= 0 && src < t) ? x[(bi * t + src) * inner + i] : T(0);
        }
    EXPECT_EQ(out, want) << "k = " << k;
  }
}

// ---- matmul ----------------------------------------------------------------------------------

// C_i = op(A_i) op(B_i), accumulated in double.
template <class T>
std::vector<T> naive_matmul(int64_t batch, int64_t m, int64_t n, int64_t k, const std::vector<T>& a, bool ta,
                            const std::vector<T>& b, bool tb, int64_t stride_b) {
  std::vector<T> c(batch * m * n);
  for (int64_t bi = 0; bi < batch; ++bi) {
    const T* ai = a.data() + bi * m * k;
    const T* bb = b.data() + bi * stride_b;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0.0;
        for (int64_t p = 0; p < k; ++p) {
          const double av = ta ? ai[p * m + i] : ai[i * k + p];
          const double bv = tb ? bb[j * k + p] : bb[p * n + j];
          s += av * bv;
        }
        c[(bi * m + i) * n + j] = static_cast<T>(s);
      }
  }
  return c;
}

template <class T> void check_matmul(int64_t batch, int64_t m, int64_t n, int64_t k, bool ta, bool tb, bool shared_b) {
  const int64_t stride_b = shared_b ? 0 : k * n;
  const std::vector<T> a = random_vec<T>(batch * m * k, 16);
  const std::vector<T> b = random_vec<T>(shared_b ? k * n : batch * k * n, 17);
  std::vector<T> c(batch * m * n, T(std::numeric_limits<T>::quiet_NaN()));
  matmul<T>(batch, m, n, k, a.data(), ta, b.data(), tb, stride_b, c.data());
  SCOPED_TRACE("batch " + std::to_string(batch) + " m " + std::to_string(m) + " n " + std::to_string(n) + " k " +
               std::to_string(k) + " ta " + std::to_string(ta) + " tb " + std::to_string(tb) + " shared " +
               std::to_string(shared_b));
  expect_near_vec(c, naive_matmul(batch, m, n, k, a, ta, b, tb, stride_b),
                  std::is_same_v<T, float> ? 1e-5 : 1e-13);
}

TYPED_TEST(KernelsTest, MatmulAllTransposes) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check_matmul<TypeParam>(1, 5, 7, 3, ta, tb, false);
      check_matmul<TypeParam>(3, 4, 6, 9, ta, tb, false);  // batched
      check_matmul<TypeParam>(3, 4, 6, 9, ta, tb, true);   // stride_b = 0 (folded when !ta)
      check_matmul<TypeParam>(2, 33, 65, 17, ta, tb, true);
    }
}

// Large enough to be split into column blocks over the OpenMP threads (kernels/cpu/matmul.cc):
// right against the naive product in every transpose case, and bit-identical for 1, 3 and 4
// threads (a split by thread count failed this in double: BLAS rounds a block's edge columns
// differently).
TYPED_TEST(KernelsTest, MatmulColumnBlocksAreThreadCountIndependent) {
  using T = TypeParam;
  const int saved = omp_get_max_threads();
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const int64_t batch = 2, m = 96, n = 300, k = 72;
      const std::vector<T> a = random_vec<T>(batch * m * k, 31);
      const std::vector<T> b = random_vec<T>(k * n, 32);
      std::vector<std::vector<T>> got;
      for (int threads : {1, 3, 4}) {
        omp_set_num_threads(threads);
        std::vector<T> c(batch * m * n);
        matmul<T>(batch, m, n, k, a.data(), ta, b.data(), tb, 0, c.data());
        got.push_back(c);
      }
      omp_set_num_threads(saved);
      SCOPED_TRACE("ta " + std::to_string(ta) + " tb " + std::to_string(tb));
      EXPECT_EQ(got[0], got[1]);
      EXPECT_EQ(got[0], got[2]);
      expect_near_vec(got[0], naive_matmul(batch, m, n, k, a, ta, b, tb, 0), std::is_same_v<T, float> ? 1e-5 : 1e-13);
    }
}

TYPED_TEST(KernelsTest, MatmulZeroSizes) {
  using T = TypeParam;
  std::vector<T> a(1), b(1), c(2 * 3 * 4, T(5));
  matmul<T>(2, 3, 4, 0, a.data(), false, b.data(), true, 0, c.data());
  EXPECT_EQ(c, std::vector<T>(c.size(), T(0)));
  std::vector<T> untouched(4, T(5)), u = untouched;
  matmul<T>(2, 0, 4, 3, a.data(), false, b.data(), false, 12, u.data());
  matmul<T>(2, 3, 0, 3, a.data(), true, b.data(), false, 0, u.data());
  matmul<T>(0, 3, 4, 3, a.data(), false, b.data(), false, 0, u.data());
  EXPECT_EQ(u, untouched);
}

// Messages that once named no value (issue 15): each must carry what it refused.
std::string kernel_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(KernelErrors, name_the_sizes_they_refuse) {
  std::vector<float> a(6), b(6), out(6);
  std::string e = kernel_error([&] { binary<float>(Binary::add, {2, 3}, {2, 3}, a.data(), {3}, b.data(), out.data()); });
  EXPECT_NE(e.find("a has 2 axes, b 1, the output 2"), std::string::npos) << e;
  e = kernel_error([&] { matmul<float>(1, 2, -3, 1, a.data(), false, b.data(), false, 0, out.data()); });
  EXPECT_NE(e.find("matmul: negative size or stride (batch 1, m 2, n -3, k 1, stride_b 0)"), std::string::npos) << e;
  e = kernel_error([&] { permute<float>({2, 3}, a.data(), {1, 0, 2}, out.data()); });
  EXPECT_NE(e.find("permute: perm has 3 axes, the input 2"), std::string::npos) << e;
  e = kernel_error([&] { pad<float>(1, 3, 1, 1, -2, a.data(), out.data()); });
  EXPECT_NE(e.find("pad: negative padding (before 1, after -2)"), std::string::npos) << e;
  e = kernel_error([&] { broadcast<float>({3}, a.data(), {2, 3}, out.data()); });
  EXPECT_NE(e.find("broadcast: ranks differ (1 against 2: "), std::string::npos) << e;
#ifdef GOLFRT_WITH_CUDA
  // The CUDA twins check on the host before touching the device: no GPU needed.
  e = kernel_error([&] { cuda::permute4({2, 3}, a.data(), {1, 0, 2}, out.data()); });
  EXPECT_NE(e.find("permute: perm has 3 axes, the input 2"), std::string::npos) << e;
  e = kernel_error([&] { cuda::permute4(Dims(9, 1), a.data(), {0, 1, 2, 3, 4, 5, 6, 7, 8}, out.data()); });
  EXPECT_NE(e.find("permute: rank 9 is above 8"), std::string::npos) << e;
  e = kernel_error([&] { cuda::pad4(1, 3, 1, -1, 0, a.data(), out.data()); });
  EXPECT_NE(e.find("pad: negative padding (before -1, after 0)"), std::string::npos) << e;
  e = kernel_error([&] { cuda::broadcast(Dims(9, 1), a.data(), Dims(9, 1), out.data()); });
  EXPECT_NE(e.find("broadcast: rank 9 is above 8"), std::string::npos) << e;
  e = kernel_error([&] { cuda::matmul(-1, 2, 3, 1, {a.data()}, false, {b.data()}, false, 0, {out.data()}, cuda::MatmulPrecision::fp32); });
  EXPECT_NE(e.find("matmul: negative size or stride (batch -1, m 2, n 3, k 1, stride_b 0)"), std::string::npos) << e;
  // The storage types and the epilogue add: combinations cuBLASLt has no kernel for are refused.
  e = kernel_error([&] { cuda::matmul(1, 2, 3, 1, {a.data(), true}, false, {b.data()}, false, 0, {out.data()}, cuda::MatmulPrecision::fp32); });
  EXPECT_NE(e.find("matmul: operand a is stored in bf16 but the fp32 path was asked for"), std::string::npos) << e;
  e = kernel_error([&] {
    cuda::matmul(1, 2, 3, 1, {a.data()}, false, {b.data()}, false, 0, {out.data(), true}, cuda::MatmulPrecision::bf16, nullptr,
                 nullptr, a.data());
  });
  EXPECT_NE(e.find("matmul: the epilogue add needs an fp32 output (c is bf16)"), std::string::npos) << e;
  e = kernel_error([&] {
    cuda::matmul(1, 2, 3, 1, {a.data()}, false, {b.data(), true}, false, 0, {out.data()}, cuda::MatmulPrecision::bf16, nullptr,
                 b.data());
  });
  EXPECT_NE(e.find("matmul: operand b is stored in bf16 and was also given a bf16 copy"), std::string::npos) << e;
  try {
    cuda::fake_quant(int64_t(1) << 31, 4, 8, a.data(), out.data());
    e = "(no error)";
  } catch (const std::length_error& x) {
    e = x.what();
  }
  EXPECT_NE(e.find("fake_quant: 2147483648 rows, more than the 2^31 - 1 one launch takes"), std::string::npos) << e;
#endif
}

}  // namespace
}  // namespace golf::cpu
