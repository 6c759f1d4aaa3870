#include "runtime/optim/muon.h"

#include "runtime/optim/state_io.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <tuple>

namespace golf {

double muon_momentum(const MuonConfig& cfg, int64_t step) {
  if (cfg.warmup_steps <= 0) return cfg.momentum;
  double f = std::min(double(step) / double(cfg.warmup_steps), 1.0);
  return (1.0 - f) * cfg.warmup_from + f * cfg.momentum;
}

Var newton_schulz(Var x, int steps, bool polar_express) {
  if (polar_express && steps > kPolarExpressSteps)
    throw std::invalid_argument("Muon: ns = \"polar_express\" has 5 coefficient tuples; ns_steps " + std::to_string(steps) +
                                " asks for more");
  for (int i = 0; i < steps; i++) {
    const NsCoeffs& k = polar_express ? kPolarExpress[i] : kNsQuintic;
    const double a = k.a, b = k.b, c = k.c;
    Var A = matmul(x, x, false, true);
    Var B = scale(A, b) + matmul(scale(A, c), A);  // the baseline's b * A + c * A @ A, in its order
    x = scale(x, a) + matmul(B, x);
  }
  return x;
}

namespace {

// Everything before Newton–Schulz: the normalized X in its wide orientation.
struct Prepared {
  Var x;
  bool tall = false;
  double shape_scale = 1.0;
};

Prepared prepare(Var u, const MuonConfig& cfg) {
  int64_t rows = u.dim(0), cols = u.dim(1);
  if (cfg.row_normalize) {
    // u_i / max(‖u_i‖, 1e-7), the record's clamp (n + relu(1e-7 − n) is n exactly when n >= 1e-7).
    Var n = sqrt(sum(square(u), {1}));
    u = u / (n + relu(add_scalar(neg(n), 1e-7)));
  }
  Prepared p;
  p.x = u / add_scalar(sqrt(sum_all(square(u))), 1e-7);
  // Iterating on the wide orientation keeps X·Xᵀ at min(rows, cols)² elements.
  p.tall = rows > cols;
  if (p.tall) p.x = transpose(p.x, 0, 1);
  p.shape_scale = std::sqrt(std::max(1.0, double(rows) / double(cols)));
  return p;
}

Var finish(const Prepared& p) {
  Var x = p.tall ? transpose(p.x, 0, 1) : p.x;
  return p.shape_scale == 1.0 ? x : scale(x, p.shape_scale);
}

}  // namespace

Var muon_orthogonalize(Var u, const MuonConfig& cfg) {
  Prepared p = prepare(u, cfg);
  p.x = newton_schulz(p.x, cfg.ns_steps, cfg.polar_express);
  return finish(p);
}

std::vector<Var> muon_orthogonalize_all(const std::vector<Var>& us, const std::vector<MuonConfig>& cfgs) {
  if (us.size() != cfgs.size())
    throw std::invalid_argument("muon_orthogonalize_all: " + std::to_string(us.size()) + " matrices, " +
                                std::to_string(cfgs.size()) + " configs");
  std::vector<Prepared> ps;
  for (size_t i = 0; i < us.size(); i++) ps.push_back(prepare(us[i], cfgs[i]));
  // Same wide shape and the same iterations: one stack. In first-seen order, so the graph does
  // not depend on how a map orders its keys.
  using Key = std::tuple<int64_t, int64_t, int, bool>;
  std::vector<std::pair<Key, std::vector<size_t>>> groups;
  for (size_t i = 0; i < ps.size(); i++) {
    const Key key{ps[i].x.dim(0), ps[i].x.dim(1), cfgs[i].ns_steps, cfgs[i].polar_express};
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == key; });
    if (it == groups.end()) groups.push_back({key, {i}});
    else it->second.push_back(i);
  }
  for (const auto& [key, members] : groups) {
    const auto& [rows, cols, steps, polar] = key;
    if (members.size() == 1 || steps == 0) {
      for (size_t i : members) ps[i].x = newton_schulz(ps[i].x, steps, polar);
      continue;
    }
    std::vector<Var> parts;
    for (size_t i : members) parts.push_back(reshape(ps[i].x, {1, rows, cols}));
    Var x = newton_schulz(concat(parts, 0), steps, polar);
    for (size_t j = 0; j < members.size(); j++)
      ps[members[j]].x = reshape(slice(x, 0, int64_t(j), int64_t(j) + 1), {rows, cols});
  }
  std::vector<Var> out;
  for (const Prepared& p : ps) out.push_back(finish(p));
  return out;
}

void build_muon_update(Graph& g, const ParamStore& store, const std::vector<std::pair<std::string, MuonConfig>>& params,
                       bool batched) {
  std::vector<Var> us;
  std::vector<MuonConfig> cfgs;
  for (const auto& [name, c] : params) {
    const Shape& s = store.spec(name).shape;
    if (s.size() < 2) throw std::invalid_argument("Muon: '" + name + "' has shape " + shape_str(s) + "; Muon needs a matrix");
    Var mu = input(g, "muon_mu." + name, {});
    Var grad = input(g, "grad." + name, s);
    Var buf = input(g, "muon_buf." + name, s);
    Var buf_new = mu * buf + grad;
    us.push_back(reshape(c.nesterov ? grad + mu * buf_new : buf_new, {s[0], shape_numel(s) / s[0]}));
    cfgs.push_back(c);
    assign(buf, buf_new);
  }
  std::vector<Var> orth;
  if (batched) orth = muon_orthogonalize_all(us, cfgs);
  else
    for (size_t i = 0; i < us.size(); i++) orth.push_back(muon_orthogonalize(us[i], cfgs[i]));
  for (size_t i = 0; i < params.size(); i++) {
    const auto& [name, c] = params[i];
    const Shape& s = store.spec(name).shape;
    Var lr = input(g, "muon_lr." + name, {});
    Var p = input(g, name, s);
    Var update = reshape(orth[i], s);
    if (c.weight_decay != 0.0) update = update + scale(p, c.weight_decay);
    assign(p, p - lr * update);
  }
}

Muon::Muon(ParamStore& store, std::vector<std::pair<std::string, MuonConfig>> params, DType real, Device device, bool graphs)
    : store_(store), params_(std::move(params)), real_(real), device_(device), graphs_(graphs) {
  sched_ = std::make_unique<ScheduleScalars>(int64_t(2 * params_.size()), real, device);
  int64_t slot = 0;
  for (const auto& [n, c] : params_) {
    const Shape& s = store_.spec(n).shape;
    if (s.size() < 2) throw std::invalid_argument("Muon: '" + n + "' has shape " + shape_str(s) + "; Muon needs a matrix");
    if (c.ns_steps < 0) throw std::invalid_argument("Muon: ns_steps must be >= 0 for '" + n + "'");
    if (c.polar_express && c.ns_steps > kPolarExpressSteps)
      throw std::invalid_argument("Muon: '" + n + "': ns = \"polar_express\" has 5 coefficient tuples, ns_steps is " +
                                  std::to_string(c.ns_steps));
    if (buf_.count(n)) throw std::invalid_argument("Muon: parameter '" + n + "' given twice");
    buf_[n] = Tensor(s, real, device);
    lr_[n] = sched_->host(slot);
    lr_bound_[n] = sched_->bound(slot++);
    mu_[n] = sched_->host(slot);
    mu_bound_[n] = sched_->bound(slot++);
    t_[n] = 0;
  }
  rebuild();
}

ExecOptions Muon::update_options() const {
  ExecOptions o{real_, true, device_};
  o.graph = graphs_;
  return o;
}

// As AdamW: the graph holds the active parameters only, rebuilt when the frozen set changes.
void Muon::rebuild() {
  ex_.reset();
  apply_ex_.reset();
  g_ = std::make_unique<Graph>();
  std::vector<std::pair<std::string, MuonConfig>> active;
  for (const auto& pc : params_)
    if (!frozen_.count(pc.first)) active.push_back(pc);
  active_.clear();
  mine_.clear();
  if (active.empty()) return;
  if (distributed(comm_)) {
    // The same nodes as build_muon_update, cut after the orthogonalization (batched over
    // same-shape matrices): this rank's updates are written into their "muon_upd.<name>" buffers,
    // the others' zeroed, all where the state lives (on a device, nothing of it crosses to the host
    // but what the all-reduce stages).
    std::vector<Var> us, upd_outs;
    std::vector<MuonConfig> cfgs;
    apply_g_ = std::make_unique<Graph>();
    for (size_t i = 0; i < active.size(); i++) {
      const auto& [n, c] = active[i];
      const Shape& s = store_.spec(n).shape;
      active_.push_back(n);
      Var mu = input(*g_, "muon_mu." + n, {});
      Var grad = input(*g_, "grad." + n, s);
      Var buf = input(*g_, "muon_buf." + n, s);
      Var buf_new = mu * buf + grad;
      assign(buf, buf_new);
      Var upd_out = input(*g_, "muon_upd." + n, s);
      if (int(i % size_t(comm_->size())) == comm_->rank()) {
        Var u = c.nesterov ? grad + mu * buf_new : buf_new;
        us.push_back(reshape(u, {s[0], shape_numel(s) / s[0]}));
        cfgs.push_back(c);
        upd_outs.push_back(upd_out);
        mine_.push_back(n);
      } else {
        assign(upd_out, full(*g_, s, 0.0));
      }
      Var lr = input(*apply_g_, "muon_lr." + n, {});
      Var p = input(*apply_g_, n, s);
      Var update = input(*apply_g_, "muon_upd." + n, s);
      if (c.weight_decay != 0.0) update = update + scale(p, c.weight_decay);
      assign(p, p - lr * update);
      if (!upd_.count(n)) upd_[n] = Tensor(s, real_, device_);
    }
    const std::vector<Var> orth = muon_orthogonalize_all(us, cfgs);
    for (size_t k = 0; k < orth.size(); k++) assign(upd_outs[k], reshape(orth[k], store_.spec(mine_[k]).shape));
    ex_ = std::make_unique<Executor>(*g_, std::vector<Var>{}, update_options());
    apply_ex_ = std::make_unique<Executor>(*apply_g_, std::vector<Var>{}, update_options());
    for (const std::string& n : active_) {
      ex_->bind("muon_mu." + n, mu_bound_[n]);
      ex_->bind("muon_buf." + n, buf_[n]);
      ex_->bind("muon_upd." + n, upd_[n]);
      apply_ex_->bind("muon_lr." + n, lr_bound_[n]);
      apply_ex_->bind("muon_upd." + n, upd_[n]);
    }
    return;
  }
  build_muon_update(*g_, store_, active);
  ex_ = std::make_unique<Executor>(*g_, std::vector<Var>{}, update_options());
  for (const auto& pc : active) {
    const std::string& n = pc.first;
    ex_->bind("muon_lr." + n, lr_bound_[n]);
    ex_->bind("muon_mu." + n, mu_bound_[n]);
    ex_->bind("muon_buf." + n, buf_[n]);
  }
}

void Muon::set_frozen(const std::set<std::string>& names) {
  std::set<std::string> mine;
  for (const auto& pc : params_)
    if (names.count(pc.first)) mine.insert(pc.first);
  if (mine == frozen_) return;
  frozen_ = std::move(mine);
  rebuild();
}

void Muon::step(const std::map<std::string, Tensor>& grads, double lr_multiplier) {
  if (!ex_) return;
  for (const auto& [n, c] : params_) {
    if (frozen_.count(n)) continue;
    auto it = grads.find(n);
    if (it == grads.end()) throw std::invalid_argument("Muon: no gradient for '" + n + "'");
    lr_[n].set(0, c.lr * lr_multiplier);
    mu_[n].set(0, muon_momentum(c, t_[n]));
    t_[n]++;
    if (apply_ex_) {
      apply_ex_->bind(n, store_.get(n));
    } else {
      ex_->bind(n, store_.get(n));
    }
    ex_->bind("grad." + n, it->second);
  }
  sched_->upload();  // every lr and μ in one copy
  if (apply_ex_) step_split();
  else ex_->run();
}

void Muon::set_communicator(Communicator* comm) {
  comm_ = comm;
  rebuild();
}

// Every rank's share lands in its update buffers, the others' zeroed; one all-reduce of them all
// (flattened in name order, allreduce_sum) sums to every update, each computed once.
void Muon::step_split() {
  ex_->run();
  std::map<std::string, Tensor> active;
  for (const std::string& n : active_) active[n] = upd_.at(n);
  allreduce_sum(*comm_, active);
  apply_ex_->run();
}

int64_t Muon::steps_taken(const std::string& name) const { return t_.at(name); }

DeviceLedger Muon::ledger() const {
  DeviceLedger l = sched_->ledger();
  if (ex_) l.add(ex_->ledger());
  if (apply_ex_) l.add(apply_ex_->ledger());
  return l;
}

std::map<std::string, Tensor> Muon::state() const {
  std::map<std::string, Tensor> out;
  for (const auto& pc : params_) {
    const std::string& n = pc.first;
    out["muon.buf." + n] = buf_.at(n).to_device(Device::cpu);
    Tensor t({}, DType::f64);
    t.set(0, double(t_.at(n)));
    out["muon.t." + n] = t;
  }
  return out;
}

void Muon::load_state(const std::map<std::string, Tensor>& state) {
  std::map<std::string, int64_t> counts;  // everything is checked before anything changes
  for (const auto& pc : params_) {
    const std::string& n = pc.first;
    Tensor b(buf_.at(n).shape(), buf_.at(n).dtype());  // a host check, nothing downloaded
    restore_into(b, state, "muon.buf." + n);
    counts[n] = restore_count(state, "muon.t." + n);
  }
  for (const auto& pc : params_) {
    restore_into(buf_.at(pc.first), state, "muon.buf." + pc.first);
    t_[pc.first] = counts[pc.first];
  }
}

}  // namespace golf
