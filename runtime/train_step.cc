#include "runtime/train_step.h"

#include "runtime/fuse_pass.h"

namespace golf {

TrainStep::TrainStep(Graph& g, Var loss, ParamStore& store, ExecOptions opt, double loss_scale)
    : store_(store), names_(g.param_names()) {
  const int first_backward = g.size();
  std::vector<Gradient> gs = backward(loss_scale == 1.0 ? loss : scale(loss, loss_scale), names_);
  // On a device the gradient buffers live there from the first step to the last (count-only:
  // they are marked resident, nothing is allocated).
  const bool counting = opt.device != Device::cpu && opt.count_only;
  for (const Gradient& gr : gs) {
    grads_[gr.name] = counting ? Tensor() : Tensor(store.spec(gr.name).shape, opt.real, opt.device);
    // A parameter the loss does not reach keeps a zero gradient (it is still a model weight).
    if (gr.grad.valid()) accumulate(input(g, "grad." + gr.name, store.spec(gr.name).shape), gr.grad);
  }
  // A fused graph (runtime/fuse_pass.h) folds its gradient sums into their producers now that
  // autograd has written them; node ids stay, so every Var above still names its value.
  fold_gradient_sums(g, first_backward, {loss.v}, g.gradient_folds());
  ex_ = std::make_unique<Executor>(g, std::vector<Var>{loss}, opt);
  if (counting) {
    // The trainer's picture: parameters and gradients resident (docs/cuda.md "Residency").
    for (const ParamSpec& p : store_.specs()) ex_->bind_resident(p.name);  // buffers too
    for (auto& [name, t] : grads_) ex_->bind_resident("grad." + name);
    return;
  }
  ex_->bind_params(store_);
  for (auto& [name, t] : grads_) ex_->bind("grad." + name, t);
}

void TrainStep::zero_grad() {
  for (auto& [name, t] : grads_)
    if (t.defined()) t.fill(0.0);
}

double TrainStep::run(const std::map<std::string, Tensor>& inputs) {
  for (const auto& [name, t] : inputs) ex_->bind(name, t);
  ex_->bind_params(store_);  // the update graph may have replaced nothing, but sets can change
  ex_->run();
  return ex_->result(0).get(0);
}

}  // namespace golf
