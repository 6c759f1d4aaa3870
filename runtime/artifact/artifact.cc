#include "runtime/artifact/artifact.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "hashing/checksum.h"
#include "runtime/artifact/body.h"
#include "runtime/artifact/byte_io.h"
#include "runtime/artifact/codec.h"
#include "runtime/fs.h"

namespace golf {

using namespace artifact_format;

namespace {

std::string hex16(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", v);
  return buf;
}

// The magic as text for a message, with non-printable bytes escaped.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (uint8_t(c) >= 0x20 && uint8_t(c) < 0x7f) out += c;
    else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", unsigned(uint8_t(c)));
      out += buf;
    }
  }
  return out;
}

std::string encode_header(uint16_t version, uint16_t flags, Codec codec, uint64_t body_bytes, std::string_view compressed) {
  ByteWriter w;
  w.bytes(kMagic, 4);
  w.value<uint16_t>(version);
  w.value<uint16_t>(flags);
  w.value<uint8_t>(uint8_t(codec));
  w.zeros(7);
  w.value<uint64_t>(body_bytes);
  w.value<uint64_t>(compressed.size());
  w.value<uint64_t>(hashing::checksum(compressed));
  w.value<uint64_t>(hashing::checksum(w.out()));
  return std::move(w.out());
}

}  // namespace

std::string encode_artifact(const Artifact& a, const ArtifactOptions& opt) {
  std::vector<Codec> tries;
  try {
    tries = codecs_for_setting(opt.codec);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("artifact encoder: ") + e.what());
  }

  uint16_t flags = (opt.shuffle ? kFlagShuffle : 0) | (opt.packed ? kFlagPacked : 0);
  std::string body = encode_artifact_body(a, flags);

  std::string best;
  Codec best_codec = Codec::none;
  bool found = false;
  for (Codec c : tries) {
    std::string packed = compress_body(body, c);
    // A reader refuses a body that claims to expand beyond this bound, so never write one.
    if (body.size() > max_body_for(packed.size())) continue;
    if (!found || packed.size() < best.size()) {
      best = std::move(packed);
      best_codec = c;
      found = true;
    }
  }
  if (!found)
    throw std::invalid_argument("artifact encoder: the " + std::to_string(body.size()) +
                                "-byte body compresses beyond the 64x (+1 MiB) expansion a reader accepts; "
                                "an artifact that is almost all zeros is not worth writing");
  return encode_header(artifact_version(a), flags, best_codec, body.size(), best) + best;
}

ArtifactHeader decode_artifact_header(std::string_view bytes, const std::string& name, bool verify_checksums) {
  std::string_view magic(kMagic, 4);
  if (bytes.size() < kHeaderSize) {
    if (bytes.substr(0, 4) == magic.substr(0, bytes.size() < 4 ? bytes.size() : 4))
      artifact_fail(name, "truncated: " + std::to_string(bytes.size()) + " bytes, the header alone is " +
                              std::to_string(kHeaderSize));
    artifact_fail(name, "not a golfrt artifact (it starts with \"" + printable(bytes.substr(0, 4)) + "\", not \"GOLF\")");
  }
  if (bytes.substr(0, 4) != magic)
    artifact_fail(name, "not a golfrt artifact (it starts with \"" + printable(bytes.substr(0, 4)) + "\", not \"GOLF\")");

  ArtifactHeader h;
  auto at = [&](size_t offset, auto v) {
    std::memcpy(&v, bytes.data() + offset, sizeof v);
    return v;
  };
  h.version = at(4, uint16_t(0));
  // Before the checksum: a later version may lay its header out differently.
  if (h.version > kVersion)
    artifact_fail(name, "format version " + std::to_string(h.version) + " is newer than this golfrt reads (version " +
                            std::to_string(kVersion) + "); decode it with a newer golfrt");
  if (h.version == 0) artifact_fail(name, "corrupt header: format version 0");
  h.flags = at(6, uint16_t(0));
  uint8_t codec = at(8, uint8_t(0));
  h.body_bytes = at(16, uint64_t(0));
  h.compressed_bytes = at(24, uint64_t(0));
  h.body_hash = at(32, uint64_t(0));
  h.header_hash = at(40, uint64_t(0));
  if (verify_checksums && hashing::checksum(bytes.substr(0, kHeaderHashedBytes)) != h.header_hash)
    artifact_fail(name, "corrupt header (checksum mismatch)");
  if (h.flags & ~kKnownFlags) artifact_fail(name, "corrupt header: unknown flags " + hex16(h.flags));
  if (codec >= kCodecCount) artifact_fail(name, "corrupt header: unknown codec id " + std::to_string(codec));
  h.codec = Codec(codec);
  for (size_t i = 9; i < 16; i++)
    if (bytes[i] != 0) artifact_fail(name, "corrupt header: reserved bytes are not zero");

  uint64_t stored = bytes.size() - kHeaderSize;
  if (h.compressed_bytes > stored)
    artifact_fail(name, "truncated: the header declares a " + std::to_string(h.compressed_bytes) +
                            "-byte compressed body, the file holds " + std::to_string(stored) + " bytes after the header");
  if (h.compressed_bytes < stored)
    artifact_fail(name, "corrupt: " + std::to_string(stored - h.compressed_bytes) + " bytes after the " +
                            std::to_string(h.compressed_bytes) + "-byte compressed body");
  uint64_t limit = h.codec == Codec::none ? h.compressed_bytes : max_body_for(h.compressed_bytes);
  if (h.body_bytes > limit)
    artifact_fail(name, "corrupt header: it declares a body of " + std::to_string(h.body_bytes) +
                            " bytes decompressed, more than a " + std::to_string(h.compressed_bytes) +
                            "-byte compressed body may expand to (" + std::to_string(limit) + ")");
  if (verify_checksums && hashing::checksum(bytes.substr(kHeaderSize)) != h.body_hash)
    artifact_fail(name, "corrupt body (checksum mismatch)");
  return h;
}

std::string decompress_artifact_body(const std::string& bytes, const std::string& name, const ArtifactHeader& h) {
  return decompress_body(std::string_view(bytes).substr(kHeaderSize), h.codec, h.body_bytes, name);
}

Artifact decode_artifact(const std::string& bytes, const std::string& name, bool verify_checksums) {
  ArtifactHeader h = decode_artifact_header(bytes, name, verify_checksums);
  return decode_artifact_body(decompress_artifact_body(bytes, name, h), h.version, h.flags, name);
}

void write_artifact(const std::string& path, const Artifact& a, const ArtifactOptions& opt) {
  write_file_atomic(path, encode_artifact(a, opt));
}

Artifact read_artifact(const std::string& path) {
  // Only a regular file, and no more of it than its header declares: an artifact's length is
  // fixed by its header, so a huge file (or one still growing) is refused before it is read.
  RegularFile f(path);
  std::string bytes = f.read(std::min<uint64_t>(f.size(), kHeaderSize));
  if (bytes.size() == kHeaderSize && bytes.compare(0, 4, kMagic, 4) == 0) {
    uint64_t declared = 0;
    std::memcpy(&declared, bytes.data() + 24, sizeof declared);
    const uint64_t stored = f.size() - kHeaderSize;
    if (declared > kMaxBody + kExpansionSlack)
      artifact_fail(path, "corrupt header: it declares a " + std::to_string(declared) +
                              "-byte compressed body, more than any artifact may have");
    if (stored > declared)
      artifact_fail(path, "corrupt: " + std::to_string(stored - declared) + " bytes after the " + std::to_string(declared) +
                              "-byte compressed body");
    bytes += f.read(stored);
  }
  return decode_artifact(bytes, path);
}

}  // namespace golf
