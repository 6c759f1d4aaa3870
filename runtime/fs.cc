#include "runtime/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace golf {

namespace {
[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error(path + ": " + what + ": " + std::strerror(errno));
}
}  // namespace

RegularFile::RegularFile(const std::string& path) : path_(path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) fail("cannot open", path);
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    ::close(fd_);
    fail("cannot stat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    const char* kind = S_ISDIR(st.st_mode) ? "a folder" : S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISCHR(st.st_mode) ? "a character device"
                       : S_ISBLK(st.st_mode) ? "a block device" : S_ISSOCK(st.st_mode) ? "a socket" : "not a plain file";
    throw std::runtime_error(path + ": is " + std::string(kind) + "; only regular files are read");
  }
  size_ = uint64_t(st.st_size);
}

RegularFile::~RegularFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string RegularFile::read(uint64_t n) {
  std::string out(size_t(n), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t got = ::read(fd_, out.data() + done, out.size() - done);
    if (got < 0) {
      if (errno == EINTR) continue;
      fail("cannot read", path_);
    }
    if (got == 0)
      throw std::runtime_error(path_ + ": the file ended after " + std::to_string(done) + " of the " + std::to_string(n) +
                               " bytes to read (was it changed while being read?)");
    done += size_t(got);
  }
  return out;
}

std::string read_file(const std::string& path, uint64_t max_bytes) {
  RegularFile f(path);
  if (f.size() > max_bytes)
    throw std::runtime_error(path + ": " + std::to_string(f.size()) + " bytes, more than the " + std::to_string(max_bytes) +
                             " this file may have");
  return f.read(f.size());
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot create", tmp);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail("cannot write", tmp);
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    fail("cannot fsync", tmp);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    fail("cannot rename into place", path);
  }
  // The rename is durable only once the folder's entry is on disk.
  size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

void make_dirs(const std::string& path) {
  if (path.empty()) return;
  std::string cur;
  for (size_t i = 0; i <= path.size(); i++) {
    if (i == path.size() || path[i] == '/') {
      if (!cur.empty() && !file_exists(cur) && ::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
        fail("cannot create folder", cur);
    }
    if (i < path.size()) cur += path[i];
  }
}

std::string path_join(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty() || b[0] == '/') return a.empty() ? b : (b.empty() ? a : b);
  return a.back() == '/' ? a + b : a + "/" + b;
}

}  // namespace golf
