// Device memory as the process sees it: the stand-in device switch, and the process-wide count of
// every byte that crosses between host and device (issue 16).
//
// The stand-in device: with it on, Device::cuda tensors live in host memory (allocated, counted
// and freed here), cross-device copies are memcpy, and the executor runs each node through the
// CPU kernels while counting launches, copies and syncs exactly as the CUDA backend would. It
// calls no CUDA runtime function, so it works in builds with and without CUDA, on machines without
// a GPU: CI runs the device paths of the executor, trainer and optimizers (residency, the ledger,
// the arena) on it. The real CUDA kernels are tested only on a GPU (tests/cuda_*).
//
// Switched on by GOLFRT_STANDIN_DEVICE=1 in the environment (read once, at the first question),
// by `--device standin` on the command line, or by set_standin_device() (tests). It is never
// switched on implicitly: with it off, a build without CUDA refuses `--device cuda` as before.
#pragma once
#include <cstddef>
#include <cstdint>

namespace golf {

bool standin_device();
// Throws std::logic_error when device tensors of the other kind are alive (their memory would
// be freed by the wrong allocator).
void set_standin_device(bool on);

// Host memory for a stand-in device tensor: zero-filled, 64-byte aligned, counted.
void* standin_alloc(size_t bytes);
void standin_free(void* p, size_t bytes) noexcept;

// What every Tensor::copy_from and every device allocation of this process has done so far, on
// the real device or the stand-in. Tests take the difference over a training step: it sees the
// trainer's and the optimizers' copies as well as the executors' (each executor's own ledger sees
// only its runs).
struct DeviceTraffic {
  int64_t uploads = 0, upload_bytes = 0;        // host -> device
  int64_t downloads = 0, download_bytes = 0;    // device -> host
  int64_t device_copies = 0, device_copy_bytes = 0;  // device -> device (clones, weight sets)
  int64_t allocations = 0, allocation_bytes = 0;     // device tensors' storage (not kernel scratch)
  int64_t live_tensors = 0;                          // device storages alive now
};
DeviceTraffic device_traffic();

// Called by runtime/tensor.cc, which performs the copies and allocations.
void count_upload(size_t bytes);
void count_download(size_t bytes);
void count_device_copy(size_t bytes);
void count_device_storage(size_t bytes, bool alive);

}  // namespace golf
