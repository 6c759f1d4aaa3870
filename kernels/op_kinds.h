// What the CPU kernels and their CUDA twins share: the shape type and the op kinds (element-wise, hash),
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

// The n-gram bucket hash (PARAMETER_GOLF.md); its value is the op attribute `kind` of ngram_hash.
enum class NgramKind : int64_t {
  multiply_xor = 0,  // primes p0 (current id), p1, p2 (earlier ids), xor-ed
  xxh3 = 1,          // XXH3-64 with a seed over the ids as little-endian uint32, oldest first
};

}  // namespace golf::kernels
