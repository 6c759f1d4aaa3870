// How many bytes of text each target token stands for, the denominator of val_bpb. The rule is the
// challenge's (PARAMETER_GOLF.md, "The metric"): target y after x counts
// base_bytes[y] + (has_leading_space[y] && !is_boundary[x]), so a "▁" right after BOS or <unk>
// is not counted, <unk> counts 0 and byte-fallback pieces count 1. Any other rule makes scores
// incomparable with the leaderboard.
//
// CaseOps data (runtime/data/caseops.h) is scored by another rule, the original text's bytes: the
// prepared folder carries one count per token of the val stream, which `token_bytes` holds, and
// target_bytes() — the one place that says what a target costs — returns those instead.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
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

  // CaseOps: the original UTF-8 bytes of each token of the val stream (BOS 0), or null.
  std::shared_ptr<const std::vector<uint16_t>> token_bytes;

  // The bytes target `pos` of `tokens` (n long, pos >= 1) stands for: token_bytes[pos] when set
  // (`tokens` must then be the val stream or a prefix of it: throws when n exceeds the sidecar),
  // else bytes(tokens[pos − 1], tokens[pos]).
  double target_bytes(const uint16_t* tokens, int64_t n, int64_t pos) const {
    if (!token_bytes) return bytes(tokens[pos - 1], tokens[pos]);
    if (n > int64_t(token_bytes->size()))
      throw std::runtime_error("the token byte sidecar covers " + std::to_string(token_bytes->size()) +
                               " tokens, the scored stream has " + std::to_string(n) + " (not the val stream it was made for)");
    return double((*token_bytes)[size_t(pos)]);
  }
};

ByteTable byte_table_from_sentencepiece(const std::string& model_path);
ByteTable byte_table_from_processor(const sentencepiece::SentencePieceProcessor& sp);
// The challenge's byte260 layout: ids 0-3 pad/BOS/EOS/UNK (boundary, 0 bytes), byte b at id b + 4.
ByteTable byte_table_bytes260();

// Σ over targets t = 1..n-1 of target_bytes(tokens, n, t), in double. Throws on a token outside
// the table.
double count_target_bytes(const ByteTable& table, const uint16_t* tokens, int64_t n);

// {"vocab", "base_bytes", "has_leading_space", "is_boundary"}; the flags as 0/1 arrays.
Json byte_table_to_json(const ByteTable& table);
ByteTable byte_table_from_json(const Json& j, const std::string& source);  // errors name source

bool operator==(const ByteTable& a, const ByteTable& b);

}  // namespace golf
