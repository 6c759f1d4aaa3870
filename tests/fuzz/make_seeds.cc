// Writes the artifact fuzzer's seed corpus: small artifacts under every codec, shuffle and packing
// choice, and the same bodies uncompressed with their flag byte in front (the fuzzer's body mode).
//   artifact_fuzz_seeds DIR
#include <cstdio>
#include <cstring>
#include <utility>
#include <string>

#include "runtime/artifact/artifact.h"
#include "runtime/artifact/body.h"
#include "runtime/artifact/op_set.h"
#include "runtime/fs.h"

using namespace golf;

namespace {

Artifact sample() {
  Artifact a;
  a.meta = Json::object();
  a.meta.set("script", "m.lua");
  a.meta.set("seq_len", 1024);
  a.sources = {{"m.lua", "return require 'golf.nn'"}, {"golf.nn", "return {}"}};
  a.op_set = current_op_set();
  int k = 0;
  for (int bits : {2, 3, 5, 6, 8}) {
    QTensor t;
    t.name = "w";
    t.name += std::to_string(bits);
    t.shape = {3, 5};
    t.encoding = "int" + std::to_string(bits);
    t.bits = bits;
    t.per_row = bits != 5;
    int hi = (1 << (bits - 1)) - 1;
    for (int i = 0; i < 15; i++) t.q.push_back(int8_t((i * 7 + k) % (2 * hi + 1) - hi));
    for (int64_t r = 0; r < t.rows(); r++) t.scales.push_back(uint16_t(0x2000 + r));
    a.tensors.push_back(t);
    k++;
  }
  for (auto [enc, dt] : {std::pair{"fp16", DType::f16}, {"bf16", DType::bf16}, {"fp32", DType::f32}, {"i32", DType::i32}}) {
    QTensor t;
    t.name = std::string("f.") + enc;
    t.shape = {2, 3};
    t.encoding = enc;
    t.bits = int(dtype_size(dt)) * 8;
    t.values = Tensor(t.shape, dt);
    for (int i = 0; i < 6; i++) t.values.set(i, dt == DType::i32 ? i * 3 : 0.25 * i - 0.5);
    a.tensors.push_back(t);
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: artifact_fuzz_seeds DIR\n");
    return 2;
  }
  std::string dir = argv[1];
  make_dirs(dir);
  Artifact a = sample(), empty;
  int n = 0, written = 0;
  auto put = [&](const std::string& file, const std::string& bytes) {
    write_file_atomic(path_join(dir, file), bytes);
    written++;
  };
  // The body mode's input: the flag byte, then the body. (Appended rather than `string + string`,
  // which trips a GCC 12 -Wrestrict false positive.)
  auto with_flags = [](uint16_t flags, const std::string& body) {
    std::string seed(1, char(flags));
    seed.append(body);
    return seed;
  };
  for (const char* codec : {"none", "zstd", "brotli"})
    for (bool shuffle : {false, true})
      for (bool packed : {false, true}) {
        put("artifact_" + std::to_string(n++), encode_artifact(a, {codec, shuffle, packed}));
        uint16_t flags = (shuffle ? artifact_format::kFlagShuffle : 0) | (packed ? artifact_format::kFlagPacked : 0);
        if (std::string(codec) == "none")
          put("body_" + std::to_string(n), with_flags(flags, encode_artifact_body(a, flags)));
      }
  put("artifact_empty", encode_artifact(empty, {"none"}));

  // Issue 17's cases. Overflow: the {3, 5} int2 tensor's dims rewritten to {2^62, 4} (and to
  // {2^32, 2^32}), whose element count wraps 2^64 in an unchecked product.
  {
    const std::string plain = encode_artifact(a, {"none", false, false});
    std::string dims(16, '\0');
    const uint64_t three = 3, five = 5;
    std::memcpy(&dims[0], &three, 8);
    std::memcpy(&dims[8], &five, 8);
    size_t at = plain.find(dims);
    if (at != std::string::npos) {
      for (auto [d0, d1] : {std::pair<uint64_t, uint64_t>{uint64_t(1) << 62, 4}, {uint64_t(1) << 32, uint64_t(1) << 32}}) {
        std::string bad = plain;
        std::memcpy(&bad[at], &d0, 8);
        std::memcpy(&bad[at + 8], &d1, 8);
        put("overflow_shape_" + std::to_string(written), bad);
      }
    }
  }
  // Special files: what /dev/zero gives (zeros), and a header that declares far more body than
  // follows (what a reader that trusted the header would wait for or allocate).
  put("special_zeros", std::string(4096, '\0'));
  {
    std::string h = encode_artifact(a, {"none", false, false}).substr(0, 48);
    const uint64_t huge = uint64_t(1) << 40;
    std::memcpy(&h[16], &huge, 8);
    std::memcpy(&h[24], &huge, 8);
    put("special_huge_header", h + std::string(64, '\0'));
  }
  // Metadata decode must not trust: seq_len 1e6, no tokenizer fingerprint, a foreign op table.
  {
    Artifact m = a;
    m.meta.set("seq_len", int64_t(1000000));
    put("meta_seq_len", encode_artifact(m, {"none", false, true}));
    m = a;
    Json tok = Json::object();
    tok.set("kind", "sentencepiece");
    m.meta.set("tokenizer", tok);
    put("meta_no_fingerprint", encode_artifact(m, {"zstd", true, true}));
    m = a;
    m.op_set.fingerprint ^= 1;
    m.op_set.ops += 7;
    put("meta_op_set", encode_artifact(m, {"none", false, true}));
  }
  put("body_empty", with_flags(0, encode_artifact_body(empty, 0)));

  // Format version 2: a grouped int4 tensor and an LQER correction (runtime/quant/lqer.h), whole
  // and as bodies (flag byte with its top bit set); and, rewritten, the corrections' hostile forms:
  // an index past the table, a factor of the wrong shape, a huge group size, a correction count
  // no bytes back.
  {
    Artifact v2 = a;
    v2.tensors[0].shape = {4, 4};  // the int2 base, [rows, cols]
    v2.tensors[0].q.assign(16, 1);
    v2.tensors[0].scales.assign(4, 0x2000);
    QTensor fa, fb;
    fa.name = "w2.lqer_a", fa.shape = {4, 2}, fa.encoding = "int2", fa.bits = 2, fa.per_row = false;
    fa.q = {-2, -1, 0, 1, 1, 0, -1, -2};
    fa.scales = {0x3000};
    fb.name = "w2.lqer_b", fb.shape = {2, 4}, fb.encoding = "int4", fb.bits = 4, fb.per_row = false, fb.group = 3;
    fb.q = {-8, 7, 0, 3, -3, 5, 1, -1};
    fb.scales = {0x2400, 0x2401, 0x2402};
    v2.tensors.push_back(fa);
    v2.tensors.push_back(fb);
    v2.corrections.push_back({0, uint32_t(v2.tensors.size() - 2), uint32_t(v2.tensors.size() - 1)});
    for (const char* codec : {"none", "zstd", "brotli"})
      for (bool packed : {false, true}) put(std::string("v2_") + codec + (packed ? "_packed" : ""), encode_artifact(v2, {codec, true, packed}));
    for (uint16_t flags : {uint16_t(0), uint16_t(artifact_format::kFlagShuffle | artifact_format::kFlagPacked)})
      put("v2_body_" + std::to_string(flags), with_flags(uint16_t(0x80 | flags), encode_artifact_body(v2, flags)));
    const std::string body = encode_artifact_body(v2, 0);
    // The correction table is the last 4 + 12 bytes before the u64 data length and the padding.
    const uint32_t base = 0, fa_index = uint32_t(v2.tensors.size() - 2), fb_index = fa_index + 1;
    std::string triple(12, '\0');
    std::memcpy(&triple[0], &base, 4);
    std::memcpy(&triple[4], &fa_index, 4);
    std::memcpy(&triple[8], &fb_index, 4);
    size_t at = body.rfind(triple);
    if (at != std::string::npos) {
      auto rewrite = [&](size_t offset, uint32_t v, const std::string& file) {
        std::string bad = body;
        std::memcpy(&bad[offset], &v, 4);
        put(file, with_flags(0x80, bad));
      };
      rewrite(at, 1000, "v2_correction_index");
      rewrite(at + 4, 1, "v2_correction_shape");
      rewrite(at - 4, 0xffffffffu, "v2_correction_count");
    }
    const uint64_t three = 3;
    std::string group(8, '\0');
    std::memcpy(&group[0], &three, 8);
    size_t g = body.find(group, body.find("w2.lqer_b"));
    if (g != std::string::npos) {
      std::string bad = body;
      const uint64_t huge = ~uint64_t(0);
      std::memcpy(&bad[g], &huge, 8);
      put("v2_group_huge", with_flags(0x80, bad));
    }
  }
  std::printf("artifact_fuzz_seeds: wrote %d seeds to %s\n", written, dir.c_str());
  return 0;
}
