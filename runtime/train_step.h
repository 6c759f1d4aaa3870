// The forward+backward graph of one micro-batch: the loss, then its gradients accumulated into
// one persistent buffer per parameter ("grad.<name>" inputs), so k micro-batches followed by one
// optimizer update is k runs of this graph and one run of the update graph.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/executor.h"

namespace golf {

class TrainStep {
 public:
  // `loss` must be a scalar of `g`; `loss_scale` multiplies the loss before differentiation
  // (1/micro_batches makes the accumulated gradient a mean). g must outlive the TrainStep.
  TrainStep(Graph& g, Var loss, ParamStore& store, ExecOptions opt = {}, double loss_scale = 1.0);

  void zero_grad();
  // Binds the named data inputs (token ids, ...) and runs; returns the unscaled loss.
  double run(const std::map<std::string, Tensor>& inputs);
  const std::map<std::string, Tensor>& grads() const { return grads_; }
  const Executor& executor() const { return *ex_; }
  Executor& executor() { return *ex_; }  // count-only callers run it themselves (no loss to read)

 private:
  ParamStore& store_;
  std::vector<std::string> names_;
  std::map<std::string, Tensor> grads_;
  std::unique_ptr<Executor> ex_;
};

}  // namespace golf
