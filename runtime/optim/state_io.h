// Restoring optimizer state from a checkpoint's tensors, shared by every optimizer.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "runtime/tensor.h"

namespace golf {

// Copies a saved state tensor into the bound one (so the executor's bindings stay valid),
// converting the float type when a checkpoint of one precision resumes in another.
void restore_into(Tensor& dst, const std::map<std::string, Tensor>& state, const std::string& key);
// A step count saved as an f64 scalar.
int64_t restore_count(const std::map<std::string, Tensor>& state, const std::string& key);

}  // namespace golf
