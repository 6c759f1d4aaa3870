// The tensor-core attention's operand layout (kernels/cuda/attention_tc.cu), in plain C++ so the
// device ledger (runtime/device_ledger.cc) can size its scratch without the CUDA headers.
//
// fp32 Q, K, V and dO are rounded to bf16 into scratch as [B, heads, Tp, HDP]: each head's rows
// contiguous, the sequence padded with zero rows to a multiple of the 64-row tile and the head dim
// padded with zeros to the kernel instantiation's width (32, 64, 128 or 256). Zero padding leaves
// every score and every output column that is kept unchanged. bf16 ones stored by the graph are
// read in place (the direct path): no scratch but the backward's D.
#pragma once
#include <cstdint>

namespace golf::cuda {

constexpr int64_t kTcTile = 64;          // query and key rows per tile
constexpr int64_t kTcMaxHeadDim = 256;   // the widest instantiation

inline int64_t tc_head_dim(int64_t hd) { return hd <= 32 ? 32 : hd <= 64 ? 64 : hd <= 128 ? 128 : 256; }
inline int64_t tc_rows(int64_t t) { return (t + kTcTile - 1) / kTcTile * kTcTile; }

// bf16 bytes of packed Q, K, V (forward), or Q, K, V, dO (backward).
inline int64_t tc_packed_bytes(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, bool with_dout) {
  return ((with_dout ? 2 : 1) * b * h + 2 * b * hkv) * tc_rows(t) * tc_head_dim(hd) * 2;
}
// bf16 Q, K, V (and O, dO) stored by the graph in its [B, T, heads, hd] layout are read in place,
// no pack, when the head dim is an instantiation's width (rows past T are masked, not padded;
// kernels/cuda/attention_tc.cu refuses bf16 inputs otherwise).
inline bool tc_direct(int64_t hd) { return hd == tc_head_dim(hd); }

inline int64_t tc_forward_scratch_bytes(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, bool direct = false) {
  return direct ? 0 : tc_packed_bytes(b, t, h, hkv, hd, false);
}
// Then fp32: D per row (padded to 64 rows) and with XSA the pre-XSA output, the gradient at it and
// XSA's dv terms, each [B, T, H, hd] (kernels/cuda/attention.cu's prep kernel).
inline int64_t tc_backward_scratch_bytes(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, bool xsa,
                                         bool direct = false) {
  const int64_t rows = b * t * h, big = rows * hd;
  return (direct ? 0 : tc_packed_bytes(b, t, h, hkv, hd, true)) + ((rows + 63) / 64 * 64 + (xsa ? 3 * big : 0)) * 4;
}

}  // namespace golf::cuda
