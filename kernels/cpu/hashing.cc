// Hashed n-gram bucket ids (PARAMETER_GOLF.md "BigramHash", "TrigramHash"). The multiply-xor
// hash is defined in unsigned 32-bit arithmetic: products wrap mod 2^32 before the xor and the
// final mod (K-1), exactly as the leaderboard's PyTorch code computes it with int32 tensors
// reinterpreted as unsigned. Positions restart at 0 in every row of the batch.
#include <xxhash.h>

#include <algorithm>
#include <stdexcept>

#include "kernels/cpu/cpu_kernels.h"

namespace golf::cpu {

namespace {

uint32_t mult_xor(int n, const uint32_t* p, const int32_t* tok, int64_t t) {
  uint32_t h = p[0] * uint32_t(tok[t]) ^ p[1] * uint32_t(tok[t - 1]);
  if (n == 3) h ^= p[2] * uint32_t(tok[t - 2]);
  return h;
}

uint64_t xxh3(int n, uint64_t seed, const int32_t* tok, int64_t t) {
  // Oldest first, each id as 4 little-endian bytes (x86 and ARM hosts are little-endian; the
  // CUDA twin builds the same bytes).
  uint32_t ids[3];
  for (int i = 0; i < n; i++) ids[i] = uint32_t(tok[t - (n - 1) + i]);
  return XXH3_64bits_withSeed(ids, size_t(n) * 4, seed);
}

}  // namespace

void ngram_hash(int64_t b, int64_t t, int n, int64_t buckets, int kind, const uint32_t primes[3], uint64_t seed,
                const int32_t* tokens, int32_t* out) {
  if (n != 2 && n != 3) throw std::invalid_argument("ngram_hash: n must be 2 or 3");
  if (buckets < 2) throw std::invalid_argument("ngram_hash: needs at least 2 buckets");
  const uint64_t mod = uint64_t(buckets - 1);
  for (int64_t r = 0; r < b; ++r) {
    const int32_t* tok = tokens + r * t;
    int32_t* o = out + r * t;
    for (int64_t i = 0; i < t; ++i) {
      if (i == 0) {
        o[i] = int32_t(buckets - 1);
        continue;
      }
      const int k = int(std::min<int64_t>(n, i + 1));  // a trigram at position 1 is a bigram
      o[i] = int32_t(kind == 0 ? uint64_t(mult_xor(k, primes, tok, i)) % mod : xxh3(k, seed, tok, i) % mod);
    }
  }
}

void ngram_hash_at(int64_t b, int n, int64_t buckets, int kind, const uint32_t primes[3], uint64_t seed, int64_t pos,
                   const int32_t* window, int32_t* out) {
  if (n != 2 && n != 3) throw std::invalid_argument("ngram_hash_at: n must be 2 or 3");
  if (buckets < 2) throw std::invalid_argument("ngram_hash_at: needs at least 2 buckets");
  if (pos < 0) throw std::invalid_argument("ngram_hash_at: negative position");
  const uint64_t mod = uint64_t(buckets - 1);
  const int k = int(std::min<int64_t>(n, pos + 1));
  for (int64_t r = 0; r < b; ++r) {
    const int32_t* w = window + r * n;
    out[r] = pos == 0 ? int32_t(buckets - 1)
                      : int32_t(kind == 0 ? uint64_t(mult_xor(k, primes, w, n - 1)) % mod : xxh3(k, seed, w, n - 1) % mod);
  }
}

}  // namespace golf::cpu
