// What the golden tests against PyTorch share: whether Debian's torch is there, the relative
// norm error they compare with, and the one name golfrt and the reference spell differently.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "runtime/tensor.h"

namespace golf {

inline bool have_torch() { return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0; }

// ‖a − b‖ / ‖b‖
inline double rel_err(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); i++) {
    double d = a.get(i) - b.get(i);
    num += d * d;
    den += b.get(i) * b.get(i);
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

// golfrt keeps the U-Net's skip weights on the block stack that owns them.
inline std::string reference_name(const std::string& name) {
  return name == "blocks.skip_weights" ? "skip_weights" : name;
}

}  // namespace golf
