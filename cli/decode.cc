// golfrt decode ARTIFACT: everything from the artifact alone (its script runs in the sandbox,
// its weights are dequantized) — score a data folder's validation split exactly as the challenge
// does, or generate text.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "cli/args.h"
#include "dsl/artifact_model.h"
#include "runtime/data/dataset.h"
#include "runtime/data/tokenizer.h"
#include "runtime/rng.h"
#include "runtime/train/evaluate.h"

namespace golf::cli {

namespace {

int generate(LoadedModel& m, const Args& a) {
  Tokenizer tok = a.options.count("tokenizer") ? Tokenizer::sentencepiece_file(a.get("tokenizer", ""))
                                                 : load_tokenizer(open_data_dir(a.get("data", "data/nlp-corpus-sp1024")));
  std::string want = m.artifact.meta["tokenizer"].get("fingerprint", "");
  if (!want.empty() && tok.fingerprint() != want)
    throw std::runtime_error("the tokenizer (" + tok.fingerprint() + ") is not the one the model was trained with (" + want + ")");
  const int64_t n_new = std::stoll(a.get("tokens", "64"));
  const double temperature = std::stod(a.get("temperature", "0.8"));
  const int64_t top_k = std::stoll(a.get("top-k", "40"));
  Rng rng(std::stoull(a.get("seed", "1")));

  std::vector<int> ids = {Tokenizer::kBos};
  for (int t : tok.encode(a.get("generate", ""))) ids.push_back(t);
  const int64_t L = m.seq_len;
  // No KV cache yet: each new token recomputes the window (up to seq_len tokens) in full; causal
  // attention makes the logits at the last filled position independent of the padding after it.
  auto model = m.factory("generate", 1, L);
  if (!model->logits.valid()) throw std::runtime_error("the model's build() returns no logits: it cannot generate");
  Executor ex(model->graph, {model->logits}, {DType::f32});
  ex.bind_params(m.eval_model->store);
  Tensor x({1, L}, DType::i32), y({1, L}, DType::i32);
  ex.bind("tokens", x);
  ex.bind("targets", y);
  const int64_t V = model->logits.dim(-1);
  std::vector<int> out;
  for (int64_t step = 0; step < n_new; step++) {
    int64_t start = std::max<int64_t>(0, int64_t(ids.size()) - L);
    int64_t len = int64_t(ids.size()) - start;
    x.fill(0);
    for (int64_t i = 0; i < len; i++) x.set(i, ids[size_t(start + i)]);
    ex.run();
    const Tensor& logits = ex.result(0);
    std::vector<std::pair<double, int>> cand;
    for (int64_t v = 0; v < V; v++) cand.push_back({logits.get((len - 1) * V + v), int(v)});
    std::sort(cand.begin(), cand.end(), [](auto& p, auto& q) { return p.first > q.first; });
    int next = cand[0].second;
    if (temperature > 0) {
      size_t k = top_k > 0 ? std::min<size_t>(size_t(top_k), cand.size()) : cand.size();
      std::vector<double> p(k);
      double z = 0;
      for (size_t i = 0; i < k; i++) z += p[i] = std::exp((cand[i].first - cand[0].first) / temperature);
      double u = rng.uniform() * z;
      for (size_t i = 0; i < k; i++) {
        if ((u -= p[i]) <= 0) {
          next = cand[i].second;
          break;
        }
      }
    }
    ids.push_back(next);
    out.push_back(next);
  }
  std::printf("%s%s\n", a.get("generate", "").c_str(), tok.decode(out).c_str());
  return 0;
}

}  // namespace

int cmd_decode(const std::vector<std::string>& argv) {
  Args a = parse_args(argv, {"data", "eval", "stride", "seq", "max-tokens", "batch", "generate", "tokens", "temperature",
                             "top-k", "seed", "tokenizer"},
                      {"any-tokenizer"});
  if (a.positional.size() != 1) throw std::invalid_argument("usage: golfrt decode ARTIFACT [options] (golfrt decode --help)");
  LoadedModel m = load_model(a.positional[0]);
  if (a.options.count("generate")) return generate(m, a);

  std::string data_dir = a.get("data", "data/nlp-corpus-sp1024");
  DataDir data = open_data_dir(data_dir);
  std::string want = m.artifact.meta["tokenizer"].get("fingerprint", "");
  if (!want.empty() && data.fingerprint != want && !a.options.count("any-tokenizer"))
    throw std::runtime_error(data_dir + " is tokenized with " + data.fingerprint + ", but the model was trained on " + want +
                             " (--any-tokenizer scores it anyway)");
  std::vector<uint16_t> val = load_all(data.val, data.vocab);
  int64_t max_tokens = std::stoll(a.get("max-tokens", "0"));
  if (max_tokens > 0 && int64_t(val.size()) > max_tokens + 1) val.resize(size_t(max_tokens + 1));
  int64_t seq = std::stoll(a.get("seq", std::to_string(m.seq_len)));
  int64_t batch = std::stoll(a.get("batch", "8"));
  std::string mode = a.get("eval", "blocks");
  Evaluator ev(m.factory, seq, batch, DType::f32);
  EvalResult r;
  if (mode == "blocks") r = ev.run(m.eval_model->store, "live", val, data.table);
  else if (mode == "sliding") r = ev.run_sliding(m.eval_model->store, "live", val, data.table, std::stoll(a.get("stride", "64")));
  else if (mode == "last") throw std::runtime_error("--eval last is not built yet (use blocks or sliding)");
  else throw std::invalid_argument("--eval must be blocks, sliding or last, not '" + mode + "'");
  std::printf("%s on %s (%s, seq %lld): val_loss %.6f  val_bpb %.6f  (%lld targets, %.0f bytes)\n", a.positional[0].c_str(),
              data_dir.c_str(), mode.c_str(), (long long)seq, r.loss(), r.bpb(), (long long)r.targets, r.bytes);
  return 0;
}

}  // namespace golf::cli
