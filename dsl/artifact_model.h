// Between a trained model and its artifact: quantize the weights by the script's quant table
// (GPTQ where Hessians were collected), bundle the script and the Lua modules it used, and the
// way back — rebuild the model from the artifact alone (its own script, in the sandbox) with the
// dequantized weights.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "dsl/script.h"
#include "runtime/data/dataset.h"
#include "runtime/artifact/artifact.h"

namespace golf {

struct ExportInfo {
  std::string script_name;  // as the artifact names the script ("baseline.lua")
  Overrides overrides;      // re-applied when the artifact is decoded
  Json training;            // summary: steps, seconds, tokens, val_bpb before quantization
  Json tokenizer;           // { kind, fingerprint }: tokenizer_record()
  int64_t seq_len = 0;
  // Every real tensor stored as fp32, the quant table (and GPTQ) bypassed: `golfrt import --fp32`,
  // an artifact that scores exactly the weights it was given (meta.unquantized = true).
  bool unquantized = false;
};

Artifact export_model(ModelScript& script, const ParamStore& store, const std::string& set, const ExportInfo& info,
                      const std::map<std::string, Tensor>& hessians = {});

// The artifact writer's settings from the script's quant table (codec, shuffle, packed).
ArtifactOptions artifact_options(const Json& quant);
// The tokenizer the model was trained on, as an artifact records it ({ kind, fingerprint }):
// decode refuses data tokenized otherwise.
Json tokenizer_record(const DataDir& data);

// What decoding an artifact someone else made may cost (docs/artifact.md, "Limits on an untrusted
// file"). The file itself is bounded by the reader; these bound what its script makes happen.
struct ModelLimits {
  double script_seconds = 30;                     // wall clock per call into the script
  size_t memory_budget = size_t(4) << 30;         // per graph plan, and per value or unstored buffer
};

struct LoadedModel {
  Artifact artifact;
  std::unique_ptr<ModelScript> script;
  std::unique_ptr<ModelGraph> eval_model;  // holds the store with the dequantized weights (set "live")
  int64_t seq_len = 0;
  GraphFactory factory;
};

// Refuses, before allocating them, parameters or stored buffers the artifact does not hold with
// the same shape, and an op set that is not a prefix of this golfrt's (op_set_error in
// runtime/artifact/op_set.h).
LoadedModel load_model(const std::string& artifact_path, const ModelLimits& limits = {});
// The same for an artifact already read (`name` appears in messages): the script fuzzer's way in.
LoadedModel load_model(Artifact artifact, const std::string& name, const ModelLimits& limits = {});

}  // namespace golf
