// The artifact's checksums (docs/artifact.md): XXH64 with seed 0, over the header's first 40
// bytes, over the compressed body, and over the op names (the op-set fingerprint). Golden values:
// hashing/tests/checksum_test.cc.
#pragma once
#include <cstdint>
#include <string_view>

namespace golf::hashing {

uint64_t checksum(std::string_view bytes);

}  // namespace golf::hashing
