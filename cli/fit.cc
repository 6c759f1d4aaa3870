// golfrt fit SCRIPT --budget B --vary KEY: the largest value of a config key whose artifact is
// projected to fit the budget, without training.
//
// Projection: build the model at the candidate config, give every matrix Gaussian weights (the
// trained weights' per-row distribution is close to Gaussian; vectors and control tensors keep
// their initial values), run the real exporter (the script's quant table, the real codec) and
// count the bytes. docs/artifact.md records how far this lands from artifacts actually trained.
#include <cmath>
#include <cstdio>

#include "cli/args.h"
#include "dsl/artifact_model.h"
#include "runtime/rng.h"

namespace golf::cli {

namespace {

struct Projection {
  bool ok = false;
  int64_t bytes = 0, params = 0;
  std::string error;
};

Projection project(const std::string& path, Overrides o, const std::string& key, int64_t value, uint64_t seed) {
  Projection p;
  o.sets.push_back({key, std::to_string(value)});
  try {
    ModelScript script(path, o);
    int64_t seq = script.has_config("seq_len") ? int64_t(script.config_number("seq_len")) : 16;
    auto m = script.build("train", 1, seq);
    ParamStore& store = m->store;
    store.initialize(seed, DType::f32);
    Rng rng(seed);
    for (const ParamSpec& s : store.specs()) {
      if (s.shape.size() < 2 || s.is_buffer()) continue;
      Tensor& w = store.get(s.name);
      double std = 1.0 / std::sqrt(double(s.shape.back()));
      for (int64_t i = 0; i < w.numel(); i++) w.set(i, std * rng.normal());
    }
    ExportInfo info;
    info.script_name = path.substr(path.find_last_of('/') + 1);
    info.overrides = o;
    info.seq_len = seq;
    info.training = Json::object();
    info.tokenizer = Json::object();
    Artifact art = export_model(script, store, "live", info);
    Json quant = script.table_json("quant");
    ArtifactOptions ao;
    ao.codec = quant.get("codec", "auto");
    ao.shuffle = quant.get("shuffle", true);
    ao.packed = quant.get("packed", true);
    p.bytes = int64_t(encode_artifact(art, ao).size());
    p.params = store.count();
    p.ok = true;
  } catch (const std::exception& e) {
    p.error = e.what();
  }
  return p;
}

}  // namespace

int cmd_fit(const std::vector<std::string>& argv) {
  Args a = parse_args(argv, {"budget", "vary", "min", "max", "step", "seed", "margin"});
  if (a.positional.size() != 1 || !a.options.count("vary"))
    throw std::invalid_argument("usage: golfrt fit SCRIPT --vary KEY [--budget 16000000] [--min A --max B --step S]");
  const std::string& path = a.positional[0];
  const std::string key = a.get("vary", "");
  const int64_t budget = std::stoll(a.get("budget", "16000000"));
  const double margin = std::stod(a.get("margin", "0.05"));  // fit's worst measured error (docs/seeds.md)
  ModelScript base(path, a.overrides);
  int64_t current = int64_t(base.config_number(key));
  int64_t step = std::stoll(a.get("step", "1"));
  int64_t lo = std::stoll(a.get("min", std::to_string(step)));
  int64_t hi = std::stoll(a.get("max", std::to_string(4 * current)));
  uint64_t seed = std::stoull(a.get("seed", "1"));
  if (step <= 0 || lo > hi) throw std::invalid_argument("fit: need --step > 0 and --min <= --max");

  // Binary search over lo + k·step for the largest projection under the budget (sizes grow with
  // the key); candidates the script rejects (e.g. a dim not divisible by the heads) are reported.
  int64_t k_lo = 0, k_hi = (hi - lo) / step, best = -1;
  Projection best_p;
  while (k_lo <= k_hi) {
    int64_t k = (k_lo + k_hi) / 2, v = lo + k * step;
    Projection p = project(path, a.overrides, key, v, seed);
    if (!p.ok) {
      std::printf("  %s=%lld: %s\n", key.c_str(), (long long)v, p.error.c_str());
      throw std::runtime_error("fit: the script rejects " + key + "=" + std::to_string(v) + "; choose --step so every candidate is valid");
    }
    std::printf("  %s=%lld: %lld parameters, projected %lld bytes%s\n", key.c_str(), (long long)v, (long long)p.params,
                (long long)p.bytes, p.bytes <= budget ? "" : "  (over)");
    std::fflush(stdout);
    if (p.bytes <= budget) best = v, best_p = p, k_lo = k + 1;
    else k_hi = k - 1;
  }
  if (best < 0) {
    std::printf("no %s in [%lld, %lld] fits %lld bytes\n", key.c_str(), (long long)lo, (long long)hi, (long long)budget);
    return 1;
  }
  double low = double(best_p.bytes) * (1 - margin), high = double(best_p.bytes) * (1 + margin);
  std::printf("largest %s that fits %lld bytes: %lld (projected %lld bytes, %lld parameters; with the projection's "
              "measured error of ±%.0f%%: %.0f..%.0f bytes%s)\n",
              key.c_str(), (long long)budget, (long long)best, (long long)best_p.bytes, (long long)best_p.params,
              100 * margin, low, high, high > double(budget) ? " — may not fit: consider one step less" : "");
  return 0;
}

}  // namespace golf::cli
