// An optimizer's per-step schedule scalars (learning rates, momenta, bias corrections) packed
// into one buffer, so a step on a device uploads them in one copy instead of one 4-byte copy each
// (issue 16: the baseline had 222 of them). The host fills its slots; each update graph's scalar
// leaf ("muon_lr.<name>", "adam_bias1.<name>", ...) is bound to a one-element view of the device
// buffer, used in place, which a CUDA graph reads at a fixed address. On the CPU the views are of
// the host buffer itself and nothing is copied.
#pragma once
#include <cstdint>

#include "runtime/device_ledger.h"
#include "runtime/tensor.h"

namespace golf {

class ScheduleScalars {
 public:
  ScheduleScalars(int64_t count, DType real, Device device);
  // Slot i's host scalar, to set before upload().
  Tensor host(int64_t i) const { return view(host_, i); }
  // Slot i as the update graph reads it (a device view, or the host one on the CPU).
  Tensor bound(int64_t i) const { return view(device_ == Device::cpu ? host_ : on_device_, i); }
  // One copy of every slot to the device (none on the CPU); the ledger of the last upload.
  void upload();
  const DeviceLedger& ledger() const { return ledger_; }

 private:
  Tensor view(const Tensor& base, int64_t i) const;
  Device device_;
  Tensor host_, on_device_;
  DeviceLedger ledger_;
};

}  // namespace golf
