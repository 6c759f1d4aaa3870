// The pre-norm fused into the residual op before it (runtime/fuse_pass.cc: rms_norm(mix(..)) and
// rms_norm(add_scaled(..)), golf.Block's norm of the stream it just wrote): the CPU reference, by
// construction the two ops' numbers (the same code, one after the other). The CPU's default graph
// never holds these ops (the rewrite runs for CUDA, and in tests); the CUDA twin
// (kernels/cuda/residual_norm.cu) is the one that saves the pass.
#include "kernels/cpu/cpu_kernels.h"

namespace golf::cpu {

template <class T>
void mix_rms_norm(int64_t rows, int64_t d, double eps, const T* a, const T* b, const T* wa, const T* wb, T* s, T* n) {
  mix<T>(rows, d, a, b, wa, wb, s);
  rms_norm<T>(rows, d, eps, s, n);
}

template <class T>
void add_scaled_rms_norm(int64_t rows, int64_t d, double eps, const T* x, const T* y, const T* sc, T* s, T* n) {
  add_scaled<T>(rows, d, x, y, sc, s);
  rms_norm<T>(rows, d, eps, s, n);
}

#define GOLF_INSTANTIATE(T)                                                                                   \
  template void mix_rms_norm<T>(int64_t, int64_t, double, const T*, const T*, const T*, const T*, T*, T*); \
  template void add_scaled_rms_norm<T>(int64_t, int64_t, double, const T*, const T*, const T*, T*, T*);
GOLF_INSTANTIATE(float)
GOLF_INSTANTIATE(double)
#undef GOLF_INSTANTIATE

}  // namespace golf::cpu
