// OpenBLAS (Debian's pthreads build) keeps its own thread pool beside our OpenMP one. Its threads
// spin after each call, so with both pools on the same cores every OpenMP kernel ran slower
// (docs/perf.md: the cpu preset trained no faster on 2 threads than on 1; with BLAS single-threaded
// 1.5× faster). All CPU parallelism is therefore ours: kernels spread single-threaded BLAS calls
// over OpenMP threads, and OpenBLAS runs single-threaded for the whole process from the first
// kernel that calls it (gptq.cc's and combiner_fit.cc's direct calls included).
#pragma once
#include <cblas.h>

namespace golf::cpu {

inline void use_single_threaded_blas() {
  static const bool once = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
}

}  // namespace golf::cpu
