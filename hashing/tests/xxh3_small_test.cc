// The CUDA ngram_hash's XXH3 (hashing/xxh3_small.h, host and device share the code) against
// the xxHash library on the host: bigrams and trigrams of random and edge-case ids, several seeds.
// Runs everywhere; no device needed.
#include <gtest/gtest.h>
#include <xxhash.h>

#include "hashing/xxh3_small.h"
#include "runtime/rng.h"

namespace golf {
namespace {

TEST(Xxh3Small, matches_the_library_for_bigrams_and_trigrams) {
  Rng rng(1);
  const uint64_t seeds[] = {0, 1, 0x9E3779B97F4A7C15ULL, 0xFFFFFFFFFFFFFFFFULL, 12345};
  const uint32_t edges[] = {0, 1, 1023, 0x7fffffffu, 0x80000000u, 0xffffffffu};
  int checked = 0;
  for (uint64_t seed : seeds)
    for (int i = 0; i < 2000; i++) {
      uint32_t ids[3];
      if (i < 216) {  // every combination of the edge values first
        ids[0] = edges[i % 6], ids[1] = edges[(i / 6) % 6], ids[2] = edges[(i / 36) % 6];
      } else {
        for (uint32_t& x : ids) x = uint32_t(rng.below(uint64_t(1) << 32));
      }
      EXPECT_EQ(hashing::xxh3::hash2(ids[0], ids[1], seed), XXH3_64bits_withSeed(ids, 8, seed)) << ids[0] << " " << ids[1];
      EXPECT_EQ(hashing::xxh3::hash3(ids[0], ids[1], ids[2], seed), XXH3_64bits_withSeed(ids, 12, seed))
          << ids[0] << " " << ids[1] << " " << ids[2];
      checked += 2;
    }
  EXPECT_EQ(checked, 20000);
}

}  // namespace
}  // namespace golf
