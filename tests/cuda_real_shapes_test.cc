// The CUDA matmul, reductions and row kernels at the baseline's real sizes (issue 18 item 5): the
// table's cases (tests/cuda_ops_test.cc) stay small, and kernels that pick a layout by size (the
// two-pass sums of kernels/reduce_plan.h, a warp or a block per row, cuBLASLt's split-K for a long
// K) take other paths at these. Each result is compared with kernels/cpu/* run in double on the
// same inputs (for the bf16 matmul: the same bf16-rounded inputs), so the tolerance measures the
// GPU's own rounding: fp32 accumulation for the matmul, one final fp32 rounding for sums computed in
// double.
//
// Sizes per micro-batch of 64 × 1024 tokens: a weight gradient dW = dYᵀ·X sums over K = 65,536
// tokens; a bias-like column sum has 512 outputs over 65,536 rows; per-head RMSNorm has 524,288 rows
// of 64; the logits are 65,536 rows of 1,024.
//
// The fused ops of runtime/fuse_pass.cc run at the same sizes, and every kernel with a RealOut
// (DESIGN §3's bf16-stored values) runs twice, fp32 and bf16 out: the bf16 output must be the fp32
// output rounded once to nearest even, bit for bit (expect_rounded_once), and near the CPU
// reference rounded to bf16 (expect_bf16_ulps; nmse for the rotations, whose angles CUDA's libm
// takes slightly differently). Host memory peaks near 3 GB (the relu² test's 67M-value tensors).
// The kernels that read a matmul's output (a Real input: add_scaled's y, channel_scale_backward's
// u, the norm-ropes' x, relu²'s x, the logits) run once more on that input stored in bf16: the
// same bits as on its rounded values in fp32, which are held to the case's bounds (bit for bit
// where the case is) against the CPU fed the same rounded values.
//
// Skip without a CUDA device or in a build without CUDA (tests/support/cuda.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "runtime/dtype.h"
#include "runtime/rng.h"
#include "runtime/tensor.h"
#include "tests/support/cuda.h"
#ifdef GOLFRT_WITH_CUDA
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/runtime_api.h"
#endif

namespace golf {
namespace {

#ifdef GOLFRT_WITH_CUDA

Tensor as_f64(const Tensor& t) { return t.to(DType::f64); }

// Uniform values in [-scale, scale), each a hash (splitmix64) of the seed and its index, filled in
// parallel: a micro-batch's 67M values from one Rng stream would take seconds on the GPU
// machine's CPU, inside run.sh's minute for every CUDA test.
Tensor uniform(Shape s, uint64_t seed, double scale = 1.0) {
  Tensor t(std::move(s), DType::f32);
  float* p = t.data<float>();
  const int64_t n = t.numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; i++) {
    uint64_t z = (seed << 40) + uint64_t(i) + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    p[i] = float(scale * (double(z >> 11) * 0x1p-52 - 1.0));
  }
  return t;
}

// as_f64 in parallel (the references of the fused ops run in double on tens of millions of values).
Tensor f64_of(const Tensor& t) {
  Tensor out(t.shape(), DType::f64);
  const float* p = t.data<float>();
  double* q = out.data<double>();
  const int64_t n = t.numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; i++) q[i] = p[i];
  return out;
}

float bf16_round(float x) { return bf16_to_f32(f32_to_bf16(x)); }


// ---- bf16 outputs (DESIGN §3: a kernel computes in fp32 and rounds once at the store) ----------

Tensor on_cuda(const Shape& s, DType t) { return Tensor(s, t, Device::cuda); }
cuda::RealOut out_of(Tensor& t) { return cuda::RealOut{t.raw(), t.dtype() == DType::bf16}; }
cuda::Real in_of(const Tensor& t) { return cuda::Real{t.raw(), t.dtype() == DType::bf16}; }

// ---- bf16 inputs (a matmul's output stored in bf16, as PyTorch's autocast stores it) -----------
// The kernel widens a bf16 input exactly, so on x rounded to bf16 it must give, bit for bit, what
// it gives on the fp32 tensor of the same rounded values; and that run is held to the case's own
// bounds against the CPU reference fed the same rounded values.

// x with every element rounded to bf16 (nearest even), kept in fp32.
Tensor rounded_to_bf16(const Tensor& x) {
  Tensor r(x.shape(), DType::f32);
  const float* p = x.data<float>();
  float* q = r.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; i++) q[i] = bf16_round(p[i]);
  return r;
}

// The same values stored in bf16 on the device.
Tensor bf16_on_device(const Tensor& x) {
  Tensor h(x.shape(), DType::bf16);
  const float* p = x.data<float>();
  uint16_t* q = h.data<uint16_t>();
  const int64_t n = x.numel();
#pragma omp parallel for
  for (int64_t i = 0; i < n; i++) q[i] = f32_to_bf16(p[i]);
  return h.to_device(Device::cuda);
}

// The store's contract, exactly: every element of the bf16 output is the same kernel's fp32 output
// rounded to nearest even (golf::f32_to_bf16), with no tolerance: the arithmetic before the store
// is the fp32 path's, so any difference is a bug in the store (a wrong index, rounding or type).
void expect_rounded_once(const std::string& what, const Tensor& got16, const Tensor& got32) {
  ASSERT_EQ(got16.dtype(), DType::bf16);
  ASSERT_EQ(got16.numel(), got32.numel());
  const uint16_t* h = got16.data<uint16_t>();
  const float* f = got32.data<float>();
  const int64_t n = got16.numel();
  int64_t bad = 0, first = n;
#pragma omp parallel for reduction(+ : bad) reduction(min : first)
  for (int64_t i = 0; i < n; i++)
    if (h[i] != f32_to_bf16(f[i])) bad++, first = std::min(first, i);
  if (bad == 0) first = -1;
  EXPECT_EQ(bad, 0) << what << ": " << bad << " bf16 elements not the fp32 output rounded once; the first, element " << first
                    << ": got " << (first < 0 ? 0.0 : bf16_to_f32(h[first])) << ", fp32 "
                    << (first < 0 ? 0.0 : f[first]);
}

// Distance in bf16 steps along the number line (-0 and +0 are one point).
int64_t bf16_order(uint16_t h) { return (h & 0x8000u) ? -int64_t(h & 0x7fffu) : int64_t(h); }

// The bf16 output against the CPU reference (double) rounded to bf16: at most max_ulps bf16 steps
// apart. 0 where the fp32 result is the reference correctly rounded; 1 where the fp32 results
// differ by a few fp32 ulps (sums in another order, a libm function against CUDA's): two values
// that close round to bf16 values at most one step apart.
void expect_bf16_ulps(const std::string& what, const Tensor& got16, const Tensor& want, int64_t max_ulps) {
  ASSERT_EQ(got16.numel(), want.numel());
  const uint16_t* h = got16.data<uint16_t>();
  const double* w = want.data<double>();
  const int64_t n = want.numel();
  int64_t bad = 0, first = n, worst = 0;
#pragma omp parallel for reduction(+ : bad) reduction(min : first) reduction(max : worst)
  for (int64_t i = 0; i < n; i++) {
    const int64_t d = std::abs(bf16_order(h[i]) - bf16_order(f32_to_bf16(float(w[i]))));
    if (d > max_ulps) bad++, first = std::min(first, i);
    worst = std::max(worst, d);
  }
  if (bad == 0) first = -1;
  EXPECT_EQ(bad, 0) << what << ": " << bad << " bf16 elements more than " << max_ulps
                    << " step(s) from the reference rounded (worst " << worst << "); the first, element " << first
                    << ": got " << (first < 0 ? 0.0 : bf16_to_f32(h[first])) << ", want " << (first < 0 ? 0.0 : w[first]);
}

// Every fp32 element within tol(i) of the reference (double).
template <class Tol> void expect_each_within(const std::string& what, const Tensor& got, const Tensor& want, Tol tol) {
  ASSERT_EQ(got.numel(), want.numel());
  const float* g = got.data<float>();
  const double* w = want.data<double>();
  const int64_t n = want.numel();
  int64_t bad = 0, first = n;
#pragma omp parallel for reduction(+ : bad) reduction(min : first)
  for (int64_t i = 0; i < n; i++)
    if (!(std::abs(double(g[i]) - w[i]) <= tol(i))) bad++, first = std::min(first, i);
  if (bad == 0) first = -1;
  EXPECT_EQ(bad, 0) << what << ": " << bad << " elements beyond the bound; the first, element " << first << ": got "
                    << (first < 0 ? 0.0 : g[first]) << ", want " << (first < 0 ? 0.0 : w[first]) << ", bound "
                    << (first < 0 ? 0.0 : tol(first));
}

// Two fp32 host tensors with the same bits.
void expect_same_bits(const std::string& what, const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.nbytes(), b.nbytes());
  EXPECT_EQ(std::memcmp(a.data<float>(), b.data<float>(), a.nbytes()), 0) << what;
}

// C = op(A)·op(B) for one problem; the reference is the exact dot product of the bf16-rounded
// inputs (double), at `samples` (row, col) pairs spread over C.
struct Sampled {
  double nmse_rounded = 0, nmse_unrounded = 0;
};
Sampled compare_matmul(const Tensor& c, const Tensor& a, bool ta, const Tensor& b, bool tb, int64_t m, int64_t n,
                       int64_t k, int samples) {
  const float *pa = a.data<float>(), *pb = b.data<float>(), *pc = c.data<float>();
  double num_r = 0, num_u = 0, den = 0;
  Rng rng(77);
  for (int s = 0; s < samples; s++) {
    const int64_t i = int64_t(rng.below(uint64_t(m))), j = int64_t(rng.below(uint64_t(n)));
    double want = 0, exact = 0;
    for (int64_t p = 0; p < k; p++) {
      const float x = ta ? pa[p * m + i] : pa[i * k + p];
      const float y = tb ? pb[j * k + p] : pb[p * n + j];
      want += double(bf16_round(x)) * double(bf16_round(y));
      exact += double(x) * double(y);
    }
    const double got = pc[i * n + j];
    num_r += (got - want) * (got - want);
    num_u += (got - exact) * (got - exact);
    den += want * want;
  }
  return {num_r / den, num_u / den};
}

// fp32 accumulation of K = 65,536 products: ≈ √K·2⁻²⁴ relative, nmse ≈ 1e-10; bf16-rounded inputs
// against unrounded ones: ≈ 2⁻⁹ per product, nmse ≈ 1e-5.
constexpr double kNmseAccumulate = 1e-8;

TEST(CudaRealShapes, weight_gradient_matmul_over_65536_tokens) {
  GOLF_SKIP_WITHOUT_CUDA();
  const int64_t K = 65536, M = 512, N = 384;  // dW[512, 384] = dYᵀ[512, K] · X[K, 384]
  const Tensor dy = normal({K, M}, 1), x = normal({K, N}, 2);
  Tensor c({M, N}, DType::f32, Device::cuda);
  const Tensor ddy = on_device(dy), dx = on_device(x);
  cuda::matmul(1, M, N, K, cuda::Real{ddy.data<float>()}, true, cuda::Real{dx.data<float>()}, false, K * N,
               cuda::RealOut{c.data<float>()}, cuda::MatmulPrecision::bf16);
  const Sampled s = compare_matmul(on_host(c), dy, true, x, false, M, N, K, 256);
  EXPECT_LT(s.nmse_rounded, kNmseAccumulate);
  EXPECT_GT(s.nmse_unrounded, 100 * s.nmse_rounded) << "the inputs were not rounded to bf16";
}

// The forward's x·Wᵀ at a micro-batch's 65,536 rows (the MLP's fc: 512 -> 1,024), then the same
// product with W's bf16 copy made once beforehand (the weight cache's path): the same bits.
TEST(CudaRealShapes, forward_matmul_and_its_cached_weight_path_agree_bit_for_bit) {
  GOLF_SKIP_WITHOUT_CUDA();
  const int64_t M = 65536, K = 512, N = 1024;
  const Tensor x = normal({M, K}, 3), w = normal({N, K}, 4, 1.0 / std::sqrt(double(K)));
  const Tensor dx = on_device(x), dw = on_device(w);
  Tensor c({M, N}, DType::f32, Device::cuda), c2({M, N}, DType::f32, Device::cuda);
  cuda::matmul(1, M, N, K, cuda::Real{dx.data<float>()}, false, cuda::Real{dw.data<float>()}, true, 0,
               cuda::RealOut{c.data<float>()}, cuda::MatmulPrecision::bf16);
  void* w16 = cuda::device_alloc(size_t(N * K) * 2);
  cuda::to_bf16(N * K, dw.data<float>(), w16);
  cuda::matmul(1, M, N, K, cuda::Real{dx.data<float>()}, false, cuda::Real{dw.data<float>()}, true, 0,
               cuda::RealOut{c2.data<float>()}, cuda::MatmulPrecision::bf16, nullptr, w16);
  const Tensor h = on_host(c), h2 = on_host(c2);
  cuda::device_free(w16);
  const Sampled s = compare_matmul(h, x, false, w, true, M, N, K, 512);
  EXPECT_LT(s.nmse_rounded, kNmseAccumulate);
  for (int64_t i = 0; i < h.numel(); i++) ASSERT_EQ(h.data<float>()[i], h2.data<float>()[i]) << "element " << i;
}

// Sums computed in double and rounded once: within an ulp of the double reference.
void check_sum(const Shape& in, const Shape& out, uint64_t seed) {
  const Tensor x = normal(in, seed);
  Tensor want(out, DType::f64);
  cpu::reduce_sum<double>(in, as_f64(x).data<double>(), out, want.data<double>());
  const Tensor dx = on_device(x);
  Tensor got({shape_numel(out)}, DType::f32, Device::cuda), again({shape_numel(out)}, DType::f32, Device::cuda);
  cuda::reduce_sum(in, dx.data<float>(), out, got.data<float>());
  cuda::reduce_sum(in, dx.data<float>(), out, again.data<float>());
  const Tensor g = on_host(got).view(out), a = on_host(again).view(out);
  EXPECT_LT(nmse(g, want), 1e-13) << shape_str(in) << " -> " << shape_str(out) << "; " << describe_diff(g, want);
  for (int64_t i = 0; i < g.numel(); i++)
    ASSERT_EQ(g.data<float>()[i], a.data<float>()[i]) << shape_str(in) << " -> " << shape_str(out) << " rerun, element " << i;
}

TEST(CudaRealShapes, sums_at_the_micro_batch_sizes_match_the_cpu_and_rerun_bit_identically) {
  GOLF_SKIP_WITHOUT_CUDA();
  check_sum({65536, 512}, {1, 512}, 5);                 // column sums (outer layout, two passes)
  check_sum({65536, 512}, {65536, 1}, 6);               // row sums (a warp per row, one pass)
  check_sum({65536}, {1}, 7);                           // the loss mean's sum (inner, two passes)
  check_sum({64, 1024, 8, 64}, {1, 1, 8, 1}, 8);        // a per-head gain's gradient: 8 outputs of 4M terms
  check_sum({64, 1024, 8, 64}, {64, 1, 8, 1}, 9);       // mixed kept and reduced groups
  check_sum({3, 70001}, {3, 1}, 10);                    // a ragged last chunk
}

void check_rms_norm(int64_t rows, int64_t d, uint64_t seed) {
  const double eps = 1.1920928955078125e-07;
  const Tensor x = normal({rows, d}, seed), dy = normal({rows, d}, seed + 1);
  Tensor want({rows, d}, DType::f64), want_dx({rows, d}, DType::f64);
  const Tensor x64 = as_f64(x), dy64 = as_f64(dy);
  cpu::rms_norm<double>(rows, d, eps, x64.data<double>(), want.data<double>());
  cpu::rms_norm_backward<double>(rows, d, eps, x64.data<double>(), dy64.data<double>(), want_dx.data<double>());
  const Tensor dxd = on_device(x), dyd = on_device(dy);
  Tensor y({rows, d}, DType::f32, Device::cuda), dx({rows, d}, DType::f32, Device::cuda);
  Tensor y16 = on_cuda({rows, d}, DType::bf16);
  cuda::rms_norm(rows, d, eps, dxd.data<float>(), out_of(y));
  cuda::rms_norm(rows, d, eps, dxd.data<float>(), out_of(y16));
  cuda::rms_norm_backward(rows, d, eps, dxd.data<float>(), dyd.data<float>(), dx.data<float>());
  const Tensor hy = on_host(y), hdx = on_host(dx), hy16 = on_host(y16);
  const std::string at = std::to_string(rows) + " x " + std::to_string(d);
  EXPECT_LT(nmse(hy, want), kNmseF32) << at << "; " << describe_diff(hy, want);
  EXPECT_LT(nmse(hdx, want_dx), kNmseF32) << at << " backward; " << describe_diff(hdx, want_dx);
  // y = x·r, r's sum in double in another order than the CPU's: fp32 within an ulp, bf16 a step.
  expect_rounded_once("rms_norm " + at, hy16, hy);
  expect_bf16_ulps("rms_norm " + at, hy16, want, 1);
}

TEST(CudaRealShapes, rms_norm_rows_of_a_micro_batch) {
  GOLF_SKIP_WITHOUT_CUDA();
  check_rms_norm(524288, 64, 11);  // per-head q/k norms: a warp per row
  check_rms_norm(65536, 512, 12);  // the blocks' norms: a warp per row
  check_rms_norm(4099, 1025, 13);  // just past the warp limit: a block per row, a ragged last warp-block
}

// bf16_in: the logits rounded to bf16 (the head matmul's output as the trainer stores it), the
// reference fed the rounded values; the kernels then also read them stored in bf16.
void check_cross_entropy(int64_t n, int64_t v, uint64_t seed, bool bf16_in = false) {
  const double softcap = 30;
  const Tensor x = bf16_in ? rounded_to_bf16(normal({n, v}, seed, 3.0)) : normal({n, v}, seed, 3.0), dloss = normal({n}, seed + 1, 1e-3);
  Tensor targets({n}, DType::i32);
  Rng rng(seed + 2);
  for (int64_t i = 0; i < n; i++) targets.data<int32_t>()[i] = int32_t(rng.below(uint64_t(v)));
  const Tensor x64 = as_f64(x), dl64 = as_f64(dloss);
  Tensor want({n}, DType::f64), want_dx({n, v}, DType::f64);
  cpu::cross_entropy<double>(n, v, softcap, x64.data<double>(), targets.data<int32_t>(), want.data<double>());
  cpu::cross_entropy_backward<double>(n, v, softcap, x64.data<double>(), targets.data<int32_t>(), dl64.data<double>(),
                                      want_dx.data<double>());
  const Tensor xd = on_device(x), td = on_device(targets), dld = on_device(dloss);
  Tensor loss({n}, DType::f32, Device::cuda), dx({n, v}, DType::f32, Device::cuda);
  Tensor dx16 = on_cuda({n, v}, DType::bf16);
  cuda::cross_entropy(n, v, softcap, in_of(xd), td.data<int32_t>(), loss.data<float>(), 0);
  cuda::cross_entropy_backward(n, v, softcap, in_of(xd), td.data<int32_t>(), dld.data<float>(), out_of(dx), 0);
  cuda::cross_entropy_backward(n, v, softcap, in_of(xd), td.data<int32_t>(), dld.data<float>(), out_of(dx16), 0);
  const Tensor hl = on_host(loss), hdx = on_host(dx), hdx16 = on_host(dx16);
  EXPECT_EQ(cuda::take_fault().code, cuda::Fault::none);
  const std::string at = std::to_string(n) + " x " + std::to_string(v);
  EXPECT_LT(nmse(hl, want), kNmseF32) << at << "; " << describe_diff(hl, want);
  EXPECT_LT(nmse(hdx, want_dx), kNmseF32) << at << " backward; " << describe_diff(hdx, want_dx);
  // expf, tanhf and fp32 products against double: a few fp32 ulps (no cancellation: |tanh| < 0.6
  // at these logits, softmax_t far from 1), so bf16 within a step.
  expect_rounded_once("cross_entropy_backward " + at, hdx16, hdx);
  expect_bf16_ulps("cross_entropy_backward " + at, hdx16, want_dx, 1);
  if (!bf16_in) return;
  const Tensor x16 = bf16_on_device(x);
  Tensor loss_b({n}, DType::f32, Device::cuda), dx_b({n, v}, DType::f32, Device::cuda);
  cuda::cross_entropy(n, v, softcap, in_of(x16), td.data<int32_t>(), loss_b.data<float>(), 0);
  cuda::cross_entropy_backward(n, v, softcap, in_of(x16), td.data<int32_t>(), dld.data<float>(), out_of(dx_b), 0);
  EXPECT_EQ(cuda::take_fault().code, cuda::Fault::none);
  expect_same_bits("cross_entropy, logits stored in bf16, " + at, on_host(loss_b), hl);
  expect_same_bits("cross_entropy_backward, logits stored in bf16, " + at, on_host(dx_b), hdx);
}

TEST(CudaRealShapes, cross_entropy_over_a_micro_batch_of_logits) {
  GOLF_SKIP_WITHOUT_CUDA();
  check_cross_entropy(65536, 1024, 21);  // the baseline's vocabulary: a warp per row
  check_cross_entropy(257, 8192, 22);    // a long row: a block per row
  check_cross_entropy(65536, 1024, 23, true);  // the logits stored in bf16, a warp per row
  check_cross_entropy(257, 8192, 24, true);    // and a block per row
}
// ---- the fused ops of runtime/fuse_pass.cc at a micro-batch (64 × 1024 tokens, model dim 512,
// heads 8 / KV heads 4 of 64, MLP hidden 1,024), each output in fp32 and, where the kernel takes a
// RealOut, in bf16. References: kernels/cpu in double on the same inputs. -----------------------

// The residual stream's scale-adds, [65,536, 512]. The GPU rounds the product, then the sum
// (__fmul_rn, __fadd_rn); the double reference is exact but for its own 2⁻⁵³: each element is
// within 2⁻²⁴ of each rounded term, |p| + |out| (a margin of 2⁻²⁰ of the bound for the reference).
TEST(CudaRealShapes, add_scaled_and_mix_over_the_residual_stream) {
  GOLF_SKIP_WITHOUT_CUDA();
  const int64_t rows = 65536, d = 512;
  const Tensor x = uniform({rows, d}, 31, 2.0), y = uniform({rows, d}, 32, 2.0), s = uniform({d}, 33);
  const Tensor wa = uniform({d}, 34), wb = uniform({d}, 35);
  const Tensor x64 = f64_of(x), y64 = f64_of(y), s64 = f64_of(s), wa64 = f64_of(wa), wb64 = f64_of(wb);
  Tensor want({rows, d}, DType::f64), want_mix({rows, d}, DType::f64);
  cpu::add_scaled<double>(rows, d, x64.data<double>(), y64.data<double>(), s64.data<double>(), want.data<double>());
  cpu::mix<double>(rows, d, x64.data<double>(), y64.data<double>(), wa64.data<double>(), wb64.data<double>(),
                   want_mix.data<double>());
  const Tensor xd = on_device(x), yd = on_device(y), sd = on_device(s), wad = on_device(wa), wbd = on_device(wb);
  Tensor out = on_cuda({rows, d}, DType::f32), out_mix = on_cuda({rows, d}, DType::f32);
  cuda::add_scaled(rows, d, xd.data<float>(), in_of(yd), sd.data<float>(), out.data<float>());
  cuda::mix(rows, d, xd.data<float>(), yd.data<float>(), wad.data<float>(), wbd.data<float>(), out_mix.data<float>());
  const Tensor h = on_host(out), hm = on_host(out_mix);
  const double* pw = want.data<double>();
  const double* pm = want_mix.data<double>();
  expect_each_within("add_scaled", h, want, [&](int64_t i) {
    const double p = s64.data<double>()[i % d] * y64.data<double>()[i];
    return 0x1p-24 * (std::abs(p) + std::abs(pw[i])) * (1 + 0x1p-20);
  });
  expect_each_within("mix", hm, want_mix, [&](int64_t i) {
    const double pa = wa64.data<double>()[i % d] * x64.data<double>()[i];
    const double pb = wb64.data<double>()[i % d] * y64.data<double>()[i];
    return 0x1p-24 * (std::abs(pa) + std::abs(pb) + std::abs(pm[i])) * (1 + 0x1p-20);
  });
}

// add_scaled's y stored in bf16 (the attention or MLP projection's output): the same bits as y's
// rounded values in fp32, and those within the bound above of the double reference on them.
TEST(CudaRealShapes, add_scaled_reads_its_y_stored_in_bf16) {
  GOLF_SKIP_WITHOUT_CUDA();
  const int64_t rows = 65536, d = 512;
  const Tensor x = uniform({rows, d}, 36, 2.0), y = rounded_to_bf16(uniform({rows, d}, 37, 2.0)), s = uniform({d}, 38);
  const Tensor x64 = f64_of(x), y64 = f64_of(y), s64 = f64_of(s);
  Tensor want({rows, d}, DType::f64);
  cpu::add_scaled<double>(rows, d, x64.data<double>(), y64.data<double>(), s64.data<double>(), want.data<double>());
  const Tensor xd = on_device(x), yd = on_device(y), y16 = bf16_on_device(y), sd = on_device(s);
  Tensor out = on_cuda({rows, d}, DType::f32), out16 = on_cuda({rows, d}, DType::f32);
  cuda::add_scaled(rows, d, xd.data<float>(), in_of(yd), sd.data<float>(), out.data<float>());
  cuda::add_scaled(rows, d, xd.data<float>(), in_of(y16), sd.data<float>(), out16.data<float>());
  const Tensor h = on_host(out), h16 = on_host(out16);
  expect_same_bits("add_scaled, y stored in bf16", h16, h);
  const double* pw = want.data<double>();
  expect_each_within("add_scaled, y rounded to bf16", h, want, [&](int64_t i) {
    const double p = s64.data<double>()[i % d] * y64.data<double>()[i];
    return 0x1p-24 * (std::abs(p) + std::abs(pw[i])) * (1 + 0x1p-20);
  });
}

// The backward of w⊙u at [65,536, 512]: du = w⊙g is one product, correctly rounded on both sides
// (the bits of the CPU's fp32 kernel, which has no sum to fuse into an FMA; bf16: those rounded);
// dw sums 65,536 rows in double in another order than the CPU (chunks, then chunk totals) and
// rounds once: nmse as the sums above. dw is the same bits whether du is stored in fp32 or bf16.
TEST(CudaRealShapes, channel_scale_backward_over_65536_rows) {
  GOLF_SKIP_WITHOUT_CUDA();
  const int64_t rows = 65536, d = 512;
  const Tensor u = uniform({rows, d}, 41, 2.0), w = uniform({d}, 42), g = uniform({rows, d}, 43);
  Tensor want_du({rows, d}, DType::f32), want_dw({d}, DType::f32);
  cpu::channel_scale_backward<float>(rows, d, u.data<float>(), w.data<float>(), g.data<float>(), want_du.data<float>(),
                                     want_dw.data<float>());
  Tensor want_dw64({d}, DType::f64);
  {
    const Tensor u64 = f64_of(u), w64 = f64_of(w), g64 = f64_of(g);
    Tensor du64({rows, d}, DType::f64);
    cpu::channel_scale_backward<double>(rows, d, u64.data<double>(), w64.data<double>(), g64.data<double>(),
                                        du64.data<double>(), want_dw64.data<double>());
  }
  const Tensor ud = on_device(u), wd = on_device(w), gd = on_device(g);
  Tensor du = on_cuda({rows, d}, DType::f32), du16 = on_cuda({rows, d}, DType::bf16);
  Tensor dw = on_cuda({d}, DType::f32), dw2 = on_cuda({d}, DType::f32);
  cuda::channel_scale_backward(rows, d, in_of(ud), wd.data<float>(), gd.data<float>(), out_of(du),
                               dw.data<float>());
  cuda::channel_scale_backward(rows, d, in_of(ud), wd.data<float>(), gd.data<float>(), out_of(du16),
                               dw2.data<float>());
  const Tensor hdu = on_host(du), hdu16 = on_host(du16), hdw = on_host(dw), hdw2 = on_host(dw2);
  expect_same_bits("du (fp32) against the CPU's fp32 kernel", hdu, want_du);
  expect_rounded_once("du (bf16)", hdu16, hdu);
  expect_rounded_once("du (bf16) against the CPU's fp32 kernel", hdu16, want_du);
  EXPECT_LT(nmse(hdw, want_dw64), 1e-13) << describe_diff(hdw, want_dw64);
  expect_same_bits("dw with du in bf16 against dw with du in fp32", hdw2, hdw);

  // u stored in bf16 (the projection's output before its channel scale): dw = Σ g⊙u against the
  // double reference on u rounded, and the same bits as the kernel on those values in fp32; du
  // (which does not read u) the same bits as above.
  const Tensor ur = rounded_to_bf16(u);
  Tensor want_dw_r({d}, DType::f64);
  {
    const Tensor u64 = f64_of(ur), w64 = f64_of(w), g64 = f64_of(g);
    Tensor du64({rows, d}, DType::f64);
    cpu::channel_scale_backward<double>(rows, d, u64.data<double>(), w64.data<double>(), g64.data<double>(),
                                        du64.data<double>(), want_dw_r.data<double>());
  }
  const Tensor urd = on_device(ur), u16 = bf16_on_device(ur);
  Tensor du_r = on_cuda({rows, d}, DType::f32), du_b = on_cuda({rows, d}, DType::f32);
  Tensor dw_r = on_cuda({d}, DType::f32), dw_b = on_cuda({d}, DType::f32);
  cuda::channel_scale_backward(rows, d, in_of(urd), wd.data<float>(), gd.data<float>(), out_of(du_r), dw_r.data<float>());
  cuda::channel_scale_backward(rows, d, in_of(u16), wd.data<float>(), gd.data<float>(), out_of(du_b), dw_b.data<float>());
  const Tensor hdw_r = on_host(dw_r);
  EXPECT_LT(nmse(hdw_r, want_dw_r), 1e-13) << "u rounded to bf16; " << describe_diff(hdw_r, want_dw_r);
  expect_same_bits("dw with u stored in bf16", on_host(dw_b), hdw_r);
  expect_same_bits("du with u stored in bf16", on_host(du_b), hdu);
}

// relu² and leaky relu² (the record's slope 0.5) over the MLP's hidden units, [65,536, 1,024].
// Every operation is one IEEE product (2r and the slope 0.5 are exact scalings), so the GPU's
// fp32 output has the bits of the CPU's fp32 kernel (whose products have no sum to fuse into an
// FMA), and its bf16 output those rounded: no tolerance.
TEST(CudaRealShapes, relu2_and_leaky_relu2_over_the_mlp_hidden_units) {
  GOLF_SKIP_WITHOUT_CUDA();
  const int64_t n = 65536 * 1024;
  const Tensor x = uniform({n}, 51, 2.0), dy = uniform({n}, 52);
  const Tensor xd = on_device(x), dyd = on_device(dy);
  for (const double slope : {0.0, 0.5}) {
    const std::string at = "slope " + std::to_string(slope);
    Tensor want({n}, DType::f32), want_dx({n}, DType::f32);
    cpu::relu2<float>(n, slope, x.data<float>(), want.data<float>());
    cpu::relu2_backward<float>(n, slope, x.data<float>(), dy.data<float>(), want_dx.data<float>());
    Tensor y = on_cuda({n}, DType::f32), y16 = on_cuda({n}, DType::bf16);
    Tensor dx = on_cuda({n}, DType::f32), dx16 = on_cuda({n}, DType::bf16);
    cuda::relu2(n, slope, in_of(xd), out_of(y));
    cuda::relu2(n, slope, in_of(xd), out_of(y16));
    cuda::relu2_backward(n, slope, in_of(xd), in_of(dyd), out_of(dx));
    cuda::relu2_backward(n, slope, in_of(xd), in_of(dyd), out_of(dx16));
    const Tensor hy = on_host(y), hdx = on_host(dx);
    expect_same_bits("relu2 " + at, hy, want);
    expect_same_bits("relu2_backward " + at, hdx, want_dx);
    expect_rounded_once("relu2 (bf16) " + at, on_host(y16), want);
    expect_rounded_once("relu2_backward (bf16) " + at, on_host(dx16), want_dx);
  }
  // x stored in bf16 (the up projection's output): the CPU's fp32 kernel on x rounded, bit for bit,
  // with y and dx in fp32 and in bf16.
  const Tensor xr = rounded_to_bf16(x), x16 = bf16_on_device(xr);
  for (const double slope : {0.0, 0.5}) {
    const std::string at = "x stored in bf16, slope " + std::to_string(slope);
    Tensor want({n}, DType::f32), want_dx({n}, DType::f32);
    cpu::relu2<float>(n, slope, xr.data<float>(), want.data<float>());
    cpu::relu2_backward<float>(n, slope, xr.data<float>(), dy.data<float>(), want_dx.data<float>());
    Tensor y = on_cuda({n}, DType::f32), y16 = on_cuda({n}, DType::bf16);
    Tensor dx = on_cuda({n}, DType::f32), dx16 = on_cuda({n}, DType::bf16);
    cuda::relu2(n, slope, in_of(x16), out_of(y));
    cuda::relu2(n, slope, in_of(x16), out_of(y16));
    cuda::relu2_backward(n, slope, in_of(x16), in_of(dyd), out_of(dx));
    cuda::relu2_backward(n, slope, in_of(x16), in_of(dyd), out_of(dx16));
    expect_same_bits("relu2 " + at, on_host(y), want);
    expect_same_bits("relu2_backward " + at, on_host(dx), want_dx);
    expect_rounded_once("relu2 (bf16) " + at, on_host(y16), want);
    expect_rounded_once("relu2_backward (bf16) " + at, on_host(dx16), want_dx);
  }
  // dy stored in bf16 too (the down projection's backward matmul output, as autocast stores it):
  // the CPU's fp32 backward on x and dy rounded, bit for bit, dx in fp32 and in bf16.
  const Tensor dyr = rounded_to_bf16(dy), dy16 = bf16_on_device(dyr);
  for (const double slope : {0.0, 0.5}) {
    for (const bool x_bf16 : {false, true}) {
      const std::string at = std::string("dy stored in bf16, x in ") + (x_bf16 ? "bf16" : "fp32") +
                             ", slope " + std::to_string(slope);
      const Tensor& xh = x_bf16 ? xr : x;
      Tensor want_dx({n}, DType::f32);
      cpu::relu2_backward<float>(n, slope, xh.data<float>(), dyr.data<float>(), want_dx.data<float>());
      Tensor dx = on_cuda({n}, DType::f32), dx16 = on_cuda({n}, DType::bf16);
      cuda::relu2_backward(n, slope, in_of(x_bf16 ? x16 : xd), in_of(dy16), out_of(dx));
      cuda::relu2_backward(n, slope, in_of(x_bf16 ? x16 : xd), in_of(dy16), out_of(dx16));
      expect_same_bits("relu2_backward " + at, on_host(dx), want_dx);
      expect_rounded_once("relu2_backward (bf16) " + at, on_host(dx16), want_dx);
    }
  }
}

// q's and k's RMSNorm + RoPE (+ q's gain) at [64, 1024, H, 64]. The GPU takes cos and sin of the
// same fp32 angles as the CPU (rope.cu's formula) with CUDA's cosf/sinf (2 ulp) and powf (the
// inverse frequencies; 4 ulp documented, glibc's within 1): an inverse frequency k ulps off turns
// the angle at position p by p·k·2⁻²³·f, up to 4.9e-4 rad at p = 1,023, k = 4. Over all 32
// frequencies (f = 10000^(-j/32), each on 2 of 64 values, mean square over p of (p·k·2⁻²³·f)²)
// that is an nmse of at most 3.2e-9, far above the 1e-14 of the rest of the fp32 arithmetic:
constexpr double kNmseRope = 1e-8;
// The same angle error, up to 4.9e-4·|x̂| on one element, can move a small element by many bf16
// steps, so the bf16 outputs are held by nmse instead of steps: bf16 rounding moves an element by
// at most 2⁻⁸ of itself, on top of the fp32 output's √kNmseRope = 1e-4:
// nmse ≤ (2⁻⁸·(1 + 1e-4) + 1e-4)² = 1.61e-5 (rounding to nearest gives ≈ 2.5e-6). That bound alone
// does not see a wrong rounding (a truncation gives ≈ 1e-5); expect_rounded_once does, exactly.
constexpr double kNmseRopeBf16 = 1.7e-5;

// bf16_in: x rounded to bf16 (the q or k projection's output as the trainer stores it), the
// reference fed the rounded values; the kernels then also read them stored in bf16.
void check_rms_norm_rope(int64_t h, int64_t rot, bool with_gain, uint64_t seed, bool bf16_in = false) {
  const int64_t b = 64, t = 1024, hd = 64;
  const double eps = 1.1920928955078125e-07, base = 10000;
  const Shape s{b, t, h, hd};
  const Tensor x = bf16_in ? rounded_to_bf16(uniform(s, seed, 2.0)) : uniform(s, seed, 2.0), dy = uniform(s, seed + 1);
  Tensor gain = uniform({h}, seed + 2, 0.5);
  for (int64_t i = 0; i < h; i++) gain.data<float>()[i] += 1.5f;  // the qk gain's 1.5, spread
  const Tensor x64 = f64_of(x), dy64 = f64_of(dy), g64 = f64_of(gain);
  const double* gp = with_gain ? g64.data<double>() : nullptr;
  Tensor want(s, DType::f64), want_dx(s, DType::f64), want_dg({b * t * h}, DType::f64);
  cpu::rms_norm_rope<double>(b, t, h, hd, rot, base, 0, false, eps, x64.data<double>(), gp, want.data<double>());
  cpu::rms_norm_rope_backward<double>(b, t, h, hd, rot, base, 0, false, eps, x64.data<double>(), gp,
                                      dy64.data<double>(), want_dx.data<double>(),
                                      with_gain ? want_dg.data<double>() : nullptr);
  const Tensor xd = on_device(x), dyd = on_device(dy), gd = on_device(gain);
  const float* gdp = with_gain ? gd.data<float>() : nullptr;
  Tensor y = on_cuda(s, DType::f32), y16 = on_cuda(s, DType::bf16);
  Tensor dx = on_cuda(s, DType::f32), dx16 = on_cuda(s, DType::bf16);
  Tensor dg = on_cuda({b * t * h}, DType::f32), dg2 = on_cuda({b * t * h}, DType::f32);
  cuda::rms_norm_rope(b, t, h, hd, rot, base, 0, false, eps, in_of(xd), gdp, out_of(y));
  cuda::rms_norm_rope(b, t, h, hd, rot, base, 0, false, eps, in_of(xd), gdp, out_of(y16));
  cuda::rms_norm_rope_backward(b, t, h, hd, rot, base, 0, false, eps, in_of(xd), gdp, dyd.data<float>(),
                               out_of(dx), with_gain ? dg.data<float>() : nullptr);
  cuda::rms_norm_rope_backward(b, t, h, hd, rot, base, 0, false, eps, in_of(xd), gdp, dyd.data<float>(),
                               out_of(dx16), with_gain ? dg2.data<float>() : nullptr);
  const std::string at = shape_str(s) + " rot " + std::to_string(rot) + (with_gain ? " with gain" : "");
  const Tensor hy = on_host(y).view(s), hy16 = on_host(y16).view(s), hdx = on_host(dx).view(s),
               hdx16 = on_host(dx16).view(s);
  EXPECT_LT(nmse(hy, want), kNmseRope) << at << "; " << describe_diff(hy, want);
  EXPECT_LT(nmse(hdx, want_dx), kNmseRope) << at << " backward; " << describe_diff(hdx, want_dx);
  expect_rounded_once("rms_norm_rope " + at, hy16, hy);
  expect_rounded_once("rms_norm_rope_backward " + at, hdx16, hdx);
  EXPECT_LT(nmse(hy16, want), kNmseRopeBf16) << at << " (bf16); " << describe_diff(hy16, want);
  EXPECT_LT(nmse(hdx16, want_dx), kNmseRopeBf16) << at << " backward (bf16); " << describe_diff(hdx16, want_dx);
  if (with_gain) {
    const Tensor hdg = on_host(dg), hdg2 = on_host(dg2);
    EXPECT_LT(nmse(hdg, want_dg), kNmseRope) << at << " dgain rows; " << describe_diff(hdg, want_dg);
    expect_same_bits("dgain rows with dx in bf16 against dx in fp32, " + at, hdg2, hdg);
  }
  if (!bf16_in) return;
  const Tensor x16 = bf16_on_device(x);
  Tensor y_b = on_cuda(s, DType::f32), dx_b = on_cuda(s, DType::f32), dg_b = on_cuda({b * t * h}, DType::f32);
  cuda::rms_norm_rope(b, t, h, hd, rot, base, 0, false, eps, in_of(x16), gdp, out_of(y_b));
  cuda::rms_norm_rope_backward(b, t, h, hd, rot, base, 0, false, eps, in_of(x16), gdp, dyd.data<float>(), out_of(dx_b),
                               with_gain ? dg_b.data<float>() : nullptr);
  expect_same_bits("rms_norm_rope, x stored in bf16, " + at, on_host(y_b).view(s), hy);
  expect_same_bits("rms_norm_rope_backward, x stored in bf16, " + at, on_host(dx_b).view(s), hdx);
  if (with_gain) expect_same_bits("dgain rows, x stored in bf16, " + at, on_host(dg_b), on_host(dg));
}

TEST(CudaRealShapes, rms_norm_rope_gain_at_q_and_rms_norm_rope_at_k) {
  GOLF_SKIP_WITHOUT_CUDA();
  check_rms_norm_rope(8, 64, true, 61);   // q: 8 heads, the baseline's full rotation, the gain [8, 1]
  check_rms_norm_rope(4, 64, false, 64);  // k: 4 KV heads
  check_rms_norm_rope(4, 16, false, 67);  // k with the record's partial rotation: 48 values pass through
  check_rms_norm_rope(8, 64, true, 71, true);   // q and k stored in bf16 (the projections' outputs)
  check_rms_norm_rope(4, 64, false, 74, true);
}

// c·RMSNorm (the blocks' LN scale) at [65,536, 512]: y = x·(c·r) with r's sum in double in another
// order than the CPU's, rounded once: fp32 within an ulp (nmse as rms_norm's), bf16 within a step;
// the backward (fp32 only) likewise.
TEST(CudaRealShapes, rms_norm_scaled_over_the_residual_stream) {
  GOLF_SKIP_WITHOUT_CUDA();
  const int64_t rows = 65536, d = 512;
  const double eps = 1.1920928955078125e-07, c = 1.0 / std::sqrt(3.0);
  const Tensor x = uniform({rows, d}, 71, 2.0), dy = uniform({rows, d}, 72);
  const Tensor x64 = f64_of(x), dy64 = f64_of(dy);
  Tensor want({rows, d}, DType::f64), want_dx({rows, d}, DType::f64);
  cpu::rms_norm_scaled<double>(rows, d, eps, c, x64.data<double>(), want.data<double>());
  cpu::rms_norm_scaled_backward<double>(rows, d, eps, c, x64.data<double>(), dy64.data<double>(),
                                        want_dx.data<double>());
  const Tensor xd = on_device(x), dyd = on_device(dy);
  Tensor y = on_cuda({rows, d}, DType::f32), y16 = on_cuda({rows, d}, DType::bf16), dx = on_cuda({rows, d}, DType::f32);
  cuda::rms_norm_scaled(rows, d, eps, c, xd.data<float>(), out_of(y));
  cuda::rms_norm_scaled(rows, d, eps, c, xd.data<float>(), out_of(y16));
  cuda::rms_norm_scaled_backward(rows, d, eps, c, xd.data<float>(), dyd.data<float>(), dx.data<float>());
  const Tensor hy = on_host(y), hy16 = on_host(y16), hdx = on_host(dx);
  EXPECT_LT(nmse(hy, want), kNmseF32) << describe_diff(hy, want);
  EXPECT_LT(nmse(hdx, want_dx), kNmseF32) << "backward; " << describe_diff(hdx, want_dx);
  expect_rounded_once("rms_norm_scaled", hy16, hy);
  expect_bf16_ulps("rms_norm_scaled", hy16, want, 1);
}
#else
TEST(CudaRealShapes, need_a_cuda_build) { GOLF_SKIP_WITHOUT_CUDA(); }
#endif

}  // namespace
}  // namespace golf
