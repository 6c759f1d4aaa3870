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
  uint64_t scratch_generation = 0;
  bool capturing = false;
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

// A call that cannot be recorded into a graph, made while one is being captured.
void refuse_in_capture(const char* what) {
  if (state().capturing)
    throw std::logic_error(std::string("CUDA graph capture: ") + what +
                           " inside a capture (a synchronous copy, a stream wait or an allocation cannot be recorded; "
                           "it belongs before the captured launches or after them)");
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
  refuse_in_capture("a device allocation");
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
  refuse_in_capture("a copy to the device");
  // Synchronous with respect to the host buffer: the caller may reuse it at once.
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()), "copy to device");
  check(cudaStreamSynchronize(stream()), "copy to device");
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  refuse_in_capture("a copy to the host");
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

void synchronize() {
  refuse_in_capture("a stream synchronize");
  check(cudaStreamSynchronize(stream()), "kernel execution");
}

void* scratch(size_t bytes) {
  State& s = state();
  if (bytes > s.scratch_bytes) {
    refuse_in_capture(("scratch growth to " + std::to_string(bytes) + " bytes (a run before the capture settles it)").c_str());
    s.scratch_generation++;
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
  refuse_in_capture("reading the fault record");
  FaultRecord r;
  check(cudaMemcpyAsync(&r, s.fault, sizeof r, cudaMemcpyDeviceToHost, s.stream), "fault read");
  check(cudaStreamSynchronize(s.stream), "kernel execution");
  if (r.code != Fault::none) check(cudaMemsetAsync(s.fault, 0, sizeof r, s.stream), "fault clear");
  return r;
}

uint64_t scratch_generation() { return state().scratch_generation; }

struct ExecGraph {
  cudaGraphExec_t exec = nullptr;
};

void begin_capture() {
  State& s = state();
  if (s.capturing) throw std::logic_error("CUDA graph capture: a capture is already open");
  // Thread-local: an unsafe call from this thread breaks the capture (and is refused above first);
  // other threads, which never touch the stream, are left alone.
  check(cudaStreamBeginCapture(s.stream, cudaStreamCaptureModeThreadLocal), "begin capture");
  s.capturing = true;
}

bool capturing() { return state().capturing; }

ExecGraph* end_capture(ExecGraph* previous) {  // consumes `previous`: returned updated, or destroyed
  State& s = state();
  s.capturing = false;
  cudaGraph_t graph = nullptr;
  cudaError_t e = cudaStreamEndCapture(s.stream, &graph);
  if (e != cudaSuccess || !graph) {
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    destroy_graph(previous);
    throw std::runtime_error(std::string("CUDA graph capture failed: ") + cudaGetErrorString(e) +
                             " (an operation the capture could not record was issued on the stream)");
  }
  if (previous) {
    // Same topology, other parameters (addresses, sizes): updated in place, no new instantiation.
    cudaGraphExecUpdateResultInfo info{};
    if (cudaGraphExecUpdate(previous->exec, graph, &info) == cudaSuccess) {
      cudaGraphDestroy(graph);
      return previous;
    }
    cudaGetLastError();  // the update was refused: instantiate anew
    destroy_graph(previous);
  }
  auto* g = new ExecGraph;
  e = cudaGraphInstantiate(&g->exec, graph, 0);
  cudaGraphDestroy(graph);
  if (e != cudaSuccess) {
    delete g;
    check(e, "graph instantiate");
  }
  return g;
}

void abort_capture() noexcept {
  State& s = state();
  if (!s.capturing) return;
  s.capturing = false;
  cudaGraph_t graph = nullptr;
  cudaStreamEndCapture(s.stream, &graph);
  if (graph) cudaGraphDestroy(graph);
  cudaGetLastError();
}

void launch_graph(ExecGraph* g) { check(cudaGraphLaunch(g->exec, state().stream), "graph launch"); }

void destroy_graph(ExecGraph* g) noexcept {
  if (!g) return;
  cudaGraphExecDestroy(g->exec);
  delete g;
}

}  // namespace golf::cuda
