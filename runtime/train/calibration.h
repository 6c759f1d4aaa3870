// GPTQ calibration (PARAMETER_GOLF.md: inside the training time, on training data): the Hessians
// XᵀX of every 2-D parameter's matmul uses over micro-batches taken from a token stream. Shared by
// the trainer (after its last step, on the batches that follow) and `golfrt import` (a PyTorch
// model's weights, on the data folder's train split).
#pragma once
#include <map>
#include <string>

#include "runtime/data/dataset.h"
#include "runtime/model_graph.h"

namespace golf {

// `batches` micro-batches of [micro, seq] tokens (and their next tokens as targets) from `stream`,
// forwarded through a graph the factory builds in mode "calibrate" with `store`'s set `set`.
std::map<std::string, Tensor> calibration_hessians(const GraphFactory& factory, ParamStore& store, const std::string& set,
                                                   TokenStream& stream, int64_t batches, int64_t micro, int64_t seq,
                                                   DType real);

}  // namespace golf
