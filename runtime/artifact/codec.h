// The artifact body's compressors: zstd level 22 with long-distance matching (window up to
// 2^27), Brotli quality 11 with a large window, or none. Decompression writes into a buffer of
// exactly the length the (already bounded) header declares and refuses any other outcome.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/artifact/format.h"

namespace golf {

std::string compress_body(std::string_view raw, artifact_format::Codec codec);
// Throws naming the artifact when the stream is malformed or does not decompress to exactly
// raw_length bytes.
std::string decompress_body(std::string_view compressed, artifact_format::Codec codec, uint64_t raw_length,
                            const std::string& name);

}  // namespace golf
