// The training loop: data → forward+backward over micro-batches → clip → optimizer update →
// schedule → periodic evaluation → checkpoints → final evaluation. The clock counts training
// steps only (evaluation and checkpoint writes are excluded), as the challenge measures it.
// Its pieces: train_config.h (the table below, read once), checkpoint.h (the train state saved
// and restored), distill.h (the distillation phase's graphs), combiner_fit.h (the combiner
// phase), trainer.cc (the step, the phases' entry, calibration, the final evaluation, the loop).
//
// The script's `train` table (as JSON) drives it:
//   batch_tokens (per optimizer step), micro_batch (sequences per micro-batch), steps,
//   time_budget (s), warmup / warmdown / lr_floor (runtime/train/schedule.h), grad_clip,
//   optim (rules, runtime/optim/optimizer_set.h), ema = { decay }, swa = { every, start | below },
//   double_fire = { every = c } (steps 0, c, 2c, ... and replay phases use the graph built with
//   mode "train_double"), graph_switch = { at = f, by = "time" | "steps" } (the steps before the
//   fraction f of the time budget or step count use the graph built with mode "train_early"; the
//   depth recurrence the record switches on at 35%),
//   qat = { below = 0.15, bits } (late QAT: the quant table's bits, fake-quantized per row, once
//   the LR multiplier is below `below`), eval_every, eval_windows, eval_batch, log_every,
//   checkpoint_every,
//   phases = { { name, steps | seconds, freeze = { patterns }, lr_scale, data = "fresh" | { replay = N },
//                distill = { teacher = "ema" | "live", temperature = 2, alpha = 0.7 } } }
#pragma once
#include <map>
#include <memory>
#include <string>

#include "runtime/data/dataset.h"
#include "runtime/dist/communicator.h"
#include "runtime/executor.h"
#include "runtime/model_graph.h"
#include "runtime/train/evaluate.h"

namespace golf {

struct TrainerOptions {
  std::string out_dir = "runs/run";
  uint64_t seed = 1;
  int64_t steps = -1;          // -1: the script's train.steps (0 there: no step cap)
  double time_budget = -1;     // seconds; -1: the script's train.time_budget (0: none)
  bool resume = false;         // continue from out_dir/checkpoint.bin
  std::string replay_schedule; // schedule.json of an earlier run: replay its multipliers exactly
  int64_t checkpoint_every = -1;  // steps; -1: the script's (0: only at the end)
  DType real = DType::f32;
  Device device = Device::cpu;  // where the step, update and evaluation graphs run
  // Whether the script's graphs run through runtime/fuse_pass.h (fused kernels): by default on
  // CUDA (and the stand-in device) and not on the CPU, whose golden numbers are the unfused
  // graph's. `on` fuses on the CPU too (the same kernels as the stand-in: tests compare the two).
  enum class Fuse { device_default, on, off };
  Fuse fuse = Fuse::device_default;
  // On a CUDA device (and the stand-in): the micro-batch's forward+backward, the optimizers'
  // updates, the gradient clip and the weight averages run as CUDA graphs (ExecOptions::graph,
  // docs/cuda.md "CUDA graphs"); `golfrt train --cuda-graph off` runs them launch by launch.
  bool cuda_graph = true;

  // Which values the step and evaluation graphs store in bf16 (ExecOptions::storage,
  // runtime/precision_pass.h): automatic is bf16 on CUDA (and the stand-in device), fp32 on the CPU.
  RealStorage storage = RealStorage::automatic;
  // With Device::cuda: the free bytes the micro-batch is planned for (runtime/train/device_plan.h);
  // 0 asks the device (or GOLFRT_DEVICE_FREE_BYTES). A stand-in device or a test says it here.
  int64_t device_free_bytes = 0;
  bool quiet = false;
  // GPTQ calibration after training, on fresh training batches, its time counted in the
  // training clock (PARAMETER_GOLF.md): Hessians of these parameters over this many micro-batches.
  int64_t calibration_batches = 0;
  double calibration_reserve_s = 0;  // seconds of the time budget kept for calibration
  std::string calibration_set = "live";  // the weight set the artifact is made from (quant.weights)
  // Data-parallel ranks (docs/distributed.md); null: one process. Every rank reads the same global
  // batch sequence and runs the micro-batches a with a mod N = rank; gradients and losses are
  // summed over ranks, so N ranks take the steps one rank would with the same global batch. Only
  // rank 0 writes metrics, checkpoints and schedule.json; evaluation is split across ranks.
  Communicator* comm = nullptr;
};

struct TrainReport {
  int64_t steps = 0;
  double seconds = 0;
  int64_t tokens = 0;
  double train_loss = 0;  // mean of the last logged steps
  EvalResult val;
  bool has_ema = false;
  EvalResult val_ema;
  double unigram_bpb = 0;
  std::unique_ptr<ModelGraph> model;              // the trained weights (model->store)
  std::map<std::string, Tensor> hessians;         // GPTQ calibration, when asked for
  double calibration_s = 0;
  // Non-zero: the signal (runtime/train/stop_signal.h) that stopped training after `steps`; the
  // checkpoint holds that step, and nothing was evaluated or calibrated.
  int stopped_by = 0;
};

TrainReport train_model(GraphFactory factory, NameMatcher matcher, const Json& train, int64_t seq_len,
                        const DataDir& data, const TrainerOptions& opt);

}  // namespace golf
