// The projected size of a whole artifact: the fixed header, the body's prefix (op set, metadata,
// Lua sources, tensor table) compressed exactly as written, and each tensor's projected share.
// Summing parts compressed alone loses the codec's matches between parts; for quantized weights
// those are few (docs/artifact.md measures the sum against whole-body compression).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/artifact/artifact.h"
#include "runtime/fit/tensor_projection.h"
#include "runtime/quant/lqer.h"

namespace golf::fit {

struct ArtifactPlan {
  OpSet op_set;
  Json meta;
  std::vector<std::pair<std::string, std::string>> sources;
  std::vector<TensorPlan> tensors;  // in the order the exporter writes them
  std::vector<LowRankCorrection> corrections;  // LQER's, as the exporter would write them
  int64_t params = 0;               // parameters (buffers excluded), for reports
};

// The quant table's LQER (runtime/quant/lqer.h) in a plan: which tensors it corrects depends on
// trained errors fit does not have, so it plans the corrections that cost the most bytes: the
// `top` integer matrices whose factors store the most (an upper bound; the factors are a few
// KB to a few tens of KB each). Appends the factors' plans and the corrections.
void plan_lqer(ArtifactPlan& p, const LqerSpec& spec, bool packed);

struct ArtifactProjection {
  int64_t bytes = 0;     // the projected file size with the chosen codec
  double error = 0;      // the stated sampling error, bytes (errors of cached, shared estimates add)
  artifact_format::Codec codec = artifact_format::Codec::none;
  int64_t sampled_tensors = 0;
  std::vector<std::string> sources;  // the distinct value sources used ("gaussian", "attention int6", ...)
  std::vector<double> tensor_bytes;  // each tensor's projected share, with the chosen codec
  double prefix_bytes = 0;           // header and compressed prefix, with the chosen codec
};

// The body up to the data section (its length and padding included), byte for byte as
// encode_artifact_body writes it for tensors of these shapes and encodings.
std::string body_prefix(const ArtifactPlan& p, bool shuffle, bool packed);

// `progress` is told (tensors done, tensors in all) after each tensor.
ArtifactProjection project_artifact(const ArtifactPlan& p, TensorProjector& projector,
                                    const std::function<void(size_t, size_t)>& progress = {});

}  // namespace golf::fit
