// GPTQ calibration as a graph pass (DESIGN.md §11): for each named weight, find every matmul that
// uses it as a linear layer, y = x·Wᵀ with W [out, in], and accumulate XᵀX of that use's input
// into a persistent "hessian.<name>" [in, in] buffer. A weight used several times (shared blocks,
// a tied embedding head) sums XᵀX over its uses, which is the Hessian of Σ‖X_u·Wᵀ − X_u·Ŵᵀ‖².
//
// The uses are those of runtime/quant/linear_uses.h.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runtime/model_graph.h"

namespace golf {

// Appends accumulate(input("hessian.<name>", [in, in]), matmul(X, X, true, false)) per use, in
// graph order. Returns the names that got at least one accumulator, in the order of `params`; a
// name that is not a 2-D parameter of this graph is skipped like any other non-target.
std::vector<std::string> add_hessian_accumulators(Graph& g, const std::vector<std::string>& params);

// Adds the accumulators to model.graph (a freshly built graph that will not be used for anything
// else), runs the forward pass over each (tokens, targets) batch with `weights`' set `set` (weights
// of another float type are converted to `real`), and returns the Hessians in f64, summed over all
// batches (each batch is accumulated in `real` and added to the f64 total on the host, so long
// calibrations do not lose precision in f32). Only the weights in the returned map got Hessians.
// When `mean_loss` is given, the loss is computed too and its mean over batches stored there.
std::map<std::string, Tensor> collect_hessians(ModelGraph& model, ParamStore& weights, const std::string& set,
                                               const std::vector<std::pair<Tensor, Tensor>>& batches,
                                               const std::vector<std::string>& params, DType real = DType::f32,
                                               double* mean_loss = nullptr);

}  // namespace golf
