// Branch-free float exp and tanh for the CPU kernels' inner loops (attention's softmax, the
// softcapped cross entropy). glibc's expf/tanhf are not vectorized without -ffast-math; these
// are plain arithmetic and selects, so GCC vectorizes loops over them (SSE2 in the portable
// build, AVX2/AVX-512 with GOLFRT_NATIVE). Cephes' polynomials: about 2 ulp over the range used.
// Private to kernels/cpu/.
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace golf::cpu::vec {

// c ? a : b through bit masks. Under -ftrapping-math (the default) GCC keeps a float ternary as a
// branch and duplicates the code after it, which stops vectorization; masks it vectorizes.
inline float select(bool c, float a, float b) {
  const int32_t m = -static_cast<int32_t>(c);
  return std::bit_cast<float>((std::bit_cast<int32_t>(a) & m) | (std::bit_cast<int32_t>(b) & ~m));
}

// a > b ? a : b (b when either is NaN), as a vectorizable select.
inline float max(float a, float b) { return select(a > b, a, b); }
inline double max(double a, double b) { return a > b ? a : b; }

// e^x. x < −87 gives 0 (the true value is below 1.7e−38, near the subnormals); x > 88 saturates
// at e^88 (the kernels only exponentiate x − max ≤ 0); NaN stays NaN.
inline float exp(float x) {
  float xc = select(x < -87.0f, -87.0f, x);
  xc = select(xc > 88.0f, 88.0f, xc);
  // n = round(x·log2 e) by the 1.5·2^23 trick (round to nearest, vectorizes without SSE4.1).
  const float shifter = 12582912.0f;
  const float nf = (xc * 1.44269504088896341f + shifter) - shifter;
  // r = x − n·ln 2 in two parts (Cody–Waite), |r| <= ln2/2.
  float r = xc - nf * 0.693359375f;
  r = r - nf * -2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  // 2^n from its bits; n is in [−126, 127], a normal float. Below −87 the exponent field is set to
  // 0, making the factor 0.
  const int32_t keep = -static_cast<int32_t>(x >= -87.0f);  // all ones or 0; 0 for NaN too
  const int32_t e = (static_cast<int32_t>(nf) + 127) & keep;
  return p * std::bit_cast<float>(e << 23);
}

// tanh x: an odd polynomial below |x| = 0.625, 1 − 2/(e^{2|x|} + 1) above, the sign restored.
inline float tanh(float x) {
  const float a = std::abs(x);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  const float big = 1.0f - 2.0f / (vec::exp(2.0f * select(a > 44.0f, 44.0f, a)) + 1.0f);
  return select(a < 0.625f, small, std::copysign(big, x));
}

}  // namespace golf::cpu::vec
