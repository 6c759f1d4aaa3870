#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"

namespace golf::cpu {
namespace {

constexpr int64_t kParallelMin = 32768;

// Writes out (out_dims, dense, row-major) from x read with arbitrary per-axis strides.
template <class T>
void strided_copy(const int64_t* out_dims, const int64_t* in_strides, int64_t rank, const T* x, T* out) {
  const int64_t n = out_dims[0];
  if (rank == 1) {
    const int64_t s = in_strides[0];
    if (s == 1)
      std::copy(x, x + n, out);
    else
      for (int64_t i = 0; i < n; ++i) out[i] = x[i * s];
    return;
  }
  int64_t out_stride = 1;
  for (int64_t r = 1; r < rank; ++r) out_stride *= out_dims[r];
  for (int64_t i = 0; i < n; ++i)
    strided_copy(out_dims + 1, in_strides + 1, rank - 1, x + i * in_strides[0], out + i * out_stride);
}

void check_sizes(const char* what, int64_t outer, int64_t dim, int64_t inner) {
  if (outer < 0 || dim < 0 || inner < 0)
    throw std::invalid_argument(std::string(what) + ": negative size");
}

}  // namespace

template <class T> void permute(const Dims& in_dims, const T* x, const Dims& perm, T* out) {
  const int64_t rank = static_cast<int64_t>(in_dims.size());
  if (static_cast<int64_t>(perm.size()) != rank)
    throw std::invalid_argument("permute: perm has " + std::to_string(perm.size()) + " axes, the input " + std::to_string(rank));
  std::vector<bool> seen(rank, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p])
      throw std::invalid_argument("permute: perm is not a permutation of 0.." + std::to_string(rank - 1));
    seen[p] = true;
  }
  if (rank == 0) {
    out[0] = x[0];
    return;
  }
  Dims in_strides(rank);
  int64_t s = 1;
  for (int64_t r = rank - 1; r >= 0; --r) {
    in_strides[r] = s;
    s *= in_dims[r];
  }
  const int64_t n = s;
  if (n == 0) return;
  Dims out_dims(rank), strides(rank);
  for (int64_t r = 0; r < rank; ++r) {
    out_dims[r] = in_dims[perm[r]];
    strides[r] = in_strides[perm[r]];
  }
  if (rank == 1) {
    strided_copy(out_dims.data(), strides.data(), 1, x, out);
    return;
  }
  const int64_t out_stride = n / out_dims[0];
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < out_dims[0]; ++i)
    strided_copy(out_dims.data() + 1, strides.data() + 1, rank - 1, x + i * strides[0], out + i * out_stride);
}

template <class T>
void slice(int64_t outer, int64_t dim, int64_t inner, int64_t start, int64_t end, const T* x, T* out) {
  check_sizes("slice", outer, dim, inner);
  if (start < 0 || start > end || end > dim)
    throw std::out_of_range("slice: [" + std::to_string(start) + ", " + std::to_string(end) +
                            ") is not inside [0, " + std::to_string(dim) + ")");
  const int64_t len = (end - start) * inner;
#pragma omp parallel for schedule(static) if (outer * len > kParallelMin)
  for (int64_t o = 0; o < outer; ++o) {
    const T* src = x + (o * dim + start) * inner;
    std::copy(src, src + len, out + o * len);
  }
}

template <class T>
void pad(int64_t outer, int64_t dim, int64_t inner, int64_t before, int64_t after, const T* x, T* out) {
  check_sizes("pad", outer, dim, inner);
  if (before < 0 || after < 0)
    throw std::invalid_argument("pad: negative padding (before " + std::to_string(before) + ", after " + std::to_string(after) + ")");
  const int64_t out_dim = before + dim + after;
  const int64_t len = dim * inner;
#pragma omp parallel for schedule(static) if (outer * out_dim * inner > kParallelMin)
  for (int64_t o = 0; o < outer; ++o) {
    T* row = out + o * out_dim * inner;
    std::fill(row, row + before * inner, T(0));
    std::copy(x + o * len, x + (o + 1) * len, row + before * inner);
    std::fill(row + (before + dim) * inner, row + out_dim * inner, T(0));
  }
}

template <class T>
void concat_part(int64_t outer, int64_t dim, int64_t inner, int64_t out_dim, int64_t at, const T* x, T* out) {
  check_sizes("concat_part", outer, dim, inner);
  if (at < 0 || at + dim > out_dim)
    throw std::out_of_range("concat_part: [" + std::to_string(at) + ", " + std::to_string(at + dim) +
                            ") is not inside [0, " + std::to_string(out_dim) + ")");
  const int64_t len = dim * inner;
#pragma omp parallel for schedule(static) if (outer * len > kParallelMin)
  for (int64_t o = 0; o < outer; ++o) std::copy(x + o * len, x + (o + 1) * len, out + (o * out_dim + at) * inner);
}

#define GOLF_INSTANTIATE(T)                                                                                  \
  template void permute<T>(const Dims&, const T*, const Dims&, T*);                                          \
  template void slice<T>(int64_t, int64_t, int64_t, int64_t, int64_t, const T*, T*);                         \
  template void pad<T>(int64_t, int64_t, int64_t, int64_t, int64_t, const T*, T*);                           \
  template void concat_part<T>(int64_t, int64_t, int64_t, int64_t, int64_t, const T*, T*);
GOLF_INSTANTIATE(float)
GOLF_INSTANTIATE(double)
GOLF_INSTANTIATE(int32_t)
#undef GOLF_INSTANTIATE

}  // namespace golf::cpu
