// Adam and AdamW as an update graph, separate from the forward+backward graph: it reads each
// parameter, its gradient and its moments, and assigns the new values in place. Settings are per
// parameter, so one graph serves every group a script declares (the tied embedding at one lr, the
// scalars at another). The learning rate and the bias corrections are scalar graph inputs
// (schedule scalars), so one planned graph serves every step and a captured CUDA graph would pick
// up new values without re-capture.
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "runtime/executor.h"
#include "runtime/optim/schedule_scalars.h"

namespace golf {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.0;
  double lr = 1.0;  // the group's learning rate; step()'s argument multiplies it
  // true: AdamW's decoupled decay, p ← p − lr·(adam + wd·p). false: Adam's L2 form, as
  // torch.optim.Adam does it: wd·p is added to the gradient before the moments see it.
  bool decoupled = true;
};

// Inputs per parameter: "<name>", "grad.<name>", "adam_m.<name>", "adam_v.<name>" and the scalars
// "adam_lr.<name>", "adam_bias1.<name>" (1 − β1^t) and "adam_bias2.<name>" (1 − β2^t). The scalars
// are per parameter because a frozen parameter's t stops while the others' go on.
void build_adamw_update(Graph& g, const ParamStore& store, const std::vector<std::pair<std::string, AdamWConfig>>& params);

class AdamW {
 public:
  // Every name with the same settings (cfg.lr = 1 makes step()'s argument the learning rate).
  AdamW(ParamStore& store, std::vector<std::string> names, AdamWConfig cfg, DType real = DType::f32,
        Device device = Device::cpu);
  // `device`: where the update graph runs and the state lives (docs/cuda.md "Residency"): the
  // parameters are used where the store keeps them; the schedule scalars (lr and both bias
  // corrections per parameter) are packed in one buffer uploaded once per step
  // (schedule_scalars.h); state() and load_state() copy through the host. graphs: on a CUDA
  // device, the update runs as a CUDA graph (ExecOptions::graph).
  AdamW(ParamStore& store, std::vector<std::pair<std::string, AdamWConfig>> params, DType real = DType::f32,
        Device device = Device::cpu, bool graphs = false);

  // One update of the "live" weights from `grads` (name -> gradient tensor); each active
  // parameter moves with learning rate cfg.lr × lr_multiplier.
  void step(const std::map<std::string, Tensor>& grads, double lr_multiplier);
  // Frozen parameters get no update and their moments and step count stay as they are. Replaces
  // the previous frozen set; names this optimizer does not hold are ignored.
  void set_frozen(const std::set<std::string>& names);

  int64_t steps_taken() const { return calls_; }             // step() calls
  int64_t steps_taken(const std::string& name) const;        // updates this parameter received
  DeviceLedger ledger() const;  // the device work of the last step() (zeros on the CPU)
  const Tensor& moment(const std::string& which, const std::string& name) const;  // "m" or "v"
  const std::vector<std::pair<std::string, AdamWConfig>>& params() const { return params_; }

  // "adam.m.<name>", "adam.v.<name>" and "adam.t.<name>" (the update count, an f64 scalar);
  // copies. load_state reads exactly these names and throws naming a missing or mis-shaped one.
  std::map<std::string, Tensor> state() const;
  void load_state(const std::map<std::string, Tensor>& state);

 private:
  void rebuild();

  ParamStore& store_;
  std::vector<std::pair<std::string, AdamWConfig>> params_;
  DType real_;
  Device device_;
  std::set<std::string> frozen_;
  std::unique_ptr<Graph> g_;
  std::unique_ptr<Executor> ex_;
  bool graphs_ = false;
  std::map<std::string, Tensor> m_, v_, lr_, bias1_, bias2_;  // lr_, bias1_, bias2_: host slots of sched_
  std::map<std::string, Tensor> lr_bound_, bias1_bound_, bias2_bound_;  // as the graph reads them
  std::unique_ptr<ScheduleScalars> sched_;
  std::map<std::string, int64_t> t_;
  int64_t calls_ = 0;
};

}  // namespace golf
