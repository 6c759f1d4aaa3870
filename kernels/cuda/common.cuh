// Shared by the .cu files of kernels/cuda/: error checks, the stream, launch sizes, fixed-order
// block reductions. Private to kernels/cuda/.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/cuda/runtime_api.h"

namespace golf::cuda {

cudaStream_t stream();

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error(std::string("CUDA ") + what + ": " + cudaGetErrorString(e));
  }
}
// After a launch: configuration errors surface here, execution errors at the next synchronize.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

constexpr int kThreads = 256;
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  // Grid-stride loops cover the rest; the cap keeps gridDim.x in range.
  return unsigned(b > (int64_t(1) << 30) ? (int64_t(1) << 30) : b);
}

#define GOLF_GRID_STRIDE(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

// Sum over a block of kThreads threads in a fixed tree order: the result depends only on the
// values each thread holds, never on scheduling. `buf` has kThreads entries. Every thread gets
// the total.
template <class T> __device__ inline T block_sum(T v, T* buf) {
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  T r = buf[0];
  __syncthreads();
  return r;
}
template <class T> __device__ inline T block_max(T v, T* buf) {
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) buf[threadIdx.x] = fmax(buf[threadIdx.x], buf[threadIdx.x + s]);
    __syncthreads();
  }
  T r = buf[0];
  __syncthreads();
  return r;
}

// Butterfly sums within a warp: every lane ends with the same total, in a fixed order.
template <class T> __device__ inline T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ inline float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// First fault wins; later ones are dropped (the message names one bad element, as the CPU's does).
__device__ inline void raise_fault(FaultRecord* f, Fault code, int32_t tag, int64_t a, int64_t b, int64_t c) {
  if (atomicCAS(reinterpret_cast<int32_t*>(&f->code), 0, int32_t(code)) == 0) {
    f->tag = tag;
    f->a = a;
    f->b = b;
    f->c = c;
  }
}

}  // namespace golf::cuda
