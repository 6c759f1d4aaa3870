// The CUDA runtime as the rest of golfrt sees it: plain C++ (no CUDA headers), so runtime/ can be
// compiled by the host compiler. Memory, copies, the one stream every kernel runs on, a grow-only
// scratch buffer, and the device-side error flag that kernels raise instead of throwing (a kernel
// cannot throw; the executor reads the flag once after a run and names the node that raised it).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace golf::cuda {

// Throws std::runtime_error naming `what` when no CUDA device can be used.
void require_device(const char* what);

void* device_alloc(size_t bytes);  // zero-filled; throws std::bad_alloc with the CUDA reason
void device_free(void* p) noexcept;
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);   // waits for the stream
void copy_on_device(void* dst, const void* src, size_t bytes);
void memset_device(void* dst, int value, size_t bytes);
void synchronize();  // waits for every kernel launched so far; throws on a CUDA error

// Every device allocation made so far (device_alloc and scratch growth): the executor's ledger
// reads the difference over a run (runtime/device_ledger.h). Not thread-safe, as the stream isn't.
struct AllocationTotals {
  int64_t count = 0, bytes = 0;
};
AllocationTotals allocation_totals();

// Scratch memory for a kernel's temporaries, valid until the next call (kernels on the one stream
// run in order, so a later kernel may reuse what an earlier one was given).
void* scratch(size_t bytes);

// Kernels that validate data (ids, targets, cache positions) report the first failure here: a
// code, the node tag the backend passed in, and up to three integers for the message.
enum class Fault : int32_t { none = 0, id_range = 1, target_range = 2, cache_range = 3 };
struct FaultRecord {
  Fault code = Fault::none;
  int32_t tag = -1;
  int64_t a = 0, b = 0, c = 0;
};
// The device address kernels write to (a FaultRecord in device memory).
FaultRecord* fault_slot();
// Reads and clears the record (synchronizes).
FaultRecord take_fault();

// CUDA graphs (docs/cuda.md "CUDA graphs"): the one stream's launches recorded once and replayed
// with one launch. While a capture is open, every call above that would copy synchronously, wait
// for the stream or allocate device memory (device_alloc, copy_to_device, copy_to_host,
// synchronize, a scratch() that must grow, take_fault) throws std::logic_error naming itself
// instead of breaking the capture silently; the caller names the node and aborts. (A cudaFree
// inside a capture is not refused here, device_free being noexcept: CUDA then invalidates the
// capture and end_capture throws.)
// The capture is thread-local (cudaStreamCaptureModeThreadLocal): this thread may make no unsafe
// call, other threads (a data loader) are not affected.
struct ExecGraph;  // an instantiated graph (cudaGraphExec_t)
void begin_capture();
bool capturing();
// Ends the capture and instantiates it: updates `previous` in place when the topology allows
// (cudaGraphExecUpdate), else destroys it and instantiates anew. Returns the graph to launch;
// `previous` is consumed either way (destroyed too when this throws).
ExecGraph* end_capture(ExecGraph* previous);
// After an error inside a capture: ends it, discards what was recorded, clears the sticky error.
void abort_capture() noexcept;
void launch_graph(ExecGraph* g);  // asynchronous, on the one stream
void destroy_graph(ExecGraph* g) noexcept;
// Bumped each time scratch() moves its buffer: a graph captured before holds the old address.
uint64_t scratch_generation();

}  // namespace golf::cuda
