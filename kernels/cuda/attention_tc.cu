// Causal GQA attention on tensor cores, FlashAttention-2 style: bf16 operands through
// mma.sync.m16n8k16 with fp32 accumulation, the softmax statistics in fp32, no T×T matrix.
//
//   pack      Q, K, V (and dO) rounded to bf16 into scratch as [B, heads, Tp, HDP]
//             (kernels/cuda/attention_layout.h): one launch for all of them.
//   forward   a block of 4 warps owns 64 query rows (16 per warp) and walks the key tiles 0..its
//             diagonal; each tile of 64 keys and values passes through shared memory. Per warp:
//             S = Q·Kᵀ (16×64), masked on the diagonal tile, an online softmax (running max and
//             sum per row, the sum kept per thread and added over the quad at the end), then
//             O += P·V with P rounded to bf16 straight from the accumulator registers. Writes y
//             (fp32, the graph's [B, T, H, hd]) and lse = ln Σ exp(scale·s).
//   xsa       a separate small kernel after it: y ← y − (y·v̂)v̂, as kernels/cuda/attention.cu.
//   backward  D = dO·o per row (attention.cu's prep kernel, fp32), then two kernels that never add
//             into one element from two threads, so reruns are bit-identical:
//             dq    a block per 64 query rows: per key tile S, dP = dO·Vᵀ, dS = P∘(dP − D),
//                   dQ += dS·K;
//             dk/dv a block per 64 key rows of one KV head: over the group's query heads in order,
//                   then the query tiles from the diagonal on: Sᵀ = K·Qᵀ, dPᵀ = V·dOᵀ,
//                   dV += Pᵀ·dO, dK += dSᵀ·Q.
//             Recomputing S and dP in both costs 7 tile matmuls against the 5 of a backward that
//             adds dq with atomics (3.5 forwards instead of 2.5): the price of determinism.
//
// Fragment layouts are PTX's for mma.m16n8k16 (.bf16): with g = lane/4 and c = lane%4, A's
// registers hold (row g, cols 2c..2c+1), (g+8, 2c..), (g, 2c+8..), (g+8, 2c+8..); B's hold
// (k 2c..2c+1, n g) and (k 2c+8.., n g); C's hold (g, 2c..2c+1) and (g+8, 2c..2c+1). An
// accumulator tile pair (n 0..15) is therefore an A fragment with k = n, which is how P and dS
// feed the second matmul without shared memory. Shared rows are padded by 8 bf16 so the fragment
// loads of a warp fall on 32 distinct banks.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>

#include "kernels/cuda/attention_layout.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace golf::cuda {
namespace {

using bf16 = __nv_bfloat16;

__device__ inline void mma_bf16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// The block's dynamic shared memory (16-byte aligned: the tiles are filled with uint4 stores).
__device__ inline unsigned char* tc_shared() {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  return smem_raw;
}

#define GOLF_UNROLL _Pragma("unroll")
#include "kernels/cuda/attention_tc_kernels.cuh"
#undef GOLF_UNROLL

// ---- launches --------------------------------------------------------------------------------

template <class K> void allow_smem(K kernel, size_t bytes) {
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)), "shared memory size");
}

void check_tc_shape(const char* op, int64_t b, int64_t h, int64_t hkv, int64_t hd) {
  if (hkv <= 0 || h % hkv != 0)
    throw std::invalid_argument(std::string(op) + ": " + std::to_string(h) + " query heads are not a multiple of " +
                                std::to_string(hkv) + " KV heads");
  if (hd <= 0 || hd > kTcMaxHeadDim)
    throw std::invalid_argument(std::string(op) + ": head dim " + std::to_string(hd) +
                                " is outside the tensor-core kernel's 1.." + std::to_string(kTcMaxHeadDim) +
                                " (GOLFRT_ATTENTION=fp32 or ExecOptions.attention_fp32 selects the fp32 kernel)");
  if (b * h > 65535)  // grids put batch × heads on y
    throw std::invalid_argument(std::string(op) + ": batch x heads = " + std::to_string(b * h) + " above 65535");
}

// Rounds up to 4 arrays to bf16 in the packed layout, in one launch.
void pack(int64_t b, int64_t t, int64_t hd, std::initializer_list<std::pair<const float*, int64_t>> srcs,
          std::initializer_list<bf16*> dsts) {
  Pack p{};
  p.b = b, p.t = t, p.tp = tc_rows(t), p.hd = hd, p.hdp = tc_head_dim(hd);
  int64_t largest = 0;
  auto d = dsts.begin();
  for (auto [src, heads] : srcs) {
    p.src[p.n] = src, p.dst[p.n] = *d++, p.heads[p.n] = heads;
    largest = std::max(largest, b * heads * p.tp * p.hdp);
    ++p.n;
  }
  pack_kernel<<<dim3(blocks_for(largest), unsigned(p.n)), kThreads, 0, stream()>>>(p);
  check_launch("attention pack bf16");
}

template <int HDP> void launch_forward(int64_t b, const TcFwd& f) {
  const size_t smem = size_t(2 * kTile * (HDP + kPad)) * sizeof(bf16);
  allow_smem(tc_forward_kernel<HDP>, smem);
  tc_forward_kernel<HDP><<<dim3(unsigned(f.tp / kTile), unsigned(b * f.h)), kTcThreads, smem, stream()>>>(f);
  check_launch("attention tensor-core forward");
}
void forward(int64_t b, int64_t hd, const TcFwd& f) {
  switch (tc_head_dim(hd)) {
    case 32: return launch_forward<32>(b, f);
    case 64: return launch_forward<64>(b, f);
    case 128: return launch_forward<128>(b, f);
    default: return launch_forward<256>(b, f);
  }
}

template <int HDP> void launch_backward(int64_t b, const TcBwd& w) {
  const size_t smem_dq = size_t(2 * kTile * (HDP + kPad)) * sizeof(bf16);
  allow_smem(tc_dq_kernel<HDP>, smem_dq);
  tc_dq_kernel<HDP><<<dim3(unsigned(w.tp / kTile), unsigned(b * w.h)), kTcThreads, smem_dq, stream()>>>(w);
  check_launch("attention_backward tensor-core dq");
  const size_t smem_kv = smem_dq + 2 * kTile * sizeof(float);
  allow_smem(tc_dkdv_kernel<HDP>, smem_kv);
  tc_dkdv_kernel<HDP><<<dim3(unsigned(w.tp / kTile), unsigned(b * w.hkv)), kTcThreads, smem_kv, stream()>>>(w);
  check_launch("attention_backward tensor-core dk dv");
}
void backward(int64_t b, int64_t hd, const TcBwd& w) {
  switch (tc_head_dim(hd)) {
    case 32: return launch_backward<32>(b, w);
    case 64: return launch_backward<64>(b, w);
    case 128: return launch_backward<128>(b, w);
    default: return launch_backward<256>(b, w);
  }
}

void apply_xsa(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, const float* v, float* y) {
  const int64_t rows = b * t * h, per_block = kThreads / 32;
  xsa_kernel<<<unsigned((rows + per_block - 1) / per_block), kThreads, 0, stream()>>>(rows, h, hkv, hd, v, y);
  check_launch("attention xsa");
}

}  // namespace

void attention_tc(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa, const float* q,
                  const float* k, const float* v, float* y, float* lse) {
  check_tc_shape("attention", b, h, hkv, hd);
  if (b == 0 || t == 0 || h == 0) return;
  const int64_t tp = tc_rows(t), hdp = tc_head_dim(hd);
  bf16* qp = static_cast<bf16*>(scratch(size_t(tc_forward_scratch_bytes(b, t, h, hkv, hd))));
  bf16* kp = qp + b * h * tp * hdp;
  bf16* vp = kp + b * hkv * tp * hdp;
  pack(b, t, hd, {{q, h}, {k, hkv}, {v, hkv}}, {qp, kp, vp});
  forward(b, hd, TcFwd{t, tp, h, hkv, hd, float(scale * double(kLog2e)), qp, kp, vp, y, lse});
  if (xsa) apply_xsa(b, t, h, hkv, hd, v, y);
}

void attention_tc_backward(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa,
                           const float* q, const float* k, const float* v, const float* y, const float* lse,
                           const float* dy, float* dq, float* dk, float* dv) {
  check_tc_shape("attention_backward", b, h, hkv, hd);
  if (b == 0 || t == 0 || h == 0) return;
  const int64_t tp = tc_rows(t), hdp = tc_head_dim(hd), rows = b * t * h, big = rows * hd;
  char* base = static_cast<char*>(scratch(size_t(tc_backward_scratch_bytes(b, t, h, hkv, hd, xsa))));
  bf16* qp = reinterpret_cast<bf16*>(base);
  bf16* kp = qp + b * h * tp * hdp;
  bf16* vp = kp + b * hkv * tp * hdp;
  bf16* dop = vp + b * hkv * tp * hdp;
  float* d_row = reinterpret_cast<float*>(base + tc_packed_bytes(b, t, h, hkv, hd, true));
  float* o = d_row + (rows + 63) / 64 * 64;
  float* dd = xsa ? o + big : nullptr;
  float* xsa_dv = xsa ? dd + big : nullptr;
  const float scale_log2 = float(scale * double(kLog2e));
  if (xsa) {
    // The pre-XSA output o, by the same forward (its lse is the one already saved).
    pack(b, t, hd, {{q, h}, {k, hkv}, {v, hkv}}, {qp, kp, vp});
    forward(b, hd, TcFwd{t, tp, h, hkv, hd, scale_log2, qp, kp, vp, o, nullptr});
    attention_prep(b, t, h, hkv, hd, true, o, dy, v, dd, d_row, xsa_dv);
    pack(b, t, hd, {{dd, h}}, {dop});
  } else {
    pack(b, t, hd, {{q, h}, {k, hkv}, {v, hkv}, {dy, h}}, {qp, kp, vp, dop});
    attention_prep(b, t, h, hkv, hd, false, y, dy, v, nullptr, d_row, nullptr);
  }
  backward(b, hd, TcBwd{t, tp, h, hkv, hd, float(scale), scale_log2, qp, kp, vp, dop, lse, d_row, xsa_dv, dq, dk, dv});
}

}  // namespace golf::cuda
