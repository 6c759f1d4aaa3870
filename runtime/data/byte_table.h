// How many bytes of text each target token stands for, the denominator of val_bpb. The rule is the
// challenge's (PARAMETER_GOLF.md, "The metric"): target y after x counts
// base_bytes[y] + (has_leading_space[y] && !is_boundary[x]), so a "▁" right after BOS or <unk>
// is not counted, <unk> counts 0 and byte-fallback pieces count 1. Any other rule makes scores
// incomparable with the leaderboard.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/json.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace golf {

struct ByteTable {
  int vocab = 0;
  std::vector<int32_t> base_bytes;         // UTF-8 length of the piece without its leading "▁"
  std::vector<uint8_t> has_leading_space;  // the piece starts with "▁"
  std::vector<uint8_t> is_boundary;        // control, unknown or unused piece (BOS, EOS, PAD, UNK)

  double bytes(int prev, int tok) const {
    return double(base_bytes[tok] + (has_leading_space[tok] && !is_boundary[prev] ? 1 : 0));
  }
};

ByteTable byte_table_from_sentencepiece(const std::string& model_path);
ByteTable byte_table_from_processor(const sentencepiece::SentencePieceProcessor& sp);
// The challenge's byte260 layout: ids 0-3 pad/BOS/EOS/UNK (boundary, 0 bytes), byte b at id b + 4.
ByteTable byte_table_bytes260();

// Σ over targets t = 1..n-1 of bytes(tokens[t-1], tokens[t]), in double. Throws on a token
// outside the table.
double count_target_bytes(const ByteTable& table, const uint16_t* tokens, int64_t n);

// {"vocab", "base_bytes", "has_leading_space", "is_boundary"}; the flags as 0/1 arrays.
Json byte_table_to_json(const ByteTable& table);
ByteTable byte_table_from_json(const Json& j, const std::string& source);  // errors name source

bool operator==(const ByteTable& a, const ByteTable& b);

}  // namespace golf
