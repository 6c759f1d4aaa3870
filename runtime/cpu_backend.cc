#include "runtime/cpu_backend.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/cpu_kernels.h"
#include "runtime/backend_util.h"

namespace golf {

namespace {

// One node's call: its attributes come from runtime/op_attrs.h, its geometry from backend_util.h.
struct Call {
  const Node& n;
  const std::vector<Tensor>& in;
  std::vector<Tensor>& out;
  template <class T>
  const T* x(size_t i) const { return in[i].data<T>(); }
  const int32_t* ids(size_t i) const { return in[i].data<int32_t>(); }
  // An input the op writes in place (assign's and accumulate's target, the KV caches), through the
  // writable Tensor::raw(), which counts the write (Storage::writes; runtime/bf16_weight_cache.h).
  template <class T>
  T* written(size_t i) const { return const_cast<Tensor&>(in[i]).data<T>(); }
  template <class T>
  T* y(size_t i = 0) const { return out[i].data<T>(); }
  const Shape& s0() const { return in.empty() ? out[0].shape() : in[0].shape(); }
  int64_t last() const { return s0().back(); }               // input 0's last dimension
  int64_t rows() const { return in[0].numel() / last(); }    // and the rows of it
};
using Kernel = void (*)(const Call&);

// Layout ops also move integer tensors (token ids reshaped, index tables sliced).
template <class T>
Kernel layout_kernel(Op op) {
  switch (op) {
    case Op::reshape: return [](const Call& c) { cpu::copy(c.in[0].numel(), c.x<T>(0), c.y<T>()); };
    case Op::permute: return [](const Call& c) { cpu::permute(c.s0(), c.x<T>(0), permute_attrs(c.n).perm, c.y<T>()); };
    case Op::slice:
      return [](const Call& c) {
        AxisRange r = axis_range(c.n, c.s0());
        cpu::slice(r.s.outer, r.s.dim, r.s.inner, r.lo, r.hi, c.x<T>(0), c.y<T>());
      };
    case Op::concat:
      return [](const Call& c) {
        const int64_t axis = concat_attrs(c.n).axis, out_dim = c.out[0].dim(int(axis));
        int64_t at = 0;
        for (const Tensor& t : c.in) {
          Split s = split(t.shape(), axis);
          cpu::concat_part(s.outer, s.dim, s.inner, out_dim, at, t.data<T>(), c.y<T>());
          at += s.dim;
        }
      };
    default: return nullptr;
  }
}

// Ops on real tensors, computed in T (f32 or f64).
template <class T>
Kernel real_kernel(Op op) {
  if (Kernel k = layout_kernel<T>(op)) return k;
  switch (op) {
    case Op::full: return [](const Call& c) { std::fill_n(c.y<T>(), c.out[0].numel(), T(full_attrs(c.n).value)); };
    case Op::to_real:
      return [](const Call& c) {
        const int32_t* ids = c.ids(0);
        T* y = c.y<T>();
        for (int64_t i = 0; i < c.out[0].numel(); i++) y[i] = T(ids[i]);
      };
    case Op::neg: case Op::exp: case Op::log: case Op::sqrt: case Op::rsqrt: case Op::square: case Op::tanh:
    case Op::sigmoid: case Op::softplus: case Op::relu: case Op::step: case Op::gelu: case Op::gelu_grad:
    case Op::silu: case Op::elu: case Op::leaky_relu: case Op::scale: case Op::add_scalar: case Op::pow_scalar:
      return [](const Call& c) {
        UnaryArgs u = unary_args(c.n);
        cpu::unary(u.kind, c.in[0].numel(), c.x<T>(0), c.y<T>(), u.a);
      };
    case Op::add: case Op::sub: case Op::mul: case Op::div:
      return [](const Call& c) {
        const Shape& os = c.out[0].shape();
        cpu::binary(binary_kind(c.n.op), os, padded(c.in[0].shape(), os.size()), c.x<T>(0),
                    padded(c.in[1].shape(), os.size()), c.x<T>(1), c.y<T>());
      };
    case Op::sum: return [](const Call& c) { cpu::reduce_sum(c.s0(), c.x<T>(0), c.out[0].shape(), c.y<T>()); };
    case Op::mean:
      return [](const Call& c) {
        cpu::reduce_sum(c.s0(), c.x<T>(0), c.out[0].shape(), c.y<T>());
        if (c.out[0].numel() == 0) return;
        double count = double(c.in[0].numel()) / double(c.out[0].numel());
        cpu::unary(cpu::Unary::scale, c.out[0].numel(), c.y<T>(), c.y<T>(), 1.0 / count);
      };
    case Op::sum_to:
      return [](const Call& c) { cpu::reduce_sum(c.s0(), c.x<T>(0), padded(c.out[0].shape(), c.s0().size()), c.y<T>()); };
    case Op::expand:
      return [](const Call& c) { cpu::broadcast(padded(c.s0(), c.out[0].shape().size()), c.x<T>(0), c.out[0].shape(), c.y<T>()); };
    case Op::pad:
      return [](const Call& c) {
        AxisRange r = axis_range(c.n, c.s0());
        cpu::pad(r.s.outer, r.s.dim, r.s.inner, r.lo, r.hi, c.x<T>(0), c.y<T>());
      };
    case Op::embedding:
      return [](const Call& c) { cpu::embedding(c.in[1].numel(), c.in[0].dim(0), c.in[0].dim(1), c.x<T>(0), c.ids(1), c.y<T>()); };
    case Op::scatter_add_rows:
      return [](const Call& c) {
        cpu::scatter_add_rows(c.in[0].numel(), scatter_add_rows_attrs(c.n).rows, c.in[1].dim(-1), c.ids(0), c.x<T>(1), c.y<T>());
      };
    case Op::index_select:
      return [](const Call& c) { cpu::index_select(c.rows(), c.last(), c.in[1].numel(), c.x<T>(0), c.ids(1), c.y<T>()); };
    case Op::index_add:
      return [](const Call& c) { cpu::index_add(c.rows(), c.last(), index_add_attrs(c.n).channels, c.x<T>(0), c.ids(1), c.y<T>()); };
    case Op::token_shift:
      return [](const Call& c) {
        const Shape& s = c.s0();
        cpu::token_shift(s[0], s[1], c.in[0].numel() / (s[0] * s[1]), token_shift_attrs(c.n).k, c.x<T>(0), c.y<T>());
      };
    case Op::matmul:
      return [](const Call& c) {
        MatmulDims d = matmul_dims(c.n, c.in[0].shape(), c.in[1].shape(), c.out[0].shape());
        cpu::matmul(d.batch, d.m, d.n, d.k, c.x<T>(0), d.trans_a, c.x<T>(1), d.trans_b, d.stride_b, c.y<T>());
      };
    case Op::rms_norm: return [](const Call& c) { cpu::rms_norm(c.rows(), c.last(), rms_norm_attrs(c.n).eps, c.x<T>(0), c.y<T>()); };
    case Op::rms_norm_backward:
      return [](const Call& c) {
        cpu::rms_norm_backward(c.rows(), c.last(), rms_norm_backward_attrs(c.n).eps, c.x<T>(0), c.x<T>(1), c.y<T>());
      };
    case Op::rope:
      return [](const Call& c) {
        RopeDims d = rope_dims(c.n, c.s0());
        cpu::rope(d.b, d.t, d.h, d.hd, d.rot, d.base, d.train_len, d.inverse, c.x<T>(0), c.y<T>());
      };
    case Op::rope_at:
      return [](const Call& c) {
        RopeDims d = rope_dims(c.n, c.s0());
        cpu::rope_at(d.b, d.t, d.h, d.hd, d.rot, d.base, d.train_len, d.ntk_len, int64_t(c.ids(1)[0]), d.inverse,
                     c.x<T>(0), c.y<T>());
      };
    case Op::attention_cached:
      return [](const Call& c) {
        AttentionDims d = attention_dims(c.n, c.s0(), c.in[1].shape());
        // The caches are bound leaves that this op updates in place (as assign does).
        cpu::attention_cached(d.b, d.t, c.in[3].dim(1), d.h, d.hkv, d.hd, d.scale, d.xsa, int64_t(c.ids(5)[0]), c.x<T>(0),
                              c.x<T>(1), c.x<T>(2), c.written<T>(3), c.written<T>(4), c.y<T>());
      };
    case Op::attention:
      return [](const Call& c) {
        AttentionDims d = attention_dims(c.n, c.s0(), c.in[1].shape());
        cpu::attention(d.b, d.t, d.h, d.hkv, d.hd, d.scale, d.xsa, c.x<T>(0), c.x<T>(1), c.x<T>(2), c.y<T>(), c.y<T>(1));
      };
    case Op::attention_backward:
      return [](const Call& c) {
        AttentionDims d = attention_dims(c.n, c.s0(), c.in[1].shape());
        cpu::attention_backward(d.b, d.t, d.h, d.hkv, d.hd, d.scale, d.xsa, c.x<T>(0), c.x<T>(1), c.x<T>(2), c.x<T>(3),
                                c.x<T>(4), c.x<T>(5), c.y<T>(), c.y<T>(1), c.y<T>(2));
      };
    case Op::cross_entropy:
      return [](const Call& c) {
        cpu::cross_entropy(c.s0()[0], c.s0()[1], cross_entropy_attrs(c.n).softcap, c.x<T>(0), c.ids(1), c.y<T>());
      };
    case Op::cross_entropy_backward:
      return [](const Call& c) {
        cpu::cross_entropy_backward(c.s0()[0], c.s0()[1], cross_entropy_backward_attrs(c.n).softcap, c.x<T>(0), c.ids(1),
                                    c.x<T>(2), c.y<T>());
      };
    case Op::soft_cross_entropy:
      return [](const Call& c) { cpu::soft_cross_entropy(c.s0()[0], c.s0()[1], c.x<T>(0), c.x<T>(1), c.y<T>()); };
    case Op::soft_cross_entropy_backward:
      return [](const Call& c) {
        cpu::soft_cross_entropy_backward(c.s0()[0], c.s0()[1], c.x<T>(0), c.x<T>(1), c.x<T>(2), c.y<T>(), c.y<T>(1));
      };
    case Op::fake_quant:
      return [](const Call& c) { cpu::fake_quant(c.rows(), c.last(), int(fake_quant_attrs(c.n).bits), c.x<T>(0), c.y<T>()); };
    case Op::assign: return [](const Call& c) { cpu::copy(c.in[1].numel(), c.x<T>(1), c.written<T>(0)); };
    case Op::accumulate: return [](const Call& c) { cpu::add_into(c.in[1].numel(), c.x<T>(1), c.written<T>(0)); };
    // ---- fused (runtime/fuse_pass.cc)
    case Op::add_scaled:
      return [](const Call& c) { cpu::add_scaled(c.rows(), c.last(), c.x<T>(0), c.x<T>(1), c.x<T>(2), c.y<T>()); };
    case Op::mix:
      return [](const Call& c) { cpu::mix(c.rows(), c.last(), c.x<T>(0), c.x<T>(1), c.x<T>(2), c.x<T>(3), c.y<T>()); };
    case Op::channel_scale_backward:
      return [](const Call& c) {
        cpu::channel_scale_backward(c.rows(), c.last(), c.x<T>(0), c.x<T>(1), c.x<T>(2), c.y<T>(), c.y<T>(1));
      };
    case Op::relu2: return [](const Call& c) { cpu::relu2(c.in[0].numel(), relu2_attrs(c.n).slope, c.x<T>(0), c.y<T>()); };
    case Op::relu2_backward:
      return [](const Call& c) {
        cpu::relu2_backward(c.in[0].numel(), relu2_backward_attrs(c.n).slope, c.x<T>(0), c.x<T>(1), c.y<T>());
      };
    case Op::rms_norm_rope:
    case Op::rms_norm_rope_gain:
      return [](const Call& c) {
        NormRopeDims d = norm_rope_dims(c.n, c.s0());
        const T* gain = c.n.op == Op::rms_norm_rope_gain ? c.x<T>(1) : nullptr;
        cpu::rms_norm_rope(d.b, d.t, d.h, d.hd, d.rot, d.base, d.train_len, d.inverse, d.eps, c.x<T>(0), gain, c.y<T>());
      };
    case Op::rms_norm_rope_backward:
      return [](const Call& c) {
        NormRopeDims d = norm_rope_dims(c.n, c.s0());
        cpu::rms_norm_rope_backward(d.b, d.t, d.h, d.hd, d.rot, d.base, d.train_len, d.inverse, d.eps, c.x<T>(0),
                                    static_cast<const T*>(nullptr), c.x<T>(1), c.y<T>(), static_cast<T*>(nullptr));
      };
    case Op::rms_norm_rope_gain_backward:
      return [](const Call& c) {
        NormRopeDims d = norm_rope_dims(c.n, c.s0());
        cpu::rms_norm_rope_backward(d.b, d.t, d.h, d.hd, d.rot, d.base, d.train_len, d.inverse, d.eps, c.x<T>(0),
                                    c.x<T>(1), c.x<T>(2), c.y<T>(), c.y<T>(1));
      };
    case Op::rms_norm_scaled:
      return [](const Call& c) {
        const attrs::rms_norm_scaled a = rms_norm_scaled_attrs(c.n);
        cpu::rms_norm_scaled(c.rows(), c.last(), a.eps, a.c, c.x<T>(0), c.y<T>());
      };
    case Op::rms_norm_scaled_backward:
      return [](const Call& c) {
        const attrs::rms_norm_scaled_backward a = rms_norm_scaled_backward_attrs(c.n);
        cpu::rms_norm_scaled_backward(c.rows(), c.last(), a.eps, a.c, c.x<T>(0), c.x<T>(1), c.y<T>());
      };
    // ---- gradient sums folded into their producers (fold_gradient_sums): the product, then c
    // added into it, as add(matmul(a, b), c) rounds it
    case Op::matmul_add:
      return [](const Call& c) {
        MatmulDims d = matmul_dims(c.n, c.in[0].shape(), c.in[1].shape(), c.out[0].shape());
        cpu::matmul(d.batch, d.m, d.n, d.k, c.x<T>(0), d.trans_a, c.x<T>(1), d.trans_b, d.stride_b, c.y<T>());
        cpu::add_into(c.out[0].numel(), c.x<T>(2), c.y<T>());
      };
    case Op::rms_norm_backward_add:
      return [](const Call& c) {
        cpu::rms_norm_backward_add(c.rows(), c.last(), rms_norm_backward_add_attrs(c.n).eps, c.x<T>(0), c.x<T>(1),
                                   c.x<T>(2), c.y<T>());
      };
    // ---- the pre-norm fused into the residual op (fuse_graph): the stream, then its norm
    case Op::mix_rms_norm:
      return [](const Call& c) {
        cpu::mix_rms_norm(c.rows(), c.last(), mix_rms_norm_attrs(c.n).eps, c.x<T>(0), c.x<T>(1), c.x<T>(2), c.x<T>(3),
                          c.y<T>(), c.y<T>(1));
      };
    case Op::add_scaled_rms_norm:
      return [](const Call& c) {
        cpu::add_scaled_rms_norm(c.rows(), c.last(), add_scaled_rms_norm_attrs(c.n).eps, c.x<T>(0), c.x<T>(1), c.x<T>(2),
                                 c.y<T>(), c.y<T>(1));
      };
    case Op::channel_scale_backward_add:
      return [](const Call& c) {
        cpu::channel_scale_backward_add(c.rows(), c.last(), c.x<T>(0), c.x<T>(1), c.x<T>(2), c.x<T>(3), c.y<T>(),
                                        c.y<T>(1));
      };
    default: return nullptr;
  }
}

// Ops whose tensors are all integers.
Kernel integer_kernel(Op op) {
  if (Kernel k = layout_kernel<int32_t>(op)) return k;
  switch (op) {
    case Op::ngram_hash:
      return [](const Call& c) {
        NgramArgs h = ngram_args(c.n);
        cpu::ngram_hash(c.s0()[0], c.s0()[1], h.n, h.buckets, h.kind, h.primes, h.seed, c.ids(0), c.y<int32_t>());
      };
    case Op::ngram_hash_at:
      return [](const Call& c) {
        NgramArgs h = ngram_args(c.n);
        cpu::ngram_hash_at(c.s0()[0], h.n, h.buckets, h.kind, h.primes, h.seed, int64_t(c.ids(1)[0]), c.ids(0), c.y<int32_t>());
      };
    case Op::assign:  // an integer state (decode steps' last ids)
      return [](const Call& c) { std::memcpy(const_cast<Tensor&>(c.in[0]).raw(), c.in[1].raw(), c.in[1].nbytes()); };
    default: return nullptr;
  }
}

}  // namespace

bool cpu_has_kernel(Op op) {
  // Leaves are bound by the executor, never run.
  return op == Op::input || op == Op::param || real_kernel<float>(op) || integer_kernel(op);
}

namespace {

bool any_bf16(const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts)
    if (t.dtype() == DType::bf16) return true;
  return false;
}

// A node touching bf16-stored values (runtime/precision_pass.h): as the CUDA kernels do, read them
// widened to fp32 exactly, compute in fp32 and round the bf16 outputs once at the store (to nearest
// even). The fp32 temporaries are host memory (the stand-in device's tensors are host memory too).
void run_widened(const Node& n, const std::vector<Tensor>& ins, std::vector<Tensor>& outs) {
  std::vector<Tensor> wide_in, wide_out;
  for (const Tensor& t : ins) {
    if (t.dtype() != DType::bf16) {
      wide_in.push_back(t);
      continue;
    }
    Tensor w(t.shape(), DType::f32);
    const uint16_t* src = t.data<uint16_t>();
    float* dst = w.data<float>();
    for (int64_t i = 0; i < t.numel(); i++) dst[i] = bf16_to_f32(src[i]);
    wide_in.push_back(w);
  }
  for (const Tensor& t : outs) wide_out.push_back(t.dtype() == DType::bf16 ? Tensor(t.shape(), DType::f32) : t);
  cpu_run_node(n, wide_in, wide_out);
  for (size_t k = 0; k < outs.size(); k++) {
    if (outs[k].dtype() != DType::bf16) continue;
    const float* src = wide_out[k].data<float>();
    uint16_t* dst = outs[k].data<uint16_t>();
    for (int64_t i = 0; i < outs[k].numel(); i++) dst[i] = f32_to_bf16(src[i]);
  }
}

}  // namespace

void cpu_run_node(const Node& n, const std::vector<Tensor>& ins, std::vector<Tensor>& outs) {
  if (any_bf16(ins) || any_bf16(outs)) {
    run_widened(n, ins, outs);
    return;
  }
  // The element type comes from the data: the first real tensor the node touches.
  DType t = DType::f32;
  bool found = false;
  for (const Tensor& x : outs)
    if (!found && dtype_is_float(x.dtype())) t = x.dtype(), found = true;
  for (const Tensor& x : ins)
    if (!found && dtype_is_float(x.dtype())) t = x.dtype(), found = true;
  Kernel k = !found ? integer_kernel(n.op) : t == DType::f32 ? real_kernel<float>(n.op)
                                           : t == DType::f64 ? real_kernel<double>(n.op) : nullptr;
  if (found && t != DType::f32 && t != DType::f64)
    throw std::runtime_error(std::string("CPU backend: op '") + op_info(n.op).name + "' has no " + dtype_name(t) +
                             " kernel (CPU computes in f32 or f64)");
  if (!k)
    throw std::logic_error(std::string("CPU backend: no kernel for op '") + op_info(n.op).name + "' on " +
                           (found ? dtype_name(t) : "integer") + " tensors");
  k(Call{n, ins, outs});
}

}  // namespace golf
