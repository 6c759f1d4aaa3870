// CUDA kernels, the twins of kernels/cpu/cpu_kernels.h: raw device pointers, sizes and
// attributes, fp32 math (DESIGN §3: fp32 storage, except the values stored in bf16, passed as
// Real/RealOut; matmul inputs in bf16 with fp32 accumulation unless the fp32 path is asked for). Every kernel runs on the one stream of
// runtime_api.h and returns without waiting. Deterministic: no atomics on results; every sum runs
// in an order fixed by the shapes alone. Outputs never alias inputs. Integer tensors are int32_t.
// Kernels that validate data take a `tag` (the backend passes the node's step) and raise a fault
// instead of throwing (runtime_api.h).
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/op_kinds.h"

namespace golf::cuda {

using kernels::Dims;
using kernels::Unary;
using kernels::Binary;

// A real tensor's device pointer and its storage type. DESIGN §3: on CUDA, matmul operands,
// matmul outputs (as PyTorch's autocast stores them) and attention's Q/K/V/O are *stored* in bf16
// (runtime/precision_pass.h chooses which values), every other real value in fp32; kernels that read or write such a value take these instead of a
// float pointer, compute in fp32 and round once at the store (round to nearest even).
struct Real {
  const void* p = nullptr;
  bool bf16 = false;
};
struct RealOut {
  void* p = nullptr;
  bool bf16 = false;
};

// ---- elementwise.cu ------------------------------------------------------------------------
void unary(Unary op, int64_t n, const float* x, float* y, double a = 0.0);
// numpy broadcasting; a_dims and b_dims are left-padded with 1s to out_dims' rank.
void binary(Binary op, const Dims& out_dims, const Dims& a_dims, const float* a, const Dims& b_dims, const float* b,
            float* out);
void fill(int64_t n, float value, float* y);
void to_real(int64_t n, const int32_t* x, float* y);
void add_into(int64_t n, const float* x, float* y);  // y += x

// ---- reduce.cu -----------------------------------------------------------------------------
// Sum of x (in_dims) into out (out_dims, same rank, each dim equal or 1), accumulated in double
// in a fixed order. `scale` multiplies the result (mean = sum · 1/count).
void reduce_sum(const Dims& in_dims, const float* x, const Dims& out_dims, float* out, double scale = 1.0);
void broadcast(const Dims& in_dims, const float* x, const Dims& out_dims, float* out);

// ---- layout.cu (4-byte elements: float and int32_t move alike, bit for bit) ----------------
void copy4(int64_t n, const void* x, void* y);
void permute4(const Dims& in_dims, const void* x, const Dims& perm, void* out);
void slice4(int64_t outer, int64_t dim, int64_t inner, int64_t start, int64_t end, const void* x, void* out);
void pad4(int64_t outer, int64_t dim, int64_t inner, int64_t before, int64_t after, const void* x, void* out);
void concat_part4(int64_t outer, int64_t dim, int64_t inner, int64_t out_dim, int64_t at, const void* x, void* out);

// ---- gather.cu -----------------------------------------------------------------------------
void embedding(int64_t n, int64_t rows, int64_t d, const float* table, const int32_t* ids, float* out, int tag);
// Rows are summed in increasing source position (a stable sort of the ids), as on the CPU.
void scatter_add_rows(int64_t n, int64_t rows, int64_t d, const int32_t* ids, const float* src, float* out, int tag);
void index_select(int64_t rows, int64_t c, int64_t k, const float* x, const int32_t* idx, float* out, int tag);
void index_add(int64_t rows, int64_t k, int64_t c, const float* g, const int32_t* idx, float* out, int tag);
void token_shift(int64_t b, int64_t t, int64_t inner, int64_t k, const float* x, float* out);

// ---- matmul.cu -----------------------------------------------------------------------------
// cpu::matmul's contract. bf16: A and B rounded to bf16 (round to nearest even), products summed
// in fp32 by cuBLASLt; fp32: fp32 inputs and fp32 compute (no TF32).
enum class MatmulPrecision { bf16, fp32 };
// a / b: fp32, or stored in bf16 by the graph (read as they are; bf16 precision only). An fp32
// operand is rounded to bf16 into scratch, unless a_bf16 / b_bf16 gives its bf16 copy
// (runtime/bf16_weight_cache.h's copy of a weight). c: fp32, or bf16 rounded once from the fp32
// accumulator. `add` (fp32 [batch, m, n], or null; may be c.p itself) is added to the product in
// the GEMM's epilogue (cuBLASLt's β = 1), so that a gradient sum needs no pass of its own; only
// with an fp32 c.
void matmul(int64_t batch, int64_t m, int64_t n, int64_t k, Real a, bool trans_a, Real b, bool trans_b,
            int64_t stride_b, RealOut c, MatmulPrecision p, const void* a_bf16 = nullptr,
            const void* b_bf16 = nullptr, const float* add = nullptr);
// y[i] = bf16(x[i]), round to nearest even (the matmul's conversion; the weight cache's).
void to_bf16(int64_t n, const float* x, void* y);

// ---- rms_norm.cu ---------------------------------------------------------------------------
void rms_norm(int64_t rows, int64_t d, double eps, const float* x, RealOut y);
// add (or null): dx = add + the norm's backward, in the same pass (a residual gradient's sum)
void rms_norm_backward(int64_t rows, int64_t d, double eps, const float* x, const float* dy, float* dx,
                       const float* add = nullptr);

// ---- rope.cu -------------------------------------------------------------------------------
// cpu::rope_at's contract, the first position read from device memory (`p0_dev`, one int32; null
// means 0). rope is rope_at with p0 = 0 and ntk_len = t.
void rope_at(int64_t b, int64_t t, int64_t h, int64_t hd, int64_t rot, double base, int64_t train_len,
             int64_t ntk_len, const int32_t* p0_dev, bool inverse, const float* x, float* y);

// ---- attention.cu --------------------------------------------------------------------------
// cpu::attention / attention_backward / attention_cached, FlashAttention-2 style: tiles of keys
// through shared memory, an online softmax per query row, lse saved for the backward, which
// recomputes the probabilities and writes dq (per query row) and dk, dv (per key row, over the
// group's query heads in order) in separate kernels, so no two threads add into one element.
// hd is limited to kMaxHeadDim.
constexpr int64_t kMaxHeadDim = 256;
void attention(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa, const float* q,
               const float* k, const float* v, float* y, float* lse);
void attention_backward(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa,
                        const float* q, const float* k, const float* v, const float* y, const float* lse,
                        const float* dy, float* dq, float* dk, float* dv);
// The backward's first step, shared by both paths: D = dO·o per row into d_row [B, H, T]; with XSA
// (o then the pre-XSA output) also the gradient at o into dd and XSA's dv terms into xsa_dv, per
// query head ([B, T, H, hd] each). fp32, in double where it sums.
void attention_prep(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, bool xsa, const float* o,
                    const float* dy, const float* v, float* dd, float* d_row, float* xsa_dv);
// p0 is read from device memory; p0 + t > c raises Fault::cache_range and leaves y untouched.
void attention_cached(int64_t b, int64_t t, int64_t c, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa,
                      const int32_t* p0_dev, const float* q, const float* k, const float* v, float* k_cache,
                      float* v_cache, float* y, int tag);

// ---- attention_tc.cu (the training default; DESIGN §3) -------------------------------------
// The same contracts as attention / attention_backward on tensor cores: Q, K, V and dO rounded to
// bf16 (round to nearest even) into scratch (kernels/cuda/attention_layout.h), mma.sync products
// summed in fp32, the softmax's max, sum and lse in fp32, P and dS rounded to bf16 as the second
// matmul's operand. XSA runs as its own kernel after the forward. Deterministic: no atomics,
// every sum in an order fixed by the shapes. hd up to kTcMaxHeadDim (256).
// Q, K, V (and O, dO) stored in bf16 by the graph, in its [B, T, heads, hd] layout, are read in
// place with no pack when tc_direct(hd) (attention_layout.h): all of q, k, v bf16 or all fp32; y
// (and so the backward's y) bf16 only without XSA. dq, dk, dv: each fp32 or bf16.
void attention_tc(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa, Real q, Real k,
                  Real v, RealOut y, float* lse);
void attention_tc_backward(int64_t b, int64_t t, int64_t h, int64_t hkv, int64_t hd, double scale, bool xsa, Real q,
                           Real k, Real v, Real y, const float* lse, Real dy, RealOut dq, RealOut dk, RealOut dv);

// ---- cross_entropy.cu ----------------------------------------------------------------------
void cross_entropy(int64_t n, int64_t v, double softcap, Real x, const int32_t* targets, float* loss, int tag);
void cross_entropy_backward(int64_t n, int64_t v, double softcap, Real x, const int32_t* targets,
                            const float* dloss, RealOut dx, int tag);

// Soft targets (cpu::soft_cross_entropy's contract); statistics in double.
void soft_cross_entropy(int64_t n, int64_t v, const float* x, const float* p, float* loss);
void soft_cross_entropy_backward(int64_t n, int64_t v, const float* x, const float* p, const float* dloss, float* dx,
                                 float* dp);

// ---- ngram_hash.cu (the hashes: hashing/ngram.h) -------------------------------------------
// cpu::ngram_hash's contract, bit for bit (XXH3 through hashing/xxh3_small.h).
void ngram_hash(int64_t b, int64_t t, int n, int64_t buckets, int kind, const uint32_t primes[3], uint64_t seed,
                const int32_t* tokens, int32_t* out);
// cpu::ngram_hash_at's contract; pos is a device pointer to the position (the graph's input).
void ngram_hash_at(int64_t b, int n, int64_t buckets, int kind, const uint32_t primes[3], uint64_t seed,
                   const int32_t* pos, const int32_t* window, int32_t* out);

// ---- fake_quant.cu -------------------------------------------------------------------------
void fake_quant(int64_t rows, int64_t d, int bits, const float* x, float* y);

// ---- the fused chains of runtime/fuse_pass.cc (cpu_kernels.h's contracts) ----------------
// rms_norm.cu: c·rms_norm(x) and its backward
void rms_norm_scaled(int64_t rows, int64_t d, double eps, double c, const float* x, RealOut y);
void rms_norm_scaled_backward(int64_t rows, int64_t d, double eps, double c, const float* x, const float* dy, float* dx);
// norm_rope.cu: gain [H] or nullptr; dgain_rows [B·T·H] or nullptr
void rms_norm_rope(int64_t b, int64_t t, int64_t h, int64_t hd, int64_t rot, double base, int64_t train_len, bool inverse,
                   double eps, Real x, const float* gain, RealOut y);
void rms_norm_rope_backward(int64_t b, int64_t t, int64_t h, int64_t hd, int64_t rot, double base, int64_t train_len,
                            bool inverse, double eps, Real x, const float* gain, const float* dy, RealOut dx,
                            float* dgain_rows);
// channel_mix.cu: dw through scratch (kernels/channel_chunks.h), two launches
void add_scaled(int64_t rows, int64_t d, const float* x, Real y, const float* s, float* out);
void mix(int64_t rows, int64_t d, const float* a, const float* b, const float* wa, const float* wb, float* out);
void channel_scale_backward(int64_t rows, int64_t d, Real u, const float* w, const float* g, RealOut du,
                            float* dw);
// du = acc + w⊙g (the sum an fp32 running gradient: fold_gradient_sums), dw as above
void channel_scale_backward_add(int64_t rows, int64_t d, const float* u, const float* w, const float* g,
                                const float* acc, float* du, float* dw);
// residual_norm.cu: the pre-norm fused into the residual op before it; s the stream value (fp32),
// n = rms_norm(s) (a matmul's operand: fp32 or bf16), the same numbers as mix / add_scaled then
// rms_norm
void mix_rms_norm(int64_t rows, int64_t d, double eps, const float* a, const float* b, const float* wa, const float* wb,
                  float* s, RealOut n);
// add_scaled_rms_norm's y: a projection's output, fp32 or bf16 (as add_scaled's)
void add_scaled_rms_norm(int64_t rows, int64_t d, double eps, const float* x, Real y, const float* sc, float* s,
                         RealOut n);
// relu2.cu
void relu2(int64_t n, double slope, Real x, RealOut y);
void relu2_backward(int64_t n, double slope, Real x, Real dy, RealOut dx);

}  // namespace golf::cuda
