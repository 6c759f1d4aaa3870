// `golfrt decode --generate` on an artifact trained on CaseOps data (runtime/data/caseops.h; the
// artifact says so by its tokenizer fingerprint's "+caseops_v1"): the prompt is encoded, and the
// text printed is plain text, its case markers decoded; both with --data and with --tokenizer.
//
// Checked against the code before: every such run exited 1 ("cdata/tokenizer.model: changed since
// cdata was opened (fingerprint ..., expected ...+caseops_v1)", or with --tokenizer "the
// tokenizer ... is not the one the model was trained with (...+caseops_v1)"), and with that
// check passed it printed the markers (U+E001..E004) raw.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "runtime/data/caseops.h"
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

ScratchDir* const kScratch = add_scratch_dir("generate_caseops_test");
const std::string& scratch() { return kScratch->path(); }

Result golfrt(const std::vector<std::string>& args) {
  static int count = 0;
  return test::wait_for(test::spawn_program(kCli, args, scratch() + "/proc" + std::to_string(++count)), 60);
}

bool has_marker(const std::string& s) {
  for (const char* m : {kCaseOpsTitle, kCaseOpsAllCaps, kCaseOpsCapNext, kCaseOpsEsc})
    if (s.find(m) != std::string::npos) return true;
  return false;
}

// Lines of words in three cases from a fixed generator, prepared with --caseops (a small
// SentencePiece vocabulary), and the tiny model trained on them for 40 steps.
struct Trained {
  std::string data, artifact;
};
const Trained& trained() {
  static const Trained t = [] {
    const std::vector<std::string> words = {"The", "cat",  "sees", "a",     "small", "DOG",  "near", "the",   "River", "and",
                                            "runs", "to",  "an",   "old",   "House", "with", "NASA", "every", "day",   "McDonald"};
    std::ofstream(scratch() + "/text.txt") << test::word_lines(words, 600, 5);
    Trained r{scratch() + "/data", scratch() + "/run/artifact.bin"};
    Result p = golfrt({"data", "prepare", "--text", scratch() + "/text.txt", "--out", r.data, "--caseops", "--vocab", "200",
                       "--quiet"});
    if (!p.ok()) throw std::runtime_error("golfrt data prepare --caseops failed: " + p.describe());
    // The vocabulary SentencePiece ends up with is what the data's manifest says.
    const std::string manifest = r.data + "/manifest.json";
    const std::string vocab = std::to_string(Json::parse(read_file(manifest), manifest)["vocab"].integer(manifest));
    Result tr = golfrt({"train", kScript, "--data", r.data, "--out", scratch() + "/run", "--steps", "40", "--quiet", "--set",
                        "vocab=" + vocab});
    if (!tr.ok()) throw std::runtime_error("training on CaseOps data failed: " + tr.describe());
    return r;
  }();
  return t;
}

TEST(GenerateCaseOps, the_text_printed_is_plain_text_with_its_case_restored) {
  const Trained& t = trained();
  for (const std::vector<std::string>& from : {std::vector<std::string>{"--data", t.data},
                                               std::vector<std::string>{"--tokenizer", t.data + "/tokenizer.model"}}) {
    std::vector<std::string> args = {"decode", t.artifact, "--generate", "The NASA cat", "--tokens", "48", "--seed", "3"};
    args.insert(args.end(), from.begin(), from.end());
    const Result r = golfrt(args);
    ASSERT_TRUE(r.ok()) << from[0] << ": " << r.describe();
    EXPECT_EQ(r.out.rfind("The NASA cat", 0), 0u) << from[0] << ": the prompt does not come back as given: " << r.out;
    EXPECT_FALSE(has_marker(r.out)) << from[0] << ": a CaseOps marker printed raw: " << r.out;
    // The model writes capitals only through markers (the transform leaves none in its text), so
    // a capital after the prompt is a marker it wrote, decoded.
    const std::string after = r.out.substr(12);
    EXPECT_NE(after.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), std::string::npos)
        << from[0] << ": no capital in the continuation, so no marker was decoded: " << r.out;
  }
  // Plain data made with the same tokenizer is refused: the model reads CaseOps text only.
  const std::string plain = scratch() + "/plain";
  ASSERT_TRUE(golfrt({"data", "prepare", "--text", scratch() + "/text.txt", "--out", plain, "--tokenizer",
                      t.data + "/tokenizer.model", "--quiet"})
                  .ok());
  const Result r = golfrt({"decode", t.artifact, "--generate", "the", "--data", plain});
  EXPECT_EQ(r.exit_code(), 1) << r.describe();
  EXPECT_NE(r.err.find("is not the one the model was trained with ("), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("+caseops_v1)"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace golf
