// The optimizers a script asks for (its train.optim rules), built over one ParamStore:
//
//   { match = "lua pattern", rank = 2 (optional: the parameter's ndim must equal it),
//     muon  = { lr, momentum, momentum_warmup = { from, steps }, nesterov, ns_steps, weight_decay,
//               row_normalize }
//   | adam  = { lr, betas = { b1, b2 }, eps, weight_decay }     -- L2 decay, as torch.optim.Adam
//   | adamw = { lr, betas = { b1, b2 }, eps, weight_decay } }   -- decoupled decay
//
// Each parameter goes to the first rule that matches it, so specific rules come before a
// catch-all. All Adam/AdamW parameters share one update graph and all Muon parameters another.
// Defaults: momentum 0.95, no warmup, nesterov true, ns_steps 5, betas 0.9/0.95, eps 1e-8, no
// weight decay, no row normalization; lr is required.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "runtime/json.h"
#include "runtime/optim/adamw.h"
#include "runtime/optim/muon.h"

namespace golf {

class OptimizerSet {
 public:
  // Anchored Lua-pattern matching, provided by the caller (the DSL): runtime/ never sees Lua.
  using Matcher = std::function<bool(const std::string& name, const std::string& pattern)>;

  // Throws naming the rule or the parameter: a malformed rule, an unknown setting, a parameter no
  // rule matches, a Muon rule that matches a non-matrix.
  // graphs: on a CUDA device, each update graph runs as a CUDA graph (ExecOptions::graph).
  OptimizerSet(ParamStore& store, const Json& rules, Matcher match, DType real = DType::f32, Device device = Device::cpu,
               bool graphs = false);

  // One update of every unfrozen parameter: each moves with its rule's lr × lr_multiplier.
  void step(const std::map<std::string, Tensor>& grads, double lr_multiplier);
  int64_t steps_taken() const { return step_; }
  // The device work of the last step(): every copy, launch and sync of its update graphs.
  DeviceLedger ledger() const;
  // Replaces the frozen set: those parameters get no update and their optimizer state (moments,
  // buffers, per-parameter step counts, hence bias corrections and momentum warmup) stays put.
  void set_frozen(const std::set<std::string>& names);
  const std::set<std::string>& frozen() const { return frozen_; }
  // Data-parallel ranks: Muon splits its Newton–Schulz work across them (Muon::set_communicator).
  void set_communicator(Communicator* comm) {
    if (muon_) muon_->set_communicator(comm);
  }

  // (parameter, "muon lr=0.04 momentum=0.95 ...") in declaration order, for summaries.
  std::vector<std::pair<std::string, std::string>> assignment() const;

  // Every state tensor by a stable name (copies): "step" (f64 scalar, step() calls),
  // "muon.buf.<p>", "muon.t.<p>", "adam.m.<p>", "adam.v.<p>", "adam.t.<p>". load_state wants
  // exactly these names and shapes (a float type other than the run's is converted) and throws
  // naming every missing, unexpected or mis-shaped entry before changing anything.
  std::map<std::string, Tensor> state() const;
  void load_state(const std::map<std::string, Tensor>& state);

  const Muon* muon() const { return muon_.get(); }    // null when no rule is Muon
  const AdamW* adamw() const { return adam_.get(); }  // null when no rule is Adam/AdamW

 private:
  ParamStore& store_;
  std::unique_ptr<Muon> muon_;
  std::unique_ptr<AdamW> adam_;
  std::map<std::string, std::string> described_;  // parameter -> its assignment text
  std::set<std::string> frozen_;
  int64_t step_ = 0;
};

// Scales every gradient by max_norm / (norm + 1e-6) when the global L2 norm (summed in double over
// the gradients in name order, so the result does not depend on threads) is above max_norm, as
// torch.nn.utils.clip_grad_norm_ does. Returns the norm before clipping.
double clip_grad_norm(std::map<std::string, Tensor>& grads, double max_norm);

// Weight averages kept as weight sets of the store, updated from "live" (created from it on the
// first call). EMA: set ← decay·set + (1−decay)·live. SWA: the running mean of `count` earlier
// snapshots and this one, set ← set + (live − set)/(count+1).
void ema_update(ParamStore& store, const std::string& set, double decay);
void swa_update(ParamStore& store, const std::string& set, int64_t count);

}  // namespace golf
