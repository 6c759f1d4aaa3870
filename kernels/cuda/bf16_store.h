// The store and load of a Real / RealOut element (cuda_kernels.h): fp32 as is, or bf16. DESIGN §3's
// rule for a bf16-stored value: compute in fp32, round once at the store to nearest even; read
// back widened exactly. Host and device share this code (plain C++ outside nvcc), so
// tests/bf16_store_test.cc checks on the CPU, against golf::f32_to_bf16, the very rounding the
// kernels run: a GPU is not needed to find a bug in it.
//
// The rounding is integer arithmetic on the float's bits rather than cuda_bf16.h's
// __float2bfloat16_rn: the same result for every non-NaN input (round to nearest even; the test
// compares the two on the host in a CUDA build), NaN kept quiet with its payload as
// golf::f32_to_bf16 keeps it (cuda_bf16.h gives one canonical NaN), and no CUDA header, so a
// build without CUDA compiles and tests it. The few integer operations cost nothing next to the
// memory traffic of the kernels that store this way.
#pragma once
#include <cstdint>

#include "kernels/cuda/cuda_kernels.h"

#ifndef GOLF_HD  // as hashing/xxh3_small.h defines it
#ifdef __CUDACC__
#define GOLF_HD __host__ __device__
#else
#define GOLF_HD
#endif
#endif

namespace golf::cuda {

GOLF_HD inline uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  return u;
#endif
}

GOLF_HD inline float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
#endif
}

// f rounded to bf16, to nearest even (golf::f32_to_bf16's bits): adding 0x7fff plus the kept
// part's lowest bit carries into the kept 16 bits exactly when the dropped half is above the
// midpoint, or at it with an odd kept part. A carry out of the mantissa steps the exponent (the
// largest finite values round to infinity, as IEEE rounding does). NaN: quieted, payload kept.
GOLF_HD inline uint16_t bf16_rn_bits(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

GOLF_HD inline float bf16_bits_to_float(uint16_t h) { return bits_float(uint32_t(h) << 16); }

// y[i] = v: fp32 as is, or bf16 rounded once.
GOLF_HD inline void store_real(RealOut y, int64_t i, float v) {
  if (y.bf16) static_cast<uint16_t*>(y.p)[i] = bf16_rn_bits(v);
  else static_cast<float*>(y.p)[i] = v;
}

// x[i] widened to fp32 (exact for both storage types).
GOLF_HD inline float load_real(Real x, int64_t i) {
  return x.bf16 ? bf16_bits_to_float(static_cast<const uint16_t*>(x.p)[i]) : static_cast<const float*>(x.p)[i];
}

}  // namespace golf::cuda
