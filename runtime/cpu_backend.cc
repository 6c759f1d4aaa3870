#include "runtime/cpu_backend.h"

#include <cmath>
#include <cstring>

#include "kernels/cpu/cpu_kernels.h"
#include "runtime/backend_util.h"

namespace golf {

namespace {

// Layout ops also move integer tensors (token ids reshaped, index tables sliced).
template <class T>
bool run_layout(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out) {
  const T* x = in.empty() ? nullptr : in[0].data<T>();
  T* y = out.empty() ? nullptr : out[0].data<T>();
  switch (n.op) {
    case Op::reshape: cpu::copy(in[0].numel(), x, y); return true;
    case Op::permute: cpu::permute(in[0].shape(), x, n.ints, y); return true;
    case Op::slice: {
      Split s = split(in[0].shape(), n.ints[0]);
      cpu::slice(s.outer, s.dim, s.inner, n.ints[1], n.ints[2], x, y);
      return true;
    }
    case Op::concat: {
      int64_t at = 0;
      int64_t out_dim = out[0].dim(int(n.ints[0]));
      for (const Tensor& t : in) {
        Split s = split(t.shape(), n.ints[0]);
        cpu::concat_part(s.outer, s.dim, s.inner, out_dim, at, t.data<T>(), y);
        at += s.dim;
      }
      return true;
    }
    default: return false;
  }
}

template <class T>
void run_real(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out) {
  if (run_layout<T>(n, in, out)) return;
  auto X = [&](size_t i) { return in[i].data<T>(); };
  auto I = [&](size_t i) { return in[i].data<int32_t>(); };
  T* y = out.empty() ? nullptr : out[0].data<T>();
  const Shape& s0 = in.empty() ? out[0].shape() : in[0].shape();
  switch (n.op) {
    case Op::full:
      for (int64_t i = 0; i < out[0].numel(); i++) y[i] = T(n.floats[0]);
      return;
    case Op::to_real:
      for (int64_t i = 0; i < out[0].numel(); i++) y[i] = T(I(0)[i]);
      return;
    case Op::neg: case Op::exp: case Op::log: case Op::sqrt: case Op::rsqrt: case Op::square: case Op::tanh:
    case Op::sigmoid: case Op::softplus: case Op::relu: case Op::step: case Op::gelu: case Op::gelu_grad:
    case Op::silu: case Op::elu: case Op::leaky_relu: case Op::scale: case Op::add_scalar: case Op::pow_scalar:
      cpu::unary(unary_kind(n.op), in[0].numel(), X(0), y, n.floats.empty() ? 0.0 : n.floats[0]);
      return;
    case Op::add: case Op::sub: case Op::mul: case Op::div: {
      const Shape& os = out[0].shape();
      cpu::binary(binary_kind(n.op), os, padded(in[0].shape(), os.size()), X(0), padded(in[1].shape(), os.size()), X(1), y);
      return;
    }
    case Op::sum: case Op::mean: {
      cpu::reduce_sum(s0, X(0), out[0].shape(), y);
      if (n.op == Op::mean && out[0].numel()) {
        double count = double(in[0].numel()) / double(out[0].numel());
        cpu::unary(cpu::Unary::scale, out[0].numel(), y, y, 1.0 / count);
      }
      return;
    }
    case Op::sum_to: cpu::reduce_sum(s0, X(0), padded(out[0].shape(), s0.size()), y); return;
    case Op::expand: cpu::broadcast(padded(s0, out[0].shape().size()), X(0), out[0].shape(), y); return;
    case Op::pad: {
      Split s = split(s0, n.ints[0]);
      cpu::pad(s.outer, s.dim, s.inner, n.ints[1], n.ints[2], X(0), y);
      return;
    }
    case Op::embedding:
      cpu::embedding(in[1].numel(), in[0].dim(0), in[0].dim(1), X(0), I(1), y);
      return;
    case Op::scatter_add_rows:
      cpu::scatter_add_rows(in[0].numel(), n.ints[0], in[1].dim(-1), I(0), X(1), y);
      return;
    case Op::index_select: {
      int64_t c = in[0].dim(-1);
      cpu::index_select(in[0].numel() / c, c, in[1].numel(), X(0), I(1), y);
      return;
    }
    case Op::index_add: {
      int64_t k = in[0].dim(-1);
      cpu::index_add(in[0].numel() / k, k, n.ints[0], X(0), I(1), y);
      return;
    }
    case Op::token_shift:
      cpu::token_shift(s0[0], s0[1], in[0].numel() / (s0[0] * s0[1]), n.ints[0], X(0), y);
      return;
    case Op::matmul: {
      const Shape& a = in[0].shape();
      const Shape& b = in[1].shape();
      bool ta = n.ints[0] != 0, tb = n.ints[1] != 0;
      int64_t m = out[0].dim(-2), nn = out[0].dim(-1);
      int64_t k = ta ? a[a.size() - 2] : a[a.size() - 1];
      int64_t batch = in[0].numel() / (m * k);
      int64_t stride_b = b.size() == 2 ? 0 : k * nn;
      cpu::matmul(batch, m, nn, k, X(0), ta, X(1), tb, stride_b, y);
      return;
    }
    case Op::rms_norm: {
      int64_t d = s0.back();
      cpu::rms_norm(in[0].numel() / d, d, n.floats[0], X(0), y);
      return;
    }
    case Op::rms_norm_backward: {
      int64_t d = s0.back();
      cpu::rms_norm_backward(in[0].numel() / d, d, n.floats[0], X(0), X(1), y);
      return;
    }
    case Op::rope:
      cpu::rope(s0[0], s0[1], s0[2], s0[3], n.ints[0], n.floats[0], n.ints[1], n.ints[2] != 0, X(0), y);
      return;
    case Op::rope_at:
      cpu::rope_at(s0[0], s0[1], s0[2], s0[3], n.ints[0], n.floats[0], n.ints[1], n.ints[2], int64_t(I(1)[0]),
                   n.ints[3] != 0, X(0), y);
      return;
    case Op::attention_cached: {
      const Shape& k = in[1].shape();
      const Shape& kc = in[3].shape();
      // The caches are bound leaves that this op updates in place (as assign does).
      cpu::attention_cached(s0[0], s0[1], kc[1], s0[2], k[2], s0[3], n.floats[0], n.ints[0] != 0, int64_t(I(5)[0]),
                            X(0), X(1), X(2), const_cast<T*>(X(3)), const_cast<T*>(X(4)), y);
      return;
    }
    case Op::attention: {
      const Shape& k = in[1].shape();
      cpu::attention(s0[0], s0[1], s0[2], k[2], s0[3], n.floats[0], n.ints[0] != 0, X(0), X(1), X(2), y,
                     out[1].data<T>());
      return;
    }
    case Op::attention_backward: {
      const Shape& k = in[1].shape();
      cpu::attention_backward(s0[0], s0[1], s0[2], k[2], s0[3], n.floats[0], n.ints[0] != 0, X(0), X(1), X(2),
                              X(3), X(4), X(5), y, out[1].data<T>(), out[2].data<T>());
      return;
    }
    case Op::cross_entropy:
      cpu::cross_entropy(s0[0], s0[1], n.floats[0], X(0), I(1), y);
      return;
    case Op::cross_entropy_backward:
      cpu::cross_entropy_backward(s0[0], s0[1], n.floats[0], X(0), I(1), X(2), y);
      return;
    case Op::soft_cross_entropy:
      cpu::soft_cross_entropy(s0[0], s0[1], X(0), X(1), y);
      return;
    case Op::soft_cross_entropy_backward:
      cpu::soft_cross_entropy_backward(s0[0], s0[1], X(0), X(1), X(2), y, out[1].data<T>());
      return;
    case Op::fake_quant: {
      int64_t d = s0.back();
      cpu::fake_quant(in[0].numel() / d, d, int(n.ints[0]), X(0), y);
      return;
    }
    case Op::assign: cpu::copy(in[1].numel(), X(1), const_cast<T*>(X(0))); return;
    case Op::accumulate: cpu::add_into(in[1].numel(), X(1), const_cast<T*>(X(0))); return;
    default:
      throw std::logic_error(std::string("CPU backend: no kernel for op '") + op_info(n.op).name + "'");
  }
}

}  // namespace

void cpu_run_node(const Node& n, const std::vector<Tensor>& ins, std::vector<Tensor>& outs) {
  // The element type comes from the data: the first real tensor the node touches.
  DType t = DType::f32;
  bool found = false;
  for (const Tensor& x : outs)
    if (!found && dtype_is_float(x.dtype())) t = x.dtype(), found = true;
  for (const Tensor& x : ins)
    if (!found && dtype_is_float(x.dtype())) t = x.dtype(), found = true;
  if (!found) {  // integer-only ops
    if (n.op == Op::ngram_hash) {
      const uint32_t primes[3] = {uint32_t(n.ints[3]), uint32_t(n.ints[4]), uint32_t(n.ints[5])};
      cpu::ngram_hash(ins[0].dim(0), ins[0].dim(1), int(n.ints[0]), n.ints[1], int(n.ints[2]), primes,
                      uint64_t(n.ints[6]), ins[0].data<int32_t>(), outs[0].data<int32_t>());
      return;
    }
    if (n.op == Op::assign) {  // an integer state (decode steps' last ids)
      std::memcpy(const_cast<void*>(ins[0].raw()), ins[1].raw(), ins[1].nbytes());
      return;
    }
    if (n.op == Op::ngram_hash_at) {
      const uint32_t primes[3] = {uint32_t(n.ints[3]), uint32_t(n.ints[4]), uint32_t(n.ints[5])};
      cpu::ngram_hash_at(ins[0].dim(0), int(n.ints[0]), n.ints[1], int(n.ints[2]), primes, uint64_t(n.ints[6]),
                         int64_t(ins[1].data<int32_t>()[0]), ins[0].data<int32_t>(), outs[0].data<int32_t>());
      return;
    }
    if (!run_layout<int32_t>(n, ins, outs))
      throw std::logic_error(std::string("CPU backend: op '") + op_info(n.op).name + "' on integer tensors");
    return;
  }
  if (t == DType::f32) run_real<float>(n, ins, outs);
  else if (t == DType::f64) run_real<double>(n, ins, outs);
  else throw std::runtime_error(std::string("CPU backend: op '") + op_info(n.op).name + "' has no " + dtype_name(t) + " kernel (CPU computes in f32 or f64)");
}

}  // namespace golf
