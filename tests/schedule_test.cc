// The LR schedule's fraction warmdown (train.warmdown = { frac, by }), as the 1.0611 record's lr_mul
// computes it: 1 while the run's progress p < 1 − frac, then (1 − p)/frac, never under lr_floor;
// p = elapsed/budget by time, step/total by steps. (tests/optim_record_test.cc checks the same
// multipliers against the record's formula in Python.)
#include <gtest/gtest.h>

#include <stdexcept>

#include "runtime/train/schedule.h"

namespace golf {
namespace {

ScheduleConfig parse(const std::string& json) { return ScheduleConfig::from_json(Json::parse(json, "test")); }

TEST(Schedule, warmdown_fraction_of_the_time_budget) {
  Schedule s(parse(R"({"warmdown": {"frac": 0.85, "by": "time"}, "lr_floor": 0.1})"), 0, 100.0);
  EXPECT_DOUBLE_EQ(s.multiplier(0, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(s.multiplier(1, 10.0), 1.0);                   // p = 0.10: before the warmdown
  EXPECT_DOUBLE_EQ(s.multiplier(2, 15.0), 1.0);                   // p = 0.15: it starts at 1
  EXPECT_DOUBLE_EQ(s.multiplier(3, 57.5), 0.5);                   // halfway down
  EXPECT_DOUBLE_EQ(s.multiplier(4, 83.0), (1.0 - 0.83) / 0.85);   // 0.2
  EXPECT_DOUBLE_EQ(s.multiplier(5, 95.0), 0.1);                   // (1 − 0.95)/0.85 = 0.059: the floor
  EXPECT_DOUBLE_EQ(s.multiplier(6, 120.0), 0.1);                  // past the budget
  EXPECT_EQ(s.recorded().size(), 7u);
}

TEST(Schedule, warmdown_fraction_of_the_steps) {
  Schedule s(parse(R"({"warmdown": {"frac": 0.5}})"), 10, 0.0);  // by = "steps" by default, no floor
  double want[10] = {1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2};
  for (int k = 0; k < 10; k++) EXPECT_NEAR(s.multiplier(k, 999.0), want[k], 1e-15) << "step " << k;
}

TEST(Schedule, warmdown_settings_are_checked) {
  EXPECT_THROW(parse(R"({"warmdown": {"frac": 0.5, "iters": 10}})"), std::invalid_argument);
  EXPECT_THROW(parse(R"({"warmdown": {"frac": 1.5}})"), std::invalid_argument);
  EXPECT_THROW(parse(R"({"warmdown": {"fraction": 0.5}})"), std::invalid_argument);
  EXPECT_THROW(parse(R"({"warmdown": {"frac": 0.5, "by": "tokens"}})"), std::invalid_argument);
  // The iteration form is unchanged: 1 until total − iters, then linear to 0 (as the baseline).
  Schedule s(parse(R"({"warmdown": {"iters": 4}})"), 8, 0.0);
  double want[8] = {1, 1, 1, 1, 1, 0.75, 0.5, 0.25};
  for (int k = 0; k < 8; k++) EXPECT_DOUBLE_EQ(s.multiplier(k, 0.0), want[k]) << "step " << k;
}

}  // namespace
}  // namespace golf
