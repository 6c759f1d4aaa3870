// Files: read whole, and write atomically (temp file in the same folder, fsync, rename, fsync of
// the folder), so a reader never sees half a checkpoint, shard or artifact, and a killed writer
// leaves the old file intact.
#pragma once
#include <string>
#include <string_view>

namespace golf {

std::string read_file(const std::string& path);  // throws naming the path
void write_file_atomic(const std::string& path, std::string_view bytes);
bool file_exists(const std::string& path);
void make_dirs(const std::string& path);  // mkdir -p; throws naming the path
std::string path_join(const std::string& a, const std::string& b);

}  // namespace golf
