// What CUDA tests share: why they must skip (no device, or a build without CUDA), and the
// normalized MSE they compare CUDA results to the CPU reference by.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "runtime/rng.h"
#include "runtime/tensor.h"
#ifdef GOLFRT_WITH_CUDA
#include "kernels/cuda/device.h"
#endif

namespace golf {

// "" when a CUDA device can be used; otherwise the reason a test skips.
inline std::string cuda_unavailable() {
#ifdef GOLFRT_WITH_CUDA
  std::string why;
  if (cuda::device_count(&why) > 0) return "";
  return "no usable CUDA device (" + (why.empty() ? std::string("none found") : why) + ")";
#else
  return "golfrt was built without CUDA";
#endif
}

// GOLFRT_REQUIRE_CUDA=1 (scripts/gpu/run.sh on the GPU machine) turns the skip into a failure:
// there, a missing device is a broken machine, not a reason to pass.
inline bool cuda_required() {
  const char* r = std::getenv("GOLFRT_REQUIRE_CUDA");
  return r && std::string(r) == "1";
}

#define GOLF_SKIP_WITHOUT_CUDA()                                             \
  do {                                                                       \
    const std::string why_ = ::golf::cuda_unavailable();                     \
    if (!why_.empty()) {                                                     \
      if (::golf::cuda_required()) FAIL() << why_ << " (GOLFRT_REQUIRE_CUDA=1)"; \
      GTEST_SKIP() << why_;                                                  \
    }                                                                        \
  } while (0)

// Σ(got − want)² / Σ want², both host tensors (f32 or f64) of the same shape; an all-zero `want`
// compares the plain squared error.
inline double nmse(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  double num = 0, den = 0;
  for (int64_t i = 0; i < want.numel(); i++) {
    const double d = got.get(i) - want.get(i);
    num += d * d;
    den += want.get(i) * want.get(i);
  }
  return num / std::max(den, 1e-30);
}

// Where two tensors differ most, for a failure message: the worst element's coordinates and both
// values, and how many elements differ by more than 1e-5 relative (a kernel's indexing bug shows
// as a pattern of coordinates; rounding shows as a spread of tiny differences).
inline std::string describe_diff(const Tensor& got, const Tensor& want) {
  int64_t worst = -1, off = 0;
  double worst_d = -1, scale = 0;
  for (int64_t i = 0; i < want.numel(); i++) scale = std::max(scale, std::abs(want.get(i)));
  for (int64_t i = 0; i < want.numel(); i++) {
    const double d = std::abs(got.get(i) - want.get(i));
    if (d > worst_d) worst_d = d, worst = i;
    if (d > 1e-5 * std::max(scale, 1e-30)) off++;
  }
  if (worst < 0) return "(empty)";
  std::string at;
  int64_t rest = worst;
  for (int r = want.rank() - 1; r >= 0; r--) {
    at = std::to_string(rest % want.dim(r)) + (at.empty() ? "" : ", ") + at;
    rest /= want.dim(r);
  }
  return "worst at [" + at + "]: got " + std::to_string(got.get(worst)) + ", want " + std::to_string(want.get(worst)) +
         "; " + std::to_string(off) + " of " + std::to_string(want.numel()) + " elements off by > 1e-5 of max |want| " +
         std::to_string(scale);
}

// Limits on nmse, per what the CUDA side computes in: fp32 math differs from the CPU's by a few
// ulps (≈1e-7 relative, nmse ≈ 1e-14; the limit leaves room for reassociated sums); bf16 matmul
// inputs carry 8 bits of mantissa (≈4e-3 relative per input).
constexpr double kNmseF32 = 1e-10;
constexpr double kNmseBf16 = 1e-4;

// Seeded normal values, and the copies to and from the device the CUDA tests make.
inline Tensor normal(Shape s, uint64_t seed, double scale = 1.0) {
  Tensor t(std::move(s), DType::f32);
  Rng rng(seed);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); i++) p[i] = float(scale * rng.normal());
  return t;
}
inline Tensor on_device(const Tensor& t) { return t.to_device(Device::cuda); }
inline Tensor on_host(const Tensor& t) { return t.to_device(Device::cpu); }

}  // namespace golf
