// The residual stream's per-channel arithmetic in one pass each (runtime/fuse_pass.cc puts these
// in place of mul/add chains): x + s⊙y, wa⊙a + wb⊙b, and their shared backward. Rows are
// [rows, d] with the weights [d]; the products round to T before the sum, as the unfused ops do.
#include <vector>

#include "kernels/cpu/cpu_kernels.h"

namespace golf::cpu {

namespace {
constexpr int64_t parallel_min = 1 << 15;
}  // namespace

template <class T> void add_scaled(int64_t rows, int64_t d, const T* x, const T* y, const T* s, T* out) {
#pragma omp parallel for if (rows * d > parallel_min)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < d; ++j) {
      const T p = s[j] * y[r * d + j];
      out[r * d + j] = x[r * d + j] + p;
    }
}

template <class T> void mix(int64_t rows, int64_t d, const T* a, const T* b, const T* wa, const T* wb, T* out) {
#pragma omp parallel for if (rows * d > parallel_min)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < d; ++j) {
      const T pa = wa[j] * a[r * d + j], pb = wb[j] * b[r * d + j];
      out[r * d + j] = pa + pb;
    }
}

// acc (or null) is added to each du after its rounding to T, so that the folded op equals
// add(channel_scale_backward(u, w, g).du, acc) bit for bit (a sum of two numbers does not depend
// on their order). The sum is a second pass over the row (in cache): in one expression GCC may
// contract w·g + acc into a fused multiply-add (C++ allows it by default), which rounds once.
template <class T>
void channel_scale_backward_rows(int64_t rows, int64_t d, const T* u, const T* w, const T* g, const T* acc, T* du,
                                 T* dw) {
#pragma omp parallel for if (rows * d > parallel_min)
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < d; ++j) du[r * d + j] = w[j] * g[r * d + j];
    if (acc)
      for (int64_t j = 0; j < d; ++j) du[r * d + j] += acc[r * d + j];
  }
  // Column sums in double, rows in order: the same result whatever the thread count (threads
  // split the columns, never the rows).
  constexpr int64_t tile = 64;
#pragma omp parallel for if (rows * d > parallel_min)
  for (int64_t j0 = 0; j0 < d; j0 += tile) {
    const int64_t j1 = j0 + tile < d ? j0 + tile : d;
    double col[tile] = {};
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = j0; j < j1; ++j) col[j - j0] += double(g[r * d + j]) * double(u[r * d + j]);
    for (int64_t j = j0; j < j1; ++j) dw[j] = T(col[j - j0]);
  }
}

template <class T>
void channel_scale_backward(int64_t rows, int64_t d, const T* u, const T* w, const T* g, T* du, T* dw) {
  channel_scale_backward_rows<T>(rows, d, u, w, g, nullptr, du, dw);
}

template <class T>
void channel_scale_backward_add(int64_t rows, int64_t d, const T* u, const T* w, const T* g, const T* acc, T* du,
                                T* dw) {
  channel_scale_backward_rows<T>(rows, d, u, w, g, acc, du, dw);
}

#define GOLF_INSTANTIATE(T)                                                                    \
  template void add_scaled<T>(int64_t, int64_t, const T*, const T*, const T*, T*);           \
  template void mix<T>(int64_t, int64_t, const T*, const T*, const T*, const T*, T*);        \
  template void channel_scale_backward<T>(int64_t, int64_t, const T*, const T*, const T*, T*, T*);               \
  template void channel_scale_backward_add<T>(int64_t, int64_t, const T*, const T*, const T*, const T*, T*, T*);
GOLF_INSTANTIATE(float)
GOLF_INSTANTIATE(double)
#undef GOLF_INSTANTIATE

}  // namespace golf::cpu
