// The trainer's work between the backward and the next step, for state that lives on a device
// (docs/cuda.md "Residency"): the global gradient norm and its clip, and the weight averages
// (EMA, SWA). The host functions of optimizer_set.h loop over host memory; these do the same as
// small graphs, so the device state is never read on the host. They compute in f32 (the CUDA
// backend's type): the norm is summed per tensor and then over tensors in name order, where the
// host sums in double, so a clipped device run differs from the CPU's in the last bits.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "runtime/executor.h"

namespace golf {

// clip_grad_norm for gradient buffers on a device: one run reads the squared norm (4 bytes down),
// and, only when it is above max_norm, one run scales every buffer in place (4 bytes up).
class DeviceGradClip {
 public:
  // Holds the buffers (shared storage): the same tensors must be passed to every clip().
  // graphs: on a CUDA device, both runs are CUDA graphs (ExecOptions::graph).
  DeviceGradClip(const std::map<std::string, Tensor>& grads, Device device, bool graphs = false);
  // Returns the norm before clipping, as clip_grad_norm does.
  double clip(double max_norm);

 private:
  Graph norm_g_, scale_g_;
  std::unique_ptr<Executor> norm_ex_, scale_ex_;
  Tensor factor_;  // host scalar: max_norm / (norm + 1e-6)
  static DType t_real(const std::map<std::string, Tensor>& grads);
};

// ema_update / swa_update for a store whose sets live on a device: set ← set + w·(live − set) over
// the parameters (buffers keep the values the set was copied with). The first update of a set
// that does not exist yet copies "live" into it, as the host functions do.
class DeviceWeightAverage {
 public:
  DeviceWeightAverage(ParamStore& store, std::string set, Device device, bool graphs = false);  // graphs: as DeviceGradClip
  void ema(double decay) { update(1.0 - decay); }
  void swa(int64_t count);

 private:
  void update(double w);
  ParamStore& store_;
  std::string set_;
  Device device_;
  Graph g_;
  std::unique_ptr<Executor> ex_;
  Tensor w_;  // host scalar
};

}  // namespace golf
