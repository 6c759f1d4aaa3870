// `golfrt decode --ttt sgd|lora` as a user runs it (docs/decoding.md, "Test-time training"): golfrt
// in a child process on a tiny trained artifact (tests/data/tiny_train.lua, 2 steps, byte-level
// data). Each scheme exits 0 and prints a val_bpb that training moved away from decode's without
// TTT, the same bpb on a second run; bad settings are refused with exit 1 and a message naming the
// flag or the script's key.
//
// Checked against the code before check_ttt_flags (cli/decode_ttt.cc): `--ttt sgd --generate`
// exited 0 having generated text with no word about --ttt, `--ttt sgd --device cuda` named only
// the build ("built without CUDA"), not --ttt, and `--ttt sgd --eval last` was refused only after
// the model was loaded and its causality checked.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "runtime/fs.h"
#include "runtime/json.h"
#include "tests/support/run_command.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/word_text.h"

namespace golf {
namespace {

using test::Result;

const std::string kCli = GOLFRT_CLI;
const std::string kScript = std::string(GOLFRT_SOURCE_DIR) + "/tests/data/tiny_train.lua";

ScratchDir* const kScratch = add_scratch_dir("decode_ttt_cli_test");
const std::string& scratch() { return kScratch->path(); }

std::string quoted(const std::vector<std::string>& args) {
  std::string s = "golfrt";
  for (const auto& a : args) s += " " + a;
  return s;
}

Result golfrt(const std::vector<std::string>& args) {
  static int count = 0;
  return test::wait_for(test::spawn_program(kCli, args, scratch() + "/proc" + std::to_string(++count)), 60);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Varied English-like lines from a fixed generator, prepared as byte-level data once per process.
const std::string& data_dir() {
  static const std::string dir = [] {
    std::ofstream(scratch() + "/text.txt") << test::word_lines(test::plain_words(), 400, 7);
    const std::string d = scratch() + "/data";
    Result r = golfrt({"data", "prepare", "--text", scratch() + "/text.txt", "--out", d, "--bytes", "--quiet"});
    if (!r.ok()) throw std::runtime_error("golfrt data prepare failed: " + r.describe());
    return d;
  }();
  return dir;
}

// Trains `script` for 2 steps into scratch()/name; returns its artifact.
std::string train(const std::string& script, const std::string& name) {
  const std::string run = scratch() + "/" + name;
  Result r = golfrt({"train", script, "--data", data_dir(), "--out", run, "--steps", "2", "--quiet"});
  if (!r.ok()) throw std::runtime_error("training " + script + " failed: " + r.describe());
  return run + "/artifact.bin";
}

const std::string& artifact() {
  static const std::string path = train(kScript, "model");
  return path;
}

std::vector<std::string> decode(const std::string& art, const std::vector<std::string>& extra) {
  std::vector<std::string> v = {"decode", art, "--data", data_dir()};
  v.insert(v.end(), extra.begin(), extra.end());
  return v;
}

// The val_bpb decode printed (as text: equal text is an equal score to the printed digits).
std::string bpb_of(const Result& r, const std::string& what) {
  std::smatch m;
  if (!std::regex_search(r.out, m, std::regex("val_bpb ([0-9.]+)"))) {
    ADD_FAILURE() << what << " printed no val_bpb: " << r.describe();
    return "";
  }
  return m[1];
}

TEST(DecodeTttCli, each_scheme_prints_a_bpb_training_moved_and_the_same_one_twice) {
  const std::string plain = bpb_of(golfrt(decode(artifact(), {})), "decode without TTT");
  // sgd in chunks of 64 tokens, so that it trains (the default chunk is longer than the stream:
  // one chunk, scored and never trained on).
  for (const std::vector<std::string>& flags : {std::vector<std::string>{"--ttt", "sgd", "--ttt-chunk", "64", "--ttt-epochs", "1"},
                                                std::vector<std::string>{"--ttt", "lora", "--ttt-rank", "2"}}) {
    const std::string jsonl = scratch() + "/" + flags[1] + ".jsonl";
    std::vector<std::string> args = decode(artifact(), flags);
    args.insert(args.end(), {"--ttt-jsonl", jsonl});
    const Result first = golfrt(args);
    ASSERT_TRUE(first.ok()) << quoted(args) << ": " << first.describe();
    EXPECT_TRUE(contains(first.out, "ttt " + flags[1])) << first.out;
    const std::string bpb = bpb_of(first, quoted(args));
    EXPECT_NE(bpb, plain) << quoted(args) << ": the same bpb as decode without TTT, so nothing was trained";
    // One JSONL line per chunk (sgd) or step (lora), the last having scored every target.
    std::ifstream in(jsonl);
    std::vector<Json> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(Json::parse(line, jsonl));
    ASSERT_GE(lines.size(), 2u) << jsonl;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(first.out, m, std::regex("\\(([0-9]+) targets")));
    EXPECT_EQ(lines.back()["scored"].integer(), std::stoll(m[1])) << jsonl;

    const Result second = golfrt(args);
    ASSERT_TRUE(second.ok()) << second.describe();
    EXPECT_EQ(bpb_of(second, quoted(args) + " (again)"), bpb) << quoted(args);
  }
}

struct Refusal {
  std::vector<std::string> args;
  std::vector<std::string> says;  // each must appear in stderr
};

void expect_refusals(const std::vector<Refusal>& cases) {
  for (const Refusal& c : cases) {
    Result r = golfrt(c.args);
    EXPECT_EQ(r.exit_code(), 1) << quoted(c.args) << ": " << r.describe();
    EXPECT_TRUE(r.out.empty() || !contains(r.out, "val_bpb")) << quoted(c.args) << " scored: " << r.out;
    for (const std::string& s : c.says) EXPECT_TRUE(contains(r.err, s)) << quoted(c.args) << ": no '" << s << "' in: " << r.err;
  }
}

TEST(DecodeTttCli, bad_settings_are_refused_naming_the_flag_or_key) {
  const std::string a = artifact();
  expect_refusals({
      {decode(a, {"--ttt", "nope"}), {"--ttt", "'nope'"}},
      {decode(a, {"--ttt", "sgd", "--ttt-nope", "3"}), {"unknown option --ttt-nope"}},
      {decode(a, {"--ttt-lr", "0.1"}), {"--ttt-lr", "only --ttt sgd|lora turns on"}},
      {decode(a, {"--ttt", "sgd", "--ttt-epochs", "5000"}), {"--ttt-epochs"}},
      {decode(a, {"--ttt", "lora", "--ttt-targets", "q,nose"}), {"--ttt-targets", "'nose'"}},
      {decode(a, {"--ttt", "sgd", "--device", "cuda"}), {"--ttt", "--device cuda"}},
      {decode(a, {"--ttt", "sgd", "--eval", "last"}), {"--ttt", "--eval", "'last'"}},
      {decode(a, {"--ttt", "lora", "--generate", "the"}), {"--ttt", "--generate"}},
  });
  // The script's ttt table (decode's defaults for the artifact) with a key nothing reads.
  const std::string script = scratch() + "/unknown_ttt_key.lua";
  std::string text = read_file(kScript);
  const size_t at = text.rfind("return M");
  ASSERT_NE(at, std::string::npos);
  text.insert(at, "M.ttt = { lr = 0.1, lora = { rank = 2, chunks = 4 } }\n");
  std::ofstream(script) << text;
  const std::string bad = train(script, "unknown_ttt_key");
  expect_refusals({
      {decode(bad, {"--ttt", "lora"}), {"ttt.lora table has an unknown key 'chunks'"}},
      {decode(bad, {"--ttt", "sgd"}), {"ttt.lora table has an unknown key 'chunks'"}},
  });
}

}  // namespace
}  // namespace golf
