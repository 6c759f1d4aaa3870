// Hashed n-gram bucket ids (hashing/ngram.h, and the ngram_hash op that runs them over a batch)
// against golden vectors computed independently in plain Python integers
// (scripts/reference/hash_golden.py, committed as hashing/tests/ngram_hash_golden.json): bigram
// and trigram, K = 2048 and 8192, three prime sets (one whose products overflow 32 bits), and
// XXH3-64 with two seeds.
#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "hashing/ngram.h"
#include "kernels/cpu/cpu_kernels.h"
#include "runtime/executor.h"
#include "runtime/fs.h"
#include "runtime/json.h"
#include "tests/support/errors.h"
#ifdef GOLFRT_WITH_CUDA
#include "kernels/cuda/cuda_kernels.h"
#endif

namespace golf {
namespace {

void expect_error(const std::function<void()>& f, const std::string& part) {
  const std::string m = error_of(f);
  EXPECT_NE(m.find(part), std::string::npos) << "wanted \"" << part << "\" in: " << m;
}

TEST(Hashing, ngram_hash_matches_the_golden_vectors) {
  const std::string path = std::string(GOLFRT_SOURCE_DIR) + "/hashing/tests/ngram_hash_golden.json";
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

// The one-n-gram functions themselves, against the golden 64-bit XXH3 values (both the library
// path the CPU kernel takes and the transcription the CUDA kernel takes) and the multiply-xor ids.
TEST(Hashing, ngram_functions_match_the_golden_hashes) {
  const std::string path = std::string(GOLFRT_SOURCE_DIR) + "/hashing/tests/ngram_hash_golden.json";
  Json golden = Json::parse(read_file(path), path);
  int checked = 0;
  for (const Json& c : golden["cases"].items()) {
    std::vector<int32_t> seq;
    for (const Json& x : golden["sequences"][size_t(c["sequence"].integer())].items()) seq.push_back(int32_t(x.integer()));
    const int n = int(c["n"].integer());
    const int64_t buckets = c["buckets"].integer();
    for (int64_t t = 1; t < int64_t(seq.size()); t++) {
      const int k = t + 1 < n ? int(t + 1) : n;
      if (c["kind"].str() == "xxh3") {
        const uint64_t seed = uint64_t(c["seed"].integer());
        const uint64_t want = std::strtoull(c["hash64"][size_t(t)].str().c_str(), nullptr, 16);
        ASSERT_EQ(hashing::xxh3_ngram(k, seed, seq.data(), t), want) << "k=" << k << " seed " << seed << " position " << t;
        ASSERT_EQ(hashing::xxh3_small_ngram(k, seed, seq.data(), t), want) << "k=" << k << " seed " << seed << " position " << t;
        ASSERT_EQ(hashing::bucket(want, buckets), c["ids"][size_t(t)].integer());
      } else {
        const uint32_t h = hashing::multiply_xor(k, uint32_t(c["primes"][0].integer()), uint32_t(c["primes"][1].integer()),
                                                 uint32_t(c["primes"][2].integer()), seq.data(), t);
        ASSERT_EQ(hashing::bucket(h, buckets), c["ids"][size_t(t)].integer()) << "k=" << k << " position " << t;
      }
      checked++;
    }
  }
  EXPECT_EQ(checked, 660);  // every position after the first of the 120 cases
}

// The kernels refuse bad arguments naming the value (before this change the messages named none:
// "ngram_hash: n must be 2 or 3", so these expectations failed on it).
TEST(Hashing, bad_arguments_are_refused_naming_the_value) {
  const uint32_t primes[3] = {36313, 27191, 51647};
  const int32_t tokens[4] = {1, 2, 3, 4};
  int32_t out[4];
  expect_error([&] { cpu::ngram_hash(1, 4, 4, 2048, 0, primes, 0, tokens, out); }, "ngram_hash: n must be 2 or 3, got 4");
  expect_error([&] { cpu::ngram_hash(1, 4, 2, 1, 0, primes, 0, tokens, out); }, "ngram_hash: needs at least 2 buckets, got 1");
  expect_error([&] { cpu::ngram_hash_at(1, 5, 2048, 1, primes, 0, 3, tokens, out); }, "ngram_hash_at: n must be 2 or 3, got 5");
  expect_error([&] { cpu::ngram_hash_at(1, 2, 2048, 1, primes, 0, -3, tokens, out); }, "ngram_hash_at: negative position -3");
#ifdef GOLFRT_WITH_CUDA
  // The CUDA twins check on the host before any launch: no device needed.
  expect_error([&] { cuda::ngram_hash(1, 4, 1, 2048, 0, primes, 0, tokens, out); }, "ngram_hash: n must be 2 or 3, got 1");
  expect_error([&] { cuda::ngram_hash_at(1, 3, 0, 0, primes, 0, nullptr, tokens, out); }, "ngram_hash_at: needs at least 2 buckets, got 0");
#endif
}

}  // namespace
}  // namespace golf
