// The trainer end to end, through the `golfrt train` command as a user runs it: runs repeat
// exactly; a run killed with SIGKILL and resumed reproduces the uninterrupted one bit for bit; a
// wall-clock schedule is recorded and replays exactly (across a kill too); phases freeze what they
// say and replay batches; bad data is refused naming the file; the final report is complete.
//
// Every test trains tests/data/tiny_train.lua (dim 32, 2 blocks, byte260 vocabulary; a run of
// tens of steps takes well under a second) on data it prepares once per process with
// `golfrt data prepare --bytes` from generated text. Losses are compared as the doubles
// metrics.jsonl holds (%.17g, so text equality is bit equality).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dsl/artifact_model.h"
#include "runtime/fs.h"
#include "runtime/dist/launch.h"
#include "runtime/json.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/train_config.h"
#include "tests/support/run_command.h"
#include "tests/support/scratch_dir.h"

extern char** environ;

namespace golf {
namespace {

namespace fs = std::filesystem;

const std::string kCli = GOLFRT_CLI;
const std::string kScript = std::string(GOLFRT_SOURCE_DIR) + "/tests/data/tiny_train.lua";

// ---------------------------------------------------------------------------------------------
// Scratch space: one folder per process (ctest runs each test in its own process, in parallel),
// removed at the end unless a test failed, so that a failure leaves its runs to look at.

ScratchDir* const kScratch = add_scratch_dir("train_test");
const std::string& scratch() { return kScratch->path(); }

std::string test_dir_path() { return kScratch->test_dir_path(); }
// A fresh folder for this test's runs: scratch/<Suite>.<Test>/.
std::string test_dir() { return kScratch->test_dir(); }

// ---------------------------------------------------------------------------------------------
// Running golfrt. One BLAS thread: OpenBLAS's threaded sgemm gives different bits for different
// thread counts, and these tests compare bits. OpenMP threads do not change results (checked in
// Determinism below), one is faster on the 2 shared cores CI has.

using golf::test::Child;
using golf::test::Result;
using golf::test::slurp;

std::string quoted(const std::vector<std::string>& args) {
  std::string s = "golfrt";
  for (const auto& a : args) s += " " + a;
  return s;
}

Child spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env_overrides = {}) {
  static int count = 0;
  return golf::test::spawn_program(kCli, args, scratch() + "/proc" + std::to_string(++count), env_overrides);
}

// Trainings here may take minutes on a loaded CI machine: a generous deadline, still finite.
Result wait_done(const Child& c) { return golf::test::wait_for(c, 900); }

Result golfrt(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}) {
  return wait_done(spawn(args, env));
}

// `golfrt train tiny_train.lua --data DATA --out OUT --quiet` plus `extra`.
std::vector<std::string> train_args(const std::string& data, const std::string& out, std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {"train", kScript, "--data", data, "--out", out, "--quiet"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// Trains and fails the test (with the command and its output) unless it succeeds.
void train_ok(const std::string& data, const std::string& out, const std::vector<std::string>& extra,
              const std::map<std::string, std::string>& env = {}) {
  auto args = train_args(data, out, extra);
  Result r = golfrt(args, env);
  ASSERT_TRUE(r.ok()) << quoted(args) << " failed: " << r.describe();
}

// ---------------------------------------------------------------------------------------------
// The data: a few hundred lines of English-like text from a fixed generator, byte260 tokens
// (vocab 260, the script's). Prepared once per process.

std::string make_text() {
  static const char* const subjects[] = {"the cat", "a small dog", "the old man", "my sister", "the red bird",
                                         "a tall tree", "the river", "our teacher", "the quiet town", "a farmer"};
  static const char* const verbs[] = {"sees", "likes", "walks past", "runs to", "waits for",
                                      "sings about", "looks at", "finds", "carries", "remembers"};
  static const char* const objects[] = {"the green hill", "a warm house", "the blue boat", "an open window",
                                        "the long road", "a loaf of bread", "the morning market", "a wooden box"};
  static const char* const tails[] = {"in the rain", "every day", "before dinner", "with great care",
                                      "near the sea", "at night", "after school", "without a word"};
  uint64_t x = 0x9e3779b97f4a7c15ull;
  auto pick = [&](size_t n) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64: the same text on every machine
    return size_t(x % n);
  };
  std::string text;
  for (int line = 0; line < 400; line++) {
    int sentences = 1 + int(pick(3));
    for (int s = 0; s < sentences; s++) {
      // One pick per statement: the order of calls within one expression is unspecified.
      std::string sent = subjects[pick(10)];
      sent += std::string(" ") + verbs[pick(10)];
      sent += std::string(" ") + objects[pick(8)];
      if (pick(2)) sent += std::string(" ") + tails[pick(8)];
      sent[0] = char(std::toupper(sent[0]));
      text += (s ? " " : "") + sent + ".";
    }
    text += "\n";
  }
  return text;
}

const std::string& data_dir() {
  static const std::string dir = [] {
    std::string d = scratch() + "/data";
    std::string text = scratch() + "/text.txt";
    std::ofstream(text) << make_text();
    Result r = golfrt({"data", "prepare", "--text", text, "--out", d, "--bytes", "--quiet"});
    if (!r.ok()) throw std::runtime_error("golfrt data prepare failed: " + r.describe());
    return d;
  }();
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Reading a run's metrics.jsonl and schedule.json.

struct StepLine {
  int64_t step;
  std::string loss, lr_mult;  // as written: equal text is equal bits
  std::string phase;
  bool operator==(const StepLine&) const = default;
};

std::vector<Json> metrics_lines(const std::string& run) {
  std::vector<Json> lines;
  std::ifstream in(run + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(Json::parse(line, run + "/metrics.jsonl"));
  return lines;
}

// The per-step lines (those with a training loss), in file order.
std::vector<StepLine> step_lines(const std::string& run) {
  std::vector<StepLine> out;
  for (const Json& j : metrics_lines(run))
    if (j.has("loss"))
      out.push_back({j["step"].integer(), j["loss"].dump(), j["lr_mult"].dump(), j.get("phase", "")});
  return out;
}

// Fails naming the first step where two runs differ.
void expect_same_steps(const std::vector<StepLine>& want, const std::vector<StepLine>& got, const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what << ": different numbers of logged steps";
  for (size_t i = 0; i < want.size(); i++)
    ASSERT_EQ(want[i], got[i]) << what << ": first difference at line " << i << ": step " << want[i].step << " loss "
                               << want[i].loss << " lr_mult " << want[i].lr_mult << " vs step " << got[i].step
                               << " loss " << got[i].loss << " lr_mult " << got[i].lr_mult;
}

// Steps 1..n, each exactly once, in order: what a resumed run's log must read as.
void expect_steps_1_to_n(const std::vector<StepLine>& lines, int64_t n, const std::string& what) {
  ASSERT_EQ(int64_t(lines.size()), n) << what;
  for (size_t i = 0; i < lines.size(); i++) ASSERT_EQ(lines[i].step, int64_t(i) + 1) << what << " line " << i;
}

// The largest step of a complete training line so far, while a run is still writing the file
// (a line being written may be incomplete: it is skipped).
int64_t last_logged_step(const std::string& run) {
  std::ifstream in(run + "/metrics.jsonl");
  std::string line;
  int64_t last = 0;
  while (std::getline(in, line)) {
    if (in.eof() || line.find("\"loss\"") == std::string::npos) continue;  // no newline yet: incomplete
    try {
      last = std::max(last, Json::parse(line).get("step", int64_t(0)));
    } catch (const std::exception&) {
    }
  }
  return last;
}

Json schedule_of(const std::string& run) { return Json::parse(read_file(run + "/schedule.json"), run + "/schedule.json"); }

const Tensor& tensor(const Checkpoint& c, const std::string& name) {
  for (const auto& [n, t] : c.tensors)
    if (n == name) return t;
  throw std::runtime_error("checkpoint has no tensor '" + name + "'");
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// ---------------------------------------------------------------------------------------------
// Killing a run mid-way. Polls metrics.jsonl until the run has logged step `after`, then sends
// SIGKILL. While it waits it reads checkpoint.bin over and over (the run writes one every step):
// every read must find a whole checkpoint, since the trainer replaces the file atomically.
// Returns the number of checkpoint reads, which the caller may check is not zero.

int kill_after_step(const Child& c, const std::string& run, int64_t after) {
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + std::chrono::seconds(60);
  int reads = 0;
  std::string ckpt = run + "/checkpoint.bin";
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(c.pid, &status, WNOHANG);
    if (done == c.pid) {
      Result r;
      r.status = status;
      r.out = slurp(c.out_path);
      r.err = slurp(c.err_path);
      ADD_FAILURE() << "the run ended before it logged step " << after << ", so it could not be interrupted "
                    << "(make the run longer): " << r.describe();
      return reads;
    }
    if (fs::exists(ckpt)) {
      try {
        Checkpoint k = read_checkpoint(ckpt);
        EXPECT_GE(k.meta.get("step", int64_t(-1)), 1) << ckpt;
        reads++;
      } catch (const std::exception& e) {
        // A file that vanished between exists() and open cannot happen (it is only ever replaced).
        ADD_FAILURE() << "read a half-written checkpoint while the run was writing: " << e.what();
      }
    }
    if (last_logged_step(run) >= after) break;
    if (clock::now() > deadline) {
      ::kill(c.pid, SIGKILL);
      wait_done(c);
      ADD_FAILURE() << "the run did not log step " << after << " within 60 s";
      return reads;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::kill(c.pid, SIGKILL);
  Result r = wait_done(c);
  EXPECT_TRUE(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGKILL)
      << "the run was not killed by SIGKILL (it may have finished first): " << r.describe();
  // What the kill left must still be a whole checkpoint, from a step the run had reached.
  Checkpoint k = read_checkpoint(ckpt);
  int64_t step = k.meta.get("step", int64_t(-1));
  EXPECT_GE(step, after - 1) << "the checkpoint left by the killed run is older than expected";
  EXPECT_LE(step, last_logged_step(run)) << "the checkpoint is from a step the metrics never logged";
  return reads;
}

// ---------------------------------------------------------------------------------------------

// The same seed, script and data give the same losses, bit for bit; also with another OpenMP
// thread count (kernels sum in a fixed order). A different seed changes them.
TEST(Train, same_seed_gives_identical_losses) {
  const std::string dir = test_dir();
  // The script's own settings: 8 steps of 4 sequences in 2 micro-batches, warmdown over the last 4 steps.
  train_ok(data_dir(), dir + "/a", {"--seed", "11"});
  train_ok(data_dir(), dir + "/b", {"--seed", "11"});
  train_ok(data_dir(), dir + "/c", {"--seed", "11"}, {{"OMP_NUM_THREADS", "2"}});
  train_ok(data_dir(), dir + "/d", {"--seed", "12"});

  auto a = step_lines(dir + "/a");
  expect_steps_1_to_n(a, 8, "run a");
  expect_same_steps(a, step_lines(dir + "/b"), "two runs with seed 11");
  expect_same_steps(a, step_lines(dir + "/c"), "seed 11 with 1 and with 2 OpenMP threads");
  // The step schedule: full rate, then linear to 0 over the last 4 steps.
  std::vector<std::string> lr;
  for (const auto& s : a) lr.push_back(s.lr_mult);
  EXPECT_EQ(lr, (std::vector<std::string>{"1", "1", "1", "1", "1", "0.75", "0.5", "0.25"}));
  auto d = step_lines(dir + "/d");
  ASSERT_FALSE(d.empty());
  EXPECT_NE(a[0].loss, d[0].loss) << "seed 12 starts from the same loss as seed 11: the seed is not used";
}

// Trains `opts` uninterrupted into full/, and into part/ killed with SIGKILL once each run logs
// each step of `kill_at` and resumed with --resume; then part/ must read as full/, bit for bit:
// every step's loss, the final evaluation, and every tensor of the last checkpoint. The checkpoint
// a kill leaves is always whole (kill_after_step checks), and a metrics line torn by a kill does
// not stop the resume.
void expect_resume_reproduces(const std::vector<std::string>& opts, int64_t steps, const std::vector<int64_t>& kill_at) {
  const std::string dir = test_dir(), full = dir + "/full", part = dir + "/part";
  train_ok(data_dir(), full, opts);
  if (::testing::Test::HasFailure()) return;
  auto want = step_lines(full);
  expect_steps_1_to_n(want, steps, "uninterrupted run");

  auto resume = opts;
  resume.push_back("--resume");
  for (size_t i = 0; i < kill_at.size(); i++) {
    int reads = kill_after_step(spawn(train_args(data_dir(), part, i ? resume : opts)), part, kill_at[i]);
    if (::testing::Test::HasFailure()) return;
    EXPECT_GT(reads, 0) << "never saw a checkpoint while the run was alive";
  }
  // A kill can stop a write part-way (a line crossing a page boundary); the resumed run must drop
  // such a torn last line rather than refuse to start.
  { std::ofstream(part + "/metrics.jsonl", std::ios::app) << "{\"elapsed_s\":0.1,\"loss\":2.5"; }
  train_ok(data_dir(), part, resume);
  if (::testing::Test::HasFailure()) return;

  auto got = step_lines(part);
  expect_steps_1_to_n(got, steps, "resumed run");
  expect_same_steps(want, got, "uninterrupted vs killed and resumed");
  Json fa = metrics_lines(full).back(), fb = metrics_lines(part).back();
  EXPECT_EQ(fa.dump(), fb.dump()) << "the final evaluation differs after resume";
  // The last checkpoints agree too: every weight set, the optimizer state, the data cursor, the
  // replay buffer.
  Checkpoint ca = read_checkpoint(full + "/checkpoint.bin"), cb = read_checkpoint(part + "/checkpoint.bin");
  for (const char* key : {"step", "tokens", "cursor", "replay_pos", "swa_count", "lr_multipliers", "graph_switched"})
    EXPECT_EQ(ca.meta[key].dump(), cb.meta[key].dump()) << "checkpoint meta '" << key << "'";
  ASSERT_EQ(ca.tensors.size(), cb.tensors.size());
  for (size_t i = 0; i < ca.tensors.size(); i++) {
    EXPECT_EQ(ca.tensors[i].first, cb.tensors[i].first);
    EXPECT_TRUE(same_bits(ca.tensors[i].second, cb.tensors[i].second)) << ca.tensors[i].first << " differs";
  }
}

// The script's settings (2 micro-batches per step, warmdown by steps), killed twice.
TEST(Train, sigkill_and_resume_reproduces_the_uninterrupted_run) {
  expect_resume_reproduces({"--steps", "40", "--checkpoint-every", "1", "--seed", "7"}, 40, {8, 20});
}

// The trainer's device path on the stand-in device (docs/cuda.md): weights, gradients and
// optimizer state device-resident, the CPU kernels doing the arithmetic. The script's settings
// (no clip, no averages) give the CPU's losses and final evaluation bit for bit; killed and
// resumed, the device run reproduces itself, also with the clip, EMA, SWA, a frozen embedding and
// replayed batches (phased_long), whose device graphs sum in f32 where the host sums in double.
// The device path stores matmul operands in bf16 (runtime/precision_pass.h), so the CPU run it is
// compared with does too (--storage bf16); with fp32 storage on both sides they agree as well.
TEST(Train, standin_device_equals_the_cpu_and_resumes_exactly) {
  const std::string dir = test_dir();
  // The device path runs the fused graph (runtime/fuse_pass.h), so the CPU run fuses too.
  train_ok(data_dir(), dir + "/cpu", {"--seed", "11", "--steps", "10", "--fuse", "on", "--storage", "bf16"});
  train_ok(data_dir(), dir + "/dev", {"--seed", "11", "--steps", "10", "--device", "standin"});
  expect_same_steps(step_lines(dir + "/cpu"), step_lines(dir + "/dev"), "cpu vs the stand-in device");
  EXPECT_EQ(metrics_lines(dir + "/cpu").back().dump(), metrics_lines(dir + "/dev").back().dump())
      << "the final evaluation differs on the stand-in device";
  // The device steps as CUDA graphs (the default) or launch by launch: the same, bit for bit,
  // also with the clip, EMA, SWA, a frozen embedding and replayed batches (phased_long).
  train_ok(data_dir(), dir + "/dev_nograph", {"--seed", "11", "--steps", "10", "--device", "standin", "--cuda-graph", "off"});
  expect_same_steps(step_lines(dir + "/dev"), step_lines(dir + "/dev_nograph"), "the stand-in with and without CUDA graphs");
  EXPECT_EQ(metrics_lines(dir + "/dev").back().dump(), metrics_lines(dir + "/dev_nograph").back().dump());
  train_ok(data_dir(), dir + "/long_graph", {"--preset", "phased_long", "--seed", "9", "--steps", "24", "--device", "standin"});
  train_ok(data_dir(), dir + "/long_nograph",
           {"--preset", "phased_long", "--seed", "9", "--steps", "24", "--device", "standin", "--cuda-graph", "off"});
  expect_same_steps(step_lines(dir + "/long_graph"), step_lines(dir + "/long_nograph"), "phased_long with and without CUDA graphs");
  EXPECT_EQ(metrics_lines(dir + "/long_graph").back().dump(), metrics_lines(dir + "/long_nograph").back().dump());
  // Unfused and fp32-stored on both sides (the CPU's default): the same, bit for bit.
  train_ok(data_dir(), dir + "/cpu_unfused", {"--seed", "11", "--steps", "10"});
  train_ok(data_dir(), dir + "/dev_unfused",
           {"--seed", "11", "--steps", "10", "--device", "standin", "--fuse", "off", "--storage", "fp32"});
  expect_same_steps(step_lines(dir + "/cpu_unfused"), step_lines(dir + "/dev_unfused"), "cpu vs the stand-in, unfused");
  // Distillation: the teacher's probabilities stay on the device (f32 there, double on the host),
  // so the losses agree closely, not bit for bit, from the first distilled step on.
  train_ok(data_dir(), dir + "/kd_cpu", {"--preset", "distill", "--seed", "3", "--fuse", "on", "--storage", "bf16"});
  train_ok(data_dir(), dir + "/kd_dev", {"--preset", "distill", "--seed", "3", "--device", "standin"});
  train_ok(data_dir(), dir + "/kd_dev2", {"--preset", "distill", "--seed", "3", "--device", "standin"});
  expect_same_steps(step_lines(dir + "/kd_dev"), step_lines(dir + "/kd_dev2"), "two distilling runs on the stand-in");
  const auto kc = step_lines(dir + "/kd_cpu"), kd = step_lines(dir + "/kd_dev");
  ASSERT_EQ(kc.size(), kd.size());
  for (size_t i = 0; i < kc.size(); i++) {
    if (kc[i].phase == "main") EXPECT_EQ(kc[i].loss, kd[i].loss) << "step " << kc[i].step;
    else  // alpha = 1: the KL itself, near 0 right after the teacher was copied
      EXPECT_NEAR(std::stod(kd[i].loss), std::stod(kc[i].loss), 1e-6 + 1e-4 * std::fabs(std::stod(kc[i].loss)))
          << "step " << kc[i].step;
  }
  EXPECT_EQ(kc.back().phase, "distill");
  expect_resume_reproduces({"--device", "standin", "--steps", "20", "--checkpoint-every", "1", "--seed", "7"}, 20, {8});
  expect_resume_reproduces({"--device", "standin", "--preset", "phased_long", "--checkpoint-every", "1", "--seed", "9"}, 40,
                           {9, 24});
}

// Buffers (tiny_train.lua --preset buffer: an integer permutation `perm`, a 512-value integer
// `table`, a real `fixed`), trained with EMA, SWA and late QAT, killed and resumed: the resumed run
// matches the uninterrupted one bit for bit (every checkpoint tensor, buffers included); every
// weight set holds each buffer exactly as declared; no optimizer state exists for them; the
// artifact stores them untouched (i32 / fp32, not int8 although `table` is over keep_float_below)
// and loading it gives back the same bits.
TEST(Train, buffers_are_not_trained_and_survive_resume_and_the_artifact) {
  expect_resume_reproduces({"--preset", "buffer", "--checkpoint-every", "1", "--seed", "5"}, 20, {7});
  if (::testing::Test::HasFailure()) return;
  const std::string full = test_dir_path() + "/full";

  ModelScript script(kScript, {"buffer", {}});
  auto m = script.build("train", 1, 32);
  m->store.initialize(0, DType::f32);
  const std::vector<std::string> buffers = {"perm", "table", "fixed"};
  for (const std::string& b : buffers) ASSERT_TRUE(m->store.spec(b).is_buffer()) << b;
  EXPECT_TRUE(m->store.spec("perm").integer);
  EXPECT_FALSE(m->store.spec("fixed").integer);
  EXPECT_EQ(m->store.get("table").get(0), 1000 * 1 + 1 - 70000);

  Checkpoint c = read_checkpoint(full + "/checkpoint.bin");
  for (const char* set : {"live", "ema", "swa"})
    for (const std::string& b : buffers)
      EXPECT_TRUE(same_bits(tensor(c, std::string("w/") + set + "/" + b), m->store.get(b)))
          << b << " in weight set " << set << " is not the declared buffer";
  for (const auto& [name, t] : c.tensors) {
    if (name.rfind("opt/", 0) != 0) continue;
    for (const std::string& b : buffers) {
      bool ends = name.size() >= b.size() && name.compare(name.size() - b.size(), b.size(), b) == 0;
      EXPECT_FALSE(ends) << "optimizer state for the buffer " << b << ": " << name;
    }
  }

  Artifact art = read_artifact(full + "/artifact.bin");
  std::map<std::string, std::string> enc;
  for (const QTensor& t : art.tensors) enc[t.name] = t.encoding;
  EXPECT_EQ(enc["perm"], "i32");
  EXPECT_EQ(enc["table"], "i32");
  EXPECT_EQ(enc["fixed"], "fp32");
  EXPECT_EQ(enc["blocks.0.mlp.fc.weight"], "int8") << "the quant table should still quantize the matrices";
  LoadedModel lm = load_model(full + "/artifact.bin");
  for (const std::string& b : buffers)
    EXPECT_TRUE(same_bits(lm.eval_model->store.get(b), m->store.get(b))) << b << " after the artifact round trip";
}

// Killed inside a freezing phase and inside a replay phase, with EMA, SWA and gradient clipping on:
// the phase, the frozen set, the replay buffer and position, and the averaged weights all resume.
TEST(Train, sigkill_and_resume_inside_phases) {
  expect_resume_reproduces({"--preset", "phased_long", "--checkpoint-every", "1", "--seed", "9"}, 40, {9, 24});
  if (HasFailure()) return;
  auto lines = step_lines(test_dir_path() + "/full");
  for (const auto& s : lines)
    EXPECT_EQ(s.phase, s.step <= 5 ? "main" : s.step <= 15 ? "tune" : "replay") << "step " << s.step;
  Json fin = metrics_lines(test_dir_path() + "/full").back();
  EXPECT_TRUE(fin["ema_val_bpb"].is_number()) << "no EMA evaluation in " << fin.dump();
}

// A wall-clock warmdown records the multiplier of every step (schedule.json, metrics.jsonl). A run
// given that record with --replay-schedule takes the same steps with the same multipliers, so its
// losses are the recorded run's; killed and resumed with the same record, still; and it stops at
// the recorded run's last step although its own clock would allow a different number.
TEST(Train, wall_clock_schedule_is_recorded_and_replays_exactly) {
  const std::string dir = test_dir(), a = dir + "/a", b = dir + "/b";
  const std::vector<std::string> opts = {"--preset", "timed", "--time-budget", "0.4", "--seed", "3"};
  train_ok(data_dir(), a, opts);

  Json sched = schedule_of(a);
  const int64_t final_step = sched["final_step"].integer("final_step");
  const auto& mults = sched["lr_multipliers"].items();
  auto la = step_lines(a);
  ASSERT_GE(final_step, 6) << "0.4 s allowed only " << final_step << " steps: this machine is too slow for the test";
  ASSERT_EQ(int64_t(mults.size()), final_step) << "schedule.json must hold one multiplier per step taken";
  expect_steps_1_to_n(la, final_step, "time-budgeted run");
  for (size_t i = 0; i < mults.size(); i++) {
    EXPECT_EQ(la[i].lr_mult, mults[i].dump()) << "step " << i + 1 << ": metrics.jsonl and schedule.json disagree";
    EXPECT_TRUE(mults[i].number() >= 0 && mults[i].number() <= 1) << "step " << i + 1 << ": " << mults[i].dump();
  }
  EXPECT_EQ(mults[0].number(), 1.0);
  // (Any step, not necessarily the last: one step stalled by a busy machine can outlast the warmdown.)
  EXPECT_TRUE(std::any_of(mults.begin(), mults.end(), [](const Json& m) { return m.number() < 1.0; }))
      << "the time-based warmdown never started: " << sched.dump();

  // B replays A's record; it checkpoints every step, is killed halfway and resumed.
  std::vector<std::string> replay = opts;
  replay.insert(replay.end(), {"--replay-schedule", a + "/schedule.json", "--checkpoint-every", "1"});
  kill_after_step(spawn(train_args(data_dir(), b, replay)), b, std::max<int64_t>(final_step / 2, 1));
  if (HasFailure()) return;
  replay.push_back("--resume");
  train_ok(data_dir(), b, replay);

  expect_same_steps(la, step_lines(b), "recorded run vs replayed, killed and resumed run");
  Json sb = schedule_of(b);
  EXPECT_EQ(sb["final_step"].integer(), final_step);
  EXPECT_EQ(sb["lr_multipliers"].dump(), sched["lr_multipliers"].dump());
  EXPECT_EQ(metrics_lines(a).back()["val_bpb"].dump(), metrics_lines(b).back()["val_bpb"].dump());
}

// Two phases: "tune" (steps 7-10) freezes tok_emb.weight and halves the learning rate. A run cut
// after phase one (--steps 6) and the full run share their first 6 steps; the embedding, and its
// Adam moments, are then bit-identical in both final checkpoints, while every block matrix moved.
TEST(Train, freeze_phase_leaves_the_frozen_parameter_alone) {
  const std::string dir = test_dir(), cut = dir + "/cut", all = dir + "/all";
  train_ok(data_dir(), cut, {"--preset", "phases", "--seed", "5", "--steps", "6"});
  train_ok(data_dir(), all, {"--preset", "phases", "--seed", "5"});

  auto lc = step_lines(cut), la = step_lines(all);
  expect_steps_1_to_n(lc, 6, "phase one only");
  expect_steps_1_to_n(la, 10, "both phases");
  expect_same_steps(lc, std::vector<StepLine>(la.begin(), la.begin() + 6), "the first 6 steps");
  for (const auto& s : la) {
    EXPECT_EQ(s.phase, s.step <= 6 ? "main" : "tune") << "step " << s.step;
    EXPECT_EQ(s.lr_mult, s.step <= 6 ? "1" : "0.5") << "step " << s.step << ": lr_scale of the phase";
  }

  Checkpoint c = read_checkpoint(cut + "/checkpoint.bin"), f = read_checkpoint(all + "/checkpoint.bin");
  EXPECT_EQ(c.meta["step"].integer(), 6);
  EXPECT_EQ(f.meta["step"].integer(), 10);
  for (const char* name : {"w/live/tok_emb.weight", "opt/adam.m.tok_emb.weight", "opt/adam.v.tok_emb.weight"})
    EXPECT_TRUE(same_bits(tensor(c, name), tensor(f, name))) << name << " changed in the phase that freezes it";
  int moved = 0;
  for (const auto& [name, t] : f.tensors) {
    if (name.rfind("w/live/blocks.", 0) != 0 || name.size() < 7 || name.substr(name.size() - 7) != ".weight") continue;
    EXPECT_FALSE(same_bits(t, tensor(c, name))) << name << " did not change in the second phase";
    moved++;
  }
  EXPECT_EQ(moved, 12) << "expected the 12 block matrices of the tiny model";
}

// A replay phase trains on the last recorded micro-batches instead of fresh data: it runs, and it
// leaves the data cursor where phase one left it.
TEST(Train, replay_phase_runs_on_recorded_batches) {
  const std::string dir = test_dir(), run = dir + "/run";
  train_ok(data_dir(), run, {"--preset", "replay", "--seed", "5"});
  auto lines = step_lines(run);
  expect_steps_1_to_n(lines, 8, "replay preset");
  for (const auto& s : lines) {
    EXPECT_EQ(s.phase, s.step <= 5 ? "main" : "replay") << "step " << s.step;
    EXPECT_TRUE(std::isfinite(std::stod(s.loss))) << "step " << s.step;
  }
  Checkpoint c = read_checkpoint(run + "/checkpoint.bin");
  // 5 fresh steps of 2 micro-batches, each taking 2 sequences of 32 tokens plus the last target.
  EXPECT_EQ(c.meta["cursor"].get("position", int64_t(-1)), 5 * 2 * (2 * 32 + 1)) << c.meta["cursor"].dump();
  EXPECT_EQ(c.meta.get("replay_pos", int64_t(-1)), 3 * 2) << "3 replayed steps of 2 micro-batches";
}

// Late QAT: the same run as without it until the LR multiplier first falls below 0.6, then the
// matrices are fake-quantized in the forward pass (the log says so and the losses change).
TEST(Train, late_qat_switches_on_below_its_threshold) {
  const std::string dir = test_dir(), plain = dir + "/plain", qat = dir + "/qat";
  train_ok(data_dir(), plain, {"--seed", "5"});
  train_ok(data_dir(), qat, {"--preset", "qat", "--seed", "5"});
  auto lp = step_lines(plain), lq = step_lines(qat);
  ASSERT_EQ(lp.size(), lq.size());
  std::vector<Json> mq = metrics_lines(qat);
  int on = 0, changed = 0;
  for (size_t i = 0; i < lq.size(); i++) {
    const bool below = std::stod(lq[i].lr_mult) < 0.6;
    bool flag = false;
    for (const Json& j : mq)
      if (j.has("loss") && j["step"].integer() == lq[i].step) flag = j.get("qat", false);
    EXPECT_EQ(flag, below) << "step " << lq[i].step << " lr " << lq[i].lr_mult;
    if (!below) {
      EXPECT_EQ(lq[i].loss, lp[i].loss) << "step " << lq[i].step << ": before the switch";
    }
    on += below;
    changed += below && lq[i].loss != lp[i].loss;
  }
  EXPECT_GT(on, 0) << "the warmdown never went below 0.6";
  EXPECT_EQ(changed, on) << "fake quantization did not change the loss";
}

// train.graph_switch (tiny_train.lua --preset switched: block 1 looped twice in the "train" graph,
// once in the "train_early" graph until half the 20 steps): the first 10 steps are step for step
// the unlooped model's (the same parameters, the plain graph), the last 10 differ; the log says
// which graph ran.
TEST(Train, graph_switch_runs_the_early_graph_then_the_train_graph) {
  const std::string dir = test_dir(), plain = dir + "/plain", sw = dir + "/switched";
  train_ok(data_dir(), plain, {"--steps", "20", "--seed", "5"});
  train_ok(data_dir(), sw, {"--preset", "switched", "--seed", "5"});
  auto lp = step_lines(plain), ls = step_lines(sw);
  ASSERT_EQ(lp.size(), 20u);
  ASSERT_EQ(ls.size(), 20u);
  std::vector<Json> ms = metrics_lines(sw);
  for (size_t i = 0; i < ls.size(); i++) {
    bool flag = false;
    for (const Json& j : ms)
      if (j.has("loss") && j["step"].integer() == ls[i].step) flag = j.get("switched", false);
    EXPECT_EQ(flag, ls[i].step > 10) << "step " << ls[i].step;
    if (ls[i].step <= 10) EXPECT_EQ(ls[i].loss, lp[i].loss) << "step " << ls[i].step << ": the early graph is the unlooped model";
    else EXPECT_NE(ls[i].loss, lp[i].loss) << "step " << ls[i].step << ": the looped graph runs after the switch";
  }
}

// Killed before the switch (step 7) and after it (step 14), so the second run crosses it: the
// resumed run is the uninterrupted one bit for bit, the switch state included.
TEST(Train, sigkill_and_resume_across_the_graph_switch) {
  expect_resume_reproduces({"--preset", "switched", "--checkpoint-every", "1", "--seed", "5"}, 20, {7, 14});
}

// examples/record.lua's early graph: the same parameters as its "train" graph (the looped one
// fixes them), fewer virtual layers.
TEST(Train, record_script_builds_its_graph_before_the_loop_is_on) {
  ModelScript script(std::string(GOLFRT_SOURCE_DIR) + "/examples/record.lua", {"tiny", {}});
  auto early = script.build("train_early", 1, 16), train = script.build("train", 1, 16);
  std::map<std::string, Shape> a, b;  // by name: the graphs use them in different orders
  for (const ParamSpec& p : early->store.specs()) a[p.name] = p.shape;
  for (const ParamSpec& p : train->store.specs()) b[p.name] = p.shape;
  EXPECT_EQ(a, b);
  EXPECT_LT(early->graph.nodes().size(), train->graph.nodes().size()) << "11 virtual layers before the switch, 17 after";
}

// Self-distillation from a frozen copy of the weights: with alpha = 1 the logged loss is the KL
// divergence, 0 at the phase's first step (teacher = student) and positive after; with alpha = 0
// the phase is plain cross entropy, step for step the same as a run without distillation.
TEST(Train, distillation_phase_trains_against_the_frozen_teacher) {
  const std::string dir = test_dir(), kl = dir + "/kl", ce = dir + "/ce", plain = dir + "/plain";
  train_ok(data_dir(), kl, {"--preset", "distill", "--seed", "5"});
  train_ok(data_dir(), ce, {"--preset", "distill_ce", "--seed", "5"});
  train_ok(data_dir(), plain, {"--preset", "plain_split", "--seed", "5"});
  auto lk = step_lines(kl), lc = step_lines(ce), lp = step_lines(plain);
  expect_steps_1_to_n(lk, 8, "distill preset");
  expect_same_steps(lp, lc, "alpha = 0 against no distillation");
  for (const auto& s : lk) {
    if (s.step <= 5) continue;
    EXPECT_EQ(s.phase, "distill");
    if (s.step == 6) {
      EXPECT_NEAR(std::stod(s.loss), 0.0, 1e-5) << "the first distill step's KL";
    } else {
      EXPECT_GT(std::stod(s.loss), 0.0) << "step " << s.step;
    }
  }
  Checkpoint c = read_checkpoint(kl + "/checkpoint.bin");
  EXPECT_NO_THROW(tensor(c, "w/teacher/tok_emb.weight"));
  // The teacher stays the weights of step 5 (a --steps 5 run's live weights).
  train_ok(data_dir(), dir + "/five", {"--preset", "distill", "--seed", "5", "--steps", "5"});
  Checkpoint f = read_checkpoint(dir + "/five/checkpoint.bin");
  EXPECT_TRUE(same_bits(tensor(c, "w/teacher/blocks.0.attn.c_q.weight"), tensor(f, "w/live/blocks.0.attn.c_q.weight")));
}

// Broken data is refused before or as it is read, and the message names the shard; a script whose
// vocabulary does not match the data's says how to fix it.
TEST(Train, bad_data_is_refused_naming_the_file) {
  const std::string dir = test_dir();
  // A copy of the prepared data with one shard changed by `damage`; returns the shard's path.
  auto damaged = [&](const std::string& name, const std::string& split, auto damage) {
    std::string d = dir + "/" + name;
    fs::copy(data_dir(), d, fs::copy_options::recursive);
    std::string shard = d + "/fineweb_" + split + "_000000.bin";
    std::string bytes = read_file(shard);
    damage(bytes);
    std::ofstream(shard, std::ios::binary | std::ios::trunc) << bytes;
    return std::make_pair(d, shard);
  };
  auto expect_refused = [&](const std::pair<std::string, std::string>& data_and_shard, const std::string& why) {
    const auto& [data, shard] = data_and_shard;
    auto args = train_args(data, dir + "/run_" + fs::path(data).filename().string());
    Result r = golfrt(args);
    EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0) << quoted(args) << " was not refused: " << r.describe();
    EXPECT_NE(r.err.find(shard), std::string::npos) << "the error does not name " << shard << ": " << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << "the error does not say '" << why << "': " << r.err;
  };

  expect_refused(damaged("bad_magic", "train", [](std::string& b) { std::memset(b.data(), 0, 4); }), "magic");
  expect_refused(damaged("bad_size", "val", [](std::string& b) { b.push_back('\0'); }), "bytes but its header says");
  // Token 300 (byte260 ids end at 259) in the middle of the training shard.
  expect_refused(damaged("bad_token", "train",
                         [](std::string& b) {
                           b[1024 + 2 * 100] = char(300 & 0xff);  // little-endian u16 after the 1024-byte header
                           b[1024 + 2 * 100 + 1] = char(300 >> 8);
                         }),
                 "token 300 at position 100 is outside the vocabulary of 260");

  auto args = train_args(data_dir(), dir + "/run_vocab", {"--set", "vocab=1024"});
  Result r = golfrt(args);
  EXPECT_FALSE(r.ok()) << quoted(args) << " was not refused: " << r.describe();
  EXPECT_NE(r.err.find("config.vocab is 1024"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(use --set vocab=260)"), std::string::npos) << r.err;
}

// The run ends with the challenge's number on stdout and a final metrics line holding it with
// the unigram reference; 30 steps already put the model well below the unigram model.
TEST(Train, final_report_has_val_bpb_and_unigram_bpb) {
  const std::string dir = test_dir(), run = dir + "/run";
  auto args = train_args(data_dir(), run, {"--steps", "30"});
  Result r = golfrt(args);
  ASSERT_TRUE(r.ok()) << quoted(args) << " failed: " << r.describe();
  EXPECT_NE(r.out.find("  val_bpb "), std::string::npos) << "no val_bpb in the report:\n" << r.out;
  EXPECT_NE(r.out.find("trained 30 steps"), std::string::npos) << r.out;

  auto lines = metrics_lines(run);
  ASSERT_FALSE(lines.empty());
  const Json& fin = lines.back();
  EXPECT_TRUE(fin.get("final", false)) << "the last line is not the final one: " << fin.dump();
  EXPECT_EQ(fin["step"].integer(), 30);
  ASSERT_TRUE(fin["val_bpb"].is_number() && fin["unigram_bpb"].is_number()) << fin.dump();
  double bpb = fin["val_bpb"].number(), uni = fin["unigram_bpb"].number();
  EXPECT_TRUE(std::isfinite(bpb) && bpb > 0) << fin.dump();
  EXPECT_TRUE(std::isfinite(uni) && uni > 0) << fin.dump();
  EXPECT_LT(bpb, uni) << "30 steps did not beat the unigram model";
  EXPECT_GT(fin["val_targets"].integer(), 0);
  // The val_bpb on stdout is the final line's, to the 4 decimals printed.
  char want[64];
  std::snprintf(want, sizeof want, "val_bpb %.4f", bpb);
  EXPECT_NE(r.out.find(want), std::string::npos) << "stdout does not show " << want << ":\n" << r.out;
}

// The micro-batch is a property of the run (issue 16): the checkpoint and schedule.json record it,
// and a resume of a script that sets none reuses it instead of taking the whole step. The script
// here is tiny_train.lua without its micro_batch (and without warmdown, so that a run stopped at
// step 3 takes the full run's first 3 steps); the first part sets micro_batch 1 on the command
// line (accepted although the table has no such key), the resume sets nothing. Before issue 16 the
// resume would have run micro-batches of all 4 sequences, and --set train.micro_batch was refused.
TEST(Train, resume_reuses_the_recorded_micro_batch) {
  const std::string dir = test_dir(), full = dir + "/full", part = dir + "/part", script = dir + "/no_micro.lua";
  std::string text = read_file(kScript);
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"micro_batch = 2, ", ""}, {"warmdown = { iters = 4, by = \"steps\" },", "warmdown = 0,"}}) {
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from << " is no longer in " << kScript;
    text.replace(at, from.size(), to);
  }
  std::ofstream(script) << text;
  auto args = [&](const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> a = {"train", script, "--data", data_dir(), "--out", out, "--quiet"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  for (const auto& a : {args(full, {"--set", "train.micro_batch=1", "--steps", "6"}),
                        args(part, {"--set", "train.micro_batch=1", "--steps", "3"}), args(part, {"--resume", "--steps", "6"})}) {
    Result r = golfrt(a);
    ASSERT_TRUE(r.ok()) << quoted(a) << " failed: " << r.describe();
  }
  EXPECT_EQ(read_checkpoint_meta(part + "/checkpoint.bin").get("micro_batch", int64_t(0)), 1);
  EXPECT_EQ(schedule_of(part).get("micro_batch", int64_t(0)), 1);
  auto want = step_lines(full), got = step_lines(part);
  expect_steps_1_to_n(got, 6, "resumed run");
  expect_same_steps(want, got, "micro_batch 1 throughout vs resumed without setting it");
}

// Messages that once named no value (issue 15): each must carry what it refused.
TEST(Train, phases_that_are_not_a_list_are_named) {
  std::string e;
  try {
    parse_train_config(Json::parse(R"({"steps": 5, "phases": "warm"})", "test"), 32, TrainerOptions{}, 1);
  } catch (const std::invalid_argument& x) {
    e = x.what();
  }
  EXPECT_NE(e.find(R"(train.phases must be a non-empty list of phases, got "warm")"), std::string::npos) << e;
}

TEST(Train, nproc_below_one_is_named) {
  std::string e;
  try {
    run_local_ranks(0, {});
  } catch (const std::invalid_argument& x) {
    e = x.what();
  }
  EXPECT_NE(e.find("--nproc must be at least 1, got 0"), std::string::npos) << e;
}

}  // namespace
}  // namespace golf
