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

namespace {

// The few protobuf wire-format reads SentencePieceText needs (the library installs no .pb.h):
// SentencePieceText.pieces = field 2; SentencePiece.id = field 2, .begin = field 4.
struct Wire {
  std::string_view s;
  size_t i = 0;
  const std::string& source;
  [[noreturn]] void fail() const { throw std::runtime_error(source + ": unreadable SentencePiece encoding proto"); }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (i >= s.size()) fail();
      uint8_t b = uint8_t(s[i++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail();
  }
  // Reads a field's value of `wire` type: a varint, or the view of a length-delimited one.
  std::string_view skip(uint32_t wire, uint64_t* value) {
    switch (wire) {
      case 0: *value = varint(); return {};
      case 1: if (s.size() - i < 8) fail(); i += 8; return {};
      case 5: if (s.size() - i < 4) fail(); i += 4; return {};
      case 2: {
        uint64_t n = varint();
        if (n > s.size() - i) fail();
        std::string_view v = s.substr(i, n);
        i += n;
        return v;
      }
      default: fail();
    }
  }
};

}  // namespace

std::vector<int> Tokenizer::encode_with_offsets(std::string_view text, std::vector<size_t>* begins) const {
  if (!sp_) throw std::logic_error("encode_with_offsets: the " + kind_ + " tokenizer has no pieces");
  const std::string proto = sp_->EncodeAsSerializedProto(text);
  std::vector<int> ids;
  begins->clear();
  Wire outer{proto, 0, source_};
  while (outer.i < proto.size()) {
    uint64_t key = outer.varint(), v = 0;
    std::string_view piece = outer.skip(uint32_t(key & 7), &v);
    if ((key >> 3) != 2 || (key & 7) != 2) continue;
    Wire inner{piece, 0, source_};
    uint64_t id = 0, begin = 0;
    while (inner.i < piece.size()) {
      uint64_t k = inner.varint(), x = 0;
      inner.skip(uint32_t(k & 7), &x);
      if ((k & 7) == 0 && (k >> 3) == 2) id = x;
      if ((k & 7) == 0 && (k >> 3) == 4) begin = x;
    }
    ids.push_back(int(id));
    begins->push_back(size_t(begin));
  }
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
