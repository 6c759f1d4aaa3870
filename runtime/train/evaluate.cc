#include "runtime/train/evaluate.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "runtime/op_attrs.h"
#include "runtime/rng.h"

namespace golf {

namespace {

// The node that reads the targets input on a path to `v`, or -1 when v does not depend on it.
int targets_reader(const Graph& g, Value v) {
  const Value targets = g.find_input("targets");
  if (!targets.valid()) return -1;
  std::vector<char> seen(size_t(g.size()), 0);
  std::vector<int> todo{v.node};
  while (!todo.empty()) {
    int id = todo.back();
    todo.pop_back();
    if (seen[size_t(id)]) continue;
    seen[size_t(id)] = 1;
    for (const Value& in : g.node(id).inputs) {
      if (in.node == targets.node) return id;
      todo.push_back(in.node);
    }
  }
  return -1;
}

// c·tanh(x/c) as golf's loss.softcap builds it: scale(tanh(scale(x, 1/c)), c). The challenge's
// models score cross_entropy(x, targets, c), whose fused softcap evaluates tanh with another
// approximation than the tanh op (an ulp apart); scoring x with the same fused op keeps an honest
// model's numbers exactly what its own loss gave. Returns x, and c in `cap`, or an invalid Value.
Value softcap_input(const Graph& g, Value logits, double& cap) {
  const Node& outer = g.node(logits.node);
  if (outer.op != Op::scale || scale_attrs(outer).c == 0) return {};
  const Node& th = g.node(outer.inputs[0].node);
  if (th.op != Op::tanh) return {};
  const Node& inner = g.node(th.inputs[0].node);
  if (inner.op != Op::scale || scale_attrs(inner).c != 1.0 / scale_attrs(outer).c) return {};
  cap = scale_attrs(outer).c;
  return inner.inputs[0];
}

}  // namespace

Var golfrt_scored_loss(ModelGraph& m) {
  Graph& g = m.graph;
  if (!m.logits.valid())
    throw std::runtime_error("the model's evaluation graph returns no logits: decode scores the logits with golfrt's own "
                             "cross-entropy, never a loss the script computes (build() must return loss, logits)");
  const Value targets = g.find_input("targets");
  if (!targets.valid()) throw std::runtime_error("the evaluation graph has no targets input");
  if (int reader = targets_reader(g, m.logits.v); reader >= 0)
    throw std::runtime_error("the model's logits depend on the targets input (through " + g.describe(Value{reader, 0}) +
                             "): a prediction may depend only on the artifact and the tokens before it");
  const Shape& ls = g.shape(m.logits.v);
  const int64_t n = shape_numel(g.shape(targets));
  if (ls.empty() || ls.back() <= 0 || shape_numel(ls) != n * ls.back())
    throw std::runtime_error("the model's logits are " + shape_str(ls) + "; expected [" + std::to_string(n) +
                             ", V] (one row per target of " + shape_str(g.shape(targets)) + ")");
  const int64_t vocab = ls.back();
  const std::string loc = g.location();
  g.set_location("golfrt scoring");
  double cap = 0;
  Value x = softcap_input(g, m.logits.v, cap);
  Var scored = x.valid() && g.shape(x).back() == vocab ? Var(&g, x) : m.logits;
  if (!x.valid() || g.shape(x).back() != vocab) cap = 0;
  Var loss = cross_entropy(reshape(scored, {n, vocab}), reshape(Var(&g, targets), {n}), cap);
  g.set_location(loc);
  return loss;
}

void require_scored(const EvalResult& r, const std::string& what) {
  if (r.targets == 0)
    throw std::runtime_error(what + " scores no targets (the validation split is shorter than one window, or the "
                                    "limits given leave nothing): a score of nothing is not a score");
  if (r.first_nonfinite >= 0)
    throw std::runtime_error(what + ": the model's loss at token " + std::to_string(r.first_nonfinite) +
                             " of the validation stream is not finite (NaN or infinite weights or logits)");
  if (!std::isfinite(r.nats) || !std::isfinite(r.bpb()))
    throw std::runtime_error(what + ": the score is not finite (" + std::to_string(r.bpb()) + ")");
  if (r.bytes <= 0) throw std::runtime_error(what + ": the scored targets stand for 0 bytes of text");
}

void count_target(EvalResult& r, double nats, const std::vector<uint16_t>& tokens, int64_t position,
                  const ByteTable& table) {
  if (!std::isfinite(nats) && r.first_nonfinite < 0) r.first_nonfinite = position;
  r.nats += nats;
  r.bytes += table.target_bytes(tokens.data(), int64_t(tokens.size()), position);
  r.targets++;
}

double EvalResult::bpb() const { return bytes > 0 ? nats / (std::log(2.0) * bytes) : 0.0; }

int64_t scored_windows(int64_t n_tokens, int64_t seq) { return n_tokens > 1 ? (n_tokens - 1) / seq : 0; }

Evaluator::Evaluator(GraphFactory factory, int64_t seq, int64_t batch, DType real, Device device, RealStorage storage)
    : factory_(std::move(factory)), seq_(seq), batch_(batch), real_(real), device_(device), storage_(storage) {}

Evaluator::Compiled& Evaluator::compiled(int64_t batch) {
  auto it = graphs_.find(batch);
  if (it != graphs_.end()) return it->second;
  Compiled c;
  c.model = factory_("eval", batch, seq_);
  ExecOptions opt{real_, true, device_};
  opt.storage = storage_;
  Var loss = c.model->loss;
  if (untrusted_) {
    loss = golfrt_scored_loss(*c.model);
    opt.max_bytes = memory_budget_;
  }
  c.exec = std::make_unique<Executor>(c.model->graph, std::vector<Var>{loss}, opt);
  return graphs_[batch] = std::move(c);
}

void Evaluator::score(ParamStore& store, const std::string& set, const std::vector<uint16_t>& tokens,
                      const ByteTable& table, const std::vector<int64_t>& starts, const std::vector<int64_t>& from,
                      EvalResult& total, std::vector<double>* losses) {
  if (distributed(comm_) && losses)
    throw std::invalid_argument("evaluation: per-target losses are not gathered across ranks");
  if (distributed(comm_)) {
    const int64_t all = int64_t(starts.size()), k = comm_->size(), me = comm_->rank();
    const int64_t lo = all * me / k, hi = all * (me + 1) / k;
    std::vector<int64_t> s(starts.begin() + lo, starts.begin() + hi), f(from.begin() + lo, from.begin() + hi);
    Communicator* comm = comm_;
    comm_ = nullptr;  // this rank's share, scored as one process would
    EvalResult part;
    try {
      score(store, set, tokens, table, s, f, part);
    } catch (...) {
      comm_ = comm;
      throw;
    }
    comm_ = comm;
    double sums[3] = {part.nats, part.bytes, double(part.targets)};
    comm->allreduce_sum(sums, 3);
    total.nats += sums[0];
    total.bytes += sums[1];
    total.targets += int64_t(sums[2]);
    return;
  }
  EvalResult& r = total;
  const int64_t n = int64_t(starts.size());
  // On a device the weights are copied there once per call, not once per batch.
  std::map<std::string, Tensor> on_device;
  for (int64_t w0 = 0; w0 < n; w0 += batch_) {
    int64_t b = std::min(batch_, n - w0);
    Compiled& c = compiled(b);
    bind_weights(c, store, set, on_device);
    Tensor x({b, seq_}, DType::i32), y({b, seq_}, DType::i32);
    int32_t* xp = x.data<int32_t>();
    int32_t* yp = y.data<int32_t>();
    for (int64_t w = 0; w < b; w++)
      for (int64_t i = 0; i < seq_; i++) {
        int64_t pos = starts[size_t(w0 + w)] + i;
        xp[w * seq_ + i] = tokens[size_t(pos)];
        yp[w * seq_ + i] = tokens[size_t(pos + 1)];
      }
    c.exec->bind("tokens", x);
    c.exec->bind("targets", y);
    c.exec->run();
    const Tensor& loss = c.exec->result(0);
    for (int64_t w = 0; w < b; w++)
      for (int64_t i = from[size_t(w0 + w)]; i < seq_; i++) {
        int64_t k = w * seq_ + i;
        const double v = loss.get(k);
        count_target(r, v, tokens, starts[size_t(w0 + w)] + i + 1, table);
        if (losses) losses->push_back(v);
      }
  }
}

void Evaluator::bind_weights(Compiled& c, ParamStore& store, const std::string& set,
                             std::map<std::string, Tensor>& on_device) {
  for (const ParamSpec& p : c.model->store.specs()) {
    const Tensor& t = store.get(p.name, set);
    if (t.shape() != p.shape)
      throw std::runtime_error("evaluation: parameter '" + p.name + "' is " + shape_str(t.shape()) +
                               " in the weights but " + shape_str(p.shape) + " in the eval graph");
    if (device_ == Device::cpu || t.device() == device_) {  // device-resident weights: used in place
      c.exec->bind(p.name, t);
      continue;
    }
    auto d = on_device.find(p.name);
    if (d == on_device.end()) d = on_device.emplace(p.name, t.to_device(device_)).first;
    c.exec->bind(p.name, d->second);
  }
}

std::vector<double> Evaluator::window_losses(ParamStore& store, const std::string& set, const std::vector<int32_t>& x,
                                             const std::vector<int32_t>& y) {
  Compiled& c = compiled(1);
  std::map<std::string, Tensor> on_device;
  bind_weights(c, store, set, on_device);
  Tensor xt({1, seq_}, DType::i32), yt({1, seq_}, DType::i32);
  std::copy(x.begin(), x.end(), xt.data<int32_t>());
  std::copy(y.begin(), y.end(), yt.data<int32_t>());
  c.exec->bind("tokens", xt);
  c.exec->bind("targets", yt);
  c.exec->run();
  std::vector<double> out(static_cast<size_t>(seq_));
  for (int64_t i = 0; i < seq_; i++) out[size_t(i)] = c.exec->result(0).get(i);
  return out;
}

void Evaluator::check_causal(ParamStore& store, const std::string& set, const std::vector<uint16_t>& tokens, int vocab,
                             int64_t windows) {
  const int64_t all = scored_windows(int64_t(tokens.size()), seq_);
  if (windows <= 0 || all == 0 || seq_ < 2 || vocab < 2) return;
  windows = std::min(windows, all);
  Rng rng(0x6361757361ULL);  // fixed: the same artifact and data always get the same check
  int64_t first_bad = -1, bad_t = -1, bad_window = -1;
  double before = 0, after = 0;
  for (int64_t k = 0; k < windows; k++) {
    const int64_t w = windows == 1 ? 0 : k * (all - 1) / (windows - 1);
    std::vector<int32_t> x(static_cast<size_t>(seq_)), y(static_cast<size_t>(seq_));
    for (int64_t i = 0; i < seq_; i++) x[size_t(i)] = tokens[size_t(w * seq_ + i)], y[size_t(i)] = tokens[size_t(w * seq_ + i + 1)];
    const std::vector<double> base = window_losses(store, set, x, y);
    // Cut points from the start to the end of the window: a model that looks one token ahead
    // is caught at its first position, one that looks far ahead wherever it does.
    for (int64_t t : {int64_t(0), seq_ / 4, seq_ / 2, seq_ - 2}) {
      std::vector<int32_t> xp = x;
      for (int64_t j = t + 1; j < seq_; j++) xp[size_t(j)] = int32_t((x[size_t(j)] + 1 + rng.below(uint64_t(vocab - 1))) % vocab);
      const std::vector<double> moved = window_losses(store, set, xp, y);
      for (int64_t i = 0; i <= t; i++) {
        const double a = base[size_t(i)], b = moved[size_t(i)];
        const bool same = (std::isnan(a) && std::isnan(b)) || std::fabs(a - b) <= 1e-5 * (1 + std::fabs(a));
        if (!same && (first_bad < 0 || i < first_bad)) first_bad = i, bad_t = t, bad_window = w, before = a, after = b;
        if (!same) break;
      }
    }
  }
  if (first_bad >= 0)
    throw std::runtime_error("the model is not causal: in window " + std::to_string(bad_window) + ", the loss at position " +
                             std::to_string(first_bad) + " moved from " + std::to_string(before) + " to " +
                             std::to_string(after) + " when the tokens after position " + std::to_string(bad_t) +
                             " were changed (a prediction may depend only on the tokens before it)");
}

Evaluator::Windows Evaluator::block_windows(int64_t n_tokens, int64_t max_windows) const {
  int64_t windows = scored_windows(n_tokens, seq_);
  if (max_windows > 0) windows = std::min(windows, max_windows);
  Windows w;
  for (int64_t i = 0; i < windows; i++) w.starts.push_back(i * seq_), w.from.push_back(0);
  return w;
}

Evaluator::Windows Evaluator::sliding_windows(int64_t n_tokens, int64_t stride, int64_t max_targets) const {
  if (stride <= 0 || stride > seq_) throw std::invalid_argument("sliding evaluation: stride must be in 1.." + std::to_string(seq_));
  Windows w;
  int64_t scored = 0;
  for (int64_t s = 0; s + seq_ + 1 <= n_tokens; s += stride) {
    w.starts.push_back(s);
    w.from.push_back(s == 0 ? 0 : seq_ - stride);
    scored += s == 0 ? seq_ : stride;
    if (max_targets > 0 && scored >= max_targets) break;
  }
  return w;
}

EvalResult Evaluator::run_windows(ParamStore& store, const std::string& set, const std::vector<uint16_t>& tokens,
                                  const ByteTable& table, const Windows& w, std::vector<double>* losses) {
  if (w.starts.size() != w.from.size()) throw std::invalid_argument("evaluation: one 'from' per window start");
  for (size_t i = 0; i < w.starts.size(); i++)
    if (w.starts[i] < 0 || w.starts[i] + seq_ + 1 > int64_t(tokens.size()) || w.from[i] < 0 || w.from[i] >= seq_)
      throw std::invalid_argument("evaluation: window " + std::to_string(i) + " (start " + std::to_string(w.starts[i]) +
                                  ", from " + std::to_string(w.from[i]) + ") is outside the stream of " +
                                  std::to_string(tokens.size()) + " tokens");
  EvalResult r;
  score(store, set, tokens, table, w.starts, w.from, r, losses);
  return r;
}

EvalResult Evaluator::run(ParamStore& store, const std::string& set, const std::vector<uint16_t>& tokens,
                          const ByteTable& table, int64_t max_windows) {
  Windows w = block_windows(int64_t(tokens.size()), max_windows);
  EvalResult r;
  score(store, set, tokens, table, w.starts, w.from, r);
  return r;
}

EvalResult Evaluator::run_sliding(ParamStore& store, const std::string& set, const std::vector<uint16_t>& tokens,
                                  const ByteTable& table, int64_t stride, int64_t max_targets) {
  Windows w = sliding_windows(int64_t(tokens.size()), stride, max_targets);
  EvalResult r;
  score(store, set, tokens, table, w.starts, w.from, r);
  return r;
}

EvalResult Evaluator::run_last(ParamStore& store, const std::string& set, const std::vector<uint16_t>& tokens,
                               const ByteTable& table, int64_t chunk, int64_t max_targets) {
  if (chunk < seq_)
    throw std::invalid_argument("last-position evaluation: the chunk (" + std::to_string(chunk) +
                                ") must be at least the window length (" + std::to_string(seq_) + ")");
  std::vector<int64_t> starts, from;
  // Chunk c covers tokens [c·chunk, (c+1)·chunk); its window ends at its last token, whose target
  // is the first token of the next chunk.
  for (int64_t end = chunk; end < int64_t(tokens.size()); end += chunk) {
    starts.push_back(end - seq_);
    from.push_back(seq_ - 1);
    if (max_targets > 0 && int64_t(starts.size()) >= max_targets) break;
  }
  EvalResult r;
  score(store, set, tokens, table, starts, from, r);
  return r;
}

double unigram_bpb(const std::vector<uint16_t>& train, const std::vector<uint16_t>& val, int64_t seq,
                   const ByteTable& table) {
  std::vector<double> count(size_t(table.vocab), 1.0);  // add-one smoothing
  double total = double(table.vocab);
  for (uint16_t t : train)
    if (t < table.vocab) count[t] += 1, total += 1;
  int64_t n = scored_windows(int64_t(val.size()), seq) * seq;
  double nats = 0, bytes = 0;
  for (int64_t i = 1; i <= n; i++) {
    nats -= std::log(count[val[size_t(i)]] / total);
    bytes += table.target_bytes(val.data(), int64_t(val.size()), i);
  }
  return bytes > 0 ? nats / (std::log(2.0) * bytes) : 0.0;
}

}  // namespace golf
