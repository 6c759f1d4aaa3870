// golfrt train SCRIPT: trains a model script on a data folder and reports val_bpb as the
// challenge scores it (runtime/train/trainer.h does the work).
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "cli/args.h"
#include "cli/train_checks.h"
#include "dsl/artifact_model.h"
#include "runtime/dist/launch.h"
#include "runtime/fs.h"
#include "runtime/train/device_plan.h"
#include "runtime/train/stop_signal.h"
#include "runtime/train/trainer.h"

namespace golf::cli {

namespace {
std::string stem(const std::string& path) {
  size_t slash = path.find_last_of('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  size_t dot = base.find_last_of('.');
  return dot == std::string::npos ? base : base.substr(0, dot);
}
}  // namespace

namespace {
int train_rank(const Args& a, const std::vector<std::string>& argv, Communicator& comm);
int plan_only(const Args& a);
RealStorage storage_option(const Args& a);
}  // namespace

int cmd_train(const std::vector<std::string>& argv) {
  Args a = parse_args(argv, {"data", "time-budget", "steps", "seed", "out", "replay-schedule", "checkpoint-every", "dtype", "device", "nproc", "fuse", "cuda-graph",
                              "storage"},
                      {"resume", "quiet", "no-artifact", "overwrite", "plan-only"});
  if (a.positional.size() != 1) throw std::invalid_argument("usage: golfrt train SCRIPT [options] (golfrt train --help)");
  if (const std::string g = a.get("cuda-graph", "on"); g != "on" && g != "off")
    throw std::invalid_argument("--cuda-graph " + g + ": give on or off");
  const bool cuda = a.get("device", "cpu") == "cuda";
  storage_option(a);  // a bad --storage is refused before anything starts
  if (a.options.count("plan-only")) return plan_only(a);
  if (a.options.count("nproc")) {
    if (!cuda)
      throw std::invalid_argument("--nproc N starts N NCCL ranks, one per GPU (--device cuda); for CPU ranks use "
                                  "mpirun -np N golfrt train ... (docs/distributed.md)");
    if (std::getenv("GOLFRT_WORLD_SIZE") || std::getenv("OMPI_COMM_WORLD_SIZE"))
      throw std::invalid_argument("--nproc inside a rank that a launcher (--nproc or mpirun) started");
    std::vector<std::string> args = {"train"};
    for (size_t i = 0; i < argv.size(); i++) {
      if (argv[i] == "--nproc") i++;
      else args.push_back(argv[i]);
    }
    const int nproc = int(int_option(a, "nproc", 1, 1, 4096));
    // The ranks stop themselves on SIGINT/SIGTERM (they get the terminal's signal too); this process
    // waits for them rather than leave them behind.
    install_stop_handlers();
    return run_local_ranks(nproc, args);
  }
  // Before anything touches CUDA: under mpirun it picks the rank's GPU.
  std::unique_ptr<Communicator> comm = make_communicator(cuda);
  if (!distributed(comm.get())) return train_rank(a, argv, *comm);
  try {
    int rc = train_rank(a, argv, *comm);
    comm->barrier();  // the ranks end together, after rank 0's artifact
    return rc;
  } catch (const std::exception& e) {
    // The other ranks wait in a collective: end them too, now.
    comm->abort(std::string("golfrt train: ") + e.what());
  }
  return 1;  // not reached: abort ends the process ([[noreturn]] does not carry through the virtual call)
}

namespace {

// --storage auto|fp32|bf16 (TrainerOptions::storage).
RealStorage storage_option(const Args& a) {
  const std::string s = a.get("storage", "auto");
  if (s != "auto" && s != "fp32" && s != "bf16") throw std::invalid_argument("--storage " + s + ": give auto, fp32 or bf16");
  return real_storage_from_name(s);
}

// --plan-only: the micro-batch a CUDA run would use (runtime/train/device_plan.h), from count-only
// plans; nothing is trained, no data is read, no device is touched except to ask its free memory
// (GOLFRT_DEVICE_FREE_BYTES answers instead, in a build without CUDA too).
int plan_only(const Args& a) {
  if (a.get("device", "cpu") != "cuda")
    throw std::invalid_argument("--plan-only plans the micro-batch of a CUDA run: add --device cuda");
  const std::string& path = a.positional[0];
  ModelScript script(path, a.overrides);
  Json train = script.table_json("train");
  if (!train.is_object()) throw std::invalid_argument(path + ": the script has no train table");
  check_train_numbers(train);
  const int64_t seq = script.has_config("seq_len") ? script.config_count("seq_len") : train.get("seq_len", int64_t(0));
  if (seq <= 0) throw std::invalid_argument(path + ": set config.seq_len (or train.seq_len)");
  TrainerOptions opt;
  opt.device = Device::cuda;
  opt.out_dir = a.get("out", "runs/" + stem(path));
  opt.resume = a.options.count("resume") != 0;
  opt.replay_schedule = a.get("replay-schedule", "");
  opt.storage = storage_option(a);  // bf16-stored values take half the bytes: the plan follows the run's
  const int64_t ranks = int_option(a, "nproc", 1, 1, 4096);
  GraphFactory factory = [&](const std::string& mode, int64_t batch, int64_t t) { return script.build(mode, batch, t); };
  NameMatcher matcher = [&](const std::string& name, const std::string& pattern) { return script.name_matches(name, pattern); };
  const MicroBatchChoice c = choose_micro_batch(factory, matcher, train, seq, opt, ranks, nullptr);
  const int64_t step_sequences = train.get("batch_tokens", int64_t(8 * seq)) / seq;
  std::printf("%s: %lld sequences of %lld per step, %lld rank(s): %s\n", path.c_str(), (long long)step_sequences,
              (long long)seq, (long long)ranks, c.line.c_str());
  return 0;
}

// The command that continues this run: the same one without --overwrite, with --resume.
std::string resume_command(const std::vector<std::string>& argv) {
  std::vector<std::string> cmd = {program_name(), "train"};
  bool has_resume = false;
  for (const std::string& s : argv) {
    if (s == "--overwrite") continue;
    has_resume = has_resume || s == "--resume";
    cmd.push_back(s);
  }
  if (!has_resume) cmd.push_back("--resume");
  return shell_command(cmd);
}

int train_rank(const Args& a, const std::vector<std::string>& argv, Communicator& comm) {
  const bool root = comm.is_root();
  const Device device = parse_device(a);
  const std::string& path = a.positional[0];

  // Every number of the command line, before anything is read or written.
  TrainerOptions opt;
  opt.out_dir = a.get("out", "runs/" + stem(path));
  opt.seed = uint64_t(int_option(a, "seed", 1, 0));
  // 0 means "none" here as in the train table: --steps 0 lifts the script's step cap.
  opt.steps = int_option(a, "steps", -1, 0);
  opt.time_budget = real_option(a, "time-budget", -1, 0, INFINITY);
  opt.checkpoint_every = int_option(a, "checkpoint-every", -1, 0);
  opt.resume = a.options.count("resume") != 0;
  // Rank 0 alone writes the run folder (another rank would see the files it has begun to write).
  if (root) check_run_folder(opt.out_dir, opt.resume, a.options.count("overwrite") != 0);

  ModelScript script(path, a.overrides);
  Json train = script.table_json("train");
  if (!train.is_object()) throw std::invalid_argument(path + ": the script has no train table");
  check_train_numbers(train);
  int64_t seq = script.has_config("seq_len") ? script.config_count("seq_len") : train.get("seq_len", int64_t(0));
  if (seq <= 0) throw std::invalid_argument(path + ": set config.seq_len (or train.seq_len)");
  check_quant_settings(script, train, seq);

  std::string data_dir = a.get("data", "data/nlp-corpus-sp1024");
  DataDir data = open_data_dir(data_dir);
  if (script.has_config("vocab") && script.config_count("vocab") != data.vocab)
    throw std::invalid_argument(path + ": config.vocab is " + std::to_string(script.config_count("vocab")) +
                                " but " + data_dir + " has a vocabulary of " + std::to_string(data.vocab) +
                                " (use --set vocab=" + std::to_string(data.vocab) + ")");

  opt.quiet = a.options.count("quiet") != 0;
  opt.replay_schedule = a.get("replay-schedule", "");
  opt.real = dtype_from_name(a.get("dtype", "f32"));
  opt.device = device;
  const std::string fuse = a.get("fuse", "auto");
  if (fuse == "on") opt.fuse = TrainerOptions::Fuse::on;
  else if (fuse == "off") opt.fuse = TrainerOptions::Fuse::off;
  else if (fuse != "auto") throw std::invalid_argument("--fuse " + fuse + ": give auto, on or off");
  opt.cuda_graph = a.get("cuda-graph", "on") == "on";  // checked in cmd_train
  opt.storage = storage_option(a);
  opt.comm = &comm;
  opt.quiet = opt.quiet || !root;
  Json quant = script.table_json("quant");
  opt.calibration_batches = quant["calibration"].get("batches", int64_t(0));
  opt.calibration_reserve_s = quant["calibration"].get("reserve_s", 0.0);
  opt.calibration_set = quant.get("weights", "live");

  GraphFactory factory = [&](const std::string& mode, int64_t batch, int64_t t) -> std::unique_ptr<ModelGraph> {
    return script.build(mode, batch, t);
  };
  NameMatcher matcher = [&](const std::string& name, const std::string& pattern) { return script.name_matches(name, pattern); };

  if (root) std::printf("golfrt train %s on %s (vocab %d, %zu train / %zu val shards) -> %s\n", path.c_str(), data_dir.c_str(),
              data.vocab, data.train.size(), data.val.size(), opt.out_dir.c_str());
  std::fflush(stdout);
  if (root && distributed(&comm))
    std::printf("%d ranks (%s): each runs 1/%d of every global batch\n", comm.size(), comm.engine().c_str(), comm.size());
  std::fflush(stdout);
  if (root && a.options.count("overwrite")) clear_run_folder(opt.out_dir);
  // Ctrl-C or SIGTERM from here on: the trainer finishes its step and saves the checkpoint.
  install_stop_handlers();
  TrainReport r = train_model(factory, matcher, train, seq, data, opt);
  // The artifact is written atomically: a signal while it is made may end the process at once.
  remove_stop_handlers();
  // (Every rank asks, so that they all end the same way: rank 0's signal decides.)
  const int late_signal = agreed_stop_signal(comm);
  if (const int sig = r.stopped_by ? r.stopped_by : late_signal) {
    if (root) {
      const std::string ckpt = path_join(opt.out_dir, "checkpoint.bin");
      if (r.stopped_by)
        std::printf("golfrt train: stopped by %s after step %lld (%.1f s of training); the checkpoint %s holds it\n",
                    stop_signal_name(sig), (long long)r.steps, r.seconds, ckpt.c_str());
      else
        std::printf("golfrt train: %s after the last step (%lld): the checkpoint %s is final; the artifact was not "
                    "written\n", stop_signal_name(sig), (long long)r.steps, ckpt.c_str());
      std::printf("resume with: %s\n", resume_command(argv).c_str());
      std::fflush(stdout);
    }
    return 128 + sig;  // the shell's convention for "ended by signal N": 130 for SIGINT, 143 for SIGTERM
  }
  // The artifact is rank 0's alone.
  if (!root) return 0;
  std::printf("trained %lld steps in %.1f s (%lld tokens, %.0f tokens/s); last train loss %.4f\n", (long long)r.steps,
              r.seconds, (long long)r.tokens, double(r.tokens) / std::max(r.seconds, 1e-9), r.train_loss);
  std::printf("val_loss %.4f  val_bpb %.4f  (%lld targets)\n", r.val.loss(), r.val.bpb(), (long long)r.val.targets);
  if (r.has_ema) std::printf("EMA weights: val_loss %.4f  val_bpb %.4f\n", r.val_ema.loss(), r.val_ema.bpb());
  std::printf("unigram bpb %.4f: the model is %.1f%% below it\n", r.unigram_bpb, 100.0 * (1.0 - r.val.bpb() / r.unigram_bpb));
  if (r.calibration_s > 0) std::printf("GPTQ calibration: %.1f s (counted in the training time)\n", r.calibration_s);
  if (a.options.count("no-artifact")) return 0;

  // The artifact: quantize, write atomically, then score it the way `golfrt decode` does — from
  // the file alone, its own script in the sandbox.
  ExportInfo info;
  info.script_name = stem(path) + ".lua";
  info.overrides = a.overrides;
  info.seq_len = seq;
  info.training = Json::object();
  info.training.set("steps", r.steps);
  info.training.set("seconds", r.seconds);
  info.training.set("tokens", r.tokens);
  info.training.set("seed", int64_t(opt.seed));
  info.training.set("val_bpb", r.val.bpb());
  info.training.set("val_loss", r.val.loss());
  info.tokenizer = tokenizer_record(data);
  std::string set = quant.get("weights", "live");
  Artifact art = export_model(script, r.model->store, set, info, r.hessians);
  std::string out_path = path_join(opt.out_dir, "artifact.bin");
  write_artifact(out_path, art, artifact_options(quant));
  int64_t bytes = int64_t(read_file(out_path).size());

  LoadedModel m = load_model(out_path);
  Evaluator ev(m.factory, m.seq_len, train.get("eval_batch", train.get("micro_batch", int64_t(8))), DType::f32, opt.device);
  std::vector<uint16_t> val = load_all(data.val, data.vocab);
  EvalResult rt = ev.run(m.eval_model->store, "live", val, data.table);
  std::printf("artifact %s: %lld bytes (%s the 16,000,000-byte budget by %lld)\n", out_path.c_str(), (long long)bytes,
              bytes <= int64_t(kArtifactBudget) ? "under" : "OVER", (long long)std::llabs(int64_t(kArtifactBudget) - bytes));
  std::printf("val_bpb before quantization %.6f, after the artifact round trip %.6f (+%.4f)\n", r.val.bpb(), rt.bpb(),
              rt.bpb() - r.val.bpb());
  return 0;
}

}  // namespace

}  // namespace golf::cli
