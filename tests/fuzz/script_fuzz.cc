// libFuzzer target for what an artifact's script can make golfrt do (issue 17): the input is the
// text of the model script, put into a real artifact (the baseline's tiny preset, exported by the
// real exporter) in place of its own; the artifact is then loaded and scored as `golfrt decode`
// does, under a 2-second deadline per call into the script and a 256 MiB allocation budget.
//
// A clean refusal is any std::exception (a ScriptError, a shape error, a budget refusal); a crash,
// a sanitizer report, an input running past -timeout or an allocation past -malloc_limit_mb is a
// finding. The seeds (tests/fuzz/script_seeds/) are the baseline itself and the hostile scripts
// of tests/untrusted_test.cc.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "dsl/artifact_model.h"
#include "runtime/rng.h"
#include "runtime/train/evaluate.h"

namespace {

using namespace golf;

struct Base {
  Artifact artifact;
  std::string script_name;
  std::vector<uint16_t> tokens;
  ByteTable table;
};

const Base& base() {
  static const Base b = [] {
    Base r;
    Overrides o{"tiny", {}};
    ModelScript script(std::string(GOLFRT_SOURCE_DIR) + "/examples/baseline.lua", o);
    auto m = script.build("train", 1, 16);
    m->store.initialize(5);
    ExportInfo info;
    info.script_name = "baseline.lua";
    info.overrides = o;
    info.seq_len = 16;
    info.training = Json::object();
    info.tokenizer = Json::object();
    r.artifact = export_model(script, m->store, "live", info);
    r.script_name = "baseline.lua";
    Rng rng(1);
    for (int i = 0; i < 16 * 4 + 1; i++) r.tokens.push_back(uint16_t(rng.below(64)));
    r.table.vocab = 64;
    r.table.base_bytes.assign(64, 1);
    r.table.has_leading_space.assign(64, 0);
    r.table.is_boundary.assign(64, 0);
    return r;
  }();
  return b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Base& b = base();
  Artifact a = b.artifact;
  for (auto& [name, text] : a.sources)
    if (name == b.script_name) text.assign(reinterpret_cast<const char*>(data), size);
  ModelLimits limits;
  limits.script_seconds = 2;
  limits.memory_budget = size_t(256) << 20;
  try {
    LoadedModel m = load_model(std::move(a), "fuzz", limits);
    Evaluator ev(m.factory, m.seq_len, 2, DType::f32);
    ev.set_untrusted(limits.memory_budget);
    ev.check_causal(m.eval_model->store, "live", b.tokens, 64, 1);
    EvalResult r = ev.run(m.eval_model->store, "live", b.tokens, b.table);
    require_scored(r, "fuzz");
  } catch (const std::exception&) {
  }
  return 0;
}
