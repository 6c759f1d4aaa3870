// The learning-rate multiplier of each step, as the baseline computes it, plus warmup and a floor:
//   by = "steps": 1 until (total − warmdown_iters), then linear to 0 at total;
//   by = "time":  once the remaining wall-clock budget is under warmdown_iters × the mean step
//                 time so far, remaining / (warmdown_iters × mean step) — linear to 0 at the
//                 budget's end.
// warmdown = { frac = f, by = ... } (the 1.0611 record's WARMDOWN_FRAC): the decay covers the last
//   fraction f of the run: with p = elapsed / budget (by = "time") or step / total (by = "steps"),
//   1 while p < 1 − f, then (1 − p) / f — linear to 0 at the budget's (or the run's) end.
// lr_floor bounds the multiplier from below in every case (the record's MIN_LR).
// A wall-clock schedule depends on timing, so every multiplier used is recorded; a run given a
// recorded schedule replays it exactly (and stops at its last step).
#pragma once
#include <cstdint>
#include <vector>

#include "runtime/json.h"

namespace golf {

struct ScheduleConfig {
  int64_t warmup_steps = 0;
  int64_t warmdown_iters = 0;
  double warmdown_frac = 0.0;  // > 0: the fraction form (warmdown_iters is then 0)
  bool by_time = false;
  double lr_floor = 0.0;  // the multiplier never goes below this

  static ScheduleConfig from_json(const Json& train);  // train.warmup, train.warmdown, train.lr_floor
};

class Schedule {
 public:
  Schedule(ScheduleConfig cfg, int64_t total_steps, double time_budget_s);

  // The multiplier for `step` (0-based) given the training time elapsed before it.
  double multiplier(int64_t step, double elapsed_s);
  // Replays these multipliers for steps 0..n-1; the run then ends after step n-1.
  void set_replay(std::vector<double> recorded);
  bool replaying() const { return !replay_.empty(); }
  int64_t replay_steps() const { return int64_t(replay_.size()); }

  const std::vector<double>& recorded() const { return recorded_; }  // one per step taken
  void restore(std::vector<double> recorded) { recorded_ = std::move(recorded); }

 private:
  ScheduleConfig cfg_;
  int64_t total_;
  double budget_;
  std::vector<double> replay_, recorded_;
};

}  // namespace golf
