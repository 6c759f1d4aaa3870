#include "hashing/ngram.h"

#include <xxhash.h>

#include <stdexcept>
#include <string>

namespace golf::hashing {

uint64_t xxh3_ngram(int k, uint64_t seed, const int32_t* tok, int64_t t) {
  uint32_t ids[3];
  for (int i = 0; i < k; i++) ids[i] = uint32_t(tok[t - (k - 1) + i]);
  return XXH3_64bits_withSeed(ids, size_t(k) * 4, seed);
}

void check_ngram_args(const char* op, int n, int64_t buckets) {
  if (n != 2 && n != 3) throw std::invalid_argument(std::string(op) + ": n must be 2 or 3, got " + std::to_string(n));
  if (buckets < 2)
    throw std::invalid_argument(std::string(op) + ": needs at least 2 buckets, got " + std::to_string(buckets));
}

}  // namespace golf::hashing
