// CUDA twins of kernels/cpu/channel_mix.cc. The weight gradient Σ_rows g⊙u is a deterministic
// two-pass column sum: blocks of 32 columns × one chunk of rows write partial sums (double) to
// scratch, in a fixed order inside the block; a second kernel adds each column's partials in
// chunk order. The same kernel writes du = w⊙g, so g and u are read once; du is fp32 or bf16 (the
// gradient at a matmul's output: DESIGN §3), the product rounded once at the store
// (kernels/cuda/bf16_store.h). add_scaled's y and channel_scale_backward's u (a projection's
// output, bf16 where autocast would store it) are fp32 or bf16, widened exactly; the fp32 path is
// the same arithmetic as before, bit for bit. channel_scale_backward_add adds a running sum into
// du (fold_gradient_sums: the x0 stream's gradient); the product rounds first, then the sum, as
// add(du, acc) rounds them.
#include "kernels/channel_chunks.h"
#include "kernels/cuda/bf16_store.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace golf::cuda {
namespace {

__global__ void add_scaled_kernel(int64_t n, int64_t d, const float* x, Real y, const float* s, float* out) {
  GOLF_GRID_STRIDE(i, n) {
    const float p = __fmul_rn(s[i % d], load_real(y, i));
    out[i] = __fadd_rn(x[i], p);
  }
}

__global__ void mix_kernel(int64_t n, int64_t d, const float* a, const float* b, const float* wa, const float* wb,
                           float* out) {
  GOLF_GRID_STRIDE(i, n) {
    const int64_t j = i % d;
    out[i] = __fadd_rn(__fmul_rn(wa[j], a[i]), __fmul_rn(wb[j], b[i]));
  }
}

constexpr int kCols = 32, kRowThreads = 8;

// grid (column tiles, row chunks), block (kCols, kRowThreads)
// sum: null, or the running sum added into du
__global__ void channel_scale_backward_kernel(int64_t rows, int64_t d, int64_t chunk, Real u, const float* w,
                                              const float* g, const float* sum, RealOut du, double* partial) {
  __shared__ double buf[kRowThreads][kCols];
  const int64_t j = int64_t(blockIdx.x) * kCols + threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * chunk;
  const int64_t r1 = r0 + chunk < rows ? r0 + chunk : rows;
  double acc = 0.0;
  if (j < d) {
    const float wj = w[j];
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowThreads) {
      const float gv = g[r * d + j];
      const float p = __fmul_rn(wj, gv);
      store_real(du, r * d + j, sum ? __fadd_rn(p, sum[r * d + j]) : p);
      acc += double(gv) * double(load_real(u, r * d + j));
    }
  }
  buf[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && j < d) {
    double s = 0.0;
    for (int k = 0; k < kRowThreads; k++) s += buf[k][threadIdx.x];
    partial[int64_t(blockIdx.y) * d + j] = s;
  }
}

__global__ void column_total_kernel(int64_t chunks, int64_t d, const double* partial, float* dw) {
  GOLF_GRID_STRIDE(j, d) {
    double s = 0.0;
    for (int64_t p = 0; p < chunks; p++) s += partial[p * d + j];
    dw[j] = float(s);
  }
}

}  // namespace

void add_scaled(int64_t rows, int64_t d, const float* x, Real y, const float* s, float* out) {
  const int64_t n = rows * d;
  if (n == 0) return;
  add_scaled_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, d, x, y, s, out);
  check_launch("add_scaled");
}

void mix(int64_t rows, int64_t d, const float* a, const float* b, const float* wa, const float* wb, float* out) {
  const int64_t n = rows * d;
  if (n == 0) return;
  mix_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(n, d, a, b, wa, wb, out);
  check_launch("mix");
}

namespace {
void channel_scale_backward_launch(const char* name, int64_t rows, int64_t d, Real u, const float* w,
                                   const float* g, const float* acc, RealOut du, float* dw) {
  if (d == 0) return;
  if (rows == 0) {
    memset_device(dw, 0, size_t(d) * sizeof(float));
    return;
  }
  const kernels::ChannelChunks c = kernels::channel_chunks(rows, d);
  if (c.chunks > 65535) throw std::length_error("channel_scale_backward: more than 65,535 row chunks");
  double* partial = static_cast<double*>(scratch(size_t(c.scratch_bytes)));
  const dim3 grid(unsigned((d + kCols - 1) / kCols), unsigned(c.chunks)), block(kCols, kRowThreads);
  channel_scale_backward_kernel<<<grid, block, 0, stream()>>>(rows, d, c.rows_per_chunk, u, w, g, acc, du, partial);
  check_launch(name);
  column_total_kernel<<<blocks_for(d), kThreads, 0, stream()>>>(c.chunks, d, partial, dw);
  check_launch(name);
}
}  // namespace

void channel_scale_backward(int64_t rows, int64_t d, Real u, const float* w, const float* g, RealOut du,
                            float* dw) {
  channel_scale_backward_launch("channel_scale_backward", rows, d, u, w, g, nullptr, du, dw);
}

void channel_scale_backward_add(int64_t rows, int64_t d, const float* u, const float* w, const float* g,
                                const float* acc, float* du, float* dw) {
  channel_scale_backward_launch("channel_scale_backward_add", rows, d, Real{u, false}, w, g, acc, RealOut{du, false}, dw);
}

}  // namespace golf::cuda
