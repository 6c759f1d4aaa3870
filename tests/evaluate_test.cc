// The evaluator's window layouts (runtime/train/evaluate.h): blocks, sliding windows and
// last-position chunks, each checked against losses computed directly from one full pass per
// window, on a small random model with a hand-made byte table (token t counts t % 3 bytes, and
// one more after a non-boundary token when t is even).
#include <gtest/gtest.h>

#include <cmath>

#include "dsl/script.h"
#include "runtime/rng.h"
#include "runtime/train/evaluate.h"

namespace golf {
namespace {

constexpr int64_t kVocab = 64, kSeq = 16;

struct Fixture {
  ModelScript script{std::string(GOLFRT_SOURCE_DIR) + "/tests/data/decode_model.lua"};
  std::unique_ptr<BuiltModel> weights = script.build("eval", 1, kSeq);
  GraphFactory factory = [this](const std::string& mode, int64_t b, int64_t t) -> std::unique_ptr<ModelGraph> {
    return script.build(mode, b, t);
  };
  ByteTable table;
  std::vector<uint16_t> tokens;

  Fixture() {
    weights->store.initialize(4);
    Rng rng(9);
    for (const ParamSpec& p : weights->store.specs()) {
      Tensor& t = weights->store.get(p.name);
      for (int64_t i = 0; i < t.numel(); i++) t.set(i, 0.3 * rng.normal());
    }
    table.vocab = int(kVocab);
    for (int t = 0; t < kVocab; t++) {
      table.base_bytes.push_back(t % 3);
      table.has_leading_space.push_back(t % 2 == 0);
      table.is_boundary.push_back(t == 1);
    }
    for (int i = 0; i < 200; i++) tokens.push_back(uint16_t(rng.below(kVocab)));
  }

  // Per-position losses of one window starting at `start`, from a direct executor run.
  std::vector<double> window_losses(int64_t start) {
    auto m = script.build("eval", 1, kSeq);
    Executor ex(m->graph, {m->loss});
    ex.bind_params(weights->store);
    Tensor x({1, kSeq}, DType::i32), y({1, kSeq}, DType::i32);
    for (int64_t i = 0; i < kSeq; i++) x.set(i, tokens[size_t(start + i)]), y.set(i, tokens[size_t(start + i + 1)]);
    ex.bind("tokens", x);
    ex.bind("targets", y);
    ex.run();
    std::vector<double> l;
    for (int64_t i = 0; i < kSeq; i++) l.push_back(ex.result(0).get(i));
    return l;
  }
  double bytes_at(int64_t target_pos) { return table.bytes(tokens[size_t(target_pos - 1)], tokens[size_t(target_pos)]); }
};

TEST(Evaluate, blocks_score_floor_n_minus_1_over_L_windows) {
  Fixture f;
  Evaluator ev(f.factory, kSeq, 3, DType::f32);
  EvalResult r = ev.run(f.weights->store, "live", f.tokens, f.table);
  const int64_t windows = (200 - 1) / kSeq;
  double nats = 0, bytes = 0;
  for (int64_t w = 0; w < windows; w++) {
    std::vector<double> l = f.window_losses(w * kSeq);
    for (int64_t i = 0; i < kSeq; i++) nats += l[size_t(i)], bytes += f.bytes_at(w * kSeq + i + 1);
  }
  EXPECT_EQ(r.targets, windows * kSeq);
  EXPECT_EQ(r.bytes, bytes);
  EXPECT_NEAR(r.nats, nats, 1e-6 * nats);
}

TEST(Evaluate, sliding_windows_score_all_of_the_first_and_the_last_stride_of_the_others) {
  Fixture f;
  const int64_t stride = 4;
  Evaluator ev(f.factory, kSeq, 3, DType::f32);
  EvalResult r = ev.run_sliding(f.weights->store, "live", f.tokens, f.table, stride);
  double nats = 0, bytes = 0;
  int64_t targets = 0;
  for (int64_t s = 0; s + kSeq + 1 <= 200; s += stride) {
    std::vector<double> l = f.window_losses(s);
    for (int64_t i = s == 0 ? 0 : kSeq - stride; i < kSeq; i++)
      nats += l[size_t(i)], bytes += f.bytes_at(s + i + 1), targets++;
  }
  EXPECT_EQ(r.targets, targets);
  EXPECT_EQ(r.bytes, bytes);
  EXPECT_NEAR(r.nats, nats, 1e-6 * nats);
  // Every target from 1 to the last window's end is scored exactly once.
  EXPECT_EQ(targets, kSeq + ((200 - kSeq - 1) / stride) * stride);
}

TEST(Evaluate, last_position_scores_only_the_token_after_each_chunk) {
  Fixture f;
  const int64_t chunk = 24;
  Evaluator ev(f.factory, kSeq, 2, DType::f32);
  EvalResult r = ev.run_last(f.weights->store, "live", f.tokens, f.table, chunk);
  double nats = 0, bytes = 0;
  int64_t targets = 0;
  for (int64_t end = chunk; end < 200; end += chunk) {
    nats += f.window_losses(end - kSeq).back();
    bytes += f.bytes_at(end);
    targets++;
  }
  EXPECT_EQ(targets, (200 - 1) / chunk);
  EXPECT_EQ(r.targets, targets);
  EXPECT_EQ(r.bytes, bytes);
  EXPECT_NEAR(r.nats, nats, 1e-6 * nats);
  EXPECT_THROW(ev.run_last(f.weights->store, "live", f.tokens, f.table, kSeq - 1), std::invalid_argument);
  EXPECT_EQ(ev.run_last(f.weights->store, "live", f.tokens, f.table, chunk, 3).targets, 3);
}

}  // namespace
}  // namespace golf

namespace golf {
namespace {

// CaseOps data: a target's bytes are the sidecar's entry at its stream position (not the table
// rule), in every window layout.
TEST(Evaluate, a_token_byte_sidecar_replaces_the_table_rule) {
  Fixture f;
  auto sidecar = std::make_shared<std::vector<uint16_t>>();
  for (size_t i = 0; i < f.tokens.size(); i++) sidecar->push_back(uint16_t(i * 7 % 5));
  f.table.token_bytes = sidecar;
  Evaluator ev(f.factory, kSeq, 3, DType::f32);
  EvalResult r = ev.run(f.weights->store, "live", f.tokens, f.table);
  double bytes = 0;
  for (int64_t p = 1; p <= r.targets; p++) bytes += (*sidecar)[size_t(p)];
  EXPECT_EQ(r.bytes, bytes);
  EvalResult s = ev.run_sliding(f.weights->store, "live", f.tokens, f.table, 4);
  bytes = 0;
  for (int64_t p = 1; p <= s.targets; p++) bytes += (*sidecar)[size_t(p)];  // sliding scores each target once, from 1 on
  EXPECT_EQ(s.bytes, bytes);
}

}  // namespace
}  // namespace golf
