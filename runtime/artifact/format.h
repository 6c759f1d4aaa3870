// The numbers that define the artifact format (docs/artifact.md specifies it byte by byte). The
// container (artifact.cc), the body (body.cc) and the size report (stats.cc) share them.
#pragma once
#include <cstdint>
#include <string>

namespace golf::artifact_format {

constexpr char kMagic[4] = {'G', 'O', 'L', 'F'};
// The newest version this golfrt reads. Version 2 added grouped intN (encoding 6) and the
// low-rank correction table (LQER); a writer writes version 1 whenever an artifact uses neither,
// so every artifact a version-1 reader could read is still written as one, byte for byte.
constexpr uint16_t kVersion = 2;
constexpr uint16_t kVersionGrouped = 2;
constexpr size_t kHeaderSize = 48;
constexpr size_t kHeaderHashedBytes = 40;  // the header checksum covers bytes [0, 40)

// Header flags.
constexpr uint16_t kFlagShuffle = 1u << 0;  // multi-byte arrays are stored as byte planes
constexpr uint16_t kFlagPacked = 1u << 1;   // intN values are bit-packed, else one byte each
constexpr uint16_t kKnownFlags = kFlagShuffle | kFlagPacked;

enum class Codec : uint8_t { none = 0, zstd = 1, brotli = 2 };
constexpr uint8_t kCodecCount = 3;
const char* codec_name(Codec c);

// Tensor encodings in the tensor table.
// int_n_grouped (version 2): intN with one scale per `group` consecutive elements of the
// flattened tensor (the last group may be shorter), the group size stored in the table entry.
enum class Encoding : uint8_t { int_n = 1, fp16 = 2, bf16 = 3, fp32 = 4, i32 = 5, int_n_grouped = 6 };

// Every data array starts at a multiple of this (from the data section's start, which is itself a
// multiple of it from the body's start). Fixed, never read from the file: GGUF's declared
// alignment was one of its overflow routes.
constexpr uint64_t kAlignment = 64;

// Limits a reader enforces before it allocates anything. The decompressed body may be at most
// kMaxExpansion × the compressed body + kExpansionSlack (tiny test models of mostly zeros
// compress far better than 64×), and never more than kMaxBody.
constexpr uint64_t kMaxBody = uint64_t(1) << 30;
constexpr uint64_t kMaxExpansion = 64;
constexpr uint64_t kExpansionSlack = uint64_t(1) << 20;
constexpr uint32_t kMaxRank = 8;
constexpr uint32_t kMaxNameBytes = 4096;
// A low-rank correction's rank: the record uses 4; more than this is not a correction any more.
constexpr uint64_t kMaxCorrectionRank = 64;

// The largest decompressed body a compressed body of `compressed` bytes may declare.
inline uint64_t max_body_for(uint64_t compressed) {
  uint64_t by_ratio = compressed > (kMaxBody - kExpansionSlack) / kMaxExpansion ? kMaxBody
                                                                                : compressed * kMaxExpansion + kExpansionSlack;
  return by_ratio < kMaxBody ? by_ratio : kMaxBody;
}

}  // namespace golf::artifact_format
