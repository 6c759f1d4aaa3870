#include "runtime/tensor_file.h"

#include "runtime/fs.h"

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace golf {
namespace {

// The format is little-endian and the bytes are copied as they are.
static_assert(std::endian::native == std::endian::little, "tensor dump I/O assumes a little-endian host");

constexpr char kMagic[8] = {'G', 'O', 'L', 'F', 'T', 'D', 'M', 'P'};
constexpr uint32_t kVersion = 1;
constexpr uint8_t kDTypeCount = 8;  // codes 0..7, golf::DType's order

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("tensor dump " + path + ": " + what);
}

// Reads from memory, knowing how many bytes are left so no declared size is trusted blindly.
class Reader {
 public:
  Reader(const std::string& bytes, const std::string& path) : data_(bytes), path_(path) {}

  uint64_t left() const { return data_.size() - pos_; }

  void bytes(void* dst, uint64_t n, const std::string& what) {
    if (n > left())
      fail(path_, "truncated: " + what + " needs " + std::to_string(n) + " bytes, " + std::to_string(left()) +
                      " left");
    if (n) std::memcpy(dst, data_.data() + pos_, n);
    pos_ += n;
  }
  template <class T> T value(const std::string& what) {
    T v;
    bytes(&v, sizeof v, what);
    return v;
  }

 private:
  const std::string& data_;
  const std::string& path_;
  uint64_t pos_ = 0;
};

}  // namespace

TensorList decode_tensors(const std::string& bytes, const std::string& path) {
  Reader r(bytes, path);

  char magic[8];
  r.bytes(magic, 8, "magic");
  if (std::memcmp(magic, kMagic, 8) != 0) fail(path, "bad magic (not a golfrt tensor dump)");
  auto version = r.value<uint32_t>("version");
  if (version != kVersion)
    fail(path, "unsupported version " + std::to_string(version) + " (expected " + std::to_string(kVersion) + ")");
  auto count = r.value<uint32_t>("entry count");

  TensorList out;
  for (uint32_t i = 0; i < count; i++) {
    std::string where = "entry " + std::to_string(i);
    auto name_len = r.value<uint32_t>(where + " name length");
    if (name_len > r.left()) fail(path, "truncated: " + where + " name of " + std::to_string(name_len) + " bytes");
    std::string name(name_len, '\0');
    r.bytes(name.data(), name_len, where + " name");
    where += " '" + name + "'";

    auto code = r.value<uint8_t>(where + " dtype");
    auto rank = r.value<uint8_t>(where + " rank");
    auto reserved = r.value<uint16_t>(where + " reserved");
    if (code >= kDTypeCount) fail(path, where + ": unknown dtype code " + std::to_string(code));
    if (reserved != 0) fail(path, where + ": reserved field is " + std::to_string(reserved) + ", expected 0");
    DType dtype = static_cast<DType>(code);

    Shape shape(rank);
    r.bytes(shape.data(), uint64_t(rank) * 8, where + " dims");
    // The byte count must fit in what is left of the file; dividing instead of multiplying keeps a
    // hostile shape from overflowing on its way past that check.
    for (int64_t d : shape)
      if (d < 0) fail(path, where + ": negative dimension in " + shape_str(shape));
    uint64_t limit = r.left() / dtype_size(dtype), numel = 1;
    for (int64_t d : shape) {
      if (d == 0) {
        numel = 0;
        break;
      }
      if (uint64_t(d) > limit / numel)
        fail(path, where + ": shape " + shape_str(shape) + " " + dtype_name(dtype) + " is larger than the " +
                       std::to_string(r.left()) + " bytes left in the file");
      numel *= uint64_t(d);
    }
    Tensor t(shape, dtype);
    r.bytes(t.raw(), t.nbytes(), where + " data");
    out.emplace_back(std::move(name), std::move(t));
  }
  if (r.left() != 0) fail(path, std::to_string(r.left()) + " trailing bytes after " + std::to_string(count) + " entries");
  return out;
}

std::string encode_tensors(const TensorList& entries, const std::string& path) {
  if (entries.size() > std::numeric_limits<uint32_t>::max()) fail(path, "too many entries");
  std::string out;
  auto put = [&](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); };
  auto put_u32 = [&](uint32_t v) { put(&v, 4); };

  put(kMagic, 8);
  put_u32(kVersion);
  put_u32(uint32_t(entries.size()));
  for (const auto& [name, t] : entries) {
    if (t.device() != Device::cpu) fail(path, "entry '" + name + "' is not a host tensor");
    if (!t.defined()) fail(path, "entry '" + name + "' is an undefined tensor");
    if (t.rank() > 255) fail(path, "entry '" + name + "' has rank " + std::to_string(t.rank()) + " > 255");
    if (name.size() > std::numeric_limits<uint32_t>::max()) fail(path, "entry name too long");
    put_u32(uint32_t(name.size()));
    put(name.data(), name.size());
    uint8_t header[4] = {uint8_t(t.dtype()), uint8_t(t.rank()), 0, 0};
    put(header, 4);
    put(t.shape().data(), t.shape().size() * 8);
    if (t.nbytes()) put(t.raw(), t.nbytes());
  }
  return out;
}

TensorList read_tensor_dump(const std::string& path) { return decode_tensors(read_file(path), path); }

void write_tensor_dump(const std::string& path, const TensorList& entries) {
  write_file_atomic(path, encode_tensors(entries, path));
}

}  // namespace golf
