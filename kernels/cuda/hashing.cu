// Hashed n-gram bucket ids, the CUDA twin of kernels/cpu/hashing.cc: one thread per position,
// the same uint32 multiply-xor (wrapping products) and the same XXH3-64 bytes (xxh3_small.h).
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/xxh3_small.h"

namespace golf::cuda {
namespace {

__global__ void ngram_hash_kernel(int64_t b, int64_t t, int n, int64_t buckets, int kind, uint32_t p0, uint32_t p1,
                                  uint32_t p2, uint64_t seed, const int32_t* tokens, int32_t* out) {
  const uint64_t mod = uint64_t(buckets - 1);
  GOLF_GRID_STRIDE(idx, b * t) {
    const int64_t i = idx % t;
    const int32_t* tok = tokens + (idx - i);  // the row's first token
    if (i == 0) {
      out[idx] = int32_t(buckets - 1);
      continue;
    }
    const int k = i + 1 < n ? int(i + 1) : n;  // a trigram at position 1 is a bigram
    uint64_t h;
    if (kind == 0) {
      uint32_t m = p0 * uint32_t(tok[i]) ^ p1 * uint32_t(tok[i - 1]);
      if (k == 3) m ^= p2 * uint32_t(tok[i - 2]);
      h = uint64_t(m);
    } else if (k == 2) {
      h = xxh3::hash2(uint32_t(tok[i - 1]), uint32_t(tok[i]), seed);  // oldest first
    } else {
      h = xxh3::hash3(uint32_t(tok[i - 2]), uint32_t(tok[i - 1]), uint32_t(tok[i]), seed);
    }
    out[idx] = int32_t(h % mod);
  }
}

__global__ void ngram_hash_at_kernel(int64_t b, int n, int64_t buckets, int kind, uint32_t p0, uint32_t p1,
                                     uint32_t p2, uint64_t seed, const int32_t* pos, const int32_t* window,
                                     int32_t* out) {
  const uint64_t mod = uint64_t(buckets - 1);
  const int64_t p = pos[0];
  GOLF_GRID_STRIDE(r, b) {
    const int32_t* w = window + r * n;
    const int i = n - 1;  // the current id
    if (p == 0) {
      out[r] = int32_t(buckets - 1);
      continue;
    }
    const int k = p + 1 < n ? int(p + 1) : n;
    uint64_t h;
    if (kind == 0) {
      uint32_t m = p0 * uint32_t(w[i]) ^ p1 * uint32_t(w[i - 1]);
      if (k == 3) m ^= p2 * uint32_t(w[i - 2]);
      h = uint64_t(m);
    } else if (k == 2) {
      h = xxh3::hash2(uint32_t(w[i - 1]), uint32_t(w[i]), seed);
    } else {
      h = xxh3::hash3(uint32_t(w[i - 2]), uint32_t(w[i - 1]), uint32_t(w[i]), seed);
    }
    out[r] = int32_t(h % mod);
  }
}

}  // namespace

void ngram_hash_at(int64_t b, int n, int64_t buckets, int kind, const uint32_t primes[3], uint64_t seed,
                   const int32_t* pos, const int32_t* window, int32_t* out) {
  if (n != 2 && n != 3) throw std::invalid_argument("ngram_hash_at: n must be 2 or 3");
  if (buckets < 2) throw std::invalid_argument("ngram_hash_at: needs at least 2 buckets");
  if (b == 0) return;
  ngram_hash_at_kernel<<<blocks_for(b), kThreads, 0, stream()>>>(b, n, buckets, kind, primes[0], primes[1], primes[2],
                                                                  seed, pos, window, out);
  check_launch("ngram_hash_at");
}

void ngram_hash(int64_t b, int64_t t, int n, int64_t buckets, int kind, const uint32_t primes[3], uint64_t seed,
                const int32_t* tokens, int32_t* out) {
  if (n != 2 && n != 3) throw std::invalid_argument("ngram_hash: n must be 2 or 3");
  if (buckets < 2) throw std::invalid_argument("ngram_hash: needs at least 2 buckets");
  if (b * t == 0) return;
  ngram_hash_kernel<<<blocks_for(b * t), kThreads, 0, stream()>>>(b, t, n, buckets, kind, primes[0], primes[1],
                                                                   primes[2], seed, tokens, out);
  check_launch("ngram_hash");
}

}  // namespace golf::cuda
