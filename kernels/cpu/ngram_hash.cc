// The ngram_hash op over a batch: each position's bucket from hashing/ngram.h (the XXH3 kind
// through libxxhash, the reference the CUDA twin's transcription must match). Positions restart
// at 0 in every row of the batch.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "hashing/ngram.h"
#include "kernels/cpu/cpu_kernels.h"

namespace golf::cpu {

namespace {

int32_t bucket_at(int k, int64_t buckets, int kind, const uint32_t primes[3], uint64_t seed, const int32_t* tok,
                  int64_t t) {
  const uint64_t h = kind == 0 ? uint64_t(hashing::multiply_xor(k, primes[0], primes[1], primes[2], tok, t))
                               : hashing::xxh3_ngram(k, seed, tok, t);
  return hashing::bucket(h, buckets);
}

}  // namespace

void ngram_hash(int64_t b, int64_t t, int n, int64_t buckets, int kind, const uint32_t primes[3], uint64_t seed,
                const int32_t* tokens, int32_t* out) {
  hashing::check_ngram_args("ngram_hash", n, buckets);
  for (int64_t r = 0; r < b; ++r) {
    const int32_t* tok = tokens + r * t;
    int32_t* o = out + r * t;
    for (int64_t i = 0; i < t; ++i) {
      if (i == 0) {
        o[i] = int32_t(buckets - 1);
        continue;
      }
      const int k = int(std::min<int64_t>(n, i + 1));  // a trigram at position 1 is a bigram
      o[i] = bucket_at(k, buckets, kind, primes, seed, tok, i);
    }
  }
}

void ngram_hash_at(int64_t b, int n, int64_t buckets, int kind, const uint32_t primes[3], uint64_t seed, int64_t pos,
                   const int32_t* window, int32_t* out) {
  hashing::check_ngram_args("ngram_hash_at", n, buckets);
  if (pos < 0) throw std::invalid_argument("ngram_hash_at: negative position " + std::to_string(pos));
  const int k = int(std::min<int64_t>(n, pos + 1));
  for (int64_t r = 0; r < b; ++r) {
    const int32_t* w = window + r * n;
    out[r] = pos == 0 ? int32_t(buckets - 1) : bucket_at(k, buckets, kind, primes, seed, w, n - 1);
  }
}

}  // namespace golf::cpu
