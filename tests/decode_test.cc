// Decoding from an artifact alone: the model rebuilds from the artifact's own script in the
// sandbox with the dequantized weights; an artifact whose script tries to escape is refused.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/support/errors.h"
#include "dsl/artifact_model.h"
#include "runtime/fs.h"

namespace golf {
namespace {

// A real model exported with the real exporter, then its script replaced.
Artifact tiny_artifact(ParamStore*& weights_out, std::unique_ptr<ModelScript>& script, std::unique_ptr<BuiltModel>& m) {
  script = std::make_unique<ModelScript>(std::string(GOLFRT_SOURCE_DIR) + "/examples/baseline.lua", Overrides{"tiny", {}});
  m = script->build("train", 1, 16);
  m->store.initialize(5);
  weights_out = &m->store;
  ExportInfo info;
  info.script_name = "baseline.lua";
  info.overrides = {"tiny", {}};
  info.seq_len = 16;
  info.training = Json::object();
  info.tokenizer = Json::object();
  return export_model(*script, m->store, "live", info);
}

TEST(Decode, artifact_rebuilds_the_model_with_its_weights) {
  ParamStore* w = nullptr;
  std::unique_ptr<ModelScript> script;
  std::unique_ptr<BuiltModel> m;
  Artifact a = tiny_artifact(w, script, m);
  std::string path = ::testing::TempDir() + "tiny_artifact.bin";
  write_artifact(path, a);
  LoadedModel lm = load_model(path);
  EXPECT_EQ(lm.seq_len, 16);
  EXPECT_EQ(lm.eval_model->store.count(), w->count());
  // Float-kept tensors come back exactly; quantized ones within half a step of their row scale.
  const Tensor& gain = lm.eval_model->store.get("blocks.0.attn.q_gain");
  for (int64_t i = 0; i < gain.numel(); i++) EXPECT_EQ(gain.get(i), w->get("blocks.0.attn.q_gain").get(i));
  const Tensor& emb = lm.eval_model->store.get("tok_emb.weight");
  double worst = 0, biggest = 0;
  for (int64_t i = 0; i < emb.numel(); i++) {
    worst = std::max(worst, std::fabs(emb.get(i) - w->get("tok_emb.weight").get(i)));
    biggest = std::max(biggest, std::fabs(w->get("tok_emb.weight").get(i)));
  }
  EXPECT_GT(worst, 0.0);               // it was quantized
  EXPECT_LT(worst, biggest / 127.0);   // by int8 per-row steps
}

TEST(Decode, artifact_with_an_escaping_script_is_refused) {
  ParamStore* w = nullptr;
  std::unique_ptr<ModelScript> script;
  std::unique_ptr<BuiltModel> m;
  Artifact a = tiny_artifact(w, script, m);
  const std::vector<std::pair<std::string, std::string>> evil = {
      {"return io.open('/etc/passwd'):read('a')", "global 'io'"},
      {"os.execute('touch /tmp/golfrt_pwned')", "global 'os'"},
      {"return require('os')", "module 'os' not found"},
      {"return load(string.char(27) .. 'LuaT')()", "attempt to call a nil value"},
  };
  for (const auto& [code, why] : evil) {
    Artifact bad = a;
    for (auto& [name, text] : bad.sources)
      if (name == "baseline.lua") text = code;
    std::string path = ::testing::TempDir() + "evil_artifact.bin";
    write_artifact(path, bad);
    std::string e = error_of([&] { load_model(path); });
    EXPECT_NE(e.find(why), std::string::npos) << code << " -> " << e;
  }
  EXPECT_FALSE(file_exists("/tmp/golfrt_pwned"));
}

}  // namespace
}  // namespace golf
