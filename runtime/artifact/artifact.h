// The artifact: one little-endian file holding everything a decoder needs to rebuild and run a
// model — metadata, the Lua sources, and the quantized tensors — in a compressed, checksummed
// body. docs/artifact.md specifies the bytes. The whole file counts against the 16,000,000-byte
// budget of parameter golf.
//
// Reading is defensive: a corrupt, truncated, foreign or newer-version file is refused with a
// std::runtime_error naming the file and the problem, and no declared count or size makes the
// reader allocate more than a bounded multiple of the file's length.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/artifact/format.h"
#include "runtime/json.h"
#include "runtime/quant/quantize.h"

namespace golf {

constexpr uint64_t kArtifactBudget = 16'000'000;  // parameter golf's limit, decimal bytes

// Which op table the model was built against: the number of ops and an xxh64 over their names in
// order (runtime/artifact/op_set.h computes the running golfrt's). The encoder writes what it is
// given; a decoder compares it with its own to say why a script no longer builds.
struct OpSet {
  uint32_t ops = 0;
  uint64_t fingerprint = 0;
};

// A low-rank correction (LQER, format version 2): the decoder's weight for tensor `base` is
// dequantize(base) + dequantize(a) · dequantize(b), a [rows, r] and b [r, cols] for base [rows, cols]
// (runtime/quant/lqer.h). Indices into Artifact::tensors; a tensor takes part in one correction at
// most.
struct LowRankCorrection {
  uint32_t base = 0, a = 0, b = 0;
  bool operator==(const LowRankCorrection&) const = default;
};

struct Artifact {
  Json meta;  // an object; meta["script"], when present, names one of `sources`
  std::vector<std::pair<std::string, std::string>> sources;  // Lua module name -> source
  std::vector<QTensor> tensors;
  std::vector<LowRankCorrection> corrections;
  OpSet op_set;
};

// The lowest format version that holds `a`: 2 when it has a grouped tensor or a correction, else 1.
uint16_t artifact_version(const Artifact& a);

struct ArtifactOptions {
  std::string codec = "auto";  // zstd | brotli | auto (the smaller; zstd on a tie) | none
  bool shuffle = true;         // byte-shuffle planes of multi-byte arrays before compression
  bool packed = true;          // intN bit-packed, else one int8 container per value
};

// The fixed-size header at the start of the file.
struct ArtifactHeader {
  uint16_t version = 0;
  uint16_t flags = 0;
  artifact_format::Codec codec = artifact_format::Codec::none;
  uint64_t body_bytes = 0;        // decompressed
  uint64_t compressed_bytes = 0;  // as stored after the header
  uint64_t body_hash = 0;         // xxh64 of the compressed body
  uint64_t header_hash = 0;       // xxh64 of header bytes [0, 40)
  bool shuffle() const { return flags & artifact_format::kFlagShuffle; }
  bool packed() const { return flags & artifact_format::kFlagPacked; }
};

// Throws std::invalid_argument on an artifact that cannot be written (an unknown encoding, a q
// value out of range, a script name that is not among the sources, ...).
std::string encode_artifact(const Artifact& a, const ArtifactOptions& opt = {});
// `name` appears in every message (the path, or "fuzz"). verify_checksums = false skips both
// xxh64 checks so that fuzzing reaches the parser behind them; everything else is still checked.
Artifact decode_artifact(const std::string& bytes, const std::string& name, bool verify_checksums = true);
// The header alone, fully validated against the file's length (and its checksums when asked).
ArtifactHeader decode_artifact_header(std::string_view bytes, const std::string& name, bool verify_checksums = true);
// The body decompressed and checked against the header, not yet parsed.
std::string decompress_artifact_body(const std::string& bytes, const std::string& name, const ArtifactHeader& h);

void write_artifact(const std::string& path, const Artifact& a, const ArtifactOptions& opt = {});  // atomic
Artifact read_artifact(const std::string& path);

}  // namespace golf
