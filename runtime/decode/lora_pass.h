// Test-time LoRA adapters as a graph pass (docs/decoding.md, "Test-time training"): a copy of a
// built model's graph in which every linear use of the chosen weights (found as GPTQ finds its
// matmuls, runtime/quant/linear_uses.h) gets a low-rank correction per batch row,
//   y_b = x_b·Wᵀ + (x_b·A_bᵀ)·B_bᵀ,   A "lora.<W>.A" [B, r, in],  B "lora.<W>.B" [B, out, r],
// so each row (one document) carries its own adapter. Nothing in the script or the artifact has
// to know: an artifact written before adapters existed gets them too.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "runtime/model_graph.h"

namespace golf {

struct LoraGraph {
  std::unique_ptr<ModelGraph> model;  // the copy, with its store declaring the adapters too
  std::vector<std::string> weights;   // the weights that got adapters, in `params` order
  std::vector<std::string> a, b;      // their adapters' names, parallel to `weights`
  int64_t uses = 0;                   // matmuls corrected (a shared weight counts each use)
};

// `m` is a full-sequence graph whose "tokens" input is [B, T]; each linear use's left operand must
// hold B·(rows) rows in batch-major order (true of [B, T, in] and of [B·T, in]). A use with a
// transposed left operand, or whose size is not a whole number of B rows of `in`, is not adapted
// (`uses` counts the ones that are). Throws when no weight of `params` has a linear use.
LoraGraph attach_lora(const ModelGraph& m, const std::vector<std::string>& params, int64_t rank);

}  // namespace golf
