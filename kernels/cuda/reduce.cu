// Sums over axes and broadcasts. A sum follows kernels/reduce_plan.h: one pass, or two when its
// outputs are too few to fill the GPU (partials per chunk in double, then each output's chunks in
// order). Every sum is accumulated in double in an order fixed by the shapes: bit-identical run
// to run, no atomics.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/dims.h"
#include "kernels/reduce_plan.h"

namespace golf::cuda {
namespace {

constexpr int kMaxRank = kernels::kReduceMaxGroups;
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
// One reduced group (the common case) needs no division per term.
__device__ inline int64_t red_offset(const Axes& ax, int64_t r) {
  return ax.nr == 1 ? r * ax.red_stride[0] : offset_of(r, ax.nr, ax.red, ax.red_stride);
}

// Outer layout: a thread per (chunk, output); neighbouring threads sum neighbouring columns.
// part is [chunk][output]; with one chunk the thread writes the output itself.
__global__ void reduce_outer_kernel(Axes ax, int64_t out_n, int64_t red_n, int64_t per, int64_t chunks, const float* x,
                                    double* part, float* out, double scale) {
  GOLF_GRID_STRIDE(i, out_n * chunks) {
    const int64_t o = i % out_n, c = i / out_n;
    const int64_t base = offset_of(o, ax.nk, ax.kept, ax.kept_stride);
    const int64_t lo = c * per, hi = lo + per < red_n ? lo + per : red_n;
    double s = 0.0;
    for (int64_t r = lo; r < hi; ++r) s += double(x[base + red_offset(ax, r)]);
    if (chunks == 1) out[o] = float(s * scale);
    else part[i] = s;
  }
}

// Inner layout: a warp per (chunk, output); lane l sums terms l, l+32, ... of the chunk in order,
// then the warp's fixed butterfly.
__global__ void reduce_inner_kernel(Axes ax, int64_t out_n, int64_t red_n, int64_t per, int64_t chunks, const float* x,
                                    double* part, float* out, double scale) {
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  const int lane = int(threadIdx.x & 31);
  for (int64_t w = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; w < out_n * chunks; w += warps) {
    const int64_t o = w % out_n, c = w / out_n;
    const int64_t base = offset_of(o, ax.nk, ax.kept, ax.kept_stride);
    const int64_t lo = c * per, hi = lo + per < red_n ? lo + per : red_n;
    double s = 0.0;
    for (int64_t r = lo + lane; r < hi; r += 32) s += double(x[base + red_offset(ax, r)]);
    s = warp_sum(s);
    if (lane == 0) {
      if (chunks == 1) out[o] = float(s * scale);
      else part[w] = s;
    }
  }
}

// The second pass: a warp per output over its chunks (lane l takes chunks l, l+32, ...).
__global__ void reduce_finish_kernel(int64_t out_n, int64_t chunks, const double* part, float* out, double scale) {
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  const int lane = int(threadIdx.x & 31);
  for (int64_t o = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; o < out_n; o += warps) {
    double s = 0.0;
    for (int64_t c = lane; c < chunks; c += 32) s += part[c * out_n + o];
    s = warp_sum(s);
    if (lane == 0) out[o] = float(s * scale);
  }
}

__global__ void broadcast_kernel(int rank, Axes ax, int64_t n, const float* x, float* out) {
  GOLF_GRID_STRIDE(i, n) out[i] = x[offset_of(i, ax.nk, ax.kept, ax.kept_stride)];
}

using kernels::numel;

}  // namespace

void reduce_sum(const Dims& in_dims, const float* x, const Dims& out_dims, float* out, double scale) {
  kernels::check_broadcast_dims("reduce_sum", in_dims, out_dims);
  const kernels::ReducePlan p = kernels::reduce_plan(in_dims, out_dims);
  if (p.out_n == 0) return;
  if (numel(in_dims) == 0) {
    fill(p.out_n, 0.f, out);
    return;
  }
  Axes ax;
  for (const kernels::ReduceGroup& g : p.kept) ax.kept[ax.nk] = g.size, ax.kept_stride[ax.nk++] = g.stride;
  for (const kernels::ReduceGroup& g : p.red) ax.red[ax.nr] = g.size, ax.red_stride[ax.nr++] = g.stride;
  double* part = p.chunks > 1 ? static_cast<double*>(scratch(size_t(p.scratch_bytes()))) : nullptr;
  const int64_t items = p.out_n * p.chunks;
  if (p.inner)
    reduce_inner_kernel<<<blocks_for(items * 32), kThreads, 0, stream()>>>(ax, p.out_n, p.red_n, p.per_chunk, p.chunks,
                                                                           x, part, out, scale);
  else
    reduce_outer_kernel<<<blocks_for(items), kThreads, 0, stream()>>>(ax, p.out_n, p.red_n, p.per_chunk, p.chunks, x,
                                                                      part, out, scale);
  check_launch("reduce_sum");
  if (p.chunks > 1) {
    reduce_finish_kernel<<<blocks_for(p.out_n * 32), kThreads, 0, stream()>>>(p.out_n, p.chunks, part, out, scale);
    check_launch("reduce_sum (second pass)");
  }
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
