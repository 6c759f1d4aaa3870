// Which real values an executor stores in bf16 (DESIGN §3's CUDA rule, issue 18 item 2): matmul
// operands and attention's Q, K, V and O are *stored* in bf16, so no kernel converts them per
// call; norm statistics, softmax, the loss, master weights and optimizer state stay fp32.
//
// The rule. A value is stored in bf16 iff
//   (a) it is real (not integer), not a leaf (parameters, data, optimizer state), and not a
//       requested output (results are fp32);
//   (b) its producer can write that output in bf16 (writes_bf16 below);
//   (c) every consumer accepts bf16 at that input (reads_bf16 below). A reshape planned as a view
//       is transparent: it shares its input's bytes and so its storage, and its consumers decide;
//   (d) at least one consumer (through views) is a matmul, attention or attention_backward: the
//       rule is for matmul operands and attention's tensors, not for whatever could be narrowed.
// Attention's q, k and v at one node are all bf16 or all fp32 (the kernel's contract,
// kernels/cuda/cuda_kernels.h): if one cannot be, none is, and that node then reads and writes
// nothing in bf16 (no y, dy, dq, dk, dv), so it takes its packing path with fp32 tensors. The
// forward's y and the backward's y input are one value. Repeated until nothing changes.
//
// Ops absent from the capability table keep every value they touch in fp32: a script with other
// ops runs as before. That is a storage choice (those values are not matmul or attention operands
// the rule names), not a fallback: every op still runs on its own kernel.
//
// Numerics: every bf16 RealOut is computed in fp32 and rounded once at the store; a bf16 input is
// widened exactly. Where every consumer is a matmul (which rounds its operands to bf16 anyway),
// storing in bf16 changes no result; what changes is the attention backward's fp32 reads of y and
// dy (its D = dO·O) and the CPU's matmul, which then multiplies bf16-valued operands.
#pragma once
#include <set>
#include <utility>
#include <vector>

#include "runtime/graph.h"

namespace golf {

struct PrecisionRule {
  bool matmul = true;     // false: fp32 matmuls (ExecOptions::matmul_fp32): no bf16 anywhere
  bool attention = true;  // false: the fp32 CUDA-core attention (attention_fp32): it accepts none
};

// The capability table (one switch on Op each): can `n` write output `out` in bf16, can it read
// input `in` in bf16. `ins`: its inputs' shapes (attention's head dim decides its direct path).
// The CUDA backend checks every call against the same table (runtime/cuda_backend.cc).
bool writes_bf16(const Node& n, int out, const std::vector<Shape>& ins, const PrecisionRule& rule);
bool reads_bf16(const Node& n, int in, const std::vector<Shape>& ins, const PrecisionRule& rule);

// Values as (node, out) pairs.
using ValueSet = std::set<std::pair<int, int>>;

// steps: the planned node ids in order; outputs: the requested outputs; view[node]: a reshape
// planned as a view of its input's bytes (sized g.size(); absent nodes false). Returns the values
// to store in bf16, views included (a view of a bf16 value is bf16).
ValueSet choose_bf16(const Graph& g, const std::vector<int>& steps, const std::vector<Value>& outputs,
                     const std::vector<bool>& view, const PrecisionRule& rule);

// Does attention node `n` (attention or attention_backward) read q, k, v stored in bf16 (the
// kernel's direct path, no pack)? From the chosen set.
bool attention_direct(const Node& n, const ValueSet& bf16);

}  // namespace golf
