// The script's `train` table (its keys listed in runtime/train/trainer.h), read and checked in one
// place before anything is built, with the command line's overrides (TrainerOptions) applied.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/json.h"
#include "runtime/train/combiner_fit.h"
#include "runtime/train/schedule.h"
#include "runtime/train/trainer.h"

namespace golf {

// One entry of train.phases (without phases: one open-ended "main" phase).
struct Phase {
  std::string name = "main";
  int64_t steps = 0;     // 0: open-ended (the last phase)
  double seconds = 0;
  std::vector<std::string> freeze;
  double lr_scale = 1.0;
  int64_t replay = 0;    // > 0: cycle over the last `replay` batches instead of fresh data
  // Self-distillation: loss = alpha·T²·KL(teacher_T ‖ student_T) + (1 − alpha)·CE, the teacher a
  // frozen copy (weight set "teacher") of `teacher` ("ema" or "live") taken when the phase starts.
  bool distill = false;
  std::string teacher = "ema";
  double temperature = 2.0, alpha = 0.7;
};

struct TrainConfig {
  int64_t seq_len = 0;
  int64_t batch_tokens = 0;  // per optimizer step, over all ranks
  int64_t micro = 0;         // sequences per micro-batch
  int64_t accum = 0;         // micro-batches per step
  int64_t max_steps = 0;     // 0: no step cap
  double full_budget = 0;    // seconds; 0: none
  double budget = 0;         // the steps' share: full_budget less the calibration and combiner reserves
  ScheduleConfig schedule;
  int64_t log_every = 10, eval_every = 0, eval_windows = 0, eval_batch = 0, checkpoint_every = 0;
  double grad_clip = 0;
  double ema_decay = 0;
  int64_t swa_every = 0;
  double swa_start = 0.5;  // fraction of max_steps
  double swa_below = 0;    // > 0: average once the LR multiplier is below
  // Late QAT (train graphs carry it: dsl/lua_core.h BuildContext::qat_bits): on once the LR
  // multiplier falls below qat_below, and on from then on.
  bool qat_enabled = false;
  double qat_below = 0.15;
  // Steps 0, c, 2c, ... and replay phases use the graph built with mode "train_double".
  int64_t double_every = 0;
  // train.graph_switch = { at = f, by = "time" | "steps" }: the steps before the fraction f of the
  // time budget (or of the step count) run the graph built with mode "train_early", the rest the
  // "train" graph (the record's depth recurrence, switched on at 35%). Once on, on for good.
  double switch_at = 0;  // 0: no switch
  bool switch_by_time = true;
  std::vector<Phase> phases;
  int64_t replay_cap = 0;  // the most batches a replay phase cycles over
  bool fit_combiner = false;
  CombinerFitSpec combiner;
};

// Throws std::invalid_argument naming the key and its value. `ranks`: the data-parallel rank
// count, which must divide a step's micro-batches.
TrainConfig parse_train_config(const Json& train, int64_t seq_len, const TrainerOptions& opt, int64_t ranks);

// The phase a step belongs to, by the phases' cumulative steps or seconds.
size_t phase_at(const std::vector<Phase>& phases, int64_t step, double elapsed);

}  // namespace golf
