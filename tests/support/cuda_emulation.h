// Just enough of CUDA to run a kernel's source on the host (tests only): one std::thread per CUDA
// thread, std::barrier for __syncthreads and for the warp-synchronous steps (shuffles, mma), blocks
// one after another. Slow (microseconds per shuffle) but faithful to what a kernel's indexing,
// masking and synchronization do, so kernels written against it (kernels/cuda/attention_tc_kernels.cuh)
// are exercised by the tests of a machine without a GPU.
//
// mma_bf16 follows the PTX ISA's fragment layouts for mma.m16n8k16 with bf16 inputs, rebuilt from
// the lanes' registers (A[row][k], B[k][n]) and summed in fp32 in k order. The hardware's sum order
// differs; the tests' tolerances leave room for that.
#pragma once
#include <algorithm>
#include <barrier>
#include <math.h>
#include <string.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __launch_bounds__(x)
#define GOLF_GRID_STRIDE(i, n) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)

namespace golf::cuda_emulation {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};
inline thread_local Dim3 threadIdx, blockIdx;
inline Dim3 gridDim, blockDim;

struct bf16 {
  uint16_t bits;
};
struct __nv_bfloat162 {
  uint16_t lo, hi;
};
struct uint4 {
  uint32_t x, y, z, w;
};
// Round to nearest even, NaN kept quiet (runtime/dtype.h's rule).
inline uint16_t bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
inline float bf16_value(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline bf16 __float2bfloat16_rn(float f) { return bf16{bf16_bits(f)}; }
inline __nv_bfloat162 __floats2bfloat162_rn(float lo, float hi) { return {bf16_bits(lo), bf16_bits(hi)}; }

// exp2f, log2f, fmaxf, sqrt, fmax and memcpy are the C library's (global namespace).

constexpr int kThreads = 256;  // kernels/cuda/common.cuh's block size

// One block's shared state.
struct Block {
  std::unique_ptr<std::barrier<>> all;
  std::vector<std::unique_ptr<std::barrier<>>> warps;
  std::vector<double> exchange;   // a value per thread (shuffles)
  std::vector<uint32_t> frags;    // six registers per thread (mma: a0..a3, b0, b1)
  std::vector<unsigned char> shared;
};
inline thread_local Block* block_now = nullptr;

inline unsigned char* tc_shared() { return block_now->shared.data(); }
inline void __syncthreads() { block_now->all->arrive_and_wait(); }
inline void warp_barrier() { block_now->warps[threadIdx.x / 32]->arrive_and_wait(); }

template <class T> T __shfl_xor_sync(unsigned, T v, int mask) {
  const unsigned t = threadIdx.x, base = t / 32 * 32;
  block_now->exchange[t] = double(v);
  warp_barrier();
  const T r = T(block_now->exchange[base + ((t % 32) ^ unsigned(mask))]);
  warp_barrier();
  return r;
}
template <class T> T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

inline void mma_bf16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  const unsigned t = threadIdx.x, base = t / 32 * 32, lane = t % 32;
  uint32_t* mine = &block_now->frags[size_t(t) * 6];
  for (int i = 0; i < 4; i++) mine[i] = a[i];
  mine[4] = b0;
  mine[5] = b1;
  warp_barrier();
  auto half = [&](unsigned l, int reg, int k) {
    const uint32_t r = block_now->frags[size_t(base + l) * 6 + size_t(reg)];
    return bf16_value(uint16_t(k % 2 ? r >> 16 : r & 0xffffu));
  };
  // A[row][k]: lane (row % 8)·4 + (k % 8)/2, register (row ≥ 8) + 2·(k ≥ 8); B[k][n]: lane
  // n·4 + (k % 8)/2, register b0 for k < 8, b1 above; the lower k of a pair in the low half.
  auto A = [&](int row, int k) { return half(unsigned((row % 8) * 4 + (k % 8) / 2), (row >= 8) + 2 * (k >= 8), k); };
  auto B = [&](int k, int n) { return half(unsigned(n * 4 + (k % 8) / 2), k >= 8 ? 5 : 4, k); };
  const int g = int(lane / 4), q = int(lane % 4);
  float d[4];
  for (int e = 0; e < 4; e++) {
    const int row = g + (e >= 2 ? 8 : 0), n = 2 * q + (e & 1);
    float s = c[e];
    for (int k = 0; k < 16; k++) s += A(row, k) * B(k, n);
    d[e] = s;
  }
  warp_barrier();  // every lane has read the fragments before any lane's next mma writes its own
  for (int e = 0; e < 4; e++) c[e] = d[e];
}

// Runs `kernel` on every block of `grid` with `threads` threads each; shared memory starts as
// garbage (0xAB), as on a device.
inline void launch(Dim3 grid, unsigned threads, size_t shared_bytes, const std::function<void()>& kernel) {
  gridDim = grid;
  blockDim = Dim3{threads, 1, 1};
  for (unsigned by = 0; by < grid.y; by++)
    for (unsigned bx = 0; bx < grid.x; bx++) {
      Block b;
      b.all = std::make_unique<std::barrier<>>(threads);
      for (unsigned w = 0; w < (threads + 31) / 32; w++) b.warps.push_back(std::make_unique<std::barrier<>>(32));
      b.exchange.resize(threads);
      b.frags.resize(size_t(threads) * 6);
      b.shared.assign(shared_bytes + 16, 0xAB);
      std::vector<std::thread> ts;
      for (unsigned t = 0; t < threads; t++)
        ts.emplace_back([&, t, bx, by] {
          threadIdx = Dim3{t, 0, 0};
          blockIdx = Dim3{bx, by, 0};
          block_now = &b;
          kernel();
        });
      for (std::thread& t : ts) t.join();
    }
}

}  // namespace golf::cuda_emulation
