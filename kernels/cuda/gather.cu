// Gathers and their deterministic scatters. A scatter-add never uses atomics: the ids are sorted
// stably with their source positions (CUB's radix sort), and each output element sums its sources
// in increasing position, exactly the CPU's order.
#include <cub/device/device_radix_sort.cuh>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace golf::cuda {
namespace {

__global__ void check_ids_kernel(int64_t n, const int32_t* ids, int64_t limit, FaultRecord* f, int tag) {
  GOLF_GRID_STRIDE(i, n)
  if (ids[i] < 0 || ids[i] >= limit) raise_fault(f, Fault::id_range, tag, ids[i], i, limit);
}

void check_ids(int64_t n, const int32_t* ids, int64_t limit, int tag) {
  if (n <= 0) return;
  check_ids_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, ids, limit, fault_slot(), tag);
  check_launch("id check");
}

__global__ void embedding_kernel(int64_t n, int64_t rows, int64_t d, const float* table, const int32_t* ids,
                                 float* out) {
  GOLF_GRID_STRIDE(i, n * d) {
    const int64_t r = i / d, j = i % d;
    const int32_t id = ids[r];
    out[i] = (id >= 0 && id < rows) ? table[int64_t(id) * d + j] : 0.f;
  }
}

__global__ void iota_kernel(int64_t n, int32_t* p) { GOLF_GRID_STRIDE(i, n) p[i] = int32_t(i); }

// First index in sorted[0, n) whose key is >= key.
__device__ inline int64_t lower_bound(const int32_t* sorted, int64_t n, int32_t key) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = (lo + hi) / 2;
    if (sorted[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// out[r, j] (rows × d) = Σ src[pos, j] over the sources whose id is r, in increasing pos.
__global__ void segment_sum_kernel(int64_t n, int64_t rows, int64_t d, const int32_t* keys, const int32_t* pos,
                                   const float* src, float* out) {
  GOLF_GRID_STRIDE(i, rows * d) {
    const int64_t r = i / d, j = i % d;
    int64_t s = lower_bound(keys, n, int32_t(r));
    float acc = 0.f;
    for (; s < n && keys[s] == r; ++s) acc += src[int64_t(pos[s]) * d + j];
    out[i] = acc;
  }
}

// Stable sort of ids with their positions into scratch; returns (sorted keys, positions).
std::pair<int32_t*, int32_t*> sort_positions(int64_t n, const int32_t* ids) {
  if (n > INT32_MAX) throw std::length_error("scatter: more than 2^31 ids");
  size_t temp = 0;
  check(cub::DeviceRadixSort::SortPairs(nullptr, temp, ids, (int32_t*)nullptr, (int32_t*)nullptr, (int32_t*)nullptr,
                                        int(n), 0, 32, stream()),
        "sort size");
  const size_t words = (size_t(n) + 63) / 64 * 64;
  char* base = static_cast<char*>(scratch(words * 4 * 3 + temp));
  int32_t* pos_in = reinterpret_cast<int32_t*>(base);
  int32_t* keys = pos_in + words;
  int32_t* pos = keys + words;
  void* tmp = pos + words;
  iota_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, pos_in);
  check_launch("iota");
  check(cub::DeviceRadixSort::SortPairs(tmp, temp, ids, keys, pos_in, pos, int(n), 0, 32, stream()), "sort");
  return {keys, pos};
}

__global__ void index_select_kernel(int64_t rows, int64_t c, int64_t k, const float* x, const int32_t* idx,
                                    float* out) {
  GOLF_GRID_STRIDE(i, rows * k) {
    const int64_t r = i / k, j = i % k;
    const int32_t id = idx[j];
    out[i] = (id >= 0 && id < c) ? x[r * c + id] : 0.f;
  }
}

// out[r, ch] = Σ g[r, j] over j with idx[j] = ch, in increasing j.
__global__ void index_add_kernel(int64_t rows, int64_t k, int64_t c, const int32_t* keys, const int32_t* pos,
                                 const float* g, float* out) {
  GOLF_GRID_STRIDE(i, rows * c) {
    const int64_t r = i / c, ch = i % c;
    int64_t s = lower_bound(keys, k, int32_t(ch));
    float acc = 0.f;
    for (; s < k && keys[s] == ch; ++s) acc += g[r * k + pos[s]];
    out[i] = acc;
  }
}

__global__ void token_shift_kernel(int64_t b, int64_t t, int64_t inner, int64_t k, const float* x, float* out) {
  GOLF_GRID_STRIDE(i, b * t * inner) {
    const int64_t row = i / inner, j = i % inner, bi = row / t, ti = row % t, src = ti - k;
    out[i] = (src >= 0 && src < t) ? x[(bi * t + src) * inner + j] : 0.f;
  }
}

}  // namespace

void embedding(int64_t n, int64_t rows, int64_t d, const float* table, const int32_t* ids, float* out, int tag) {
  check_ids(n, ids, rows, tag);
  if (n * d == 0) return;
  embedding_kernel<<<blocks_for(n * d), kThreads, 0, stream()>>>(n, rows, d, table, ids, out);
  check_launch("embedding");
}

void scatter_add_rows(int64_t n, int64_t rows, int64_t d, const int32_t* ids, const float* src, float* out, int tag) {
  check_ids(n, ids, rows, tag);
  if (rows * d == 0) return;
  if (n == 0) {
    fill(rows * d, 0.f, out);
    return;
  }
  auto [keys, pos] = sort_positions(n, ids);
  segment_sum_kernel<<<blocks_for(rows * d), kThreads, 0, stream()>>>(n, rows, d, keys, pos, src, out);
  check_launch("scatter_add_rows");
}

void index_select(int64_t rows, int64_t c, int64_t k, const float* x, const int32_t* idx, float* out, int tag) {
  check_ids(k, idx, c, tag);
  if (rows * k == 0) return;
  index_select_kernel<<<blocks_for(rows * k), kThreads, 0, stream()>>>(rows, c, k, x, idx, out);
  check_launch("index_select");
}

void index_add(int64_t rows, int64_t k, int64_t c, const float* g, const int32_t* idx, float* out, int tag) {
  check_ids(k, idx, c, tag);
  if (rows * c == 0) return;
  if (k == 0) {
    fill(rows * c, 0.f, out);
    return;
  }
  auto [keys, pos] = sort_positions(k, idx);
  index_add_kernel<<<blocks_for(rows * c), kThreads, 0, stream()>>>(rows, k, c, keys, pos, g, out);
  check_launch("index_add");
}

void token_shift(int64_t b, int64_t t, int64_t inner, int64_t k, const float* x, float* out) {
  if (b * t * inner == 0) return;
  token_shift_kernel<<<blocks_for(b * t * inner), kThreads, 0, stream()>>>(b, t, inner, k, x, out);
  check_launch("token_shift");
}

}  // namespace golf::cuda
