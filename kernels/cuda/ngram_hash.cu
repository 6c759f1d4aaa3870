// The ngram_hash op over a batch, the CUDA twin of kernels/cpu/ngram_hash.cc: one thread per
// position, each bucket from hashing/ngram.h (the same multiply-xor, and XXH3 through the small
// transcription, which hashing/tests/xxh3_small_test.cc ties to the library the CPU uses).
#include "hashing/ngram.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace golf::cuda {
namespace {

__device__ int32_t bucket_at(int k, int64_t buckets, int kind, uint32_t p0, uint32_t p1, uint32_t p2, uint64_t seed,
                             const int32_t* tok, int64_t t) {
  const uint64_t h = kind == 0 ? uint64_t(hashing::multiply_xor(k, p0, p1, p2, tok, t))
                               : hashing::xxh3_small_ngram(k, seed, tok, t);
  return hashing::bucket(h, buckets);
}

__global__ void ngram_hash_kernel(int64_t b, int64_t t, int n, int64_t buckets, int kind, uint32_t p0, uint32_t p1,
                                  uint32_t p2, uint64_t seed, const int32_t* tokens, int32_t* out) {
  GOLF_GRID_STRIDE(idx, b * t) {
    const int64_t i = idx % t;
    const int32_t* tok = tokens + (idx - i);  // the row's first token
    if (i == 0) {
      out[idx] = int32_t(buckets - 1);
      continue;
    }
    const int k = i + 1 < n ? int(i + 1) : n;  // a trigram at position 1 is a bigram
    out[idx] = bucket_at(k, buckets, kind, p0, p1, p2, seed, tok, i);
  }
}

__global__ void ngram_hash_at_kernel(int64_t b, int n, int64_t buckets, int kind, uint32_t p0, uint32_t p1,
                                     uint32_t p2, uint64_t seed, const int32_t* pos, const int32_t* window,
                                     int32_t* out) {
  const int64_t p = pos[0];
  GOLF_GRID_STRIDE(r, b) {
    if (p == 0) {
      out[r] = int32_t(buckets - 1);
      continue;
    }
    const int k = p + 1 < n ? int(p + 1) : n;
    out[r] = bucket_at(k, buckets, kind, p0, p1, p2, seed, window + r * n, n - 1);  // the current id last
  }
}

}  // namespace

void ngram_hash_at(int64_t b, int n, int64_t buckets, int kind, const uint32_t primes[3], uint64_t seed,
                   const int32_t* pos, const int32_t* window, int32_t* out) {
  hashing::check_ngram_args("ngram_hash_at", n, buckets);
  if (b == 0) return;
  ngram_hash_at_kernel<<<blocks_for(b), kThreads, 0, stream()>>>(b, n, buckets, kind, primes[0], primes[1], primes[2],
                                                                  seed, pos, window, out);
  check_launch("ngram_hash_at");
}

void ngram_hash(int64_t b, int64_t t, int n, int64_t buckets, int kind, const uint32_t primes[3], uint64_t seed,
                const int32_t* tokens, int32_t* out) {
  hashing::check_ngram_args("ngram_hash", n, buckets);
  if (b * t == 0) return;
  ngram_hash_kernel<<<blocks_for(b * t), kThreads, 0, stream()>>>(b, t, n, buckets, kind, primes[0], primes[1],
                                                                   primes[2], seed, tokens, out);
  check_launch("ngram_hash");
}

}  // namespace golf::cuda
