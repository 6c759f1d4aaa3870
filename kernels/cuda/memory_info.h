// Free and total memory of the current CUDA device (cudaMemGetInfo), behind a plain header so
// that host C++ (the micro-batch planner, runtime/train/device_plan.cc) needs no CUDA headers.
#pragma once
#include <cstdint>
#include <string>

namespace golf::cuda {

// False with `why` set when the runtime cannot say (no driver, no device, a sticky error).
bool device_memory(int64_t* free_bytes, int64_t* total_bytes, std::string* why);

}  // namespace golf::cuda
