#include "runtime/optim_adamw.h"

#include <cmath>

namespace golf {

void build_adamw_update(Graph& g, const ParamStore& store, const std::vector<std::string>& names, const AdamWConfig& c) {
  Var lr = input(g, "lr", {});
  Var bias1 = input(g, "bias1", {});
  Var bias2 = input(g, "bias2", {});
  for (const std::string& name : names) {
    const Shape& s = store.spec(name).shape;
    Var p = input(g, name, s);
    Var grad = input(g, "grad." + name, s);
    Var m = input(g, "adam_m." + name, s);
    Var v = input(g, "adam_v." + name, s);
    Var m_new = scale(m, c.beta1) + scale(grad, 1.0 - c.beta1);
    Var v_new = scale(v, c.beta2) + scale(square(grad), 1.0 - c.beta2);
    Var denom = add_scalar(sqrt(v_new / bias2), c.eps);
    Var update = (m_new / bias1) / denom;
    if (c.weight_decay != 0.0) update = update + scale(p, c.weight_decay);  // decoupled: scaled by lr below
    Var p_new = p - lr * update;
    assign(m, m_new);
    assign(v, v_new);
    assign(p, p_new);
  }
}

AdamW::AdamW(ParamStore& store, std::vector<std::string> names, AdamWConfig cfg, DType real)
    : store_(store), names_(std::move(names)), cfg_(cfg) {
  build_adamw_update(g_, store_, names_, cfg_);
  ex_ = std::make_unique<Executor>(g_, std::vector<Var>{}, ExecOptions{real, true, Device::cpu});
  lr_ = Tensor({}, real);
  bias1_ = Tensor({}, real);
  bias2_ = Tensor({}, real);
  ex_->bind("lr", lr_);
  ex_->bind("bias1", bias1_);
  ex_->bind("bias2", bias2_);
  for (const std::string& n : names_) {
    const Shape& s = store_.spec(n).shape;
    m_[n] = Tensor(s, real);
    v_[n] = Tensor(s, real);
    ex_->bind("adam_m." + n, m_[n]);
    ex_->bind("adam_v." + n, v_[n]);
  }
}

void AdamW::step(const std::map<std::string, Tensor>& grads, double lr) {
  t_++;
  lr_.set(0, lr);
  bias1_.set(0, 1.0 - std::pow(cfg_.beta1, double(t_)));
  bias2_.set(0, 1.0 - std::pow(cfg_.beta2, double(t_)));
  for (const std::string& n : names_) {
    auto it = grads.find(n);
    if (it == grads.end()) throw std::invalid_argument("AdamW: no gradient for '" + n + "'");
    ex_->bind(n, store_.get(n));
    ex_->bind("grad." + n, it->second);
  }
  ex_->run();
}

const Tensor& AdamW::moment(const std::string& which, const std::string& name) const {
  return (which == "m" ? m_ : v_).at(name);
}

}  // namespace golf
