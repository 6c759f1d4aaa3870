#include <cuda_runtime.h>

#include <mutex>
#include <new>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/device.h"

namespace golf::cuda {

namespace {

// One stream for everything: kernels run in launch order, so scratch reuse and in-place effects
// need no further synchronization, and a whole step can later be captured as one CUDA graph.
struct State {
  cudaStream_t stream = nullptr;
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
  FaultRecord* fault = nullptr;
};

AllocationTotals g_allocations;

State& state() {
  static State s;
  static std::once_flag once;
  std::call_once(once, [] {
    require_device("the CUDA backend");
    check(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "stream create");
    check(cudaMalloc(&s.fault, sizeof(FaultRecord)), "fault record alloc");
    check(cudaMemset(s.fault, 0, sizeof(FaultRecord)), "fault record clear");
  });
  return s;
}

}  // namespace

cudaStream_t stream() { return state().stream; }

void require_device(const char* what) {
  std::string why;
  if (device_count(&why) == 0)
    throw std::runtime_error(std::string(what) + " needs a CUDA device, and none is usable here (" +
                             (why.empty() ? "no device found" : why) + ")");
}

void* device_alloc(size_t bytes) {
  State& s = state();
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error("CUDA: cannot allocate " + std::to_string(bytes) + " bytes on the device: " +
                             cudaGetErrorString(e));
  }
  g_allocations.count++;
  g_allocations.bytes += int64_t(bytes ? bytes : 1);
  check(cudaMemsetAsync(p, 0, bytes ? bytes : 1, s.stream), "memset");
  return p;
}

void device_free(void* p) noexcept {
  if (!p) return;
  // The stream may still be reading the buffer; cudaFree waits for the device first.
  cudaFree(p);
}

void copy_to_device(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  // Synchronous with respect to the host buffer: the caller may reuse it at once.
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()), "copy to device");
  check(cudaStreamSynchronize(stream()), "copy to device");
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream()), "copy to host");
  check(cudaStreamSynchronize(stream()), "copy to host");
}

void copy_on_device(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()), "copy on device");
}

void memset_device(void* dst, int value, size_t bytes) {
  if (!bytes) return;
  check(cudaMemsetAsync(dst, value, bytes, stream()), "memset");
}

void synchronize() { check(cudaStreamSynchronize(stream()), "kernel execution"); }

void* scratch(size_t bytes) {
  State& s = state();
  if (bytes > s.scratch_bytes) {
    if (s.scratch) {
      check(cudaStreamSynchronize(s.stream), "scratch resize");
      cudaFree(s.scratch);
      s.scratch = nullptr;
      s.scratch_bytes = 0;
    }
    // Grow by half again so a sequence of slightly larger requests does not reallocate each time.
    size_t want = bytes + bytes / 2;
    check(cudaMalloc(&s.scratch, want), "scratch alloc");
    g_allocations.count++;
    g_allocations.bytes += int64_t(want);
    s.scratch_bytes = want;
  }
  return s.scratch;
}

AllocationTotals allocation_totals() { return g_allocations; }

FaultRecord* fault_slot() { return state().fault; }

FaultRecord take_fault() {
  State& s = state();
  FaultRecord r;
  check(cudaMemcpyAsync(&r, s.fault, sizeof r, cudaMemcpyDeviceToHost, s.stream), "fault read");
  check(cudaStreamSynchronize(s.stream), "kernel execution");
  if (r.code != Fault::none) check(cudaMemsetAsync(s.fault, 0, sizeof r, s.stream), "fault clear");
  return r;
}

}  // namespace golf::cuda
