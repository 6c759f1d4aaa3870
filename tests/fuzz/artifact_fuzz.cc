// libFuzzer target for the artifact reader, behind its checksums (DESIGN §7). An input that starts
// with "GOLF" goes through decode_artifact with checksum checks off; any other input is a raw,
// uncompressed body (its first byte gives the header flags, and its top bit format version 2)
// handed to the body parser directly,
// so the mutations land in the tensor table and data rather than in a compressed stream.
//
// A clean refusal is a std::runtime_error; anything else (a crash, a sanitizer report, another
// exception, an allocation past -malloc_limit_mb) is a finding. What decodes must also re-encode
// and decode again: the writer and the reader agree on every artifact the reader accepts.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "runtime/artifact/artifact.h"
#include "runtime/artifact/body.h"

namespace {

// Called outside the refusal handler: any exception here escapes and is reported as a finding.
void round_trip(const golf::Artifact& a, uint16_t flags) {
  std::string body = golf::encode_artifact_body(a, flags);
  golf::Artifact again = golf::decode_artifact_body(body, golf::artifact_version(a), flags, "fuzz re-encoded");
  if (again.tensors.size() != a.tensors.size() || again.sources != a.sources || again.meta.dump() != a.meta.dump() ||
      again.corrections != a.corrections)
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  golf::Artifact a;
  uint16_t flags = 0;
  try {
    if (size >= 4 && std::memcmp(data, "GOLF", 4) == 0) {
      a = golf::decode_artifact(bytes, "fuzz", /*verify_checksums=*/false);
      flags = golf::decode_artifact_header(bytes, "fuzz", false).flags;
    } else if (size >= 1) {
      flags = data[0] & golf::artifact_format::kKnownFlags;
      const uint16_t version = data[0] & 0x80 ? 2 : 1;
      a = golf::decode_artifact_body(std::string_view(bytes).substr(1), version, flags, "fuzz");
    } else {
      return 0;
    }
  } catch (const std::runtime_error&) {
    return 0;  // refused: the expected outcome for nearly every input
  }
  round_trip(a, flags);
  return 0;
}
