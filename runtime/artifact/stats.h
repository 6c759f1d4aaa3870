// Where an artifact's bytes go, for `golfrt inspect`: each tensor's stored (raw) bytes and its
// estimated share of the compressed body. The estimate compresses each part's bytes alone with
// the file's own codec and settings, then scales the estimates so that they sum to the compressed
// body exactly (compressing parts alone loses the matches between them, so each alone overstates).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/artifact/artifact.h"

namespace golf {

struct ArtifactPartStat {
  std::string name;      // a tensor's name, or "metadata" / "sources" / "tensor table"
  std::string encoding;  // tensors only
  Shape shape;           // tensors only
  bool per_row = false;  // tensors only
  int64_t group = 0;     // tensors only: grouped intN's group size (format version 2)
  std::string corrects;  // an LQER factor: the tensor it corrects
  uint64_t raw_bytes = 0;         // as stored in the body before compression (scales + values)
  double compressed_bytes = 0;    // the estimated share of the compressed body
};

struct ArtifactStats {
  ArtifactHeader header;
  OpSet op_set;
  Json meta;
  std::vector<std::pair<std::string, uint64_t>> sources;  // module name, bytes
  std::vector<ArtifactPartStat> sections;                 // metadata, sources, tensor table
  std::vector<ArtifactPartStat> tensors;                  // in table order
  uint64_t header_bytes = 0;  // the fixed header before the body
  uint64_t file_bytes = 0;    // what counts against the budget
};

// Decodes (checksums verified) and measures. Compression runs on up to `threads` threads
// (0 = one per hardware thread).
ArtifactStats artifact_stats(const std::string& bytes, const std::string& name, unsigned threads = 0);

}  // namespace golf
