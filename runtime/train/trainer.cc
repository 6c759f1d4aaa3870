#include "runtime/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <memory>
#include <set>

#include "runtime/fs.h"
#include "runtime/optim/optimizer_set.h"
#include "runtime/quant/hessian_pass.h"
#include "runtime/rng.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/combiner_fit.h"
#include "runtime/train/progress.h"
#include "runtime/train/schedule.h"
#include "runtime/train/stop_signal.h"
#include "runtime/train_step.h"

namespace golf {

namespace {

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

std::vector<Phase> parse_phases(const Json& train) {
  std::vector<Phase> phases;
  const Json& ps = train["phases"];
  if (ps.is_null()) return {Phase{}};
  if (!ps.is_array() || ps.size() == 0) throw std::invalid_argument("train.phases must be a non-empty list of phases");
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

Tensor tokens_tensor(const std::vector<uint16_t>& buf, int64_t offset, int64_t b, int64_t t) {
  Tensor x({b, t}, DType::i32);
  int32_t* p = x.data<int32_t>();
  for (int64_t i = 0; i < b * t; i++) p[i] = buf[size_t(offset + i)];
  return x;
}

Tensor u16_tensor(const std::vector<uint16_t>& v) {
  Tensor t({int64_t(v.size())}, DType::u16);
  if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * 2);
  return t;
}
std::vector<uint16_t> u16_vector(const Tensor& t) {
  std::vector<uint16_t> v(size_t(t.numel()));
  if (!v.empty()) std::memcpy(v.data(), t.raw(), v.size() * 2);
  return v;
}

void copy_into(Tensor& dst, const Tensor& src, const std::string& what) {
  if (dst.shape() != src.shape() || dst.dtype() != src.dtype())
    throw std::runtime_error("checkpoint: " + what + " is " + shape_str(src.shape()) + " " + dtype_name(src.dtype()) +
                             ", the model has " + shape_str(dst.shape()) + " " + dtype_name(dst.dtype()));
  std::memcpy(dst.raw(), src.raw(), dst.nbytes());
}

}  // namespace

TrainReport train_model(GraphFactory factory, NameMatcher matcher, const Json& train, int64_t seq, const DataDir& data,
                        const TrainerOptions& opt) {
  using clock = std::chrono::steady_clock;
  make_dirs(opt.out_dir);
  const int64_t batch_tokens = train.get("batch_tokens", int64_t(8 * seq));
  if (batch_tokens % seq) throw std::invalid_argument("train.batch_tokens (" + std::to_string(batch_tokens) + ") must be a multiple of seq_len (" + std::to_string(seq) + ")");
  const int64_t seqs_per_step = batch_tokens / seq;
  const int64_t micro = train.get("micro_batch", seqs_per_step);
  if (micro <= 0 || seqs_per_step % micro)
    throw std::invalid_argument("train.micro_batch (" + std::to_string(micro) + ") must divide the " + std::to_string(seqs_per_step) + " sequences of a step");
  const int64_t accum = seqs_per_step / micro;
  std::unique_ptr<Communicator> one_process;
  Communicator& comm = opt.comm ? *opt.comm : *(one_process = single_process_communicator());
  const int64_t nranks = comm.size(), rank = comm.rank();
  if (accum % nranks)
    throw std::invalid_argument("a step has " + std::to_string(accum) + " micro-batches (train.batch_tokens / seq_len / train.micro_batch), which " +
                                std::to_string(nranks) + " ranks cannot share evenly: choose train.micro_batch so that their number is a multiple of the rank count");
  const int64_t max_steps = opt.steps >= 0 ? opt.steps : train.get("steps", int64_t(0));
  const double full_budget = opt.time_budget >= 0 ? opt.time_budget : train.get("time_budget", 0.0);
  CombinerFitSpec combiner;
  const bool fit_combiner = combiner_fit_phase(train, &combiner);
  const double budget =
      full_budget > 0 ? std::max(full_budget - opt.calibration_reserve_s - (fit_combiner ? combiner.reserve : 0.0), 0.0) : 0.0;
  // A replayed schedule fixes the step count itself.
  if (max_steps <= 0 && full_budget <= 0 && opt.replay_schedule.empty()) throw std::invalid_argument("training needs a step count (train.steps, --steps) or a time budget (train.time_budget, --time-budget)");
  const int64_t log_every = std::max<int64_t>(1, train.get("log_every", int64_t(10)));
  const int64_t eval_every = train.get("eval_every", int64_t(0));
  const int64_t eval_windows = train.get("eval_windows", int64_t(0));
  const int64_t eval_batch = train.get("eval_batch", micro);
  const int64_t ckpt_every = opt.checkpoint_every >= 0 ? opt.checkpoint_every : train.get("checkpoint_every", int64_t(0));
  const double grad_clip = train.get("grad_clip", 0.0);
  const double ema_decay = train["ema"].get("decay", 0.0);
  const int64_t swa_every = train["swa"].get("every", int64_t(0));
  const double swa_start = train["swa"].get("start", 0.5);  // fraction of max_steps
  const double swa_below = train["swa"].get("below", 0.0);  // > 0: average once the LR multiplier is below
  // Late QAT (train graphs carry it: dsl/lua_core.h BuildContext::qat_bits): on once the LR
  // multiplier falls below qat.below, and on from then on.
  const Json& qat = train["qat"];
  const bool qat_enabled = qat.is_object() || (qat.is_bool() && qat.boolean());
  const double qat_below = qat.is_object() ? qat.get("below", 0.15) : 0.15;
  bool qat_on = false;
  Tensor qat_switch({1}, opt.real);
  std::vector<Phase> phases = parse_phases(train);

  // The model: one training graph (a micro-batch) and the evaluator's graphs, sharing weights by name.
  auto model = factory("train", micro, seq);
  ParamStore& store = model->store;
  store.initialize(opt.seed, opt.real);
  Var mean_loss = mean_all(model->loss);
  TrainStep step_graph(model->graph, mean_loss, store, {opt.real, true, opt.device}, 1.0 / double(accum));
  OptimizerSet optim(store, train["optim"], matcher, opt.real, opt.device);
  if (distributed(&comm)) optim.set_communicator(&comm);
  // Models whose training graph differs on some steps (the Micro Crawler fires its shared blocks
  // twice on every c-th step, and in replay phases): a second graph built with mode
  // "train_double", sharing the weights and the optimizer.
  const int64_t double_every = train["double_fire"].get("every", int64_t(0));
  std::unique_ptr<ModelGraph> double_model;
  std::unique_ptr<TrainStep> double_step;
  if (double_every > 0) {
    double_model = factory("train_double", micro, seq);
    double_step = std::make_unique<TrainStep>(double_model->graph, mean_all(double_model->loss), store,
                                              ExecOptions{opt.real, true, opt.device}, 1.0 / double(accum));
  }
  Schedule schedule(ScheduleConfig::from_json(train), max_steps, budget);
  if (!opt.replay_schedule.empty()) {
    Json rec = Json::parse(read_file(opt.replay_schedule), opt.replay_schedule);
    std::vector<double> m;
    for (const Json& x : rec["lr_multipliers"].items()) m.push_back(x.number());
    schedule.set_replay(std::move(m));
  }
  Evaluator evaluator(factory, seq, eval_batch, opt.real, opt.device);
  evaluator.set_communicator(&comm);

  TokenStream stream(data.train, data.vocab);
  std::vector<uint16_t> val = load_all(data.val, data.vocab);
  if (scored_windows(int64_t(val.size()), seq) == 0)
    throw std::runtime_error(data.dir + ": the validation split has " + std::to_string(val.size()) + " tokens, fewer than seq_len + 1 = " + std::to_string(seq + 1));

  int64_t replay_cap = 0;
  for (const Phase& p : phases) replay_cap = std::max(replay_cap, p.replay);
  std::deque<std::vector<uint16_t>> replay;  // the last batches, oldest first

  int64_t step = 0, tokens = 0, swa_count = 0, replay_pos = 0;
  double elapsed = 0;
  std::string ckpt_path = path_join(opt.out_dir, "checkpoint.bin");
  if (opt.resume) {
    Checkpoint c = read_checkpoint(ckpt_path);
    step = c.meta.get("step", int64_t(0));
    tokens = c.meta.get("tokens", int64_t(0));
    elapsed = c.meta.get("elapsed_s", 0.0);
    swa_count = c.meta.get("swa_count", int64_t(0));
    qat_on = c.meta.get("qat_on", false);
    replay_pos = c.meta.get("replay_pos", int64_t(0));
    std::vector<double> rec;
    for (const Json& x : c.meta["lr_multipliers"].items()) rec.push_back(x.number());
    schedule.restore(rec);
    stream.seek({c.meta["cursor"].get("shard", int64_t(0)), c.meta["cursor"].get("position", int64_t(0))});
    std::map<std::string, Tensor> opt_state;
    for (auto& [name, t] : c.tensors) {
      if (name.rfind("w/", 0) == 0) {
        size_t slash = name.find('/', 2);
        std::string set = name.substr(2, slash - 2), pname = name.substr(slash + 1);
        if (!store.has_set(set)) store.copy_set("live", set);
        copy_into(store.get(pname, set), t, name);
      } else if (name.rfind("opt/", 0) == 0) {
        opt_state[name.substr(4)] = t;
      } else if (name.rfind("replay/", 0) == 0) {
        replay.push_back(u16_vector(t));
      }
    }
    optim.load_state(opt_state);
  }
  // Rank 0 alone writes the log (a file of each rank would race on the same path).
  struct RootLog {
    std::unique_ptr<MetricsLog> log;
    void write(const Json& line) {
      if (log) log->write(line);
    }
  } metrics;
  if (comm.is_root()) metrics.log = std::make_unique<MetricsLog>(path_join(opt.out_dir, "metrics.jsonl"), opt.resume ? step : -1);
  Progress progress(max_steps, budget, opt.quiet || !comm.is_root());

  auto save = [&]() {
    if (!comm.is_root()) return;  // every rank holds the same state
    Checkpoint c;
    c.meta.set("format", "golfrt-checkpoint");
    c.meta.set("step", step);
    c.meta.set("tokens", tokens);
    c.meta.set("elapsed_s", elapsed);
    c.meta.set("seed", int64_t(opt.seed));
    c.meta.set("swa_count", swa_count);
    c.meta.set("qat_on", qat_on);
    c.meta.set("replay_pos", replay_pos);
    Json cur = Json::object();
    cur.set("shard", stream.cursor().shard);
    cur.set("position", stream.cursor().position);
    c.meta.set("cursor", cur);
    Json mults = Json::array();
    for (double m : schedule.recorded()) mults.push(m);
    c.meta.set("lr_multipliers", mults);
    for (const std::string& set : store.set_names())
      for (const ParamSpec& p : store.specs())  // unstored buffers keep their declared values on resume
        if (p.stored) c.tensors.push_back({"w/" + set + "/" + p.name, store.get(p.name, set)});
    for (auto& [name, t] : optim.state()) c.tensors.push_back({"opt/" + name, t});
    for (size_t i = 0; i < replay.size(); i++) c.tensors.push_back({"replay/" + std::to_string(i), u16_tensor(replay[i])});
    write_checkpoint(ckpt_path, c);
  };

  // Which phase a step belongs to, by cumulative steps or seconds.
  auto phase_at = [&](int64_t s, double t) -> size_t {
    int64_t steps_before = 0;
    double secs_before = 0;
    for (size_t i = 0; i + 1 < phases.size(); i++) {
      steps_before += phases[i].steps;
      secs_before += phases[i].seconds;
      bool inside = phases[i].steps > 0 ? s < steps_before : t < secs_before;
      if (inside) return i;
    }
    return phases.size() - 1;
  };
  // Distillation graphs, made when a distill phase first starts.
  struct Distill {
    std::unique_ptr<ModelGraph> student, teacher;
    std::unique_ptr<TrainStep> step;
    std::unique_ptr<Executor> teacher_exec;
  } distill;
  auto make_distill = [&](const Phase& ph) {
    if (!store.has_set("teacher")) {
      if (ph.teacher == "ema" && !store.has_set("ema"))
        throw std::invalid_argument("phase '" + ph.name + "' distills from the EMA weights, but train.ema is not set");
      store.copy_set(ph.teacher, "teacher");
    }
    distill.student = factory("distill", micro, seq);
    distill.teacher = factory("eval", micro, seq);
    if (!distill.student->logits.valid() || !distill.teacher->logits.valid())
      throw std::invalid_argument("phase '" + ph.name + "' distills, but build() returns no logits");
    Graph& g = distill.student->graph;
    const int64_t V = distill.student->logits.dim(-1);
    Var logits = reshape(distill.student->logits, {-1, V});
    Var probs = input(g, "teacher_probs", logits.shape());
    Var kd = mean_all(soft_cross_entropy(scale(logits, 1.0 / ph.temperature), probs));
    Var loss = scale(kd, ph.alpha * ph.temperature * ph.temperature) + scale(mean_all(distill.student->loss), 1.0 - ph.alpha);
    distill.step = std::make_unique<TrainStep>(g, loss, store, ExecOptions{opt.real, true, opt.device}, 1.0 / double(accum));
    distill.teacher_exec = std::make_unique<Executor>(distill.teacher->graph,
                                                      std::vector<Var>{reshape(distill.teacher->logits, {-1, V})},
                                                      ExecOptions{opt.real, true, opt.device});
    distill.teacher_exec->bind_params(store, "teacher");
  };
  // softmax(teacher logits / T) per row, in double; adds the rows' mean entropy to *entropy (the
  // soft cross entropy minus it is the KL divergence the log reports).
  auto teacher_probs = [&](const Tensor& x, double temperature, double* entropy) {
    distill.teacher_exec->bind("tokens", x);
    distill.teacher_exec->run();
    const Tensor& l = distill.teacher_exec->result(0);
    const int64_t n = l.dim(0), v = l.dim(1);
    Tensor p({n, v}, opt.real);
    std::vector<double> e(static_cast<size_t>(v));
    for (int64_t i = 0; i < n; i++) {
      double m = -INFINITY, s = 0;
      for (int64_t j = 0; j < v; j++) m = std::max(m, l.get(i * v + j) / temperature);
      for (int64_t j = 0; j < v; j++) s += e[size_t(j)] = std::exp(l.get(i * v + j) / temperature - m);
      double h = 0;
      for (int64_t j = 0; j < v; j++) {
        const double q = e[size_t(j)] / s;
        p.set(i * v + j, q);
        if (q > 0) h -= q * std::log(q);
      }
      *entropy += h / double(n);
    }
    return p;
  };

  size_t current_phase = size_t(-1);
  auto enter_phase = [&](size_t i) {
    current_phase = i;
    if (phases[i].distill && !distill.step) make_distill(phases[i]);
    std::set<std::string> frozen;
    for (const ParamSpec& p : store.specs())
      for (const std::string& pat : phases[i].freeze)
        if (!p.is_buffer())
        if (matcher(p.name, pat)) frozen.insert(p.name);
    optim.set_frozen(frozen);
    progress.message("phase '" + phases[i].name + "' from step " + std::to_string(step) +
                     (frozen.empty() ? "" : " (" + std::to_string(frozen.size()) + " tensors frozen)"));
  };

  double loss_window = 0;
  int64_t loss_count = 0;
  double last_loss = 0;
  std::vector<uint16_t> buf;
  for (;;) {
    if (max_steps > 0 && step >= max_steps) break;
    if (schedule.replaying() && step >= schedule.replay_steps()) break;
    if (!schedule.replaying() && budget > 0 && elapsed >= budget) break;
    size_t ph = phase_at(step, elapsed);
    if (ph != current_phase) enter_phase(ph);
    const Phase& phase = phases[ph];

    auto t0 = clock::now();
    double lr = schedule.multiplier(step, elapsed) * phase.lr_scale;
    if (qat_enabled && !qat_on && lr < qat_below) {
      qat_on = true;
      progress.message("late QAT on from step " + std::to_string(step));
    }
    qat_switch.set(0, qat_on ? 1.0 : 0.0);
    const bool fire_double = double_every > 0 && (phase.replay > 0 || step % double_every == 0);
    TrainStep& active = phase.distill ? *distill.step : fire_double ? *double_step : step_graph;
    active.zero_grad();
    double loss = 0;
    for (int64_t a = 0; a < accum; a++) {
      if (phase.replay > 0) {
        if (replay.empty()) throw std::runtime_error("phase '" + phase.name + "' replays batches, but none were recorded before it");
        buf = replay[size_t(replay_pos % int64_t(replay.size()))];
        replay_pos++;
      } else {
        buf = stream.take(micro * seq + 1);
        if (replay_cap > 0) {
          replay.push_back(buf);
          if (int64_t(replay.size()) > replay_cap) replay.pop_front();
        }
      }
      if (a % nranks != rank) continue;  // another rank's share of the global batch
      std::vector<uint16_t> shifted(buf.begin() + 1, buf.end());
      std::map<std::string, Tensor> in = {{"tokens", tokens_tensor(buf, 0, micro, seq)},
                                          {"targets", tokens_tensor(shifted, 0, micro, seq)},
                                          {"qat_switch", qat_switch}};
      double entropy = 0;
      if (phase.distill) in["teacher_probs"] = teacher_probs(in["tokens"], phase.temperature, &entropy);
      // Logged: alpha·T²·KL + (1 − alpha)·CE (the optimized loss minus the teacher's entropy
      // term, which has no gradient).
      const double kd_offset = phase.distill ? phase.alpha * phase.temperature * phase.temperature * entropy : 0.0;
      loss += (active.run(in) - kd_offset) / double(accum);
    }
    if (distributed(&comm)) comm.allreduce_sum(&loss, 1);
    std::map<std::string, Tensor> grads = active.grads();
    allreduce_sum(comm, grads);
    if (!std::isfinite(loss)) throw std::runtime_error("training diverged at step " + std::to_string(step) + ": the loss is " + std::to_string(loss));
    double gnorm = grad_clip > 0 ? clip_grad_norm(grads, grad_clip) : 0.0;
    optim.step(grads, lr);
    if (ema_decay > 0) ema_update(store, "ema", ema_decay);
    step++;
    tokens += batch_tokens;
    // SWA from a fraction of the step count, or (swa.below) once the LR multiplier is under it.
    const bool swa_window = swa_below > 0 ? lr < swa_below : max_steps > 0 && step >= int64_t(swa_start * double(max_steps));
    if (swa_every > 0 && swa_window && step % swa_every == 0) swa_update(store, "swa", swa_count++);
    elapsed += std::chrono::duration<double>(clock::now() - t0).count();
    // Time-based decisions (budget, phases, the schedule) must agree: rank 0's clock rules.
    elapsed = broadcast_from_root(comm, elapsed);

    last_loss = loss;
    loss_window += loss;
    loss_count++;
    if (step % log_every == 0 || step == max_steps) {
      Json line = Json::object();
      line.set("step", step);
      line.set("loss", loss);
      line.set("lr_mult", lr);
      line.set("tokens", tokens);
      line.set("elapsed_s", elapsed);
      line.set("tok_per_s", double(tokens) / std::max(elapsed, 1e-9));
      line.set("phase", phase.name);
      if (qat_enabled) line.set("qat", qat_on);
      if (grad_clip > 0) line.set("grad_norm", gnorm);
      metrics.write(line);
      progress.update(step, loss_window / double(loss_count), double(tokens) / std::max(elapsed, 1e-9), elapsed, lr);
      loss_window = 0;
      loss_count = 0;
    }
    if (eval_every > 0 && step % eval_every == 0) {
      EvalResult r = evaluator.run(store, "live", val, data.table, eval_windows);
      Json line = Json::object();
      line.set("step", step);
      line.set("val_loss", r.loss());
      line.set("val_bpb", r.bpb());
      line.set("val_targets", r.targets);
      metrics.write(line);
      char msg[128];
      std::snprintf(msg, sizeof msg, "step %lld: val_loss %.4f val_bpb %.4f", (long long)step, r.loss(), r.bpb());
      progress.message(msg);
    }
    const bool saved = ckpt_every > 0 && step % ckpt_every == 0;
    if (saved) save();
    // SIGINT/SIGTERM (runtime/train/stop_signal.h): keep this step in the checkpoint and return;
    // the caller tells the user how to resume.
    if (const int sig = agreed_stop_signal(comm)) {
      if (!saved) save();
      progress.finish();
      TrainReport stopped;
      stopped.stopped_by = sig;
      stopped.steps = step;
      stopped.seconds = elapsed;
      stopped.tokens = tokens;
      stopped.train_loss = last_loss;
      stopped.model = std::move(model);
      return stopped;
    }
  }
  progress.finish();
  if (fit_combiner) {  // the base frozen: α, M, β fitted into the exported set, its seconds on the clock
    double fit_s = 0;
    Json line = run_combiner_phase(factory, store, opt.calibration_set, stream, val, data.table, seq, combiner, opt.real,
                                   opt.device, &fit_s);
    elapsed += fit_s;
    line.set("step", step);
    metrics.write(line);
    char msg[256];
    std::snprintf(msg, sizeof msg, "combiner (%s, %lld windows, %.1f s): last-position val_bpb %.4f without, %.4f with (%lld chunks of %lld)",
                  combiner.method.c_str(), (long long)line["fit_windows"].integer(), fit_s, line["last_base_bpb"].number(),
                  line["last_combined_bpb"].number(), (long long)line["last_targets"].integer(), (long long)combiner.chunk);
    progress.message(msg);
  }
  save();

  Json sched = Json::object();
  Json mults = Json::array();
  for (double m : schedule.recorded()) mults.push(m);
  sched.set("lr_multipliers", mults);
  sched.set("final_step", step);
  if (comm.is_root()) write_file_atomic(path_join(opt.out_dir, "schedule.json"), sched.dump() + "\n");

  TrainReport rep;
  // GPTQ calibration feeds the artifact, which rank 0 alone writes.
  if (opt.calibration_batches > 0 && comm.is_root()) {
    auto t0 = clock::now();
    std::vector<std::pair<Tensor, Tensor>> batches;
    for (int64_t i = 0; i < opt.calibration_batches; i++) {
      buf = stream.take(micro * seq + 1);
      std::vector<uint16_t> shifted(buf.begin() + 1, buf.end());
      batches.push_back({tokens_tensor(buf, 0, micro, seq), tokens_tensor(shifted, 0, micro, seq)});
    }
    std::vector<std::string> names;
    for (const ParamSpec& p : store.specs())
      if (p.shape.size() == 2 && !p.is_buffer()) names.push_back(p.name);
    auto calib = factory("calibrate", micro, seq);
    rep.hessians = collect_hessians(*calib, store, opt.calibration_set, batches, names, opt.real);
    rep.calibration_s = std::chrono::duration<double>(clock::now() - t0).count();
    elapsed += rep.calibration_s;
  }
  rep.steps = step;
  rep.seconds = elapsed;
  rep.tokens = tokens;
  rep.train_loss = last_loss;
  rep.val = evaluator.run(store, "live", val, data.table);
  if (store.has_set("ema")) {
    rep.has_ema = true;
    rep.val_ema = evaluator.run(store, "ema", val, data.table);
  }
  rep.unigram_bpb = unigram_bpb(load_all(data.train, data.vocab), val, seq, data.table);
  Json fin = Json::object();
  fin.set("step", step);
  fin.set("final", true);
  fin.set("val_loss", rep.val.loss());
  fin.set("val_bpb", rep.val.bpb());
  fin.set("val_targets", rep.val.targets);
  fin.set("unigram_bpb", rep.unigram_bpb);
  if (rep.has_ema) fin.set("ema_val_bpb", rep.val_ema.bpb());
  metrics.write(fin);
  rep.model = std::move(model);
  return rep;
}

}  // namespace golf
