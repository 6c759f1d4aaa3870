// Matmul through cuBLASLt. golfrt's tensors are row-major and cuBLASLt is column-major, so
// C = op(A)·op(B) is computed as Cᵀ = op(B)ᵀ·op(A)ᵀ: the row-major buffers, read column-major, are
// already the transposes, and no data moves.
//
// bf16 (the training default, DESIGN §3): A and B are rounded to bf16 into scratch, unless an
// operand is stored in bf16 by the graph (read as it is) or the caller passes its bf16 copy (a
// cached weight, runtime/bf16_weight_cache.h), and cuBLASLt multiplies them with fp32
// accumulation (compute and scale types 32F). The output D is fp32, or bf16 rounded once from the
// accumulator (cuBLASLt's D type 16BF; its C type must then be 16BF too, unused at β = 0). fp32:
// fp32 inputs and output with CUBLAS_COMPUTE_32F (never TF32), for tests and for comparing
// against the CPU.
//
// The epilogue add (matmul_add, a gradient sum): β = 1 with C = the fp32 addend, D = c, both with
// the one fp32 layout (cuBLASLt allows C == D in place only with identical descriptors, which
// these are). D = A·B + C is then summed in fp32 inside the GEMM: the addend is read once by the
// epilogue and no separate add pass runs.
#include <cublasLt.h>
#include <cuda_bf16.h>

#include <initializer_list>
#include <map>
#include <mutex>
#include <tuple>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace golf::cuda {
namespace {

void check_lt(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cuBLASLt ") + what + ": status " + std::to_string(int(s)));
}

constexpr size_t kLtWorkspace = size_t(32) << 20;

struct Lt {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
};

Lt& lt() {
  static Lt l;
  static std::once_flag once;
  std::call_once(once, [] {
    check_lt(cublasLtCreate(&l.handle), "create");
    l.workspace = device_alloc(kLtWorkspace);
  });
  return l;
}

__global__ void to_bf16_kernel(int64_t n, const float* x, __nv_bfloat16* y) {
  GOLF_GRID_STRIDE(i, n) y[i] = __float2bfloat16_rn(x[i]);
}

// One problem shape, its descriptors and the algorithm the heuristic chose for it. Kept for the
// life of the process: a training run meets a handful of shapes, and the heuristic's choice is
// then fixed, which keeps repeated runs bit-identical.
struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
};
using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool, int, bool, int>;

// cuBLASLt assumes 256-byte aligned operands unless told otherwise; a batch's later matrices and
// sub-buffers of scratch can be less aligned, and the algorithm must be chosen knowing it.
uint32_t alignment(std::initializer_list<uint64_t> values) {
  uint32_t a = 256;
  for (uint64_t v : values)
    while (a > 4 && v % a != 0) a /= 2;
  return a;
}

// c_bf16: D (and so C) in bf16.
const Plan& plan_for(int64_t batch, int64_t m, int64_t n, int64_t k, int64_t stride_b, bool ta, bool tb,
                     MatmulPrecision p, bool c_bf16, uint32_t align) {
  static std::map<Key, Plan> plans;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  Key key{batch, m, n, k, stride_b, ta, tb, int(p), c_bf16, int(align)};
  auto it = plans.find(key);
  if (it != plans.end()) return it->second;

  Plan pl;
  const cudaDataType_t in = p == MatmulPrecision::bf16 ? CUDA_R_16BF : CUDA_R_32F;
  check_lt(cublasLtMatmulDescCreate(&pl.op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "desc");
  // Column-major view: Lt's A is our B, Lt's B is our A, Lt's D is Cᵀ (n × m, ld n).
  cublasOperation_t op_a = tb ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  check_lt(cublasLtMatmulDescSetAttribute(pl.op, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a), "transa");
  check_lt(cublasLtMatmulDescSetAttribute(pl.op, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b), "transb");
  // Our B: K×N row-major = N×K column-major (ld N); transposed, N×K row-major = K×N (ld K).
  check_lt(tb ? cublasLtMatrixLayoutCreate(&pl.a, in, uint64_t(k), uint64_t(n), k)
              : cublasLtMatrixLayoutCreate(&pl.a, in, uint64_t(n), uint64_t(k), n),
           "layout a");
  check_lt(ta ? cublasLtMatrixLayoutCreate(&pl.b, in, uint64_t(m), uint64_t(k), m)
              : cublasLtMatrixLayoutCreate(&pl.b, in, uint64_t(k), uint64_t(m), k),
           "layout b");
  check_lt(cublasLtMatrixLayoutCreate(&pl.c, c_bf16 ? CUDA_R_16BF : CUDA_R_32F, uint64_t(n), uint64_t(m), n), "layout c");
  if (batch > 1) {
    int32_t count = int32_t(batch);
    int64_t sa = stride_b, sb = m * k, sc = m * n;
    for (auto [layout, stride] : {std::pair{pl.a, sa}, std::pair{pl.b, sb}, std::pair{pl.c, sc}}) {
      check_lt(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count), "batch");
      check_lt(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                                sizeof stride),
               "batch stride");
    }
  }
  cublasLtMatmulPreference_t pref;
  check_lt(cublasLtMatmulPreferenceCreate(&pref), "preference");
  size_t ws = kLtWorkspace;
  check_lt(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws),
           "workspace");
  for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    check_lt(cublasLtMatmulPreferenceSetAttribute(pref, attr, &align, sizeof align), "alignment");
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  check_lt(cublasLtMatmulAlgoGetHeuristic(lt().handle, pl.op, pl.a, pl.b, pl.c, pl.c, pref, 1, &result, &found),
           "heuristic");
  cublasLtMatmulPreferenceDestroy(pref);
  if (found == 0)
    throw std::runtime_error("cuBLASLt has no algorithm for matmul batch " + std::to_string(batch) + " " +
                             std::to_string(m) + "x" + std::to_string(k) + " by " + std::to_string(k) + "x" +
                             std::to_string(n));
  pl.algo = result.algo;
  return plans.emplace(key, pl).first->second;
}

// c: D, fp32 or bf16; add: C with β = 1 (fp32 D only), or null (β = 0, C = D unread).
void run_lt(int64_t batch, int64_t m, int64_t n, int64_t k, const void* a, bool ta, const void* b, bool tb,
            int64_t stride_b, void* c, bool c_bf16, const float* add, MatmulPrecision p) {
  const uint64_t es = p == MatmulPrecision::bf16 ? 2 : 4, ce = c_bf16 ? 2 : 4;
  const uint32_t align = alignment({uint64_t(reinterpret_cast<uintptr_t>(a)), uint64_t(reinterpret_cast<uintptr_t>(b)),
                                    uint64_t(reinterpret_cast<uintptr_t>(c)), uint64_t(reinterpret_cast<uintptr_t>(add)),
                                    uint64_t(stride_b) * es, uint64_t(m * k) * es, uint64_t(m * n) * ce});
  const Plan& pl = plan_for(batch, m, n, k, stride_b, ta, tb, p, c_bf16, align);
  const float one = 1.f, zero = 0.f;
  const void* cin = add ? static_cast<const void*>(add) : c;
  check_lt(cublasLtMatmul(lt().handle, pl.op, &one, b, pl.a, a, pl.b, add ? &one : &zero, cin, pl.c, c, pl.c, &pl.algo,
                          lt().workspace, kLtWorkspace, stream()),
           "matmul");
}

}  // namespace

void to_bf16(int64_t n, const float* x, void* y) {
  if (n <= 0) return;
  to_bf16_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, x, static_cast<__nv_bfloat16*>(y));
  check_launch("to_bf16");
}

void matmul(int64_t batch, int64_t m, int64_t n, int64_t k, Real a, bool trans_a, Real b, bool trans_b,
            int64_t stride_b, RealOut c, MatmulPrecision p, const void* a_bf16, const void* b_bf16, const float* add) {
  if (p != MatmulPrecision::bf16 && (a_bf16 || b_bf16))
    throw std::invalid_argument("matmul: a bf16 copy of an operand was passed to the fp32 path");
  if (p != MatmulPrecision::bf16 && (a.bf16 || b.bf16))
    throw std::invalid_argument(std::string("matmul: operand ") + (a.bf16 ? "a" : "b") +
                                " is stored in bf16 but the fp32 path was asked for (it reads fp32 operands only)");
  if (p != MatmulPrecision::bf16 && c.bf16)
    throw std::invalid_argument("matmul: the fp32 path writes an fp32 output, not bf16");
  if ((a.bf16 && a_bf16) || (b.bf16 && b_bf16))
    throw std::invalid_argument(std::string("matmul: operand ") + (a.bf16 && a_bf16 ? "a" : "b") +
                                " is stored in bf16 and was also given a bf16 copy");
  if (add && c.bf16)
    throw std::invalid_argument("matmul: the epilogue add needs an fp32 output (c is bf16)");
  if (batch < 0 || m < 0 || n < 0 || k < 0 || stride_b < 0)
    throw std::invalid_argument("matmul: negative size or stride (batch " + std::to_string(batch) + ", m " + std::to_string(m) +
                                ", n " + std::to_string(n) + ", k " + std::to_string(k) + ", stride_b " + std::to_string(stride_b) + ")");
  if (batch == 0 || m == 0 || n == 0) return;
  const size_t ce = c.bf16 ? 2 : 4;
  if (k == 0) {  // an empty sum: c = 0, or the addend
    if (add) {
      if (add != c.p) copy4(batch * m * n, add, c.p);
    } else if (c.bf16) {
      check(cudaMemsetAsync(c.p, 0, size_t(batch * m * n) * ce, stream()), "matmul: zeroing c");  // bf16 +0 is all zero bits
    } else {
      fill(batch * m * n, 0.f, static_cast<float*>(c.p));
    }
    return;
  }
  // Stacked row-major A_i against one shared B are a single (batch·M)×K problem, as on the CPU.
  if (stride_b == 0 && !trans_a) {
    m *= batch;
    batch = 1;
  }
  const void* pa = a.p;
  const void* pb = b.p;
  const int64_t na = batch * m * k, nb = stride_b == 0 ? k * n : batch * stride_b;
  if (p == MatmulPrecision::bf16) {
    const int64_t b_at = (na + 127) / 128 * 128;  // B's copy starts 256-byte aligned
    // The scratch is the same size either way (runtime/device_ledger.cc reserves it per node).
    auto* buf = static_cast<__nv_bfloat16*>(scratch(size_t(b_at + nb) * sizeof(__nv_bfloat16)));
    if (a.bf16) {
      pa = a.p;  // stored in bf16: read as it is
    } else if (a_bf16) {
      pa = a_bf16;
    } else {
      to_bf16(na, static_cast<const float*>(a.p), buf);
      pa = buf;
    }
    if (b.bf16) {
      pb = b.p;
    } else if (b_bf16) {
      pb = b_bf16;
    } else {
      to_bf16(nb, static_cast<const float*>(b.p), buf + b_at);
      pb = buf + b_at;
    }
  }
  if (stride_b == 0 && batch > 1) {
    // A shared B under a transposed A: one call per problem (a zero batch stride is not relied on).
    const size_t es = p == MatmulPrecision::bf16 ? 2 : 4;
    for (int64_t i = 0; i < batch; ++i)
      run_lt(1, m, n, k, static_cast<const char*>(pa) + size_t(i * m * k) * es, trans_a, pb, trans_b, 0,
             static_cast<char*>(c.p) + size_t(i * m * n) * ce, c.bf16, add ? add + i * m * n : nullptr, p);
    return;
  }
  run_lt(batch, m, n, k, pa, trans_a, pb, trans_b, stride_b, c.p, c.bf16, add, p);
}

}  // namespace golf::cuda
