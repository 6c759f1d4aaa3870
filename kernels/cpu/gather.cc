#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/cpu/cpu_kernels.h"

namespace golf::cpu {
namespace {

constexpr int64_t kParallelMin = 32768;
// Columns per parallel task in the scatters: each task owns its columns outright, so the
// order of additions into any element is the source order whatever the thread count.
constexpr int64_t kColumnBlock = 256;

// Ids are all checked before any parallel work: an exception must not escape an OpenMP region.
void check_ids(const char* what, int64_t n, const int32_t* ids, int64_t limit) {
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= limit)
      throw std::out_of_range(std::string(what) + ": id " + std::to_string(ids[i]) + " at position " +
                              std::to_string(i) + " is outside the valid range [0, " + std::to_string(limit) + ")");
}

}  // namespace

template <class T> void embedding(int64_t n, int64_t rows, int64_t d, const T* table, const int32_t* ids, T* out) {
  check_ids("embedding", n, ids, rows);
#pragma omp parallel for schedule(static) if (n * d > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T* src = table + static_cast<int64_t>(ids[i]) * d;
    std::copy(src, src + d, out + i * d);
  }
}

template <class T> void scatter_add_rows(int64_t n, int64_t rows, int64_t d, const int32_t* ids, const T* src, T* out) {
  check_ids("scatter_add_rows", n, ids, rows);
  std::fill(out, out + rows * d, T(0));
  const int64_t n_blocks = (d + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) if (n * d > kParallelMin)
  for (int64_t bi = 0; bi < n_blocks; ++bi) {
    const int64_t j0 = bi * kColumnBlock, j1 = std::min(d, j0 + kColumnBlock);
    for (int64_t i = 0; i < n; ++i) {
      T* dst = out + static_cast<int64_t>(ids[i]) * d;
      const T* s = src + i * d;
      for (int64_t j = j0; j < j1; ++j) dst[j] += s[j];
    }
  }
}

template <class T> void index_select(int64_t rows, int64_t c, int64_t k, const T* x, const int32_t* idx, T* out) {
  check_ids("index_select", k, idx, c);
#pragma omp parallel for schedule(static) if (rows * k > kParallelMin)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) out[r * k + j] = x[r * c + idx[j]];
}

template <class T> void index_add(int64_t rows, int64_t k, int64_t c, const T* g, const int32_t* idx, T* out) {
  check_ids("index_add", k, idx, c);
#pragma omp parallel for schedule(static) if (rows * k > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    T* dst = out + r * c;
    std::fill(dst, dst + c, T(0));
    for (int64_t j = 0; j < k; ++j) dst[idx[j]] += g[r * k + j];
  }
}

template <class T> void token_shift(int64_t b, int64_t t, int64_t inner, int64_t k, const T* x, T* out) {
#pragma omp parallel for schedule(static) if (b * t * inner > kParallelMin)
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t ti = 0; ti < t; ++ti) {
      T* dst = out + (bi * t + ti) * inner;
      const int64_t src_t = ti - k;
      if (src_t >= 0 && src_t < t) {
        const T* src = x + (bi * t + src_t) * inner;
        std::copy(src, src + inner, dst);
      } else {
        std::fill(dst, dst + inner, T(0));
      }
    }
}

#define GOLF_INSTANTIATE(T)                                                                         \
  template void embedding<T>(int64_t, int64_t, int64_t, const T*, const int32_t*, T*);              \
  template void scatter_add_rows<T>(int64_t, int64_t, int64_t, const int32_t*, const T*, T*);       \
  template void index_select<T>(int64_t, int64_t, int64_t, const T*, const int32_t*, T*);           \
  template void index_add<T>(int64_t, int64_t, int64_t, const T*, const int32_t*, T*);              \
  template void token_shift<T>(int64_t, int64_t, int64_t, int64_t, const T*, T*);
GOLF_INSTANTIATE(float)
GOLF_INSTANTIATE(double)
#undef GOLF_INSTANTIATE

}  // namespace golf::cpu
