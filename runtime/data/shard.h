// The challenge's token shard: a 1024-byte header of 256 little-endian int32 ([0] magic 20240520,
// [1] version 1, [2] token count, rest 0) followed by the tokens as little-endian uint16. Files are
// byte-for-byte what openai/parameter-golf writes and reads, so its shards open here unchanged.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace golf {

constexpr int32_t kShardMagic = 20240520;
constexpr int32_t kShardVersion = 1;
constexpr int64_t kShardHeaderBytes = 1024;

// Reads and checks only the header (magic, version, file size = 1024 + 2·count); returns the count.
int64_t shard_token_count(const std::string& path);

// Whole shard. vocab > 0 also refuses any token >= vocab. Errors start with the path.
std::vector<uint16_t> read_shard(const std::string& path, int64_t vocab = 0);

// Tokens [begin, begin + n) of a shard, without reading the rest (header checked as above).
std::vector<uint16_t> read_shard_range(const std::string& path, int64_t begin, int64_t n, int64_t vocab = 0);

void write_shard(const std::string& path, const std::vector<uint16_t>& tokens);  // atomic

}  // namespace golf
