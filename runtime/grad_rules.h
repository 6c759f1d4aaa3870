// Gradient rules: one per op (named in runtime/ops.def), each written in other ops, as ggml's
// compute_backward and tinygrad's rule table. Given the node's output gradients (an invalid Var
// where an output received none), a rule fills one gradient per input (invalid: none).
#pragma once
#include <vector>

#include "runtime/ops.h"

namespace golf {

void apply_grad_rule(Graph& g, int node, const std::vector<Var>& gouts, std::vector<Var>& gins);

}  // namespace golf
