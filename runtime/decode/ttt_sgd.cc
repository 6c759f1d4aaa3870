#include "runtime/decode/ttt_sgd.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "runtime/decode/ttt_report.h"

namespace golf {

SgdTrainer::SgdTrainer(const TttSettings& s, const GraphFactory& factory, ParamStore& store, int64_t seq)
    : s_(s), factory_(factory), store_(store), seq_(seq) {}

TrainStep& SgdTrainer::step_for(int64_t batch) {
  auto it = graphs_.find(batch);
  if (it != graphs_.end()) return *it->second.step;
  Compiled c;
  c.model = factory_("eval", batch, seq_);
  // The loss trained is the loss scored: golfrt's cross-entropy of the logits, never the script's.
  Var loss = mean_all(golfrt_scored_loss(*c.model));
  c.step = std::make_unique<TrainStep>(c.model->graph, loss, store_);
  return *(graphs_[batch] = std::move(c)).step;
}

void SgdTrainer::update(const std::map<std::string, Tensor>& grads, double lr) {
  double norm2 = 0;
  for (const auto& [name, g] : grads)
    for (int64_t i = 0; i < g.numel(); i++) norm2 += double(g.data<float>()[i]) * g.data<float>()[i];
  const double norm = std::sqrt(norm2);
  const double clip = s_.grad_clip > 0 && norm > s_.grad_clip ? s_.grad_clip / norm : 1.0;
  for (const auto& [name, g] : grads) {
    Tensor& w = store_.get(name);
    if (w.dtype() != DType::f32) throw std::runtime_error("test-time training: weight '" + name + "' is not f32");
    std::vector<float>& v = velocity_[name];
    if (v.empty()) v.assign(size_t(w.numel()), 0.0f);
    float* wp = w.data<float>();
    const float* gp = g.data<float>();
    for (int64_t i = 0; i < w.numel(); i++) {
      v[size_t(i)] = float(s_.momentum * v[size_t(i)] + clip * gp[i]);
      wp[i] -= float(lr * v[size_t(i)]);
    }
  }
}

int64_t SgdTrainer::train_span(const std::vector<uint16_t>& tokens, int64_t lo, int64_t hi, double lr) {
  if (hi - lo < 1 || lr <= 0) return 0;
  std::vector<int64_t> starts;
  for (int64_t st = lo; st + seq_ <= hi; st += seq_) starts.push_back(st);
  // The tail: a window ending at hi, reaching back over scored tokens (never before the stream).
  if ((starts.empty() || starts.back() + seq_ < hi) && hi - seq_ >= 0) starts.push_back(hi - seq_);
  int64_t steps = 0;
  for (int64_t e = 0; e < s_.epochs; e++) {
    for (size_t w0 = 0; w0 < starts.size(); w0 += size_t(s_.batch)) {
      const int64_t b = std::min<int64_t>(s_.batch, int64_t(starts.size() - w0));
      Tensor x({b, seq_}, DType::i32), y({b, seq_}, DType::i32);
      for (int64_t r = 0; r < b; r++)
        for (int64_t i = 0; i < seq_; i++) {
          x.data<int32_t>()[r * seq_ + i] = tokens[size_t(starts[w0 + size_t(r)] + i)];
          y.data<int32_t>()[r * seq_ + i] = tokens[size_t(starts[w0 + size_t(r)] + i + 1)];
        }
      TrainStep& step = step_for(b);
      step.zero_grad();
      const double loss = step.run({{"tokens", x}, {"targets", y}});
      if (!std::isfinite(loss))
        throw std::runtime_error("test-time training: the training loss on tokens " + std::to_string(starts[w0]) +
                                 ".. is not finite (lower --ttt-lr)");
      update(step.grads(), lr);
      steps++;
    }
  }
  return steps;
}

TttResult run_ttt_sgd(const TttSettings& s, const GraphFactory& factory, ParamStore& store, Evaluator& ev,
                      const std::vector<uint16_t>& tokens, const ByteTable& table, const Evaluator::Windows& w,
                      const std::function<void(const TttProgress&)>& on_chunk) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t seq = ev.seq();
  // Each window belongs to the chunk of its first scored target.
  std::vector<Evaluator::Windows> chunks;
  int64_t total_targets = 0;
  for (size_t i = 0; i < w.starts.size(); i++) {
    const size_t c = size_t((w.starts[i] + w.from[i]) / s.chunk);
    if (chunks.size() <= c) chunks.resize(c + 1);
    chunks[c].starts.push_back(w.starts[i]);
    chunks[c].from.push_back(w.from[i]);
    total_targets += seq - w.from[i];
  }
  TttResult r;
  r.loss_at.assign(tokens.size(), std::numeric_limits<double>::quiet_NaN());
  SgdTrainer trainer(s, factory, store, seq);
  const int64_t n = int64_t(chunks.size());
  for (int64_t c = 0; c < n; c++) {
    const Evaluator::Windows& cw = chunks[size_t(c)];
    if (cw.starts.empty()) continue;
    // Score first, with the weights as they stand.
    std::vector<double> losses;
    EvalResult part = ev.run_windows(store, "live", tokens, table, cw, &losses);
    size_t k = 0;
    int64_t lo = -1, hi = -1;
    for (size_t i = 0; i < cw.starts.size(); i++) {
      for (int64_t j = cw.from[i]; j < seq; j++) r.loss_at[size_t(cw.starts[i] + j + 1)] = losses[k++];
      lo = lo < 0 ? cw.starts[i] + cw.from[i] : std::min(lo, cw.starts[i] + cw.from[i]);
      hi = std::max(hi, cw.starts[i] + seq);
    }
    r.score.nats += part.nats;
    r.score.bytes += part.bytes;
    r.score.targets += part.targets;
    if (part.first_nonfinite >= 0 && r.score.first_nonfinite < 0) r.score.first_nonfinite = part.first_nonfinite;
    // Then train on what was just scored (nothing after the last chunk: no score would use it).
    if (c + 1 < n) {
      const double lr = s.lr * 0.5 * (1 + std::cos(M_PI * double(c) / double(std::max<int64_t>(1, n - 1))));
      r.steps += trainer.train_span(tokens, lo, hi, lr);
    }
    report_chunk(r, part, total_targets, t0, on_chunk);
  }
  return r;
}

}  // namespace golf
