#include "runtime/optim/device_updates.h"

#include <cmath>
#include <stdexcept>

namespace golf {

DeviceGradClip::DeviceGradClip(const std::map<std::string, Tensor>& grads, Device device, bool graphs)
    : factor_({}, DType::f32) {
  if (grads.empty()) throw std::invalid_argument("DeviceGradClip: no gradients");
  Var total;
  Var factor = input(scale_g_, "clip_factor", {});
  for (const auto& [name, t] : grads) {
    Var g = input(norm_g_, "grad." + name, t.shape());
    Var s = sum_all(square(g));
    total = total.valid() ? total + s : s;
    Var h = input(scale_g_, "grad." + name, t.shape());
    assign(h, h * factor);
  }
  ExecOptions opt{t_real(grads), true, device};
  opt.graph = graphs;
  norm_ex_ = std::make_unique<Executor>(norm_g_, std::vector<Var>{total}, opt);
  scale_ex_ = std::make_unique<Executor>(scale_g_, std::vector<Var>{}, opt);
  for (const auto& [name, t] : grads) {
    norm_ex_->bind("grad." + name, t);
    scale_ex_->bind("grad." + name, t);
  }
  scale_ex_->bind("clip_factor", factor_);
}

DType DeviceGradClip::t_real(const std::map<std::string, Tensor>& grads) { return grads.begin()->second.dtype(); }

double DeviceGradClip::clip(double max_norm) {
  norm_ex_->run();
  const double norm = std::sqrt(norm_ex_->result(0).get(0));
  if (norm > max_norm) {
    factor_.set(0, max_norm / (norm + 1e-6));
    scale_ex_->run();
  }
  return norm;
}

DeviceWeightAverage::DeviceWeightAverage(ParamStore& store, std::string set, Device device, bool graphs)
    : store_(store), set_(std::move(set)), device_(device), w_({}, DType::f32) {
  if (set_ == "live") throw std::invalid_argument("a weight average cannot be kept in the \"live\" set");
  Var w = input(g_, "average_w", {});
  DType real = DType::f32;
  for (const ParamSpec& p : store_.specs()) {
    if (p.is_buffer()) continue;
    real = store_.get(p.name).dtype();
    Var avg = input(g_, "avg." + p.name, p.shape);
    Var live = input(g_, "live." + p.name, p.shape);
    assign(avg, avg + w * (live - avg));
  }
  ExecOptions opt{real, true, device_};
  opt.graph = graphs;
  ex_ = std::make_unique<Executor>(g_, std::vector<Var>{}, opt);
  ex_->bind("average_w", w_);
}

void DeviceWeightAverage::swa(int64_t count) {
  if (count < 0) throw std::invalid_argument("swa_update: count must be >= 0, got " + std::to_string(count));
  update(1.0 / double(count + 1));
}

void DeviceWeightAverage::update(double w) {
  if (!store_.has_set(set_)) {
    store_.copy_set("live", set_);  // a copy on the device
    return;
  }
  for (const ParamSpec& p : store_.specs()) {
    if (p.is_buffer()) continue;
    ex_->bind("avg." + p.name, store_.get(p.name, set_));
    ex_->bind("live." + p.name, store_.get(p.name, "live"));
  }
  w_.set(0, w);
  ex_->run();
}

}  // namespace golf
