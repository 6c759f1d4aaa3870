// What the CPU kernels and their CUDA twins share: the shape type and the element-wise op kinds,
// so that one mapping from graph ops (runtime/backend_util.h) serves both backends.
#pragma once
#include <cstdint>
#include <vector>

namespace golf::kernels {

using Dims = std::vector<int64_t>;

enum class Unary {
  neg, exp, log, sqrt, rsqrt, square, tanh, sigmoid, softplus, relu, step, gelu, gelu_grad, silu,
  elu,         // a = alpha
  leaky_relu,  // a = slope
  scale,       // y = a·x
  add_scalar,  // y = x + a
  pow_scalar,  // y = x^a
};

enum class Binary { add, sub, mul, div };

}  // namespace golf::kernels
