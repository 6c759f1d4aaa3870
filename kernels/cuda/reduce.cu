// Sums over axes and broadcasts. Each output element is summed by one thread (short reductions)
// or one block (long ones) in double, in an order fixed by the shapes: bit-identical run to run.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/dims.h"

namespace golf::cuda {
namespace {

constexpr int kMaxRank = 8;
// An index space split into kept axes (the output) and reduced axes, each with its input strides.
struct Axes {
  int nk = 0, nr = 0;
  int64_t kept[kMaxRank], kept_stride[kMaxRank];
  int64_t red[kMaxRank], red_stride[kMaxRank];
};

__device__ inline int64_t offset_of(int64_t i, int n, const int64_t* size, const int64_t* stride) {
  int64_t off = 0;
  for (int g = n - 1; g >= 0; --g) {
    off += (i % size[g]) * stride[g];
    i /= size[g];
  }
  return off;
}

// Below this many terms per output a thread sums its output alone.
constexpr int64_t kThreadReduceMax = 64;

__global__ void reduce_thread_kernel(Axes ax, int64_t out_n, int64_t red_n, const float* x, float* out, double scale) {
  GOLF_GRID_STRIDE(o, out_n) {
    const int64_t base = offset_of(o, ax.nk, ax.kept, ax.kept_stride);
    double s = 0.0;
    for (int64_t r = 0; r < red_n; ++r) s += double(x[base + offset_of(r, ax.nr, ax.red, ax.red_stride)]);
    out[o] = float(s * scale);
  }
}

__global__ void reduce_block_kernel(Axes ax, int64_t red_n, const float* x, float* out, double scale) {
  __shared__ double buf[kThreads];
  const int64_t o = blockIdx.x;
  const int64_t base = offset_of(o, ax.nk, ax.kept, ax.kept_stride);
  double s = 0.0;
  for (int64_t r = threadIdx.x; r < red_n; r += kThreads) s += double(x[base + offset_of(r, ax.nr, ax.red, ax.red_stride)]);
  s = block_sum(s, buf);
  if (threadIdx.x == 0) out[o] = float(s * scale);
}

__global__ void broadcast_kernel(int rank, Axes ax, int64_t n, const float* x, float* out) {
  GOLF_GRID_STRIDE(i, n) out[i] = x[offset_of(i, ax.nk, ax.kept, ax.kept_stride)];
}

using kernels::numel;

}  // namespace

void reduce_sum(const Dims& in_dims, const float* x, const Dims& out_dims, float* out, double scale) {
  kernels::check_broadcast_dims("reduce_sum", in_dims, out_dims);
  const int64_t out_n = numel(out_dims), in_n = numel(in_dims);
  if (out_n == 0) return;
  if (in_n == 0) {
    fill(out_n, 0.f, out);
    return;
  }
  // Group adjacent axes that are all kept or all reduced; strides are the input's.
  struct G {
    int64_t size, stride;
    bool reduced;
  };
  std::vector<G> groups;
  int64_t stride = 1;
  std::vector<G> rev;
  for (int r = int(in_dims.size()) - 1; r >= 0; --r) {
    const int64_t d = in_dims[size_t(r)];
    if (d != 1) {
      const bool reduced = out_dims[size_t(r)] == 1;
      if (!rev.empty() && rev.back().reduced == reduced && rev.back().stride * rev.back().size == stride)
        rev.back().size *= d;
      else
        rev.push_back({d, stride, reduced});
    }
    stride *= d;
  }
  Axes ax;
  int64_t red_n = 1;
  for (auto it = rev.rbegin(); it != rev.rend(); ++it) {
    if (it->reduced) {
      if (ax.nr == kMaxRank) throw std::invalid_argument("reduce_sum: more than 8 reduced axis groups");
      ax.red[ax.nr] = it->size;
      ax.red_stride[ax.nr++] = it->stride;
      red_n *= it->size;
    } else {
      if (ax.nk == kMaxRank) throw std::invalid_argument("reduce_sum: more than 8 kept axis groups");
      ax.kept[ax.nk] = it->size;
      ax.kept_stride[ax.nk++] = it->stride;
    }
  }
  if (red_n <= kThreadReduceMax || out_n > (int64_t(1) << 31) - 1) {
    reduce_thread_kernel<<<blocks_for(out_n), kThreads, 0, stream()>>>(ax, out_n, red_n, x, out, scale);
  } else {
    reduce_block_kernel<<<unsigned(out_n), kThreads, 0, stream()>>>(ax, red_n, x, out, scale);
  }
  check_launch("reduce_sum");
}

void broadcast(const Dims& in_dims, const float* x, const Dims& out_dims, float* out) {
  kernels::check_broadcast_dims("broadcast", out_dims, in_dims);
  const int64_t n = numel(out_dims);
  if (n == 0) return;
  if (int(out_dims.size()) > kMaxRank)
    throw std::invalid_argument("broadcast: rank " + std::to_string(out_dims.size()) + " is above 8");
  Axes ax;
  int64_t s = 1;
  std::vector<int64_t> strides(out_dims.size());
  for (int r = int(out_dims.size()) - 1; r >= 0; --r) {
    strides[size_t(r)] = in_dims[size_t(r)] == 1 ? 0 : s;
    s *= in_dims[size_t(r)];
  }
  for (size_t r = 0; r < out_dims.size(); ++r) {
    ax.kept[ax.nk] = out_dims[r];
    ax.kept_stride[ax.nk++] = strides[r];
  }
  broadcast_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(ax.nk, ax, n, x, out);
  check_launch("broadcast");
}

}  // namespace golf::cuda
