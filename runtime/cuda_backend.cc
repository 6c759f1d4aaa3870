#include "runtime/cuda_backend.h"

#include <stdexcept>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/runtime_api.h"
#include "runtime/backend_util.h"
#include "runtime/bf16_weight_cache.h"
#include "runtime/precision_pass.h"

namespace golf {

namespace {

// Device tensors, fp32 or int32, or bf16 exactly where runtime/precision_pass.h's table lets the
// op read or write one; attention's q, k, v all bf16 or all fp32, and nothing else of that node in
// bf16 unless they are (the kernel's direct path).
void require_device_storage(const Node& n, const std::vector<Tensor>& ins, const std::vector<Tensor>& outs,
                            const CudaRunOptions& opt) {
  std::vector<Shape> shapes;
  for (const Tensor& t : ins) shapes.push_back(t.shape());
  const PrecisionRule rule{!opt.matmul_fp32, !opt.attention_fp32};
  auto fail = [&](const std::string& what) {
    throw std::runtime_error(std::string("CUDA backend: op '") + op_info(n.op).name + "' " + what);
  };
  bool any_bf16 = false;
  for (size_t list = 0; list < 2; list++) {
    const std::vector<Tensor>& ts = list == 0 ? ins : outs;
    for (size_t i = 0; i < ts.size(); i++) {
      const Tensor& t = ts[i];
      if (t.device() != Device::cuda) fail(std::string("was given a ") + device_name(t.device()) + " tensor");
      if (t.dtype() == DType::f32 || t.dtype() == DType::i32) continue;
      const bool allowed = t.dtype() == DType::bf16 &&
                           (list == 0 ? reads_bf16(n, int(i), shapes, rule) : writes_bf16(n, int(i), shapes, rule));
      if (!allowed)
        fail(std::string("has no kernel for a ") + dtype_name(t.dtype()) + (list == 0 ? " input " : " output ") +
             std::to_string(i) + " (DESIGN §3: bf16 only where runtime/precision_pass.h allows it)");
      any_bf16 = true;
    }
  }
  if (any_bf16 && (n.op == Op::attention || n.op == Op::attention_backward)) {
    const bool q16 = ins[0].dtype() == DType::bf16;
    if (!q16 || ins[1].dtype() != DType::bf16 || ins[2].dtype() != DType::bf16)
      fail("needs q, k and v all stored in bf16 when any of its tensors is (the direct path)");
  }
}

cuda::Real real(const Tensor& t) { return cuda::Real{t.raw(), t.dtype() == DType::bf16}; }
cuda::RealOut real_out(Tensor& t) { return cuda::RealOut{t.raw(), t.dtype() == DType::bf16}; }

// The process's bf16 weight copies, in device memory, converted by the matmul's kernel. Never
// destroyed (the CUDA context may be gone at exit); copies of freed weights are freed on a miss.
Bf16WeightCache& weight_cache() {
  static Bf16WeightCache* c = new Bf16WeightCache(Bf16CacheOps{
      [](size_t bytes) { return cuda::device_alloc(bytes); }, [](void* p) { cuda::device_free(p); },
      [](int64_t n, const float* src, void* dst) { cuda::to_bf16(n, src, dst); }});
  return *c;
}
int64_t g_uncached_conversions = 0;

// The bf16 copy of a flagged weight operand, or null (then the matmul converts it into scratch).
const void* cached_bf16(const Tensor& t, bool flagged) {
  if (!flagged) return nullptr;
  if (Bf16WeightCache::eligible(t)) return weight_cache().get(t);
  g_uncached_conversions++;
  return nullptr;
}

// One node's launch: its attributes come from runtime/op_attrs.h, its geometry from backend_util.h.
struct Call {
  const Node& n;
  const std::vector<Tensor>& in;
  std::vector<Tensor>& out;
  int tag;  // names the node in a kernel's fault (cuda_take_fault)
  const CudaRunOptions& opt;
  const float* x(size_t i) const { return in[i].data<float>(); }
  const int32_t* ids(size_t i) const { return in[i].data<int32_t>(); }
  const void* raw(size_t i) const { return in[i].raw(); }
  // An input that the op writes in place (assign's and accumulate's target, the KV caches): its
  // pointer is taken through the writable Tensor::raw(), which counts the write (Storage::writes),
  // so a cached copy of it (the bf16 weight cache) can never be used stale.
  float* written(size_t i) const { return const_cast<Tensor&>(in[i]).data<float>(); }
  void* written_raw(size_t i) const { return const_cast<Tensor&>(in[i]).raw(); }
  float* y(size_t i = 0) const { return out[i].data<float>(); }
  // A real tensor that may be stored in bf16 (runtime/precision_pass.h), for the Real/RealOut
  // kernels of cuda_kernels.h.
  cuda::Real r(size_t i) const { return real(in[i]); }
  cuda::RealOut w(size_t i = 0) const { return real_out(out[i]); }
  const Shape& s0() const { return in.empty() ? out[0].shape() : in[0].shape(); }
  int64_t last() const { return s0().back(); }               // input 0's last dimension
  int64_t rows() const { return in[0].numel() / last(); }    // and the rows of it
};
using Kernel = void (*)(const Call&);

// The kernel of each op; nullptr when kernels/cuda/ has none (the executor then refuses the graph
// at plan time, before anything runs: there is no CPU fallback).
Kernel cuda_kernel(Op op) {
  switch (op) {
    // ---- layout: 4-byte words, so float and int32 tensors alike
    case Op::reshape: return [](const Call& c) { cuda::copy4(c.in[0].numel(), c.raw(0), c.out[0].raw()); };
    case Op::permute: return [](const Call& c) { cuda::permute4(c.s0(), c.raw(0), permute_attrs(c.n).perm, c.out[0].raw()); };
    case Op::slice:
      return [](const Call& c) {
        AxisRange r = axis_range(c.n, c.s0());
        cuda::slice4(r.s.outer, r.s.dim, r.s.inner, r.lo, r.hi, c.raw(0), c.out[0].raw());
      };
    case Op::pad:
      return [](const Call& c) {
        AxisRange r = axis_range(c.n, c.s0());
        cuda::pad4(r.s.outer, r.s.dim, r.s.inner, r.lo, r.hi, c.raw(0), c.out[0].raw());
      };
    case Op::concat:
      return [](const Call& c) {
        const int64_t axis = concat_attrs(c.n).axis, out_dim = c.out[0].dim(int(axis));
        int64_t at = 0;
        for (const Tensor& t : c.in) {
          Split s = split(t.shape(), axis);
          cuda::concat_part4(s.outer, s.dim, s.inner, out_dim, at, t.raw(), c.out[0].raw());
          at += s.dim;
        }
      };
    case Op::full: return [](const Call& c) { cuda::fill(c.out[0].numel(), float(full_attrs(c.n).value), c.y()); };
    case Op::to_real: return [](const Call& c) { cuda::to_real(c.out[0].numel(), c.ids(0), c.y()); };
    case Op::ngram_hash:
      return [](const Call& c) {
        NgramArgs h = ngram_args(c.n);
        cuda::ngram_hash(c.s0()[0], c.s0()[1], h.n, h.buckets, h.kind, h.primes, h.seed, c.ids(0), c.out[0].data<int32_t>());
      };
    case Op::ngram_hash_at:
      return [](const Call& c) {
        NgramArgs h = ngram_args(c.n);
        cuda::ngram_hash_at(c.s0()[0], h.n, h.buckets, h.kind, h.primes, h.seed, c.ids(1), c.ids(0), c.out[0].data<int32_t>());
      };
    case Op::neg: case Op::exp: case Op::log: case Op::sqrt: case Op::rsqrt: case Op::square: case Op::tanh:
    case Op::sigmoid: case Op::softplus: case Op::relu: case Op::step: case Op::gelu: case Op::gelu_grad:
    case Op::silu: case Op::elu: case Op::leaky_relu: case Op::scale: case Op::add_scalar: case Op::pow_scalar:
      return [](const Call& c) {
        UnaryArgs u = unary_args(c.n);
        cuda::unary(u.kind, c.in[0].numel(), c.x(0), c.y(), u.a);
      };
    case Op::add: case Op::sub: case Op::mul: case Op::div:
      return [](const Call& c) {
        const Shape& os = c.out[0].shape();
        cuda::binary(binary_kind(c.n.op), os, padded(c.in[0].shape(), os.size()), c.x(0), padded(c.in[1].shape(), os.size()),
                     c.x(1), c.y());
      };
    case Op::sum: return [](const Call& c) { cuda::reduce_sum(c.s0(), c.x(0), c.out[0].shape(), c.y(), 1.0); };
    case Op::mean:
      return [](const Call& c) {
        const double sc = c.out[0].numel() ? double(c.out[0].numel()) / double(c.in[0].numel()) : 1.0;
        cuda::reduce_sum(c.s0(), c.x(0), c.out[0].shape(), c.y(), sc);
      };
    case Op::sum_to:
      return [](const Call& c) { cuda::reduce_sum(c.s0(), c.x(0), padded(c.out[0].shape(), c.s0().size()), c.y()); };
    case Op::expand:
      return [](const Call& c) { cuda::broadcast(padded(c.s0(), c.out[0].shape().size()), c.x(0), c.out[0].shape(), c.y()); };
    case Op::embedding:
      return [](const Call& c) { cuda::embedding(c.in[1].numel(), c.in[0].dim(0), c.in[0].dim(1), c.x(0), c.ids(1), c.y(), c.tag); };
    case Op::scatter_add_rows:
      return [](const Call& c) {
        cuda::scatter_add_rows(c.in[0].numel(), scatter_add_rows_attrs(c.n).rows, c.in[1].dim(-1), c.ids(0), c.x(1), c.y(), c.tag);
      };
    case Op::index_select:
      return [](const Call& c) { cuda::index_select(c.rows(), c.last(), c.in[1].numel(), c.x(0), c.ids(1), c.y(), c.tag); };
    case Op::index_add:
      return [](const Call& c) { cuda::index_add(c.rows(), c.last(), index_add_attrs(c.n).channels, c.x(0), c.ids(1), c.y(), c.tag); };
    case Op::token_shift:
      return [](const Call& c) {
        const Shape& s = c.s0();
        cuda::token_shift(s[0], s[1], c.in[0].numel() / (s[0] * s[1]), token_shift_attrs(c.n).k, c.x(0), c.y());
      };
    case Op::matmul:
      return [](const Call& c) {
        MatmulDims d = matmul_dims(c.n, c.in[0].shape(), c.in[1].shape(), c.out[0].shape());
        if (c.opt.matmul_fp32) {
          cuda::matmul(d.batch, d.m, d.n, d.k, c.r(0), d.trans_a, c.r(1), d.trans_b, d.stride_b, c.w(),
                       cuda::MatmulPrecision::fp32);
          return;
        }
        // A bf16-stored operand is read as it is; a cached weight (never bf16-stored: a leaf) comes
        // from the cache.
        const void* a16 = cached_bf16(c.in[0], (c.opt.cached_inputs & 1u) != 0);
        const void* b16 = cached_bf16(c.in[1], (c.opt.cached_inputs & 2u) != 0);
        cuda::matmul(d.batch, d.m, d.n, d.k, c.r(0), d.trans_a, c.r(1), d.trans_b, d.stride_b, c.w(),
                     cuda::MatmulPrecision::bf16, a16, b16);
      };
    case Op::rms_norm: return [](const Call& c) { cuda::rms_norm(c.rows(), c.last(), rms_norm_attrs(c.n).eps, c.x(0), c.w()); };
    case Op::rms_norm_backward:
      return [](const Call& c) { cuda::rms_norm_backward(c.rows(), c.last(), rms_norm_backward_attrs(c.n).eps, c.x(0), c.x(1), c.y()); };
    case Op::rope:  // rope_at's kernel at position 0 (no position tensor)
      return [](const Call& c) {
        RopeDims d = rope_dims(c.n, c.s0());
        cuda::rope_at(d.b, d.t, d.h, d.hd, d.rot, d.base, d.train_len, d.ntk_len, nullptr, d.inverse, c.x(0), c.y());
      };
    case Op::rope_at:
      return [](const Call& c) {
        RopeDims d = rope_dims(c.n, c.s0());
        cuda::rope_at(d.b, d.t, d.h, d.hd, d.rot, d.base, d.train_len, d.ntk_len, c.ids(1), d.inverse, c.x(0), c.y());
      };
    case Op::attention:
      return [](const Call& c) {
        AttentionDims d = attention_dims(c.n, c.s0(), c.in[1].shape());
        if (c.opt.attention_fp32) {
          cuda::attention(d.b, d.t, d.h, d.hkv, d.hd, d.scale, d.xsa, c.x(0), c.x(1), c.x(2), c.y(), c.y(1));
          return;
        }
        cuda::attention_tc(d.b, d.t, d.h, d.hkv, d.hd, d.scale, d.xsa, c.r(0), c.r(1), c.r(2), c.w(), c.y(1));
      };
    case Op::attention_backward:
      return [](const Call& c) {
        AttentionDims d = attention_dims(c.n, c.s0(), c.in[1].shape());
        if (c.opt.attention_fp32) {
          cuda::attention_backward(d.b, d.t, d.h, d.hkv, d.hd, d.scale, d.xsa, c.x(0), c.x(1), c.x(2), c.x(3), c.x(4),
                                   c.x(5), c.y(), c.y(1), c.y(2));
          return;
        }
        cuda::attention_tc_backward(d.b, d.t, d.h, d.hkv, d.hd, d.scale, d.xsa, c.r(0), c.r(1), c.r(2), c.r(3), c.x(4),
                                    c.r(5), c.w(0), c.w(1), c.w(2));
      };
    case Op::attention_cached:
      return [](const Call& c) {
        AttentionDims d = attention_dims(c.n, c.s0(), c.in[1].shape());
        // The caches are bound leaves that this op updates in place (as assign does).
        cuda::attention_cached(d.b, d.t, c.in[3].dim(1), d.h, d.hkv, d.hd, d.scale, d.xsa, c.ids(5), c.x(0), c.x(1), c.x(2),
                               c.written(3), c.written(4), c.y(), c.tag);
      };
    case Op::cross_entropy:
      return [](const Call& c) {
        cuda::cross_entropy(c.s0()[0], c.s0()[1], cross_entropy_attrs(c.n).softcap, c.r(0), c.ids(1), c.y(), c.tag);
      };
    case Op::cross_entropy_backward:
      return [](const Call& c) {
        cuda::cross_entropy_backward(c.s0()[0], c.s0()[1], cross_entropy_backward_attrs(c.n).softcap, c.r(0), c.ids(1),
                                     c.x(2), c.w(), c.tag);
      };
    case Op::soft_cross_entropy:
      return [](const Call& c) { cuda::soft_cross_entropy(c.s0()[0], c.s0()[1], c.x(0), c.x(1), c.y()); };
    case Op::soft_cross_entropy_backward:
      return [](const Call& c) {
        cuda::soft_cross_entropy_backward(c.s0()[0], c.s0()[1], c.x(0), c.x(1), c.x(2), c.y(), c.y(1));
      };
    case Op::fake_quant:
      return [](const Call& c) { cuda::fake_quant(c.rows(), c.last(), int(fake_quant_attrs(c.n).bits), c.x(0), c.y()); };
    case Op::assign: return [](const Call& c) { cuda::copy4(c.in[1].numel(), c.raw(1), c.written_raw(0)); };
    case Op::accumulate: return [](const Call& c) { cuda::add_into(c.in[1].numel(), c.x(1), c.written(0)); };
    // ---- fused (runtime/fuse_pass.cc)
    case Op::add_scaled:
      return [](const Call& c) { cuda::add_scaled(c.rows(), c.last(), c.x(0), c.r(1), c.x(2), c.y()); };
    case Op::mix: return [](const Call& c) { cuda::mix(c.rows(), c.last(), c.x(0), c.x(1), c.x(2), c.x(3), c.y()); };
    case Op::channel_scale_backward:
      return [](const Call& c) { cuda::channel_scale_backward(c.rows(), c.last(), c.r(0), c.x(1), c.x(2), c.w(), c.y(1)); };
    case Op::relu2: return [](const Call& c) { cuda::relu2(c.in[0].numel(), relu2_attrs(c.n).slope, c.r(0), c.w()); };
    case Op::relu2_backward:
      return [](const Call& c) { cuda::relu2_backward(c.in[0].numel(), relu2_backward_attrs(c.n).slope, c.r(0), c.r(1), c.w()); };
    case Op::rms_norm_rope:
    case Op::rms_norm_rope_gain:
      return [](const Call& c) {
        NormRopeDims d = norm_rope_dims(c.n, c.s0());
        const float* gain = c.n.op == Op::rms_norm_rope_gain ? c.x(1) : nullptr;
        cuda::rms_norm_rope(d.b, d.t, d.h, d.hd, d.rot, d.base, d.train_len, d.inverse, d.eps, c.r(0), gain, c.w());
      };
    case Op::rms_norm_rope_backward:
      return [](const Call& c) {
        NormRopeDims d = norm_rope_dims(c.n, c.s0());
        cuda::rms_norm_rope_backward(d.b, d.t, d.h, d.hd, d.rot, d.base, d.train_len, d.inverse, d.eps, c.r(0), nullptr,
                                     c.x(1), c.w(), nullptr);
      };
    case Op::rms_norm_rope_gain_backward:
      return [](const Call& c) {
        NormRopeDims d = norm_rope_dims(c.n, c.s0());
        cuda::rms_norm_rope_backward(d.b, d.t, d.h, d.hd, d.rot, d.base, d.train_len, d.inverse, d.eps, c.r(0), c.x(1),
                                     c.x(2), c.w(), c.y(1));
      };
    case Op::rms_norm_scaled:
      return [](const Call& c) {
        const attrs::rms_norm_scaled a = rms_norm_scaled_attrs(c.n);
        cuda::rms_norm_scaled(c.rows(), c.last(), a.eps, a.c, c.x(0), c.w());
      };
    case Op::rms_norm_scaled_backward:
      return [](const Call& c) {
        const attrs::rms_norm_scaled_backward a = rms_norm_scaled_backward_attrs(c.n);
        cuda::rms_norm_scaled_backward(c.rows(), c.last(), a.eps, a.c, c.x(0), c.x(1), c.y());
      };

    // ---- gradient sums folded into their producers (fold_gradient_sums, runtime/fuse_pass.h):
    // matmul_add's addend through cuBLASLt's epilogue (β = 1), its output fp32; operands as
    // stored (fp32, or bf16 read as they are), a weight through the bf16 cache as matmul's.
    case Op::matmul_add:
      return [](const Call& c) {
        MatmulDims d = matmul_dims(c.n, c.in[0].shape(), c.in[1].shape(), c.out[0].shape());
        auto operand = [&](size_t i) { return cuda::Real{c.raw(i), c.in[i].dtype() == DType::bf16}; };
        const cuda::RealOut y{c.y(), false};
        if (c.opt.matmul_fp32) {
          cuda::matmul(d.batch, d.m, d.n, d.k, operand(0), d.trans_a, operand(1), d.trans_b, d.stride_b, y,
                       cuda::MatmulPrecision::fp32, nullptr, nullptr, c.x(2));
          return;
        }
        const void* a16 = cached_bf16(c.in[0], (c.opt.cached_inputs & 1u) != 0);
        const void* b16 = cached_bf16(c.in[1], (c.opt.cached_inputs & 2u) != 0);
        cuda::matmul(d.batch, d.m, d.n, d.k, operand(0), d.trans_a, operand(1), d.trans_b, d.stride_b, y,
                     cuda::MatmulPrecision::bf16, a16, b16, c.x(2));
      };
    case Op::rms_norm_backward_add:
      return [](const Call& c) {
        cuda::rms_norm_backward(c.rows(), c.last(), rms_norm_backward_add_attrs(c.n).eps, c.x(0), c.x(1), c.y(), c.x(2));
      };
    // ---- the pre-norm fused into the residual op (fuse_graph): the stream (output 0) in fp32,
    // its norm (output 1, a matmul's operand) as the graph stores it
    case Op::mix_rms_norm:
      return [](const Call& c) {
        cuda::mix_rms_norm(c.rows(), c.last(), mix_rms_norm_attrs(c.n).eps, c.x(0), c.x(1), c.x(2), c.x(3), c.y(),
                           c.w(1));
      };
    case Op::add_scaled_rms_norm:
      return [](const Call& c) {
        cuda::add_scaled_rms_norm(c.rows(), c.last(), add_scaled_rms_norm_attrs(c.n).eps, c.x(0), c.r(1), c.x(2), c.y(),
                                  c.w(1));
      };
    // the running sum (output 0) in fp32: it is no matmul operand
    case Op::channel_scale_backward_add:
      return [](const Call& c) {
        cuda::channel_scale_backward_add(c.rows(), c.last(), c.x(0), c.x(1), c.x(2), c.x(3), c.y(), c.y(1));
      };
    default: return nullptr;
  }
}

}  // namespace

int64_t cuda_weight_conversions() { return weight_cache().conversions() + g_uncached_conversions; }

bool cuda_has_kernel(Op op) {
  // Leaves are bound by the executor, never run.
  return op == Op::input || op == Op::param || cuda_kernel(op) != nullptr;
}

void cuda_run_node(const Node& n, const std::vector<Tensor>& in, std::vector<Tensor>& out, int tag,
                   const CudaRunOptions& opt) {
  require_device_storage(n, in, out, opt);
  Kernel k = cuda_kernel(n.op);
  if (!k) throw std::logic_error(std::string("CUDA backend: no kernel for op '") + op_info(n.op).name + "'");
  k(Call{n, in, out, tag, opt});
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

const void* cuda_prepare_weight(const Tensor& t) {
  return Bf16WeightCache::eligible(t) ? weight_cache().get(t) : nullptr;
}

void cuda_freeze_weight_cache(bool frozen) { weight_cache().set_frozen(frozen); }

}  // namespace golf
