// golfrt's tensor dump format, version 1: the files scripts/reference/*.py write (their tensor_dump.py
// is the Python twin), so golden tests can compare the runtime against PyTorch.
//
// Little-endian: "GOLFTDMP", u32 version (=1), u32 entry count, then per entry: u32 name length, name
// (UTF-8), u8 dtype code (golf::DType's order), u8 rank, u16 reserved (=0), rank x i64 dims, then
// numel x element size bytes of row-major data.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

namespace golf {

// Entries in file order. Throws std::runtime_error naming the file and the problem on a bad magic or
// version, an unknown dtype code, a non-zero reserved field, a truncated file, trailing bytes, or a
// declared size larger than the rest of the file (checked before anything is allocated).
std::vector<std::pair<std::string, Tensor>> read_tensor_dump(const std::string& path);

// Host tensors only; throws std::runtime_error when the file cannot be written.
void write_tensor_dump(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& entries);

}  // namespace golf
