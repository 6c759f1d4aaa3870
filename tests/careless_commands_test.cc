// Commands a careless user types (issue 17, items 10-13), run as the user runs them: `golfrt` in a
// child process, its exit status and messages checked.
//   - a finished run is not overwritten without --resume or --overwrite;
//   - Ctrl-C (SIGINT) or SIGTERM mid-training finishes the step, saves the checkpoint, prints the
//     exact command that resumes, exits 130 / 143, and that command continues bit for bit; a
//     second signal stops the run at once;
//   - every numeric flag is parsed strictly and range-checked, the error naming flag and value;
//   - a bad quant setting is refused before the first step.
// Each of these failed on the code before the change (checked by running this file against it):
// the rerun silently replaced the run, SIGINT killed the process with no checkpoint, `decode --seq 0`
// died of SIGFPE and `--batch 0` hung, and `--set quant.codec=lzma` failed only after training.
//
// The model is tests/data/tiny_train.lua (a run of a hundred steps takes about a second) on
// byte-level data prepared once per process.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/fs.h"
#include "runtime/json.h"
#include "runtime/train/checkpoint.h"
#include "tests/support/run_command.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/word_text.h"

namespace golf {
namespace {

namespace fs = std::filesystem;
using test::Result;

const std::string kCli = GOLFRT_CLI;
const std::string kScript = std::string(GOLFRT_SOURCE_DIR) + "/tests/data/tiny_train.lua";

// ---------------------------------------------------------------------------------------------
// Scratch space, one folder per process, kept when a test failed.

ScratchDir* const kScratch = add_scratch_dir("careless_commands_test");
const std::string& scratch() { return kScratch->path(); }

std::string test_dir() { return kScratch->test_dir(); }

std::string next_log() {
  static int count = 0;
  return scratch() + "/proc" + std::to_string(++count);
}

test::Child spawn(const std::vector<std::string>& args) { return test::spawn_program(kCli, args, next_log()); }

// Runs golfrt; a command that has not ended after `deadline_s` is killed and reported as such.
Result golfrt(const std::vector<std::string>& args, double deadline_s = 120) { return test::wait_for(spawn(args), deadline_s); }

std::string quoted(const std::vector<std::string>& args) {
  std::string s = "golfrt";
  for (const auto& a : args) s += " " + a;
  return s;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// ---------------------------------------------------------------------------------------------
// Data and a trained artifact, made once per process.

const std::string& data_dir() {
  static const std::string dir = [] {
    const std::string path = scratch() + "/text.txt";
    std::ofstream(path) << test::word_lines(test::plain_words(), 400, 7);
    const std::string d = scratch() + "/data";
    Result r = golfrt({"data", "prepare", "--text", path, "--out", d, "--bytes", "--quiet"});
    if (!r.ok()) throw std::runtime_error("golfrt data prepare failed: " + r.describe());
    return d;
  }();
  return dir;
}

const std::string& artifact() {
  static const std::string path = [] {
    const std::string run = scratch() + "/model";
    Result r = golfrt({"train", kScript, "--data", data_dir(), "--out", run, "--steps", "2", "--quiet"});
    if (!r.ok()) throw std::runtime_error("training the test artifact failed: " + r.describe());
    return run + "/artifact.bin";
  }();
  return path;
}

std::vector<std::string> train_args(const std::string& out, const std::vector<std::string>& extra) {
  std::vector<std::string> a = {"train", kScript, "--data", data_dir(), "--out", out, "--quiet"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

std::vector<Json> metrics_lines(const std::string& run) {
  std::vector<Json> lines;
  std::ifstream in(run + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(Json::parse(line, run + "/metrics.jsonl"));
  return lines;
}

// (step, loss as written) of each training line: equal text is equal bits (%.17g).
std::vector<std::pair<int64_t, std::string>> step_losses(const std::string& run) {
  std::vector<std::pair<int64_t, std::string>> out;
  for (const Json& j : metrics_lines(run))
    if (j.has("loss")) out.push_back({j["step"].integer(), j["loss"].dump()});
  return out;
}

// The largest step of a complete training line so far, while the run may still be writing.
int64_t last_logged_step(const std::string& run) {
  std::ifstream in(run + "/metrics.jsonl");
  std::string line;
  int64_t last = 0;
  while (std::getline(in, line)) {
    if (in.eof() || !contains(line, "\"loss\"")) continue;  // no newline yet: incomplete
    try {
      last = std::max(last, Json::parse(line).get("step", int64_t(0)));
    } catch (const std::exception&) {
    }
  }
  return last;
}

void expect_steps_1_to(const std::vector<std::pair<int64_t, std::string>>& lines, int64_t n, const std::string& what) {
  ASSERT_EQ(int64_t(lines.size()), n) << what;
  for (size_t i = 0; i < lines.size(); i++) ASSERT_EQ(lines[i].first, int64_t(i) + 1) << what << " line " << i;
}

// ---------------------------------------------------------------------------------------------
// Item 10: a run folder that holds a run is not replaced without a word.

TEST(RunFolder, a_finished_run_is_kept_unless_resume_or_overwrite_is_given) {
  const std::string dir = test_dir(), run = dir + "/run";
  ASSERT_TRUE(golfrt(train_args(run, {"--steps", "3"})).ok());
  const std::string ckpt = read_file(run + "/checkpoint.bin"), art = read_file(run + "/artifact.bin");

  auto again = train_args(run, {"--steps", "5"});
  Result r = golfrt(again);
  EXPECT_EQ(r.exit_code(), 1) << quoted(again) << " was not refused: " << r.describe();
  EXPECT_TRUE(contains(r.err, run) && contains(r.err, "--resume") && contains(r.err, "--overwrite"))
      << "the refusal must name the folder and both ways out: " << r.err;
  EXPECT_EQ(read_file(run + "/checkpoint.bin"), ckpt) << "the refused run changed the checkpoint";
  EXPECT_EQ(read_file(run + "/artifact.bin"), art) << "the refused run changed the artifact";

  Result both = golfrt(train_args(run, {"--resume", "--overwrite"}));
  EXPECT_EQ(both.exit_code(), 1) << both.describe();
  EXPECT_TRUE(contains(both.err, "exclude each other")) << both.err;

  // --overwrite replaces the run: its log is the new run's alone (the log appends, so the old
  // lines must have been removed).
  Result over = golfrt(train_args(run, {"--steps", "5", "--overwrite"}));
  ASSERT_TRUE(over.ok()) << over.describe();
  expect_steps_1_to(step_losses(run), 5, "the overwritten run's log");

  // --resume continues it.
  ASSERT_TRUE(golfrt(train_args(run, {"--steps", "7", "--resume"})).ok());
  expect_steps_1_to(step_losses(run), 7, "the resumed run's log");

  // A folder holding something else is not a run to replace either.
  const std::string other = dir + "/notes";
  fs::create_directories(other);
  std::ofstream(other + "/todo.txt") << "keep me\n";
  Result o = golfrt(train_args(other, {"--steps", "2"}));
  EXPECT_EQ(o.exit_code(), 1) << o.describe();
  EXPECT_TRUE(contains(o.err, "todo.txt")) << o.err;
}

// ---------------------------------------------------------------------------------------------
// Item 11: SIGINT / SIGTERM finish the step, save it, and say how to resume.

// Starts `args`, waits until the run has logged step `after`, sends `sig`, waits for the end.
Result interrupt_after_step(const test::Child& c, const std::string& run, int64_t after, int sig) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (last_logged_step(run) < after) {
    int status = 0;
    if (::waitpid(c.pid, &status, WNOHANG) == c.pid) {
      ADD_FAILURE() << "the run ended before step " << after << " (make it longer): exit status " << status;
      return Result{status, false, test::slurp(c.out_path), test::slurp(c.err_path)};
    }
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::kill(c.pid, sig);
  return test::wait_for(c, 60);
}

// Checks an interrupted run: the exit code, the messages, a checkpoint of the last logged step;
// returns the printed resume command.
std::string expect_stopped(const Result& r, const std::string& run, int sig, const std::vector<std::string>& resume_args) {
  const int code = sig == SIGINT ? 130 : 143;
  const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
  EXPECT_EQ(r.exit_code(), code) << r.describe();
  EXPECT_TRUE(contains(r.err, "stopping after this step")) << r.err;
  const int64_t last = last_logged_step(run);
  Checkpoint c = read_checkpoint(run + "/checkpoint.bin");
  EXPECT_EQ(c.meta.get("step", int64_t(-1)), last) << "the checkpoint is not of the last step the run logged";
  EXPECT_TRUE(contains(r.out, std::string("stopped by ") + name + " after step " + std::to_string(last))) << r.out;
  // The command printed is exactly the one that resumes: the same arguments, with --resume.
  std::string want = kCli;
  for (const std::string& a : resume_args) want += " " + a;
  const std::string marker = "resume with: ";
  const size_t at = r.out.find(marker);
  EXPECT_NE(at, std::string::npos) << r.out;
  if (at == std::string::npos) return "";
  const std::string printed = r.out.substr(at + marker.size(), r.out.find('\n', at) - at - marker.size());
  EXPECT_EQ(printed, want);
  return printed;
}

TEST(Interrupt, sigint_and_sigterm_save_the_step_and_the_printed_command_resumes_bit_exactly) {
  const std::string dir = test_dir(), full = dir + "/full", part = dir + "/part";
  const std::vector<std::string> opts = {"--steps", "150", "--seed", "9"};
  Result f = golfrt(train_args(full, opts));
  ASSERT_TRUE(f.ok()) << f.describe();
  const auto want = step_losses(full);
  expect_steps_1_to(want, 150, "the uninterrupted run");

  auto resume = train_args(part, opts);
  resume.push_back("--resume");
  // SIGINT a few steps in; then the printed command, run through the shell as the user would paste
  // it, stopped again by SIGTERM; then the printed command runs to the end.
  Result a = interrupt_after_step(spawn(train_args(part, opts)), part, 5, SIGINT);
  const std::string cmd = expect_stopped(a, part, SIGINT, resume);
  ASSERT_FALSE(cmd.empty());
  auto shell = [&](const std::string& line) { return test::spawn_program("/bin/sh", {"-c", "exec " + line}, next_log()); };
  Result b = interrupt_after_step(shell(cmd), part, 60, SIGTERM);
  const std::string cmd2 = expect_stopped(b, part, SIGTERM, resume);
  ASSERT_FALSE(cmd2.empty());
  ASSERT_TRUE(last_logged_step(part) < 150) << "the second interruption came too late to test anything";
  Result c = test::wait_for(shell(cmd2), 120);
  ASSERT_TRUE(c.ok()) << cmd2 << " failed: " << c.describe();

  const auto got = step_losses(part);
  expect_steps_1_to(got, 150, "the interrupted and resumed run");
  for (size_t i = 0; i < want.size() && i < got.size(); i++)
    ASSERT_EQ(want[i], got[i]) << "the resumed run differs from the uninterrupted one first at step " << want[i].first;
  EXPECT_EQ(metrics_lines(full).back().dump(), metrics_lines(part).back().dump()) << "the final evaluations differ";
  // The last checkpoints agree in everything but the wall clock: every tensor bit for bit.
  Checkpoint ca = read_checkpoint(full + "/checkpoint.bin"), cb = read_checkpoint(part + "/checkpoint.bin");
  for (const char* key : {"step", "tokens", "cursor", "lr_multipliers"})
    EXPECT_EQ(ca.meta[key].dump(), cb.meta[key].dump()) << "checkpoint meta '" << key << "'";
  ASSERT_EQ(ca.tensors.size(), cb.tensors.size());
  for (size_t i = 0; i < ca.tensors.size(); i++) {
    const Tensor &x = ca.tensors[i].second, &y = cb.tensors[i].second;
    EXPECT_EQ(ca.tensors[i].first, cb.tensors[i].first);
    EXPECT_TRUE(x.shape() == y.shape() && x.dtype() == y.dtype() && std::memcmp(x.raw(), y.raw(), x.nbytes()) == 0)
        << ca.tensors[i].first << " differs";
  }
}

// A second signal does not wait for the step: the default action, at once. The step here is made
// long (8,192 sequences) so that both signals land inside the first one; the first must have been
// caught (its message is on stderr) before the second is sent.
TEST(Interrupt, a_second_signal_stops_at_once) {
  const std::string dir = test_dir(), run = dir + "/run";
  test::Child c = spawn(train_args(run, {"--steps", "2", "--set", "train.batch_tokens=262144", "--no-artifact"}));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  // The banner is printed (and flushed) just before the handlers are installed.
  while (!contains(test::slurp(c.out_path), " -> ") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(c.pid, SIGINT);
  while (!contains(test::slurp(c.err_path), "stopping after this step") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(contains(test::slurp(c.err_path), "stopping after this step")) << "the first SIGINT was not caught";
  ASSERT_EQ(last_logged_step(run), 0) << "the first step ended before the second signal: make it longer";
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(c.pid, SIGINT);
  Result r = test::wait_for(c, 30);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGINT) << "not killed by the second SIGINT: " << r.describe();
  EXPECT_LT(waited, 5.0) << "the second signal did not stop the run at once";
  EXPECT_EQ(last_logged_step(run), 0);
}

// ---------------------------------------------------------------------------------------------
// Item 12: numbers on the command line.

struct Refusal {
  std::vector<std::string> args;
  std::vector<std::string> says;  // each must appear in stderr
};

// Each command must exit 1 (the CLI's error) within the deadline, naming the flag and the value;
// not die of a signal, hang, or run with a truncated value.
void expect_refusals(const std::vector<Refusal>& cases) {
  for (const Refusal& c : cases) {
    Result r = golfrt(c.args, 30);
    EXPECT_EQ(r.exit_code(), 1) << quoted(c.args) << ": " << r.describe();
    for (const std::string& s : c.says) EXPECT_TRUE(contains(r.err, s)) << quoted(c.args) << ": no '" << s << "' in: " << r.err;
  }
}

TEST(Numbers, decode_and_generate_flags_are_parsed_strictly) {
  const std::string a = artifact(), d = data_dir();
  auto dec = [&](std::vector<std::string> extra) {
    std::vector<std::string> v = {"decode", a, "--data", d};
    v.insert(v.end(), extra.begin(), extra.end());
    return v;
  };
  expect_refusals({
      {dec({"--seq", "0"}), {"--seq must be at least 1, got 0"}},  // was SIGFPE
      {dec({"--seq", "-3"}), {"--seq must be at least 1, got -3"}},
      {dec({"--seq", "99999999999999999999"}), {"--seq 99999999999999999999 is out of range"}},
      {dec({"--batch", "0"}), {"--batch must be at least 1, got 0"}},  // was an endless loop
      {dec({"--batch", "0.5"}), {"--batch needs a whole number", "'0.5'"}},
      {dec({"--max-tokens", "abc"}), {"--max-tokens needs a whole number", "'abc'"}},
      {dec({"--max-tokens", "1e99"}), {"--max-tokens needs a whole number", "'1e99'"}},
      {dec({"--max-tokens", "-5"}), {"--max-tokens must be at least 1, got -5"}},
      {dec({"--eval", "sliding", "--stride", "-64"}), {"--stride must be at least 1, got -64"}},
      {dec({"--eval", "last", "--chunk", "0"}), {"--chunk must be at least 1, got 0"}},
      {dec({"--generate", "the", "--tokens", "-1"}), {"--tokens must be at least 0, got -1"}},
      {dec({"--generate", "the", "--temperature", "nan"}), {"--temperature needs a finite number", "'nan'"}},
      {dec({"--generate", "the", "--temperature", "-1"}), {"--temperature must be at least 0, got -1"}},
      {dec({"--generate", "the", "--top-k", "-5"}), {"--top-k must be at least 0, got -5"}},
      {dec({"--generate", "the", "--seed", "-1"}), {"--seed must be at least 0, got -1"}},
      {dec({"--generate", "the", "--seq", "0"}), {"--seq must be at least 1, got 0"}},
      {{"inspect", a, "--threads", "-1"}, {"--threads must be from 0 to 4096, got -1"}},
  });
}

TEST(Numbers, train_flags_and_train_settings_are_parsed_strictly) {
  const std::string dir = test_dir(), run = dir + "/run";
  auto tr = [&](std::vector<std::string> extra) { return train_args(run, extra); };
  expect_refusals({
      {tr({"--steps", "1e99"}), {"--steps needs a whole number", "'1e99'"}},  // ran one step
      {tr({"--steps", "abc"}), {"--steps needs a whole number", "'abc'"}},     // said only "stoll"
      {tr({"--steps", "-5"}), {"--steps must be at least 0, got -5"}},
      {tr({"--steps", "nan"}), {"--steps needs a whole number", "'nan'"}},
      {tr({"--steps", "2.5"}), {"--steps needs a whole number", "'2.5'"}},
      {tr({"--time-budget", "nan"}), {"--time-budget needs a finite number", "'nan'"}},
      {tr({"--time-budget", "inf"}), {"--time-budget needs a finite number", "'inf'"}},
      {tr({"--time-budget", "-1"}), {"--time-budget must be at least 0, got -1"}},
      {tr({"--checkpoint-every", "-2"}), {"--checkpoint-every must be at least 0, got -2"}},
      {tr({"--seed", "1.5"}), {"--seed needs a whole number", "'1.5'"}},
      {tr({"--seed", "-1"}), {"--seed must be at least 0, got -1"}},
      {tr({"--set", "train.batch_tokens=-128"}), {"train.batch_tokens is -128; it must be at least 1"}},
      {tr({"--set", "train.checkpoint_every=-1"}), {"train.checkpoint_every is -1; it must be at least 0"}},
      {tr({"--set", "train.steps=-3"}), {"train.steps is -3; it must be at least 0"}},
      {tr({"--set", "train.steps=1e999"}), {"train.steps is inf; it must be a finite number"}},
      {tr({"--set", "train.eval_windows=-8"}), {"train.eval_windows is -8"}},
      {tr({"--set", "seq_len=32.5"}), {"config.seq_len is 32.5", "whole number"}},
      {{"summary", kScript, "--seq", "0"}, {"--seq must be at least 1, got 0"}},
      {{"summary", kScript, "--seq", "2.5"}, {"--seq needs a whole number", "'2.5'"}},
      {{"data", "prepare", "--text", "x.txt", "--out", dir + "/d", "--vocab", "4294967556"}, {"--vocab must be from 8 to 65536"}},
      {{"data", "prepare", "--text", "x.txt", "--out", dir + "/d", "--shard-tokens", "0"}, {"--shard-tokens must be from 1 to"}},
  });
  EXPECT_FALSE(fs::exists(run + "/metrics.jsonl")) << "a refused command trained";
}

// A fractional size from the command line was cut to a whole number without a word (mlp=2.3 built a
// 73-wide hidden layer from 32 × 2.3, vocab=260.5 a 260-row embedding); it is refused at the
// script line that uses it, and the error names the --set.
TEST(Numbers, a_fractional_dimension_from_set_is_refused_naming_the_key) {
  const std::string dir = test_dir();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"summary", kScript, "--set", "mlp=2.3"}, "--set mlp=2.3"},
      {{"summary", kScript, "--set", "vocab=260.5"}, "--set vocab=260.5"},
      {train_args(dir + "/run", {"--set", "mlp=2.3", "--steps", "2"}), "--set mlp=2.3"},
  };
  for (const auto& [args, names] : cases) {
    Result r = golfrt(args, 60);
    EXPECT_EQ(r.exit_code(), 1) << quoted(args) << ": " << r.describe();
    EXPECT_TRUE(contains(r.err, "not a whole number") || contains(r.err, "a whole number expected")) << r.err;
    EXPECT_TRUE(contains(r.err, names)) << "the error does not name the --set: " << r.err;
  }
  EXPECT_FALSE(fs::exists(dir + "/run/metrics.jsonl")) << "trained with a fractional size";
}

// ---------------------------------------------------------------------------------------------
// Item 13: the quant table is checked before the first step.

// tiny_train.lua with its quant table replaced by `quant` (a Lua table constructor).
std::string script_with_quant(const std::string& dir, const std::string& quant) {
  std::string text = read_file(kScript);
  const std::string line = "M.quant = { default = \"int8\", keep_float_below = 256 }";
  const size_t at = text.find(line);
  if (at == std::string::npos) throw std::runtime_error("tiny_train.lua's quant line changed: update this test");
  text.replace(at, line.size(), "M.quant = " + quant);
  const std::string path = dir + "/tiny_quant.lua";
  std::ofstream(path) << text;
  return path;
}

TEST(QuantSettings, bad_codec_encoding_and_rule_are_refused_before_the_first_step) {
  const std::string dir = test_dir();
  struct Case {
    std::string quant;
    std::vector<std::string> sets;
    std::vector<std::string> says;
  };
  const std::vector<Case> cases = {
      {"{ default = \"int8\", keep_float_below = 256, codec = \"auto\" }", {"quant.codec=lzma"}, {"quant.codec", "'lzma'"}},
      {"{ default = \"int8\", keep_float_below = 256 }", {"quant.default=int9"}, {"quant.default", "int9"}},
      {"{ default = \"int8\", keep_float_below = 256, rules = { { match = \"blocks[\", encoding = \"int6\" } } }", {},
       {"match 'blocks['", "malformed pattern"}},
      {"{ default = \"int8\", keep_float_below = 256, rules = { { match = \".*\", encoding = \"int12\" } } }", {},
       {"quant.rules[1].encoding", "int12"}},
      {"{ default = \"int8\", keep_float_below = 256, weights = \"ema\" }", {}, {"quant.weights = \"ema\"", "train.ema"}},
  };
  for (size_t i = 0; i < cases.size(); i++) {
    const Case& c = cases[i];
    const std::string sub = dir + "/case" + std::to_string(i), run = sub + "/run";
    fs::create_directories(sub);
    std::vector<std::string> args = {"train", script_with_quant(sub, c.quant), "--data", data_dir(), "--out", run, "--steps", "20", "--quiet"};
    for (const std::string& s : c.sets) args.insert(args.end(), {"--set", s});
    Result r = golfrt(args, 60);
    EXPECT_EQ(r.exit_code(), 1) << quoted(args) << ": " << r.describe();
    for (const std::string& s : c.says) EXPECT_TRUE(contains(r.err, s)) << quoted(args) << ": no '" << s << "' in: " << r.err;
    EXPECT_TRUE(step_losses(run).empty()) << quoted(args) << ": trained before refusing the quant table";
  }
}

}  // namespace
}  // namespace golf
