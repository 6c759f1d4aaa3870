// The micro-batch that fits (issue 16): the pure choice on synthetic byte counts, and the
// baseline planned at the challenge's batch in count-only mode for an 80 GB device, no GPU needed.
#include <gtest/gtest.h>

#include "dsl/script.h"
#include "runtime/train/micro_batch_plan.h"
#include "runtime/train/step_on_paper.h"

namespace golf {
namespace {

constexpr int64_t GB = 1000000000;

// 10 GB fixed + 1 GB per sequence; 80 GB free leaves 72 GB usable, so at most 62 sequences.
int64_t linear(int64_t n) { return 10 * GB + n * GB; }

TEST(MicroBatchPlan, derives_the_largest_divisor_that_fits_and_suits_the_ranks) {
  MicroBatchPlan p = plan_micro_batch(512, 1, 80 * GB, 0, linear);
  EXPECT_EQ(p.micro_batch, 32);
  EXPECT_TRUE(p.derived);
  EXPECT_EQ(p.planned_bytes, 42 * GB);
  EXPECT_EQ(p.usable_bytes, 72 * GB);
  // 24 sequences with 3 ranks: 24/n micro-batches must be a multiple of 3, n ≤ 62: 8.
  EXPECT_EQ(plan_micro_batch(24, 3, 80 * GB, 0, linear).micro_batch, 8);
  // Plenty of memory: the whole step in one micro-batch.
  EXPECT_EQ(plan_micro_batch(512, 1, 1000 * GB, 0, linear).micro_batch, 512);
  EXPECT_NE(p.describe().find("micro_batch 32 (derived)"), std::string::npos) << p.describe();
}

TEST(MicroBatchPlan, a_set_micro_batch_that_cannot_fit_is_refused_naming_bytes_and_the_setting) {
  EXPECT_EQ(plan_micro_batch(512, 1, 80 * GB, 16, linear).micro_batch, 16);
  try {
    plan_micro_batch(512, 1, 80 * GB, 64, linear);
    FAIL() << "64 sequences plan 74 GB > 72 GB usable";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("plans 74.00 GB"), std::string::npos) << m;
    EXPECT_NE(m.find("80.00 GB free"), std::string::npos) << m;
    EXPECT_NE(m.find("--set train.micro_batch=32"), std::string::npos) << m;
  }
  EXPECT_THROW(plan_micro_batch(512, 1, 80 * GB, 48, linear), std::invalid_argument);  // does not divide
  EXPECT_THROW(plan_micro_batch(512, 8, 80 * GB, 128, linear), std::invalid_argument);  // 4 micro-batches, 8 ranks
  EXPECT_THROW(plan_micro_batch(512, 1, 5 * GB, 0, linear), std::invalid_argument);     // nothing fits
}

// The baseline (default config) at the challenge's batch: 524,288 tokens = 512 sequences of 1024,
// planned for one device with 80 GB free. Today (before this planner) the trainer plans one
// micro-batch of all 512 sequences (runtime/train/trainer.cc: micro_batch defaults to the step).
TEST(MicroBatchPlan, baseline_at_the_challenge_batch_fits_80_gb) {
  ModelScript script(std::string(GOLFRT_SOURCE_DIR) + "/examples/baseline.lua");
  Json train = script.table_json("train");
  const int64_t seq = int64_t(script.config_number("seq_len"));
  const int64_t step_sequences = train.get("batch_tokens", int64_t(0)) / seq;
  ASSERT_EQ(step_sequences, 512);
  GraphFactory factory = [&](const std::string& mode, int64_t b, int64_t t) { return script.build(mode, b, t); };
  NameMatcher matcher = [&](const std::string& n, const std::string& p) { return script.name_matches(n, p); };
  // The optimizers' executors do not depend on the micro-batch: counted once.
  StepOnPaper one = step_on_paper(factory, matcher, train, 1, seq, step_sequences);
  const int64_t optimizer_bytes = one.device_bytes() - one.micro.bytes.total();
  ASSERT_GT(optimizer_bytes, 17059912 * 4) << "the optimizers hold at least a copy of the weights";
  std::map<int64_t, int64_t> asked;
  auto planned = [&](int64_t n) {
    return asked[n] = step_on_paper(factory, matcher, train, n, seq, step_sequences, 1, false).micro.bytes.total() +
                      optimizer_bytes;
  };
  MicroBatchPlan p = plan_micro_batch(step_sequences, 1, 80 * GB, 0, planned);
  std::printf("baseline, 80 GB free: %s\n", p.describe().c_str());
  for (auto& [n, b] : asked) std::printf("  micro_batch %3lld plans %s\n", (long long)n, gigabytes(b).c_str());
  // Measured here (f32 activations, the arena's reuse, reshapes as views): 128 sequences plan
  // 47.8 GB, 256 plan 95 GB, 512 plan 190 GB. So 80 GB derive 128, not the expected
  // "≤ 64" (which holds from about 53 GB free down: checked below with 40 GB).
  EXPECT_LE(p.micro_batch, 128);
  EXPECT_GE(p.micro_batch, 64) << "an 80 GB device holds 64 sequences of the baseline";
  EXPECT_LE(p.planned_bytes, 80 * GB);
  EXPECT_LE(p.planned_bytes, p.usable_bytes);
  EXPECT_GT(asked.at(2 * p.micro_batch), p.usable_bytes) << "the next larger candidate does not fit";
  EXPECT_GT(asked.at(512), 80 * GB) << "the whole step at once does not fit (today's default)";
  MicroBatchPlan small = plan_micro_batch(step_sequences, 1, 40 * GB, 0, planned);
  std::printf("baseline, 40 GB free: %s\n", small.describe().c_str());
  EXPECT_LE(small.micro_batch, 64);
  EXPECT_LE(small.planned_bytes, 40 * GB);
}

}  // namespace
}  // namespace golf
