#include "runtime/train/calibration.h"

#include <utility>
#include <vector>

#include "runtime/quant/hessian_pass.h"

namespace golf {

namespace {

Tensor tokens_tensor(const std::vector<uint16_t>& buf, int64_t b, int64_t t) {
  Tensor x({b, t}, DType::i32);
  int32_t* p = x.data<int32_t>();
  for (int64_t i = 0; i < b * t; i++) p[i] = buf[size_t(i)];
  return x;
}

}  // namespace

std::map<std::string, Tensor> calibration_hessians(const GraphFactory& factory, ParamStore& store, const std::string& set,
                                                   TokenStream& stream, int64_t batches, int64_t micro, int64_t seq,
                                                   DType real) {
  std::vector<std::pair<Tensor, Tensor>> inputs;
  for (int64_t i = 0; i < batches; i++) {
    std::vector<uint16_t> buf = stream.take(micro * seq + 1);
    std::vector<uint16_t> shifted(buf.begin() + 1, buf.end());
    inputs.push_back({tokens_tensor(buf, micro, seq), tokens_tensor(shifted, micro, seq)});
  }
  std::vector<std::string> names;
  for (const ParamSpec& p : store.specs())
    if (p.shape.size() == 2 && !p.is_buffer()) names.push_back(p.name);
  auto calib = factory("calibrate", micro, seq);
  return collect_hessians(*calib, store, set, inputs, names, real);
}

}  // namespace golf
