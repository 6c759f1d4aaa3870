#include "runtime/data/shard.h"

#include <sys/stat.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "runtime/fs.h"

namespace golf {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

int32_t le_i32(const unsigned char* p) {
  return int32_t(uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24);
}

struct File {
  std::FILE* f = nullptr;
  ~File() {
    if (f) std::fclose(f);
  }
};

// Opens the shard, checks its header against the file size and returns the token count with the
// stream positioned after the header.
int64_t open_checked(const std::string& path, File& file) {
  file.f = std::fopen(path.c_str(), "rb");
  if (!file.f) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (::fstat(::fileno(file.f), &st) != 0) fail(path, std::string("cannot stat: ") + std::strerror(errno));
  int64_t size = int64_t(st.st_size);
  if (size < kShardHeaderBytes)
    fail(path, "not a token shard: " + std::to_string(size) + " bytes, shorter than the 1024-byte header");
  unsigned char header[kShardHeaderBytes];
  if (std::fread(header, 1, sizeof header, file.f) != sizeof header) fail(path, "cannot read the header");
  int32_t magic = le_i32(header), version = le_i32(header + 4), count = le_i32(header + 8);
  if (magic != kShardMagic)
    fail(path, "not a token shard: magic " + std::to_string(magic) + ", expected " + std::to_string(kShardMagic));
  if (version != kShardVersion)
    fail(path, "unsupported shard version " + std::to_string(version) + ", expected " + std::to_string(kShardVersion));
  if (count < 0) fail(path, "negative token count " + std::to_string(count));
  int64_t expect = kShardHeaderBytes + 2 * int64_t(count);
  if (size != expect)
    fail(path, "file is " + std::to_string(size) + " bytes but its header says " + std::to_string(count) +
                   " tokens (" + std::to_string(expect) + " bytes)");
  return count;
}

void read_tokens(const std::string& path, File& file, uint16_t* out, int64_t n) {
  if (n > 0 && std::fread(out, 2, size_t(n), file.f) != size_t(n)) fail(path, "short read");
  if constexpr (std::endian::native == std::endian::big)
    for (int64_t i = 0; i < n; i++) out[i] = uint16_t(out[i] >> 8 | out[i] << 8);
}

void check_vocab(const std::string& path, const uint16_t* t, int64_t n, int64_t first_pos, int64_t vocab) {
  if (vocab <= 0) return;
  for (int64_t i = 0; i < n; i++)
    if (t[i] >= vocab)
      fail(path, "token " + std::to_string(t[i]) + " at position " + std::to_string(first_pos + i) +
                     " is outside the vocabulary of " + std::to_string(vocab));
}

}  // namespace

int64_t shard_token_count(const std::string& path) {
  File file;
  return open_checked(path, file);
}

std::vector<uint16_t> read_shard(const std::string& path, int64_t vocab) {
  File file;
  int64_t n = open_checked(path, file);  // sizes checked before anything is allocated
  std::vector<uint16_t> tokens(static_cast<size_t>(n));
  read_tokens(path, file, tokens.data(), n);
  check_vocab(path, tokens.data(), n, 0, vocab);
  return tokens;
}

std::vector<uint16_t> read_shard_range(const std::string& path, int64_t begin, int64_t n, int64_t vocab) {
  File file;
  int64_t count = open_checked(path, file);
  if (begin < 0 || n < 0 || begin + n > count)
    fail(path, "tokens [" + std::to_string(begin) + ", " + std::to_string(begin + n) + ") are outside its " +
                   std::to_string(count) + " tokens");
  if (std::fseek(file.f, long(kShardHeaderBytes + 2 * begin), SEEK_SET) != 0) fail(path, "cannot seek");
  std::vector<uint16_t> tokens(static_cast<size_t>(n));
  read_tokens(path, file, tokens.data(), n);
  check_vocab(path, tokens.data(), n, begin, vocab);
  return tokens;
}

void write_shard(const std::string& path, const std::vector<uint16_t>& tokens) {
  if (tokens.size() > size_t(INT32_MAX)) fail(path, "too many tokens for one shard: " + std::to_string(tokens.size()));
  std::string bytes(size_t(kShardHeaderBytes) + 2 * tokens.size(), '\0');
  auto put_i32 = [&](size_t at, uint32_t v) {
    for (int b = 0; b < 4; b++) bytes[at + b] = char((v >> (8 * b)) & 0xff);
  };
  put_i32(0, uint32_t(kShardMagic));
  put_i32(4, uint32_t(kShardVersion));
  put_i32(8, uint32_t(tokens.size()));
  char* p = bytes.data() + kShardHeaderBytes;
  for (size_t i = 0; i < tokens.size(); i++) {
    p[2 * i] = char(tokens[i] & 0xff);
    p[2 * i + 1] = char(tokens[i] >> 8);
  }
  write_file_atomic(path, bytes);
}

}  // namespace golf
