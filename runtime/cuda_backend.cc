#include "runtime/cuda_backend.h"

#include <stdexcept>

#include "kernels/cuda/cuda_kernels.h"
#include "runtime/backend_util.h"
#include "kernels/cuda/runtime_api.h"

namespace golf {

namespace {

void require_device_f32(const Node& n, const std::vector<Tensor>& ins, const std::vector<Tensor>& outs) {
  for (const auto* list : {&ins, &outs})
    for (const Tensor& t : *list) {
      if (t.device() != Device::cuda)
        throw std::runtime_error(std::string("CUDA backend: op '") + op_info(n.op).name + "' was given a " +
                                 device_name(t.device()) + " tensor");
      if (t.dtype() != DType::f32 && t.dtype() != DType::i32)
        throw std::runtime_error(std::string("CUDA backend: op '") + op_info(n.op).name + "' has no " +
                                 dtype_name(t.dtype()) + " kernel (CUDA computes in f32)");
    }
}

}  // namespace

bool cuda_has_kernel(Op op) {
  switch (op) {
    // Every op of runtime/ops.def as of this file; a new op falls to `default` until it has a
    // kernel here, and the executor then refuses the graph at plan time.
    case Op::input: case Op::param: case Op::full:
    case Op::neg: case Op::exp: case Op::log: case Op::sqrt: case Op::rsqrt: case Op::square: case Op::tanh:
    case Op::sigmoid: case Op::softplus: case Op::relu: case Op::step: case Op::gelu: case Op::gelu_grad:
    case Op::silu: case Op::elu: case Op::leaky_relu: case Op::scale: case Op::add_scalar: case Op::pow_scalar:
    case Op::add: case Op::sub: case Op::mul: case Op::div:
    case Op::sum: case Op::mean: case Op::sum_to: case Op::expand:
    case Op::reshape: case Op::permute: case Op::slice: case Op::pad: case Op::concat:
    case Op::embedding: case Op::scatter_add_rows: case Op::index_select: case Op::index_add: case Op::token_shift:
    case Op::matmul:
    case Op::rms_norm: case Op::rms_norm_backward: case Op::rope: case Op::rope_at:
    case Op::attention: case Op::attention_backward: case Op::attention_cached:
    case Op::cross_entropy: case Op::cross_entropy_backward: case Op::fake_quant:
    case Op::to_real: case Op::ngram_hash: case Op::ngram_hash_at: case Op::soft_cross_entropy: case Op::soft_cross_entropy_backward:
    case Op::assign: case Op::accumulate:
      return true;
    default:
      return false;
  }
}

void cuda_run_node(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, int tag,
                   const CudaRunOptions& opt) {
  require_device_f32(n, in, out);
  auto X = [&](size_t i) { return in[i].data<float>(); };
  auto I = [&](size_t i) { return in[i].data<int32_t>(); };
  auto R = [&](size_t i) { return in[i].raw(); };
  float* y = out.empty() ? nullptr : out[0].data<float>();
  const Shape& s0 = in.empty() ? out[0].shape() : in[0].shape();
  switch (n.op) {
    // ---- layout: 4-byte words, so float and int32 tensors alike
    case Op::reshape: cuda::copy4(in[0].numel(), R(0), out[0].raw()); return;
    case Op::permute: cuda::permute4(s0, R(0), n.ints, out[0].raw()); return;
    case Op::slice: {
      Split s = split(s0, n.ints[0]);
      cuda::slice4(s.outer, s.dim, s.inner, n.ints[1], n.ints[2], R(0), out[0].raw());
      return;
    }
    case Op::pad: {
      Split s = split(s0, n.ints[0]);
      cuda::pad4(s.outer, s.dim, s.inner, n.ints[1], n.ints[2], R(0), out[0].raw());
      return;
    }
    case Op::concat: {
      int64_t at = 0, out_dim = out[0].dim(int(n.ints[0]));
      for (const Tensor& t : in) {
        Split s = split(t.shape(), n.ints[0]);
        cuda::concat_part4(s.outer, s.dim, s.inner, out_dim, at, t.raw(), out[0].raw());
        at += s.dim;
      }
      return;
    }
    case Op::full: cuda::fill(out[0].numel(), float(n.floats[0]), y); return;
    case Op::to_real: cuda::to_real(out[0].numel(), I(0), y); return;
    case Op::ngram_hash: {
      const uint32_t primes[3] = {uint32_t(n.ints[3]), uint32_t(n.ints[4]), uint32_t(n.ints[5])};
      cuda::ngram_hash(s0[0], s0[1], int(n.ints[0]), n.ints[1], int(n.ints[2]), primes, uint64_t(n.ints[6]), I(0),
                       out[0].data<int32_t>());
      return;
    }
    case Op::ngram_hash_at: {
      const uint32_t primes[3] = {uint32_t(n.ints[3]), uint32_t(n.ints[4]), uint32_t(n.ints[5])};
      cuda::ngram_hash_at(s0[0], int(n.ints[0]), n.ints[1], int(n.ints[2]), primes, uint64_t(n.ints[6]), I(1), I(0),
                          out[0].data<int32_t>());
      return;
    }
    case Op::neg: case Op::exp: case Op::log: case Op::sqrt: case Op::rsqrt: case Op::square: case Op::tanh:
    case Op::sigmoid: case Op::softplus: case Op::relu: case Op::step: case Op::gelu: case Op::gelu_grad:
    case Op::silu: case Op::elu: case Op::leaky_relu: case Op::scale: case Op::add_scalar: case Op::pow_scalar:
      cuda::unary(unary_kind(n.op), in[0].numel(), X(0), y, n.floats.empty() ? 0.0 : n.floats[0]);
      return;
    case Op::add: case Op::sub: case Op::mul: case Op::div: {
      const Shape& os = out[0].shape();
      cuda::binary(binary_kind(n.op), os, padded(in[0].shape(), os.size()), X(0), padded(in[1].shape(), os.size()), X(1), y);
      return;
    }
    case Op::sum: case Op::mean: {
      double sc = 1.0;
      if (n.op == Op::mean && out[0].numel()) sc = double(out[0].numel()) / double(in[0].numel());
      cuda::reduce_sum(s0, X(0), out[0].shape(), y, sc);
      return;
    }
    case Op::sum_to: cuda::reduce_sum(s0, X(0), padded(out[0].shape(), s0.size()), y); return;
    case Op::expand: cuda::broadcast(padded(s0, out[0].shape().size()), X(0), out[0].shape(), y); return;
    case Op::embedding: cuda::embedding(in[1].numel(), in[0].dim(0), in[0].dim(1), X(0), I(1), y, tag); return;
    case Op::scatter_add_rows: cuda::scatter_add_rows(in[0].numel(), n.ints[0], in[1].dim(-1), I(0), X(1), y, tag); return;
    case Op::index_select: {
      int64_t c = in[0].dim(-1);
      cuda::index_select(in[0].numel() / c, c, in[1].numel(), X(0), I(1), y, tag);
      return;
    }
    case Op::index_add: {
      int64_t k = in[0].dim(-1);
      cuda::index_add(in[0].numel() / k, k, n.ints[0], X(0), I(1), y, tag);
      return;
    }
    case Op::token_shift:
      cuda::token_shift(s0[0], s0[1], in[0].numel() / (s0[0] * s0[1]), n.ints[0], X(0), y);
      return;
    case Op::matmul: {
      const Shape& a = in[0].shape();
      const Shape& b = in[1].shape();
      bool ta = n.ints[0] != 0, tb = n.ints[1] != 0;
      int64_t m = out[0].dim(-2), nn = out[0].dim(-1);
      int64_t k = ta ? a[a.size() - 2] : a[a.size() - 1];
      int64_t batch = in[0].numel() / (m * k);
      int64_t stride_b = b.size() == 2 ? 0 : k * nn;
      cuda::matmul(batch, m, nn, k, X(0), ta, X(1), tb, stride_b, y,
                   opt.matmul_fp32 ? cuda::MatmulPrecision::fp32 : cuda::MatmulPrecision::bf16);
      return;
    }
    case Op::rms_norm: cuda::rms_norm(in[0].numel() / s0.back(), s0.back(), n.floats[0], X(0), y); return;
    case Op::rms_norm_backward:
      cuda::rms_norm_backward(in[0].numel() / s0.back(), s0.back(), n.floats[0], X(0), X(1), y);
      return;
    case Op::rope:
      cuda::rope_at(s0[0], s0[1], s0[2], s0[3], n.ints[0], n.floats[0], n.ints[1], s0[1], nullptr, n.ints[2] != 0, X(0), y);
      return;
    case Op::rope_at:
      cuda::rope_at(s0[0], s0[1], s0[2], s0[3], n.ints[0], n.floats[0], n.ints[1], n.ints[2], I(1), n.ints[3] != 0, X(0), y);
      return;
    case Op::attention: {
      const Shape& k = in[1].shape();
      cuda::attention(s0[0], s0[1], s0[2], k[2], s0[3], n.floats[0], n.ints[0] != 0, X(0), X(1), X(2), y,
                      out[1].data<float>());
      return;
    }
    case Op::attention_backward: {
      const Shape& k = in[1].shape();
      cuda::attention_backward(s0[0], s0[1], s0[2], k[2], s0[3], n.floats[0], n.ints[0] != 0, X(0), X(1), X(2), X(3),
                               X(4), X(5), y, out[1].data<float>(), out[2].data<float>());
      return;
    }
    case Op::attention_cached: {
      const Shape& k = in[1].shape();
      const Shape& kc = in[3].shape();
      // The caches are bound leaves that this op updates in place (as assign does).
      cuda::attention_cached(s0[0], s0[1], kc[1], s0[2], k[2], s0[3], n.floats[0], n.ints[0] != 0, I(5), X(0), X(1),
                             X(2), const_cast<float*>(X(3)), const_cast<float*>(X(4)), y, tag);
      return;
    }
    case Op::cross_entropy: cuda::cross_entropy(s0[0], s0[1], n.floats[0], X(0), I(1), y, tag); return;
    case Op::cross_entropy_backward:
      cuda::cross_entropy_backward(s0[0], s0[1], n.floats[0], X(0), I(1), X(2), y, tag);
      return;
    case Op::soft_cross_entropy: cuda::soft_cross_entropy(s0[0], s0[1], X(0), X(1), y); return;
    case Op::soft_cross_entropy_backward:
      cuda::soft_cross_entropy_backward(s0[0], s0[1], X(0), X(1), X(2), y, out[1].data<float>());
      return;
    case Op::fake_quant: cuda::fake_quant(in[0].numel() / s0.back(), s0.back(), int(n.ints[0]), X(0), y); return;
    case Op::assign: cuda::copy4(in[1].numel(), R(1), const_cast<void*>(R(0))); return;
    case Op::accumulate: cuda::add_into(in[1].numel(), X(1), const_cast<float*>(X(0))); return;
    default:
      throw std::logic_error(std::string("CUDA backend: no kernel for op '") + op_info(n.op).name + "'");
  }
}

std::string cuda_take_fault(int* tag) {
  cuda::FaultRecord f = cuda::take_fault();
  if (tag) *tag = f.tag;
  auto s = [](int64_t v) { return std::to_string(v); };
  switch (f.code) {
    case cuda::Fault::none: return "";
    case cuda::Fault::id_range:
      return "id " + s(f.a) + " at position " + s(f.b) + " is outside the valid range [0, " + s(f.c) + ")";
    case cuda::Fault::target_range: return "target " + s(f.a) + " at position " + s(f.b) + " outside [0, " + s(f.c) + ")";
    case cuda::Fault::cache_range:
      return "positions " + s(f.a) + ".." + s(f.b) + " do not fit a KV cache of " + s(f.c);
  }
  return "unknown CUDA kernel fault " + s(int64_t(f.code));
}

}  // namespace golf
