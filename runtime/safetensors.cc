#include "runtime/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "runtime/fs.h"
#include "runtime/json.h"

namespace golf {

namespace {

// The largest header PyTorch's and Hugging Face's readers accept; a bigger N is a corrupt file.
constexpr uint64_t kMaxHeader = uint64_t(100) << 20;
constexpr size_t kMaxNameLength = 1024;
constexpr size_t kMaxRank = 16;

struct DTypeInfo {
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
                                 {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
                                 {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8}};

size_t dtype_bytes(const std::string& dtype, const std::string& what) {
  for (const DTypeInfo& d : kDTypes)
    if (dtype == d.name) return d.size;
  throw std::runtime_error(what + ": unknown dtype '" + dtype + "' (safetensors has BOOL, U8, I8, I16, U16, I32, U32, I64, "
                                  "U64, F8_E4M3, F8_E5M2, F16, BF16, F32, F64)");
}

// A JSON number that must be a whole count in [0, 2^53] (larger ones do not survive a double).
uint64_t count_field(const Json& v, const std::string& what) {
  if (!v.is_number()) throw std::runtime_error(what + " must be a number");
  const double n = v.number();
  if (!(n >= 0) || n > 9007199254740992.0 || n != std::floor(n))
    throw std::runtime_error(what + " must be a whole number from 0 to 2^53, not " + v.dump());
  return uint64_t(n);
}

bool printable_name(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

uint64_t read_u64_le(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | uint8_t(p[i]);
  return v;
}

template <class T>
T load(const std::string& bytes, int64_t i) {
  T v;
  std::memcpy(&v, bytes.data() + size_t(i) * sizeof(T), sizeof(T));
  return v;
}

}  // namespace

SafetensorsFile parse_safetensors(std::string_view bytes, const std::string& name) {
  if (bytes.size() < 8)
    throw std::runtime_error(name + ": not a safetensors file: " + std::to_string(bytes.size()) +
                             " bytes, fewer than the 8-byte header length");
  const uint64_t header_len = read_u64_le(bytes.data());
  if (header_len > bytes.size() - 8)
    throw std::runtime_error(name + ": the header length is " + std::to_string(header_len) + " bytes but the file has only " +
                             std::to_string(bytes.size() - 8) + " after it (not a safetensors file, or cut short)");
  if (header_len > kMaxHeader)
    throw std::runtime_error(name + ": the header length " + std::to_string(header_len) + " is over the 100 MiB limit");
  if (header_len < 2 || bytes[8] != '{')
    throw std::runtime_error(name + ": the header is not a JSON object (a safetensors header starts with '{')");
  const std::string header(bytes.substr(8, size_t(header_len)));
  const std::string_view data = bytes.substr(8 + size_t(header_len));
  Json h;
  try {
    h = Json::parse(header, name + " (header)");
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
  if (!h.is_object()) throw std::runtime_error(name + ": the header is not a JSON object");

  SafetensorsFile f;
  struct Span {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Span> spans;
  for (const auto& [key, v] : h.fields()) {
    if (key == "__metadata__") {
      if (!v.is_object()) throw std::runtime_error(name + ": __metadata__ must be an object of strings");
      for (const auto& [mk, mv] : v.fields()) {
        if (!mv.is_string()) throw std::runtime_error(name + ": __metadata__." + mk + " must be a string");
        f.metadata[mk] = mv.str();
      }
      continue;
    }
    if (key.empty() || key.size() > kMaxNameLength || !printable_name(key))
      throw std::runtime_error(name + ": a tensor name is empty, longer than " + std::to_string(kMaxNameLength) +
                               " bytes or holds control characters");
    const std::string what = name + ": tensor '" + key + "'";
    if (!v.is_object()) throw std::runtime_error(what + ": its entry must be an object");
    for (const auto& [field, _] : v.fields())
      if (field != "dtype" && field != "shape" && field != "data_offsets")
        throw std::runtime_error(what + ": unknown field '" + field + "' (a tensor has dtype, shape and data_offsets)");
    if (!v["dtype"].is_string()) throw std::runtime_error(what + ": dtype must be a string");
    if (!v["shape"].is_array()) throw std::runtime_error(what + ": shape must be an array");
    if (!v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
      throw std::runtime_error(what + ": data_offsets must be [begin, end]");
    SafeTensor t;
    t.dtype = v["dtype"].str();
    const size_t elem = dtype_bytes(t.dtype, what);
    if (v["shape"].size() > kMaxRank) throw std::runtime_error(what + ": rank " + std::to_string(v["shape"].size()) + " is over 16");
    bool empty = false;
    for (const Json& d : v["shape"].items()) {
      t.shape.push_back(int64_t(count_field(d, what + ": a shape dimension")));
      empty = empty || t.shape.back() == 0;
    }
    uint64_t numel = empty ? 0 : 1;
    for (int64_t n : t.shape) {
      // Bounded by the data before multiplying on, so the product never wraps.
      if (empty) break;
      if (numel > data.size() / uint64_t(n))
        throw std::runtime_error(what + ": shape " + shape_str(t.shape) + " holds more elements than the file has bytes");
      numel *= uint64_t(n);
    }
    if (numel > data.size() / elem)
      throw std::runtime_error(what + ": shape " + shape_str(t.shape) + " of " + t.dtype + " is larger than the file's data (" +
                               std::to_string(data.size()) + " bytes)");
    const uint64_t nbytes = numel * elem;
    const uint64_t begin = count_field(v["data_offsets"][0], what + ": data_offsets[0]");
    const uint64_t end = count_field(v["data_offsets"][1], what + ": data_offsets[1]");
    if (begin > end || end > data.size())
      throw std::runtime_error(what + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                               "] do not lie within the data (" + std::to_string(data.size()) + " bytes)");
    if (end - begin != nbytes)
      throw std::runtime_error(what + ": data_offsets span " + std::to_string(end - begin) + " bytes, but shape " +
                               shape_str(t.shape) + " of " + t.dtype + " takes " + std::to_string(nbytes));
    t.bytes = std::string(data.substr(size_t(begin), size_t(nbytes)));
    auto it = f.tensors.emplace(key, std::move(t)).first;
    spans.push_back({begin, end, &it->first});
  }
  // The tensors tile the data exactly: no gap, no overlap, nothing after the last one.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t at = 0;
  for (const Span& s : spans) {
    if (s.begin != at)
      throw std::runtime_error(name + ": tensor '" + *s.name + "' starts at data byte " + std::to_string(s.begin) + ", but " +
                               (s.begin < at ? "the tensor before it ends at " : "the bytes before it end at ") +
                               std::to_string(at) + (s.begin < at ? " (overlapping tensors)" : " (a gap no tensor covers)"));
    at = s.end;
  }
  if (at != data.size())
    throw std::runtime_error(name + ": " + std::to_string(data.size() - at) + " bytes after the last tensor's data");
  return f;
}

SafetensorsFile read_safetensors(const std::string& path) { return parse_safetensors(read_file(path), path); }

Tensor safetensor_to_f32(const SafeTensor& t, const std::string& what) {
  Tensor out(t.shape, DType::f32);
  float* o = out.data<float>();
  const int64_t n = out.numel();
  if (t.dtype == "F32") {
    std::memcpy(o, t.bytes.data(), size_t(n) * 4);
  } else if (t.dtype == "BF16") {
    for (int64_t i = 0; i < n; i++) o[i] = bf16_to_f32(load<uint16_t>(t.bytes, i));
  } else if (t.dtype == "F16") {
    for (int64_t i = 0; i < n; i++) o[i] = f16_to_f32(load<uint16_t>(t.bytes, i));
  } else if (t.dtype == "F64") {
    for (int64_t i = 0; i < n; i++) o[i] = float(load<double>(t.bytes, i));
  } else {
    throw std::runtime_error(what + " is " + t.dtype + "; a real-valued tensor must be F32, BF16, F16 or F64");
  }
  return out;
}

Tensor safetensor_to_i32(const SafeTensor& t, const std::string& what) {
  Tensor out(t.shape, DType::i32);
  int32_t* o = out.data<int32_t>();
  const int64_t n = out.numel();
  auto put = [&](int64_t i, int64_t v) {
    if (v < INT32_MIN || v > INT32_MAX)
      throw std::runtime_error(what + ": element " + std::to_string(i) + " (" + std::to_string(v) + ") does not fit in int32");
    o[i] = int32_t(v);
  };
  if (t.dtype == "I32") std::memcpy(o, t.bytes.data(), size_t(n) * 4);
  else if (t.dtype == "I64") for (int64_t i = 0; i < n; i++) put(i, load<int64_t>(t.bytes, i));
  else if (t.dtype == "I16") for (int64_t i = 0; i < n; i++) put(i, load<int16_t>(t.bytes, i));
  else if (t.dtype == "I8") for (int64_t i = 0; i < n; i++) put(i, load<int8_t>(t.bytes, i));
  else if (t.dtype == "U8") for (int64_t i = 0; i < n; i++) put(i, load<uint8_t>(t.bytes, i));
  else throw std::runtime_error(what + " is " + t.dtype + "; an integer tensor must be I64, I32, I16, I8 or U8");
  return out;
}

std::string encode_safetensors(const std::map<std::string, Tensor>& tensors, const std::map<std::string, std::string>& metadata) {
  Json h = Json::object();
  if (!metadata.empty()) {
    Json m = Json::object();
    for (const auto& [k, v] : metadata) m.set(k, v);
    h.set("__metadata__", m);
  }
  std::string data;
  for (const auto& [name, t] : tensors) {
    const char* dtype = t.dtype() == DType::f32    ? "F32"
                        : t.dtype() == DType::bf16 ? "BF16"
                        : t.dtype() == DType::f16  ? "F16"
                        : t.dtype() == DType::f64  ? "F64"
                        : t.dtype() == DType::i32  ? "I32"
                                                   : nullptr;
    if (!dtype) throw std::invalid_argument("encode_safetensors: '" + name + "' is " + dtype_name(t.dtype()));
    Json e = Json::object();
    e.set("dtype", dtype);
    Json shape = Json::array();
    for (int64_t d : t.shape()) shape.push(d);
    e.set("shape", shape);
    Json off = Json::array();
    off.push(int64_t(data.size()));
    if (t.nbytes() > 0) data.append(static_cast<const char*>(t.raw()), t.nbytes());
    off.push(int64_t(data.size()));
    e.set("data_offsets", off);
    h.set(name, e);
  }
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; i++) out[size_t(i)] = char((uint64_t(header.size()) >> (8 * i)) & 0xff);
  return out + header + data;
}

}  // namespace golf
