// Reverse-mode autograd over the graph: appends gradient nodes to the same graph.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "runtime/ops.h"

namespace golf {

struct Gradient {
  std::string name;  // parameter (or input) name
  Var grad;          // invalid when the loss does not depend on it
};

// Gradients of `loss` (a scalar, shape []) with respect to the named parameters (all the
// graph's parameters, in first-use order, when `wrt` is empty). Contributions from several uses
// of one value are summed in a fixed order (the reverse build order of their uses), so shared
// parameters get bit-identical gradients from run to run. Names may also be those of real
// `input` leaves, which then get gradients too.
std::vector<Gradient> backward(Var loss, std::vector<std::string> wrt = {});

// The same with an explicit seed gradient for a non-scalar output (dL/doutput = seed).
std::vector<Gradient> backward_seeded(Var output, Var seed, std::vector<std::string> wrt = {});

}  // namespace golf
