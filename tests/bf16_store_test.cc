// kernels/cuda/bf16_store.h on the host: the rounding and the stores that the CUDA kernels run
// (host and device compile the same code), checked without a GPU. The expected bits come from
// three places that do not share code: values worked out by hand, golf::f32_to_bf16
// (runtime/dtype.h, the CPU's rounding), and a nearest-value search in double; in a CUDA build
// also cuda_bf16.h's __float2bfloat16_rn (its host path), which gives the same bits except for
// NaN's payload. A rounding that truncates, rounds ties away from zero or loses NaN fails here
// (checked: bf16_rn_bits made to truncate fails three of these tests, made to round ties away
// from zero fails two).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/cuda/bf16_store.h"
#include "runtime/dtype.h"
#ifdef GOLFRT_WITH_CUDA
#include <cuda_bf16.h>
#endif

namespace golf {
namespace {

using cuda::bf16_bits_to_float;
using cuda::bf16_rn_bits;

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint32_t to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// The bf16 nearest to a finite f, found by comparing distances in double (exact for floats):
// the two bf16 neighbours are f's bits with the low half cleared and the next bf16 away from
// zero (infinity past the largest finite, at 2^128 for the distance). Ties go to the even one.
uint16_t nearest_bf16(float f) {
  const uint32_t u = to_bits(f);
  if (std::isinf(f)) return uint16_t(u >> 16);
  const uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
  const double dlo = std::abs(double(f) - double(from_bits(lo)));
  const bool hi_inf = (hi & 0x7fffffffu) == 0x7f800000u;
  const double hi_value = hi_inf ? std::copysign(std::ldexp(1.0, 128), double(f)) : double(from_bits(hi));
  const double dhi = std::abs(hi_value - double(f));
  if (dlo < dhi) return uint16_t(lo >> 16);
  if (dhi < dlo) return uint16_t(hi >> 16);
  return ((lo >> 16) & 1u) == 0 ? uint16_t(lo >> 16) : uint16_t(hi >> 16);
}

TEST(Bf16Store, special_values_round_to_the_bits_worked_out_by_hand) {
  struct Case {
    uint32_t in;
    uint16_t out;
    const char* what;
  };
  const Case cases[] = {
      {0x00000000u, 0x0000, "+0"},
      {0x80000000u, 0x8000, "-0"},
      {0x3f800000u, 0x3f80, "1 (exact)"},
      {0xbf800000u, 0xbf80, "-1 (exact)"},
      {0x3f808000u, 0x3f80, "1 + 2^-8: a tie, to even (down)"},
      {0x3f818000u, 0x3f82, "1 + 3·2^-8: a tie, to even (up)"},
      {0xbf818000u, 0xbf82, "-(1 + 3·2^-8): a tie, to even (away from zero)"},
      {0x3f808001u, 0x3f81, "just above a tie: up"},
      {0x3f807fffu, 0x3f80, "just below a tie: down"},
      {0x3fffffffu, 0x4000, "the mantissa carries into the exponent"},
      {0x00000001u, 0x0000, "the smallest denormal: to +0"},
      {0x80000001u, 0x8000, "minus the smallest denormal: to -0"},
      {0x00008000u, 0x0000, "a denormal tie: to even (zero)"},
      {0x00018000u, 0x0002, "a denormal tie: to even (up)"},
      {0x00010000u, 0x0001, "the smallest bf16 denormal (exact)"},
      {0x007fffffu, 0x0080, "the largest denormal: up to the smallest normal"},
      {0x00800000u, 0x0080, "the smallest normal (exact)"},
      {0x7f7f7fffu, 0x7f7f, "the largest float that rounds to bf16's largest"},
      {0x7f7f8000u, 0x7f80, "a tie above bf16's largest (odd): to infinity"},
      {0x7f7fffffu, 0x7f80, "FLT_MAX: to infinity"},
      {0xff7fffffu, 0xff80, "-FLT_MAX: to -infinity"},
      {0x7f800000u, 0x7f80, "+inf"},
      {0xff800000u, 0xff80, "-inf"},
      {0x7fc00000u, 0x7fc0, "the quiet NaN"},
      {0xffc00001u, 0xffc0, "a negative quiet NaN, payload below bf16's bits dropped"},
      {0x7f800001u, 0x7fc0, "a signalling NaN whose payload is all below bf16's bits: still NaN, quiet"},
      {0x7fa50000u, 0x7fe5, "a signalling NaN: quieted, payload kept"},
  };
  for (const Case& c : cases) {
    const float f = from_bits(c.in);
    EXPECT_EQ(bf16_rn_bits(f), c.out) << c.what << std::hex << " (input 0x" << c.in << ")";
    EXPECT_EQ(bf16_rn_bits(f), f32_to_bf16(f)) << c.what << " against golf::f32_to_bf16";
  }
}

// Every sign and exponent and the top of every mantissa (the high 16 bits, all 65,536) with the
// low halves that decide a rounding: exact, just above, below, at and past the midpoint, all ones.
TEST(Bf16Store, every_high_half_with_the_deciding_low_halves_matches_both_references) {
  const uint32_t lows[] = {0x0000u, 0x0001u, 0x4000u, 0x7fffu, 0x8000u, 0x8001u, 0xc000u, 0xffffu};
  int64_t nans = 0;
  for (uint32_t high = 0; high < 0x10000u; high++)
    for (uint32_t low : lows) {
      const uint32_t u = (high << 16) | low;
      const float f = from_bits(u);
      const uint16_t got = bf16_rn_bits(f);
      ASSERT_EQ(got, f32_to_bf16(f)) << std::hex << "input 0x" << u;
      if (std::isnan(f)) {
        ASSERT_TRUE(std::isnan(bf16_bits_to_float(got))) << std::hex << "input 0x" << u;
        ASSERT_NE(got & 0x40u, 0u) << std::hex << "NaN not quiet, input 0x" << u;
        nans++;
        continue;
      }
      ASSERT_EQ(got, nearest_bf16(f)) << std::hex << "input 0x" << u;
#ifdef GOLFRT_WITH_CUDA
      uint16_t nv;
      const __nv_bfloat16 b = __float2bfloat16_rn(f);
      std::memcpy(&nv, &b, 2);
      ASSERT_EQ(got, nv) << std::hex << "against __float2bfloat16_rn, input 0x" << u;
#endif
    }
  EXPECT_EQ(nans, 2 * 127 * 8 + 2 * 7) << "the sweep covers the NaN encodings it should";
}

TEST(Bf16Store, widening_is_exact) {
  for (uint32_t h = 0; h < 0x10000u; h++) {
    const float f = bf16_bits_to_float(uint16_t(h));
    ASSERT_EQ(to_bits(f), h << 16);
    if (!std::isnan(f)) {
      ASSERT_EQ(bf16_rn_bits(f), h) << "a bf16 value rounds to itself";
    }
  }
}

// store_real / load_real through host memory: the element named and no other, in the right type.
TEST(Bf16Store, store_and_load_touch_exactly_the_element_named) {
  const float v = from_bits(0x3f818000u);  // a tie: 1 + 3·2^-8 -> 1 + 2^-6
  std::vector<float> f32(5, -7.f);
  cuda::store_real(cuda::RealOut{f32.data(), false}, 2, v);
  EXPECT_EQ(to_bits(f32[2]), 0x3f818000u) << "fp32 stores the value unrounded";
  for (int i : {0, 1, 3, 4}) EXPECT_EQ(f32[i], -7.f) << "fp32 element " << i;
  EXPECT_EQ(cuda::load_real(cuda::Real{f32.data(), false}, 2), v);

  std::vector<uint16_t> b16(5, 0xabcd);
  cuda::store_real(cuda::RealOut{b16.data(), true}, 2, v);
  EXPECT_EQ(b16[2], 0x3f82) << "bf16 stores the rounded value";
  for (int i : {0, 1, 3, 4}) EXPECT_EQ(b16[i], 0xabcd) << "bf16 element " << i;
  EXPECT_EQ(cuda::load_real(cuda::Real{b16.data(), true}, 2), 1.f + std::ldexp(1.f, -6));
  EXPECT_EQ(cuda::load_real(cuda::Real{b16.data(), true}, 1), bf16_to_f32(0xabcd));
}

}  // namespace
}  // namespace golf
