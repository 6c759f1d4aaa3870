// The artifact body's compressors: zstd level 22 with long-distance matching (window up to
// 2^27), Brotli quality 11 with a large window, or none. Decompression writes into a buffer of
// exactly the length the (already bounded) header declares and refuses any other outcome.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/artifact/format.h"

namespace golf {

// The codecs the writer tries for the quant table's `codec` setting: zstd, brotli, none, or auto
// (zstd and brotli, the smaller kept). Throws naming the setting for any other value, so a script
// can be checked before training rather than when its artifact is written.
std::vector<artifact_format::Codec> codecs_for_setting(const std::string& setting);

std::string compress_body(std::string_view raw, artifact_format::Codec codec);
// Throws naming the artifact when the stream is malformed or does not decompress to exactly
// raw_length bytes.
std::string decompress_body(std::string_view compressed, artifact_format::Codec codec, uint64_t raw_length,
                            const std::string& name);

}  // namespace golf
