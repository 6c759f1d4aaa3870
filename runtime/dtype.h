// Element types and the two half-precision conversions every backend shares.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace golf {

enum class DType : uint8_t { f32, f64, bf16, f16, i32, u16, i8, u8 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
bool dtype_is_float(DType t);
DType dtype_from_name(const std::string& name);  // throws on an unknown name

// Round-to-nearest-even, NaN kept quiet: the same rounding cuBLASLt and PyTorch use.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);

}  // namespace golf
