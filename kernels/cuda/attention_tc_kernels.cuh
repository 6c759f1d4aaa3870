// The kernels of kernels/cuda/attention_tc.cu (what they compute: that file's comment), kept apart
// from the CUDA-specific pieces so the same source compiles twice: by nvcc, included by
// attention_tc.cu, and by the host compiler against tests/support/cuda_emulation.h (one thread per
// CUDA thread), so the tests run these kernels on machines without a GPU.
//
// Included inside a namespace after its includer has defined: the type bf16 (two bytes, as
// __nv_bfloat16), __nv_bfloat162, __floats2bfloat162_rn, __float2bfloat16_rn, uint4 (aggregate),
// mma_bf16(c[4], a[4], b0, b1) (mma.sync.m16n8k16 row.col, bf16 in, fp32 accumulate),
// tc_shared() (the dynamic shared memory), __shfl_xor_sync, __syncthreads, warp_sum, kThreads,
// GOLF_GRID_STRIDE, GOLF_UNROLL (a loop's unroll pragma, or nothing), exp2f / log2f / fmaxf / sqrt / fmax, memcpy and the kTcTile of
// attention_layout.h. No includes here.

constexpr int kTile = int(kTcTile);  // rows per block and per shared-memory tile
constexpr int kTcWarps = kTile / 16;  // 16 rows per warp
constexpr int kTcThreads = kTcWarps * 32;
constexpr int kPad = 8;                   // bf16 per shared row beyond HDP
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr double kXsaEps = 1e-12;  // torch.nn.functional.normalize's guard, as attention.cu

// ---- fragments -------------------------------------------------------------------------------

// Two bf16 (the lower index in the low half), round to nearest even.
__device__ inline uint32_t pack2(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t r;
  memcpy(&r, &v, 4);
  return r;
}
// Two consecutive bf16 of one row (4-byte aligned: even column, even leading dimension).
__device__ inline uint32_t load2(const bf16* p) { return *reinterpret_cast<const uint32_t*>(p); }
// Two bf16 of one column in consecutive rows.
__device__ inline uint32_t load_col2(const bf16* p, int ld) {
  uint16_t lo, hi;
  memcpy(&lo, p, 2);
  memcpy(&hi, p + ld, 2);
  return uint32_t(lo) | (uint32_t(hi) << 16);
}

// A fragment of rows 0..15, columns k0..k0+15 of a row-major matrix from global memory; rows at
// or past `rows` are zeros (never read).
__device__ inline void load_a(uint32_t a[4], const bf16* m, int64_t ld, int k0, int64_t rows) {
  const int g = threadIdx.x % 32 / 4, c = threadIdx.x % 4;
  const bool lo = g < rows, hi = g + 8 < rows;
  a[0] = lo ? load2(m + int64_t(g) * ld + k0 + 2 * c) : 0u;
  a[1] = hi ? load2(m + int64_t(g + 8) * ld + k0 + 2 * c) : 0u;
  a[2] = lo ? load2(m + int64_t(g) * ld + k0 + 8 + 2 * c) : 0u;
  a[3] = hi ? load2(m + int64_t(g + 8) * ld + k0 + 8 + 2 * c) : 0u;
}
// C += A·Mᵀ over k0..k0+15 for the 8 columns n0..n0+7, where M is row-major with one row per
// output column (B[k][n] = M[n][k]: keys for Q·Kᵀ).
__device__ inline void mma_rows(float c[4], const uint32_t a[4], const bf16* m, int ld, int n0, int k0) {
  const int g = threadIdx.x % 32 / 4, q = threadIdx.x % 4;
  const bf16* r = m + (n0 + g) * ld + k0 + 2 * q;
  mma_bf16(c, a, load2(r), load2(r + 8));
}
// C += A·M over k0..k0+15 for the 8 columns n0..n0+7, where M is row-major with one row per k
// (B[k][n] = M[k][n]: values for P·V).
__device__ inline void mma_cols(float c[4], const uint32_t a[4], const bf16* m, int ld, int n0, int k0) {
  const int g = threadIdx.x % 32 / 4, q = threadIdx.x % 4;
  const bf16* r = m + (k0 + 2 * q) * ld + n0 + g;
  mma_bf16(c, a, load_col2(r, ld), load_col2(r + 8 * ld, ld));
}
// Accumulator tiles 2j and 2j+1 (16 columns) as the A fragment of the next matmul, k = column.
__device__ inline void acc_as_a(uint32_t a[4], const float lo[4], const float hi[4]) {
  a[0] = pack2(lo[0], lo[1]);
  a[1] = pack2(lo[2], lo[3]);
  a[2] = pack2(hi[0], hi[1]);
  a[3] = pack2(hi[2], hi[3]);
}

// Where one bf16 operand's rows lie: element d of row r of head hh in batch bi at
// p[bi·batch + hh·head + r·row + d]. The pack's [B, heads, Tp, HDP] and the graph's own
// [B, T, heads, hd] (the direct path: bf16 values read in place, hd equal to HDP) are two settings
// of these strides. Rows at or past t are never read: the loads put zeros in their place, since
// in the graph's layout they are the next batch's rows (or past the end), and even a P of exactly
// 0 times a NaN there would poison an output.
struct TcOperand {
  const bf16* p;
  int64_t batch, head, row;
};
__device__ inline const bf16* head_rows(const TcOperand& o, int64_t bi, int64_t hh) {
  return o.p + bi * o.batch + hh * o.head;
}

// An output in the graph's layout: fp32, or bf16 rounded once from the fp32 value (nearest even).
struct TcOut {
  void* p;
  bool is_bf16;
};
// Elements i and i + 1 (i even when `pair`: hd even, so one 4-byte bf16 store is aligned).
__device__ inline void store2(const TcOut& o, int64_t i, float x0, float x1, bool second, bool pair) {
  if (!o.is_bf16) {
    float* y = static_cast<float*>(o.p) + i;
    y[0] = x0;
    if (second) y[1] = x1;
  } else if (second && pair) {
    *reinterpret_cast<uint32_t*>(static_cast<bf16*>(o.p) + i) = pack2(x0, x1);
  } else {
    bf16* y = static_cast<bf16*>(o.p) + i;
    y[0] = __float2bfloat16_rn(x0);
    if (second) y[1] = __float2bfloat16_rn(x1);
  }
}
// A bf16 widened to fp32 (exact: the bits moved up).
__device__ inline float widen(bf16 x) {
  uint16_t h;
  memcpy(&h, &x, 2);
  const uint32_t u = uint32_t(h) << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}
// Element i of an fp32 or bf16 array.
__device__ inline float load_real(const void* p, bool is_bf16, int64_t i) {
  return is_bf16 ? widen(static_cast<const bf16*>(p)[i]) : static_cast<const float*>(p)[i];
}

// kTile rows of HDP bf16 (row stride `stride` elements) into shared memory (leading dimension
// HDP + kPad), 16 bytes per thread and step; rows at or past `rows` are zeros.
template <int HDP> __device__ inline void load_tile(bf16* dst, const bf16* src, int64_t stride, int64_t rows) {
  constexpr int chunks = HDP / 8, ld = HDP + kPad;
  for (int i = threadIdx.x; i < kTile * chunks; i += kTcThreads) {
    const int r = i / chunks, x = i % chunks;
    uint4 v{0u, 0u, 0u, 0u};
    if (r < rows) v = *reinterpret_cast<const uint4*>(src + int64_t(r) * stride + x * 8);
    *reinterpret_cast<uint4*>(dst + r * ld + x * 8) = v;
  }
}

// ---- pack ------------------------------------------------------------------------------------

struct Pack {
  int n;  // arrays in use (gridDim.y)
  int64_t b, t, tp, hd, hdp;
  const float* src[4];  // [B, T, heads, hd]
  bf16* dst[4];         // [B, heads, Tp, HDP]
  int64_t heads[4];
};

__global__ void pack_kernel(Pack p) {
  const int w = blockIdx.y;
  const float* x = p.src[w];
  bf16* y = p.dst[w];
  const int64_t heads = p.heads[w], total = p.b * heads * p.tp * p.hdp;
  GOLF_GRID_STRIDE(i, total) {
    const int64_t d = i % p.hdp, r = i / p.hdp, ti = r % p.tp, bh = r / p.tp, hi = bh % heads, bi = bh / heads;
    const float val = ti < p.t && d < p.hd ? x[((bi * p.t + ti) * heads + hi) * p.hd + d] : 0.f;
    y[i] = __float2bfloat16_rn(val);
  }
}

// ---- forward ---------------------------------------------------------------------------------

struct TcFwd {
  int64_t t, h, hkv, hd;
  float scale_log2;          // scale · log2(e): the softmax runs in exp2
  TcOperand q, k, v;         // packed, or the graph's bf16 in place
  TcOut y;                   // [B, T, H, hd]
  float* lse;                // [B, H, T] or null
};

template <int HDP> __global__ void __launch_bounds__(kTcThreads) tc_forward_kernel(TcFwd a) {
  constexpr int ld = HDP + kPad, KS = HDP / 16, DT = HDP / 8, NT = kTile / 8;
  unsigned char* smem_raw = tc_shared();
  bf16* k_s = reinterpret_cast<bf16*>(smem_raw);
  bf16* v_s = k_s + kTile * ld;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  const int64_t bh = blockIdx.y, bi = bh / a.h, hi = bh % a.h, kvh = hi / (a.h / a.hkv);
  const int64_t q0 = int64_t(blockIdx.x) * kTile;
  const bf16* K = head_rows(a.k, bi, kvh);
  const bf16* V = head_rows(a.v, bi, kvh);

  uint32_t qf[KS][4];
  const int64_t w0 = q0 + warp * 16;  // the warp's first query row
  const bf16* Q = head_rows(a.q, bi, hi) + w0 * a.q.row;
  GOLF_UNROLL
  for (int kk = 0; kk < KS; ++kk) load_a(qf[kk], Q, a.q.row, kk * 16, a.t - w0);

  float o[DT][4];
  GOLF_UNROLL
  for (int dt = 0; dt < DT; ++dt) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  const int row_lo = warp * 16 + g;  // this thread's rows within the block: row_lo, row_lo + 8

  for (int j = 0; j <= int(blockIdx.x); ++j) {  // key tiles up to the diagonal (kTile rows each)
    const int64_t k0 = int64_t(j) * kTile;
    __syncthreads();
    load_tile<HDP>(k_s, K + k0 * a.k.row, a.k.row, a.t - k0);
    load_tile<HDP>(v_s, V + k0 * a.v.row, a.v.row, a.t - k0);
    __syncthreads();
    float s[NT][4];
    GOLF_UNROLL
    for (int nt = 0; nt < NT; ++nt) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
    GOLF_UNROLL
    for (int kk = 0; kk < KS; ++kk)
      GOLF_UNROLL
      for (int nt = 0; nt < NT; ++nt) mma_rows(s[nt], qf[kk], k_s, ld, nt * 8, kk * 16);
    // On the diagonal tile the block's query and key offsets are equal: key col > row is masked.
    const bool diag = j == int(blockIdx.x);
    float mx[2] = {m[0], m[1]};
    GOLF_UNROLL
    for (int nt = 0; nt < NT; ++nt)
      GOLF_UNROLL
      for (int e = 0; e < 4; ++e) {
        const int row = row_lo + (e >> 1) * 8, col = nt * 8 + 2 * c + (e & 1);
        const float x = diag && col > row ? -INFINITY : s[nt][e] * a.scale_log2;
        s[nt][e] = x;
        mx[e >> 1] = fmaxf(mx[e >> 1], x);
      }
    GOLF_UNROLL
    for (int r = 0; r < 2; ++r) {  // the quad holds one row's 64 columns
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
    }
    // mx is finite: tile 0 holds key 0, which every row sees, and later tiles only raise it.
    const float alpha[2] = {exp2f(m[0] - mx[0]), exp2f(m[1] - mx[1])};
    l[0] *= alpha[0];
    l[1] *= alpha[1];
    GOLF_UNROLL
    for (int nt = 0; nt < NT; ++nt)
      GOLF_UNROLL
      for (int e = 0; e < 4; ++e) {
        const float p = exp2f(s[nt][e] - mx[e >> 1]);
        s[nt][e] = p;
        l[e >> 1] += p;
      }
    m[0] = mx[0];
    m[1] = mx[1];
    GOLF_UNROLL
    for (int dt = 0; dt < DT; ++dt) {
      o[dt][0] *= alpha[0];
      o[dt][1] *= alpha[0];
      o[dt][2] *= alpha[1];
      o[dt][3] *= alpha[1];
    }
    GOLF_UNROLL
    for (int kk = 0; kk < kTile / 16; ++kk) {
      uint32_t pa[4];
      acc_as_a(pa, s[2 * kk], s[2 * kk + 1]);
      GOLF_UNROLL
      for (int dt = 0; dt < DT; ++dt) mma_cols(o[dt], pa, v_s, ld, dt * 8, kk * 16);
    }
  }
  GOLF_UNROLL
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
  const bool pair = a.hd % 2 == 0;
  GOLF_UNROLL
  for (int r = 0; r < 2; ++r) {
    const int64_t i = q0 + row_lo + 8 * r;
    if (i >= a.t) continue;  // the tail tile's rows past T: computed on zeros, never stored
    const float inv = 1.f / l[r];
    const int64_t at = ((bi * a.t + i) * a.h + hi) * a.hd;
    GOLF_UNROLL
    for (int dt = 0; dt < DT; ++dt) {
      const int64_t d = dt * 8 + 2 * c;
      if (d < a.hd) store2(a.y, at + d, o[dt][2 * r] * inv, o[dt][2 * r + 1] * inv, d + 1 < a.hd, pair);
    }
    if (a.lse && c == 0) a.lse[bh * a.t + i] = (m[r] + log2f(l[r])) * kLn2;
  }
}

// y ← y − (y·v̂)v̂ per query row (one warp), v̂ the unit value vector at the row's own position and
// KV head: attention.cu's formulas, after the tensor-core forward instead of inside it. fp32 only.
__global__ void xsa_kernel(int64_t rows, int64_t h, int64_t hkv, int64_t hd, const float* v, float* y) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t row = int64_t(blockIdx.x) * (kThreads / 32) + warp;  // (bi, ti, hi) in [B, T, H] order
  if (row >= rows) return;
  const int64_t hi = row % h, bt = row / h, g = hi / (h / hkv);
  const float* vr = v + (bt * hkv + g) * hd;
  float* yr = y + row * hd;
  double ss = 0.0;
  for (int64_t d = lane; d < hd; d += 32) ss += double(vr[d]) * double(vr[d]);
  const double nrm = fmax(sqrt(warp_sum(ss)), kXsaEps);
  double ov = 0.0;
  for (int64_t d = lane; d < hd; d += 32) ov += double(yr[d]) * (double(vr[d]) / nrm);
  ov = warp_sum(ov);
  for (int64_t d = lane; d < hd; d += 32) yr[d] = float(double(yr[d]) - ov * (double(vr[d]) / nrm));
}

// ---- backward --------------------------------------------------------------------------------

// D = dO·o per query row (one warp, striding over the rows by the grid's warps) into d_row
// [B, H, T], without XSA: o (the forward's y) and dO each fp32 or bf16, widened exactly; summed in
// double in attention.cu's prep order (lane-strided, then the butterfly), so fp32 inputs give that
// kernel's D bit for bit.
__global__ void tc_prep_kernel(int64_t rows, int64_t t, int64_t h, int64_t hd, const void* o, bool o_bf16,
                               const void* dy, bool dy_bf16, float* d_row) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = int(blockDim.x / 32);
  for (int64_t row = int64_t(blockIdx.x) * warps + warp; row < rows; row += int64_t(gridDim.x) * warps) {
    const int64_t hi = row % h, bt = row / h, ti = bt % t, bi = bt / t;  // (bi, ti, hi) in [B, T, H] order
    double s = 0.0;
    for (int64_t d = lane; d < hd; d += 32)
      s += double(load_real(dy, dy_bf16, row * hd + d)) * double(load_real(o, o_bf16, row * hd + d));
    s = warp_sum(s);
    if (lane == 0) d_row[(bi * h + hi) * t + ti] = float(s);
  }
}

struct TcBwd {
  int64_t t, h, hkv, hd;
  float scale, scale_log2;
  TcOperand q, k, v, dout;   // dout: dy, or the gradient at the pre-XSA output
  const float *lse, *d_row;  // [B, H, T]
  const float* xsa_dv;       // [B, T, H, hd] or null
  TcOut dq, dk, dv;          // [B, T, H, hd], [B, T, Hkv, hd]
};

template <int HDP> __global__ void __launch_bounds__(kTcThreads) tc_dq_kernel(TcBwd a) {
  constexpr int ld = HDP + kPad, KS = HDP / 16, DT = HDP / 8, NT = kTile / 8;
  unsigned char* smem_raw = tc_shared();
  bf16* k_s = reinterpret_cast<bf16*>(smem_raw);
  bf16* v_s = k_s + kTile * ld;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  const int64_t bh = blockIdx.y, bi = bh / a.h, hi = bh % a.h, kvh = hi / (a.h / a.hkv);
  const int64_t q0 = int64_t(blockIdx.x) * kTile;
  const bf16* K = head_rows(a.k, bi, kvh);
  const bf16* V = head_rows(a.v, bi, kvh);
  const int row_lo = warp * 16 + g;

  uint32_t qf[KS][4], df[KS][4];
  const int64_t w0 = q0 + warp * 16;
  const bf16* Q = head_rows(a.q, bi, hi) + w0 * a.q.row;
  const bf16* dO = head_rows(a.dout, bi, hi) + w0 * a.dout.row;
  GOLF_UNROLL
  for (int kk = 0; kk < KS; ++kk) {
    load_a(qf[kk], Q, a.q.row, kk * 16, a.t - w0);
    load_a(df[kk], dO, a.dout.row, kk * 16, a.t - w0);
  }
  // Rows past t get lse = +inf, so their probabilities are exactly 0.
  float lse2[2], dr[2];
  GOLF_UNROLL
  for (int r = 0; r < 2; ++r) {
    const int64_t i = q0 + row_lo + 8 * r;
    lse2[r] = i < a.t ? a.lse[bh * a.t + i] * kLog2e : INFINITY;
    dr[r] = i < a.t ? a.d_row[bh * a.t + i] : 0.f;
  }
  float acc[DT][4];
  GOLF_UNROLL
  for (int dt = 0; dt < DT; ++dt) acc[dt][0] = acc[dt][1] = acc[dt][2] = acc[dt][3] = 0.f;

  for (int j = 0; j <= int(blockIdx.x); ++j) {
    const int64_t k0 = int64_t(j) * kTile;
    __syncthreads();
    load_tile<HDP>(k_s, K + k0 * a.k.row, a.k.row, a.t - k0);
    load_tile<HDP>(v_s, V + k0 * a.v.row, a.v.row, a.t - k0);
    __syncthreads();
    float s[NT][4], dp[NT][4];
    GOLF_UNROLL
    for (int nt = 0; nt < NT; ++nt)
      GOLF_UNROLL
      for (int e = 0; e < 4; ++e) s[nt][e] = dp[nt][e] = 0.f;
    GOLF_UNROLL
    for (int kk = 0; kk < KS; ++kk)
      GOLF_UNROLL
      for (int nt = 0; nt < NT; ++nt) {
        mma_rows(s[nt], qf[kk], k_s, ld, nt * 8, kk * 16);
        mma_rows(dp[nt], df[kk], v_s, ld, nt * 8, kk * 16);
      }
    const bool diag = j == int(blockIdx.x);
    GOLF_UNROLL
    for (int nt = 0; nt < NT; ++nt)
      GOLF_UNROLL
      for (int e = 0; e < 4; ++e) {
        const int row = row_lo + (e >> 1) * 8, col = nt * 8 + 2 * c + (e & 1);
        const float p = diag && col > row ? 0.f : exp2f(s[nt][e] * a.scale_log2 - lse2[e >> 1]);
        s[nt][e] = p * (dp[nt][e] - dr[e >> 1]);  // dS
      }
    GOLF_UNROLL
    for (int kk = 0; kk < kTile / 16; ++kk) {
      uint32_t da[4];
      acc_as_a(da, s[2 * kk], s[2 * kk + 1]);
      GOLF_UNROLL
      for (int dt = 0; dt < DT; ++dt) mma_cols(acc[dt], da, k_s, ld, dt * 8, kk * 16);
    }
  }
  const bool pair = a.hd % 2 == 0;
  GOLF_UNROLL
  for (int r = 0; r < 2; ++r) {
    const int64_t i = q0 + row_lo + 8 * r;
    if (i >= a.t) continue;
    const int64_t at = ((bi * a.t + i) * a.h + hi) * a.hd;
    GOLF_UNROLL
    for (int dt = 0; dt < DT; ++dt) {
      const int64_t d = dt * 8 + 2 * c;
      if (d < a.hd)
        store2(a.dq, at + d, acc[dt][2 * r] * a.scale, acc[dt][2 * r + 1] * a.scale, d + 1 < a.hd, pair);
    }
  }
}

template <int HDP> __global__ void __launch_bounds__(kTcThreads) tc_dkdv_kernel(TcBwd a) {
  constexpr int ld = HDP + kPad, KS = HDP / 16, DT = HDP / 8, NT = kTile / 8;
  unsigned char* smem_raw = tc_shared();
  bf16* q_s = reinterpret_cast<bf16*>(smem_raw);
  bf16* do_s = q_s + kTile * ld;
  float* lse_s = reinterpret_cast<float*>(do_s + kTile * ld);  // per query of the tile, log2 units
  float* d_s = lse_s + kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
  const int64_t bg = blockIdx.y, bi = bg / a.hkv, kvh = bg % a.hkv, group = a.h / a.hkv;
  const int64_t k0 = int64_t(blockIdx.x) * kTile;
  const int row_lo = warp * 16 + g;  // this thread's key rows within the block: row_lo, row_lo + 8

  uint32_t kf[KS][4], vf[KS][4];
  const int64_t w0 = k0 + warp * 16;  // the warp's first key row
  const bf16* K = head_rows(a.k, bi, kvh) + w0 * a.k.row;
  const bf16* V = head_rows(a.v, bi, kvh) + w0 * a.v.row;
  GOLF_UNROLL
  for (int kk = 0; kk < KS; ++kk) {
    load_a(kf[kk], K, a.k.row, kk * 16, a.t - w0);
    load_a(vf[kk], V, a.v.row, kk * 16, a.t - w0);
  }
  float dk[DT][4], dv[DT][4];
  GOLF_UNROLL
  for (int dt = 0; dt < DT; ++dt)
    GOLF_UNROLL
    for (int e = 0; e < 4; ++e) dk[dt][e] = dv[dt][e] = 0.f;

  const int n_tiles = int((a.t + kTile - 1) / kTile);
  for (int64_t hi = kvh * group; hi < (kvh + 1) * group; ++hi) {
    const int64_t bh = bi * a.h + hi;
    const bf16* Q = head_rows(a.q, bi, hi);
    const bf16* dO = head_rows(a.dout, bi, hi);
    for (int j = int(blockIdx.x); j < n_tiles; ++j) {  // query tiles from the diagonal on
      const int64_t j0 = int64_t(j) * kTile;
      __syncthreads();
      load_tile<HDP>(q_s, Q + j0 * a.q.row, a.q.row, a.t - j0);
      load_tile<HDP>(do_s, dO + j0 * a.dout.row, a.dout.row, a.t - j0);
      if (threadIdx.x < kTile) {
        const int64_t i = j0 + threadIdx.x;
        lse_s[threadIdx.x] = i < a.t ? a.lse[bh * a.t + i] * kLog2e : INFINITY;  // past t: p = 0
        d_s[threadIdx.x] = i < a.t ? a.d_row[bh * a.t + i] : 0.f;
      }
      __syncthreads();
      float s[NT][4], dp[NT][4];  // Sᵀ and dPᵀ: rows are keys, columns queries
      GOLF_UNROLL
      for (int nt = 0; nt < NT; ++nt)
        GOLF_UNROLL
        for (int e = 0; e < 4; ++e) s[nt][e] = dp[nt][e] = 0.f;
      GOLF_UNROLL
      for (int kk = 0; kk < KS; ++kk)
        GOLF_UNROLL
        for (int nt = 0; nt < NT; ++nt) {
          mma_rows(s[nt], kf[kk], q_s, ld, nt * 8, kk * 16);
          mma_rows(dp[nt], vf[kk], do_s, ld, nt * 8, kk * 16);
        }
      const bool diag = j == int(blockIdx.x);
      GOLF_UNROLL
      for (int nt = 0; nt < NT; ++nt)
        GOLF_UNROLL
        for (int e = 0; e < 4; ++e) {
          const int key = row_lo + (e >> 1) * 8, col = nt * 8 + 2 * c + (e & 1);
          const float p = diag && col < key ? 0.f : exp2f(s[nt][e] * a.scale_log2 - lse_s[col]);
          s[nt][e] = p;
          dp[nt][e] = p * (dp[nt][e] - d_s[col]);  // dSᵀ
        }
      GOLF_UNROLL
      for (int kk = 0; kk < kTile / 16; ++kk) {
        uint32_t pa[4], da[4];
        acc_as_a(pa, s[2 * kk], s[2 * kk + 1]);
        acc_as_a(da, dp[2 * kk], dp[2 * kk + 1]);
        GOLF_UNROLL
        for (int dt = 0; dt < DT; ++dt) {
          mma_cols(dv[dt], pa, do_s, ld, dt * 8, kk * 16);
          mma_cols(dk[dt], da, q_s, ld, dt * 8, kk * 16);
        }
      }
    }
  }
  const bool pair = a.hd % 2 == 0;
  GOLF_UNROLL
  for (int r = 0; r < 2; ++r) {
    const int64_t jk = k0 + row_lo + 8 * r;
    if (jk >= a.t) continue;
    const int64_t at = ((bi * a.t + jk) * a.hkv + kvh) * a.hd;
    GOLF_UNROLL
    for (int dt = 0; dt < DT; ++dt) {
      const int64_t d = dt * 8 + 2 * c;
      if (d >= a.hd) continue;
      float vsum[2] = {dv[dt][2 * r], dv[dt][2 * r + 1]};
      if (a.xsa_dv)  // the group's heads in order, as attention.cu
        for (int e = 0; e < 2 && d + e < a.hd; ++e)
          for (int64_t hi = kvh * group; hi < (kvh + 1) * group; ++hi)
            vsum[e] += a.xsa_dv[((bi * a.t + jk) * a.h + hi) * a.hd + d + e];
      store2(a.dk, at + d, dk[dt][2 * r] * a.scale, dk[dt][2 * r + 1] * a.scale, d + 1 < a.hd, pair);
      store2(a.dv, at + d, vsum[0], vsum[1], d + 1 < a.hd, pair);
    }
  }
}
