#include "runtime/artifact/body.h"

#include <cmath>
#include <cstring>
#include <set>
#include <stdexcept>

#include "runtime/artifact/byte_io.h"
#include "runtime/artifact/shuffle.h"

namespace golf {

using namespace artifact_format;

namespace {

constexpr uint8_t kTensorPerRow = 1u << 0;

struct EncodingInfo {
  Encoding code;
  int bits;     // intN: N; others: the element width in bits
  DType dtype;  // of QTensor::values (unused for intN)
};

bool encoding_from_name(const std::string& s, EncodingInfo* e) {
  if (s.size() == 4 && s.compare(0, 3, "int") == 0 && s[3] >= '2' && s[3] <= '8') {
    *e = {Encoding::int_n, s[3] - '0', DType::i8};
    return true;
  }
  if (s == "fp16") *e = {Encoding::fp16, 16, DType::f16};
  else if (s == "bf16") *e = {Encoding::bf16, 16, DType::bf16};
  else if (s == "fp32") *e = {Encoding::fp32, 32, DType::f32};
  else if (s == "i32") *e = {Encoding::i32, 32, DType::i32};
  else return false;
  return true;
}

// The table's (code, bits) pair back to an encoding; false when the pair is not one of them
// (grouped intN only from version 2 on).
bool encoding_from_code(uint8_t code, uint8_t bits, uint16_t version, EncodingInfo* e, std::string* name) {
  switch (Encoding(code)) {
    case Encoding::int_n_grouped:
      if (version < kVersionGrouped) return false;
      [[fallthrough]];
    case Encoding::int_n:
      if (bits < 2 || bits > 8) return false;
      *name = "int" + std::to_string(bits);
      break;
    case Encoding::fp16: *name = "fp16"; break;
    case Encoding::bf16: *name = "bf16"; break;
    case Encoding::fp32: *name = "fp32"; break;
    case Encoding::i32: *name = "i32"; break;
    default: return false;
  }
  if (!encoding_from_name(*name, e) || e->bits != bits) return false;
  e->code = Encoding(code);
  return true;
}

// Names end up in messages and on terminals (golfrt inspect): no control characters.
bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxNameBytes) return false;
  for (char c : s)
    if (uint8_t(c) < 0x20 || uint8_t(c) == 0x7f) return false;
  return true;
}

uint64_t align_up(uint64_t x) { return (x + kAlignment - 1) / kAlignment * kAlignment; }

// One scale per row for per-row intN tensors of rank >= 2, else one (QTensor::rows()); grouped:
// one per group (QTensor::scale_count()). numel is already bounded by the data section.
uint64_t scale_count(const Shape& shape, bool per_row, uint64_t group, uint64_t numel) {
  if (group > 0) return numel / group + (numel % group != 0);
  return per_row && shape.size() >= 2 ? uint64_t(shape[0]) : 1;
}

// "" when correction c is well formed for these tensors, else why not. The writer and the reader
// apply the same rule: indices in range and distinct, every tensor in one correction at most, all
// three integer-quantized matrices, base [rows, cols], a [rows, r], b [r, cols], 1 <= r <= 64.
std::string correction_error(const std::vector<QTensor>& tensors, const LowRankCorrection& c, std::vector<bool>& used) {
  for (uint32_t i : {c.base, c.a, c.b})
    if (i >= tensors.size()) return "names tensor " + std::to_string(i) + " of " + std::to_string(tensors.size());
  if (c.base == c.a || c.base == c.b || c.a == c.b) return "names one tensor twice";
  for (uint32_t i : {c.base, c.a, c.b}) {
    if (used[i]) return "uses tensor '" + tensors[i].name + "', which is already in a correction";
    used[i] = true;
  }
  const QTensor &w = tensors[c.base], &a = tensors[c.a], &b = tensors[c.b];
  for (const QTensor* t : {&w, &a, &b})
    if (!t->is_int() || t->shape.size() != 2)
      return "uses tensor '" + t->name + "' (" + t->encoding + " " + shape_str(t->shape) + "), not an integer matrix";
  int64_t r = a.shape[1];
  if (a.shape[0] != w.shape[0] || b.shape[0] != r || b.shape[1] != w.shape[1])
    return "of '" + w.name + "' " + shape_str(w.shape) + " has factors " + shape_str(a.shape) + " and " + shape_str(b.shape) +
           " (expected [rows, r] and [r, cols])";
  if (r < 1 || uint64_t(r) > kMaxCorrectionRank)
    return "of '" + w.name + "' has rank " + std::to_string(r) + " (1.." + std::to_string(kMaxCorrectionRank) + ")";
  return "";
}

// ---- writing -------------------------------------------------------------------------------------

[[noreturn]] void refuse(const std::string& what) { throw std::invalid_argument("artifact encoder: " + what); }

struct StoredTensor {
  EncodingInfo enc;
  std::string scales, values;  // as they go into the data section
};

// "" when every scale and stored value is finite, else where the first NaN or infinity is. The
// writer and the reader apply the same rule: an artifact holding one scores NaN (or fails far from
// its cause), and a weight that overflowed its encoding (fp16 beyond 65504) is a training problem
// to report at export, naming the tensor.
std::string nonfinite_in(const QTensor& t) {
  for (size_t i = 0; i < t.scales.size(); i++)
    if (!std::isfinite(f16_to_f32(t.scales[i]))) return "scale " + std::to_string(i) + " is " + std::to_string(f16_to_f32(t.scales[i]));
  if (t.values.defined() && t.values.dtype() != DType::i32) {
    const int64_t n = t.values.numel();
    for (int64_t i = 0; i < n; i++)
      if (!std::isfinite(t.values.get(i))) return "element " + std::to_string(i) + " is " + std::to_string(t.values.get(i));
  }
  return "";
}

StoredTensor store_tensor(const QTensor& t, bool shuffle, bool packed) {
  std::string where = "tensor '" + t.name + "'";
  StoredTensor s;
  if (std::string bad = nonfinite_in(t); !bad.empty())
    refuse(where + " (" + t.encoding + ") holds a value that is not finite: " + bad +
           " (NaN in training, or a weight beyond what its encoding holds)");
  if (!encoding_from_name(t.encoding, &s.enc))
    refuse(where + ": unknown encoding '" + t.encoding + "' (expected int2..int8, fp16, bf16, fp32 or i32)");
  if (t.bits != s.enc.bits)
    refuse(where + ": " + t.encoding + " with bits = " + std::to_string(t.bits) + " (expected " +
           std::to_string(s.enc.bits) + ")");
  if (t.shape.size() > kMaxRank) refuse(where + ": rank " + std::to_string(t.shape.size()) + " > " + std::to_string(kMaxRank));
  for (int64_t d : t.shape)
    if (d < 0) refuse(where + ": negative dimension in " + shape_str(t.shape));
  uint64_t numel = uint64_t(shape_numel(t.shape));

  if (s.enc.code == Encoding::int_n) {
    if (t.values.defined()) refuse(where + ": an integer-quantized tensor carries float values");
    if (t.q.size() != numel)
      refuse(where + ": " + std::to_string(t.q.size()) + " q values for shape " + shape_str(t.shape));
    if (t.group < 0) refuse(where + ": negative group " + std::to_string(t.group));
    if (t.group > 0 && t.per_row) refuse(where + ": grouped scales and per-row scales at once");
    if (t.group > 0) s.enc.code = Encoding::int_n_grouped;
    uint64_t rows = scale_count(t.shape, t.per_row, uint64_t(t.group), numel);
    if (t.scales.size() != rows)
      refuse(where + ": " + std::to_string(t.scales.size()) + " scales, expected " + std::to_string(rows));
    std::string scales(reinterpret_cast<const char*>(t.scales.data()), t.scales.size() * 2);
    s.scales = shuffle ? shuffle_bytes(scales, 2) : scales;
    int lo = -(1 << (s.enc.bits - 1)), hi = (1 << (s.enc.bits - 1)) - 1;
    for (size_t i = 0; i < t.q.size(); i++)
      if (t.q[i] < lo || t.q[i] > hi)
        refuse(where + ": q[" + std::to_string(i) + "] = " + std::to_string(t.q[i]) + " does not fit in " +
               std::to_string(s.enc.bits) + " bits");
    if (packed && s.enc.bits < 8) s.values = pack_bits(t.q, s.enc.bits);
    else s.values.assign(reinterpret_cast<const char*>(t.q.data()), t.q.size());
    return s;
  }

  if (!t.q.empty() || !t.scales.empty() || t.group != 0)
    refuse(where + ": a " + t.encoding + " tensor carries q values, scales or a group");
  if (!t.values.defined()) refuse(where + ": no values");
  if (t.values.device() != Device::cpu) refuse(where + ": values are not on the host");
  if (t.values.dtype() != s.enc.dtype)
    refuse(where + ": " + t.encoding + " values have dtype " + dtype_name(t.values.dtype()) + ", expected " +
           dtype_name(s.enc.dtype));
  if (t.values.shape() != t.shape)
    refuse(where + ": values of shape " + shape_str(t.values.shape()) + " for shape " + shape_str(t.shape));
  std::string_view raw(static_cast<const char*>(t.values.raw()), t.values.nbytes());
  size_t width = dtype_size(s.enc.dtype);
  s.values = shuffle ? shuffle_bytes(raw, width) : std::string(raw);
  return s;
}

// ---- reading -------------------------------------------------------------------------------------

struct TableEntry {
  std::string name, encoding;
  EncodingInfo enc;
  bool per_row = true;
  uint64_t group = 0;
  Shape shape;
  uint64_t scales_offset, scales_length, values_offset, values_length;
};

// The element count of `shape` when numel·bits/8 bytes fit in `limit` bytes; refuses otherwise.
// Dividing instead of multiplying keeps a hostile shape from overflowing on its way past the check
// (the GGUF advisories' route to multi-GB allocations and wrapped offsets).
uint64_t checked_numel(const Shape& shape, int bits, uint64_t limit, const std::string& name, const std::string& where) {
  uint64_t max_elems = limit * 8 / uint64_t(bits), numel = 1;  // limit <= kMaxBody: no overflow
  for (int64_t d : shape)
    if (d == 0) return 0;
  for (int64_t d : shape) {
    if (uint64_t(d) > max_elems / numel)
      artifact_fail(name, where + ": shape " + shape_str(shape) + " needs more than the " + std::to_string(limit) +
                              " bytes of the data section");
    numel *= uint64_t(d);
  }
  return numel;
}

void check_zero(std::string_view bytes, const std::string& name, const std::string& what) {
  for (char c : bytes)
    if (c != 0) artifact_fail(name, "corrupt body: non-zero " + what);
}

}  // namespace

uint16_t artifact_version(const Artifact& a) {
  if (!a.corrections.empty()) return kVersionGrouped;
  for (const QTensor& t : a.tensors)
    if (t.group != 0) return kVersionGrouped;
  return 1;
}

std::string encode_artifact_body(const Artifact& a, uint16_t flags) {
  if (flags & ~kKnownFlags) refuse("unknown flags " + std::to_string(flags));
  const uint16_t version = artifact_version(a);
  bool shuffle = flags & kFlagShuffle, packed = flags & kFlagPacked;

  if (!a.meta.is_null() && !a.meta.is_object()) refuse("the metadata must be a JSON object");
  std::string meta = a.meta.is_null() ? "{}" : a.meta.dump();
  std::set<std::string> source_names;
  for (const auto& [name, text] : a.sources) {
    if (!valid_name(name)) refuse("source name '" + name + "' is empty, too long or has control characters");
    if (!source_names.insert(name).second) refuse("source '" + name + "' appears twice");
  }
  if (a.meta.has("script")) {
    if (!a.meta["script"].is_string()) refuse("metadata 'script' must be a string");
    if (!source_names.count(a.meta["script"].str()))
      refuse("metadata 'script' names '" + a.meta["script"].str() + "', which is not among the sources");
  }
  if (a.sources.size() > UINT32_MAX || a.tensors.size() > UINT32_MAX) refuse("too many sources or tensors");

  std::vector<StoredTensor> stored;
  std::set<std::string> tensor_names;
  for (const QTensor& t : a.tensors) {
    if (!valid_name(t.name)) refuse("tensor name '" + t.name + "' is empty, too long or has control characters");
    if (!tensor_names.insert(t.name).second) refuse("tensor '" + t.name + "' appears twice");
    stored.push_back(store_tensor(t, shuffle, packed));
  }
  std::vector<bool> used(a.tensors.size());
  for (const LowRankCorrection& c : a.corrections)
    if (std::string why = correction_error(a.tensors, c, used); !why.empty()) refuse("a low-rank correction " + why);

  ByteWriter w;
  w.value<uint32_t>(a.op_set.ops);
  w.value<uint64_t>(a.op_set.fingerprint);
  w.value<uint64_t>(meta.size());
  w.bytes(meta.data(), meta.size());
  w.value<uint32_t>(uint32_t(a.sources.size()));
  for (const auto& [name, text] : a.sources) {
    w.value<uint32_t>(uint32_t(name.size()));
    w.bytes(name.data(), name.size());
    w.value<uint64_t>(text.size());
    w.bytes(text.data(), text.size());
  }
  w.value<uint32_t>(uint32_t(a.tensors.size()));
  uint64_t cursor = 0;
  auto place = [&](const std::string& array) {
    uint64_t offset = align_up(cursor);
    cursor = offset + array.size();
    return offset;
  };
  for (size_t i = 0; i < a.tensors.size(); i++) {
    const QTensor& t = a.tensors[i];
    const StoredTensor& s = stored[i];
    w.value<uint32_t>(uint32_t(t.name.size()));
    w.bytes(t.name.data(), t.name.size());
    w.value<uint8_t>(uint8_t(s.enc.code));
    w.value<uint8_t>(uint8_t(s.enc.bits));
    w.value<uint8_t>(t.per_row ? kTensorPerRow : 0);
    w.value<uint8_t>(uint8_t(t.shape.size()));
    for (int64_t d : t.shape) w.value<uint64_t>(uint64_t(d));
    if (s.enc.code == Encoding::int_n_grouped) w.value<uint64_t>(uint64_t(t.group));
    uint64_t scales_offset = place(s.scales);
    w.value<uint64_t>(scales_offset);
    w.value<uint64_t>(s.scales.size());
    uint64_t values_offset = place(s.values);
    w.value<uint64_t>(values_offset);
    w.value<uint64_t>(s.values.size());
  }
  if (version >= kVersionGrouped) {
    w.value<uint32_t>(uint32_t(a.corrections.size()));
    for (const LowRankCorrection& c : a.corrections) {
      w.value<uint32_t>(c.base);
      w.value<uint32_t>(c.a);
      w.value<uint32_t>(c.b);
    }
  }
  w.value<uint64_t>(cursor);
  w.zeros(align_up(w.size()) - w.size());
  uint64_t data_start = w.size();
  for (const StoredTensor& s : stored) {
    for (const std::string* array : {&s.scales, &s.values}) {
      w.zeros(align_up(w.size() - data_start) - (w.size() - data_start));
      w.bytes(array->data(), array->size());
    }
  }
  if (w.size() - data_start != cursor) throw std::logic_error("artifact encoder: data section length mismatch");
  if (w.size() > kMaxBody) refuse("the body is " + std::to_string(w.size()) + " bytes, more than the 1 GiB a reader accepts");
  return std::move(w.out());
}

Artifact decode_artifact_body(std::string_view body, uint16_t version, uint16_t flags, const std::string& name,
                              BodyLayout* layout) {
  if (version == 0 || version > kVersion) artifact_fail(name, "format version " + std::to_string(version) + " is not one this golfrt reads");
  if (flags & ~kKnownFlags) artifact_fail(name, "unknown flags " + std::to_string(flags));
  bool shuffle = flags & kFlagShuffle, packed = flags & kFlagPacked;
  ByteReader r(body, name);
  BodyLayout lay;
  Artifact a;

  a.op_set.ops = r.value<uint32_t>("op count");
  a.op_set.fingerprint = r.value<uint64_t>("op-set fingerprint");

  lay.meta.offset = r.pos();
  auto meta_len = r.value<uint64_t>("metadata length");
  std::string_view meta_text = r.take(meta_len, "metadata");
  lay.meta.length = r.pos() - lay.meta.offset;
  try {
    a.meta = Json::parse(std::string(meta_text), "metadata");
  } catch (const std::exception& e) {
    artifact_fail(name, std::string("corrupt metadata: ") + e.what());
  }
  if (!a.meta.is_object()) artifact_fail(name, "corrupt metadata: not a JSON object");

  lay.sources.offset = r.pos();
  auto source_count = r.value<uint32_t>("source count");
  std::set<std::string> source_names;
  for (uint32_t i = 0; i < source_count; i++) {
    std::string where = "source " + std::to_string(i);
    std::string sname = r.short_string(kMaxNameBytes, where + " name");
    if (!valid_name(sname)) artifact_fail(name, "corrupt body: " + where + " has an empty name or control characters");
    if (!source_names.insert(sname).second) artifact_fail(name, "corrupt body: source '" + sname + "' appears twice");
    auto len = r.value<uint64_t>(where + " length");
    a.sources.emplace_back(std::move(sname), std::string(r.take(len, where + " text")));
  }
  lay.sources.length = r.pos() - lay.sources.offset;
  if (a.meta.has("script")) {
    const Json& s = a.meta["script"];
    if (!s.is_string() || !source_names.count(s.str()))
      artifact_fail(name, "corrupt metadata: 'script' does not name one of the " + std::to_string(source_count) + " sources");
  }

  // The table is read whole before any tensor is allocated: each entry takes at least 41 bytes of
  // the body, so a declared count cannot outrun the bytes actually present.
  lay.table.offset = r.pos();
  auto tensor_count = r.value<uint32_t>("tensor count");
  std::vector<TableEntry> table;
  std::set<std::string> tensor_names;
  for (uint32_t i = 0; i < tensor_count; i++) {
    std::string where = "tensor " + std::to_string(i);
    TableEntry e;
    e.name = r.short_string(kMaxNameBytes, where + " name");
    if (!valid_name(e.name)) artifact_fail(name, "corrupt body: " + where + " has an empty name or control characters");
    if (!tensor_names.insert(e.name).second) artifact_fail(name, "corrupt body: tensor '" + e.name + "' appears twice");
    where = "tensor '" + e.name + "'";
    auto code = r.value<uint8_t>(where + " encoding");
    auto bits = r.value<uint8_t>(where + " bits");
    auto tflags = r.value<uint8_t>(where + " flags");
    auto rank = r.value<uint8_t>(where + " rank");
    if (!encoding_from_code(code, bits, version, &e.enc, &e.encoding))
      artifact_fail(name, "corrupt body: " + where + " has encoding code " + std::to_string(code) + " with " +
                              std::to_string(bits) + " bits");
    if (tflags & ~kTensorPerRow) artifact_fail(name, "corrupt body: " + where + " has unknown flags " + std::to_string(tflags));
    e.per_row = tflags & kTensorPerRow;
    if (rank > kMaxRank) artifact_fail(name, "corrupt body: " + where + " has rank " + std::to_string(rank));
    for (uint8_t k = 0; k < rank; k++) {
      auto d = r.value<uint64_t>(where + " dimension");
      if (d > uint64_t(INT64_MAX)) artifact_fail(name, "corrupt body: " + where + " has a negative dimension");
      e.shape.push_back(int64_t(d));
    }
    if (e.enc.code == Encoding::int_n_grouped) {
      e.group = r.value<uint64_t>(where + " group size");
      if (e.group == 0 || e.group > uint64_t(INT64_MAX))
        artifact_fail(name, "corrupt body: " + where + " has group size " + std::to_string(e.group));
      if (e.per_row) artifact_fail(name, "corrupt body: " + where + " is grouped and per-row at once");
    }
    e.scales_offset = r.value<uint64_t>(where + " scales offset");
    e.scales_length = r.value<uint64_t>(where + " scales length");
    e.values_offset = r.value<uint64_t>(where + " values offset");
    e.values_length = r.value<uint64_t>(where + " values length");
    table.push_back(std::move(e));
  }
  // Version 2: the low-rank corrections, 12 bytes each (checked once the tensors are read).
  std::vector<LowRankCorrection> corrections;
  if (version >= kVersionGrouped) {
    auto count = r.value<uint32_t>("correction count");
    for (uint32_t i = 0; i < count; i++) {
      std::string where = "correction " + std::to_string(i);
      LowRankCorrection c;
      c.base = r.value<uint32_t>(where + " base");
      c.a = r.value<uint32_t>(where + " factor a");
      c.b = r.value<uint32_t>(where + " factor b");
      corrections.push_back(c);
    }
  }
  auto data_length = r.value<uint64_t>("data section length");
  uint64_t padding = align_up(r.pos()) - r.pos();
  check_zero(r.take(padding, "padding before the data section"), name, "padding before the data section");
  lay.table.length = r.pos() - lay.table.offset;
  uint64_t data_start = r.pos();
  std::string_view data = r.take(data_length, "data section");
  if (r.left())
    artifact_fail(name, "corrupt body: " + std::to_string(r.left()) + " bytes after the " + std::to_string(data_length) +
                            "-byte data section");

  // Each array must sit where a writer puts it: at the next aligned offset after the previous one.
  // Checking that (and the lengths the shapes imply) rules out overlaps and out-of-range offsets.
  uint64_t cursor = 0;
  auto array = [&](uint64_t offset, uint64_t length, uint64_t expected_length, const std::string& what) {
    if (offset > data_length || length > data_length - offset)
      artifact_fail(name, "corrupt body: " + what + " at offset " + std::to_string(offset) + " with " +
                              std::to_string(length) + " bytes lies outside the " + std::to_string(data_length) +
                              "-byte data section");
    if (length != expected_length)
      artifact_fail(name, "corrupt body: " + what + " has " + std::to_string(length) + " bytes, its shape needs " +
                              std::to_string(expected_length));
    uint64_t expected_offset = align_up(cursor);
    if (offset != expected_offset)
      artifact_fail(name, "corrupt body: " + what + " at offset " + std::to_string(offset) + ", expected " +
                              std::to_string(expected_offset));
    check_zero(data.substr(cursor, offset - cursor), name, "padding before " + what);
    cursor = offset + length;
    return data.substr(offset, length);
  };

  for (TableEntry& e : table) {
    std::string where = "tensor '" + e.name + "'";
    bool is_int = e.enc.code == Encoding::int_n || e.enc.code == Encoding::int_n_grouped;
    int stored_bits = is_int && !(packed && e.enc.bits < 8) ? 8 : e.enc.bits;
    uint64_t numel = checked_numel(e.shape, stored_bits, data_length, name, where);
    uint64_t rows = 0;
    if (is_int) {
      rows = scale_count(e.shape, e.per_row, e.group, numel);  // may exceed numel when another dimension is 0
      if (rows > data_length / 2)
        artifact_fail(name, "corrupt body: " + where + " needs " + std::to_string(rows) + " scales, more than the data section holds");
    }
    uint64_t values_expected = (numel * uint64_t(stored_bits) + 7) / 8;
    lay.tensors.push_back({});
    std::string_view scales = array(e.scales_offset, e.scales_length, rows * 2, where + " scales");
    lay.tensors.back().scales = {data_start + e.scales_offset, e.scales_length};
    std::string_view values = array(e.values_offset, e.values_length, values_expected, where + " values");
    lay.tensors.back().values = {data_start + e.values_offset, e.values_length};

    QTensor t;
    t.name = std::move(e.name);
    t.shape = e.shape;
    t.encoding = e.encoding;
    t.bits = e.enc.bits;
    t.per_row = e.per_row;
    t.group = int64_t(e.group);
    if (is_int) {
      std::string sc = shuffle ? unshuffle_bytes(scales, 2) : std::string(scales);
      t.scales.resize(rows);
      if (rows) std::memcpy(t.scales.data(), sc.data(), sc.size());
      if (stored_bits < 8) {
        // The last byte's unused high bits must be zero, as a writer leaves them.
        uint64_t used = numel * uint64_t(stored_bits) % 8;
        if (used && (uint8_t(values.back()) >> used) != 0)
          artifact_fail(name, "corrupt body: " + where + " has non-zero padding bits");
        t.q = unpack_bits(std::string(values), stored_bits, numel);
      } else {
        t.q.assign(values.begin(), values.end());
        int lo = -(1 << (e.enc.bits - 1)), hi = (1 << (e.enc.bits - 1)) - 1;
        for (int8_t v : t.q)
          if (v < lo || v > hi)
            artifact_fail(name, "corrupt body: " + where + " holds " + std::to_string(v) + ", outside " + t.encoding);
      }
    } else {
      t.values = Tensor(t.shape, e.enc.dtype);
      std::string raw = shuffle ? unshuffle_bytes(values, dtype_size(e.enc.dtype)) : std::string(values);
      if (!raw.empty()) std::memcpy(t.values.raw(), raw.data(), raw.size());
    }
    if (std::string bad = nonfinite_in(t); !bad.empty())
      artifact_fail(name, "corrupt body: " + where + " holds a value that is not finite: " + bad);
    a.tensors.push_back(std::move(t));
  }
  if (cursor != data_length)
    artifact_fail(name, "corrupt body: " + std::to_string(data_length - cursor) + " bytes after the last tensor's data");
  std::vector<bool> used(a.tensors.size());
  for (size_t i = 0; i < corrections.size(); i++)
    if (std::string why = correction_error(a.tensors, corrections[i], used); !why.empty())
      artifact_fail(name, "corrupt body: correction " + std::to_string(i) + " " + why);
  a.corrections = std::move(corrections);
  if (layout) *layout = std::move(lay);
  return a;
}

}  // namespace golf
