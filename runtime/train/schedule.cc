#include "runtime/train/schedule.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace golf {

ScheduleConfig ScheduleConfig::from_json(const Json& train) {
  ScheduleConfig c;
  const Json& w = train["warmup"];
  if (w.is_number()) c.warmup_steps = w.integer("train.warmup");
  else if (w.is_object()) c.warmup_steps = w.get("steps", int64_t(0));
  const Json& d = train["warmdown"];
  if (d.is_number()) {
    c.warmdown_iters = d.integer("train.warmdown");
  } else if (d.is_object()) {
    for (const auto& [k, v] : d.fields())
      if (k != "iters" && k != "frac" && k != "by")
        throw std::invalid_argument("train.warmdown: unknown setting '" + k + "' (known: iters, frac, by)");
    if (d.has("iters") && d.has("frac")) throw std::invalid_argument("train.warmdown: give iters or frac, not both");
    c.warmdown_iters = d.get("iters", int64_t(0));
    c.warmdown_frac = d.get("frac", 0.0);
    if (c.warmdown_frac < 0 || c.warmdown_frac > 1)
      throw std::invalid_argument("train.warmdown.frac must be in [0, 1], not " + std::to_string(c.warmdown_frac));
    std::string by = d.get("by", "steps");
    if (by != "steps" && by != "time") throw std::invalid_argument("train.warmdown.by must be \"steps\" or \"time\", not \"" + by + "\"");
    c.by_time = by == "time";
  }
  c.lr_floor = train.get("lr_floor", 0.0);
  return c;
}

Schedule::Schedule(ScheduleConfig cfg, int64_t total_steps, double time_budget_s)
    : cfg_(cfg), total_(total_steps), budget_(time_budget_s) {}

void Schedule::set_replay(std::vector<double> recorded) { replay_ = std::move(recorded); }

double Schedule::multiplier(int64_t step, double elapsed_s) {
  double m = 1.0;
  if (step < int64_t(replay_.size())) {
    m = replay_[size_t(step)];
  } else {
    if (cfg_.warmdown_frac > 0) {
      double p = -1;
      if (cfg_.by_time && budget_ > 0) p = elapsed_s / budget_;
      else if (!cfg_.by_time && total_ > 0) p = double(step) / double(total_);
      if (p >= 1.0 - cfg_.warmdown_frac) m = std::max((1.0 - p) / cfg_.warmdown_frac, 0.0);
    } else if (cfg_.warmdown_iters > 0) {
      if (cfg_.by_time && budget_ > 0) {
        double step_s = elapsed_s / double(std::max<int64_t>(step, 1));
        double warmdown_s = double(cfg_.warmdown_iters) * step_s;
        double remaining = std::max(budget_ - elapsed_s, 0.0);
        if (remaining <= warmdown_s) m = remaining / std::max(warmdown_s, 1e-9);
      } else if (total_ > 0) {
        int64_t start = std::max<int64_t>(total_ - cfg_.warmdown_iters, 0);
        if (step >= start && step < total_)
          m = std::max(double(total_ - step) / double(std::max<int64_t>(cfg_.warmdown_iters, 1)), 0.0);
      }
    }
    if (cfg_.warmup_steps > 0 && step < cfg_.warmup_steps) m *= double(step + 1) / double(cfg_.warmup_steps);
    m = std::max(m, cfg_.lr_floor);
  }
  if (int64_t(recorded_.size()) == step) recorded_.push_back(m);
  else if (step < int64_t(recorded_.size())) recorded_[size_t(step)] = m;
  return m;
}

}  // namespace golf
