#include <cuda_runtime.h>

#include "kernels/cuda/memory_info.h"

namespace golf::cuda {

bool device_memory(int64_t* free_bytes, int64_t* total_bytes, std::string* why) {
  size_t f = 0, t = 0;
  const cudaError_t e = cudaMemGetInfo(&f, &t);
  if (e != cudaSuccess) {
    if (why) *why = cudaGetErrorString(e);
    cudaGetLastError();  // clear it: the caller reports it, later calls start clean
    return false;
  }
  *free_bytes = int64_t(f);
  *total_bytes = int64_t(t);
  return true;
}

}  // namespace golf::cuda
