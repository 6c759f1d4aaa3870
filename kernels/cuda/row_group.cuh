// Who works on one row of a row kernel (rms_norm, cross_entropy): a whole block for long rows, one
// warp for short ones (a block of 256 threads over a 64-number head would leave 192 idle and pay
// a block's shared-memory tree for each row). Both sum in a fixed order (block_sum's tree, the
// warp's butterfly): a row's result depends on its values only. Private to kernels/cuda/.
#pragma once
#include "kernels/cuda/common.cuh"

namespace golf::cuda {

// Rows of at most this many elements get a warp each.
constexpr int64_t kWarpRowMax = 1024;
constexpr int kRowsPerWarpBlock = kThreads / 32;

inline bool warp_rows(int64_t d) { return d <= kWarpRowMax; }
inline unsigned row_blocks(int64_t rows, int64_t d) {
  return warp_rows(d) ? unsigned((rows + kRowsPerWarpBlock - 1) / kRowsPerWarpBlock) : unsigned(rows);
}

struct BlockRow {
  double* dbuf;  // kThreads entries each, in shared memory
  float* fbuf;
  static constexpr int kWidth = kThreads;
  __device__ int64_t row() const { return blockIdx.x; }
  __device__ int lane() const { return int(threadIdx.x); }
  __device__ double sum(double v) const { return block_sum(v, dbuf); }
  __device__ float max(float v) const { return block_max(v, fbuf); }
};

struct WarpRow {
  static constexpr int kWidth = 32;
  __device__ int64_t row() const { return int64_t(blockIdx.x) * kRowsPerWarpBlock + threadIdx.x / 32; }
  __device__ int lane() const { return int(threadIdx.x & 31); }
  __device__ double sum(double v) const { return warp_sum(v); }
  __device__ float max(float v) const { return warp_max(v); }
};

}  // namespace golf::cuda
