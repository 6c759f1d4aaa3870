#include "runtime/train/checkpoint.h"

#include <cstring>
#include <stdexcept>

#include "runtime/fs.h"

namespace golf {

namespace {
constexpr char kMagic[8] = {'G', 'O', 'L', 'F', 'C', 'K', 'P', 'T'};
constexpr uint32_t kVersion = 1;
}  // namespace

void write_checkpoint(const std::string& path, const Checkpoint& c) {
  std::string meta = c.meta.dump();
  std::string out(kMagic, 8);
  uint32_t v = kVersion;
  uint64_t n = meta.size();
  out.append(reinterpret_cast<const char*>(&v), 4);
  out.append(reinterpret_cast<const char*>(&n), 8);
  out += meta;
  out += encode_tensors(c.tensors, path);
  write_file_atomic(path, out);
}

Checkpoint read_checkpoint(const std::string& path) {
  std::string bytes = read_file(path);
  if (bytes.size() < 20 || std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw std::runtime_error("checkpoint " + path + ": not a golfrt checkpoint (bad magic)");
  uint32_t v;
  uint64_t n;
  std::memcpy(&v, bytes.data() + 8, 4);
  std::memcpy(&n, bytes.data() + 12, 8);
  if (v != kVersion)
    throw std::runtime_error("checkpoint " + path + ": version " + std::to_string(v) + " (this golfrt reads " +
                             std::to_string(kVersion) + ")");
  if (n > bytes.size() - 20) throw std::runtime_error("checkpoint " + path + ": truncated metadata");
  Checkpoint c;
  c.meta = Json::parse(bytes.substr(20, n), path);
  c.tensors = decode_tensors(bytes.substr(20 + n), path);
  return c;
}

}  // namespace golf
