// Shape inference: one rule per op (named in runtime/ops.def). A rule checks its inputs, may
// normalize attributes (negative axes, a -1 in a reshape) and fills the node's output specs.
#pragma once
#include <vector>

#include "runtime/graph.h"

namespace golf {

void infer_shape(Node& n, const std::vector<const OutSpec*>& in);

// numpy broadcasting of two shapes; throws std::invalid_argument when incompatible
Shape broadcast_shapes(const Shape& a, const Shape& b);

}  // namespace golf
