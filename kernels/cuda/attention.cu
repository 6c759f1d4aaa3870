// Causal GQA attention with the XSA option, FlashAttention-2 style on CUDA cores (fp32 throughout):
//
//   forward   one warp per query row, 8 rows per block; keys and values pass through shared
//             memory in tiles of 32 (one key per lane), with an online softmax (running max m,
//             running sum l, rescaled output accumulator); each lane owns hd/32 output dims.
//             Writes y and lse = m + log l.
//   backward  D_i = dO_i·o_i first (with XSA, o is recomputed by the forward without XSA and dO
//             is the gradient at o), then two kernels that never add into the same element from
//             two threads: dq with one warp per query row (a loop over key tiles), and dk, dv
//             with one warp per key row (a loop over the group's query heads in order, then over
//             query tiles). Every sum runs in an order fixed by the shapes: bit-identical reruns.
//
// The training default is the tensor-core kernel of attention_tc.cu; this one is its reference and
// the fp32 path that GOLFRT_ATTENTION=fp32 (ExecOptions.attention_fp32) selects, and it serves
// attention_cached (decoding) always.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace golf::cuda {
namespace {

constexpr int kWarps = 8;                    // query (or key) rows per block
constexpr int kTile = 32;                    // keys (or queries) per shared-memory tile: one per lane
constexpr int kRegs = int(kMaxHeadDim / 32);  // head dims per lane
constexpr double kXsaEps = 1e-12;            // torch.nn.functional.normalize's guard

struct Fwd {
  int64_t tq, h, hkv, hd, kv_rows;
  const int32_t* p0_dev;
  float scale;
  bool xsa;
  const float *q, *k, *v;
  float *y, *lse;
};

__global__ void attention_forward_kernel(Fwd a) {
  extern __shared__ float smem[];
  const int64_t hd = a.hd, ldq = a.h * hd, ldkv = a.hkv * hd, ks = hd + 1;  // +1: no bank conflicts
  float* q_s = smem;                    // kWarps × hd
  float* k_s = q_s + kWarps * hd;       // kTile × (hd + 1)
  float* v_s = k_s + kTile * ks;        // kTile × (hd + 1)
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t bh = blockIdx.y, bi = bh / a.h, hi = bh % a.h, g = hi / (a.h / a.hkv);
  const int64_t i = int64_t(blockIdx.x) * kWarps + warp;
  const bool valid = i < a.tq;
  const int64_t p0 = a.p0_dev ? int64_t(a.p0_dev[0]) : 0;
  if (p0 < 0 || p0 + a.tq > a.kv_rows) return;  // the cache kernel raised a fault already
  const float* Q = a.q + (bi * a.tq * a.h + hi) * hd;
  const float* K = a.k + (bi * a.kv_rows * a.hkv + g) * hd;
  const float* V = a.v + (bi * a.kv_rows * a.hkv + g) * hd;

  for (int64_t d = lane; d < hd; d += 32) q_s[warp * hd + d] = valid ? Q[i * ldq + d] : 0.f;
  const int64_t last_row = min(a.tq - 1, int64_t(blockIdx.x) * kWarps + kWarps - 1);
  const int64_t n_keys = p0 + last_row + 1;  // keys any row of the block can see
  const int64_t mine = p0 + i;               // this row sees keys 0..mine

  float m = -INFINITY, l = 0.f, o[kRegs];
  for (int r = 0; r < kRegs; ++r) o[r] = 0.f;
  for (int64_t k0 = 0; k0 < n_keys; k0 += kTile) {
    __syncthreads();
    for (int64_t idx = threadIdx.x; idx < kTile * hd; idx += blockDim.x) {
      const int64_t r = idx / hd, d = idx % hd, key = k0 + r;
      k_s[r * ks + d] = key < n_keys ? K[key * ldkv + d] : 0.f;
      v_s[r * ks + d] = key < n_keys ? V[key * ldkv + d] : 0.f;
    }
    __syncthreads();
    if (!valid) continue;
    const int64_t key = k0 + lane;
    const bool seen = key <= mine;
    float s = -INFINITY;
    if (seen) {
      float acc = 0.f;
      for (int64_t d = 0; d < hd; ++d) acc += q_s[warp * hd + d] * k_s[lane * ks + d];
      s = acc * a.scale;
    }
    const float tile_max = warp_max(s);
    if (tile_max == -INFINITY) continue;  // the whole tile is in this row's future
    const float m_new = fmaxf(m, tile_max);
    const float alpha = expf(m - m_new);
    const float p = seen ? expf(s - m_new) : 0.f;
    l = l * alpha + warp_sum(p);
    for (int r = 0; r < kRegs; ++r) o[r] *= alpha;
    for (int jj = 0; jj < kTile; ++jj) {
      const float pj = __shfl_sync(0xffffffffu, p, jj);
      for (int r = 0; r < kRegs; ++r) {
        const int64_t d = lane + 32 * r;
        if (d < hd) o[r] += pj * v_s[jj * ks + d];
      }
    }
    m = m_new;
  }
  if (!valid) return;
  const float inv = 1.f / l;
  for (int r = 0; r < kRegs; ++r) o[r] *= inv;
  float* Y = a.y + (bi * a.tq * a.h + hi) * hd + i * ldq;
  if (a.xsa) {
    // y = o − (o·v̂)v̂ with v̂ the unit value vector at the query's own position and KV head.
    const float* vr = V + mine * ldkv;
    double ss = 0.0;
    for (int r = 0; r < kRegs; ++r) {
      const int64_t d = lane + 32 * r;
      if (d < hd) ss += double(vr[d]) * double(vr[d]);
    }
    const double nrm = fmax(sqrt(warp_sum(ss)), kXsaEps);
    double ov = 0.0;
    for (int r = 0; r < kRegs; ++r) {
      const int64_t d = lane + 32 * r;
      if (d < hd) ov += double(o[r]) * (double(vr[d]) / nrm);
    }
    ov = warp_sum(ov);
    for (int r = 0; r < kRegs; ++r) {
      const int64_t d = lane + 32 * r;
      if (d < hd) o[r] = float(double(o[r]) - ov * (double(vr[d]) / nrm));
    }
  }
  for (int r = 0; r < kRegs; ++r) {
    const int64_t d = lane + 32 * r;
    if (d < hd) Y[d] = o[r];
  }
  if (a.lse && lane == 0) a.lse[bh * a.tq + i] = m + logf(l);
}

// Per query row (one warp): D = dO·o, and with XSA the gradient at the pre-XSA output o and the
// XSA term of dv (per query head; summed over the group's heads, in order, by the dk/dv kernel).
struct Prep {
  int64_t rows, t, h, hkv, hd;  // rows = b·t·h
  bool xsa;
  const float *o, *dy, *v;
  float *dd, *d_row, *xsa_dv;  // dd: gradient at o (xsa only); d_row [B, H, T]
};

__global__ void attention_prep_kernel(Prep a) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t row = int64_t(blockIdx.x) * kWarps + warp;  // (bi, ti, hi) in [B, T, H] order
  if (row >= a.rows) return;
  const int64_t hd = a.hd, hi = row % a.h, bt = row / a.h, ti = bt % a.t, bi = bt / a.t;
  const int64_t g = hi / (a.h / a.hkv);
  const float* o = a.o + row * hd;
  const float* dy = a.dy + row * hd;
  const int64_t drow = (bi * a.h + hi) * a.t + ti;
  if (!a.xsa) {
    double s = 0.0;
    for (int64_t d = lane; d < hd; d += 32) s += double(dy[d]) * double(o[d]);
    s = warp_sum(s);
    if (lane == 0) a.d_row[drow] = float(s);
    return;
  }
  const float* vr = a.v + ((bi * a.t + ti) * a.hkv + g) * hd;
  double ss = 0.0;
  for (int64_t d = lane; d < hd; d += 32) ss += double(vr[d]) * double(vr[d]);
  const double nrm = fmax(sqrt(warp_sum(ss)), kXsaEps);
  double dyv = 0.0, ov = 0.0;
  for (int64_t d = lane; d < hd; d += 32) {
    const double vh = double(vr[d]) / nrm;
    dyv += vh * double(dy[d]);
    ov += vh * double(o[d]);
  }
  dyv = warp_sum(dyv);
  ov = warp_sum(ov);
  double dsum = 0.0, gvv = 0.0;
  for (int64_t d = lane; d < hd; d += 32) {
    const double vh = double(vr[d]) / nrm;
    const double dd = double(dy[d]) - dyv * vh;
    a.dd[row * hd + d] = float(dd);
    dsum += dd * double(o[d]);
    gvv += (-ov * double(dy[d]) - dyv * double(o[d])) * vh;
  }
  dsum = warp_sum(dsum);
  gvv = nrm > kXsaEps ? warp_sum(gvv) : 0.0;
  // ∂L/∂v̂ = −(o·v̂)dy − (dy·v̂)o, through v̂ = v/||v||: its tangential part over ||v||.
  for (int64_t d = lane; d < hd; d += 32) {
    const double vh = double(vr[d]) / nrm;
    const double gv = -ov * double(dy[d]) - dyv * double(o[d]);
    a.xsa_dv[row * hd + d] = float((gv - gvv * vh) / nrm);
  }
  if (lane == 0) a.d_row[drow] = float(dsum);
}

struct Bwd {
  int64_t t, h, hkv, hd;
  float scale;
  const float *q, *k, *v, *lse, *dout, *d_row, *xsa_dv;  // dout [B,T,H,hd]: dy, or dd with XSA
  float *dq, *dk, *dv;
};

__global__ void attention_dq_kernel(Bwd a) {
  extern __shared__ float smem[];
  const int64_t hd = a.hd, ldq = a.h * hd, ldkv = a.hkv * hd, ks = hd + 1;
  float* q_s = smem;                // kWarps × hd
  float* do_s = q_s + kWarps * hd;  // kWarps × hd
  float* k_s = do_s + kWarps * hd;  // kTile × (hd + 1)
  float* v_s = k_s + kTile * ks;    // kTile × (hd + 1)
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t bh = blockIdx.y, bi = bh / a.h, hi = bh % a.h, g = hi / (a.h / a.hkv);
  const int64_t i = int64_t(blockIdx.x) * kWarps + warp;
  const bool valid = i < a.t;
  const int64_t off = (bi * a.t * a.h + hi) * hd;
  const float* K = a.k + (bi * a.t * a.hkv + g) * hd;
  const float* V = a.v + (bi * a.t * a.hkv + g) * hd;
  for (int64_t d = lane; d < hd; d += 32) {
    q_s[warp * hd + d] = valid ? a.q[off + i * ldq + d] : 0.f;
    do_s[warp * hd + d] = valid ? a.dout[off + i * ldq + d] : 0.f;
  }
  const float lse_i = valid ? a.lse[bh * a.t + i] : 0.f;
  const float d_i = valid ? a.d_row[bh * a.t + i] : 0.f;
  const int64_t n_keys = min(a.t, int64_t(blockIdx.x) * kWarps + kWarps);
  float dq[kRegs];
  for (int r = 0; r < kRegs; ++r) dq[r] = 0.f;
  for (int64_t k0 = 0; k0 < n_keys; k0 += kTile) {
    __syncthreads();
    for (int64_t idx = threadIdx.x; idx < kTile * hd; idx += blockDim.x) {
      const int64_t r = idx / hd, d = idx % hd, key = k0 + r;
      k_s[r * ks + d] = key < n_keys ? K[key * ldkv + d] : 0.f;
      v_s[r * ks + d] = key < n_keys ? V[key * ldkv + d] : 0.f;
    }
    __syncthreads();
    if (!valid) continue;
    const int64_t key = k0 + lane;
    float ds = 0.f;
    if (key <= i) {
      float s = 0.f, dp = 0.f;
      for (int64_t d = 0; d < hd; ++d) {
        s += q_s[warp * hd + d] * k_s[lane * ks + d];
        dp += do_s[warp * hd + d] * v_s[lane * ks + d];
      }
      const float p = expf(s * a.scale - lse_i);
      ds = p * (dp - d_i);
    }
    for (int jj = 0; jj < kTile; ++jj) {
      const float dsj = __shfl_sync(0xffffffffu, ds, jj);
      for (int r = 0; r < kRegs; ++r) {
        const int64_t d = lane + 32 * r;
        if (d < hd) dq[r] += dsj * k_s[jj * ks + d];
      }
    }
  }
  if (!valid) return;
  for (int r = 0; r < kRegs; ++r) {
    const int64_t d = lane + 32 * r;
    if (d < hd) a.dq[off + i * ldq + d] = dq[r] * a.scale;
  }
}

__global__ void attention_dkdv_kernel(Bwd a) {
  extern __shared__ float smem[];
  const int64_t hd = a.hd, ldq = a.h * hd, ldkv = a.hkv * hd, qs = hd + 1;
  float* k_s = smem;                 // kWarps × hd
  float* v_s = k_s + kWarps * hd;    // kWarps × hd
  float* q_s = v_s + kWarps * hd;    // kTile × (hd + 1)
  float* do_s = q_s + kTile * qs;    // kTile × (hd + 1)
  float* lse_s = do_s + kTile * qs;  // kTile
  float* d_s = lse_s + kTile;        // kTile
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t bg = blockIdx.y, bi = bg / a.hkv, g = bg % a.hkv, group = a.h / a.hkv;
  const int64_t j = int64_t(blockIdx.x) * kWarps + warp;  // this warp's key row
  const bool valid = j < a.t;
  const int64_t kv_off = (bi * a.t * a.hkv + g) * hd;
  for (int64_t d = lane; d < hd; d += 32) {
    k_s[warp * hd + d] = valid ? a.k[kv_off + j * ldkv + d] : 0.f;
    v_s[warp * hd + d] = valid ? a.v[kv_off + j * ldkv + d] : 0.f;
  }
  float dk[kRegs], dv[kRegs];
  for (int r = 0; r < kRegs; ++r) dk[r] = dv[r] = 0.f;
  const int64_t first_q = int64_t(blockIdx.x) * kWarps;  // no query before the block's first key sees it
  for (int64_t hi = g * group; hi < (g + 1) * group; ++hi) {
    const int64_t off = (bi * a.t * a.h + hi) * hd, bh = bi * a.h + hi;
    for (int64_t q0 = first_q; q0 < a.t; q0 += kTile) {
      __syncthreads();
      for (int64_t idx = threadIdx.x; idx < kTile * hd; idx += blockDim.x) {
        const int64_t r = idx / hd, d = idx % hd, row = q0 + r;
        q_s[r * qs + d] = row < a.t ? a.q[off + row * ldq + d] : 0.f;
        do_s[r * qs + d] = row < a.t ? a.dout[off + row * ldq + d] : 0.f;
      }
      if (threadIdx.x < kTile) {
        const int64_t row = q0 + threadIdx.x;
        lse_s[threadIdx.x] = row < a.t ? a.lse[bh * a.t + row] : 0.f;
        d_s[threadIdx.x] = row < a.t ? a.d_row[bh * a.t + row] : 0.f;
      }
      __syncthreads();
      if (!valid) continue;
      const int64_t row = q0 + lane;
      float p = 0.f, ds = 0.f;
      if (row < a.t && row >= j) {
        float s = 0.f, dp = 0.f;
        for (int64_t d = 0; d < hd; ++d) {
          s += q_s[lane * qs + d] * k_s[warp * hd + d];
          dp += do_s[lane * qs + d] * v_s[warp * hd + d];
        }
        p = expf(s * a.scale - lse_s[lane]);
        ds = p * (dp - d_s[lane]);
      }
      for (int ii = 0; ii < kTile; ++ii) {
        const float pi = __shfl_sync(0xffffffffu, p, ii), dsi = __shfl_sync(0xffffffffu, ds, ii);
        for (int r = 0; r < kRegs; ++r) {
          const int64_t d = lane + 32 * r;
          if (d < hd) {
            dv[r] += pi * do_s[ii * qs + d];
            dk[r] += dsi * q_s[ii * qs + d];
          }
        }
      }
    }
  }
  if (!valid) return;
  if (a.xsa_dv)
    for (int64_t hi = g * group; hi < (g + 1) * group; ++hi)
      for (int r = 0; r < kRegs; ++r) {
        const int64_t d = lane + 32 * r;
        if (d < hd) dv[r] += a.xsa_dv[((bi * a.t + j) * a.h + hi) * hd + d];
      }
  for (int r = 0; r < kRegs; ++r) {
    const int64_t d = lane + 32 * r;
    if (d < hd) {
      a.dk[kv_off + j * ldkv + d] = dk[r] * a.scale;
      a.dv[kv_off + j * ldkv + d] = dv[r];
    }
  }
}

__global__ void cache_write_kernel(int64_t b, int64_t t, int64_t c, int64_t row, const int32_t* p0_dev, const float* k,
                                   const float* v, float* k_cache, float* v_cache, FaultRecord* f, int tag) {
  const int64_t p0 = p0_dev[0];
  if (p0 < 0 || p0 + t > c) {
    if (blockIdx.x == 0 && threadIdx.x == 0) raise_fault(f, Fault::cache_range, tag, p0, p0 + t - 1, c);
    return;
  }
  GOLF_GRID_STRIDE(i, b * t * row) {
    const int64_t bi = i / (t * row), rest = i % (t * row);
    k_cache[(bi * c + p0) * row + rest] = k[i];
    v_cache[(bi * c + p0) * row + rest] = v[i];
  }
}

void check_shape(const char* op, int64_t h, int64_t hkv, int64_t hd) {
  if (hkv <= 0 || h % hkv != 0)
    throw std::invalid_argument(std::string(op) + ": " + std::to_string(h) + " query heads are not a multiple of " +
                                std::to_string(hkv) + " KV heads");
  if (hd > kMaxHeadDim)
    throw std::invalid_argument(std::string(op) + ": head dim " + std::to_string(hd) + " above the CUDA kernel's " +
                                std::to_string(kMaxHeadDim));
}

template <class K> void allow_smem(K kernel, size_t bytes) {
  check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)), "shared memory size");
}

// Grids put batch × heads on y, which CUDA limits to 65535.
void check_grid_y(const char* op, int64_t by) {
  if (by > 65535) throw std::invalid_argument(std::string(op) + ": batch x heads = " + std::to_string(by) + " above 65535");
}

void launch_forward(int64_t b, const Fwd& f) {
  check_grid_y("attention", b * f.h);
  const size_t smem = size_t(kWarps * f.hd + 2 * kTile * (f.hd + 1)) * sizeof(float);
  allow_smem(attention_forward_kernel, smem);
  dim3 grid(unsigned((f.tq + kWarps - 1) / kWarps), unsigned(b * f.h));
  attention_forward_kernel<<<grid, kWarps * 32, smem, stream()>>>(f);
  check_launch("attention");
}

}  // namespace

void attention(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa, const float* q,
               const float* k, const float* v, float* y, float* lse) {
  check_shape("attention", h, hkv, hd);
  if (b == 0 || t == 0 || h == 0) return;
  if (hd == 0) {  // every score is 0: a uniform softmax over the visible positions; y is empty
    throw std::invalid_argument("attention: head dim 0 is not supported by the CUDA kernel");
  }
  launch_forward(b, Fwd{t, h, hkv, hd, t, nullptr, float(scale), xsa, q, k, v, y, lse});
}

void attention_backward(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa,
                        const float* q, const float* k, const float* v, const float* y, const float* lse,
                        const float* dy, float* dq, float* dk, float* dv) {
  check_shape("attention_backward", h, hkv, hd);
  if (b == 0 || t == 0 || h == 0 || hd == 0) return;
  const int64_t rows = b * t * h, big = rows * hd;
  // Scratch: D per row, and with XSA the pre-XSA output o, the gradient at o and XSA's dv terms.
  const int64_t rows_padded = (rows + 63) / 64 * 64;
  float* d_row = static_cast<float*>(scratch(size_t(rows_padded + (xsa ? 3 * big : 0)) * sizeof(float)));
  float *o = nullptr, *dd = nullptr, *xsa_dv = nullptr;
  if (xsa) {
    o = d_row + rows_padded;
    dd = o + big;
    xsa_dv = dd + big;
    launch_forward(b, Fwd{t, h, hkv, hd, t, nullptr, float(scale), false, q, k, v, o, nullptr});
  }
  attention_prep(b, t, h, hkv, hd, xsa, xsa ? o : y, dy, v, dd, d_row, xsa_dv);

  check_grid_y("attention_backward", b * h);
  Bwd w{t, h, hkv, hd, float(scale), q, k, v, lse, xsa ? dd : dy, d_row, xsa_dv, dq, dk, dv};
  const size_t smem_dq = size_t(2 * kWarps * hd + 2 * kTile * (hd + 1)) * sizeof(float);
  allow_smem(attention_dq_kernel, smem_dq);
  attention_dq_kernel<<<dim3(unsigned((t + kWarps - 1) / kWarps), unsigned(b * h)), kWarps * 32, smem_dq, stream()>>>(w);
  check_launch("attention_backward dq");
  const size_t smem_kv = size_t(2 * kWarps * hd + 2 * kTile * (hd + 1) + 2 * kTile) * sizeof(float);
  allow_smem(attention_dkdv_kernel, smem_kv);
  attention_dkdv_kernel<<<dim3(unsigned((t + kWarps - 1) / kWarps), unsigned(b * hkv)), kWarps * 32, smem_kv,
                          stream()>>>(w);
  check_launch("attention_backward dk dv");
}

void attention_prep(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, bool xsa, const float* o,
                    const float* dy, const float* v, float* dd, float* d_row, float* xsa_dv) {
  const int64_t rows = b * t * h;
  Prep p{rows, t, h, hkv, hd, xsa, o, dy, v, dd, d_row, xsa_dv};
  attention_prep_kernel<<<unsigned((rows + kWarps - 1) / kWarps), kWarps * 32, 0, stream()>>>(p);
  check_launch("attention_backward prep");
}

void attention_cached(int64_t b, int64_t t, int64_t c, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa,
                      const int32_t* p0_dev, const float* q, const float* k, const float* v, float* k_cache,
                      float* v_cache, float* y, int tag) {
  check_shape("attention_cached", h, hkv, hd);
  if (b == 0 || t == 0 || h == 0) return;
  if (hd == 0) throw std::invalid_argument("attention_cached: head dim 0 is not supported by the CUDA kernel");
  const int64_t row = hkv * hd;
  cache_write_kernel<<<blocks_for(b * t * row), kThreads, 0, stream()>>>(b, t, c, row, p0_dev, k, v, k_cache, v_cache,
                                                                         fault_slot(), tag);
  check_launch("attention_cached cache write");
  launch_forward(b, Fwd{t, h, hkv, hd, c, p0_dev, float(scale), xsa, q, k_cache, v_cache, y, nullptr});
}

}  // namespace golf::cuda
