// golfrt's tensor file format, version 1: named tensors in one little-endian blob. Reference
// dumps (scripts/reference/tensor_dump.py is the Python twin), checkpoints and tests use it.
//
// "GOLFTDMP", u32 version (=1), u32 entry count, then per entry: u32 name length, name (UTF-8),
// u8 dtype code (golf::DType's order), u8 rank, u16 reserved (=0), rank × i64 dims, then
// numel × element size bytes of row-major data.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

namespace golf {

using TensorList = std::vector<std::pair<std::string, Tensor>>;

// Entries in order. Throws std::runtime_error naming `path` and the problem on a bad magic or
// version, an unknown dtype code, a non-zero reserved field, truncation, trailing bytes, or a
// declared size larger than the rest of the bytes (checked before anything is allocated).
TensorList decode_tensors(const std::string& bytes, const std::string& path);
std::string encode_tensors(const TensorList& entries, const std::string& path = "tensors");

TensorList read_tensor_dump(const std::string& path);
void write_tensor_dump(const std::string& path, const TensorList& entries);  // atomic

}  // namespace golf
