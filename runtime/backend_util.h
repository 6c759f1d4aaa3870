// What both backends (cpu_backend.cc, cuda_backend.cc) need to turn a node into kernel arguments,
// unpacked once here from the op's named attributes (runtime/op_attrs.def) and its tensors' shapes:
// shapes left-padded for broadcasting, a shape split around one axis, the element-wise op kinds of
// kernels/op_kinds.h, and the dimensions of matmul, rope, attention and the n-gram hash.
#pragma once
#include <stdexcept>

#include "kernels/op_kinds.h"
#include "runtime/graph.h"
#include "runtime/op_attrs.h"

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

// The element-wise kind of a unary op and its one real attribute (0 when it has none).
struct UnaryArgs {
  kernels::Unary kind;
  double a = 0;
};
inline UnaryArgs unary_args(const Node& n) {
  using U = kernels::Unary;
  switch (n.op) {
    case Op::neg: return {U::neg};
    case Op::exp: return {U::exp};
    case Op::log: return {U::log};
    case Op::sqrt: return {U::sqrt};
    case Op::rsqrt: return {U::rsqrt};
    case Op::square: return {U::square};
    case Op::tanh: return {U::tanh};
    case Op::sigmoid: return {U::sigmoid};
    case Op::softplus: return {U::softplus};
    case Op::relu: return {U::relu};
    case Op::step: return {U::step};
    case Op::gelu: return {U::gelu};
    case Op::gelu_grad: return {U::gelu_grad};
    case Op::silu: return {U::silu};
    case Op::elu: return {U::elu, elu_attrs(n).alpha};
    case Op::leaky_relu: return {U::leaky_relu, leaky_relu_attrs(n).slope};
    case Op::scale: return {U::scale, scale_attrs(n).c};
    case Op::add_scalar: return {U::add_scalar, add_scalar_attrs(n).c};
    case Op::pow_scalar: return {U::pow_scalar, pow_scalar_attrs(n).p};
    default: throw std::logic_error(std::string("'") + op_info(n.op).name + "' is not a unary op");
  }
}

inline kernels::Binary binary_kind(Op op) {
  switch (op) {
    case Op::add: return kernels::Binary::add;
    case Op::sub: return kernels::Binary::sub;
    case Op::mul: return kernels::Binary::mul;
    case Op::div: return kernels::Binary::div;
    default: throw std::logic_error(std::string("'") + op_info(op).name + "' is not a binary op");
  }
}

// slice and pad: the input split around the axis, and the range kept or the zeros added.
struct AxisRange {
  Split s;
  int64_t lo = 0, hi = 0;  // slice: [start, end); pad: before, after
};
inline AxisRange axis_range(const Node& n, const Shape& x) {
  if (n.op == Op::slice) {
    const attrs::slice a = slice_attrs(n);
    return {split(x, a.axis), a.start, a.end};
  }
  const attrs::pad a = pad_attrs(n);
  return {split(x, a.axis), a.before, a.after};
}

// a[..., M, K] @ b[..., K, N] (either transposed); b 2-D is shared by the batch (stride_b 0).
struct MatmulDims {
  int64_t batch = 0, m = 0, n = 0, k = 0, stride_b = 0;
  bool trans_a = false, trans_b = false;
};
// matmul_add's product is matmul's.
inline MatmulDims matmul_dims(const Node& node, const Shape& a, const Shape& b, const Shape& out) {
  MatmulDims d;
  if (node.op == Op::matmul_add) {
    const attrs::matmul_add t = matmul_add_attrs(node);
    d.trans_a = t.trans_a, d.trans_b = t.trans_b;
  } else {
    const attrs::matmul t = matmul_attrs(node);
    d.trans_a = t.trans_a, d.trans_b = t.trans_b;
  }
  d.m = out[out.size() - 2], d.n = out[out.size() - 1];
  d.k = d.trans_a ? a[a.size() - 2] : a[a.size() - 1];
  d.batch = shape_numel(a) / (d.m * d.k);
  d.stride_b = b.size() == 2 ? 0 : d.k * d.n;
  return d;
}

// rope and rope_at on x[B, T, H, hd]; rope is rope_at at position 0 with ntk_len = T.
struct RopeDims {
  int64_t b = 0, t = 0, h = 0, hd = 0, rot = 0, train_len = 0, ntk_len = 0;
  double base = 0;
  bool inverse = false;
};
inline RopeDims rope_dims(const Node& n, const Shape& x) {
  RopeDims d{x[0], x[1], x[2], x[3]};
  if (n.op == Op::rope) {
    const attrs::rope a = rope_attrs(n);
    d.rot = a.rot, d.train_len = a.train_len, d.ntk_len = x[1], d.base = a.base, d.inverse = a.inverse;
  } else {
    const attrs::rope_at a = rope_at_attrs(n);
    d.rot = a.rot, d.train_len = a.train_len, d.ntk_len = a.ntk_len, d.base = a.base, d.inverse = a.inverse;
  }
  return d;
}

// rms_norm_rope and its backward, with and without the gain: x[B, T, H, hd], rope's NTK length T.
struct NormRopeDims {
  int64_t b = 0, t = 0, h = 0, hd = 0, rot = 0, train_len = 0;
  double base = 0, eps = 0;
  bool inverse = false;
};
inline NormRopeDims norm_rope_dims(const Node& n, const Shape& x) {
  NormRopeDims d{x[0], x[1], x[2], x[3]};
  auto take = [&](const auto& a) {
    d.rot = a.rot, d.train_len = a.train_len, d.inverse = a.inverse, d.base = a.base, d.eps = a.eps;
  };
  switch (n.op) {
    case Op::rms_norm_rope: take(rms_norm_rope_attrs(n)); break;
    case Op::rms_norm_rope_gain: take(rms_norm_rope_gain_attrs(n)); break;
    case Op::rms_norm_rope_backward: take(rms_norm_rope_backward_attrs(n)); break;
    case Op::rms_norm_rope_gain_backward: take(rms_norm_rope_gain_backward_attrs(n)); break;
    default: throw std::invalid_argument(std::string("'") + op_info(n.op).name + "' is not an rms_norm_rope op");
  }
  return d;
}

// attention, attention_backward, attention_cached: q[B, T, H, hd], k and v [B, T, Hkv, hd].
struct AttentionDims {
  int64_t b = 0, t = 0, h = 0, hkv = 0, hd = 0;
  double scale = 0;
  bool xsa = false;
};
inline AttentionDims attention_dims(const Node& n, const Shape& q, const Shape& k) {
  AttentionDims d{q[0], q[1], q[2], k[2], q[3]};
  switch (n.op) {
    case Op::attention: d.scale = attention_attrs(n).scale, d.xsa = attention_attrs(n).xsa; break;
    case Op::attention_backward: d.scale = attention_backward_attrs(n).scale, d.xsa = attention_backward_attrs(n).xsa; break;
    case Op::attention_cached: d.scale = attention_cached_attrs(n).scale, d.xsa = attention_cached_attrs(n).xsa; break;
    default: throw std::logic_error(std::string("'") + op_info(n.op).name + "' is not an attention op");
  }
  return d;
}

// ngram_hash and ngram_hash_at: the kernels' arguments (primes as uint32, the kind as its number).
struct NgramArgs {
  int n = 0;
  int64_t buckets = 0;
  int kind = 0;
  uint32_t primes[3] = {0, 0, 0};
  uint64_t seed = 0;
};
template <class A>
NgramArgs ngram_args_of(const A& a) {
  return {int(a.n), a.buckets, int(a.kind), {uint32_t(a.p0), uint32_t(a.p1), uint32_t(a.p2)}, a.seed};
}
inline NgramArgs ngram_args(const Node& n) {
  return n.op == Op::ngram_hash ? ngram_args_of(ngram_hash_attrs(n)) : ngram_args_of(ngram_hash_at_attrs(n));
}

}  // namespace golf
