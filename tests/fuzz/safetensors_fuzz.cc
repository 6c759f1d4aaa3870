// libFuzzer target for the safetensors reader (runtime/safetensors.h), the way a PyTorch
// checkpoint reaches `golfrt import`: every input is a whole file.
//
// A clean refusal is a std::runtime_error; anything else (a crash, a sanitizer report, another
// exception, an allocation past -malloc_limit_mb) is a finding. What the reader accepts must convert
// (or be refused as a conversion) tensor by tensor, and its real tensors, written again, must read
// back with the same names and shapes.
#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

#include "runtime/safetensors.h"

namespace {

bool is_real(const std::string& dtype) { return dtype == "F32" || dtype == "F16" || dtype == "BF16" || dtype == "F64"; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  golf::SafetensorsFile f;
  try {
    f = golf::parse_safetensors(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
  } catch (const std::runtime_error&) {
    return 0;  // refused: the expected outcome for nearly every input
  }
  std::map<std::string, golf::Tensor> reals;
  for (const auto& [name, t] : f.tensors) {
    try {
      if (is_real(t.dtype)) reals[name] = golf::safetensor_to_f32(t, name);
      else golf::safetensor_to_i32(t, name);
    } catch (const std::runtime_error&) {
      if (is_real(t.dtype)) __builtin_trap();  // a real tensor the reader accepted always converts
    }
  }
  // Outside the refusal handler: any exception here escapes and is reported as a finding.
  golf::SafetensorsFile again = golf::parse_safetensors(golf::encode_safetensors(reals), "fuzz re-encoded");
  if (again.tensors.size() != reals.size()) __builtin_trap();
  for (const auto& [name, t] : reals)
    if (again.tensors.at(name).shape != t.shape() || again.tensors.at(name).dtype != "F32") __builtin_trap();
  return 0;
}
