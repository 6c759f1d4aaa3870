// Text ↔ token ids for data preparation and sampling: a SentencePiece model, or the challenge's
// byte260 layout (byte b ↔ id b + 4, ids 0-3 pad/BOS/EOS/UNK). The fingerprint names the exact
// tokenizer (xxh64 of the .model bytes, or "bytes260") so shards, manifests and artifacts made
// with different tokenizers are never mixed up.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/data/byte_table.h"

namespace golf {

class Tokenizer {
 public:
  static Tokenizer sentencepiece_file(const std::string& model_path);
  // `source` names the bytes in errors (a path, "artifact").
  static Tokenizer sentencepiece_bytes(std::string model_bytes, const std::string& source);
  static Tokenizer bytes260();

  static constexpr int kPad = 0, kBos = 1, kEos = 2, kUnk = 3;

  const std::string& kind() const { return kind_; }  // "sentencepiece" or "bytes260"
  const std::string& fingerprint() const { return fingerprint_; }
  const std::string& model_bytes() const { return model_bytes_; }  // empty for bytes260
  int vocab() const { return vocab_; }
  const ByteTable& byte_table() const { return table_; }
  bool is_sentencepiece() const { return sp_ != nullptr; }
  const sentencepiece::SentencePieceProcessor& processor() const;  // SentencePiece only

  std::vector<int> encode(std::string_view text) const;
  // The same ids, and where each piece begins in `text` (byte offsets, as SentencePiece aligns
  // its pieces with the input before normalization). SentencePiece only.
  std::vector<int> encode_with_offsets(std::string_view text, std::vector<size_t>* begins) const;
  std::string decode(const std::vector<int>& ids) const;  // byte260: special ids are skipped

 private:
  std::string kind_, fingerprint_, model_bytes_, source_;
  int vocab_ = 0;
  ByteTable table_;
  std::shared_ptr<sentencepiece::SentencePieceProcessor> sp_;
};

std::string xxh64_hex(std::string_view bytes);  // 16 lowercase hex digits, seed 0

}  // namespace golf
