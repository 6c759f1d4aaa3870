#include "runtime/optim/schedule_scalars.h"

#include <stdexcept>
#include <string>

namespace golf {

ScheduleScalars::ScheduleScalars(int64_t count, DType real, Device device)
    : device_(device), host_({count}, real) {
  if (device_ != Device::cpu) on_device_ = Tensor({count}, real, device_);
}

Tensor ScheduleScalars::view(const Tensor& base, int64_t i) const {
  if (i < 0 || i >= base.numel())
    throw std::out_of_range("schedule scalars: slot " + std::to_string(i) + " of " + std::to_string(base.numel()));
  return Tensor::over(base, size_t(i) * dtype_size(base.dtype()), {}, base.dtype());
}

void ScheduleScalars::upload() {
  ledger_ = DeviceLedger{};
  if (device_ == Device::cpu || host_.numel() == 0) return;
  on_device_.copy_from(host_);  // synchronous: the host buffer may be refilled at once
  ledger_.uploads = 1;
  ledger_.upload_bytes = int64_t(host_.nbytes());
  ledger_.syncs = 1;
}

}  // namespace golf
