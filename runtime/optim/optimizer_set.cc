#include "runtime/optim/optimizer_set.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace golf {

namespace {

// Settings are read with their full path in errors ("optim[2].muon.lr"), and unknown keys are
// refused: a misspelt "momentun" would otherwise train silently with the default.
void check_keys(const Json& obj, const std::string& what, const std::set<std::string>& allowed) {
  if (!obj.is_object()) throw std::invalid_argument(what + " must be a table of settings");
  for (const auto& [key, value] : obj.fields())
    if (!allowed.count(key)) {
      std::string list;
      for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
      throw std::invalid_argument(what + ": unknown setting '" + key + "' (known: " + list + ")");
    }
}

double read_number(const Json& obj, const std::string& key, const std::string& what, double def) {
  const Json& v = obj[key];
  return v.is_null() ? def : v.number(what + "." + key);
}

double read_required(const Json& obj, const std::string& key, const std::string& what) {
  if (obj[key].is_null()) throw std::invalid_argument(what + "." + key + " is required");
  return obj[key].number(what + "." + key);
}

bool read_bool(const Json& obj, const std::string& key, const std::string& what, bool def) {
  const Json& v = obj[key];
  return v.is_null() ? def : v.boolean(what + "." + key);
}

MuonConfig parse_muon(const Json& s, const std::string& what) {
  check_keys(s, what, {"lr", "momentum", "momentum_warmup", "nesterov", "ns_steps", "ns", "weight_decay", "row_normalize"});
  MuonConfig c;
  c.lr = read_required(s, "lr", what);
  c.momentum = read_number(s, "momentum", what, c.momentum);
  c.nesterov = read_bool(s, "nesterov", what, c.nesterov);
  if (!s["ns_steps"].is_null()) c.ns_steps = int(s["ns_steps"].integer(what + ".ns_steps"));
  if (c.ns_steps < 0) throw std::invalid_argument(what + ".ns_steps must be >= 0");
  if (!s["ns"].is_null()) {
    std::string ns = s["ns"].str(what + ".ns");
    if (ns != "quintic" && ns != "polar_express")
      throw std::invalid_argument(what + ".ns must be \"quintic\" or \"polar_express\", not \"" + ns + "\"");
    c.polar_express = ns == "polar_express";
    if (c.polar_express && c.ns_steps > kPolarExpressSteps)
      throw std::invalid_argument(what + ": ns = \"polar_express\" has 5 coefficient tuples; ns_steps is " +
                                  std::to_string(c.ns_steps));
  }
  c.weight_decay = read_number(s, "weight_decay", what, c.weight_decay);
  c.row_normalize = read_bool(s, "row_normalize", what, c.row_normalize);
  const Json& w = s["momentum_warmup"];
  if (!w.is_null()) {
    std::string ww = what + ".momentum_warmup";
    check_keys(w, ww, {"from", "steps"});
    c.warmup_from = read_required(w, "from", ww);
    if (w["steps"].is_null()) throw std::invalid_argument(ww + ".steps is required");
    c.warmup_steps = w["steps"].integer(ww + ".steps");
    if (c.warmup_steps < 0) throw std::invalid_argument(ww + ".steps must be >= 0");
  }
  return c;
}

AdamWConfig parse_adam(const Json& s, const std::string& what, bool decoupled) {
  check_keys(s, what, {"lr", "betas", "eps", "weight_decay"});
  AdamWConfig c;
  c.decoupled = decoupled;
  c.lr = read_required(s, "lr", what);
  const Json& b = s["betas"];
  if (!b.is_null()) {
    if (!b.is_array() || b.size() != 2) throw std::invalid_argument(what + ".betas must be { beta1, beta2 }");
    c.beta1 = b[0].number(what + ".betas[1]");
    c.beta2 = b[1].number(what + ".betas[2]");
  }
  c.eps = read_number(s, "eps", what, c.eps);
  c.weight_decay = read_number(s, "weight_decay", what, c.weight_decay);
  return c;
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string describe_muon(const MuonConfig& c) {
  std::string s = "muon lr=" + fmt(c.lr) + " momentum=" + fmt(c.momentum);
  if (c.warmup_steps > 0) s += " warmup=" + fmt(c.warmup_from) + "->" + fmt(c.momentum) + "/" + std::to_string(c.warmup_steps);
  if (!c.nesterov) s += " nesterov=false";
  if (c.ns_steps != 5) s += " ns_steps=" + std::to_string(c.ns_steps);
  if (c.weight_decay != 0.0) s += " wd=" + fmt(c.weight_decay);
  if (c.row_normalize) s += " row_normalize";
  if (c.polar_express) s += " ns=polar_express";
  return s;
}

std::string describe_adam(const AdamWConfig& c) {
  std::string s = std::string(c.decoupled ? "adamw" : "adam") + " lr=" + fmt(c.lr) + " betas=" + fmt(c.beta1) + "," +
                  fmt(c.beta2) + " eps=" + fmt(c.eps);
  if (c.weight_decay != 0.0) s += " wd=" + fmt(c.weight_decay);
  return s;
}

}  // namespace

OptimizerSet::OptimizerSet(ParamStore& store, const Json& rules, Matcher match, DType real, Device device, bool graphs)
    : store_(store) {
  if (!rules.is_array())
    throw std::invalid_argument("optim rules must be a list of { match = ..., muon|adam|adamw = {...} }, got " +
                                (rules.is_null() ? std::string("nothing") : rules.dump()));
  struct Rule {
    std::string what, pattern;
    int64_t rank = -1;
    bool muon = false;
    MuonConfig muon_cfg;
    AdamWConfig adam_cfg;
  };
  std::vector<Rule> parsed;
  for (size_t i = 0; i < rules.size(); i++) {
    const Json& r = rules[i];
    Rule rule;
    rule.what = "optim[" + std::to_string(i + 1) + "]";  // 1-based, as the script's Lua list
    check_keys(r, rule.what, {"match", "rank", "muon", "adam", "adamw"});
    if (r["match"].is_null()) throw std::invalid_argument(rule.what + ".match is required");
    rule.pattern = r["match"].str(rule.what + ".match");
    if (!r["rank"].is_null()) rule.rank = r["rank"].integer(rule.what + ".rank");
    int kinds = int(r.has("muon")) + int(r.has("adam")) + int(r.has("adamw"));
    if (kinds != 1)
      throw std::invalid_argument(rule.what + " (match \"" + rule.pattern + "\") must name exactly one of muon, adam, adamw");
    if (r.has("muon")) {
      rule.muon = true;
      rule.muon_cfg = parse_muon(r["muon"], rule.what + ".muon");
    } else if (r.has("adam")) {
      rule.adam_cfg = parse_adam(r["adam"], rule.what + ".adam", false);
    } else {
      rule.adam_cfg = parse_adam(r["adamw"], rule.what + ".adamw", true);
    }
    parsed.push_back(rule);
  }

  std::vector<std::pair<std::string, MuonConfig>> muon_params;
  std::vector<std::pair<std::string, AdamWConfig>> adam_params;
  for (const ParamSpec& p : store.specs()) {
    if (p.is_buffer()) continue;  // buffers are not trained
    const Rule* hit = nullptr;
    for (const Rule& rule : parsed) {
      if (rule.rank >= 0 && int64_t(p.shape.size()) != rule.rank) continue;
      if (match(p.name, rule.pattern)) {
        hit = &rule;
        break;
      }
    }
    if (!hit) throw std::invalid_argument("parameter '" + p.name + "' " + shape_str(p.shape) + " matches no optim rule");
    if (hit->muon) {
      if (p.shape.size() < 2)
        throw std::invalid_argument(hit->what + " (muon, match \"" + hit->pattern + "\") matches '" + p.name +
                                    "' of shape " + shape_str(p.shape) +
                                    ": Muon needs a matrix (add rank = 2 to the rule, or send it to an earlier rule)");
      muon_params.emplace_back(p.name, hit->muon_cfg);
      described_[p.name] = describe_muon(hit->muon_cfg);
    } else {
      adam_params.emplace_back(p.name, hit->adam_cfg);
      described_[p.name] = describe_adam(hit->adam_cfg);
    }
  }
  if (!muon_params.empty()) muon_ = std::make_unique<Muon>(store, std::move(muon_params), real, device, graphs);
  if (!adam_params.empty()) adam_ = std::make_unique<AdamW>(store, std::move(adam_params), real, device, graphs);
}

void OptimizerSet::step(const std::map<std::string, Tensor>& grads, double lr_multiplier) {
  step_++;
  if (muon_) muon_->step(grads, lr_multiplier);
  if (adam_) adam_->step(grads, lr_multiplier);
}

DeviceLedger OptimizerSet::ledger() const {
  DeviceLedger l;
  if (muon_) l.add(muon_->ledger());
  if (adam_) l.add(adam_->ledger());
  return l;
}

void OptimizerSet::set_frozen(const std::set<std::string>& names) {
  for (const std::string& n : names)
    if (!store_.has(n)) throw std::invalid_argument("set_frozen: no parameter '" + n + "'");
  frozen_ = names;
  if (muon_) muon_->set_frozen(names);
  if (adam_) adam_->set_frozen(names);
}

std::vector<std::pair<std::string, std::string>> OptimizerSet::assignment() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const ParamSpec& p : store_.specs())
    if (!p.is_buffer()) out.emplace_back(p.name, described_.at(p.name));
  return out;
}

std::map<std::string, Tensor> OptimizerSet::state() const {
  std::map<std::string, Tensor> out;
  if (muon_) out.merge(muon_->state());
  if (adam_) out.merge(adam_->state());
  Tensor s({}, DType::f64);
  s.set(0, double(step_));
  out["step"] = s;
  return out;
}

void OptimizerSet::load_state(const std::map<std::string, Tensor>& state) {
  std::map<std::string, Tensor> want = this->state();
  std::string problems;
  for (const auto& [key, t] : want) {
    auto it = state.find(key);
    if (it == state.end()) problems += "\n  missing '" + key + "'";
    else if (it->second.shape() != t.shape())
      problems += "\n  '" + key + "' has shape " + shape_str(it->second.shape()) + ", expected " + shape_str(t.shape());
  }
  for (const auto& kv : state)
    if (!want.count(kv.first)) problems += "\n  unexpected '" + kv.first + "' (another rule set?)";
  if (!problems.empty()) throw std::invalid_argument("optimizer state does not fit these rules:" + problems);
  if (muon_) muon_->load_state(state);
  if (adam_) adam_->load_state(state);
  step_ = int64_t(state.at("step").get(0));
}

namespace {

// The element loops of the free functions: direct for the float types training uses, through
// get/set for anything else.
double sum_squares(const Tensor& t) {
  double s = 0;
  if (t.dtype() == DType::f32) {
    const float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); i++) s += double(p[i]) * double(p[i]);
  } else if (t.dtype() == DType::f64) {
    const double* p = t.data<double>();
    for (int64_t i = 0; i < t.numel(); i++) s += p[i] * p[i];
  } else {
    for (int64_t i = 0; i < t.numel(); i++) s += t.get(i) * t.get(i);
  }
  return s;
}

void scale_in_place(Tensor& t, double c) {
  if (t.dtype() == DType::f32) {
    float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); i++) p[i] = float(double(p[i]) * c);
  } else if (t.dtype() == DType::f64) {
    double* p = t.data<double>();
    for (int64_t i = 0; i < t.numel(); i++) p[i] *= c;
  } else {
    for (int64_t i = 0; i < t.numel(); i++) t.set(i, t.get(i) * c);
  }
}

// dst ← dst + w·(src − dst), elementwise, in double.
void move_towards(Tensor& dst, const Tensor& src, double w, const std::string& name) {
  if (dst.shape() != src.shape() || dst.dtype() != src.dtype())
    throw std::invalid_argument("weight average of '" + name + "': the set's tensor does not match the live one");
  if (dst.dtype() == DType::f32) {
    float* d = dst.data<float>();
    const float* s = src.data<float>();
    for (int64_t i = 0; i < dst.numel(); i++) d[i] = float(double(d[i]) + w * (double(s[i]) - double(d[i])));
  } else if (dst.dtype() == DType::f64) {
    double* d = dst.data<double>();
    const double* s = src.data<double>();
    for (int64_t i = 0; i < dst.numel(); i++) d[i] += w * (s[i] - d[i]);
  } else {
    for (int64_t i = 0; i < dst.numel(); i++) dst.set(i, dst.get(i) + w * (src.get(i) - dst.get(i)));
  }
}

void average_towards_live(ParamStore& store, const std::string& set, double w) {
  if (set == "live") throw std::invalid_argument("a weight average cannot be kept in the \"live\" set");
  if (!store.has_set(set)) {
    store.copy_set("live", set);
    return;
  }
  for (const ParamSpec& p : store.specs())
    if (!p.is_buffer() && store.get(p.name, "live").device() != Device::cpu)
      throw std::invalid_argument("weight average of '" + p.name + "': the weights live on " +
                                  device_name(store.get(p.name, "live").device()) +
                                  " (device state: DeviceWeightAverage, optim/device_updates.h)");
  for (const ParamSpec& p : store.specs())  // buffers keep the values every set was copied with
    if (!p.is_buffer()) move_towards(store.get(p.name, set), store.get(p.name, "live"), w, p.name);
}

}  // namespace

double clip_grad_norm(std::map<std::string, Tensor>& grads, double max_norm) {
  for (const auto& kv : grads)
    if (kv.second.device() != Device::cpu)
      throw std::invalid_argument("clip_grad_norm: the gradient of '" + kv.first + "' lives on " +
                                  device_name(kv.second.device()) + " (device state: DeviceGradClip, optim/device_updates.h)");
  double total = 0;
  for (const auto& kv : grads) total += sum_squares(kv.second);
  double norm = std::sqrt(total);
  if (norm > max_norm) {
    double c = max_norm / (norm + 1e-6);
    for (auto& kv : grads) scale_in_place(kv.second, c);
  }
  return norm;
}

// decay·set + (1−decay)·live = set + (1−decay)·(live − set).
void ema_update(ParamStore& store, const std::string& set, double decay) { average_towards_live(store, set, 1.0 - decay); }

void swa_update(ParamStore& store, const std::string& set, int64_t count) {
  if (count < 0) throw std::invalid_argument("swa_update: count must be >= 0, got " + std::to_string(count));
  average_towards_live(store, set, 1.0 / double(count + 1));
}

}  // namespace golf
