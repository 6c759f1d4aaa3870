// The matmul uses of named weights as linear layers, y = x·Wᵀ with W [out, in]: how GPTQ finds the
// inputs whose XᵀX it accumulates (runtime/quant/hessian_pass.h) and where test-time LoRA adapters
// attach (runtime/decode/lora_pass.h).
//
// A use is a matmul whose right operand is the parameter W, possibly through reshape nodes that
// keep the last dimension `in`, 2-D transposes and fake_quant (a QAT graph), such that the
// contraction runs over W's columns: matmul(x, W, _, trans_b = true), or matmul(x, transpose(W))
// with trans_b = false. The left operand may be batched ([..., M, in], or [..., in, M] with
// trans_a). Not uses: a weight that is never such a right operand (an embedding table only
// gathered, a parameter that feeds a matmul as the left operand or through other ops, a matmul with
// a batched right operand). Weights that are generated or computed (spectral bases, hypernetwork
// outputs) are not parameters used directly, so they are never found.
#pragma once
#include <string>
#include <vector>

#include "runtime/graph.h"

namespace golf {

struct LinearUse {
  int matmul = -1;    // the node
  int target = -1;    // index into the target list find_linear_uses returns
  Value x;            // the matmul's left operand
  bool trans_a = false;
};

struct LinearUses {
  std::vector<std::string> targets;  // the 2-D, non-buffer parameters of `params` in this graph, deduplicated
  std::vector<int64_t> in, out;      // each target's W [out, in]
  std::vector<LinearUse> uses;       // in graph order
};

LinearUses find_linear_uses(const Graph& g, const std::vector<std::string>& params);

}  // namespace golf
