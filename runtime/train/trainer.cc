#include "runtime/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <set>

#include "runtime/fs.h"
#include "runtime/optim/device_updates.h"
#include "runtime/fuse_pass.h"
#include "runtime/optim/optimizer_set.h"
#include "runtime/train/calibration.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/combiner_fit.h"
#include "runtime/train/device_plan.h"
#include "runtime/train/distill.h"
#include "runtime/train/progress.h"
#include "runtime/train/schedule.h"
#include "runtime/train/stop_signal.h"
#include "runtime/train/train_config.h"
#include "runtime/train_step.h"

namespace golf {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The trainer's per-step graphs run as CUDA graphs on a device unless turned off.
bool step_graphs(const TrainerOptions& opt) { return opt.cuda_graph && opt.device == Device::cuda; }

// The train-step executors' options: the run's element type, device, storage and CUDA graphs.
ExecOptions step_options(const TrainerOptions& opt) {
  ExecOptions o{opt.real, true, opt.device};
  o.storage = opt.storage;
  o.graph = step_graphs(opt);
  return o;
}

Tensor tokens_tensor(const std::vector<uint16_t>& buf, int64_t offset, int64_t b, int64_t t) {
  Tensor x({b, t}, DType::i32);
  int32_t* p = x.data<int32_t>();
  for (int64_t i = 0; i < b * t; i++) p[i] = buf[size_t(offset + i)];
  return x;
}

// Rank 0 alone writes the log (a file of each rank would race on the same path).
struct RootLog {
  std::unique_ptr<MetricsLog> log;
  void write(const Json& line) {
    if (log) log->write(line);
  }
};

Schedule make_schedule(const TrainConfig& cfg, const std::string& replay_schedule) {
  Schedule schedule(cfg.schedule, cfg.max_steps, cfg.budget);
  if (!replay_schedule.empty()) {
    Json rec = Json::parse(read_file(replay_schedule), replay_schedule);
    std::vector<double> m;
    for (const Json& x : rec["lr_multipliers"].items()) m.push_back(x.number());
    schedule.set_replay(std::move(m));
  }
  return schedule;
}

std::unique_ptr<ModelGraph> make_model(const GraphFactory& factory, const TrainConfig& cfg, const TrainerOptions& opt) {
  auto model = factory("train", cfg.micro, cfg.seq_len);
  model->store.initialize(opt.seed, opt.real);
  // Residency (docs/cuda.md): the weights live on the device from the first step to the last.
  if (opt.device != Device::cpu) model->store.move_to(opt.device);
  return model;
}


struct StepResult {
  double loss = 0;       // the step's mean loss (for distillation: alpha·T²·KL + (1 − alpha)·CE)
  double grad_norm = 0;  // before clipping; 0 without train.grad_clip
};

// One run's long-lived pieces, built in the order below: the training graph (a micro-batch) and
// the evaluator's graphs share weights by name; models whose training graph differs on some steps
// (the Micro Crawler fires its shared blocks twice on every c-th step, and in replay phases) get a
// second graph built with mode "train_double", sharing the weights and the optimizer.
class Trainer {
 public:
  Trainer(const GraphFactory& factory, const NameMatcher& matcher, const Json& optim_rules, const TrainConfig& cfg,
          const DataDir& data, const TrainerOptions& opt, Communicator& comm)
      : factory_(factory), matcher_(matcher), cfg_(cfg), data_(data), opt_(opt), comm_(comm),
        model_(make_model(factory, cfg, opt)), store_(model_->store),
        step_graph_(model_->graph, mean_all(model_->loss), store_, step_options(opt), 1.0 / double(cfg.accum)),
        optim_(store_, optim_rules, matcher, opt.real, opt.device, step_graphs(opt)),
        double_model_(cfg.double_every > 0 ? factory("train_double", cfg.micro, cfg.seq_len) : nullptr),
        double_step_(double_model_ ? std::make_unique<TrainStep>(double_model_->graph, mean_all(double_model_->loss), store_,
                                                                 step_options(opt), 1.0 / double(cfg.accum))
                                   : nullptr),
        early_model_(cfg.switch_at > 0 ? factory("train_early", cfg.micro, cfg.seq_len) : nullptr),
        early_step_(early_model_ ? std::make_unique<TrainStep>(early_model_->graph, mean_all(early_model_->loss), store_,
                                                               step_options(opt), 1.0 / double(cfg.accum))
                                 : nullptr),
        schedule_(make_schedule(cfg, opt.replay_schedule)),
        evaluator_(factory, cfg.seq_len, cfg.eval_batch, opt.real, opt.device, opt.storage),
        stream_(data.train, data.vocab), val_(load_all(data.val, data.vocab)), qat_switch_({1}, opt.real, opt.device),
        progress_(cfg.max_steps, cfg.budget, opt.quiet || !comm.is_root()) {
    st_.micro_batch = cfg.micro;
    if (distributed(&comm)) optim_.set_communicator(&comm);
    evaluator_.set_communicator(&comm);
    if (scored_windows(int64_t(val_.size()), cfg.seq_len) == 0)
      throw std::runtime_error(data.dir + ": the validation split has " + std::to_string(val_.size()) +
                               " tokens, fewer than seq_len + 1 = " + std::to_string(cfg.seq_len + 1));
  }

  TrainState& state() { return st_; }
  Progress& progress() { return progress_; }

  void resume() {
    st_ = restore_train_state(checkpoint_path(), stream_, schedule_, store_, optim_);
    st_.micro_batch = cfg_.micro;  // device_plan.h chose it (the checkpoint's, unless set otherwise)
  }
  // metrics.jsonl: a resumed run keeps the lines up to its checkpoint's step.
  void open_metrics() {
    if (comm_.is_root())
      metrics_.log = std::make_unique<MetricsLog>(path_join(opt_.out_dir, "metrics.jsonl"), opt_.resume ? st_.step : -1);
  }

  bool finished() const {
    if (cfg_.max_steps > 0 && st_.step >= cfg_.max_steps) return true;
    if (schedule_.replaying()) return st_.step >= schedule_.replay_steps();
    return cfg_.budget > 0 && st_.elapsed >= cfg_.budget;
  }

  void enter_phase(const Phase& ph);
  double lr_multiplier(const Phase& ph);
  StepResult step(const Phase& ph, double lr);
  void log_step(const Phase& ph, const StepResult& r, double lr);
  void evaluate_if_due();
  bool save_if_due() {  // true when it saved
    if (!(cfg_.checkpoint_every > 0 && st_.step % cfg_.checkpoint_every == 0)) return false;
    save();
    return true;
  }
  void save() {
    if (!comm_.is_root()) return;  // every rank holds the same state
    save_train_state(checkpoint_path(), st_, opt_.seed, stream_, schedule_, store_, optim_);
  }
  void fit_combiner();
  void write_schedule();
  void calibrate(TrainReport& rep);
  // The end of the device-resident stretch: the weight sets come back to the host for what
  // follows training (the combiner fit, GPTQ calibration, the artifact, the caller).
  void hand_off() {
    if (opt_.device != Device::cpu) store_.move_to(Device::cpu);
  }
  void final_evaluation(TrainReport& rep);
  TrainReport stopped(int sig, bool saved);

 private:
  std::string checkpoint_path() const { return path_join(opt_.out_dir, "checkpoint.bin"); }
  std::vector<uint16_t> next_batch(const Phase& ph);

  const GraphFactory& factory_;
  const NameMatcher& matcher_;
  const TrainConfig& cfg_;
  const DataDir& data_;
  const TrainerOptions& opt_;
  Communicator& comm_;
  std::unique_ptr<ModelGraph> model_;
  ParamStore& store_;
  TrainStep step_graph_;
  OptimizerSet optim_;
  std::unique_ptr<ModelGraph> double_model_;
  std::unique_ptr<TrainStep> double_step_;
  // train.graph_switch: the graph before the switch (mode "train_early"), sharing weights and
  // optimizer with the "train" graph; which one runs is TrainState::switched, checkpointed.
  std::unique_ptr<ModelGraph> early_model_;
  std::unique_ptr<TrainStep> early_step_;
  Schedule schedule_;
  Evaluator evaluator_;
  TokenStream stream_;
  std::vector<uint16_t> val_;
  Tensor qat_switch_;  // on the trainer's device; written only when it flips
  bool qat_switch_value_ = false;
  // Device-resident state: the clip per step graph (each has its own gradient buffers) and the
  // weight averages, as graphs (runtime/optim/device_updates.h).
  std::map<const TrainStep*, std::unique_ptr<DeviceGradClip>> clips_;
  std::map<std::string, std::unique_ptr<DeviceWeightAverage>> averages_;
  DeviceWeightAverage& average(const std::string& set) {
    auto& a = averages_[set];
    if (!a) a = std::make_unique<DeviceWeightAverage>(store_, set, opt_.device, step_graphs(opt_));
    return *a;
  }
  std::unique_ptr<Distiller> distill_;  // made when a distill phase first starts
  TrainState st_;
  RootLog metrics_;
  Progress progress_;
  double loss_window_ = 0;  // the losses since the last logged step
  int64_t loss_count_ = 0;
  double last_loss_ = 0;

};

void Trainer::enter_phase(const Phase& ph) {
  if (ph.distill && !distill_)
    distill_ = std::make_unique<Distiller>(factory_, store_, ph, cfg_.micro, cfg_.seq_len, cfg_.accum, opt_.real, opt_.device,
                                            opt_.storage);
  std::set<std::string> frozen;
  for (const ParamSpec& p : store_.specs())
    for (const std::string& pat : ph.freeze)
      if (!p.is_buffer() && matcher_(p.name, pat)) frozen.insert(p.name);
  optim_.set_frozen(frozen);
  progress_.message("phase '" + ph.name + "' from step " + std::to_string(st_.step) +
                    (frozen.empty() ? "" : " (" + std::to_string(frozen.size()) + " tensors frozen)"));
}

// The schedule's multiplier times the phase's scale; late QAT switches on (for good) below its threshold.
double Trainer::lr_multiplier(const Phase& ph) {
  const double lr = schedule_.multiplier(st_.step, st_.elapsed) * ph.lr_scale;
  if (cfg_.qat_enabled && !st_.qat_on && lr < cfg_.qat_below) {
    st_.qat_on = true;
    progress_.message("late QAT on from step " + std::to_string(st_.step));
  }
  if (st_.qat_on != qat_switch_value_) {  // one 4-byte upload when it flips, not one per micro-batch
    Tensor h({1}, opt_.real);
    h.set(0, st_.qat_on ? 1.0 : 0.0);
    qat_switch_.copy_from(h);
    qat_switch_value_ = st_.qat_on;
  }
  return lr;
}

// A replay phase cycles over the recorded batches; otherwise a fresh one from the stream, recorded
// when a later phase replays.
std::vector<uint16_t> Trainer::next_batch(const Phase& ph) {
  if (ph.replay > 0) {
    if (st_.replay.empty()) throw std::runtime_error("phase '" + ph.name + "' replays batches, but none were recorded before it");
    return st_.replay[size_t(st_.replay_pos++ % int64_t(st_.replay.size()))];
  }
  std::vector<uint16_t> buf = stream_.take(cfg_.micro * cfg_.seq_len + 1);
  if (cfg_.replay_cap > 0) {
    st_.replay.push_back(buf);
    if (int64_t(st_.replay.size()) > cfg_.replay_cap) st_.replay.pop_front();
  }
  return buf;
}

// Forward and backward over the step's micro-batches (each rank its share), gradients and loss
// summed over ranks, clip, update, EMA, SWA.
StepResult Trainer::step(const Phase& ph, double lr) {
  const bool fire_double = cfg_.double_every > 0 && (ph.replay > 0 || st_.step % cfg_.double_every == 0);
  if (early_step_ && !st_.switched &&
      (cfg_.switch_by_time ? st_.elapsed >= cfg_.switch_at * cfg_.budget
                           : double(st_.step) >= cfg_.switch_at * double(cfg_.max_steps))) {
    st_.switched = true;
    progress_.message("graph switch: the \"train\" graph from step " + std::to_string(st_.step));
  }
  TrainStep& active = ph.distill ? distill_->step() : fire_double ? *double_step_
                                                  : early_step_ && !st_.switched ? *early_step_ : step_graph_;
  active.zero_grad();
  StepResult r;
  for (int64_t a = 0; a < cfg_.accum; a++) {
    const std::vector<uint16_t> buf = next_batch(ph);
    if (a % comm_.size() != comm_.rank()) continue;  // another rank's share of the global batch
    std::vector<uint16_t> shifted(buf.begin() + 1, buf.end());
    std::map<std::string, Tensor> in = {{"tokens", tokens_tensor(buf, 0, cfg_.micro, cfg_.seq_len)},
                                        {"targets", tokens_tensor(shifted, 0, cfg_.micro, cfg_.seq_len)},
                                        {"qat_switch", qat_switch_}};
    double entropy = 0;
    if (ph.distill) in["teacher_probs"] = distill_->teacher_probs(in["tokens"], ph.temperature, &entropy);
    // Logged: alpha·T²·KL + (1 − alpha)·CE (the optimized loss minus the teacher's entropy term,
    // which has no gradient).
    const double kd_offset = ph.distill ? ph.alpha * ph.temperature * ph.temperature * entropy : 0.0;
    r.loss += (active.run(in) - kd_offset) / double(cfg_.accum);
  }
  if (distributed(&comm_)) comm_.allreduce_sum(&r.loss, 1);
  std::map<std::string, Tensor> grads = active.grads();
  allreduce_sum(comm_, grads);
  if (!std::isfinite(r.loss))
    throw std::runtime_error("training diverged at step " + std::to_string(st_.step) + ": the loss is " + std::to_string(r.loss));
  const bool on_device = opt_.device != Device::cpu;
  if (cfg_.grad_clip > 0 && on_device) {
    auto& clip = clips_[&active];
    if (!clip) clip = std::make_unique<DeviceGradClip>(active.grads(), opt_.device, step_graphs(opt_));
    r.grad_norm = clip->clip(cfg_.grad_clip);
  } else {
    r.grad_norm = cfg_.grad_clip > 0 ? clip_grad_norm(grads, cfg_.grad_clip) : 0.0;
  }
  optim_.step(grads, lr);
  if (cfg_.ema_decay > 0) {
    if (on_device) average("ema").ema(cfg_.ema_decay);
    else ema_update(store_, "ema", cfg_.ema_decay);
  }
  st_.step++;
  st_.tokens += cfg_.batch_tokens;
  // SWA from a fraction of the step count, or (swa.below) once the LR multiplier is under it.
  const bool swa_window = cfg_.swa_below > 0 ? lr < cfg_.swa_below
                                             : cfg_.max_steps > 0 && st_.step >= int64_t(cfg_.swa_start * double(cfg_.max_steps));
  if (cfg_.swa_every > 0 && swa_window && st_.step % cfg_.swa_every == 0) {
    if (on_device) average("swa").swa(st_.swa_count++);
    else swa_update(store_, "swa", st_.swa_count++);
  }
  return r;
}

void Trainer::log_step(const Phase& ph, const StepResult& r, double lr) {
  last_loss_ = r.loss;
  loss_window_ += r.loss;
  loss_count_++;
  if (st_.step % cfg_.log_every != 0 && st_.step != cfg_.max_steps) return;
  const double tok_per_s = double(st_.tokens) / std::max(st_.elapsed, 1e-9);
  Json line = Json::object();
  line.set("step", st_.step);
  line.set("loss", r.loss);
  line.set("lr_mult", lr);
  line.set("tokens", st_.tokens);
  line.set("elapsed_s", st_.elapsed);
  line.set("tok_per_s", tok_per_s);
  line.set("phase", ph.name);
  if (cfg_.qat_enabled) line.set("qat", st_.qat_on);
  if (cfg_.switch_at > 0) line.set("switched", st_.switched);
  if (cfg_.grad_clip > 0) line.set("grad_norm", r.grad_norm);
  metrics_.write(line);
  progress_.update(st_.step, loss_window_ / double(loss_count_), tok_per_s, st_.elapsed, lr);
  loss_window_ = 0;
  loss_count_ = 0;
}

void Trainer::evaluate_if_due() {
  if (cfg_.eval_every <= 0 || st_.step % cfg_.eval_every != 0) return;
  EvalResult r = evaluator_.run(store_, "live", val_, data_.table, cfg_.eval_windows);
  Json line = Json::object();
  line.set("step", st_.step);
  line.set("val_loss", r.loss());
  line.set("val_bpb", r.bpb());
  line.set("val_targets", r.targets);
  metrics_.write(line);
  char msg[128];
  std::snprintf(msg, sizeof msg, "step %lld: val_loss %.4f val_bpb %.4f", (long long)st_.step, r.loss(), r.bpb());
  progress_.message(msg);
}

// The combiner phase: the base frozen, α, M, β fitted into the exported set, its seconds on the clock.
void Trainer::fit_combiner() {
  const CombinerFitSpec& spec = cfg_.combiner;
  double fit_s = 0;
  Json line = run_combiner_phase(factory_, store_, opt_.calibration_set, stream_, val_, data_.table, cfg_.seq_len, spec,
                                 opt_.real, opt_.device, &fit_s);
  st_.elapsed += fit_s;
  line.set("step", st_.step);
  metrics_.write(line);
  char msg[256];
  std::snprintf(msg, sizeof msg, "combiner (%s, %lld windows, %.1f s): last-position val_bpb %.4f without, %.4f with (%lld chunks of %lld)",
                spec.method.c_str(), (long long)line["fit_windows"].integer(), fit_s, line["last_base_bpb"].number(),
                line["last_combined_bpb"].number(), (long long)line["last_targets"].integer(), (long long)spec.chunk);
  progress_.message(msg);
}

// schedule.json: every multiplier used, so that --replay-schedule reproduces a wall-clock run.
void Trainer::write_schedule() {
  Json sched = Json::object();
  Json mults = Json::array();
  for (double m : schedule_.recorded()) mults.push(m);
  sched.set("lr_multipliers", mults);
  sched.set("final_step", st_.step);
  sched.set("micro_batch", cfg_.micro);  // a replay reuses it (runtime/train/device_plan.h)
  if (comm_.is_root()) write_file_atomic(path_join(opt_.out_dir, "schedule.json"), sched.dump() + "\n");
}

// GPTQ calibration on fresh training batches, its time on the training clock; it feeds the
// artifact, which rank 0 alone writes.
void Trainer::calibrate(TrainReport& rep) {
  if (opt_.calibration_batches <= 0 || !comm_.is_root()) return;
  const auto t0 = Clock::now();
  rep.hessians = calibration_hessians(factory_, store_, opt_.calibration_set, stream_, opt_.calibration_batches, cfg_.micro,
                                      cfg_.seq_len, opt_.real);
  rep.calibration_s = seconds_since(t0);
  st_.elapsed += rep.calibration_s;
}

// The whole validation split with the live (and EMA) weights, the unigram baseline, the last log line.
void Trainer::final_evaluation(TrainReport& rep) {
  rep.steps = st_.step;
  rep.seconds = st_.elapsed;
  rep.tokens = st_.tokens;
  rep.train_loss = last_loss_;
  rep.val = evaluator_.run(store_, "live", val_, data_.table);
  if (store_.has_set("ema")) {
    rep.has_ema = true;
    rep.val_ema = evaluator_.run(store_, "ema", val_, data_.table);
  }
  rep.unigram_bpb = unigram_bpb(load_all(data_.train, data_.vocab), val_, cfg_.seq_len, data_.table);
  Json fin = Json::object();
  fin.set("step", st_.step);
  fin.set("final", true);
  fin.set("val_loss", rep.val.loss());
  fin.set("val_bpb", rep.val.bpb());
  fin.set("val_targets", rep.val.targets);
  fin.set("unigram_bpb", rep.unigram_bpb);
  if (rep.has_ema) fin.set("ema_val_bpb", rep.val_ema.bpb());
  metrics_.write(fin);
  rep.model = std::move(model_);
}

// SIGINT/SIGTERM (runtime/train/stop_signal.h) after a step: the checkpoint holds that step;
// nothing is evaluated or calibrated. The caller tells the user how to resume.
TrainReport Trainer::stopped(int sig, bool saved) {
  if (!saved) save();
  hand_off();
  progress_.finish();
  TrainReport rep;
  rep.stopped_by = sig;
  rep.steps = st_.step;
  rep.seconds = st_.elapsed;
  rep.tokens = st_.tokens;
  rep.train_loss = last_loss_;
  rep.model = std::move(model_);
  return rep;
}

}  // namespace

TrainReport train_model(GraphFactory factory, NameMatcher matcher, const Json& train, int64_t seq, const DataDir& data,
                        const TrainerOptions& opt) {
  make_dirs(opt.out_dir);
  std::unique_ptr<Communicator> one_process;
  Communicator& comm = opt.comm ? *opt.comm : *(one_process = single_process_communicator());
  // The micro-batch (runtime/train/device_plan.h): planned for a CUDA device when the script sets
  // none, reused from the checkpoint on resume; the CPU's is the script's or the whole step.
  const MicroBatchChoice micro = choose_micro_batch(factory, matcher, train, seq, opt, comm.size(), &comm);
  if (!micro.line.empty() && comm.is_root() && !opt.quiet) {
    std::printf("%s\n", micro.line.c_str());
    std::fflush(stdout);
  }
  Json planned = train;
  if (micro.micro_batch > 0) planned.set("micro_batch", micro.micro_batch);
  const TrainConfig cfg = parse_train_config(planned, seq, opt, comm.size());
  // The CUDA backend runs the fused graphs; the CPU's stay as the script built them (its golden
  // numbers are the unfused graph's). The micro-batch above was planned on the unfused graphs, as
  // --plan-only plans it: an upper bound (the fused step holds 14% less at the baseline's 64).
  const bool fuse = opt.fuse == TrainerOptions::Fuse::on ||
                    (opt.fuse == TrainerOptions::Fuse::device_default && opt.device == Device::cuda);
  if (fuse) factory = fused_factory(std::move(factory));
  Trainer run(factory, matcher, train["optim"], cfg, data, opt, comm);
  if (opt.resume) run.resume();
  run.open_metrics();

  size_t current_phase = size_t(-1);
  while (!run.finished()) {
    const size_t p = phase_at(cfg.phases, run.state().step, run.state().elapsed);
    const Phase& phase = cfg.phases[p];
    if (p != current_phase) run.enter_phase(phase);
    current_phase = p;

    const auto t0 = Clock::now();
    const double lr = run.lr_multiplier(phase);
    const StepResult r = run.step(phase, lr);
    run.state().elapsed += seconds_since(t0);
    // Time-based decisions (budget, phases, the schedule) must agree: rank 0's clock rules.
    run.state().elapsed = broadcast_from_root(comm, run.state().elapsed);

    run.log_step(phase, r, lr);
    run.evaluate_if_due();
    const bool saved = run.save_if_due();
    if (const int sig = agreed_stop_signal(comm)) return run.stopped(sig, saved);
  }
  run.progress().finish();
  run.hand_off();
  if (cfg.fit_combiner) run.fit_combiner();
  run.save();
  run.write_schedule();

  TrainReport rep;
  run.calibrate(rep);
  run.final_evaluation(rep);
  return rep;
}

}  // namespace golf
