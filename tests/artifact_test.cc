// The artifact format: exact round trips of every encoding under every codec, shuffle and packing
// choice; refusal (never a crash) of flipped, truncated, foreign, newer and hostile files; the
// size report.
#include <gtest/gtest.h>
#include <xxhash.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include <unistd.h>

#include "runtime/artifact/artifact.h"
#include "runtime/artifact/body.h"
#include "runtime/artifact/codec.h"
#include "runtime/artifact/op_set.h"
#include "runtime/artifact/stats.h"
#include "runtime/fs.h"
#include "tests/support/errors.h"

namespace golf {
namespace {

using artifact_format::Codec;

QTensor int_tensor(const std::string& name, Shape shape, int bits, bool per_row, std::mt19937_64& rng) {
  QTensor t;
  t.name = name;
  t.shape = std::move(shape);
  t.encoding = "int" + std::to_string(bits);
  t.bits = bits;
  t.per_row = per_row;
  // Weights look Gaussian after quantization; the extremes of the range (including the one value
  // the quantizer never makes, -2^(b-1)) must round-trip too.
  int lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
  std::normal_distribution<double> normal(0.0, hi / 3.0);
  int64_t n = shape_numel(t.shape);
  for (int64_t i = 0; i < n; i++) t.q.push_back(int8_t(std::clamp<long>(std::lround(normal(rng)), lo, hi)));
  if (n > 0) t.q[0] = int8_t(lo);
  if (n > 1) t.q[1] = int8_t(hi);
  std::uniform_int_distribution<int> scale(0x1000, 0x2c00);
  for (int64_t r = 0; r < t.rows(); r++) t.scales.push_back(uint16_t(scale(rng)));
  return t;
}

QTensor float_tensor(const std::string& name, Shape shape, const std::string& encoding, std::mt19937_64& rng) {
  QTensor t;
  t.name = name;
  t.shape = shape;
  t.encoding = encoding;
  t.bits = encoding == "fp32" || encoding == "i32" ? 32 : 16;
  DType dt = encoding == "fp16" ? DType::f16 : encoding == "bf16" ? DType::bf16 : encoding == "fp32" ? DType::f32 : DType::i32;
  t.values = Tensor(shape, dt);
  std::normal_distribution<double> normal(0.0, 0.02);
  std::uniform_int_distribution<int> perm(-1000000, 1000000);
  for (int64_t i = 0; i < t.values.numel(); i++) t.values.set(i, dt == DType::i32 ? perm(rng) : normal(rng));
  return t;
}

void expect_same(const QTensor& a, const QTensor& b) {
  SCOPED_TRACE(a.name);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.shape, b.shape);
  EXPECT_EQ(a.encoding, b.encoding);
  EXPECT_EQ(a.bits, b.bits);
  EXPECT_EQ(a.per_row, b.per_row);
  EXPECT_EQ(a.group, b.group);
  EXPECT_EQ(a.scales, b.scales);
  EXPECT_EQ(a.q, b.q);
  ASSERT_EQ(a.values.defined(), b.values.defined());
  if (a.values.defined()) {
    EXPECT_EQ(a.values.dtype(), b.values.dtype());
    EXPECT_EQ(a.values.shape(), b.values.shape());
    ASSERT_EQ(a.values.nbytes(), b.values.nbytes());
    EXPECT_EQ(0, std::memcmp(a.values.raw(), b.values.raw(), a.values.nbytes()));
  }
}

Artifact every_encoding() {
  std::mt19937_64 rng(7);
  Artifact a;
  a.meta = Json::object();
  a.meta.set("script", "model.lua");
  a.meta.set("architecture", "baseline");
  Json config = Json::object();
  config.set("dim", 512);
  config.set("layers", 9);
  a.meta.set("config", config);
  a.meta.set("val_bpb", 1.2243871234567891);
  Json table = Json::array();
  for (int i = 0; i < 4; i++) table.push(i * 3 - 2);
  a.meta.set("byte_table", table);
  a.sources = {{"model.lua", "local nn = require \"golf.nn\"\nreturn {}\n"}, {"golf.nn", std::string(3000, 'x')}, {"empty", ""}};
  a.op_set = current_op_set();
  for (int bits = 2; bits <= 8; bits++) {
    // Odd column counts leave partial bytes at the end of packed rows and tensors.
    a.tensors.push_back(int_tensor("w.int" + std::to_string(bits) + ".row", {5, 13}, bits, true, rng));
    a.tensors.push_back(int_tensor("w.int" + std::to_string(bits) + ".tensor", {3, 7, 3}, bits, false, rng));
  }
  a.tensors.push_back(int_tensor("w.rank3.row", {4, 3, 5}, 6, true, rng));
  a.tensors.push_back(int_tensor("w.vector", {11}, 4, true, rng));
  a.tensors.push_back(int_tensor("w.empty", {0, 9}, 5, true, rng));
  a.tensors.push_back(int_tensor("w.rows_no_cols", {3, 0}, 5, true, rng));
  for (const char* e : {"fp16", "bf16", "fp32", "i32"}) {
    a.tensors.push_back(float_tensor(std::string("f.") + e, {7, 3}, e, rng));
    a.tensors.push_back(float_tensor(std::string("f.") + e + ".scalar", {}, e, rng));
  }
  a.tensors.push_back(float_tensor("f.empty", {0}, "fp32", rng));
  a.tensors.back().per_row = false;
  return a;
}

void expect_same(const Artifact& a, const Artifact& b) {
  EXPECT_EQ(a.meta.dump(), b.meta.dump());
  EXPECT_EQ(a.sources, b.sources);
  EXPECT_EQ(a.op_set.ops, b.op_set.ops);
  EXPECT_EQ(a.op_set.fingerprint, b.op_set.fingerprint);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); i++) expect_same(a.tensors[i], b.tensors[i]);
  EXPECT_EQ(a.corrections, b.corrections);
}

// Format version 2: every_encoding() plus a grouped int4 tensor (13 groups of 5 over 63 elements,
// the last one shorter) and an LQER correction of w.int6.row [5, 13] by a [5, 2] int2 factor and
// a [2, 13] int4 factor in groups of 4.
QTensor grouped(const std::string& name, Shape shape, int bits, int64_t group, std::mt19937_64& rng) {
  QTensor t = int_tensor(name, std::move(shape), bits, false, rng);
  t.group = group;
  t.scales.clear();
  std::uniform_int_distribution<int> scale(0x1000, 0x2c00);
  for (int64_t g = 0; g < t.scale_count(); g++) t.scales.push_back(uint16_t(scale(rng)));
  return t;
}

Artifact version_2() {
  std::mt19937_64 rng(11);
  Artifact a = every_encoding();
  a.tensors.push_back(grouped("w.grouped", {7, 9}, 4, 5, rng));
  uint32_t base = 0;
  while (a.tensors[base].name != "w.int6.row") base++;
  a.tensors.push_back(int_tensor("w.int6.row.lqer_a", {5, 2}, 2, false, rng));
  a.tensors.push_back(grouped("w.int6.row.lqer_b", {2, 13}, 4, 4, rng));
  a.corrections.push_back({base, uint32_t(a.tensors.size() - 2), uint32_t(a.tensors.size() - 1)});
  return a;
}

// A file whose header says what the test wants, with valid checksums, around `body`.
std::string craft(uint16_t version, uint16_t flags, uint8_t codec, uint64_t body_bytes, uint64_t compressed_bytes,
                  const std::string& body) {
  std::string h(48, '\0');
  std::memcpy(&h[0], "GOLF", 4);
  std::memcpy(&h[4], &version, 2);
  std::memcpy(&h[6], &flags, 2);
  h[8] = char(codec);
  std::memcpy(&h[16], &body_bytes, 8);
  std::memcpy(&h[24], &compressed_bytes, 8);
  uint64_t body_hash = XXH64(body.data(), body.size(), 0);
  std::memcpy(&h[32], &body_hash, 8);
  uint64_t header_hash = XXH64(h.data(), 40, 0);
  std::memcpy(&h[40], &header_hash, 8);
  return h + body;
}

std::string message_of(const std::string& bytes, const std::string& name, bool verify = true) {
  try {
    decode_artifact(bytes, name, verify);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(Artifact, EveryEncodingRoundTripsUnderEveryCodecShuffleAndPacking) {
  Artifact a = every_encoding();
  for (const char* codec : {"none", "zstd", "brotli", "auto"})
    for (bool shuffle : {true, false})
      for (bool packed : {true, false}) {
        SCOPED_TRACE(std::string(codec) + (shuffle ? " shuffle" : " plain") + (packed ? " packed" : " containers"));
        std::string bytes = encode_artifact(a, {codec, shuffle, packed});
        ArtifactHeader h = decode_artifact_header(bytes, "t");
        EXPECT_EQ(h.version, 1);
        EXPECT_EQ(h.shuffle(), shuffle);
        EXPECT_EQ(h.packed(), packed);
        if (std::string(codec) == "auto") EXPECT_NE(h.codec, Codec::none);
        else EXPECT_STREQ(artifact_format::codec_name(h.codec), codec);
        expect_same(a, decode_artifact(bytes, "t"));
      }
}

TEST(Artifact, AutoPicksTheSmallerCodec) {
  Artifact a = every_encoding();
  size_t z = encode_artifact(a, {"zstd"}).size(), b = encode_artifact(a, {"brotli"}).size();
  EXPECT_EQ(encode_artifact(a, {"auto"}).size(), std::min(z, b));
}

TEST(Artifact, PackingShrinksTheRawBody) {
  std::mt19937_64 rng(1);
  Artifact a;
  a.tensors.push_back(int_tensor("w", {64, 64}, 4, true, rng));
  std::string packed = encode_artifact(a, {"none", true, true}), plain = encode_artifact(a, {"none", true, false});
  EXPECT_EQ(plain.size() - packed.size(), 64u * 64 / 2);
}

TEST(Artifact, FileHelpersWriteAtomicallyAndRead) {
  auto dir = std::filesystem::temp_directory_path() / ("artifact_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "model.golf").string();
  Artifact a = every_encoding();
  write_artifact(path, a, {"zstd"});
  expect_same(a, read_artifact(path));
  std::filesystem::remove_all(dir);
}

TEST(Artifact, EncoderRefusesWhatItCannotWrite) {
  std::mt19937_64 rng(2);
  auto refused = [](const Artifact& a, const std::string& what) {
    try {
      encode_artifact(a, {"none"});
      ADD_FAILURE() << "accepted: " << what;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  Artifact a;
  a.tensors.push_back(int_tensor("w", {2, 3}, 4, true, rng));
  a.tensors[0].q[2] = 8;
  refused(a, "does not fit in 4 bits");
  a.tensors[0].q[2] = 0;
  a.tensors[0].bits = 5;
  refused(a, "bits = 5");
  a.tensors[0].bits = 4;
  a.tensors[0].scales.pop_back();
  refused(a, "1 scales, expected 2");
  a.tensors[0].scales.push_back(1);
  a.tensors.push_back(a.tensors[0]);
  refused(a, "appears twice");
  a.tensors.pop_back();
  a.tensors[0].encoding = "int9";
  refused(a, "unknown encoding");
  a.tensors[0].encoding = "int4";
  a.meta = Json::object();
  a.meta.set("script", "missing.lua");
  refused(a, "not among the sources");
  a.meta = Json::array();
  refused(a, "must be a JSON object");
  a.meta = Json();
  a.tensors.push_back(float_tensor("f", {2, 2}, "fp16", rng));
  a.tensors.back().values = Tensor({2, 2}, DType::f32);
  refused(a, "dtype f32, expected f16");
}

TEST(Artifact, AnAlmostAllZeroBodyIsNotWritten) {
  Artifact a;
  QTensor t;
  t.name = "zeros";
  t.shape = {4096, 2048};
  t.encoding = "int8";
  t.bits = 8;
  t.q.assign(4096 * 2048, 0);
  t.scales.assign(4096, 0);
  a.tensors.push_back(t);
  try {
    encode_artifact(a, {"zstd"});
    FAIL() << "an 8 MB zero body was written";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("expansion a reader accepts"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(encode_artifact(a, {"none"}));
}

// ---- a real-sized artifact, flipped and truncated ------------------------------------------------

// A few MB of what an int6/int8 GPTQ export holds: an int8 embedding, int6 block matrices with
// per-row scales, fp32 control vectors and an i32 permutation.
const std::string& real_sized() {
  static const std::string bytes = [] {
    std::mt19937_64 rng(11);
    Artifact a;
    a.meta = Json::object();
    a.meta.set("script", "model.lua");
    a.sources = {{"model.lua", std::string(20000, 'l')}};
    a.op_set = current_op_set();
    a.tensors.push_back(int_tensor("tok_emb.weight", {1024, 512}, 8, true, rng));
    for (int b = 0; b < 2; b++) {
      std::string p = "blocks." + std::to_string(b) + ".";
      a.tensors.push_back(int_tensor(p + "attn.qkv.weight", {1024, 512}, 6, true, rng));
      a.tensors.push_back(int_tensor(p + "attn.proj.weight", {512, 512}, 6, true, rng));
      a.tensors.push_back(int_tensor(p + "mlp.fc.weight", {1024, 512}, 6, true, rng));
      a.tensors.push_back(int_tensor(p + "mlp.proj.weight", {512, 1024}, 6, true, rng));
      a.tensors.push_back(float_tensor(p + "attn_scale", {512}, "fp32", rng));
    }
    a.tensors.push_back(float_tensor("perm", {4096}, "i32", rng));
    return encode_artifact(a, {"zstd"});
  }();
  return bytes;
}

TEST(Artifact, RealSizedArtifactIsMegabytes) {
  EXPECT_GT(real_sized().size(), 2'000'000u);
  EXPECT_NO_THROW(decode_artifact(real_sized(), "real.golf"));
}

TEST(Artifact, ThousandBitFlipsAreAllRefused) {
  std::mt19937_64 rng(3);
  const std::string& good = real_sized();
  for (int i = 0; i < 1000; i++) {
    std::string bad = good;
    size_t pos = rng() % bad.size();
    bad[pos] = char(uint8_t(bad[pos]) ^ uint8_t(1u << (rng() % 8)));
    std::string m = message_of(bad, "real.golf");
    ASSERT_EQ(m.rfind("artifact real.golf: ", 0), 0u) << "flip at byte " << pos << ": " << m;
  }
}

TEST(Artifact, ThousandTruncationsAreAllRefused) {
  std::mt19937_64 rng(4);
  const std::string& good = real_sized();
  for (int i = 0; i < 1000; i++) {
    size_t len = i < 60 ? size_t(i) : rng() % good.size();
    for (bool verify : {true, false}) {
      std::string m = message_of(good.substr(0, len), "real.golf", verify);
      ASSERT_EQ(m.rfind("artifact real.golf: ", 0), 0u) << "truncated to " << len << ": " << m;
      if (len >= 48) {
        EXPECT_NE(m.find("truncated"), std::string::npos) << m;
      }
    }
  }
}

// Behind the checksums the decompressor and the body parser see the flipped bytes themselves:
// every outcome must be a clean refusal or a decoded artifact, never a crash or another exception.
void flips_behind_checksums(const std::string& good, int count, uint64_t seed, int min_refused) {
  std::mt19937_64 rng(seed);
  int refused = 0;
  for (int i = 0; i < count; i++) {
    std::string bad = good;
    for (int k = 0, n = 1 + int(rng() % 3); k < n; k++) {
      // Half the flips go to the first 4 KB, where the header, metadata and tensor table live.
      size_t pos = rng() % (rng() % 2 ? std::min<size_t>(bad.size(), 4096) : bad.size());
      bad[pos] = char(uint8_t(bad[pos]) ^ uint8_t(1u << (rng() % 8)));
    }
    try {
      decode_artifact(bad, "flipped", false);
    } catch (const std::runtime_error& e) {
      ASSERT_EQ(std::string(e.what()).rfind("artifact flipped: ", 0), 0u) << e.what();
      refused++;
    }
  }
  EXPECT_GE(refused, min_refused);
}

TEST(Artifact, FlipsBehindTheChecksumsAreRefusedOrDecodedNeverACrash) {
  // Packed int6 is nearly incompressible, so zstd stores most of it raw and most flips there
  // decode to other weights; only the absence of a crash is asked.
  flips_behind_checksums(real_sized(), 300, 5, 0);
  // Uncompressed, so that the flips land in the table and data the parser reads.
  Artifact a = decode_artifact(real_sized(), "real.golf");
  a.tensors.resize(4);
  a.sources.clear();
  a.meta = Json::object();
  flips_behind_checksums(encode_artifact(a, {"none"}), 300, 6, 10);
  flips_behind_checksums(encode_artifact(every_encoding(), {"none", true, true}), 1000, 7, 100);
  flips_behind_checksums(encode_artifact(every_encoding(), {"none", false, false}), 1000, 8, 100);
}

// ---- foreign, newer and hostile files ------------------------------------------------------------

TEST(Artifact, ForeignFilesAreRefused) {
  EXPECT_NE(message_of("PK\x03\x04 this is a zip file, not an artifact at all......................", "x.zip")
                .find("artifact x.zip: not a golfrt artifact (it starts with \"PK\\x03\\x04\""),
            std::string::npos);
  EXPECT_NE(message_of("GGUF", "m.gguf").find("not a golfrt artifact"), std::string::npos);
  EXPECT_NE(message_of("", "empty").find("truncated: 0 bytes"), std::string::npos);
  EXPECT_NE(message_of("GOL", "short").find("truncated: 3 bytes"), std::string::npos);
}

TEST(Artifact, NewerVersionIsRefusedWithItsMessage) {
  std::string bytes = encode_artifact(every_encoding(), {"none"});
  uint16_t v = 3;
  std::memcpy(&bytes[4], &v, 2);
  for (bool verify : {true, false})
    EXPECT_NE(message_of(bytes, "new.golf", verify)
                  .find("artifact new.golf: format version 3 is newer than this golfrt reads (version 2)"),
              std::string::npos);
}

// Version 2 (grouped intN, LQER corrections) round trips under every codec and flag, and is
// written only when used: an artifact without either is still version 1 (the test above), byte
// for byte what version 1 wrote.
TEST(Artifact, Version2GroupedTensorsAndCorrectionsRoundTrip) {
  Artifact a = version_2();
  for (const char* codec : {"none", "zstd", "brotli"})
    for (bool shuffle : {true, false})
      for (bool packed : {true, false}) {
        SCOPED_TRACE(std::string(codec) + (shuffle ? " shuffle" : " plain") + (packed ? " packed" : " containers"));
        std::string bytes = encode_artifact(a, {codec, shuffle, packed});
        EXPECT_EQ(decode_artifact_header(bytes, "t").version, 2);
        expect_same(a, decode_artifact(bytes, "t"));
      }
  // Version 1 bodies have neither: the same body under a version-1 header is refused.
  Artifact g = every_encoding();
  std::mt19937_64 rng(3);
  g.tensors.push_back(grouped("w.grouped", {7, 9}, 4, 5, rng));
  std::string body = encode_artifact_body(g, 0);
  EXPECT_NO_THROW(decode_artifact_body(body, 2, 0, "v2"));
  std::string m = error_of([&] { decode_artifact_body(body, 1, 0, "v1"); });
  EXPECT_NE(m.find("artifact v1: corrupt body: tensor 'w.grouped' has encoding code 6 with 4 bits"), std::string::npos) << m;
}

TEST(Artifact, EncoderRefusesMalformedCorrections) {
  auto refused = [](Artifact a, const std::string& what) {
    SCOPED_TRACE(what);
    std::string m = error_of([&] { encode_artifact(a, {"none"}); });
    EXPECT_NE(m.find(what), std::string::npos) << m;
  };
  Artifact a = version_2();
  LowRankCorrection good = a.corrections[0];
  a.corrections[0].a = 9999;
  refused(a, "names tensor 9999 of");
  a.corrections[0] = good;
  a.corrections.push_back(good);
  refused(a, "which is already in a correction");
  a = version_2();
  a.corrections[0].b = a.corrections[0].a;
  refused(a, "names one tensor twice");
  a = version_2();
  std::swap(a.corrections[0].a, a.corrections[0].b);
  refused(a, "has factors [2, 13] and [5, 2]");
  a = version_2();
  std::mt19937_64 rng(1);
  a.tensors[a.corrections[0].a] = float_tensor("w.int6.row.lqer_a", {5, 2}, "fp32", rng);
  refused(a, "not an integer matrix");
  a = version_2();
  a.tensors[a.corrections[0].a] = int_tensor("w.int6.row.lqer_a", {5, 65}, 2, false, rng);
  a.tensors[a.corrections[0].b] = grouped("w.int6.row.lqer_b", {65, 13}, 4, 4, rng);
  refused(a, "has rank 65 (1..64)");
  a = version_2();
  a.tensors.back().per_row = true;
  refused(a, "grouped scales and per-row scales at once");
  a = version_2();
  a.tensors.back().scales.pop_back();
  refused(a, "scales, expected 7");
}

TEST(Artifact, HugeDeclaredBodyIsRefusedBeforeAllocating) {
  // 160 bytes declaring a terabyte: the header's bound refuses it before anything is allocated.
  std::string body(112, 'z');
  std::string m = message_of(craft(1, 0, uint8_t(Codec::zstd), uint64_t(1) << 40, body.size(), body), "bomb.golf");
  EXPECT_NE(m.find("artifact bomb.golf: corrupt header: it declares a body of 1099511627776 bytes decompressed"),
            std::string::npos)
      << m;
  // Under 1 GiB but far beyond 64x the 112 bytes present.
  m = message_of(craft(1, 0, uint8_t(Codec::brotli), 900'000'000, body.size(), body), "bomb.golf");
  EXPECT_NE(m.find("declares a body of 900000000 bytes"), std::string::npos) << m;
  // A compressed length past the end of the file, and one that would wrap an addition.
  m = message_of(craft(1, 0, uint8_t(Codec::zstd), 10, uint64_t(-1), body), "wrap.golf");
  EXPECT_NE(m.find("truncated: the header declares a 18446744073709551615-byte compressed body"), std::string::npos) << m;
  m = message_of(craft(1, 0, uint8_t(Codec::none), body.size(), body.size() - 1, body), "trail.golf");
  EXPECT_NE(m.find("1 bytes after the"), std::string::npos) << m;
  m = message_of(craft(1, 0x80, uint8_t(Codec::none), body.size(), body.size(), body), "flags.golf");
  EXPECT_NE(m.find("unknown flags 0x0080"), std::string::npos) << m;
  m = message_of(craft(1, 0, 9, body.size(), body.size(), body), "codec.golf");
  EXPECT_NE(m.find("unknown codec id 9"), std::string::npos) << m;
}

// Hand-made bodies with hostile counts and sizes reach the parser uncompressed.
struct BodyBuilder {
  std::string b;
  template <class T> BodyBuilder& v(T x) {
    b.append(reinterpret_cast<const char*>(&x), sizeof x);
    return *this;
  }
  BodyBuilder& s(const std::string& x) {
    b += x;
    return *this;
  }
  BodyBuilder& prefix() { return v<uint32_t>(0).v<uint64_t>(0).v<uint64_t>(2).s("{}").v<uint32_t>(0); }
};

std::string body_message(const std::string& body) {
  std::string file = craft(1, 0, uint8_t(Codec::none), body.size(), body.size(), body);
  return message_of(file, "body.golf");
}

TEST(Artifact, HostileBodiesAreRefusedBeforeAllocating) {
  // A metadata string of 2^63 bytes.
  std::string m = body_message(BodyBuilder().v<uint32_t>(0).v<uint64_t>(0).v<uint64_t>(uint64_t(1) << 63).b);
  EXPECT_NE(m.find("truncated body: metadata needs 9223372036854775808 bytes"), std::string::npos) << m;
  // Four billion sources in a few bytes.
  m = body_message(BodyBuilder().v<uint32_t>(0).v<uint64_t>(0).v<uint64_t>(2).s("{}").v<uint32_t>(UINT32_MAX).b);
  EXPECT_NE(m.find("truncated body: source 0 name length"), std::string::npos) << m;
  // A tensor name of 4 GB.
  m = body_message(BodyBuilder().prefix().v<uint32_t>(1).v<uint32_t>(UINT32_MAX).b);
  EXPECT_NE(m.find("tensor 0 name is 4294967295 bytes long"), std::string::npos) << m;
  // A shape whose element count wraps 2^64 to a small number (the GGUF overflow).
  auto tensor = [](uint8_t code, uint8_t bits, std::vector<uint64_t> dims, uint64_t values_length, uint8_t flags = 0) {
    BodyBuilder t;
    t.prefix().v<uint32_t>(1).v<uint32_t>(1).s("w").v<uint8_t>(code).v<uint8_t>(bits).v<uint8_t>(flags).v<uint8_t>(uint8_t(dims.size()));
    for (uint64_t d : dims) t.v<uint64_t>(d);
    t.v<uint64_t>(0).v<uint64_t>(0).v<uint64_t>(0).v<uint64_t>(values_length).v<uint64_t>(values_length);
    t.b.append((64 - t.b.size() % 64) % 64, '\0');
    t.b.append(values_length, '\0');
    return t.b;
  };
  m = body_message(tensor(4, 32, {uint64_t(1) << 62, 4}, 16));
  EXPECT_NE(m.find("shape [4611686018427387904, 4] needs more than the 16 bytes"), std::string::npos) << m;
  m = body_message(tensor(4, 32, {uint64_t(1) << 63, 1}, 16));
  EXPECT_NE(m.find("negative dimension"), std::string::npos) << m;
  m = body_message(tensor(4, 32, std::vector<uint64_t>(9, 1), 4));
  EXPECT_NE(m.find("rank 9"), std::string::npos) << m;
  m = body_message(tensor(1, 9, {4}, 4));
  EXPECT_NE(m.find("encoding code 1 with 9 bits"), std::string::npos) << m;
  m = body_message(tensor(7, 8, {4}, 4));
  EXPECT_NE(m.find("encoding code 7"), std::string::npos) << m;
  // A per-row int tensor with a zero dimension still needs its row scales.
  m = body_message(tensor(1, 8, {uint64_t(1) << 40, 0}, 0, 1));
  EXPECT_NE(m.find("needs 1099511627776 scales"), std::string::npos) << m;
  // The right length at an offset that overlaps nothing but is not where a writer puts it.
  std::string ok = tensor(4, 32, {4}, 16);
  EXPECT_EQ(body_message(ok), "(accepted)");
  BodyBuilder shifted;
  shifted.prefix().v<uint32_t>(1).v<uint32_t>(1).s("w").v<uint8_t>(4).v<uint8_t>(32).v<uint8_t>(0).v<uint8_t>(1);
  shifted.v<uint64_t>(4).v<uint64_t>(0).v<uint64_t>(0).v<uint64_t>(64).v<uint64_t>(16).v<uint64_t>(80);
  shifted.b.append((64 - shifted.b.size() % 64) % 64, '\0');
  shifted.b.append(80, '\0');
  m = body_message(shifted.b);
  EXPECT_NE(m.find("values at offset 64, expected 0"), std::string::npos) << m;
  // An offset + length that wraps 2^64.
  BodyBuilder wrap;
  wrap.prefix().v<uint32_t>(1).v<uint32_t>(1).s("w").v<uint8_t>(4).v<uint8_t>(32).v<uint8_t>(0).v<uint8_t>(1);
  wrap.v<uint64_t>(4).v<uint64_t>(0).v<uint64_t>(0).v<uint64_t>(uint64_t(-8)).v<uint64_t>(16).v<uint64_t>(16);
  wrap.b.append((64 - wrap.b.size() % 64) % 64, '\0');
  wrap.b.append(16, '\0');
  m = body_message(wrap.b);
  EXPECT_NE(m.find("lies outside the 16-byte data section"), std::string::npos) << m;
  // Metadata nested past the JSON parser's depth limit.
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  m = body_message(BodyBuilder().v<uint32_t>(0).v<uint64_t>(0).v<uint64_t>(deep.size()).s(deep).b);
  EXPECT_NE(m.find("corrupt metadata"), std::string::npos) << m;
}

// Version 2's additions under hostile bytes: every index, count and group size is checked against
// the table and the bytes present (fuzz seeds of the same cases: tests/fuzz/make_seeds.cc).
TEST(Artifact, HostileVersion2BodiesAreRefused) {
  std::mt19937_64 rng(5);
  Artifact a;
  a.meta = Json::object();
  a.tensors.push_back(int_tensor("w", {4, 6}, 6, true, rng));
  a.tensors.push_back(int_tensor("w.lqer_a", {4, 1}, 2, false, rng));
  a.tensors.push_back(grouped("w.lqer_b", {1, 6}, 4, 4, rng));
  a.corrections.push_back({0, 1, 2});
  const std::string body = encode_artifact_body(a, 0);
  ASSERT_NO_THROW(decode_artifact_body(body, 2, 0, "ok"));
  std::string triple(12, '\0');
  for (uint32_t i = 0; i < 3; i++) std::memcpy(&triple[4 * i], &i, 4);
  const size_t at = body.find(triple);
  ASSERT_NE(at, std::string::npos);
  ASSERT_EQ(at, body.rfind(triple));
  auto with = [&](size_t offset, auto v) {
    std::string b = body;
    std::memcpy(&b[offset], &v, sizeof v);
    return error_of([&] { decode_artifact_body(b, 2, 0, "h.golf"); });
  };
  std::string m = with(at + 4, uint32_t(3));
  EXPECT_NE(m.find("artifact h.golf: corrupt body: correction 0 names tensor 3 of 3"), std::string::npos) << m;
  m = with(at + 8, uint32_t(1));
  EXPECT_NE(m.find("correction 0 names one tensor twice"), std::string::npos) << m;
  m = with(at, std::array<uint32_t, 3>{2, 1, 0});  // factors that do not fit their base
  EXPECT_NE(m.find("correction 0 of 'w.lqer_b' [1, 6] has factors [4, 1] and [4, 6]"), std::string::npos) << m;
  m = with(at - 4, uint32_t(UINT32_MAX));  // four billion corrections in a few bytes
  EXPECT_NE(m.find("truncated body: correction"), std::string::npos) << m;
  const size_t group = body.find("w.lqer_b") + 8 + 4 + 8 + 8;  // name, code/bits/flags/rank, two dims
  uint64_t four = 0;
  std::memcpy(&four, &body[group], 8);
  ASSERT_EQ(four, 4u);
  m = with(group, uint64_t(0));
  EXPECT_NE(m.find("tensor 'w.lqer_b' has group size 0"), std::string::npos) << m;
  m = with(group, ~uint64_t(0));
  EXPECT_NE(m.find("tensor 'w.lqer_b' has group size 18446744073709551615"), std::string::npos) << m;
  m = with(group, uint64_t(1));  // six scales where the stored array holds two
  EXPECT_NE(m.find("w.lqer_b' scales has 4 bytes, its shape needs 12"), std::string::npos) << m;
  // The same bytes under version 1 are not a version-1 body.
  EXPECT_NE(error_of([&] { decode_artifact_body(body, 1, 0, "v1.golf"); }).find("artifact v1.golf: corrupt body"),
            std::string::npos);
}

TEST(Artifact, ScriptMustNameASource) {
  Artifact a;
  a.meta = Json::object();
  a.meta.set("script", "m.lua");
  a.sources = {{"m.lua", "x"}};
  std::string bytes = encode_artifact(a, {"none"});
  size_t at = bytes.find("\"m.lua\"");  // the name inside the metadata JSON
  ASSERT_NE(at, std::string::npos);
  bytes[at + 1] = 'n';
  EXPECT_NE(message_of(bytes, "s.golf", false).find("'script' does not name one of the 1 sources"), std::string::npos);
}

// ---- the size report -----------------------------------------------------------------------------

TEST(Artifact, StatsSharesSumToTheCompressedBody) {
  for (const char* codec : {"zstd", "brotli", "none"}) {
    SCOPED_TRACE(codec);
    Artifact a = every_encoding();
    std::string bytes = encode_artifact(a, {codec, true, true});
    ArtifactStats s = artifact_stats(bytes, "s.golf", 2);
    EXPECT_EQ(s.file_bytes, bytes.size());
    EXPECT_EQ(s.header_bytes, 48u);
    ASSERT_EQ(s.tensors.size(), a.tensors.size());
    ASSERT_EQ(s.sections.size(), 3u);
    double total = 0;
    uint64_t raw = 0;
    for (const auto& p : s.sections) total += p.compressed_bytes, raw += p.raw_bytes;
    for (const auto& p : s.tensors) total += p.compressed_bytes, raw += p.raw_bytes;
    EXPECT_NEAR(total, double(s.header.compressed_bytes), 1e-6 * double(bytes.size()));
    EXPECT_LE(raw, s.header.body_bytes);  // alignment padding inside the data section is nobody's
    for (size_t i = 0; i < a.tensors.size(); i++) {
      EXPECT_EQ(s.tensors[i].name, a.tensors[i].name);
      EXPECT_EQ(s.tensors[i].raw_bytes, payload_bytes(a.tensors[i])) << a.tensors[i].name;
    }
    EXPECT_EQ(s.sources.size(), a.sources.size());
    EXPECT_EQ(s.meta.dump(), a.meta.dump());
  }
}

// ---- golfrt inspect ------------------------------------------------------------------------------

std::string run(const std::string& command, int* status) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  *status = pclose(p);
  return out;
}

TEST(Artifact, InspectReportsTheBudgetAndRefusesCorruptFiles) {
  auto dir = std::filesystem::temp_directory_path() / ("artifact_inspect_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "m.golf").string();
  Artifact a = every_encoding();
  write_artifact(path, a, {"zstd"});
  size_t size = std::filesystem::file_size(path);
  int status = 0;
  std::string out = run(std::string(GOLFRT_CLI) + " inspect " + path + " --json", &status);
  ASSERT_EQ(status, 0) << out;
  Json j = Json::parse(out, "inspect --json");
  EXPECT_EQ(j["file_bytes"].integer(), int64_t(size));
  EXPECT_EQ(j["margin_bytes"].integer(), 16'000'000 - int64_t(size));
  EXPECT_EQ(j["codec"].str(), "zstd");
  EXPECT_TRUE(j["op_set"]["matches_this_golfrt"].boolean());
  ASSERT_EQ(j["tensors"].size(), a.tensors.size());
  EXPECT_EQ(j["tensors"][0]["name"].str(), a.tensors[0].name);
  EXPECT_EQ(j["meta"].dump(), a.meta.dump());

  out = run(std::string(GOLFRT_CLI) + " inspect " + path, &status);
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("codec zstd, byte shuffle on, intN bit-packed"), std::string::npos) << out;
  EXPECT_NE(out.find("w.int6.row"), std::string::npos) << out;
  EXPECT_NE(out.find("bytes of 16,000,000: "), std::string::npos) << out;

  std::string bytes = read_file(path);
  bytes[bytes.size() / 2] ^= 0x10;
  write_file_atomic(path, bytes);
  out = run(std::string(GOLFRT_CLI) + " inspect " + path, &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("artifact " + path + ": corrupt body (checksum mismatch)"), std::string::npos) << out;
  std::filesystem::remove_all(dir);
}

// Messages that once named no value (issue 15): each must carry what it refused.
TEST(Artifact, compress_body_names_an_unknown_codec) {
  const std::string e = error_of([] { compress_body("abc", Codec(9)); });
  EXPECT_NE(e.find("compress_body: unknown codec id 9"), std::string::npos) << e;
}

}  // namespace
}  // namespace golf
