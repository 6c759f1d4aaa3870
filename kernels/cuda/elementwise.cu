// Elementwise kernels in fp32 (DESIGN §3). The formulas are the CPU reference's, evaluated with
// CUDA's fp32 math library (no fast-math), so results agree to a few ulps.
#include <cmath>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/dims.h"

namespace golf::cuda {
namespace {

__device__ inline float sigmoid_of(float x) {
  // Only ever exponentiate -|x|: exp of a large positive argument overflows.
  if (x >= 0.f) return 1.f / (1.f + expf(-x));
  float e = expf(x);
  return e / (1.f + e);
}

__device__ inline float apply(Unary op, float v, float a) {
  switch (op) {
    case Unary::neg: return -v;
    case Unary::exp: return expf(v);
    case Unary::log: return logf(v);
    case Unary::sqrt: return sqrtf(v);
    case Unary::rsqrt: return 1.f / sqrtf(v);
    case Unary::square: return v * v;
    case Unary::tanh: return tanhf(v);
    case Unary::sigmoid: return sigmoid_of(v);
    case Unary::softplus: return log1pf(expf(-fabsf(v))) + fmaxf(v, 0.f);
    case Unary::relu: return v > 0.f ? v : 0.f;
    case Unary::step: return v > 0.f ? 1.f : 0.f;
    case Unary::gelu: return 0.5f * v * (1.f + erff(v * 0.70710678118654752440f));
    case Unary::gelu_grad: {
      float cdf = 0.5f * (1.f + erff(v * 0.70710678118654752440f));
      float pdf = 0.39894228040143267794f * expf(-0.5f * v * v);
      return cdf + v * pdf;
    }
    case Unary::silu: return v * sigmoid_of(v);
    case Unary::elu: return v > 0.f ? v : a * expm1f(v);
    case Unary::leaky_relu: return v > 0.f ? v : a * v;
    case Unary::scale: return a * v;
    case Unary::add_scalar: return v + a;
    case Unary::pow_scalar: return powf(v, a);
  }
  return v;
}

__global__ void unary_kernel(Unary op, int64_t n, const float* x, float* y, float a) {
  GOLF_GRID_STRIDE(i, n) y[i] = apply(op, x[i], a);
}

__device__ inline float combine(Binary op, float p, float q) {
  switch (op) {
    case Binary::add: return p + q;
    case Binary::sub: return p - q;
    case Binary::mul: return p * q;
    case Binary::div: return p / q;
  }
  return p;
}

// Broadcasting after merging axes: at most kGroups groups, each with its extent and the element
// strides of a and b (0 where that operand is broadcast).
constexpr int kGroups = 8;
struct Strides {
  int rank;
  int64_t size[kGroups], sa[kGroups], sb[kGroups];
};

__global__ void binary_same_kernel(Binary op, int64_t n, const float* a, const float* b, float* out) {
  GOLF_GRID_STRIDE(i, n) out[i] = combine(op, a[i], b[i]);
}

__global__ void binary_kernel(Binary op, int64_t n, Strides s, const float* a, const float* b, float* out) {
  GOLF_GRID_STRIDE(i, n) {
    int64_t rem = i, oa = 0, ob = 0;
    for (int g = s.rank - 1; g >= 0; --g) {
      int64_t idx = rem % s.size[g];
      rem /= s.size[g];
      oa += idx * s.sa[g];
      ob += idx * s.sb[g];
    }
    out[i] = combine(op, a[oa], b[ob]);
  }
}

__global__ void fill_kernel(int64_t n, float v, float* y) { GOLF_GRID_STRIDE(i, n) y[i] = v; }
__global__ void to_real_kernel(int64_t n, const int32_t* x, float* y) { GOLF_GRID_STRIDE(i, n) y[i] = float(x[i]); }
__global__ void add_into_kernel(int64_t n, const float* x, float* y) { GOLF_GRID_STRIDE(i, n) y[i] += x[i]; }

int64_t numel(const Dims& d) {
  int64_t n = 1;
  for (int64_t v : d) n *= v;
  return n;
}

}  // namespace

void unary(Unary op, int64_t n, const float* x, float* y, double a) {
  if (n <= 0) return;
  unary_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(op, n, x, y, float(a));
  check_launch("unary");
}

void binary(Binary op, const Dims& out_dims, const Dims& a_dims, const float* a, const Dims& b_dims, const float* b,
            float* out) {
  if (a_dims.size() != out_dims.size() || b_dims.size() != out_dims.size())
    throw std::invalid_argument("binary: operand ranks must equal the output rank (left-pad with 1s): a " +
                                kernels::dims_str(a_dims) + ", b " + kernels::dims_str(b_dims) + ", out " +
                                kernels::dims_str(out_dims));
  const int64_t n = numel(out_dims);
  if (n == 0) return;
  if (a_dims == out_dims && b_dims == out_dims) {
    binary_same_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(op, n, a, b, out);
    check_launch("binary");
    return;
  }
  // Merge adjacent axes on which each operand is present or broadcast alike (as the CPU does).
  int64_t sizes[64];
  bool ab[64], bb[64];
  int ng = 0;
  for (size_t r = 0; r < out_dims.size(); ++r) {
    if ((a_dims[r] != out_dims[r] && a_dims[r] != 1) || (b_dims[r] != out_dims[r] && b_dims[r] != 1))
      throw std::invalid_argument("binary: axis " + std::to_string(r) + " does not broadcast (a " +
                                  kernels::dims_str(a_dims) + ", b " + kernels::dims_str(b_dims) + ", out " +
                                  kernels::dims_str(out_dims) + ")");
    if (out_dims[r] == 1) continue;
    const bool a_b = a_dims[r] == 1, b_b = b_dims[r] == 1;
    if (ng > 0 && ab[ng - 1] == a_b && bb[ng - 1] == b_b) {
      sizes[ng - 1] *= out_dims[r];
      continue;
    }
    if (ng == 64 || ng == kGroups)
      throw std::invalid_argument("binary: more than 8 broadcast groups (reshape the operands first): a " +
                                  kernels::dims_str(a_dims) + ", b " + kernels::dims_str(b_dims) + ", out " +
                                  kernels::dims_str(out_dims));
    sizes[ng] = out_dims[r];
    ab[ng] = a_b;
    bb[ng] = b_b;
    ++ng;
  }
  Strides s{};
  s.rank = ng;
  int64_t ra = 1, rb = 1;
  for (int g = ng - 1; g >= 0; --g) {
    s.size[g] = sizes[g];
    s.sa[g] = ab[g] ? 0 : ra;
    s.sb[g] = bb[g] ? 0 : rb;
    if (!ab[g]) ra *= sizes[g];
    if (!bb[g]) rb *= sizes[g];
  }
  binary_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(op, n, s, a, b, out);
  check_launch("binary");
}

void fill(int64_t n, float value, float* y) {
  if (n <= 0) return;
  fill_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, value, y);
  check_launch("fill");
}

void to_real(int64_t n, const int32_t* x, float* y) {
  if (n <= 0) return;
  to_real_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, x, y);
  check_launch("to_real");
}

void add_into(int64_t n, const float* x, float* y) {
  if (n <= 0) return;
  add_into_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, x, y);
  check_launch("add_into");
}

}  // namespace golf::cuda
