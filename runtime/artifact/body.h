// The artifact body as it is before compression: op set, metadata (JSON text), Lua sources, the
// tensor table and the aligned data section. The parser here sits behind the checksums, so it is
// what the fuzzer (tests/fuzz/artifact_fuzz.cc) drives directly: it must refuse, never crash, on
// any bytes at all.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/artifact/artifact.h"

namespace golf {

// Where each part lies in a decoded body (byte offsets from the body's start): the size report
// compresses each part alone to estimate its share of the compressed file.
struct BodyLayout {
  struct Range {
    uint64_t offset = 0, length = 0;
  };
  Range meta, sources, table;  // table: the tensor table with the data length and padding after it
  struct TensorRanges {
    Range scales, values;
  };
  std::vector<TensorRanges> tensors;
};

// flags: artifact_format::kFlagShuffle / kFlagPacked. Throws std::invalid_argument on an artifact
// that cannot be written.
std::string encode_artifact_body(const Artifact& a, uint16_t flags);
// The version (artifact_version(a)) decides the layout: version 1 has no grouped encoding and no
// correction table. Throws std::runtime_error naming `name` on anything malformed (a version
// this golfrt does not read included); fills *layout when given.
Artifact decode_artifact_body(std::string_view body, uint16_t version, uint16_t flags, const std::string& name,
                              BodyLayout* layout = nullptr);

}  // namespace golf
