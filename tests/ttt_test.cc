// Test-time training in decode (runtime/decode/ttt.h): the causality rule as a test, bit for bit,
// in each scheme and each scoring mode it composes with; the same run twice gives the same bpb;
// LoRA adapters attach to a model whose script knows nothing of them.
//
// The rule's test was checked to fail on a loop that trains before it scores: with the sgd
// scheme's train_span moved above run_windows in run_ttt_sgd (each chunk trained on, then scored),
// sgd_scores_before_t_ignore_later_tokens failed for blocks and sliding ("the loss at position 65
// moved from 4.28753 to 4.23709 when the tokens from 70 on changed": the chunk holding t trained on
// the changed tokens before scoring its earlier ones).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "tests/support/errors.h"
#include "dsl/script.h"
#include "runtime/decode/lora_pass.h"
#include "runtime/decode/ttt.h"
#include "runtime/rng.h"

namespace golf {
namespace {

constexpr int64_t kSeq = 16;

struct Fixture {
  std::unique_ptr<ModelScript> script;
  std::unique_ptr<BuiltModel> model;
  GraphFactory factory;
  NameMatcher names;
  ByteTable table;

  Fixture() {
    script = std::make_unique<ModelScript>(std::string(GOLFRT_SOURCE_DIR) + "/examples/baseline.lua", Overrides{"tiny", {}});
    model = script->build("train", 1, kSeq);
    model->store.initialize(5);
    // Every weight random (zero-initialized projections would leave the adapters on them inert).
    Rng rng(7);
    for (const ParamSpec& p : model->store.specs()) {
      Tensor& t = model->store.get(p.name);
      for (int64_t i = 0; i < t.numel(); i++) t.set(i, t.get(i) + 0.05 * rng.normal());
    }
    ModelScript* s = script.get();
    factory = [s](const std::string& mode, int64_t b, int64_t t) -> std::unique_ptr<ModelGraph> { return s->build(mode, b, t); };
    names = [s](const std::string& n, const std::string& p) { return s->name_matches(n, p); };
    table.vocab = 64;
    table.base_bytes.assign(64, 1);
    table.has_leading_space.assign(64, 0);
    table.is_boundary.assign(64, 0);
    table.is_boundary[1] = 1;
    table.base_bytes[1] = 0;
  }

  TttResult run(const TttSettings& s, const std::vector<uint16_t>& tokens) {
    Evaluator ev(factory, kSeq, 3, DType::f32);
    ev.set_untrusted(0);
    Evaluator::Windows w = s.stride > 0 ? ev.sliding_windows(int64_t(tokens.size()), s.stride)
                                        : ev.block_windows(int64_t(tokens.size()));
    return run_ttt(s, factory, model->store, ev, tokens, table, w, names, nullptr);
  }
};

// Documents of 5..40 tokens, each opening with BOS (id 1).
std::vector<uint16_t> stream(uint64_t seed, int64_t n) {
  Rng rng(seed);
  std::vector<uint16_t> t;
  while (int64_t(t.size()) < n) {
    t.push_back(1);
    const int64_t len = 5 + int64_t(rng.below(36));
    for (int64_t i = 0; i < len && int64_t(t.size()) < n; i++) t.push_back(uint16_t(2 + rng.below(62)));
  }
  return t;
}

TttSettings sgd(int64_t stride) {
  TttSettings s;
  s.scheme = "sgd";
  s.chunk = 32;
  s.lr = 0.05;
  s.epochs = 2;
  s.batch = 2;
  s.stride = stride;
  return s;
}

TttSettings lora(int64_t stride) {
  TttSettings s;
  s.scheme = "lora";
  s.rank = 2;
  s.lora_chunk = 4;
  s.lora_lr = 0.05;
  s.docs = 3;
  s.global_every = 2;  // the global passes are under the rule too
  s.lr = 0.02;
  s.epochs = 1;
  s.stride = stride;
  return s;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Perturb the tokens at positions >= t: every score before t stays bit for bit what it was, while
// training did change later scores (so the check is not passed by a run that never trains).
void expect_causal(Fixture& f, const TttSettings& s) {
  const std::vector<uint16_t> tokens = stream(3, 10 * kSeq + 1);
  const TttResult base = f.run(s, tokens);
  TttSettings frozen = s;
  frozen.lr = 0;
  frozen.lora_lr = 0;
  const TttResult untrained = f.run(frozen, tokens);
  int64_t trained_moved = 0;
  for (size_t p = 0; p < tokens.size(); p++)
    if (!std::isnan(base.loss_at[p]) && !same_bits(base.loss_at[p], untrained.loss_at[p])) trained_moved++;
  EXPECT_GT(trained_moved, 10) << "training changed too few scores for the rule's check to mean anything";
  for (int64_t t : {int64_t(33), int64_t(70), int64_t(121)}) {
    std::vector<uint16_t> moved = tokens;
    Rng rng{uint64_t(t) + 100};
    for (size_t p = size_t(t); p < moved.size(); p++)
      moved[p] = uint16_t(rng.below(8) == 0 ? 1 : 2 + rng.below(62));  // new documents too
    const TttResult other = f.run(s, moved);
    int64_t scored_before = 0, changed_after = 0;
    for (int64_t p = 1; p < t; p++) {
      ASSERT_EQ(std::isnan(base.loss_at[size_t(p)]), std::isnan(other.loss_at[size_t(p)])) << s.scheme << " position " << p;
      if (std::isnan(base.loss_at[size_t(p)])) continue;
      scored_before++;
      ASSERT_TRUE(same_bits(base.loss_at[size_t(p)], other.loss_at[size_t(p)]))
          << s.scheme << " (stride " << s.stride << "): the loss at position " << p << " moved from "
          << base.loss_at[size_t(p)] << " to " << other.loss_at[size_t(p)] << " when the tokens from " << t << " on changed";
    }
    for (size_t p = size_t(t); p < tokens.size(); p++)
      if (!std::isnan(base.loss_at[p]) && !same_bits(base.loss_at[p], other.loss_at[p])) changed_after++;
    EXPECT_EQ(scored_before, t - 1);
    EXPECT_GT(changed_after, 0);
  }
}

TEST(Ttt, sgd_scores_before_t_ignore_later_tokens) {
  Fixture f;
  expect_causal(f, sgd(0));
  expect_causal(f, sgd(4));
}

TEST(Ttt, lora_scores_before_t_ignore_later_tokens) {
  Fixture f;
  expect_causal(f, lora(0));
  expect_causal(f, lora(4));
}

TEST(Ttt, the_same_run_twice_gives_the_same_bpb_and_leaves_the_weights_as_they_were) {
  Fixture f;
  const std::vector<uint16_t> tokens = stream(9, 6 * kSeq + 1);
  const Tensor before = f.model->store.get("blocks.0.attn.c_q.weight").clone();
  for (const TttSettings& s : {sgd(0), lora(0)}) {
    const TttResult a = f.run(s, tokens), b = f.run(s, tokens);
    EXPECT_EQ(a.score.targets, 6 * kSeq) << s.scheme;
    EXPECT_TRUE(same_bits(a.score.bpb(), b.score.bpb())) << s.scheme << ": " << a.score.bpb() << " then " << b.score.bpb();
    EXPECT_GT(a.steps + a.chunks, 0);
  }
  const Tensor& after = f.model->store.get("blocks.0.attn.c_q.weight");
  for (int64_t i = 0; i < after.numel(); i++) ASSERT_EQ(after.get(i), before.get(i)) << "element " << i;
}

TEST(Ttt, lora_adapters_attach_to_every_linear_use_of_a_model_that_never_declared_them) {
  Fixture f;
  auto eval = f.factory("eval", 2, kSeq);
  std::vector<std::string> all;
  for (const ParamSpec& p : f.model->store.specs()) all.push_back(p.name);
  LoraGraph lg = attach_lora(*eval, all, 4);
  // q, k, v, o and the MLP's two matrices in each of 5 blocks, and the tied head.
  EXPECT_EQ(lg.weights.size(), 5u * 6u + 1u);
  EXPECT_EQ(lg.model->store.spec(lg.a[0]).shape, (Shape{2, 4, f.model->store.spec(lg.weights[0]).shape[1]}));
  // Zero adapters leave the logits exactly as they were.
  Tensor x({2, kSeq}, DType::i32);
  for (int64_t i = 0; i < x.numel(); i++) x.set(i, double(2 + i % 60));
  auto logits_of = [&](ModelGraph& m, bool adapters) {
    Executor ex(m.graph, {m.logits});
    for (const ParamSpec& p : eval->store.specs()) ex.bind(p.name, f.model->store.get(p.name));
    std::vector<Tensor> zeros;
    if (adapters)
      for (size_t k = 0; k < lg.a.size(); k++)
        for (const std::string& n : {lg.a[k], lg.b[k]}) {
          zeros.emplace_back(lg.model->store.spec(n).shape, DType::f32);
          zeros.back().fill(0);
          ex.bind(n, zeros.back());
        }
    ex.bind("tokens", x);
    ex.bind("targets", x);
    ex.run();
    return ex.result(0).clone();
  };
  Tensor a = logits_of(*eval, false), b = logits_of(*lg.model, true);
  for (int64_t i = 0; i < a.numel(); i++) ASSERT_EQ(a.get(i), b.get(i)) << i;
  EXPECT_NE(error_of([&] { attach_lora(*eval, {"blocks.0.attn.q_gain"}, 4); }).find("none of the 1 weights"),
            std::string::npos);
}

TEST(Ttt, bad_settings_are_refused_naming_the_flag_or_key) {
  TttSettings s = sgd(0);
  s.momentum = 1;
  EXPECT_NE(error_of([&] { check_ttt_settings(s); }).find("--ttt-momentum"), std::string::npos);
  s = lora(0);
  s.targets = {"q", "attention"};
  EXPECT_NE(error_of([&] { check_ttt_settings(s); }).find("'attention' is not a target"), std::string::npos);
  s.scheme = "adam";
  EXPECT_NE(error_of([&] { check_ttt_settings(s); }).find("sgd or lora"), std::string::npos);
  Json t = Json::parse(R"({"lr": 0.1, "lora": {"rank": 4, "patterns": {"q": ["a", "b"]}}})");
  TttSettings from_table;
  apply_ttt_table(t, from_table);
  EXPECT_EQ(from_table.lr, 0.1);
  EXPECT_EQ(from_table.rank, 4);
  EXPECT_EQ(from_table.patterns.at("q"), (std::vector<std::string>{"a", "b"}));
  EXPECT_NE(error_of([&] { apply_ttt_table(Json::parse(R"({"epoch": 3})"), from_table); }).find("unknown key 'epoch'"),
            std::string::npos);
}

}  // namespace
}  // namespace golf
