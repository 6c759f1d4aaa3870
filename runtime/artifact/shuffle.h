// Byte shuffling: an array of n elements of `width` bytes is stored as `width` planes, plane b
// holding byte b of every element. The high bytes of fp16 scales and of float weights (sign and
// exponent) repeat far more than the low ones, and grouping them lets zstd and Brotli see that.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace golf {

// data.size() must be a multiple of width (throws std::invalid_argument otherwise).
std::string shuffle_bytes(std::string_view data, size_t width);
std::string unshuffle_bytes(std::string_view data, size_t width);

}  // namespace golf
