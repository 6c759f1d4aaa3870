// Hashed n-gram bucket ids (the ngram_hash op, kernels/cpu/hashing.cc) against golden vectors
// computed independently in plain Python integers (scripts/reference/hash_golden.py, committed as
// tests/data/hash_golden.json): bigram and trigram, K = 2048 and 8192, three prime sets (one whose
// products overflow 32 bits), and XXH3-64 with two seeds.
#include <gtest/gtest.h>

#include "runtime/executor.h"
#include "runtime/fs.h"
#include "runtime/json.h"

namespace golf {
namespace {

TEST(Hashing, ngram_hash_matches_the_golden_vectors) {
  const std::string path = std::string(GOLFRT_SOURCE_DIR) + "/tests/data/hash_golden.json";
  Json golden = Json::parse(read_file(path), path);
  ASSERT_TRUE(golden.get("xxh3_available", false)) << "the golden file was made without python3-xxhash";
  const Json& seqs = golden["sequences"];
  int checked = 0, xxh3 = 0, trigram = 0;
  for (const Json& c : golden["cases"].items()) {
    const Json& seq = seqs[size_t(c["sequence"].integer())];
    const int64_t T = int64_t(seq.size());
    NgramHash h;
    h.n = int(c["n"].integer());
    h.buckets = c["buckets"].integer();
    const std::string kind = c["kind"].str();
    if (kind == "xxh3") {
      h.kind = NgramKind::xxh3;
      h.seed = uint64_t(c["seed"].integer());
      xxh3++;
    } else {
      ASSERT_EQ(kind, "multiply_xor");
      h.p0 = uint32_t(c["primes"][0].integer());
      h.p1 = uint32_t(c["primes"][1].integer());
      h.p2 = uint32_t(c["primes"][2].integer());
    }
    trigram += h.n == 3;
    Graph g;
    Var tokens = input(g, "tokens", {1, T}, true);
    Executor ex(g, {ngram_hash(tokens, h)});
    Tensor x({1, T}, DType::i32);
    for (int64_t i = 0; i < T; i++) x.set(i, double(seq[size_t(i)].integer()));
    ex.bind("tokens", x);
    ex.run();
    for (int64_t i = 0; i < T; i++)
      ASSERT_EQ(int64_t(ex.result(0).get(i)), c["ids"][size_t(i)].integer())
          << kind << " n=" << h.n << " K=" << h.buckets << " sequence " << c["sequence"].integer() << " position " << i;
    checked++;
  }
  EXPECT_EQ(checked, 120);
  EXPECT_GT(xxh3, 0);
  EXPECT_GT(trigram, 0);
}

}  // namespace
}  // namespace golf
