#include "runtime/train/distill.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace golf {

Distiller::Distiller(const GraphFactory& factory, ParamStore& store, const Phase& ph, int64_t micro, int64_t seq,
                     int64_t accum, DType real, Device device, RealStorage storage)
    : real_(real), device_(device), temperature_(ph.temperature) {
  ExecOptions exec{real, true, device};
  exec.storage = storage;  // the run's (TrainerOptions::storage)
  if (!store.has_set("teacher")) {
    if (ph.teacher == "ema" && !store.has_set("ema"))
      throw std::invalid_argument("phase '" + ph.name + "' distills from the EMA weights, but train.ema is not set");
    store.copy_set(ph.teacher, "teacher");
  }
  student_ = factory("distill", micro, seq);
  teacher_ = factory("eval", micro, seq);
  if (!student_->logits.valid() || !teacher_->logits.valid())
    throw std::invalid_argument("phase '" + ph.name + "' distills, but build() returns no logits");
  Graph& g = student_->graph;
  const int64_t V = student_->logits.dim(-1);
  Var logits = reshape(student_->logits, {-1, V});
  Var probs = input(g, "teacher_probs", logits.shape());
  Var kd = mean_all(soft_cross_entropy(scale(logits, 1.0 / ph.temperature), probs));
  Var loss = scale(kd, ph.alpha * ph.temperature * ph.temperature) + scale(mean_all(student_->loss), 1.0 - ph.alpha);
  step_ = std::make_unique<TrainStep>(g, loss, store, exec, 1.0 / double(accum));
  if (device == Device::cpu) {
    teacher_exec_ = std::make_unique<Executor>(teacher_->graph, std::vector<Var>{reshape(teacher_->logits, {-1, V})},
                                               exec);
  } else {
    // Off the host (docs/cuda.md "Residency"): the second output of soft_cross_entropy_backward
    // with dloss = 1 is −log softmax(z) (its probs input scales only the first output), so
    // q = exp(−that) is written into a device buffer the student's graph reads in place, and
    // the rows' mean entropy Σ q·(−log q) comes down as one scalar instead of the logits. In f32
    // on the device where the host computes in double.
    Graph& tg = teacher_->graph;
    Var z = scale(reshape(teacher_->logits, {-1, V}), 1.0 / ph.temperature);
    const int64_t n = z.dim(0);
    Var d = make_op(attrs::soft_cross_entropy_backward{}, {z, full(tg, {n, V}, 0.0), full(tg, {n}, 1.0)});
    Var neg_log_q = output(d, 1);
    Var q = exp(neg(neg_log_q));
    assign(input(tg, "teacher_probs_out", {n, V}), q);
    Var entropy = mean_all(sum(q * neg_log_q, {1}));
    teacher_exec_ = std::make_unique<Executor>(tg, std::vector<Var>{entropy}, exec);
    probs_ = Tensor({n, V}, real, device);
    teacher_exec_->bind("teacher_probs_out", probs_);
  }
  teacher_exec_->bind_params(store, "teacher");
}

Tensor Distiller::teacher_probs(const Tensor& x, double temperature, double* entropy) {
  teacher_exec_->bind("tokens", x);
  teacher_exec_->run();
  if (device_ != Device::cpu) {
    if (temperature != temperature_)
      throw std::invalid_argument("distillation: the device graph was built for temperature " + std::to_string(temperature_) +
                                  ", asked for " + std::to_string(temperature));
    *entropy += teacher_exec_->result(0).get(0);
    return probs_;  // device-resident, filled by the run
  }
  const Tensor& l = teacher_exec_->result(0);
  const int64_t n = l.dim(0), v = l.dim(1);
  Tensor p({n, v}, real_);
  std::vector<double> e(static_cast<size_t>(v));
  for (int64_t i = 0; i < n; i++) {
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < v; j++) m = std::max(m, l.get(i * v + j) / temperature);
    for (int64_t j = 0; j < v; j++) s += e[size_t(j)] = std::exp(l.get(i * v + j) / temperature - m);
    double h = 0;
    for (int64_t j = 0; j < v; j++) {
      const double q = e[size_t(j)] / s;
      p.set(i * v + j, q);
      if (q > 0) h -= q * std::log(q);
    }
    *entropy += h / double(n);
  }
  return p;
}

}  // namespace golf
