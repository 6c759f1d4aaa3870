#include "runtime/train/train_config.h"

#include <algorithm>
#include <stdexcept>

namespace golf {

namespace {

std::vector<Phase> parse_phases(const Json& train) {
  std::vector<Phase> phases;
  const Json& ps = train["phases"];
  if (ps.is_null()) return {Phase{}};
  if (!ps.is_array() || ps.size() == 0)
    throw std::invalid_argument("train.phases must be a non-empty list of phases, got " + ps.dump());
  // A combiner fit (runtime/train/combiner_fit.h) is the last entry and runs after the steps.
  const size_t n = ps.size() - (ps[ps.size() - 1].has("fit") ? 1 : 0);
  if (n == 0) return {Phase{}};
  for (size_t i = 0; i < n; i++) {
    const Json& p = ps[i];
    std::string where = "train.phases[" + std::to_string(i + 1) + "]";
    Phase ph;
    ph.name = p.get("name", ("phase" + std::to_string(i + 1)).c_str());
    ph.steps = p.get("steps", int64_t(0));
    ph.seconds = p.get("seconds", 0.0);
    ph.lr_scale = p.get("lr_scale", 1.0);
    const Json& fr = p["freeze"];
    if (fr.is_string()) ph.freeze.push_back(fr.str());
    for (const Json& f : fr.items()) ph.freeze.push_back(f.str(where + ".freeze"));
    const Json& d = p["data"];
    if (d.is_object()) ph.replay = d.get("replay", int64_t(0));
    else if (d.is_string() && d.str() != "fresh") throw std::invalid_argument(where + ".data must be \"fresh\" or { replay = N }");
    const Json& ds = p["distill"];
    if (!ds.is_null()) {
      if (!ds.is_object()) throw std::invalid_argument(where + ".distill must be { teacher, temperature, alpha }");
      ph.distill = true;
      ph.teacher = ds.get("teacher", "ema");
      ph.temperature = ds.get("temperature", 2.0);
      ph.alpha = ds.get("alpha", 0.7);
      if (ph.teacher != "ema" && ph.teacher != "live")
        throw std::invalid_argument(where + ".distill.teacher must be \"ema\" or \"live\"");
      if (ph.temperature <= 0 || ph.alpha < 0 || ph.alpha > 1)
        throw std::invalid_argument(where + ".distill: temperature > 0 and alpha in [0, 1]");
    }
    if (ph.steps == 0 && ph.seconds == 0 && i + 1 < n)
      throw std::invalid_argument(where + " needs steps or seconds (only the last phase may be open-ended)");
    phases.push_back(ph);
  }
  return phases;
}

}  // namespace

TrainConfig parse_train_config(const Json& train, int64_t seq, const TrainerOptions& opt, int64_t ranks) {
  TrainConfig c;
  c.seq_len = seq;
  c.batch_tokens = train.get("batch_tokens", int64_t(8 * seq));
  if (c.batch_tokens % seq)
    throw std::invalid_argument("train.batch_tokens (" + std::to_string(c.batch_tokens) + ") must be a multiple of seq_len (" +
                                std::to_string(seq) + ")");
  const int64_t seqs_per_step = c.batch_tokens / seq;
  c.micro = train.get("micro_batch", seqs_per_step);
  if (c.micro <= 0 || seqs_per_step % c.micro)
    throw std::invalid_argument("train.micro_batch (" + std::to_string(c.micro) + ") must divide the " +
                                std::to_string(seqs_per_step) + " sequences of a step");
  c.accum = seqs_per_step / c.micro;
  if (c.accum % ranks)
    throw std::invalid_argument("a step has " + std::to_string(c.accum) + " micro-batches (train.batch_tokens / seq_len / train.micro_batch), which " +
                                std::to_string(ranks) + " ranks cannot share evenly: choose train.micro_batch so that their number is a multiple of the rank count");
  c.max_steps = opt.steps >= 0 ? opt.steps : train.get("steps", int64_t(0));
  c.full_budget = opt.time_budget >= 0 ? opt.time_budget : train.get("time_budget", 0.0);
  c.fit_combiner = combiner_fit_phase(train, &c.combiner);
  c.budget = c.full_budget > 0
                 ? std::max(c.full_budget - opt.calibration_reserve_s - (c.fit_combiner ? c.combiner.reserve : 0.0), 0.0)
                 : 0.0;
  // A replayed schedule fixes the step count itself.
  if (c.max_steps <= 0 && c.full_budget <= 0 && opt.replay_schedule.empty())
    throw std::invalid_argument("training needs a step count (train.steps, --steps) or a time budget (train.time_budget, --time-budget)");
  c.log_every = std::max<int64_t>(1, train.get("log_every", int64_t(10)));
  c.eval_every = train.get("eval_every", int64_t(0));
  c.eval_windows = train.get("eval_windows", int64_t(0));
  c.eval_batch = train.get("eval_batch", c.micro);
  c.checkpoint_every = opt.checkpoint_every >= 0 ? opt.checkpoint_every : train.get("checkpoint_every", int64_t(0));
  c.grad_clip = train.get("grad_clip", 0.0);
  c.ema_decay = train["ema"].get("decay", 0.0);
  c.swa_every = train["swa"].get("every", int64_t(0));
  c.swa_start = train["swa"].get("start", 0.5);
  c.swa_below = train["swa"].get("below", 0.0);
  const Json& qat = train["qat"];
  c.qat_enabled = qat.is_object() || (qat.is_bool() && qat.boolean());
  c.qat_below = qat.is_object() ? qat.get("below", 0.15) : 0.15;
  c.phases = parse_phases(train);
  for (const Phase& p : c.phases) c.replay_cap = std::max(c.replay_cap, p.replay);
  c.double_every = train["double_fire"].get("every", int64_t(0));
  if (train.has("graph_switch")) {
    const Json& s = train["graph_switch"];
    if (!s.is_object()) throw std::invalid_argument("train.graph_switch must be a table { at = f, by = \"time\" | \"steps\" }");
    for (const auto& [k, v] : s.fields())
      if (k != "at" && k != "by") throw std::invalid_argument("train.graph_switch: unknown key '" + k + "' (expected at, by)");
    c.switch_at = s["at"].number("train.graph_switch.at");
    if (!(c.switch_at > 0 && c.switch_at < 1))
      throw std::invalid_argument("train.graph_switch.at must be in (0, 1), got " + s["at"].dump());
    const std::string by = s.get("by", "time");
    if (by != "time" && by != "steps") throw std::invalid_argument("train.graph_switch.by must be \"time\" or \"steps\", got '" + by + "'");
    c.switch_by_time = by == "time";
    if (c.switch_by_time && c.budget <= 0)
      throw std::invalid_argument("train.graph_switch by time needs a time budget (train.time_budget, --time-budget)");
    if (!c.switch_by_time && c.max_steps <= 0)
      throw std::invalid_argument("train.graph_switch by steps needs a step count (train.steps, --steps)");
  }
  c.schedule = ScheduleConfig::from_json(train);
  return c;
}

size_t phase_at(const std::vector<Phase>& phases, int64_t step, double elapsed) {
  int64_t steps_before = 0;
  double secs_before = 0;
  for (size_t i = 0; i + 1 < phases.size(); i++) {
    steps_before += phases[i].steps;
    secs_before += phases[i].seconds;
    const bool inside = phases[i].steps > 0 ? step < steps_before : elapsed < secs_before;
    if (inside) return i;
  }
  return phases.size() - 1;
}

}  // namespace golf
