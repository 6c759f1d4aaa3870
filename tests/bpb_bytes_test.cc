// The val_bpb denominator with the challenge's real tokenizer: golfrt's byte table must give the
// same total as (1) the challenge's table-building code re-written independently in Python
// (scripts/reference/count_bytes.py) and (2) the text itself: the UTF-8 length of the normalized
// documents, less what <unk> pieces cover, less each "▁" that follows BOS or <unk>.
#include <gtest/gtest.h>

#include <fstream>
#include <sentencepiece_processor.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/data/byte_table.h"
#include "runtime/data/tokenizer.h"
#include "runtime/fs.h"
#include "runtime/json.h"

namespace golf {
namespace {

const std::string kSpace = "\xE2\x96\x81";

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

// The challenge's real tokenizer: a copy is kept in tests/data/ so that CI (a fresh machine
// without ../shared) runs these tests; ../shared is the original.
std::string model_path() {
  std::string local = std::string(GOLFRT_SOURCE_DIR) + "/tests/data/fineweb_1024_bpe.model";
  std::ifstream in(local);
  return in ? local : std::string(GOLFRT_SOURCE_DIR) + "/../shared/data/tokenizers/fineweb_1024_bpe.model";
}

// Spaces, digits, punctuation, accents the tokenizer lacks (é, ü), CJK and emoji (so <unk>
// appears, also first in a document and before a space), NFKC work (full-width, ligatures, ①,
// combining accents, NBSP, ideographic space) and extra whitespace the normalizer removes.
const std::vector<std::string> kDocs = {
    "café au lait",
    "Hello, world! 12345 apples cost $3.50 (approx.) -- 100% of them, #1 @home.",
    "Über naïve façade: “quotes”, ‘single’, «guillemets» — and … ellipsis",
    "中文 字符 and emoji 😀🎉 mixed with text",
    "😀 starts with an emoji",
    "中文",
    "  leading spaces and   multiple   gaps  ",
    "tab\tseparated\tvalues and a\u00a0no-break space and an\u3000ideographic one",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ ①② ﬁne ﬂow ½ ™",
    "e\u0301 combining accent, ÀÉÎ õ ñ ß",
    "2024-05-20: pi is 3.14159, e is 2.71828; x^2 + y^2 = z^2",
    "The quick brown fox jumps over the lazy dog.",
    "a",
    "1",
};

class BpbBytes : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!file_exists(model_path())) {
      if (in_ci()) FAIL() << "the challenge tokenizer is missing: " << model_path();
      GTEST_SKIP() << "the challenge tokenizer is not at " << model_path() << " (a checkout without ../shared)";
    }
    tok_ = std::make_unique<Tokenizer>(Tokenizer::sentencepiece_file(model_path()));
  }

  std::vector<uint16_t> stream() const {
    std::vector<uint16_t> s;
    for (const auto& d : kDocs) {
      s.push_back(uint16_t(Tokenizer::kBos));
      for (int id : tok_->encode(d)) s.push_back(uint16_t(id));
    }
    return s;
  }

  std::unique_ptr<Tokenizer> tok_;
};

TEST_F(BpbBytes, TableMatchesTheChallengeTokenizer) {
  const ByteTable& t = tok_->byte_table();
  ASSERT_EQ(t.vocab, 1024);
  for (int id = 0; id < 4; id++) {
    EXPECT_TRUE(t.is_boundary[id]) << id;
    EXPECT_EQ(t.base_bytes[id], 0) << id;
  }
  int space = tok_->processor().PieceToId(kSpace);
  EXPECT_EQ(space, 940);  // PARAMETER_GOLF.md: "▁" is a piece of its own
  EXPECT_EQ(t.base_bytes[space], 0);
  EXPECT_TRUE(t.has_leading_space[space]);
  EXPECT_EQ(byte_table_from_sentencepiece(model_path()), t);
  EXPECT_EQ(byte_table_from_json(Json::parse(byte_table_to_json(t).dump()), "round trip"), t);
}

TEST_F(BpbBytes, CafeAuLaitCountsTenBytes) {
  std::vector<int> ids = tok_->encode("café au lait");
  std::vector<std::string> pieces;
  for (int id : ids) pieces.push_back(tok_->processor().IdToPiece(id));
  std::vector<std::string> want = {"c", "a", "f", "<unk>", kSpace + "a", "u", kSpace + "l", "a", "it"};
  EXPECT_EQ(pieces, want);
  std::vector<uint16_t> s = {uint16_t(Tokenizer::kBos)};
  for (int id : ids) s.push_back(uint16_t(id));
  EXPECT_EQ(count_target_bytes(tok_->byte_table(), s.data(), int64_t(s.size())), 10.0);
}

// The third number from the tokenizer's own spans: each piece is the normalized text it covers
// (for <unk> too), so their concatenation is the normalized document.
struct SpanCount {
  std::string normalized;
  int64_t unk_bytes = 0, boundary_spaces = 0;
};

SpanCount span_count(const Tokenizer& tok, const std::string& doc) {
  const auto& sp = tok.processor();
  SpanCount c;
  auto proto = sp.EncodeAsImmutableProto(doc);
  int prev = Tokenizer::kBos;
  for (const auto& p : proto.pieces()) {
    std::string piece = p.piece();
    int id = int(p.id());
    bool unk = sp.IsUnknown(id);
    if (unk) c.unk_bytes += int64_t(piece.size());
    else if (piece.compare(0, kSpace.size(), kSpace) == 0 && (sp.IsControl(prev) || sp.IsUnknown(prev))) c.boundary_spaces++;
    for (size_t i = 0; i < piece.size();) {
      bool mark = !unk && piece.compare(i, kSpace.size(), kSpace) == 0;
      c.normalized += mark ? ' ' : piece[i];
      i += mark ? kSpace.size() : 1;
    }
    prev = id;
  }
  return c;
}

TEST_F(BpbBytes, EqualsNormalizedTextLessUnkAndBoundarySpaces) {
  auto s = stream();
  double golfrt = count_target_bytes(tok_->byte_table(), s.data(), int64_t(s.size()));
  int64_t third = 0, unk_docs = 0;
  for (const auto& d : kDocs) {
    SpanCount c = span_count(*tok_, d);
    third += int64_t(c.normalized.size()) - c.unk_bytes - c.boundary_spaces;
    unk_docs += c.unk_bytes > 0;
  }
  EXPECT_GE(unk_docs, 5) << "the samples are meant to exercise <unk>";
  EXPECT_EQ(golfrt, double(third));
  EXPECT_LT(golfrt, 0.95 * [] {
    size_t raw = 0;
    for (const auto& d : kDocs) raw += d.size();
    return double(raw);
  }()) << "the byte total is not the raw text size";
}

TEST_F(BpbBytes, MatchesTheIndependentPythonCount) {
  if (!file_exists("/usr/bin/python3")) {
    if (in_ci()) FAIL() << "/usr/bin/python3 is missing";
    GTEST_SKIP() << "/usr/bin/python3 is missing";
  }
  Json docs = Json::array();
  for (const auto& d : kDocs) docs.push(Json(d));
  std::string docs_path = ::testing::TempDir() + "bpb_bytes_docs_" + std::to_string(::getpid()) + ".json";
  write_file_atomic(docs_path, docs.dump());
  std::string cmd = std::string("/usr/bin/python3 ") + GOLFRT_SOURCE_DIR + "/scripts/reference/count_bytes.py --model " +
                    model_path() + " --docs " + docs_path;
  std::FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr) << cmd;
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int status = ::pclose(p);
  std::remove(docs_path.c_str());
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
    if (in_ci()) FAIL() << "python3-sentencepiece is missing";
    GTEST_SKIP() << "python3-sentencepiece is not installed";
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;
  Json ref = Json::parse(out, "count_bytes.py output");

  auto s = stream();
  double golfrt = count_target_bytes(tok_->byte_table(), s.data(), int64_t(s.size()));
  EXPECT_EQ(ref["tokens"].integer(), int64_t(s.size()));
  EXPECT_EQ(double(ref["formula_bytes"].integer()), golfrt);
  EXPECT_EQ(double(ref["spans_bytes"].integer()), golfrt);
  ASSERT_EQ(ref["docs"].size(), kDocs.size());
  for (size_t i = 0; i < kDocs.size(); i++) {
    const Json& r = ref["docs"][i];
    std::vector<int> ids = tok_->encode(kDocs[i]);
    ASSERT_EQ(r["ids"].size(), ids.size()) << kDocs[i];
    for (size_t k = 0; k < ids.size(); k++) EXPECT_EQ(r["ids"][k].integer(), ids[k]) << kDocs[i] << " piece " << k;
    // Python's NFKC + whitespace collapse is the normalized text the spans add up to.
    SpanCount c = span_count(*tok_, kDocs[i]);
    EXPECT_EQ(r["normalized"].str(), c.normalized) << kDocs[i];
    EXPECT_EQ(r["unk_bytes"].integer(), c.unk_bytes) << kDocs[i];
    EXPECT_EQ(r["boundary_spaces"].integer(), c.boundary_spaces) << kDocs[i];
  }
}

}  // namespace
}  // namespace golf
