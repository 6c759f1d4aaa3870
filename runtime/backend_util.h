// What both backends (cpu_backend.cc, cuda_backend.cc) need to turn a node into kernel arguments:
// shapes left-padded for broadcasting, a shape split around one axis, and the element-wise op
// kinds of kernels/op_kinds.h.
#pragma once
#include <stdexcept>

#include "kernels/op_kinds.h"
#include "runtime/graph.h"

namespace golf {

inline kernels::Dims padded(const Shape& s, size_t rank) {
  kernels::Dims d(rank - s.size(), 1);
  d.insert(d.end(), s.begin(), s.end());
  return d;
}

// outer × dim × inner split of a shape around one axis
struct Split {
  int64_t outer = 1, dim = 1, inner = 1;
};
inline Split split(const Shape& s, int64_t axis) {
  Split r;
  for (int64_t i = 0; i < int64_t(s.size()); i++) {
    if (i < axis) r.outer *= s[size_t(i)];
    else if (i == axis) r.dim = s[size_t(i)];
    else r.inner *= s[size_t(i)];
  }
  return r;
}

inline kernels::Unary unary_kind(Op op) {
  using U = kernels::Unary;
  switch (op) {
    case Op::neg: return U::neg;
    case Op::exp: return U::exp;
    case Op::log: return U::log;
    case Op::sqrt: return U::sqrt;
    case Op::rsqrt: return U::rsqrt;
    case Op::square: return U::square;
    case Op::tanh: return U::tanh;
    case Op::sigmoid: return U::sigmoid;
    case Op::softplus: return U::softplus;
    case Op::relu: return U::relu;
    case Op::step: return U::step;
    case Op::gelu: return U::gelu;
    case Op::gelu_grad: return U::gelu_grad;
    case Op::silu: return U::silu;
    case Op::elu: return U::elu;
    case Op::leaky_relu: return U::leaky_relu;
    case Op::scale: return U::scale;
    case Op::add_scalar: return U::add_scalar;
    case Op::pow_scalar: return U::pow_scalar;
    default: throw std::logic_error("not a unary op");
  }
}

inline kernels::Binary binary_kind(Op op) {
  switch (op) {
    case Op::add: return kernels::Binary::add;
    case Op::sub: return kernels::Binary::sub;
    case Op::mul: return kernels::Binary::mul;
    case Op::div: return kernels::Binary::div;
    default: throw std::logic_error("not a binary op");
  }
}

}  // namespace golf
