#include "runtime/device_ledger.h"

#include <cstdio>
#include <stdexcept>

#include "kernels/cuda/attention_layout.h"
#include "kernels/channel_chunks.h"
#include "kernels/reduce_plan.h"
#include "runtime/backend_util.h"
#include "runtime/device_memory.h"

#ifdef GOLFRT_WITH_CUDA
#include "kernels/cuda/runtime_api.h"
#include "runtime/cuda_backend.h"
#endif

namespace golf {

void DeviceLedger::add(const DeviceLedger& o) {
  runs += o.runs;
  uploads += o.uploads, upload_bytes += o.upload_bytes;
  downloads += o.downloads, download_bytes += o.download_bytes;
  launches += o.launches;
  allocations += o.allocations, allocation_bytes += o.allocation_bytes;
  syncs += o.syncs;
  graph_launches += o.graph_launches, captures += o.captures;
}

std::string DeviceLedger::report() const {
  char line[384];
  std::snprintf(line, sizeof line,
                "runs %lld | up %lld copies %lld B | down %lld copies %lld B | launches %lld | allocations in run %lld "
                "(%lld B) | syncs %lld",
                (long long)runs, (long long)uploads, (long long)upload_bytes, (long long)downloads,
                (long long)download_bytes, (long long)launches, (long long)allocations, (long long)allocation_bytes,
                (long long)syncs);
  std::string out = line;
  if (graph_launches || captures) {
    std::snprintf(line, sizeof line, " | graph launches %lld (captures %lld)", (long long)graph_launches, (long long)captures);
    out += line;
  }
  return out;
}

namespace {

// kernels/cuda/runtime_api.cu's FaultRecord: code, tag, three int64s (checked against it below).
constexpr int64_t kFaultRecordBytes = 32;
#ifdef GOLFRT_WITH_CUDA
static_assert(sizeof(cuda::FaultRecord) == kFaultRecordBytes, "device_ledger: the fault record changed size");
#endif

// CUB's DeviceRadixSort::SortPairs on 32-bit keys (kernels/cuda/gather.cu) is not ours to see:
// one single-tile kernel for a small input; above that, onesweep: a histogram memset, a histogram
// kernel, a scan, and per 8-bit pass a lookback memset and a pass kernel (4 passes). An estimate
// from CUB's dispatch, stated as one; the scratch it asks for is ours plus CUB's temporaries.
constexpr int64_t kCubSingleTileItems = 4096;
int64_t cub_sort_launches(int64_t n) { return n <= kCubSingleTileItems ? 1 : 3 + 2 * 4; }
int64_t sort_scratch_bytes(int64_t n) {
  const int64_t words = (n + 63) / 64 * 64;
  return words * 4 * 3 + (int64_t(1) << 20);  // + CUB's temporaries, estimated at 1 MiB
}

// ids checked by a kernel first (gather.cu's check_ids), then the op's kernel.
int64_t checked(int64_t ids, int64_t kernel_elems) { return (ids > 0 ? 1 : 0) + (kernel_elems > 0 ? 1 : 0); }

int64_t sorted_scatter(int64_t ids, int64_t out_elems) {
  if (out_elems == 0) return ids > 0 ? 1 : 0;
  if (ids == 0) return 1;  // a fill
  return 1 + 1 + cub_sort_launches(ids) + 1;  // id check, iota, sort, segment sum
}

}  // namespace

int64_t cuda_scratch_after(int64_t capacity, int64_t bytes) { return bytes > capacity ? bytes + bytes / 2 : capacity; }

CudaNodeCost cuda_node_cost(const Node& n, const std::vector<Shape>& ins, const std::vector<Shape>& outs,
                            bool matmul_bf16, bool attention_bf16, uint32_t cached_inputs, uint32_t bf16_inputs,
                            uint32_t bf16_outputs) {
  (void)bf16_outputs;  // a bf16 output costs no launch: the kernel rounds at its store
  const int64_t out_n = outs.empty() ? 0 : shape_numel(outs[0]);
  const int64_t one = out_n > 0 ? 1 : 0;  // a kernel over no elements is not launched
  auto in_n = [&](size_t i) { return shape_numel(ins.at(i)); };
  CudaNodeCost c;
  switch (n.op) {
    case Op::input: case Op::param: return c;
    // Device-to-device copies (cudaMemcpyAsync): a stream operation each, as a kernel is.
    case Op::reshape: c.launches = one; return c;
    case Op::assign: c.launches = in_n(1) > 0 ? 1 : 0; return c;
    case Op::accumulate: c.launches = in_n(1) > 0 ? 1 : 0; return c;
    case Op::permute: case Op::slice: case Op::pad: case Op::full: case Op::to_real: case Op::ngram_hash:
    case Op::ngram_hash_at:
    case Op::neg: case Op::exp: case Op::log: case Op::sqrt: case Op::rsqrt: case Op::square: case Op::tanh:
    case Op::sigmoid: case Op::softplus: case Op::relu: case Op::step: case Op::gelu: case Op::gelu_grad:
    case Op::silu: case Op::elu: case Op::leaky_relu: case Op::scale: case Op::add_scalar: case Op::pow_scalar:
    case Op::add: case Op::sub: case Op::mul: case Op::div:
    case Op::expand:
    case Op::token_shift: case Op::rms_norm: case Op::rms_norm_backward: case Op::rms_norm_backward_add: case Op::rope:
    case Op::rope_at:
    case Op::cross_entropy: case Op::cross_entropy_backward: case Op::soft_cross_entropy:
    case Op::soft_cross_entropy_backward: case Op::fake_quant:
      c.launches = one;
      return c;
    case Op::sum: case Op::mean: case Op::sum_to: {
      // kernels/reduce_plan.h: one pass, or a second over per-chunk partials (in scratch) when the
      // outputs are too few to fill the GPU. The dims as cuda_backend.cc passes them.
      const Shape& in = ins.at(0);
      const kernels::ReducePlan p = kernels::reduce_plan(in, n.op == Op::sum_to ? padded(outs.at(0), in.size()) : outs.at(0));
      c.launches = p.launches();
      c.scratch_bytes = p.scratch_bytes();
      return c;
    }
    case Op::concat:
      for (const Shape& s : ins) c.launches += shape_numel(s) > 0 ? 1 : 0;  // one copy per part
      return c;
    case Op::embedding: c.launches = checked(in_n(1), out_n); return c;
    case Op::index_select: c.launches = checked(in_n(1), out_n); return c;
    case Op::scatter_add_rows: {
      const int64_t ids = in_n(0);
      c.launches = sorted_scatter(ids, out_n);
      if (out_n > 0 && ids > 0) c.scratch_bytes = sort_scratch_bytes(ids);
      return c;
    }
    case Op::index_add: {
      const int64_t ids = in_n(1);
      c.launches = sorted_scatter(ids, out_n);
      if (out_n > 0 && ids > 0) c.scratch_bytes = sort_scratch_bytes(ids);
      return c;
    }
    case Op::matmul:
    case Op::matmul_add: {  // the addend is read by the GEMM's epilogue: no launch of its own
      // As cuda_backend.cc and kernels/cuda/matmul.cu: operands converted to bf16 into scratch (a
      // launch each, none for a cached weight), then one cuBLASLt call, or one per problem when A is transposed against a
      // shared B. cuBLASLt may split a call into more kernels (split-K); counted as one.
      const MatmulDims d = matmul_dims(n, ins.at(0), ins.at(1), outs.at(0));
      if (out_n == 0) return c;
      if (d.k == 0) {
        c.launches = 1;  // a fill (matmul_add: a copy of the addend)
        return c;
      }
      const bool merged = d.stride_b == 0 && !d.trans_a;  // stacked A against one B: one problem
      const int64_t calls = d.stride_b == 0 && !merged && d.batch > 1 ? d.batch : 1;
      c.launches = calls;
      if (matmul_bf16) {
        // An operand stored in bf16 is read as it is: neither a conversion nor scratch for it. A
        // cached weight is converted elsewhere but keeps its part of the scratch (matmul.cu sizes
        // the scratch for both fp32 operands either way).
        const bool a16 = (bf16_inputs & 1u) != 0, b16 = (bf16_inputs & 2u) != 0;
        c.launches += ((cached_inputs & 1u) || a16 ? 0 : 1) + ((cached_inputs & 2u) || b16 ? 0 : 1);
        const int64_t na = shape_numel(ins.at(0)), nb = shape_numel(ins.at(1));
        c.scratch_bytes = ((a16 ? 0 : (na + 127) / 128 * 128) + (b16 ? 0 : nb)) * 2;
      }
      return c;
    }
    case Op::attention: {
      // fp32: one kernel (XSA inside it). Tensor cores (kernels/cuda/attention_tc.cu): the bf16
      // pack of q, k, v, the forward, and with XSA its own kernel.
      const Shape& q = ins.at(0);
      if (!attention_bf16 || out_n == 0) {
        c.launches = one;
        return c;
      }
      const bool xsa = attention_dims(n, q, ins.at(1)).xsa;
      // q, k, v stored in bf16 (never with XSA: precision_pass.h): read in place, one kernel.
      const bool direct = (bf16_inputs & 7u) == 7u;
      c.launches = direct ? 1 : 2 + (xsa ? 1 : 0);
      c.scratch_bytes = cuda::tc_forward_scratch_bytes(q[0], q[1], q[2], ins.at(1)[2], q[3], direct);
      return c;
    }
    case Op::attention_backward: {
      const Shape& q = ins.at(0);
      const bool xsa = attention_dims(n, q, ins.at(1)).xsa;
      if (shape_numel(q) == 0) return c;
      if (attention_bf16) {
        // Without XSA: pack q, k, v, dy; prep; dq; dk/dv. With XSA: pack q, k, v; the pre-XSA
        // forward; prep; pack its gradient; dq; dk/dv. q, k, v (and y, dy) stored in bf16: no
        // pack, prep, dq, dk/dv.
        const bool direct = (bf16_inputs & 7u) == 7u;
        c.launches = direct ? 3 : xsa ? 6 : 4;
        c.scratch_bytes = cuda::tc_backward_scratch_bytes(q[0], q[1], q[2], ins.at(1)[2], q[3], xsa, direct);
        return c;
      }
      // fp32: XSA recomputes the pre-XSA forward; then the prep, dq and dk/dv kernels.
      c.launches = (xsa ? 1 : 0) + 3;
      const int64_t rows = q[0] * q[1] * q[2], big = rows * q[3];
      c.scratch_bytes = ((rows + 63) / 64 * 64 + (xsa ? 3 * big : 0)) * 4;
      return c;
    }
    case Op::attention_cached: c.launches = one ? 2 : 0; return c;  // cache write, forward
    // The fused chains of runtime/fuse_pass.cc: one launch each, but for channel_scale_backward's
    // two-pass column sum (kernels/cuda/channel_mix.cu), whose partials live in scratch.
    case Op::add_scaled: case Op::mix: case Op::relu2: case Op::relu2_backward: case Op::rms_norm_rope:
    case Op::rms_norm_rope_gain: case Op::rms_norm_rope_backward: case Op::rms_norm_rope_gain_backward:
    case Op::rms_norm_scaled: case Op::rms_norm_scaled_backward: case Op::mix_rms_norm: case Op::add_scaled_rms_norm:
      c.launches = one;
      return c;
    case Op::channel_scale_backward:
    case Op::channel_scale_backward_add: {  // the addend is read by the same kernel
      const int64_t d = ins.at(0).empty() ? 0 : ins.at(0).back();
      const int64_t rows = d > 0 ? in_n(0) / d : 0;
      if (d == 0) return c;
      if (rows == 0) {
        c.launches = 1;  // dw's fill
        return c;
      }
      c.launches = 2;
      c.scratch_bytes = kernels::channel_chunks(rows, d).scratch_bytes;
      return c;
    }
    default:
      throw std::runtime_error(std::string("the CUDA backend has no kernel for op '") + op_info(n.op).name + "'");
  }
}

void DevicePath::upload(int64_t bytes, Tensor* device_dst, const Tensor* host_src) {
  if (bytes == 0) return;
  l_.uploads++, l_.upload_bytes += bytes, l_.syncs++;  // runtime_api's copy_to_device waits for the stream
  if (perform_) device_dst->copy_from(*host_src);
}

void DevicePath::download(int64_t bytes, Tensor* host_dst, const Tensor* device_src) {
  if (bytes == 0) return;
  l_.downloads++, l_.download_bytes += bytes, l_.syncs++;  // copy_to_host waits for the stream
  if (perform_) host_dst->copy_from(*device_src);
}

void DevicePath::sync() {
  l_.syncs++;
#ifdef GOLFRT_WITH_CUDA
  if (perform_ && !standin_device()) cuda::synchronize();
#endif
}

std::string DevicePath::take_fault(int* tag) {
  l_.downloads++, l_.download_bytes += kFaultRecordBytes, l_.syncs++;
  *tag = -1;
  if (perform_) count_download(size_t(kFaultRecordBytes));  // not a Tensor copy: counted for the process here
#ifdef GOLFRT_WITH_CUDA
  if (perform_ && !standin_device()) return cuda_take_fault(tag);
#endif
  return "";  // the stand-in's CPU kernels throw where a CUDA kernel raises a fault
}

void device_allocation_totals(int64_t* count, int64_t* bytes) {
  *count = *bytes = 0;
  if (standin_device()) {
    const DeviceTraffic t = device_traffic();
    *count = t.allocations, *bytes = t.allocation_bytes;
    return;
  }
#ifdef GOLFRT_WITH_CUDA
  cuda::AllocationTotals t = cuda::allocation_totals();
  *count = t.count, *bytes = t.bytes;
#endif
}

int64_t cuda_fault_record_bytes() { return kFaultRecordBytes; }

}  // namespace golf
