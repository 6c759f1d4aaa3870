// The CPU backend: maps one graph node onto the kernels of kernels/cpu/. It implements every op.
#pragma once
#include <vector>

#include "runtime/graph.h"

namespace golf {

// ins: the node's input tensors; outs: preallocated outputs (shapes from the node's specs). For
// effect ops, ins[0] is the bound target tensor, written in place.
void cpu_run_node(const Node& n, const std::vector<Tensor>& ins, std::vector<Tensor>& outs);

// True when cpu_run_node has a kernel for the op (every op: tests/op_table_test.cc checks it).
bool cpu_has_kernel(Op op);

}  // namespace golf
