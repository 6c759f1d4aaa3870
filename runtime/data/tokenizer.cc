#include "runtime/data/tokenizer.h"

#include <sentencepiece_processor.h>
#include <xxhash.h>

#include <cstdio>
#include <stdexcept>

#include "runtime/fs.h"

namespace golf {

std::string xxh64_hex(std::string_view bytes) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)XXH64(bytes.data(), bytes.size(), 0));
  return buf;
}

Tokenizer Tokenizer::sentencepiece_file(const std::string& model_path) {
  return sentencepiece_bytes(read_file(model_path), model_path);
}

Tokenizer Tokenizer::sentencepiece_bytes(std::string model_bytes, const std::string& source) {
  Tokenizer t;
  t.sp_ = std::make_shared<sentencepiece::SentencePieceProcessor>();
  auto status = t.sp_->LoadFromSerializedProto(model_bytes);
  if (!status.ok()) throw std::runtime_error(source + ": not a SentencePiece model: " + status.ToString());
  t.kind_ = "sentencepiece";
  t.fingerprint_ = xxh64_hex(model_bytes);
  t.model_bytes_ = std::move(model_bytes);
  t.source_ = source;
  t.vocab_ = t.sp_->GetPieceSize();
  if (t.vocab_ > 65536) throw std::runtime_error(source + ": vocabulary of " + std::to_string(t.vocab_) + " does not fit uint16 shards");
  // The shards put BOS (id 1) before every document; a model with other ids would be misread.
  if (t.sp_->bos_id() != kBos)
    throw std::runtime_error(source + ": BOS is id " + std::to_string(t.sp_->bos_id()) + ", golfrt needs 1");
  t.table_ = byte_table_from_processor(*t.sp_);
  return t;
}

Tokenizer Tokenizer::bytes260() {
  Tokenizer t;
  t.kind_ = "bytes260";
  t.fingerprint_ = "bytes260";
  t.source_ = "bytes260";
  t.vocab_ = 260;
  t.table_ = byte_table_bytes260();
  return t;
}

const sentencepiece::SentencePieceProcessor& Tokenizer::processor() const {
  if (!sp_) throw std::logic_error("the " + kind_ + " tokenizer has no SentencePiece processor");
  return *sp_;
}

std::vector<int> Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  if (sp_) {
    auto status = sp_->Encode(text, &ids);
    if (!status.ok()) throw std::runtime_error(source_ + ": cannot encode: " + status.ToString());
    return ids;
  }
  ids.reserve(text.size());
  for (unsigned char c : text) ids.push_back(int(c) + 4);
  return ids;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  for (size_t i = 0; i < ids.size(); i++)
    if (ids[i] < 0 || ids[i] >= vocab_)
      throw std::out_of_range(source_ + ": cannot decode id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                              ", vocabulary is " + std::to_string(vocab_));
  std::string text;
  if (sp_) {
    auto status = sp_->Decode(ids, &text);
    if (!status.ok()) throw std::runtime_error(source_ + ": cannot decode: " + status.ToString());
    return text;
  }
  for (int id : ids)
    if (id >= 4) text += char(id - 4);
  return text;
}

}  // namespace golf
