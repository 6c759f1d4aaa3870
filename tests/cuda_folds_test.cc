// The gradient sums folded into their producers (issue 18; runtime/fuse_pass.h's
// fold_gradient_sums) on CUDA at the baseline's real sizes: cuda::matmul's epilogue add (cuBLASLt's
// β = 1, matmul_add), cuda::rms_norm_backward's add (rms_norm_backward_add),
// cuda::channel_scale_backward_add, the pre-norm fused into the residual op (residual_norm.cu:
// mix_rms_norm, add_scaled_rms_norm), and the matmul's
// storage types of the bf16 contract (operands stored in bf16 and read as they are, a bf16
// output). Each is compared with the unfolded computation on the same GPU (the product, then the
// sum) and with kernels/cpu/* on the same inputs; tolerances are stated where each is checked.
//
// Sizes per micro-batch of 64 × 1024 tokens: the normed input's gradient dx [65,536, 512] =
// dq·W_q + dk·W_k + dv·W_v (K = 512 per product, the k/v products 256 wide in the baseline's GQA:
// K = 256), the residual's gradient through rms_norm over rows of 512 (a warp per row) and a
// longer row (a block per row).
//
// Skips without a CUDA device or in a build without CUDA (tests/support/cuda.h).
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

#ifdef GOLFRT_WITH_CUDA
float bf16_round(float x) { return bf16_to_f32(f32_to_bf16(x)); }

// A bf16 copy of a device fp32 tensor, in memory of its own (freed by the owner).
struct Bf16Buffer {
  void* p = nullptr;
  int64_t n = 0;
  explicit Bf16Buffer(int64_t elems) : p(cuda::device_alloc(size_t(elems) * 2)), n(elems) {}
  ~Bf16Buffer() { cuda::device_free(p); }
  Bf16Buffer(const Bf16Buffer&) = delete;
  Bf16Buffer& operator=(const Bf16Buffer&) = delete;
  std::vector<float> to_host() const {
    std::vector<uint16_t> h(static_cast<size_t>(n));
    cuda::copy_to_host(h.data(), p, size_t(n) * 2);
    std::vector<float> f(static_cast<size_t>(n));
    for (size_t i = 0; i < f.size(); i++) f[i] = bf16_to_f32(h[i]);
    return f;
  }
};

// The sum of a product rounded to fp32 and an addend, rounded again (the unfolded graph), against
// the product plus the addend rounded once (the epilogue): at most an ulp or so of the larger of
// the two terms apart. 1e-6 relative is 8 ulps of fp32.
void expect_sum_within_rounding(const Tensor& got, const Tensor& product, const Tensor& addend, const char* what) {
  const float *g = got.data<float>(), *p = product.data<float>(), *a = addend.data<float>();
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < got.numel(); i++) {
    const double want = double(p[i]) + double(a[i]);
    const double tol = 1e-6 * (std::fabs(double(p[i])) + std::fabs(double(a[i]))) + 1e-30;
    if (std::fabs(double(g[i]) - want) > tol) bad++, first = first < 0 ? i : first;
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " elements off, the first at " << first << ": got " << g[first < 0 ? 0 : first]
                    << ", product " << p[first < 0 ? 0 : first] << " + addend " << a[first < 0 ? 0 : first];
}

// C = op(A)·op(B) (+ addend) at `samples` points against the exact dot product of the
// bf16-rounded inputs in double (+ the addend): normalized MSE. fp32 accumulation of K products:
// ≈ √K·2⁻²⁴ relative, so nmse ≈ 1e-11 at K = 512; 1e-8 leaves room for cuBLASLt's order.
double sampled_nmse(const Tensor& c, const Tensor& a, bool ta, const Tensor& b, bool tb, const float* addend, int64_t m,
                    int64_t n, int64_t k, int samples) {
  const float *pa = a.data<float>(), *pb = b.data<float>(), *pc = c.data<float>();
  double num = 0, den = 0;
  Rng rng(91);
  for (int s = 0; s < samples; s++) {
    const int64_t i = int64_t(rng.below(uint64_t(m))), j = int64_t(rng.below(uint64_t(n)));
    double want = addend ? double(addend[i * n + j]) : 0.0;
    for (int64_t p = 0; p < k; p++) {
      const float x = ta ? pa[p * m + i] : pa[i * k + p];
      const float y = tb ? pb[j * k + p] : pb[p * n + j];
      want += double(bf16_round(x)) * double(bf16_round(y));
    }
    num += (double(pc[i * n + j]) - want) * (double(pc[i * n + j]) - want);
    den += want * want;
  }
  return num / den;
}
constexpr double kNmseMatmul = 1e-8;
#endif

// The normed input's gradient, one term folded: dx = acc + dy·W (W [512, 512] not transposed, as
// matmul's gradient rule builds it) at 65,536 rows, bf16 operands; out of place and in place
// (C = D, the same descriptor), against the product then the sum, and the CPU's reference.
TEST(CudaFolds, matmul_epilogue_add_at_the_baseline_gradient_shape) {
  GOLF_SKIP_WITHOUT_CUDA();
#ifdef GOLFRT_WITH_CUDA
  const int64_t M = 65536, K = 512, N = 512;
  const Tensor dy = normal({M, K}, 1), w = normal({K, N}, 2, 1.0 / std::sqrt(double(K))), acc = normal({M, N}, 3);
  const Tensor ddy = on_device(dy), dw = on_device(w), dacc = on_device(acc);
  Tensor product({M, N}, DType::f32, Device::cuda), folded({M, N}, DType::f32, Device::cuda);
  cuda::matmul(1, M, N, K, {ddy.data<float>()}, false, {dw.data<float>()}, false, 0, {product.data<float>()},
               cuda::MatmulPrecision::bf16);
  cuda::matmul(1, M, N, K, {ddy.data<float>()}, false, {dw.data<float>()}, false, 0, {folded.data<float>()},
               cuda::MatmulPrecision::bf16, nullptr, nullptr, dacc.data<float>());
  Tensor in_place = acc.to_device(Device::cuda);  // D = C: the addend's buffer receives the sum
  cuda::matmul(1, M, N, K, {ddy.data<float>()}, false, {dw.data<float>()}, false, 0, {in_place.data<float>()},
               cuda::MatmulPrecision::bf16, nullptr, nullptr, in_place.data<float>());
  const Tensor hp = on_host(product), hf = on_host(folded), hi = on_host(in_place);
  expect_sum_within_rounding(hf, hp, acc, "out of place");
  expect_sum_within_rounding(hi, hp, acc, "in place");
  EXPECT_LT(sampled_nmse(hf, dy, false, w, false, acc.data<float>(), M, N, K, 512), kNmseMatmul);
  // The addend really was added (a test that cannot fail otherwise: the product alone is far off).
  EXPECT_GT(sampled_nmse(hp, dy, false, w, false, acc.data<float>(), M, N, K, 64), 0.1);
#endif
}

// A transposed A against a shared B runs one cuBLASLt call per problem: each gets its own slice of
// the addend. And the fp32 path (tests, matmul_fp32) takes the add too.
TEST(CudaFolds, matmul_epilogue_add_per_problem_and_on_the_fp32_path) {
  GOLF_SKIP_WITHOUT_CUDA();
#ifdef GOLFRT_WITH_CUDA
  const int64_t B = 4, M = 256, K = 1024, N = 192;
  const Tensor at = normal({B, K, M}, 4), w = normal({K, N}, 5, 1.0 / 32), acc = normal({B, M, N}, 6);
  const Tensor dat = on_device(at), dw = on_device(w), dacc = on_device(acc);
  for (bool fp32 : {false, true}) {
    const auto p = fp32 ? cuda::MatmulPrecision::fp32 : cuda::MatmulPrecision::bf16;
    Tensor product({B, M, N}, DType::f32, Device::cuda), folded({B, M, N}, DType::f32, Device::cuda);
    cuda::matmul(B, M, N, K, {dat.data<float>()}, true, {dw.data<float>()}, false, 0, {product.data<float>()}, p);
    cuda::matmul(B, M, N, K, {dat.data<float>()}, true, {dw.data<float>()}, false, 0, {folded.data<float>()}, p, nullptr,
                 nullptr, dacc.data<float>());
    expect_sum_within_rounding(on_host(folded), on_host(product), acc, fp32 ? "fp32, per problem" : "bf16, per problem");
  }
#endif
}

// Operands stored in bf16 are read as they are: the same bits as the fp32 operands converted into
// scratch by the same rounding (the executor's two ways to the same product). A bf16 output is
// the fp32 accumulator rounded once: within one bf16 ulp (at most 2⁻⁷ relative) of the fp32
// output rounded to bf16 (cuBLASLt may pick another algorithm for another D type, so not bit for
// bit).
TEST(CudaFolds, matmul_bf16_stored_operands_and_bf16_output) {
  GOLF_SKIP_WITHOUT_CUDA();
#ifdef GOLFRT_WITH_CUDA
  const int64_t M = 65536, K = 512, N = 1024;  // the MLP's fc: x·Wᵀ
  const Tensor x = normal({M, K}, 7), w = normal({N, K}, 8, 1.0 / std::sqrt(double(K)));
  const Tensor dx = on_device(x), dw = on_device(w);
  Bf16Buffer x16(M * K), w16(N * K);
  cuda::to_bf16(M * K, dx.data<float>(), x16.p);
  cuda::to_bf16(N * K, dw.data<float>(), w16.p);
  Tensor from_fp32({M, N}, DType::f32, Device::cuda), from_bf16({M, N}, DType::f32, Device::cuda);
  cuda::matmul(1, M, N, K, {dx.data<float>()}, false, {dw.data<float>()}, true, 0, {from_fp32.data<float>()},
               cuda::MatmulPrecision::bf16);
  cuda::matmul(1, M, N, K, {x16.p, true}, false, {w16.p, true}, true, 0, {from_bf16.data<float>()},
               cuda::MatmulPrecision::bf16);
  Bf16Buffer out16(M * N);
  cuda::matmul(1, M, N, K, {x16.p, true}, false, {dw.data<float>()}, true, 0, {out16.p, true}, cuda::MatmulPrecision::bf16);
  const Tensor h32 = on_host(from_fp32), h16in = on_host(from_bf16);
  const std::vector<float> h16out = out16.to_host();
  int64_t differ = 0, off = 0;
  for (int64_t i = 0; i < h32.numel(); i++) {
    const float f = h32.data<float>()[i];
    differ += h16in.data<float>()[i] != f;
    const float want = bf16_round(f);
    // One bf16 ulp is at most 2⁻⁷ of the value; 1e-5 absolute covers another algorithm's fp32
    // accumulation (≈ √K·2⁻²⁴ of these unit-sized sums) near zero.
    off += std::fabs(double(h16out[size_t(i)]) - double(want)) > std::ldexp(std::fabs(double(want)), -7) + 1e-5;
  }
  EXPECT_EQ(differ, 0) << "bf16-stored operands gave other bits than the converted fp32 ones";
  EXPECT_EQ(off, 0) << "bf16 outputs more than one rounding from the fp32 output";
  EXPECT_LT(sampled_nmse(h32, x, false, w, true, nullptr, M, N, K, 512), kNmseMatmul);
#endif
}

// rms_norm_backward with the addend: the same bits as the backward and then the sum (the kernel
// adds after rounding, as the unfolded graph), and the CPU's rms_norm_backward_add within the fp32
// rounding of a value computed in double (nmse < 1e-12), at rows of 512 (warp per row) and 2,048
// (block per row).
TEST(CudaFolds, rms_norm_backward_add_at_the_baseline_residual_shape) {
  GOLF_SKIP_WITHOUT_CUDA();
#ifdef GOLFRT_WITH_CUDA
  for (const auto& [rows, d] : std::vector<std::pair<int64_t, int64_t>>{{65536, 512}, {4096, 2048}}) {
    const Tensor x = normal({rows, d}, 9), dy = normal({rows, d}, 10), acc = normal({rows, d}, 11);
    const Tensor dx_ = on_device(x), ddy = on_device(dy), dacc = on_device(acc);
    Tensor plain({rows, d}, DType::f32, Device::cuda), folded({rows, d}, DType::f32, Device::cuda);
    cuda::rms_norm_backward(rows, d, 1e-6, dx_.data<float>(), ddy.data<float>(), plain.data<float>());
    cuda::rms_norm_backward(rows, d, 1e-6, dx_.data<float>(), ddy.data<float>(), folded.data<float>(), dacc.data<float>());
    const Tensor hp = on_host(plain), hf = on_host(folded);
    Tensor cpu({rows, d}, DType::f32);
    cpu::rms_norm_backward_add<float>(rows, d, 1e-6, x.data<float>(), dy.data<float>(), acc.data<float>(), cpu.data<float>());
    int64_t differ = 0;
    double num = 0, den = 0;
    for (int64_t i = 0; i < hf.numel(); i++) {
      const float want = hp.data<float>()[i] + acc.data<float>()[i];
      differ += hf.data<float>()[i] != want;
      const double e = double(hf.data<float>()[i]) - double(cpu.data<float>()[i]);
      num += e * e;
      den += double(cpu.data<float>()[i]) * double(cpu.data<float>()[i]);
    }
    EXPECT_EQ(differ, 0) << "rows of " << d << ": the folded sum differs from the backward then the add";
    EXPECT_LT(num / den, 1e-12) << "rows of " << d << " against the CPU";
  }
#endif
}

// channel_scale_backward with the addend (channel_scale_backward_add: the x0 stream's gradient
// sums) at the baseline's residual shape, [65,536, 512] with w [512]: du the same bits as the
// plain kernel's du then the sum (the product rounds, then the sum, as the unfolded graph), and as
// the CPU's (the same two fp32 operations); dw the plain kernel's bits (the same kernel and order)
// and the CPU's within fp32 rounding of a double sum (relative 1e-6: the two sum in different
// orders).
TEST(CudaFolds, channel_scale_backward_add_at_the_baseline_residual_shape) {
  GOLF_SKIP_WITHOUT_CUDA();
#ifdef GOLFRT_WITH_CUDA
  const int64_t rows = 65536, d = 512;
  const Tensor u = normal({rows, d}, 21), w = normal({d}, 22), g = normal({rows, d}, 23), acc = normal({rows, d}, 24);
  const Tensor du_ = on_device(u), dw_ = on_device(w), dg = on_device(g), dacc = on_device(acc);
  Tensor plain({rows, d}, DType::f32, Device::cuda), folded({rows, d}, DType::f32, Device::cuda);
  Tensor plain_w({d}, DType::f32, Device::cuda), folded_w({d}, DType::f32, Device::cuda);
  cuda::channel_scale_backward(rows, d, cuda::Real{du_.data<float>()}, dw_.data<float>(), dg.data<float>(),
                               cuda::RealOut{plain.data<float>(), false}, plain_w.data<float>());
  cuda::channel_scale_backward_add(rows, d, du_.data<float>(), dw_.data<float>(), dg.data<float>(), dacc.data<float>(),
                                   folded.data<float>(), folded_w.data<float>());
  const Tensor hp = on_host(plain), hf = on_host(folded), hpw = on_host(plain_w), hfw = on_host(folded_w);
  Tensor cpu({rows, d}, DType::f32), cpu_w({d}, DType::f32);
  cpu::channel_scale_backward_add<float>(rows, d, u.data<float>(), w.data<float>(), g.data<float>(), acc.data<float>(),
                                         cpu.data<float>(), cpu_w.data<float>());
  int64_t differ = 0, differ_cpu = 0;
  for (int64_t i = 0; i < hf.numel(); i++) {
    const float want = hp.data<float>()[i] + acc.data<float>()[i];
    differ += hf.data<float>()[i] != want;
    differ_cpu += hf.data<float>()[i] != cpu.data<float>()[i];
  }
  EXPECT_EQ(differ, 0) << "the folded sum differs from the plain du then the add";
  EXPECT_EQ(differ_cpu, 0) << "du differs from the CPU's";
  for (int64_t j = 0; j < d; j++) {
    EXPECT_EQ(hfw.data<float>()[j], hpw.data<float>()[j]) << "dw[" << j << "] differs from the plain kernel's";
    const double want = cpu_w.data<float>()[j];
    EXPECT_NEAR(hfw.data<float>()[j], want, 1e-6 * std::fabs(want) + 1e-6) << "dw[" << j << "] against the CPU";
  }
#endif
}

// The pre-norm fused into the residual op (mix_rms_norm, add_scaled_rms_norm) at the baseline's
// residual shape, [65,536, 512] (a warp per row), and at rows of 2,048 (a block per row): the
// stream and its norm the same bits as cuda::mix / cuda::add_scaled then cuda::rms_norm (the same
// arithmetic in the same order); the bf16 norm the fp32 norm rounded once (bf16_round of it, bit
// for bit); against kernels/cpu/residual_norm.cc within fp32 rounding (the CPU compiler may fuse
// the stream's multiply and add: relative 1e-6 on the stream, nmse < 1e-12 on the norm).
TEST(CudaFolds, residual_norm_at_the_baseline_residual_shape) {
  GOLF_SKIP_WITHOUT_CUDA();
#ifdef GOLFRT_WITH_CUDA
  for (const auto& [rows, d] : std::vector<std::pair<int64_t, int64_t>>{{65536, 512}, {4096, 2048}}) {
    for (bool mix : {true, false}) {
      const Tensor a = normal({rows, d}, 31), b = normal({rows, d}, 32), wa = normal({d}, 33), wb = normal({d}, 34);
      const Tensor da = on_device(a), db = on_device(b), dwa = on_device(wa), dwb = on_device(wb);
      Tensor s_plain({rows, d}, DType::f32, Device::cuda), n_plain({rows, d}, DType::f32, Device::cuda);
      Tensor s_fused({rows, d}, DType::f32, Device::cuda), n_fused({rows, d}, DType::f32, Device::cuda);
      Tensor s_b({rows, d}, DType::f32, Device::cuda);
      Bf16Buffer n_bf16(rows * d);
      if (mix) {
        cuda::mix(rows, d, da.data<float>(), db.data<float>(), dwa.data<float>(), dwb.data<float>(), s_plain.data<float>());
        cuda::mix_rms_norm(rows, d, 1e-6, da.data<float>(), db.data<float>(), dwa.data<float>(), dwb.data<float>(),
                           s_fused.data<float>(), cuda::RealOut{n_fused.data<float>(), false});
        cuda::mix_rms_norm(rows, d, 1e-6, da.data<float>(), db.data<float>(), dwa.data<float>(), dwb.data<float>(),
                           s_b.data<float>(), cuda::RealOut{n_bf16.p, true});
      } else {
        cuda::add_scaled(rows, d, da.data<float>(), cuda::Real{db.data<float>()}, dwa.data<float>(), s_plain.data<float>());
        cuda::add_scaled_rms_norm(rows, d, 1e-6, da.data<float>(), cuda::Real{db.data<float>()}, dwa.data<float>(),
                                  s_fused.data<float>(), cuda::RealOut{n_fused.data<float>(), false});
        cuda::add_scaled_rms_norm(rows, d, 1e-6, da.data<float>(), cuda::Real{db.data<float>()}, dwa.data<float>(),
                                  s_b.data<float>(), cuda::RealOut{n_bf16.p, true});
      }
      cuda::rms_norm(rows, d, 1e-6, s_plain.data<float>(), cuda::RealOut{n_plain.data<float>(), false});
      const Tensor hs = on_host(s_plain), hn = on_host(n_plain), fs = on_host(s_fused), fn = on_host(n_fused);
      const Tensor bs = on_host(s_b);
      const std::vector<float> fb = n_bf16.to_host();
      Tensor cs({rows, d}, DType::f32), cn({rows, d}, DType::f32);
      if (mix)
        cpu::mix_rms_norm<float>(rows, d, 1e-6, a.data<float>(), b.data<float>(), wa.data<float>(), wb.data<float>(),
                                 cs.data<float>(), cn.data<float>());
      else
        cpu::add_scaled_rms_norm<float>(rows, d, 1e-6, a.data<float>(), b.data<float>(), wa.data<float>(), cs.data<float>(),
                                        cn.data<float>());
      int64_t differ_s = 0, differ_n = 0, differ_b = 0, far_s = 0;
      double num = 0, den = 0;
      for (int64_t i = 0; i < fs.numel(); i++) {
        differ_s += fs.data<float>()[i] != hs.data<float>()[i] || bs.data<float>()[i] != hs.data<float>()[i];
        differ_n += fn.data<float>()[i] != hn.data<float>()[i];
        differ_b += fb[size_t(i)] != bf16_round(fn.data<float>()[i]);
        const double want = cs.data<float>()[i];
        far_s += std::fabs(double(fs.data<float>()[i]) - want) > 1e-6 * std::fabs(want) + 1e-7;
        const double e = double(fn.data<float>()[i]) - double(cn.data<float>()[i]);
        num += e * e;
        den += double(cn.data<float>()[i]) * double(cn.data<float>()[i]);
      }
      const char* what = mix ? "mix_rms_norm" : "add_scaled_rms_norm";
      EXPECT_EQ(differ_s, 0) << what << ", rows of " << d << ": the stream differs from the unfused op's";
      EXPECT_EQ(differ_n, 0) << what << ", rows of " << d << ": the norm differs from rms_norm of the stream";
      EXPECT_EQ(differ_b, 0) << what << ", rows of " << d << ": the bf16 norm is not the fp32 norm rounded once";
      EXPECT_EQ(far_s, 0) << what << ", rows of " << d << ": the stream against the CPU";
      EXPECT_LT(num / den, 1e-12) << what << ", rows of " << d << ": the norm against the CPU";
    }
  }
#endif
}

}  // namespace
}  // namespace golf
