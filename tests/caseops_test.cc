// CaseOps (runtime/data/caseops.h): the transform against hand-worked cases, its inverse on the
// whole default corpus, and `data prepare --caseops`'s byte sidecar: each val document's tokens
// are charged exactly that document's original UTF-8 bytes, and scoring reads them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include <unistd.h>

#include "runtime/data/caseops.h"
#include "runtime/data/dataset.h"
#include "runtime/data/prepare.h"
#include "runtime/fs.h"
#include "tests/support/errors.h"

namespace golf {
namespace {

const std::string T = kCaseOpsTitle, A = kCaseOpsAllCaps, C = kCaseOpsCapNext, E = kCaseOpsEsc;

TEST(CaseOps, words_get_the_records_markers) {
  EXPECT_EQ(caseops_encode("the cat"), "the cat");
  EXPECT_EQ(caseops_encode("The NASA Launch"), T + "the " + A + "nasa " + T + "launch");
  EXPECT_EQ(caseops_encode("A b I"), T + "a b " + T + "i");
  EXPECT_EQ(caseops_encode("McDonald iPhone aBC"), T + "mc" + C + "donald i" + C + "phone a" + C + "b" + C + "c");
  // Runs of ASCII letters only: a non-ASCII letter keeps its case and ends a run.
  EXPECT_EQ(caseops_encode("ÉCOLE Über x2Y"), "É" + A + "cole Über x2" + T + "y");
  EXPECT_EQ(caseops_encode("a" + T + "B"), "a" + E + T + T + "b");      // a marker in the text is escaped
  for (const std::string& s : std::vector<std::string>{"The NASA Launch", "McDonald iPhone aBC", "a" + T + "B" + E + E, ""})
    EXPECT_EQ(caseops_decode(caseops_encode(s), "t"), s);
}

TEST(CaseOps, the_inverse_refuses_what_no_encoding_makes) {
  auto why = [](const std::string& s) { return error_of([&] { caseops_decode(s, "doc 7"); }); };
  EXPECT_NE(why(T).find("doc 7: not CaseOps text at byte 3: a dangling case marker at the end"), std::string::npos);
  EXPECT_NE(why("ab" + T + "c").find("a word case marker inside a word"), std::string::npos);
  EXPECT_NE(why(T + " x").find("a case marker not followed by an ASCII letter"), std::string::npos);
  EXPECT_NE(why(E + "x").find("an escape marker not followed by a control character"), std::string::npos);
  EXPECT_NE(why("Abc").find("a capital letter"), std::string::npos);
}

// decode --generate's inverse: a model's text need not be CaseOps text. Where it is, the lenient
// inverse is the strict one; elsewhere each place the strict one refuses is counted, its marker
// dropped (it applies to no letter) and a capital kept.
TEST(CaseOps, the_lenient_inverse_repairs_what_a_model_may_write) {
  int64_t n = -1;
  for (const std::string& s : std::vector<std::string>{"The NASA Launch", "McDonald iPhone aBC", "a" + T + "B" + E + E, ""}) {
    EXPECT_EQ(caseops_decode_lenient(caseops_encode(s), n), s);
    EXPECT_EQ(n, 0) << s;
  }
  struct Case {
    std::string in, out;
    int64_t repaired;
  };
  for (const Case& c : std::vector<Case>{
           {T, "", 1},                         // dangling at the end
           {"ab" + T + "c", "abc", 1},         // a word marker inside a word
           {T + " x", " x", 1},                // followed by no letter
           {T + T + "ab", "Ab", 1},            // the first applies to nothing
           {A + C + "ab", "Ab", 1},            // the all-caps marker applies to nothing
           {C + E + T + "x", T + "x", 1},      // an escape where a letter should follow
           {E + "x", "x", 1},                  // an escape of nothing
           {"Abc " + A + "de", "Abc DE", 1},   // a capital kept
           {T + "a" + T + " " + A, "A ", 2}}) {
    EXPECT_EQ(caseops_decode_lenient(c.in, n), c.out) << c.in;
    EXPECT_EQ(n, c.repaired) << c.in;
    EXPECT_FALSE(error_of([&] { caseops_decode(c.in, "t"); }).empty()) << c.in << ": the strict inverse takes it";
  }
}

TEST(CaseOps, token_bytes_charge_the_original_text) {
  // "The " + escaped TITLE + "x": pieces [TITLE]["the "][ESC][TITLE]["x"].
  std::string t = T + "the " + E + T + "x";
  std::vector<uint16_t> b = caseops_token_bytes(t, {0, 3, 7, 10, 13});
  EXPECT_EQ(b, (std::vector<uint16_t>{0, 4, 0, 3, 1}));
  EXPECT_EQ(caseops_original_bytes(t), 8u);
  EXPECT_EQ(caseops_original_bytes(t), caseops_decode(t, "t").size());
}

std::string default_corpus() { return std::string(GOLFRT_SOURCE_DIR) + "/data/corpus/nlp-corpus.txt"; }

// CI's test command does not fetch the corpus (the README's first command does), so these skip
// there; scripts/acceptance/caseops.sh fetches it and sets GOLFRT_REQUIRE_CORPUS=1, which turns
// a missing corpus into a failure.
bool have_corpus() {
  if (file_exists(default_corpus())) return true;
  const char* req = std::getenv("GOLFRT_REQUIRE_CORPUS");
  if (req && std::string(req) == "1") ADD_FAILURE() << "the default corpus is missing (scripts/fetch_corpus.sh)";
  return false;
}

// The acceptance: text → transform → inverse == text on the whole default corpus, as one
// text and document by document (as prepare applies it).
TEST(CaseOps, round_trip_holds_on_the_whole_default_corpus) {
  if (!have_corpus()) GTEST_SKIP() << "no default corpus (scripts/fetch_corpus.sh)";
  const std::string text = read_file(default_corpus());
  const std::string enc = caseops_encode(text);
  EXPECT_NE(enc, text) << "the corpus has capitals, so the transform changes it";
  EXPECT_EQ(caseops_decode(enc, "nlp-corpus.txt"), text);
  int64_t repaired = -1;
  EXPECT_EQ(caseops_decode_lenient(enc, repaired), text);
  EXPECT_EQ(repaired, 0);
  EXPECT_EQ(caseops_original_bytes(enc), text.size());
  int64_t docs = 0, changed = 0;
  for (const std::string& d : split_documents(text, DocMode::lines, "nlp-corpus.txt")) {
    const std::string e = caseops_encode(d);
    ASSERT_EQ(caseops_decode(e, "doc " + std::to_string(docs)), d);
    docs++, changed += e != d;
  }
  EXPECT_EQ(docs, 100000);
  EXPECT_GT(changed, docs / 2);
}

// prepare --caseops on the first 3,000 documents of the corpus: every val document's tokens are
// charged exactly its original UTF-8 length (the per-document sums, split at BOS, are lengths of
// distinct source documents), the total is what count_target_bytes — the evaluator's rule —
// charges the whole stream, and the data's fingerprint names the transform.
TEST(CaseOps, the_sidecar_charges_each_val_document_its_original_bytes) {
  if (!have_corpus()) GTEST_SKIP() << "no default corpus (scripts/fetch_corpus.sh)";
  std::vector<std::string> docs = split_documents(read_file(default_corpus()), DocMode::lines, "nlp-corpus.txt");
  docs.resize(3000);
  const std::string dir = ::testing::TempDir() + "caseops_" + std::to_string(::getpid());
  std::string text;
  for (const std::string& d : docs) text += d + "\n";
  write_file_atomic(dir + ".txt", text);
  PrepareOptions o;
  o.texts = {dir + ".txt"};
  o.out = dir;
  o.vocab = 320;
  o.val_docs = 300;
  o.caseops = true;
  PrepareSummary s = prepare_data(o);
  DataDir d = open_data_dir(dir);
  ASSERT_TRUE(d.table.token_bytes);
  EXPECT_EQ(d.text_transform, "caseops_v1");
  EXPECT_EQ(d.fingerprint, s.fingerprint + "+caseops_v1");
  const std::vector<uint16_t> val = load_all(d.val, d.vocab);
  const std::vector<uint16_t>& bytes = *d.table.token_bytes;
  ASSERT_EQ(bytes.size(), val.size());

  std::multiset<uint64_t> lengths;
  for (const std::string& doc : docs) lengths.insert(doc.size());
  std::vector<uint64_t> per_doc;
  for (size_t i = 0; i < val.size(); i++) {
    if (val[i] == 1) {
      EXPECT_EQ(bytes[i], 0) << "BOS at " << i;
      per_doc.push_back(0);
    } else {
      ASSERT_FALSE(per_doc.empty()) << "the stream starts with BOS";
      per_doc.back() += bytes[i];
    }
  }
  ASSERT_EQ(per_doc.size(), 300u);
  uint64_t total = 0;
  for (uint64_t n : per_doc) {
    auto it = lengths.find(n);
    ASSERT_NE(it, lengths.end()) << "a val document's tokens are charged " << n << " bytes, the length of no source document";
    lengths.erase(it);
    total += n;
  }
  EXPECT_EQ(total, s.val.original_bytes);
  EXPECT_EQ(count_target_bytes(d.table, val.data(), int64_t(val.size())), double(total));
  EXPECT_EQ(s.val.target_bytes, double(total));
  // A stream that is not the val stream (longer than its sidecar) is refused, not mis-scored.
  std::vector<uint16_t> longer = val;
  longer.push_back(5);
  EXPECT_NE(error_of([&] { count_target_bytes(d.table, longer.data(), int64_t(longer.size())); })
                .find("the token byte sidecar covers"),
            std::string::npos);
  std::filesystem::remove_all(dir);
  std::filesystem::remove(dir + ".txt");
}

TEST(CaseOps, sidecar_files_are_checked) {
  const std::string path = ::testing::TempDir() + "tokb_" + std::to_string(::getpid());
  write_token_bytes(path, {0, 3, 4});
  EXPECT_EQ(read_token_bytes(path), (std::vector<uint16_t>{0, 3, 4}));
  std::string s = read_file(path);
  write_file_atomic(path, s.substr(0, s.size() - 1));
  EXPECT_NE(error_of([&] { read_token_bytes(path); }).find("declares 3 entries in 5 bytes"), std::string::npos);
  s[8] = 2;
  write_file_atomic(path, s);
  EXPECT_NE(error_of([&] { read_token_bytes(path); }).find("sidecar version 2"), std::string::npos);
  write_file_atomic(path, "GOLFTOKX" + s.substr(8));
  EXPECT_NE(error_of([&] { read_token_bytes(path); }).find("not a golfrt token byte sidecar"), std::string::npos);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace golf
