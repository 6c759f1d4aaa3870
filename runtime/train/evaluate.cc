#include "runtime/train/evaluate.h"

#include <cmath>

namespace golf {

double EvalResult::bpb() const { return bytes > 0 ? nats / (std::log(2.0) * bytes) : 0.0; }

int64_t scored_windows(int64_t n_tokens, int64_t seq) { return n_tokens > 1 ? (n_tokens - 1) / seq : 0; }

Evaluator::Evaluator(GraphFactory factory, int64_t seq, int64_t batch, DType real, Device device)
    : factory_(std::move(factory)), seq_(seq), batch_(batch), real_(real), device_(device) {}

Evaluator::Compiled& Evaluator::compiled(int64_t batch) {
  auto it = graphs_.find(batch);
  if (it != graphs_.end()) return it->second;
  Compiled c;
  c.model = factory_("eval", batch, seq_);
  c.exec = std::make_unique<Executor>(c.model->graph, std::vector<Var>{c.model->loss}, ExecOptions{real_, true, device_});
  return graphs_[batch] = std::move(c);
}

void Evaluator::score(ParamStore& store, const std::string& set, const std::vector<uint16_t>& tokens,
                      const ByteTable& table, const std::vector<int64_t>& starts, const std::vector<int64_t>& from,
                      EvalResult& total) {
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
    for (const ParamSpec& p : c.model->store.specs()) {
      const Tensor& t = store.get(p.name, set);
      if (t.shape() != p.shape)
        throw std::runtime_error("evaluation: parameter '" + p.name + "' is " + shape_str(t.shape()) +
                                 " in the weights but " + shape_str(p.shape) + " in the eval graph");
      if (device_ == Device::cpu) {
        c.exec->bind(p.name, t);
        continue;
      }
      auto d = on_device.find(p.name);
      if (d == on_device.end()) d = on_device.emplace(p.name, t.to_device(device_)).first;
      c.exec->bind(p.name, d->second);
    }
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
        r.nats += loss.get(k);
        r.bytes += table.bytes(xp[k], yp[k]);
        r.targets++;
      }
  }
}

EvalResult Evaluator::run(ParamStore& store, const std::string& set, const std::vector<uint16_t>& tokens,
                          const ByteTable& table, int64_t max_windows) {
  int64_t windows = scored_windows(int64_t(tokens.size()), seq_);
  if (max_windows > 0) windows = std::min(windows, max_windows);
  std::vector<int64_t> starts, from;
  for (int64_t w = 0; w < windows; w++) starts.push_back(w * seq_), from.push_back(0);
  EvalResult r;
  score(store, set, tokens, table, starts, from, r);
  return r;
}

EvalResult Evaluator::run_sliding(ParamStore& store, const std::string& set, const std::vector<uint16_t>& tokens,
                                  const ByteTable& table, int64_t stride, int64_t max_targets) {
  if (stride <= 0 || stride > seq_) throw std::invalid_argument("sliding evaluation: stride must be in 1.." + std::to_string(seq_));
  std::vector<int64_t> starts, from;
  int64_t scored = 0;
  for (int64_t s = 0; s + seq_ + 1 <= int64_t(tokens.size()); s += stride) {
    starts.push_back(s);
    from.push_back(s == 0 ? 0 : seq_ - stride);
    scored += s == 0 ? seq_ : stride;
    if (max_targets > 0 && scored >= max_targets) break;
  }
  EvalResult r;
  score(store, set, tokens, table, starts, from, r);
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
    bytes += table.bytes(val[size_t(i - 1)], val[size_t(i)]);
  }
  return bytes > 0 ? nats / (std::log(2.0) * bytes) : 0.0;
}

}  // namespace golf
