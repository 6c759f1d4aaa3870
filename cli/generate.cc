// Generation. The next token's logits come from the KV-cached decode graph (one position's work
// per token), or, for a model that cannot decode incrementally (it says so when its decode graph
// is built) and with --no-cache, from the whole window recomputed for every token. Which one runs
// is printed on stderr: a fallback is never silent.
#include "cli/generate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "runtime/data/caseops.h"
#include "runtime/data/dataset.h"
#include "runtime/data/tokenizer.h"
#include "runtime/decode/kv_decoder.h"
#include "runtime/rng.h"

namespace golf::cli {

namespace {

class LogitSource {
 public:
  virtual ~LogitSource() = default;
  // Logits predicting the token after ids (ids is only ever extended between calls).
  virtual const float* next(const std::vector<int>& ids) = 0;
  virtual int64_t vocab() const = 0;
};

// Feeds only the tokens it has not seen. When the cache is full it restarts on the last half of
// the window (RoPE positions are absolute, so the cache cannot slide row by row).
class CachedSource : public LogitSource {
 public:
  CachedSource(LoadedModel& m, int64_t context, Device device)
      : dec_(m.factory, m.eval_model->store, "live", context, DType::f32, device) {}
  const float* next(const std::vector<int>& ids) override {
    if (int64_t(ids.size()) - start_ > dec_.context()) {
      start_ = int64_t(ids.size()) - std::max<int64_t>(1, dec_.context() / 2);
      dec_.reset();
      fed_ = start_;
    }
    const float* logits = nullptr;
    for (; fed_ < int64_t(ids.size()); fed_++) logits = dec_.step(ids[size_t(fed_)]);
    return logits;
  }
  int64_t vocab() const override { return dec_.vocab(); }

 private:
  KvDecoder dec_;
  int64_t start_ = 0, fed_ = 0;
};

// The window's last `context` tokens through the full graph, every time; causal attention makes
// the logits at the last filled position independent of the padding after it.
class RecomputeSource : public LogitSource {
 public:
  RecomputeSource(LoadedModel& m, int64_t context, Device device) : L_(context) {
    model_ = m.factory("generate", 1, L_);
    if (!model_->logits.valid()) throw std::runtime_error("the model's build() returns no logits: it cannot generate");
    ex_ = std::make_unique<Executor>(model_->graph, std::vector<Var>{model_->logits}, ExecOptions{DType::f32, true, device});
    ex_->bind_params(m.eval_model->store);
    x_ = Tensor({1, L_}, DType::i32);
    ex_->bind("tokens", x_);
    ex_->bind("targets", Tensor({1, L_}, DType::i32));
    V_ = model_->logits.dim(-1);
    row_.resize(size_t(V_));
  }
  const float* next(const std::vector<int>& ids) override {
    int64_t start = std::max<int64_t>(0, int64_t(ids.size()) - L_);
    int64_t len = int64_t(ids.size()) - start;
    x_.fill(0);
    for (int64_t i = 0; i < len; i++) x_.set(i, ids[size_t(start + i)]);
    ex_->run();
    const Tensor& logits = ex_->result(0);
    for (int64_t v = 0; v < V_; v++) row_[size_t(v)] = float(logits.get((len - 1) * V_ + v));
    return row_.data();
  }
  int64_t vocab() const override { return V_; }

 private:
  int64_t L_, V_ = 0;
  std::unique_ptr<ModelGraph> model_;
  std::unique_ptr<Executor> ex_;
  Tensor x_;
  std::vector<float> row_;
};

int sample(const float* logits, int64_t V, double temperature, int64_t top_k, Rng& rng) {
  std::vector<std::pair<double, int>> cand;
  for (int64_t v = 0; v < V; v++) cand.push_back({logits[v], int(v)});
  std::sort(cand.begin(), cand.end(), [](auto& p, auto& q) { return p.first > q.first; });
  if (temperature <= 0) return cand[0].second;
  size_t k = top_k > 0 ? std::min<size_t>(size_t(top_k), cand.size()) : cand.size();
  std::vector<double> p(k);
  double z = 0;
  for (size_t i = 0; i < k; i++) z += p[i] = std::exp((cand[i].first - cand[0].first) / temperature);
  double u = rng.uniform() * z;
  for (size_t i = 0; i < k; i++)
    if ((u -= p[i]) <= 0) return cand[i].second;
  return cand[0].second;
}

}  // namespace

int generate(LoadedModel& m, const Args& a) {
  // The artifact's fingerprint says which tokenizer, and whether its text was CaseOps text: then
  // the prompt is encoded and the output decoded, so that both read as plain text.
  const std::string want = m.artifact.meta["tokenizer"].get("fingerprint", "");
  const bool caseops = split_fingerprint(want, a.positional[0]).text_transform == kCaseOpsName;
  std::string have;
  const Tokenizer tok = [&] {
    if (a.options.count("tokenizer")) {
      Tokenizer t = Tokenizer::sentencepiece_file(a.get("tokenizer", ""));
      have = t.fingerprint() + (caseops ? std::string("+") + kCaseOpsName : "");  // a .model cannot say
      return t;
    }
    const DataDir data = open_data_dir(a.get("data", "data/nlp-corpus-sp1024"));
    have = data.fingerprint;
    return load_tokenizer(data);
  }();
  if (!want.empty() && have != want)
    throw std::runtime_error("the tokenizer (" + have + ") is not the one the model was trained with (" + want + ")");
  const int64_t n_new = int_option(a, "tokens", 64, 0);
  const double temperature = real_option(a, "temperature", 0.8, 0, INFINITY);
  const int64_t top_k = int_option(a, "top-k", 40, 0);
  const int64_t context = int_option(a, "seq", m.seq_len, 1);
  Rng rng(uint64_t(int_option(a, "seed", 1, 0)));
  const Device device = parse_device(a);

  std::unique_ptr<LogitSource> src;
  if (a.options.count("no-cache")) {
    std::fprintf(stderr, "golfrt decode: --no-cache: recomputing the window for every token\n");
  } else {
    try {
      src = std::make_unique<CachedSource>(m, context, device);
    } catch (const std::exception& e) {
      if (!std::strstr(e.what(), kNotIncremental)) throw;
      std::fprintf(stderr, "golfrt decode: %s\ngolfrt decode: generating by full recomputation instead\n", e.what());
    }
  }
  if (!src) src = std::make_unique<RecomputeSource>(m, context, device);

  std::vector<int> ids = {Tokenizer::kBos};
  const std::string prompt = a.get("generate", "");
  for (int t : tok.encode(caseops ? caseops_encode(prompt) : prompt)) ids.push_back(t);
  for (int64_t step = 0; step < n_new; step++) ids.push_back(sample(src->next(ids), src->vocab(), temperature, top_k, rng));
  // The whole sequence decoded at once: decoding the continuation alone would drop the space its
  // first piece ("▁word") stands for.
  std::vector<int> ids_out(ids.begin() + 1, ids.end());
  std::string text = tok.decode(ids_out);
  if (caseops) {
    int64_t repaired = 0;
    text = caseops_decode_lenient(text, repaired);
    if (repaired > 0)
      std::fprintf(stderr,
                   "golfrt decode: the generated CaseOps text has %lld place(s) no encoding makes (a case marker "
                   "followed by no letter, or a capital): the markers are dropped, the capitals kept\n",
                   (long long)repaired);
  }
  std::printf("%s\n", text.c_str());
  return 0;
}

}  // namespace golf::cli
