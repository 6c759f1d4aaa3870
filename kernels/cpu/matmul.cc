#include <cblas.h>

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>

#include <omp.h>

#include "kernels/cpu/blas_threads.h"
#include "kernels/cpu/cpu_kernels.h"

namespace golf::cpu {
namespace {

// CBLAS takes int sizes (unless OpenBLAS is built ILP64): refuse rather than silently wrap.
int blas_int(int64_t v, const char* name) {
  if (v > INT_MAX)
    throw std::length_error("matmul: " + std::string(name) + " = " + std::to_string(v) + " exceeds the BLAS int range");
  return static_cast<int>(v);
}

void gemm(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b,
              ldb, 0.0f, c, ldc);
}

void gemm(bool ta, bool tb, int m, int n, int k, const double* a, int lda, const double* b, int ldb, double* c,
          int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0, a, lda, b,
              ldb, 0.0, c, ldc);
}

// Below this many multiply-adds a gemm runs as one call: splitting would cost more than it saves.
constexpr int64_t kParallelMin = int64_t(1) << 20;
constexpr int kMinBlock = 64, kMaxBlocks = 16;

// C = op(A)·op(B) as single-threaded BLAS calls on column blocks of C, spread over the OpenMP
// threads (OpenBLAS's own threads fought the OpenMP pool: kernels/cpu/blas_threads.h). The blocks
// depend on the shape alone, never on the thread count: BLAS computes a block's edge columns with
// other kernels than the same columns inside a wider call (dgemm differs in the last bits), so a
// thread-dependent split would make results depend on the machine.
template <class T>
void gemm_columns(bool ta, bool tb, int m, int n, int k, const T* a, int lda, const T* b, int ldb, T* c, int ldc) {
  const int per_block = (n + kMaxBlocks - 1) / kMaxBlocks;
  const int width = std::max(kMinBlock, (per_block + 15) / 16 * 16);  // whole 16-column SIMD tiles
  const int blocks = (n + width - 1) / width;
  if (blocks <= 1 || int64_t(m) * n * k < kParallelMin) {
    gemm(ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
    return;
  }
  const int threads = omp_in_parallel() ? 1 : std::min(blocks, omp_get_max_threads());
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int i = 0; i < blocks; ++i) {
    const int j0 = i * width, j1 = std::min(n, j0 + width);
    gemm(ta, tb, m, j1 - j0, k, a, lda, tb ? b + int64_t(j0) * ldb : b + j0, ldb, c + j0, ldc);
  }
}

}  // namespace

template <class T>
void matmul(int64_t batch, int64_t m, int64_t n, int64_t k, const T* a, bool trans_a, const T* b, bool trans_b,
            int64_t stride_b, T* c) {
  if (batch < 0 || m < 0 || n < 0 || k < 0 || stride_b < 0)
    throw std::invalid_argument("matmul: negative size or stride (batch " + std::to_string(batch) + ", m " + std::to_string(m) +
                                ", n " + std::to_string(n) + ", k " + std::to_string(k) + ", stride_b " + std::to_string(stride_b) + ")");
  use_single_threaded_blas();
  if (batch == 0 || m == 0 || n == 0) return;
  if (k == 0) {
    // An empty sum; BLAS would also reject the lda/ldb of 0 this implies.
    std::fill(c, c + batch * m * n, T(0));
    return;
  }
  const int ni = blas_int(n, "N"), ki = blas_int(k, "K");
  const int ldb = trans_b ? ki : ni;
  if (stride_b == 0 && !trans_a) {
    // Stacked row-major A_i are one (batch·M)×K matrix, and the C_i one (batch·M)×N: a single
    // large gemm runs far better than many small ones.
    gemm_columns(false, trans_b, blas_int(batch * m, "batch*M"), ni, ki, a, ki, b, ldb, c, ni);
    return;
  }
  const int mi = blas_int(m, "M");
  const int lda = trans_a ? mi : ki;
  for (int64_t i = 0; i < batch; ++i)
    gemm_columns(trans_a, trans_b, mi, ni, ki, a + i * m * k, lda, b + i * stride_b, ldb, c + i * m * n, ni);
}

template void matmul<float>(int64_t, int64_t, int64_t, int64_t, const float*, bool, const float*, bool, int64_t,
                            float*);
template void matmul<double>(int64_t, int64_t, int64_t, int64_t, const double*, bool, const double*, bool, int64_t,
                             double*);

}  // namespace golf::cpu
