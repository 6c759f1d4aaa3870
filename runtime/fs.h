// Files: read whole, and write atomically (temp file in the same folder, fsync, rename, fsync of
// the folder), so a reader never sees half a checkpoint, shard or artifact, and a killed writer
// leaves the old file intact.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace golf {

// Reads a regular file whole; a FIFO, device or folder is refused (naming the path) without
// blocking on it or reading from it, and so is a file larger than max_bytes.
std::string read_file(const std::string& path, uint64_t max_bytes = UINT64_MAX);
// The same for a file read in parts (the artifact reader: the header, then only what it declares).
class RegularFile {
 public:
  explicit RegularFile(const std::string& path);
  ~RegularFile();
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;
  uint64_t size() const { return size_; }
  // The next n bytes; throws naming the path when the file ends first.
  std::string read(uint64_t n);

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};
void write_file_atomic(const std::string& path, std::string_view bytes);
bool file_exists(const std::string& path);
void make_dirs(const std::string& path);  // mkdir -p; throws naming the path
std::string path_join(const std::string& a, const std::string& b);

}  // namespace golf
