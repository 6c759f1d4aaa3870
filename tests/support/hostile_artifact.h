// Hostile artifacts for the tests of decode's refusals (issue 17): a real model (the baseline's
// tiny preset, random weights) exported by the real exporter, whose script, metadata or header a
// test then rewrites. write_artifact encodes the rewritten artifact afresh, so both checksums are
// right and the file gets past them to what it attacks.
#pragma once
#include <gtest/gtest.h>

#include <xxhash.h>

#include <cstring>
#include <memory>
#include <string>

#include "dsl/artifact_model.h"
#include "runtime/rng.h"

namespace golf::hostile {

struct RealModel {
  std::unique_ptr<ModelScript> script;
  std::unique_ptr<BuiltModel> model;
  Artifact artifact;
};

// An example script (examples/NAME.lua) at `o`, exported with random weights.
inline RealModel example_model(const std::string& name, const Overrides& o, const Json& tokenizer = Json::object()) {
  RealModel r;
  r.script = std::make_unique<ModelScript>(std::string(GOLFRT_SOURCE_DIR) + "/examples/" + name + ".lua", o);
  r.model = r.script->build("train", 1, 16);
  r.model->store.initialize(5);
  Rng rng(11);  // every weight random: zero-initialized projections would hide whole paths
  for (const ParamSpec& p : r.model->store.specs()) {
    Tensor& t = r.model->store.get(p.name);
    for (int64_t i = 0; i < t.numel(); i++) t.set(i, 0.3 * rng.normal());
  }
  ExportInfo info;
  info.script_name = name + ".lua";
  info.overrides = o;
  info.seq_len = 16;
  info.training = Json::object();
  info.tokenizer = tokenizer;
  r.artifact = export_model(*r.script, r.model->store, "live", info);
  return r;
}

// vocab: the baseline's tiny preset has 64; the CLI tests use byte-level data (260).
inline RealModel real_model(int vocab = 64, const Json& tokenizer = Json::object()) {
  return example_model("baseline", Overrides{"tiny", {{"vocab", std::to_string(vocab)}}}, tokenizer);
}

inline std::string& main_script(Artifact& a) {
  for (auto& [name, text] : a.sources)
    if (name == a.meta["script"].str()) return text;
  throw std::runtime_error("the artifact has no main script");
}

// The artifact with one piece of its script's text replaced (the piece must be there).
inline Artifact with_script_edit(Artifact a, const std::string& from, const std::string& to) {
  std::string& text = main_script(a);
  size_t at = text.find(from);
  if (at == std::string::npos) throw std::runtime_error("the script has no '" + from + "'");
  text.replace(at, from.size(), to);
  return a;
}

// The baseline's build() line that returns the loss and the logits.
inline const std::string kReturnLine = "return nn.cross_entropy(logits, g.targets, cfg.softcap), nn.softcap(logits, cfg.softcap)";
// The line that makes the blocks' input.
inline const std::string kInputLine = "local x0 = nn.rms_norm(m.tok_emb(g.tokens), cfg.norm_eps)";

inline std::string write(const Artifact& a, const std::string& name) {
  std::string path = ::testing::TempDir() + "hostile_" + name + ".bin";
  write_artifact(path, a);
  return path;
}

// After bytes of a written artifact were changed: both checksums recomputed (docs/artifact.md: the
// body's xxh64 at offset 32, the header's over bytes [0, 40) at offset 40).
inline void rehash(std::string& bytes) {
  uint64_t body = XXH64(bytes.data() + 48, bytes.size() - 48, 0);
  std::memcpy(&bytes[32], &body, 8);
  uint64_t header = XXH64(bytes.data(), 40, 0);
  std::memcpy(&bytes[40], &header, 8);
}

}  // namespace golf::hostile
