// Layout kernels move 4-byte words: float and int32_t tensors (token ids reshaped, index tables
// sliced) use the same code, bit for bit.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace golf::cuda {
namespace {

using W = uint32_t;
constexpr int kMaxRank = 8;
struct Perm {
  int rank;
  int64_t out_size[kMaxRank], in_stride[kMaxRank];
};

__global__ void permute_kernel(Perm p, int64_t n, const W* x, W* out) {
  GOLF_GRID_STRIDE(i, n) {
    int64_t rem = i, off = 0;
    for (int r = p.rank - 1; r >= 0; --r) {
      off += (rem % p.out_size[r]) * p.in_stride[r];
      rem /= p.out_size[r];
    }
    out[i] = x[off];
  }
}

// out[o, j] over rows o of length out_len = x[o, j - shift] where 0 <= j - shift < in_len, else 0
// (with in_len/x row length in_row): slice, pad and concat are all this one copy.
__global__ void rows_kernel(int64_t outer, int64_t out_row, int64_t in_row, int64_t in_start, int64_t out_start,
                            int64_t len, const W* x, W* out, bool zero_rest) {
  const int64_t n = outer * (zero_rest ? out_row : len);
  GOLF_GRID_STRIDE(i, n) {
    if (zero_rest) {
      const int64_t o = i / out_row, j = i % out_row, src = j - out_start;
      out[i] = (src >= 0 && src < len) ? x[o * in_row + in_start + src] : W(0);
    } else {
      const int64_t o = i / len, j = i % len;
      out[o * out_row + out_start + j] = x[o * in_row + in_start + j];
    }
  }
}

void check_sizes(const char* what, int64_t outer, int64_t dim, int64_t inner) {
  if (outer < 0 || dim < 0 || inner < 0) throw std::invalid_argument(std::string(what) + ": negative size");
}

}  // namespace

void copy4(int64_t n, const void* x, void* y) { copy_on_device(y, x, size_t(n) * 4); }

void permute4(const Dims& in_dims, const void* x, const Dims& perm, void* out) {
  const int rank = int(in_dims.size());
  if (int(perm.size()) != rank)
    throw std::invalid_argument("permute: perm has " + std::to_string(perm.size()) + " axes, the input " + std::to_string(rank));
  if (rank > kMaxRank) throw std::invalid_argument("permute: rank " + std::to_string(rank) + " is above 8");
  std::vector<bool> seen(size_t(rank), false);
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[size_t(p)])
      throw std::invalid_argument("permute: perm is not a permutation of 0.." + std::to_string(rank - 1));
    seen[size_t(p)] = true;
  }
  int64_t stride[kMaxRank], n = 1;
  for (int r = rank - 1; r >= 0; --r) {
    stride[r] = n;
    n *= in_dims[size_t(r)];
  }
  if (n == 0) return;
  Perm p{};
  p.rank = rank;
  for (int r = 0; r < rank; ++r) {
    p.out_size[r] = in_dims[size_t(perm[size_t(r)])];
    p.in_stride[r] = stride[perm[size_t(r)]];
  }
  permute_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(p, n, static_cast<const W*>(x), static_cast<W*>(out));
  check_launch("permute");
}

void slice4(int64_t outer, int64_t dim, int64_t inner, int64_t start, int64_t end, const void* x, void* out) {
  check_sizes("slice", outer, dim, inner);
  if (start < 0 || start > end || end > dim)
    throw std::out_of_range("slice: [" + std::to_string(start) + ", " + std::to_string(end) + ") is not inside [0, " +
                            std::to_string(dim) + ")");
  const int64_t len = (end - start) * inner;
  if (outer * len == 0) return;
  rows_kernel<<<blocks_for(outer * len), kThreads, 0, stream()>>>(outer, len, dim * inner, start * inner, 0, len,
                                                                   static_cast<const W*>(x), static_cast<W*>(out), false);
  check_launch("slice");
}

void pad4(int64_t outer, int64_t dim, int64_t inner, int64_t before, int64_t after, const void* x, void* out) {
  check_sizes("pad", outer, dim, inner);
  if (before < 0 || after < 0)
    throw std::invalid_argument("pad: negative padding (before " + std::to_string(before) + ", after " + std::to_string(after) + ")");
  const int64_t out_row = (before + dim + after) * inner;
  if (outer * out_row == 0) return;
  rows_kernel<<<blocks_for(outer * out_row), kThreads, 0, stream()>>>(outer, out_row, dim * inner, 0, before * inner,
                                                                      dim * inner, static_cast<const W*>(x),
                                                                      static_cast<W*>(out), true);
  check_launch("pad");
}

void concat_part4(int64_t outer, int64_t dim, int64_t inner, int64_t out_dim, int64_t at, const void* x, void* out) {
  check_sizes("concat_part", outer, dim, inner);
  if (at < 0 || at + dim > out_dim)
    throw std::out_of_range("concat_part: [" + std::to_string(at) + ", " + std::to_string(at + dim) +
                            ") is not inside [0, " + std::to_string(out_dim) + ")");
  const int64_t len = dim * inner;
  if (outer * len == 0) return;
  rows_kernel<<<blocks_for(outer * len), kThreads, 0, stream()>>>(outer, out_dim * inner, len, 0, at * inner, len,
                                                                  static_cast<const W*>(x), static_cast<W*>(out), false);
  check_launch("concat");
}

}  // namespace golf::cuda
