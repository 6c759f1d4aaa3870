// The micro-batch that fits (issue 16): the pure choice on synthetic byte counts, and the
// baseline planned at the challenge's batch in count-only mode for an 80 GB device, no GPU needed.
#include <gtest/gtest.h>

#include <map>

#include "dsl/script.h"
#include "runtime/train/device_plan.h"
#include "runtime/train/micro_batch_plan.h"
#include "runtime/train/step_on_paper.h"
#include "tests/support/run_command.h"

namespace golf {
namespace {

constexpr int64_t GB = 1000000000;

// 10 GB fixed + 1 GB per sequence; 80 GB free leaves 72 GB usable, so at most 62 sequences.
int64_t linear(int64_t n) { return 10 * GB + n * GB; }

TEST(MicroBatchPlan, derives_the_largest_divisor_that_fits_and_suits_the_ranks) {
  MicroBatchPlan p = plan_micro_batch(512, 1, 80 * GB, 0, linear, 0);
  EXPECT_EQ(p.micro_batch, 32);
  EXPECT_TRUE(p.derived);
  EXPECT_EQ(p.planned_bytes, 42 * GB);
  EXPECT_EQ(p.usable_bytes, 72 * GB);
  // 24 sequences with 3 ranks: 24/n micro-batches must be a multiple of 3, n ≤ 62: 8.
  EXPECT_EQ(plan_micro_batch(24, 3, 80 * GB, 0, linear, 0).micro_batch, 8);
  // Plenty of memory: the whole step in one micro-batch.
  EXPECT_EQ(plan_micro_batch(512, 1, 1000 * GB, 0, linear, 0).micro_batch, 512);
  EXPECT_NE(p.describe().find("micro_batch 32 (derived)"), std::string::npos) << p.describe();
}

// The cap of kMaxMicroBatchTokens tokens (micro_batch_plan.h says why) binds a derived micro-batch
// only: a set one is checked against memory alone.
TEST(MicroBatchPlan, a_derived_micro_batch_holds_at_most_the_token_cap) {
  ASSERT_EQ(kMaxMicroBatchTokens, 65536);
  MicroBatchPlan p = plan_micro_batch(512, 1, 1000 * GB, 0, linear, 1024);
  EXPECT_EQ(p.micro_batch, 64);
  EXPECT_TRUE(p.capped);
  EXPECT_NE(p.describe().find("larger ones exceed 65536 tokens"), std::string::npos) << p.describe();
  EXPECT_EQ(plan_micro_batch(512, 1, 1000 * GB, 0, linear, 256).micro_batch, 256);  // 65,536 tokens of 256
  // Memory binds before the cap: 62 sequences fit, the cap allows 64, so 32.
  MicroBatchPlan m = plan_micro_batch(512, 1, 80 * GB, 0, linear, 512);
  EXPECT_EQ(m.micro_batch, 32);
  EXPECT_FALSE(m.capped);
  // A sequence longer than the cap: one per micro-batch.
  EXPECT_EQ(plan_micro_batch(4, 1, 1000 * GB, 0, linear, 131072).micro_batch, 1);
  // Set: not capped.
  EXPECT_EQ(plan_micro_batch(512, 1, 1000 * GB, 512, linear, 1024).micro_batch, 512);
}

TEST(MicroBatchPlan, a_set_micro_batch_that_cannot_fit_is_refused_naming_bytes_and_the_setting) {
  EXPECT_EQ(plan_micro_batch(512, 1, 80 * GB, 16, linear, 1024).micro_batch, 16);
  try {
    plan_micro_batch(512, 1, 80 * GB, 64, linear, 1024);
    FAIL() << "64 sequences plan 74 GB > 72 GB usable";
  } catch (const std::invalid_argument& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("plans 74.00 GB"), std::string::npos) << m;
    EXPECT_NE(m.find("80.00 GB free"), std::string::npos) << m;
    EXPECT_NE(m.find("--set train.micro_batch=32"), std::string::npos) << m;
  }
  EXPECT_THROW(plan_micro_batch(512, 1, 80 * GB, 48, linear, 1024), std::invalid_argument);  // does not divide
  EXPECT_THROW(plan_micro_batch(512, 8, 80 * GB, 128, linear, 1024), std::invalid_argument);  // 4 micro-batches, 8 ranks
  EXPECT_THROW(plan_micro_batch(512, 1, 5 * GB, 0, linear, 1024), std::invalid_argument);     // nothing fits
  EXPECT_THROW(plan_micro_batch(512, 3, 80 * GB, 0, linear, 1024), std::invalid_argument);    // 3 ranks share no split
}

// The baseline (default config) at the challenge's batch: 524,288 tokens = 512 sequences of 1024,
// planned for one device with 80 GB free, in count-only mode (runtime/train/device_plan.h: the
// train-step, evaluation and optimizer graphs). Before the planner the trainer took one
// micro-batch of all 512 sequences (runtime/train/trainer.cc: micro_batch defaulted to the step),
// which plans about 190 GB.
TEST(MicroBatchPlan, baseline_at_the_challenge_batch_fits_80_gb) {
  ModelScript script(std::string(GOLFRT_SOURCE_DIR) + "/examples/baseline.lua");
  Json train = script.table_json("train");
  const int64_t seq = int64_t(script.config_number("seq_len"));
  const int64_t step_sequences = train.get("batch_tokens", int64_t(0)) / seq;
  ASSERT_EQ(step_sequences, 512);
  ASSERT_FALSE(train.has("micro_batch")) << "the baseline sets no micro_batch: the planner derives it";
  GraphFactory factory = [&](const std::string& mode, int64_t b, int64_t t) { return script.build(mode, b, t); };
  NameMatcher matcher = [&](const std::string& n, const std::string& p) { return script.name_matches(n, p); };
  auto bytes = planned_run_bytes(factory, matcher, train, seq, 1);
  std::map<int64_t, int64_t> asked;
  auto planned = [&](int64_t n) { return asked[n] = bytes(n); };
  MicroBatchPlan p = plan_micro_batch(step_sequences, 1, 80 * GB, 0, planned, seq);
  std::printf("baseline, 80 GB free: %s\n", p.describe().c_str());
  // The demand.
  EXPECT_LE(p.micro_batch, 64);
  EXPECT_LE(p.planned_bytes, 80 * GB);
  EXPECT_LE(p.planned_bytes, p.usable_bytes);
  EXPECT_EQ(p.micro_batch * seq, kMaxMicroBatchTokens) << "the cap, not memory, decides at 80 GB";
  EXPECT_TRUE(p.capped);
  // Memory alone (no cap) would take more: the cap is what makes it 64 (docs/perf.md says why).
  MicroBatchPlan uncapped = plan_micro_batch(step_sequences, 1, 80 * GB, 0, planned, 0);
  std::printf("baseline, 80 GB free, no token cap: %s\n", uncapped.describe().c_str());
  for (auto& [n, b] : asked) std::printf("  micro_batch %3lld plans %s\n", (long long)n, gigabytes(b).c_str());
  EXPECT_GT(uncapped.micro_batch, p.micro_batch);
  EXPECT_GT(asked.at(512), 80 * GB) << "the whole step at once does not fit (the default before the planner)";
  // Where memory binds: 20 GB free.
  MicroBatchPlan small = plan_micro_batch(step_sequences, 1, 20 * GB, 0, planned, seq);
  std::printf("baseline, 20 GB free: %s\n", small.describe().c_str());
  EXPECT_LT(small.micro_batch, 64);
  EXPECT_FALSE(small.capped);
  EXPECT_LE(small.planned_bytes, small.usable_bytes);
  EXPECT_GT(asked.at(2 * small.micro_batch), small.usable_bytes) << "the next larger candidate does not fit";
}

// `golfrt train examples/baseline.lua --device cuda` with no flags derives a micro-batch: its plan
// (--plan-only) on this machine, told by GOLFRT_DEVICE_FREE_BYTES that 80 GB are free. A set one
// that cannot fit is refused naming the planned bytes, the free bytes and the setting to change.
TEST(MicroBatchPlan, golfrt_train_plans_the_baseline_for_cuda_without_flags) {
  const std::string script = std::string(GOLFRT_SOURCE_DIR) + "/examples/baseline.lua";
  const std::map<std::string, std::string> env = {{"GOLFRT_DEVICE_FREE_BYTES", "80000000000"}};
  const std::string logs = ::testing::TempDir() + "/micro_batch_plan_cli";
  test::Result r = test::wait_for(test::spawn_program(GOLFRT_CLI, {"train", script, "--device", "cuda", "--plan-only"},
                                                      logs + "_derive", env), 300);
  ASSERT_TRUE(r.ok()) << r.describe();
  EXPECT_NE(r.out.find("micro_batch 64 (derived)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("80.00 GB free"), std::string::npos) << r.out;

  r = test::wait_for(test::spawn_program(GOLFRT_CLI,
                                         {"train", script, "--device", "cuda", "--plan-only", "--set", "train.micro_batch=512"},
                                         logs + "_refuse", env), 300);
  EXPECT_EQ(r.exit_code(), 1) << r.describe();
  EXPECT_NE(r.err.find("train.micro_batch 512 plans"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("80.00 GB free"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--set train.micro_batch="), std::string::npos) << r.err;

  // A malformed GOLFRT_DEVICE_FREE_BYTES is refused, naming it.
  r = test::wait_for(test::spawn_program(GOLFRT_CLI, {"train", script, "--device", "cuda", "--plan-only"}, logs + "_bad",
                                         {{"GOLFRT_DEVICE_FREE_BYTES", "80GB"}}), 300);
  EXPECT_EQ(r.exit_code(), 1) << r.describe();
  EXPECT_NE(r.err.find("GOLFRT_DEVICE_FREE_BYTES='80GB'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace golf
