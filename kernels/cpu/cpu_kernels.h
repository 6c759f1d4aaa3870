// CPU reference kernels. They know nothing of graphs: raw pointers, sizes and attributes only.
// Every real-valued kernel is a template on the element type, instantiated for float and double
// (fp64 is what gradient checks run in). Outputs never alias inputs. Integer tensors are int32_t.
// One op family per file (elementwise.cc, reduce.cc, layout.cc, gather.cc, matmul.cc,
// rms_norm.cc, rope.cc, attention.cc, cross_entropy.cc, fake_quant.cc, and the fused chains of
// runtime/fuse_pass.cc: norm_rope.cc, channel_mix.cc, relu2.cc); the CUDA twins live in
// kernels/cuda/ under the same names.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/op_kinds.h"

namespace golf::cpu {

using kernels::Dims;
using kernels::Unary;
using kernels::Binary;

// ---- elementwise.cc ------------------------------------------------------------------------
template <class T> void unary(Unary op, int64_t n, const T* x, T* y, double a = 0.0);

// out[i] = a[ia] op b[ib] with numpy broadcasting; a_dims and b_dims are already left-padded with
// 1s to out_dims' rank.
template <class T>
void binary(Binary op, const Dims& out_dims, const Dims& a_dims, const T* a, const Dims& b_dims, const T* b, T* out);

template <class T> void copy(int64_t n, const T* x, T* y);  // also int32_t
template <class T> void add_into(int64_t n, const T* x, T* y);  // y += x

// ---- reduce.cc -----------------------------------------------------------------------------
// Sum of x (in_dims) into out (out_dims, same rank, each out dim equal to the in dim or 1).
// Accumulates in double whatever T is, in a fixed order.
template <class T> void reduce_sum(const Dims& in_dims, const T* x, const Dims& out_dims, T* out);
// Broadcast x (in_dims, same rank as out_dims, each in dim equal or 1) to out.
template <class T> void broadcast(const Dims& in_dims, const T* x, const Dims& out_dims, T* out);

// ---- layout.cc (templates instantiated for float, double and int32_t) ---------------------
template <class T> void permute(const Dims& in_dims, const T* x, const Dims& perm, T* out);
// Copy the [start, end) range of `axis` (slice), or write x into a zero-filled out at offset
// `before` along axis (pad). `outer`/`inner` are the products of dims before/after the axis.
template <class T> void slice(int64_t outer, int64_t dim, int64_t inner, int64_t start, int64_t end, const T* x, T* out);
template <class T> void pad(int64_t outer, int64_t dim, int64_t inner, int64_t before, int64_t after, const T* x, T* out);
// Place x (its axis length `dim`) at offset `at` along an axis of length `out_dim` in out.
template <class T> void concat_part(int64_t outer, int64_t dim, int64_t inner, int64_t out_dim, int64_t at, const T* x, T* out);

// ---- gather.cc -----------------------------------------------------------------------------
// out[i, :] = table[ids[i], :]. An id outside [0, rows) throws std::out_of_range naming it.
template <class T> void embedding(int64_t n, int64_t rows, int64_t d, const T* table, const int32_t* ids, T* out);
// out (rows×d, zeroed here) [ids[i], :] += src[i, :], in increasing i: deterministic.
template <class T> void scatter_add_rows(int64_t n, int64_t rows, int64_t d, const int32_t* ids, const T* src, T* out);
// out[r, k] = x[r, idx[k]] for rows r of length c.
template <class T> void index_select(int64_t rows, int64_t c, int64_t k, const T* x, const int32_t* idx, T* out);
// out (rows×c, zeroed here) [r, idx[j]] += g[r, j], in increasing j.
template <class T> void index_add(int64_t rows, int64_t k, int64_t c, const T* g, const int32_t* idx, T* out);
// x is [B, T, inner]: out[b, t] = x[b, t - k] where 0 <= t - k < T, else 0 (k may be negative).
template <class T> void token_shift(int64_t b, int64_t t, int64_t inner, int64_t k, const T* x, T* out);

// ---- matmul.cc -----------------------------------------------------------------------------
// For each of `batch` problems: C[M,N] = op(A) op(B), op = transpose when the flag is set.
// A is M×K (K×M when trans_a), B is K×N (N×K when trans_b), all row-major and densely packed;
// stride_b = 0 shares one B across the batch. Through OpenBLAS (cblas_sgemm / cblas_dgemm).
template <class T>
void matmul(int64_t batch, int64_t m, int64_t n, int64_t k, const T* a, bool trans_a, const T* b, bool trans_b,
            int64_t stride_b, T* c);

// ---- rms_norm.cc ---------------------------------------------------------------------------
// y = x / sqrt(mean(x², last dim) + eps), no gain; statistics in double.
template <class T> void rms_norm(int64_t rows, int64_t d, double eps, const T* x, T* y);
template <class T> void rms_norm_backward(int64_t rows, int64_t d, double eps, const T* x, const T* dy, T* dx);
// dx = acc + rms_norm_backward(x, dy), the sum rounded as add() rounds it (a residual gradient's sum)
template <class T>
void rms_norm_backward_add(int64_t rows, int64_t d, double eps, const T* x, const T* dy, const T* acc, T* dx);
// c·rms_norm(x) and its backward (the blocks' LN scale c).
template <class T> void rms_norm_scaled(int64_t rows, int64_t d, double eps, double c, const T* x, T* y);
template <class T>
void rms_norm_scaled_backward(int64_t rows, int64_t d, double eps, double c, const T* x, const T* dy, T* dx);

// ---- rope.cc -------------------------------------------------------------------------------
// x is [B, T, H, hd]; rotates dims [0, rot) with dim j paired with j + rot/2:
//   y_j = x_j cos θ + x_{j+r/2} sin θ,  y_{j+r/2} = −x_j sin θ + x_{j+r/2} cos θ,
//   θ = t · base'^(−2j/rot), base' = base·(T/train_len)^(rot/(rot−2)) when train_len > 0 and
//   T > train_len. Angles and their cos/sin are computed in fp32 (as the PyTorch reference does),
//   then applied in T. `inverse` rotates by −θ (the backward pass).
template <class T>
void rope(int64_t b, int64_t t, int64_t h, int64_t hd, int64_t rot, double base, int64_t train_len, bool inverse,
          const T* x, T* y);
// The same rotation for positions p0..p0+T-1, with the NTK rescale computed as if the sequence
// were ntk_len long (incremental decoding: the cache's length, not the step's).
template <class T>
void rope_at(int64_t b, int64_t t, int64_t h, int64_t hd, int64_t rot, double base, int64_t train_len,
             int64_t ntk_len, int64_t p0, bool inverse, const T* x, T* y);

// The cos and sin tables of those rotations, [t, rot/2] each (sin negated when inverse).
template <class T>
void rope_table(int64_t t, int64_t rot, double base, int64_t train_len, int64_t ntk_len, int64_t p0, bool inverse,
                std::vector<T>& cos_t, std::vector<T>& sin_t);

// ---- norm_rope.cc --------------------------------------------------------------------------
// q's and k's path in one pass: n = rms_norm(x) over each head's hd values (x [B, T, H, hd]),
// r = rope(n) as rope(), y = r·gain[h] (gain [H], or none: nullptr). The backward gives dx and,
// with a gain, dgain_rows [B·T·H] = Σ_hd dy·r (the sum over B, T is the caller's).
template <class T>
void rms_norm_rope(int64_t b, int64_t t, int64_t h, int64_t hd, int64_t rot, double base, int64_t train_len, bool inverse,
                   double eps, const T* x, const T* gain, T* y);
template <class T>
void rms_norm_rope_backward(int64_t b, int64_t t, int64_t h, int64_t hd, int64_t rot, double base, int64_t train_len,
                            bool inverse, double eps, const T* x, const T* gain, const T* dy, T* dx, T* dgain_rows);

// ---- channel_mix.cc ------------------------------------------------------------------------
// Rows [rows, d], per-channel weights [d]: out = x + s⊙y; out = wa⊙a + wb⊙b; and the backward
// of w⊙u: du = w⊙g, dw = Σ_rows g⊙u (in double, rows in order).
template <class T> void add_scaled(int64_t rows, int64_t d, const T* x, const T* y, const T* s, T* out);
template <class T> void mix(int64_t rows, int64_t d, const T* a, const T* b, const T* wa, const T* wb, T* out);
template <class T>
void channel_scale_backward(int64_t rows, int64_t d, const T* u, const T* w, const T* g, T* du, T* dw);
// du = acc + w⊙g, the sum rounded as add() rounds it (the x0 stream's gradient sums); dw as above
template <class T>
void channel_scale_backward_add(int64_t rows, int64_t d, const T* u, const T* w, const T* g, const T* acc, T* du, T* dw);

// ---- residual_norm.cc ----------------------------------------------------------------------
// The pre-norm fused into the residual op before it: s = mix(a, b, wa, wb) or add_scaled(x, y, sc)
// as above, and n = rms_norm(s); each the same numbers as the two ops one after the other.
template <class T>
void mix_rms_norm(int64_t rows, int64_t d, double eps, const T* a, const T* b, const T* wa, const T* wb, T* s, T* n);
template <class T>
void add_scaled_rms_norm(int64_t rows, int64_t d, double eps, const T* x, const T* y, const T* sc, T* s, T* n);

// ---- relu2.cc ------------------------------------------------------------------------------
// y = r², r = x > 0 ? x : slope·x; dx = dy·2r·(x > 0 ? 1 : slope).
template <class T> void relu2(int64_t n, double slope, const T* x, T* y);
template <class T> void relu2_backward(int64_t n, double slope, const T* x, const T* dy, T* dx);

// ---- attention.cc --------------------------------------------------------------------------
// Causal attention, q [B, T, H, hd], k and v [B, T, Hkv, hd], query head h reads KV head
// h / (H / Hkv). y [B, T, H, hd]; lse [B, H, T] = log Σ_j exp(scale·q·k_j) over j <= t.
// xsa: y ← y − (y·v̂)v̂ with v̂ the unit-normalized value vector of the query's own position and
// KV head (exclusive self attention).
template <class T>
void attention(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa, const T* q,
               const T* k, const T* v, T* y, T* lse);
// dq, dk, dv from dy; y and lse from the forward pass (y is post-XSA; with xsa the pre-XSA
// output is recomputed). Deterministic: dk and dv are summed over query heads in a fixed order.
template <class T>
void attention_backward(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa,
                        const T* q, const T* k, const T* v, const T* y, const T* lse, const T* dy, T* dq, T* dk,
                        T* dv);

// Incremental decoding: copies k, v [B, T, Hkv, hd] into k_cache, v_cache [B, C, Hkv, hd] at rows
// p0..p0+T-1 (throws std::out_of_range when p0 + T > C), then y [B, T, H, hd] = causal attention
// of q (absolute positions p0..) over cache rows 0..p0+t, with the same softmax and XSA as above.
template <class T>
void attention_cached(int64_t b, int64_t t, int64_t c, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa,
                      int64_t p0, const T* q, const T* k, const T* v, T* k_cache, T* v_cache, T* y);

// Soft targets: loss[i] = −Σ_j p[i,j]·(x[i,j] − lse(x_i)); backward dx = dloss·(softmax(x)·Σp − p),
// dp = −dloss·log_softmax(x). Statistics in double.
template <class T> void soft_cross_entropy(int64_t n, int64_t v, const T* x, const T* p, T* loss);
template <class T>
void soft_cross_entropy_backward(int64_t n, int64_t v, const T* x, const T* p, const T* dloss, T* dx, T* dp);

// ---- ngram_hash.cc (the hashes: hashing/ngram.h) -------------------------------------------
// Hashed n-gram ids of tokens [b, t] (ops.h NgramHash): position 0 of each row gets K-1; kind 0
// is ((p0·x_t) ^ (p1·x_{t-1}) [^ (p2·x_{t-2})]) mod (K-1) in uint32, kind 1 XXH3-64(seed) of the
// n-gram's ids as little-endian uint32 mod (K-1); a trigram at position 1 hashes the bigram.
void ngram_hash(int64_t b, int64_t t, int n, int64_t buckets, int kind, const uint32_t primes[3], uint64_t seed,
                const int32_t* tokens, int32_t* out);
// One decode step: window [b, n] holds each row's last n ids (current last); out [b] is the
// current id's bucket at absolute position pos (K-1 at 0; at pos < n-1 only the real predecessors).
void ngram_hash_at(int64_t b, int n, int64_t buckets, int kind, const uint32_t primes[3], uint64_t seed, int64_t pos,
                   const int32_t* window, int32_t* out);

// ---- cross_entropy.cc ----------------------------------------------------------------------
// loss[i] = logsumexp(z_i) − z_i[target_i], z = softcap·tanh(x/softcap) (z = x when softcap
// is 0); statistics in double. A target outside [0, v) throws std::out_of_range.
template <class T> void cross_entropy(int64_t n, int64_t v, double softcap, const T* x, const int32_t* targets, T* loss);
template <class T>
void cross_entropy_backward(int64_t n, int64_t v, double softcap, const T* x, const int32_t* targets,
                            const T* dloss, T* dx);

// ---- fake_quant.cc -------------------------------------------------------------------------
// Per row of length d: s = max|x| / (2^(bits−1) − 1); y = clamp(round(x/s), ±(2^(bits−1)−1))·s
// (rows of zeros stay zero). Rounding is half to even (std::nearbyint), as torch.round.
template <class T> void fake_quant(int64_t rows, int64_t d, int bits, const T* x, T* y);

}  // namespace golf::cpu
