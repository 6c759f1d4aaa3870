// Little-endian byte writing and bounded reading for the artifact. The reader knows how many bytes
// are left and checks every declared length against that before anything is allocated or copied.
#pragma once
#include <bit>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace golf {

static_assert(std::endian::native == std::endian::little, "the artifact code assumes a little-endian host");

// "artifact NAME: what" — every refusal names the file.
[[noreturn]] inline void artifact_fail(const std::string& name, const std::string& what) {
  throw std::runtime_error("artifact " + name + ": " + what);
}

class ByteWriter {
 public:
  std::string& out() { return out_; }
  size_t size() const { return out_.size(); }
  void bytes(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  template <class T> void value(T v) { bytes(&v, sizeof v); }
  void zeros(size_t n) { out_.append(n, '\0'); }

 private:
  std::string out_;
};

class ByteReader {
 public:
  ByteReader(std::string_view data, const std::string& name) : data_(data), name_(name) {}

  uint64_t pos() const { return pos_; }
  uint64_t left() const { return data_.size() - pos_; }

  // A view of the next n bytes (no copy); refuses when fewer are left.
  std::string_view take(uint64_t n, const std::string& what) {
    if (n > left())
      artifact_fail(name_, "truncated body: " + what + " needs " + std::to_string(n) + " bytes, " +
                               std::to_string(left()) + " left");
    std::string_view v = data_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  template <class T> T value(const std::string& what) {
    T v;
    std::memcpy(&v, take(sizeof v, what).data(), sizeof v);
    return v;
  }
  // A u32-length-prefixed string of at most max_len bytes.
  std::string short_string(uint32_t max_len, const std::string& what) {
    auto n = value<uint32_t>(what + " length");
    if (n > max_len)
      artifact_fail(name_, what + " is " + std::to_string(n) + " bytes long, more than the " + std::to_string(max_len) +
                               " allowed");
    return std::string(take(n, what));
  }

 private:
  std::string_view data_;
  const std::string& name_;
  uint64_t pos_ = 0;
};

}  // namespace golf
