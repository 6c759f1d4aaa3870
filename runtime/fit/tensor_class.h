// The classes `golfrt fit --like` keeps statistics for: trained embeddings, attention projections
// and MLP matrices quantize to visibly different symbol distributions (the embedding's rows are
// sparse-gradient and heavy-tailed, MLP rows the most Gaussian), so a new shape borrows the
// statistics of its own class. The class comes from the parameter's name alone, which every
// script builds through golf.nn's hierarchical names ("blocks.3.attn.q.weight").
#pragma once
#include <string>

namespace golf::fit {

enum class TensorClass { embedding, attention, mlp, other };
constexpr int kTensorClassCount = 4;

// First match wins, by name component: "emb"/"embed"/"wte"/"lm_head"/"head" anywhere → embedding;
// "attn"/"attention" or a q/k/v/qkv/o component → attention; "mlp"/"ffn"/"fc" → mlp; else other.
TensorClass tensor_class(const std::string& param_name);
const char* tensor_class_name(TensorClass c);

}  // namespace golf::fit
