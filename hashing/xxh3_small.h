// XXH3-64 with a seed for the two input lengths ngram_hash uses (8 and 12 bytes: two or three
// little-endian uint32 ids), written out so that a CUDA kernel can compute it. Transcribed from
// xxHash 0.8's XXH3_len_4to8_64b and XXH3_len_9to16_64b with the default secret's words at byte
// offsets 8..48 folded into constants; host and device compile the same code, and
// hashing/tests/xxh3_small_test.cc checks it on the host against the library (XXH3_64bits_withSeed).
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define GOLF_HD __host__ __device__
#else
#define GOLF_HD
#endif

namespace golf::hashing::xxh3 {

// The default secret (XXH3_kSecret) read as little-endian uint64 at byte offsets 8, 16, ..., 48.
constexpr uint64_t kS8 = 0x1cad21f72c81017cULL, kS16 = 0xdb979083e96dd4deULL, kS24 = 0x1f67b3b7a4a44072ULL,
                   kS32 = 0x78e5c0cc4ee679cbULL, kS40 = 0x2172ffcc7dd05a82ULL, kS48 = 0x8e2443f7744608b8ULL;

GOLF_HD inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
GOLF_HD inline uint32_t swap32(uint32_t x) {
  return ((x << 24) & 0xff000000u) | ((x << 8) & 0x00ff0000u) | ((x >> 8) & 0x0000ff00u) | ((x >> 24) & 0x000000ffu);
}
GOLF_HD inline uint64_t swap64(uint64_t x) { return (uint64_t(swap32(uint32_t(x))) << 32) | swap32(uint32_t(x >> 32)); }

GOLF_HD inline uint64_t mul128_fold64(uint64_t a, uint64_t b) {
#ifdef __CUDA_ARCH__
  return (a * b) ^ __umul64hi(a, b);
#else
  const unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
  return uint64_t(p) ^ uint64_t(p >> 64);
#endif
}

GOLF_HD inline uint64_t rrmxmx(uint64_t h, uint64_t len) {
  h ^= rotl64(h, 49) ^ rotl64(h, 24);
  h *= 0x9FB21C651E98DF25ULL;
  h ^= (h >> 35) + len;
  h *= 0x9FB21C651E98DF25ULL;
  return h ^ (h >> 28);
}

GOLF_HD inline uint64_t avalanche(uint64_t h) {
  h ^= h >> 37;
  h *= 0x165667919E3779F9ULL;
  return h ^ (h >> 32);
}

// XXH3_64bits_withSeed of the 8 bytes a, b (each little-endian).
GOLF_HD inline uint64_t hash2(uint32_t a, uint32_t b, uint64_t seed) {
  seed ^= uint64_t(swap32(uint32_t(seed))) << 32;
  const uint64_t bitflip = (kS8 ^ kS16) - seed;
  const uint64_t input64 = uint64_t(b) + (uint64_t(a) << 32);
  return rrmxmx(input64 ^ bitflip, 8);
}

// XXH3_64bits_withSeed of the 12 bytes a, b, c (each little-endian).
GOLF_HD inline uint64_t hash3(uint32_t a, uint32_t b, uint32_t c, uint64_t seed) {
  const uint64_t bitflip1 = (kS24 ^ kS32) + seed;
  const uint64_t bitflip2 = (kS40 ^ kS48) - seed;
  const uint64_t lo = (uint64_t(a) | (uint64_t(b) << 32)) ^ bitflip1;  // bytes 0..7
  const uint64_t hi = (uint64_t(b) | (uint64_t(c) << 32)) ^ bitflip2;  // bytes 4..11
  return avalanche(12 + swap64(lo) + hi + mul128_fold64(lo, hi));
}

}  // namespace golf::hashing::xxh3
