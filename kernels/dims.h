// Shape helpers the CPU kernels and their CUDA twins share (host code only).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/op_kinds.h"

namespace golf::kernels {

inline int64_t numel(const Dims& d) {
  int64_t n = 1;
  for (int64_t v : d) n *= v;
  return n;
}

// "[2, 3, 4]", for error messages.
inline std::string dims_str(const Dims& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

// `small` broadcasts to `big`: the same rank, each axis equal or 1. Kernels check this themselves
// because they are callable without the graph's shape rules (tests, benchmarks).
inline void check_broadcast_dims(const char* what, const Dims& big, const Dims& small) {
  if (big.size() != small.size())
    throw std::invalid_argument(std::string(what) + ": ranks differ (" + std::to_string(small.size()) + " against " +
                                std::to_string(big.size()) + ": " + dims_str(small) + " against " + dims_str(big) + ")");
  for (size_t r = 0; r < big.size(); ++r)
    if (small[r] != big[r] && small[r] != 1)
      throw std::invalid_argument(std::string(what) + ": axis " + std::to_string(r) + " has " +
                                  std::to_string(small[r]) + " against " + std::to_string(big[r]));
}

}  // namespace golf::kernels
