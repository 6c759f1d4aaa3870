// Hashed n-gram bucket ids (PARAMETER_GOLF.md "BigramHash", "TrigramHash"), one n-gram at a time;
// the ngram_hash kernels (kernels/cpu/ngram_hash.cc, kernels/cuda/ngram_hash.cu) run these over a
// batch. The multiply-xor hash is defined in unsigned 32-bit arithmetic: products wrap mod 2^32
// before the xor and the final mod (K-1), exactly as the leaderboard's PyTorch code computes it
// with int32 tensors reinterpreted as unsigned. The XXH3 hash takes the n-gram's ids oldest first,
// each as 4 little-endian bytes (x86 and ARM hosts are little-endian; the CUDA kernels build the
// same bytes). Golden vectors: hashing/tests/ngram_hash_golden.json.
#pragma once
#include <cstdint>

#include "hashing/xxh3_small.h"

namespace golf::hashing {

// Multiply-xor of the k = 2 or 3 ids ending at tok[t] (tok[t] the newest).
GOLF_HD inline uint32_t multiply_xor(int k, uint32_t p0, uint32_t p1, uint32_t p2, const int32_t* tok, int64_t t) {
  uint32_t h = p0 * uint32_t(tok[t]) ^ p1 * uint32_t(tok[t - 1]);
  if (k == 3) h ^= p2 * uint32_t(tok[t - 2]);
  return h;
}

// XXH3-64(seed) of the k = 2 or 3 ids ending at tok[t], through the small transcription (what a
// CUDA kernel can call).
GOLF_HD inline uint64_t xxh3_small_ngram(int k, uint64_t seed, const int32_t* tok, int64_t t) {
  if (k == 2) return xxh3::hash2(uint32_t(tok[t - 1]), uint32_t(tok[t]), seed);
  return xxh3::hash3(uint32_t(tok[t - 2]), uint32_t(tok[t - 1]), uint32_t(tok[t]), seed);
}

// The same hash through libxxhash: the CPU kernels' reference, which the transcription must match.
uint64_t xxh3_ngram(int k, uint64_t seed, const int32_t* tok, int64_t t);

// A hash's bucket: mod (K-1), bucket K-1 being the first position's.
GOLF_HD inline int32_t bucket(uint64_t h, int64_t buckets) { return int32_t(h % uint64_t(buckets - 1)); }

// Throws std::invalid_argument naming `op` and the value unless n is 2 or 3 and buckets >= 2.
void check_ngram_args(const char* op, int n, int64_t buckets);

}  // namespace golf::hashing
