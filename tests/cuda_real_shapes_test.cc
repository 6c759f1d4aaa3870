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
// Skip without a CUDA device or in a build without CUDA (tests/support/cuda.h).
#include <gtest/gtest.h>

#include <cmath>
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

Tensor normal(Shape s, uint64_t seed, double scale = 1.0) {
  Tensor t(std::move(s), DType::f32);
  Rng rng(seed);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); i++) p[i] = float(scale * rng.normal());
  return t;
}

Tensor as_f64(const Tensor& t) { return t.to(DType::f64); }

float bf16_round(float x) { return bf16_to_f32(f32_to_bf16(x)); }

#ifdef GOLFRT_WITH_CUDA
Tensor on_device(const Tensor& t) { return t.to_device(Device::cuda); }
Tensor on_host(const Tensor& t) { return t.to_device(Device::cpu); }

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
  cuda::matmul(1, M, N, K, {ddy.data<float>()}, true, {dx.data<float>()}, false, K * N, {c.data<float>()},
               cuda::MatmulPrecision::bf16);
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
  cuda::matmul(1, M, N, K, {dx.data<float>()}, false, {dw.data<float>()}, true, 0, {c.data<float>()},
               cuda::MatmulPrecision::bf16);
  void* w16 = cuda::device_alloc(size_t(N * K) * 2);
  cuda::to_bf16(N * K, dw.data<float>(), w16);
  cuda::matmul(1, M, N, K, {dx.data<float>()}, false, {dw.data<float>()}, true, 0, {c2.data<float>()},
               cuda::MatmulPrecision::bf16, nullptr, w16);
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
  cuda::rms_norm(rows, d, eps, dxd.data<float>(), y.data<float>());
  cuda::rms_norm_backward(rows, d, eps, dxd.data<float>(), dyd.data<float>(), dx.data<float>());
  const Tensor hy = on_host(y), hdx = on_host(dx);
  EXPECT_LT(nmse(hy, want), kNmseF32) << rows << " x " << d << "; " << describe_diff(hy, want);
  EXPECT_LT(nmse(hdx, want_dx), kNmseF32) << rows << " x " << d << " backward; " << describe_diff(hdx, want_dx);
}

TEST(CudaRealShapes, rms_norm_rows_of_a_micro_batch) {
  GOLF_SKIP_WITHOUT_CUDA();
  check_rms_norm(524288, 64, 11);  // per-head q/k norms: a warp per row
  check_rms_norm(65536, 512, 12);  // the blocks' norms: a warp per row
  check_rms_norm(4099, 1025, 13);  // just past the warp limit: a block per row, a ragged last warp-block
}

void check_cross_entropy(int64_t n, int64_t v, uint64_t seed) {
  const double softcap = 30;
  const Tensor x = normal({n, v}, seed, 3.0), dloss = normal({n}, seed + 1, 1e-3);
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
  cuda::cross_entropy(n, v, softcap, xd.data<float>(), td.data<int32_t>(), loss.data<float>(), 0);
  cuda::cross_entropy_backward(n, v, softcap, xd.data<float>(), td.data<int32_t>(), dld.data<float>(), dx.data<float>(), 0);
  const Tensor hl = on_host(loss), hdx = on_host(dx);
  EXPECT_EQ(cuda::take_fault().code, cuda::Fault::none);
  EXPECT_LT(nmse(hl, want), kNmseF32) << n << " x " << v << "; " << describe_diff(hl, want);
  EXPECT_LT(nmse(hdx, want_dx), kNmseF32) << n << " x " << v << " backward; " << describe_diff(hdx, want_dx);
}

TEST(CudaRealShapes, cross_entropy_over_a_micro_batch_of_logits) {
  GOLF_SKIP_WITHOUT_CUDA();
  check_cross_entropy(65536, 1024, 21);  // the baseline's vocabulary: a warp per row
  check_cross_entropy(257, 8192, 22);    // a long row: a block per row
}
#else
TEST(CudaRealShapes, need_a_cuda_build) { GOLF_SKIP_WITHOUT_CUDA(); }
#endif

}  // namespace
}  // namespace golf
