#include "runtime/optim/adamw.h"

#include "runtime/optim/state_io.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

namespace golf {

void build_adamw_update(Graph& g, const ParamStore& store, const std::vector<std::pair<std::string, AdamWConfig>>& params) {
  for (const auto& [name, c] : params) {
    const Shape& s = store.spec(name).shape;
    Var lr = input(g, "adam_lr." + name, {});
    Var bias1 = input(g, "adam_bias1." + name, {});
    Var bias2 = input(g, "adam_bias2." + name, {});
    Var p = input(g, name, s);
    Var grad = input(g, "grad." + name, s);
    Var m = input(g, "adam_m." + name, s);
    Var v = input(g, "adam_v." + name, s);
    if (!c.decoupled && c.weight_decay != 0.0) grad = grad + scale(p, c.weight_decay);
    Var m_new = scale(m, c.beta1) + scale(grad, 1.0 - c.beta1);
    Var v_new = scale(v, c.beta2) + scale(square(grad), 1.0 - c.beta2);
    Var denom = add_scalar(sqrt(v_new / bias2), c.eps);
    Var update = (m_new / bias1) / denom;
    if (c.decoupled && c.weight_decay != 0.0) update = update + scale(p, c.weight_decay);  // scaled by lr below
    Var p_new = p - lr * update;
    assign(m, m_new);
    assign(v, v_new);
    assign(p, p_new);
  }
}

namespace {

std::vector<std::pair<std::string, AdamWConfig>> same_config(const std::vector<std::string>& names, const AdamWConfig& cfg) {
  std::vector<std::pair<std::string, AdamWConfig>> out;
  for (const std::string& n : names) out.emplace_back(n, cfg);
  return out;
}


}  // namespace

AdamW::AdamW(ParamStore& store, std::vector<std::string> names, AdamWConfig cfg, DType real, Device device)
    : AdamW(store, same_config(names, cfg), real, device) {}

AdamW::AdamW(ParamStore& store, std::vector<std::pair<std::string, AdamWConfig>> params, DType real, Device device,
             bool graphs)
    : store_(store), params_(std::move(params)), real_(real), device_(device), graphs_(graphs) {
  sched_ = std::make_unique<ScheduleScalars>(int64_t(3 * params_.size()), real, device);
  int64_t slot = 0;
  for (const auto& [n, c] : params_) {
    const Shape& s = store_.spec(n).shape;
    if (m_.count(n)) throw std::invalid_argument("AdamW: parameter '" + n + "' given twice");
    m_[n] = Tensor(s, real, device);
    v_[n] = Tensor(s, real, device);
    for (auto [host, bound] : {std::pair{&lr_, &lr_bound_}, std::pair{&bias1_, &bias1_bound_}, std::pair{&bias2_, &bias2_bound_}}) {
      (*host)[n] = sched_->host(slot);
      (*bound)[n] = sched_->bound(slot++);
    }
    t_[n] = 0;
  }
  rebuild();
}

// The graph holds the active parameters only: a frozen parameter is not read, so its state
// cannot move. Freezing changes rarely (a phase boundary), so rebuilding then is cheap.
void AdamW::rebuild() {
  ex_.reset();
  g_ = std::make_unique<Graph>();
  std::vector<std::pair<std::string, AdamWConfig>> active;
  for (const auto& pc : params_)
    if (!frozen_.count(pc.first)) active.push_back(pc);
  if (active.empty()) return;
  build_adamw_update(*g_, store_, active);
  ExecOptions o{real_, true, device_};
  o.graph = graphs_;
  ex_ = std::make_unique<Executor>(*g_, std::vector<Var>{}, o);
  for (const auto& [n, c] : active) {
    ex_->bind("adam_lr." + n, lr_bound_[n]);
    ex_->bind("adam_bias1." + n, bias1_bound_[n]);
    ex_->bind("adam_bias2." + n, bias2_bound_[n]);
    ex_->bind("adam_m." + n, m_[n]);
    ex_->bind("adam_v." + n, v_[n]);
  }
}

void AdamW::set_frozen(const std::set<std::string>& names) {
  std::set<std::string> mine;
  for (const auto& pc : params_)
    if (names.count(pc.first)) mine.insert(pc.first);
  if (mine == frozen_) return;
  frozen_ = std::move(mine);
  rebuild();
}

void AdamW::step(const std::map<std::string, Tensor>& grads, double lr_multiplier) {
  calls_++;
  if (!ex_) return;
  for (const auto& [n, c] : params_) {
    if (frozen_.count(n)) continue;
    auto it = grads.find(n);
    if (it == grads.end()) throw std::invalid_argument("AdamW: no gradient for '" + n + "'");
    int64_t t = ++t_[n];
    lr_[n].set(0, c.lr * lr_multiplier);
    bias1_[n].set(0, 1.0 - std::pow(c.beta1, double(t)));
    bias2_[n].set(0, 1.0 - std::pow(c.beta2, double(t)));
    ex_->bind(n, store_.get(n));
    ex_->bind("grad." + n, it->second);
  }
  sched_->upload();  // every lr and bias correction in one copy
  ex_->run();
}

int64_t AdamW::steps_taken(const std::string& name) const { return t_.at(name); }

DeviceLedger AdamW::ledger() const {
  DeviceLedger l = sched_->ledger();
  if (ex_) l.add(ex_->ledger());
  return l;
}

const Tensor& AdamW::moment(const std::string& which, const std::string& name) const {
  return (which == "m" ? m_ : v_).at(name);
}

std::map<std::string, Tensor> AdamW::state() const {
  std::map<std::string, Tensor> out;
  for (const auto& pc : params_) {
    const std::string& n = pc.first;
    out["adam.m." + n] = m_.at(n).to_device(Device::cpu);
    out["adam.v." + n] = v_.at(n).to_device(Device::cpu);
    Tensor t({}, DType::f64);
    t.set(0, double(t_.at(n)));
    out["adam.t." + n] = t;
  }
  return out;
}

void AdamW::load_state(const std::map<std::string, Tensor>& state) {
  // Check every entry before changing anything, so a bad checkpoint leaves the optimizer intact.
  std::map<std::string, int64_t> counts;
  for (const auto& pc : params_) {
    const std::string& n = pc.first;
    Tensor m(m_.at(n).shape(), m_.at(n).dtype()), v(v_.at(n).shape(), v_.at(n).dtype());  // host checks
    restore_into(m, state, "adam.m." + n);
    restore_into(v, state, "adam.v." + n);
    counts[n] = restore_count(state, "adam.t." + n);
  }
  for (const auto& pc : params_) {
    const std::string& n = pc.first;
    restore_into(m_.at(n), state, "adam.m." + n);
    restore_into(v_.at(n), state, "adam.v." + n);
    t_[n] = counts[n];
  }
}

}  // namespace golf
