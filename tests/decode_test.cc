// Decoding from an artifact alone: the model rebuilds from the artifact's own script in the
// sandbox with the dequantized weights; an artifact whose script tries to escape is refused.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/support/errors.h"
#include "dsl/artifact_model.h"
#include "runtime/decode/kv_decoder.h"
#include "runtime/fs.h"
#include "runtime/rng.h"

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

// Every parameter random (zero-initialized projections would hide whole attention paths).
void randomize(ParamStore& store, uint64_t seed) {
  Rng rng(seed);
  for (const ParamSpec& p : store.specs()) {
    Tensor& t = store.get(p.name);
    for (int64_t i = 0; i < t.numel(); i++) t.set(i, 0.3 * rng.normal());
  }
}

GraphFactory factory_of(ModelScript& s) {
  return [&s](const std::string& mode, int64_t b, int64_t t) -> std::unique_ptr<ModelGraph> { return s.build(mode, b, t); };
}

// The logits of 64 decode steps against the KV caches equal those of one full pass over the 64
// tokens, position by position (relative to the largest logit, 1e-5). With `shift`, the model
// also mixes each position with the previous one through token_shift, whose state the decode
// step carries.
void expect_kv_logits_equal_full(bool shift, bool bigram = false) {
  ModelScript s(std::string(GOLFRT_SOURCE_DIR) + "/tests/data/decode_model.lua",
                Overrides{"", {{"shift", shift ? "true" : "false"}, {"bigram", bigram ? "true" : "false"}}});
  const int64_t T = 64;
  auto full = s.build("eval", 1, T);
  full->store.initialize(3);
  randomize(full->store, 11);
  Rng rng(5);
  Tensor x({1, T}, DType::i32);
  for (int64_t i = 0; i < T; i++) x.set(i, double(rng.below(64)));
  Executor ex(full->graph, {full->logits});
  ex.bind_params(full->store);
  ex.bind("tokens", x);
  ex.bind("targets", x);
  ex.run();
  const Tensor& ref = ex.result(0);

  KvDecoder dec(factory_of(s), full->store, "live", T);
  // k and v for 3 blocks + the shared block's 2 uses, and the shift's and the bigram's states
  EXPECT_EQ(dec.cache_count(), 2u * 5u + (shift ? 1u : 0u) + (bigram ? 1u : 0u));
  double worst = 0, biggest = 0;
  for (int round = 0; round < 2; round++) {  // the second round checks that reset() forgets
    dec.reset();
    for (int64_t t = 0; t < T; t++) {
      const float* l = dec.step(int(x.get(t)));
      for (int64_t v = 0; v < dec.vocab(); v++) {
        worst = std::max(worst, std::fabs(double(l[v]) - ref.get(t * dec.vocab() + v)));
        biggest = std::max(biggest, std::fabs(ref.get(t * dec.vocab() + v)));
      }
    }
    EXPECT_EQ(dec.position(), T);
  }
  EXPECT_GT(biggest, 1.0);
  EXPECT_LE(worst, 1e-5 * biggest) << "worst " << worst << " of " << biggest;
  EXPECT_THROW(dec.step(0), std::out_of_range);  // the cache is full
}

TEST(Decode, kv_cache_logits_equal_full_recomputation_for_64_tokens) { expect_kv_logits_equal_full(false); }
TEST(Decode, token_shift_state_carries_across_decode_steps) { expect_kv_logits_equal_full(true); }
TEST(Decode, ngram_hash_state_carries_across_decode_steps) { expect_kv_logits_equal_full(true, true); }

TEST(Decode, a_model_that_mixes_positions_otherwise_refuses_incremental_decoding) {
  ModelScript s(std::string(GOLFRT_SOURCE_DIR) + "/tests/data/decode_model.lua",
                Overrides{"", {{"shift", "true"}, {"shift_by", "2"}}});
  auto full = s.build("eval", 1, 8);
  full->store.initialize(3);
  std::string err = error_of([&] { KvDecoder dec(factory_of(s), full->store, "live", 8); });
  EXPECT_NE(err.find(kNotIncremental), std::string::npos) << err;
  EXPECT_NE(err.find("decode_model.lua:"), std::string::npos) << err;  // names the line
}

// Messages that once named no value (issue 15): each must carry what it refused.
TEST(Decode, bad_sizes_are_refused_before_any_graph_is_built) {
  GraphFactory never = [](const std::string& mode, int64_t, int64_t) -> std::unique_ptr<ModelGraph> {
    ADD_FAILURE() << "built a '" << mode << "' graph for a refused size";
    return nullptr;
  };
  ParamStore store;
  std::string e = error_of([&] { KvDecoder d(never, store, "live", 0); });
  EXPECT_NE(e.find("the cache must hold at least one position, got a context of 0"), std::string::npos) << e;
  e = error_of([&] { WindowThinker w(never, store, "live", 2, -1); });
  EXPECT_NE(e.find("thinking step: batch and window must be positive, got batch 2 and window -1"), std::string::npos) << e;
}

}  // namespace
}  // namespace golf
