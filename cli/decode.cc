// golfrt decode ARTIFACT: everything from the artifact alone (its script runs in the sandbox,
// its weights are dequantized) — score a data folder's validation split exactly as the challenge
// does, or generate text.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "cli/args.h"
#include "cli/decode_ttt.h"
#include "cli/generate.h"
#include "dsl/artifact_model.h"
#include "runtime/data/dataset.h"
#include "runtime/data/tokenizer.h"
#include "runtime/rng.h"
#include "runtime/train/combiner_fit.h"
#include "runtime/train/evaluate.h"

namespace golf::cli {

int cmd_decode(const std::vector<std::string>& argv) {
  std::vector<std::string> valued = {"data", "eval", "stride", "seq", "max-tokens", "batch", "generate", "tokens",
                                     "temperature", "top-k", "seed", "tokenizer", "chunk", "device", "check-causal",
                                     "script-seconds", "memory-budget"};
  valued.insert(valued.end(), kTttOptions.begin(), kTttOptions.end());
  Args a = parse_args(argv, valued, {"any-tokenizer", "no-cache"});
  if (a.positional.size() != 1) throw std::invalid_argument("usage: golfrt decode ARTIFACT [options] (golfrt decode --help)");
  check_ttt_flags(a);
  const Device device = parse_device(a);
  // The artifact is untrusted input (docs/artifact.md, "Limits on an untrusted file").
  ModelLimits limits;
  limits.script_seconds = real_option(a, "script-seconds", 30, 1e-3, 1e6);
  const double budget_gib = real_option(a, "memory-budget", 4, 1.0 / 1024, double(1 << 20));
  limits.memory_budget = size_t(budget_gib * double(size_t(1) << 30));
  LoadedModel m = load_model(a.positional[0], limits);
  if (a.options.count("generate")) return generate(m, a);

  std::string data_dir = a.get("data", "data/nlp-corpus-sp1024");
  DataDir data = open_data_dir(data_dir);
  std::string want = m.artifact.meta["tokenizer"].get("fingerprint", "");
  if (want.empty() && !a.options.count("any-tokenizer"))
    throw std::runtime_error(a.positional[0] + " does not say which tokenizer it was trained on (no tokenizer fingerprint "
                             "in its metadata), so its score on " + data_dir + " cannot be checked to mean anything "
                             "(--any-tokenizer scores it anyway)");
  if (!want.empty() && data.fingerprint != want && !a.options.count("any-tokenizer"))
    throw std::runtime_error(data_dir + " is tokenized with " + data.fingerprint + ", but the model was trained on " + want +
                             " (--any-tokenizer scores it anyway)");
  std::vector<uint16_t> val = load_all(data.val, data.vocab);
  int64_t max_tokens = int_option(a, "max-tokens", 0, 1);
  if (max_tokens > 0 && int64_t(val.size()) > max_tokens + 1) val.resize(size_t(max_tokens + 1));
  int64_t seq = int_option(a, "seq", m.seq_len, 1);
  int64_t batch = int_option(a, "batch", 8, 1);
  std::string mode = a.get("eval", "blocks");
  if (seq <= 0 || batch <= 0) throw std::invalid_argument("--seq and --batch must be positive");
  Evaluator ev(m.factory, seq, batch, DType::f32, device);
  // Scores from the script's logits with golfrt's cross-entropy (never the script's own loss),
  // refuses logits that read the targets, and plans within the memory budget.
  ev.set_untrusted(limits.memory_budget);
  // A sample of windows checks that no score depends on later tokens (0 turns it off).
  const int64_t causal_windows = int_option(a, "check-causal", 2, 0, 1 << 20);
  ev.check_causal(m.eval_model->store, "live", val, data.table.vocab, causal_windows);
  if (a.options.count("ttt")) {
    const std::string ttt = a.get("ttt", "");
    const auto t0 = std::chrono::steady_clock::now();
    EvalResult r = decode_with_ttt(m, a, ev, val, data.table, mode);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    require_scored(r, a.positional[0] + " on " + data_dir + " (" + mode + ", ttt " + ttt + ")");
    std::printf("%s on %s (%s, seq %lld, ttt %s): val_loss %.6f  val_bpb %.6f  (%lld targets, %.0f bytes, %.1f s)\n",
                a.positional[0].c_str(), data_dir.c_str(), mode.c_str(), (long long)seq, ttt.c_str(), r.loss(), r.bpb(),
                (long long)r.targets, r.bytes, secs);
    return 0;
  }
  // A model with a linear combiner (examples/combiner.lua) scores the last positions both ways:
  // the base (its prefill's loss) and the combined prediction (after the thinking step).
  if (mode == "last" && m.eval_model->store.has("combiner.M")) {
    const int64_t chunk = int_option(a, "chunk", 2048, 1);
    LastPositionScores s = score_last_combined(m.factory, m.eval_model->store, "live", val, data.table, seq, chunk, batch,
                                               0, DType::f32, device, limits.memory_budget);
    for (const auto& [what, r] : {std::pair<const char*, const EvalResult&>{"without combiner", s.base},
                                  std::pair<const char*, const EvalResult&>{"with combiner", s.combined}})
      require_scored(r, a.positional[0] + " on " + data_dir + " (last, " + what + ")");
    for (const auto& [what, r] : {std::pair<const char*, const EvalResult&>{"without combiner", s.base},
                                  std::pair<const char*, const EvalResult&>{"with combiner", s.combined}})
      std::printf("%s on %s (last, chunk %lld, seq %lld, %s): val_loss %.6f  val_bpb %.6f  (%lld targets, %.0f bytes)\n",
                  a.positional[0].c_str(), data_dir.c_str(), (long long)chunk, (long long)seq, what, r.loss(), r.bpb(),
                  (long long)r.targets, r.bytes);
    return 0;
  }
  EvalResult r;
  if (mode == "blocks") r = ev.run(m.eval_model->store, "live", val, data.table);
  else if (mode == "sliding") r = ev.run_sliding(m.eval_model->store, "live", val, data.table, int_option(a, "stride", 64, 1));
  else if (mode == "last") r = ev.run_last(m.eval_model->store, "live", val, data.table, int_option(a, "chunk", 2048, 1));
  else throw std::invalid_argument("--eval must be blocks, sliding or last, not '" + mode + "'");
  require_scored(r, a.positional[0] + " on " + data_dir + " (" + mode + ", seq " + std::to_string(seq) + ")");
  std::printf("%s on %s (%s, seq %lld): val_loss %.6f  val_bpb %.6f  (%lld targets, %.0f bytes)\n", a.positional[0].c_str(),
              data_dir.c_str(), mode.c_str(), (long long)seq, r.loss(), r.bpb(), (long long)r.targets, r.bytes);
  return 0;
}

}  // namespace golf::cli
