// Reading (and, for tests and fuzz seeds, writing) the safetensors format: the way a PyTorch
// state_dict reaches golfrt (`golfrt import`, scripts/import_state_dict.py).
//
// Layout: u64 little-endian N; N bytes of JSON header (UTF-8, may be padded with spaces);
// then the data. The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin,
// end]} (offsets relative to the data's start); an optional "__metadata__" maps strings to
// strings.
//
// The file is untrusted: N is bounded by the file's length (and 100 MiB), every shape's element
// count and byte size is overflow-checked, each tensor's [begin, end) must be exactly its byte size
// and lie inside the data, and the tensors must tile the data with no gap, overlap or trailing
// byte (which also catches a name the header repeats with other offsets: JSON keeps the last, and
// the first one's bytes would be a gap). Every refusal is a std::runtime_error naming the file and,
// where there is one, the tensor.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tensor.h"

namespace golf {

struct SafeTensor {
  std::string dtype;  // as the file spells it: F32, F16, BF16, F64, I64, I32, ...
  Shape shape;
  std::string bytes;  // numel × the dtype's size, little-endian, row-major
};

struct SafetensorsFile {
  std::map<std::string, SafeTensor> tensors;
  std::map<std::string, std::string> metadata;  // "__metadata__"
};

// `name` (the file's path) appears in every message.
SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& name);
SafetensorsFile read_safetensors(const std::string& path);

// The tensor as f32: F32 as is, F16 and BF16 exactly, F64 rounded to nearest. Any other dtype is
// refused naming `what` (the file and tensor).
Tensor safetensor_to_f32(const SafeTensor& t, const std::string& what);
// The tensor as i32: I32 as is, I64/I16/I8/U8 when every value fits. Refuses float dtypes.
Tensor safetensor_to_i32(const SafeTensor& t, const std::string& what);

// The file's bytes for these tensors (f32 Tensors as F32, bf16 as BF16, f16 as F16, f64 as F64,
// i32 as I32), in name order, header padded to a multiple of 8 as PyTorch's writer does.
std::string encode_safetensors(const std::map<std::string, Tensor>& tensors,
                               const std::map<std::string, std::string>& metadata = {});

}  // namespace golf
