// The lora scheme of test-time training (runtime/decode/ttt.h). Documents are trained side by
// side, one per batch row, each with its own adapter; the rows move in lockstep, one piece of their
// document per step: the piece is scored by the step's forward pass, then that loss's gradient
// makes one Adam step on the row's adapter. A row whose document ends takes the next one and
// starts from a fresh adapter (its A drawn from the document's index, B zero: no change yet).
//
// Stream order is kept even though rows move in lockstep: a row's scores depend on its own
// document's earlier tokens (its adapter) and on the base weights, which the global passes train
// only on documents 0..kG−1 once all of them are done — and no document from kG on starts before
// that pass. So every score depends on tokens before it in the stream alone.
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "runtime/autograd.h"
#include "runtime/decode/lora_pass.h"
#include "runtime/decode/ttt_report.h"
#include "runtime/decode/ttt_sgd.h"
#include "runtime/executor.h"
#include "runtime/rng.h"

namespace golf {

namespace {

struct Piece {
  int64_t first, last;  // the inputs whose targets it scores, first..last
  int64_t window;       // where its window starts (inputs window..last are fed)
};

struct Doc {
  int64_t start, end;  // inputs start..end−1, targets start+1..end
  std::vector<Piece> pieces;
};

std::vector<Doc> documents(const TttSettings& s, const std::vector<uint16_t>& tokens, int64_t last_target, int64_t seq) {
  std::vector<int64_t> starts{0};
  for (int64_t p = 1; p < last_target; p++)
    if (tokens[size_t(p)] == s.bos) starts.push_back(p);
  std::vector<Doc> docs;
  for (size_t d = 0; d < starts.size(); d++) {
    Doc doc{starts[d], d + 1 < starts.size() ? starts[d + 1] : last_target, {}};
    if (s.stride > 0) {
      // Sliding windows within the document: pieces of `stride` targets, each scored in the window
      // of up to seq tokens that ends at its last input.
      for (int64_t a = doc.start; a < doc.end; a += s.stride) {
        const int64_t b = std::min(doc.end - 1, a + s.stride - 1);
        doc.pieces.push_back({a, b, std::max(doc.start, b - seq + 1)});
      }
    } else {
      // Blocks of seq within the document, each cut into pieces of lora_chunk targets.
      for (int64_t blk = doc.start; blk < doc.end; blk += seq)
        for (int64_t a = blk; a < std::min(doc.end, blk + seq); a += s.lora_chunk)
          doc.pieces.push_back({a, std::min({doc.end, blk + seq, a + s.lora_chunk}) - 1, blk});
    }
    docs.push_back(std::move(doc));
  }
  return docs;
}

}  // namespace

TttResult run_ttt_lora(const TttSettings& s, const GraphFactory& factory, ParamStore& store, int64_t seq,
                       const std::vector<uint16_t>& tokens, const ByteTable& table, const Evaluator::Windows& w,
                       const NameMatcher& names, const std::function<void(const TttProgress&)>& on_chunk) {
  const auto t0 = std::chrono::steady_clock::now();
  TttResult r;
  r.loss_at.assign(tokens.size(), std::numeric_limits<double>::quiet_NaN());
  // The targets decode scores without TTT (1..last), so the two bpb are over the same tokens.
  int64_t last_target = 0;
  for (size_t i = 0; i < w.starts.size(); i++) last_target = std::max(last_target, w.starts[i] + seq);
  if (last_target == 0) return r;

  std::vector<std::string> weights;
  for (const ParamSpec& p : store.specs()) {
    if (p.is_buffer() || p.shape.size() != 2) continue;
    bool hit = false;
    for (const std::string& t : s.targets)
      for (const std::string& pattern : s.patterns.at(t)) hit = hit || names(p.name, pattern);
    if (hit) weights.push_back(p.name);
  }
  if (weights.empty()) {
    std::string pats;
    for (const std::string& t : s.targets)
      for (const std::string& pattern : s.patterns.at(t)) pats += (pats.empty() ? "" : ", ") + t + " = " + pattern;
    throw std::runtime_error("test-time LoRA: no 2-D weight of the model matches the targets (" + pats +
                             "); the script's ttt.lora.patterns can name its own");
  }

  const int64_t R = s.docs;
  std::unique_ptr<ModelGraph> base = factory("eval", R, seq);
  LoraGraph lg = attach_lora(*base, weights, s.rank);
  ModelGraph& m = *lg.model;
  r.adapted = lg.weights;
  r.adapted_uses = lg.uses;
  Var per_token = golfrt_scored_loss(m);
  Var mask = input(m.graph, "ttt.mask", {R * seq});
  Var loss = sum_all(mul(per_token, mask));  // each row's mean over its piece: rows train independently
  std::vector<std::string> adapters;
  for (size_t k = 0; k < lg.a.size(); k++) adapters.push_back(lg.a[k]), adapters.push_back(lg.b[k]);
  std::vector<Gradient> grads = backward(loss, adapters);
  std::vector<Var> outputs{per_token};
  for (const Gradient& g : grads) {
    if (!g.grad.valid()) throw std::logic_error("test-time LoRA: adapter " + g.name + " does not reach the loss");
    outputs.push_back(g.grad);
  }
  Executor ex(m.graph, outputs, ExecOptions{DType::f32, true, Device::cpu});
  for (const ParamSpec& p : base->store.specs()) ex.bind(p.name, store.get(p.name));  // updated in place by passes
  std::vector<Tensor> value, moment1, moment2;
  for (const std::string& name : adapters) {
    const Shape& shape = m.store.spec(name).shape;
    value.emplace_back(shape, DType::f32);
    moment1.emplace_back(shape, DType::f32);
    moment2.emplace_back(shape, DType::f32);
    value.back().fill(0);
    ex.bind(name, value.back());
  }
  Tensor x({R, seq}, DType::i32), y({R, seq}, DType::i32), mask_t({R * seq}, DType::f32);
  ex.bind("tokens", x);
  ex.bind("targets", y);
  ex.bind("ttt.mask", mask_t);

  const std::vector<Doc> docs = documents(s, tokens, last_target, seq);
  const int64_t ndocs = int64_t(docs.size());
  int64_t total_targets = 0;
  for (const Doc& d : docs) total_targets += d.end - d.start;

  // A fresh adapter for row b: A from the document's own draw, B zero, no Adam history.
  std::vector<int64_t> adam_t(size_t(R), 0);
  auto reset_row = [&](int64_t b, int64_t doc) {
    Rng rng = Rng::for_name(s.seed, "lora.doc." + std::to_string(doc));
    for (size_t k = 0; k < value.size(); k++) {
      const Shape& sh = value[k].shape();
      const int64_t per = sh[1] * sh[2];
      float* v = value[k].data<float>() + b * per;
      const bool is_a = k % 2 == 0;
      const double std = 1.0 / std::sqrt(double(sh[2]));  // A: [r, in]
      for (int64_t i = 0; i < per; i++) v[i] = is_a ? float(std * rng.normal()) : 0.0f;
      std::fill(moment1[k].data<float>() + b * per, moment1[k].data<float>() + (b + 1) * per, 0.0f);
      std::fill(moment2[k].data<float>() + b * per, moment2[k].data<float>() + (b + 1) * per, 0.0f);
    }
    adam_t[size_t(b)] = 0;
  };

  SgdTrainer trainer(s, factory, store, seq);
  const int64_t G = s.global_every;
  std::vector<int64_t> row_doc(size_t(R), -1), row_piece(size_t(R), 0);
  std::vector<char> done(size_t(ndocs), 0);
  int64_t next_doc = 0, done_prefix = 0, passes = 0;
  while (true) {
    // Global passes: documents [kG, (k+1)G) once every document before (k+1)G is scored.
    while (G > 0 && (passes + 1) * G <= done_prefix) {
      const Doc& first = docs[size_t(passes * G)];
      const Doc& last = docs[size_t((passes + 1) * G - 1)];
      r.steps += trainer.train_span(tokens, first.start, last.end, s.lr);
      passes++;
    }
    for (int64_t b = 0; b < R; b++)
      if (row_doc[size_t(b)] < 0 && next_doc < ndocs && (G == 0 || next_doc < (passes + 1) * G)) {
        row_doc[size_t(b)] = next_doc;
        row_piece[size_t(b)] = 0;
        reset_row(b, next_doc++);
      }
    bool any = false;
    for (int64_t b = 0; b < R; b++) any = any || row_doc[size_t(b)] >= 0;
    if (!any) {
      if (next_doc >= ndocs) break;
      throw std::logic_error("test-time LoRA: no document can start and no global pass is due");
    }
    int32_t* xp = x.data<int32_t>();
    int32_t* yp = y.data<int32_t>();
    float* mp = mask_t.data<float>();
    std::fill(xp, xp + R * seq, 0);
    std::fill(yp, yp + R * seq, 0);
    std::fill(mp, mp + R * seq, 0.0f);
    for (int64_t b = 0; b < R; b++) {
      if (row_doc[size_t(b)] < 0) continue;
      const Piece& pc = docs[size_t(row_doc[size_t(b)])].pieces[size_t(row_piece[size_t(b)])];
      // Inputs after the piece's last are never fed: the window is padded with id 0 instead.
      for (int64_t p = pc.window; p <= pc.last; p++) {
        xp[b * seq + p - pc.window] = tokens[size_t(p)];
        yp[b * seq + p - pc.window] = tokens[size_t(p + 1)];
      }
      const float share = float(1.0 / double(pc.last - pc.first + 1));
      for (int64_t p = pc.first; p <= pc.last; p++) mp[b * seq + p - pc.window] = share;
    }
    ex.run();
    const Tensor& lt = ex.result(0);
    EvalResult part;
    for (int64_t b = 0; b < R; b++) {
      if (row_doc[size_t(b)] < 0) continue;
      const Piece& pc = docs[size_t(row_doc[size_t(b)])].pieces[size_t(row_piece[size_t(b)])];
      for (int64_t p = pc.first; p <= pc.last; p++) {
        const int64_t k = b * seq + p - pc.window;
        const double v = lt.get(k);
        count_target(part, v, tokens, p + 1, table);
        count_target(r.score, v, tokens, p + 1, table);
        r.loss_at[size_t(p + 1)] = v;
      }
    }
    // Then one Adam step per row on the piece it just scored (none after a document's last piece:
    // its adapter is dropped).
    for (int64_t b = 0; b < R; b++) {
      const int64_t d = row_doc[size_t(b)];
      if (d < 0) continue;
      const bool last_piece = row_piece[size_t(b)] + 1 == int64_t(docs[size_t(d)].pieces.size());
      if (!last_piece && s.lora_lr > 0) {
        const int64_t t = ++adam_t[size_t(b)];
        const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
        const double c1 = 1 - std::pow(b1, double(t)), c2 = 1 - std::pow(b2, double(t));
        for (size_t k = 0; k < value.size(); k++) {
          const Shape& sh = value[k].shape();
          const int64_t per = sh[1] * sh[2];
          float* v = value[k].data<float>() + b * per;
          float* m1 = moment1[k].data<float>() + b * per;
          float* m2 = moment2[k].data<float>() + b * per;
          const float* g = ex.result(k + 1).data<float>() + b * per;
          for (int64_t i = 0; i < per; i++) {
            m1[i] = float(b1 * m1[i] + (1 - b1) * g[i]);
            m2[i] = float(b2 * m2[i] + (1 - b2) * double(g[i]) * g[i]);
            v[i] -= float(s.lora_lr * (m1[i] / c1) / (std::sqrt(m2[i] / c2) + eps));
          }
        }
      }
      if (last_piece) {
        done[size_t(d)] = 1;
        row_doc[size_t(b)] = -1;
        while (done_prefix < ndocs && done[size_t(done_prefix)]) done_prefix++;
      } else {
        row_piece[size_t(b)]++;
      }
    }
    report_chunk(r, part, total_targets, t0, on_chunk);
  }
  return r;
}

}  // namespace golf
