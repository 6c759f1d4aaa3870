// Causal GQA attention on tensor cores, FlashAttention-2 style: bf16 operands through
// mma.sync.m16n8k16 with fp32 accumulation, the softmax statistics in fp32, no T×T matrix.
//
//   operands  bf16 q, k, v (and dy) stored by the graph (DESIGN §3) are read in place from its
//             [B, T, heads, hd] layout when hd is an instantiation's width (tc_direct): no pack,
//             no scratch but D. fp32 ones are packed first: rounded to bf16 into scratch as
//             [B, heads, Tp, HDP] (kernels/cuda/attention_layout.h), one launch for all of them.
//             The kernels see either through a TcOperand's strides, rows past T masked to zero.
//   forward   a block of 4 warps owns 64 query rows (16 per warp) and walks the key tiles 0..its
//             diagonal; each tile of 64 keys and values passes through shared memory. Per warp:
//             S = Q·Kᵀ (16×64), masked on the diagonal tile, an online softmax (running max and
//             sum per row, the sum kept per thread and added over the quad at the end), then
//             O += P·V with P rounded to bf16 straight from the accumulator registers. Writes y
//             (the graph's [B, T, H, hd], fp32 or bf16 rounded once) and lse = ln Σ exp(scale·s).
//   xsa       a separate small kernel after it: y ← y − (y·v̂)v̂, as kernels/cuda/attention.cu.
//   backward  D = dO·o per row (o and dO fp32 or bf16; with XSA attention.cu's prep kernel, which
//             also forms the gradient at the pre-XSA output), then two kernels that never add
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
#include <cstdint>
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

template <int HDP> void launch_forward(int64_t b, int64_t tiles, const TcFwd& f) {
  const size_t smem = size_t(2 * kTile * (HDP + kPad)) * sizeof(bf16);
  allow_smem(tc_forward_kernel<HDP>, smem);
  tc_forward_kernel<HDP><<<dim3(unsigned(tiles), unsigned(b * f.h)), kTcThreads, smem, stream()>>>(f);
  check_launch("attention tensor-core forward");
}
void forward(int64_t b, int64_t hd, const TcFwd& f) {
  const int64_t tiles = tc_rows(f.t) / kTile;
  switch (tc_head_dim(hd)) {
    case 32: return launch_forward<32>(b, tiles, f);
    case 64: return launch_forward<64>(b, tiles, f);
    case 128: return launch_forward<128>(b, tiles, f);
    default: return launch_forward<256>(b, tiles, f);
  }
}

template <int HDP> void launch_backward(int64_t b, int64_t tiles, const TcBwd& w) {
  const size_t smem_dq = size_t(2 * kTile * (HDP + kPad)) * sizeof(bf16);
  allow_smem(tc_dq_kernel<HDP>, smem_dq);
  tc_dq_kernel<HDP><<<dim3(unsigned(tiles), unsigned(b * w.h)), kTcThreads, smem_dq, stream()>>>(w);
  check_launch("attention_backward tensor-core dq");
  const size_t smem_kv = smem_dq + 2 * kTile * sizeof(float);
  allow_smem(tc_dkdv_kernel<HDP>, smem_kv);
  tc_dkdv_kernel<HDP><<<dim3(unsigned(tiles), unsigned(b * w.hkv)), kTcThreads, smem_kv, stream()>>>(w);
  check_launch("attention_backward tensor-core dk dv");
}
void backward(int64_t b, int64_t hd, const TcBwd& w) {
  const int64_t tiles = tc_rows(w.t) / kTile;
  switch (tc_head_dim(hd)) {
    case 32: return launch_backward<32>(b, tiles, w);
    case 64: return launch_backward<64>(b, tiles, w);
    case 128: return launch_backward<128>(b, tiles, w);
    default: return launch_backward<256>(b, tiles, w);
  }
}

void apply_xsa(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, const float* v, float* y) {
  const int64_t rows = b * t * h, per_block = kThreads / 32;
  xsa_kernel<<<unsigned((rows + per_block - 1) / per_block), kThreads, 0, stream()>>>(rows, h, hkv, hd, v, y);
  check_launch("attention xsa");
}

// D = dO·o per row without XSA, o and dO each fp32 or bf16 (the kernels' file).
void prep(int64_t b, int64_t t, int64_t h, int64_t hd, Real o, Real dy, float* d_row) {
  const int64_t rows = b * t * h, per_block = kThreads / 32;
  tc_prep_kernel<<<blocks_for(rows, int(per_block)), kThreads, 0, stream()>>>(rows, t, h, hd, o.p, o.bf16, dy.p,
                                                                              dy.bf16, d_row);
  check_launch("attention_backward prep");
}

// A packed operand: [B, heads, Tp, HDP].
TcOperand packed(const bf16* p, int64_t heads, int64_t t, int64_t hd) {
  const int64_t tp = tc_rows(t), hdp = tc_head_dim(hd);
  return TcOperand{p, heads * tp * hdp, tp * hdp, hdp};
}
// A bf16 value of the graph read in place: [B, T, heads, hd].
TcOperand direct(const void* p, int64_t heads, int64_t t, int64_t hd) {
  return TcOperand{static_cast<const bf16*>(p), t * heads * hd, hd, heads * hd};
}
TcOut out(RealOut y) { return TcOut{y.p, y.bf16}; }

const char* storage(bool bf16) { return bf16 ? "bf16" : "fp32"; }

// Whether q, k, v are read in place (all bf16) or packed (all fp32); anything else is refused with
// the reason. The direct loads are 16 bytes wide: each head's row must start 16-byte aligned.
bool direct_inputs(const char* op, int64_t hd, bool xsa, Real q, Real k, Real v) {
  if (q.bf16 != k.bf16 || q.bf16 != v.bf16)
    throw std::invalid_argument(std::string(op) + ": q, k, v are stored as " + storage(q.bf16) + ", " +
                                storage(k.bf16) + ", " + storage(v.bf16) +
                                "; the tensor-core kernel takes all three in bf16 (read in place) or all in fp32 "
                                "(packed)");
  if (!q.bf16) return false;
  if (!tc_direct(hd))
    throw std::invalid_argument(std::string(op) + ": bf16 q, k, v with head dim " + std::to_string(hd) +
                                ": read in place only at head dims 32, 64, 128 or 256 (tc_direct)");
  if (xsa)
    throw std::invalid_argument(std::string(op) +
                                ": bf16 q, k, v with XSA: XSA's kernels read v in fp32 (store the values of an "
                                "XSA layer in fp32)");
  for (auto [name, p] : {std::pair{"q", q.p}, std::pair{"k", k.p}, std::pair{"v", v.p}})
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0)
      throw std::invalid_argument(std::string(op) + ": bf16 " + name +
                                  " is not 16-byte aligned (the direct path's tile loads are 16 bytes wide)");
  return true;
}

}  // namespace

void attention_tc(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa, Real q, Real k,
                  Real v, RealOut y, float* lse) {
  check_tc_shape("attention", b, h, hkv, hd);
  const bool in_place = direct_inputs("attention", hd, xsa, q, k, v);
  if (xsa && y.bf16)
    throw std::invalid_argument("attention: a bf16 y with XSA: the XSA kernel updates y in fp32");
  if (b == 0 || t == 0 || h == 0) return;
  const float scale_log2 = float(scale * double(kLog2e));
  if (in_place) {
    forward(b, hd, TcFwd{t, h, hkv, hd, scale_log2, direct(q.p, h, t, hd), direct(k.p, hkv, t, hd),
                         direct(v.p, hkv, t, hd), out(y), lse});
    return;
  }
  const int64_t tp = tc_rows(t), hdp = tc_head_dim(hd);
  bf16* qp = static_cast<bf16*>(scratch(size_t(tc_forward_scratch_bytes(b, t, h, hkv, hd))));
  bf16* kp = qp + b * h * tp * hdp;
  bf16* vp = kp + b * hkv * tp * hdp;
  const float *qf = static_cast<const float*>(q.p), *kf = static_cast<const float*>(k.p),
              *vf = static_cast<const float*>(v.p);
  pack(b, t, hd, {{qf, h}, {kf, hkv}, {vf, hkv}}, {qp, kp, vp});
  forward(b, hd, TcFwd{t, h, hkv, hd, scale_log2, packed(qp, h, t, hd), packed(kp, hkv, t, hd),
                       packed(vp, hkv, t, hd), out(y), lse});
  if (xsa) apply_xsa(b, t, h, hkv, hd, vf, static_cast<float*>(y.p));
}

void attention_tc_backward(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa, Real q,
                           Real k, Real v, Real y, const float* lse, Real dy, RealOut dq, RealOut dk, RealOut dv) {
  check_tc_shape("attention_backward", b, h, hkv, hd);
  const bool in_place = direct_inputs("attention_backward", hd, xsa, q, k, v);
  if (xsa && (y.bf16 || dy.bf16))
    throw std::invalid_argument(std::string("attention_backward: a bf16 ") + (y.bf16 ? "y" : "dy") +
                                " with XSA: XSA's backward reads y and dy in fp32");
  // dO is an mma operand: read in place beside q, k, v, or packed beside them; so it is stored as
  // they are (a lone fp32 dy would need a pack the direct path's scratch does not hold).
  if (dy.bf16 != in_place)
    throw std::invalid_argument(std::string("attention_backward: dy is stored as ") + storage(dy.bf16) +
                                " but q, k, v as " + storage(in_place) +
                                "; the tensor-core backward takes dy in the storage of q, k, v");
  if (dy.bf16 && reinterpret_cast<uintptr_t>(dy.p) % 16 != 0)
    throw std::invalid_argument("attention_backward: bf16 dy is not 16-byte aligned (the direct path's tile loads "
                                "are 16 bytes wide)");
  if (b == 0 || t == 0 || h == 0) return;
  const int64_t rows = b * t * h;
  const float scale_log2 = float(scale * double(kLog2e));
  char* base = static_cast<char*>(scratch(size_t(tc_backward_scratch_bytes(b, t, h, hkv, hd, xsa, in_place))));
  if (in_place) {  // scratch: D rows only
    float* d_row = reinterpret_cast<float*>(base);
    prep(b, t, h, hd, y, dy, d_row);
    backward(b, hd, TcBwd{t, h, hkv, hd, float(scale), scale_log2, direct(q.p, h, t, hd), direct(k.p, hkv, t, hd),
                          direct(v.p, hkv, t, hd), direct(dy.p, h, t, hd), lse, d_row, nullptr, out(dq), out(dk),
                          out(dv)});
    return;
  }
  const int64_t tp = tc_rows(t), hdp = tc_head_dim(hd), big = rows * hd;
  bf16* qp = reinterpret_cast<bf16*>(base);
  bf16* kp = qp + b * h * tp * hdp;
  bf16* vp = kp + b * hkv * tp * hdp;
  bf16* dop = vp + b * hkv * tp * hdp;
  float* d_row = reinterpret_cast<float*>(base + tc_packed_bytes(b, t, h, hkv, hd, true));
  float* o = d_row + (rows + 63) / 64 * 64;
  float* dd = xsa ? o + big : nullptr;
  float* xsa_dv = xsa ? dd + big : nullptr;
  const float *qf = static_cast<const float*>(q.p), *kf = static_cast<const float*>(k.p),
              *vf = static_cast<const float*>(v.p), *dyf = static_cast<const float*>(dy.p);
  const TcOperand qo = packed(qp, h, t, hd), ko = packed(kp, hkv, t, hd), vo = packed(vp, hkv, t, hd),
                  doo = packed(dop, h, t, hd);
  if (xsa) {
    // The pre-XSA output o, by the same forward (its lse is the one already saved).
    pack(b, t, hd, {{qf, h}, {kf, hkv}, {vf, hkv}}, {qp, kp, vp});
    forward(b, hd, TcFwd{t, h, hkv, hd, scale_log2, qo, ko, vo, TcOut{o, false}, nullptr});
    attention_prep(b, t, h, hkv, hd, true, o, dyf, vf, dd, d_row, xsa_dv);
    pack(b, t, hd, {{dd, h}}, {dop});
  } else {
    pack(b, t, hd, {{qf, h}, {kf, hkv}, {vf, hkv}, {dyf, h}}, {qp, kp, vp, dop});
    prep(b, t, h, hd, y, dy, d_row);
  }
  backward(b, hd, TcBwd{t, h, hkv, hd, float(scale), scale_log2, qo, ko, vo, doo, lse, d_row, xsa_dv, out(dq), out(dk),
                        out(dv)});
}

}  // namespace golf::cuda
