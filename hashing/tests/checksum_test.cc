// The artifact's checksum (hashing/checksum.h) against XXH64 values computed independently with
// Python's xxhash package (xxhash.xxh64_intdigest(bytes, 0)), and its use in the artifact header.
#include <gtest/gtest.h>

#include <string>

#include "hashing/checksum.h"

namespace golf {
namespace {

TEST(Checksum, matches_the_golden_xxh64_values) {
  EXPECT_EQ(hashing::checksum(""), 0xef46db3751d8e999ULL);
  EXPECT_EQ(hashing::checksum("abc"), 0x44bc2cf5ad770999ULL);
  EXPECT_EQ(hashing::checksum("blocks.0.attn.q\n"), 0xf33c4f280361e60aULL);
  std::string header;  // a header's 40 hashed bytes
  for (int i = 0; i < 40; i++) header += char(i);
  EXPECT_EQ(hashing::checksum(header), 0xf5da40f1b11741e9ULL);
  std::string body;  // longer than XXH64's 32-byte stripes, several times over
  for (int r = 0; r < 5; r++)
    for (int i = 0; i < 256; i++) body += char(i);
  EXPECT_EQ(hashing::checksum(body), 0xafc184ad7938a354ULL);
}

}  // namespace
}  // namespace golf
