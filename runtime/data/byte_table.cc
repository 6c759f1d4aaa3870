#include "runtime/data/byte_table.h"

#include <sentencepiece_processor.h>

#include <stdexcept>
#include <type_traits>

namespace golf {

namespace {

const std::string kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's whitespace mark

void resize(ByteTable& t, int vocab) {
  t.vocab = vocab;
  t.base_bytes.assign(size_t(vocab), 0);
  t.has_leading_space.assign(size_t(vocab), 0);
  t.is_boundary.assign(size_t(vocab), 0);
}

}  // namespace

ByteTable byte_table_from_processor(const sentencepiece::SentencePieceProcessor& sp) {
  ByteTable t;
  resize(t, sp.GetPieceSize());
  for (int id = 0; id < t.vocab; id++) {
    if (sp.IsControl(id) || sp.IsUnknown(id) || sp.IsUnused(id)) {
      t.is_boundary[id] = 1;
      continue;
    }
    if (sp.IsByte(id)) {  // <0xNN> stands for exactly one byte, not its 6-character spelling
      t.base_bytes[id] = 1;
      continue;
    }
    std::string piece = sp.IdToPiece(id);
    if (piece.compare(0, kSpace.size(), kSpace) == 0) {
      t.has_leading_space[id] = 1;
      piece.erase(0, kSpace.size());
    }
    t.base_bytes[id] = int32_t(piece.size());
  }
  return t;
}

ByteTable byte_table_from_sentencepiece(const std::string& model_path) {
  sentencepiece::SentencePieceProcessor sp;
  auto status = sp.Load(model_path);
  if (!status.ok()) throw std::runtime_error(model_path + ": cannot load the SentencePiece model: " + status.ToString());
  return byte_table_from_processor(sp);
}

ByteTable byte_table_bytes260() {
  ByteTable t;
  resize(t, 260);
  for (int id = 0; id < 4; id++) t.is_boundary[id] = 1;
  for (int id = 4; id < 260; id++) t.base_bytes[id] = 1;
  return t;
}

double count_target_bytes(const ByteTable& table, const uint16_t* tokens, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (tokens[i] >= table.vocab)
      throw std::out_of_range("token " + std::to_string(tokens[i]) + " at position " + std::to_string(i) +
                              " is outside the byte table's vocabulary of " + std::to_string(table.vocab));
  double total = 0.0;
  for (int64_t t = 1; t < n; t++) total += table.target_bytes(tokens, n, t);
  return total;
}

Json byte_table_to_json(const ByteTable& table) {
  Json base = Json::array(), space = Json::array(), boundary = Json::array();
  for (int i = 0; i < table.vocab; i++) {
    base.push(Json(int(table.base_bytes[i])));
    space.push(Json(int(table.has_leading_space[i])));
    boundary.push(Json(int(table.is_boundary[i])));
  }
  Json j = Json::object();
  j.set("vocab", Json(table.vocab));
  j.set("base_bytes", std::move(base));
  j.set("has_leading_space", std::move(space));
  j.set("is_boundary", std::move(boundary));
  return j;
}

ByteTable byte_table_from_json(const Json& j, const std::string& source) {
  if (!j.is_object()) throw std::runtime_error(source + ": byte_table must be an object");
  ByteTable t;
  int64_t vocab = j["vocab"].integer(source + ": byte_table.vocab");
  if (vocab <= 0 || vocab > 65536) throw std::runtime_error(source + ": byte_table.vocab " + std::to_string(vocab) + " is out of range");
  resize(t, int(vocab));
  auto column = [&](const char* key, auto& out, int64_t max) {
    const Json& a = j[key];
    std::string what = source + ": byte_table." + key;
    if (!a.is_array() || int64_t(a.size()) != vocab)
      throw std::runtime_error(what + " must be an array of " + std::to_string(vocab) + " numbers");
    for (int64_t i = 0; i < vocab; i++) {
      int64_t v = a[size_t(i)].integer(what + "[" + std::to_string(i) + "]");
      if (v < 0 || v > max) throw std::runtime_error(what + "[" + std::to_string(i) + "] = " + std::to_string(v) + " is out of range");
      out[size_t(i)] = static_cast<std::remove_reference_t<decltype(out[0])>>(v);
    }
  };
  column("base_bytes", t.base_bytes, 1 << 20);
  column("has_leading_space", t.has_leading_space, 1);
  column("is_boundary", t.is_boundary, 1);
  return t;
}

bool operator==(const ByteTable& a, const ByteTable& b) {
  return a.vocab == b.vocab && a.base_bytes == b.base_bytes && a.has_leading_space == b.has_leading_space &&
         a.is_boundary == b.is_boundary;
}

}  // namespace golf
