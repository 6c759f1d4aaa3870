#include "runtime/optim/state_io.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace golf {

void restore_into(Tensor& dst, const std::map<std::string, Tensor>& state, const std::string& key) {
  auto it = state.find(key);
  if (it == state.end()) throw std::invalid_argument("optimizer state: missing '" + key + "'");
  if (it->second.shape() != dst.shape())
    throw std::invalid_argument("optimizer state: '" + key + "' has shape " + shape_str(it->second.shape()) +
                                ", expected " + shape_str(dst.shape()));
  Tensor src = it->second.dtype() == dst.dtype() ? it->second : it->second.to(dst.dtype());
  dst.copy_from(src);  // an upload when the state lives on a device
}

int64_t restore_count(const std::map<std::string, Tensor>& state, const std::string& key) {
  Tensor t({}, DType::f64);
  restore_into(t, state, key);
  double v = t.get(0);
  if (!(v >= 0) || v != std::floor(v)) throw std::invalid_argument("optimizer state: '" + key + "' is not a count");
  return int64_t(v);
}

}  // namespace golf
