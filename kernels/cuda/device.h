// What the CUDA runtime sees: used by `golfrt version` and to refuse --device cuda plainly on a
// machine without a GPU.
#pragma once
#include <string>

namespace golf::cuda {

// Number of CUDA devices; 0 with `why` set when none can be used (no driver, no GPU).
int device_count(std::string* why);
// "NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB" for device i.
std::string device_description(int i);

}  // namespace golf::cuda
