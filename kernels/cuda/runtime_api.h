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

}  // namespace golf::cuda
