// The safetensors reader (runtime/safetensors.h) on files made here byte by byte: what PyTorch's
// writer produces reads back exactly (F32, and BF16/F16/F64 converted), and every way a header can
// lie about the data is refused with the file and tensor named. The fuzzer
// (tests/fuzz/safetensors_fuzz.cc) covers the inputs nobody thought of.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "runtime/safetensors.h"

namespace golf {
namespace {

std::string u64le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; i++) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
  return s;
}

// A file with this header text and `data_bytes` zero bytes of data.
std::string file_with(const std::string& header, size_t data_bytes) { return u64le(header.size()) + header + std::string(data_bytes, '\0'); }

std::string refusal(const std::string& bytes) {
  try {
    parse_safetensors(bytes, "w.safetensors");
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

void expect_refused(const std::string& bytes, const std::string& part) {
  const std::string why = refusal(bytes);
  ASSERT_FALSE(why.empty()) << "accepted; expected a refusal mentioning '" << part << "'";
  EXPECT_NE(why.find("w.safetensors"), std::string::npos) << why;
  EXPECT_NE(why.find(part), std::string::npos) << why;
}

TEST(Safetensors, round_trip_keeps_names_shapes_values_and_metadata) {
  Tensor a({2, 3}, DType::f32), b({4}, DType::bf16), c({1, 2}, DType::f16), d({3}, DType::f64), e({2}, DType::i32);
  for (int i = 0; i < 6; i++) a.set(i, 0.1 * i - 0.2);
  for (int i = 0; i < 4; i++) b.set(i, 1.5 * i - 3);
  c.set(0, 0.333251953125), c.set(1, -65504);
  d.set(0, 1.0 / 3), d.set(1, 1e30), d.set(2, -0.0);
  e.set(0, -7), e.set(1, 123456);
  const std::string bytes = encode_safetensors({{"a", a}, {"b.w", b}, {"c", c}, {"d", d}, {"e", e}}, {{"source", "x.pt"}});
  SafetensorsFile f = parse_safetensors(bytes, "w.safetensors");
  ASSERT_EQ(f.tensors.size(), 5u);
  EXPECT_EQ(f.metadata.at("source"), "x.pt");
  EXPECT_EQ(f.tensors.at("a").dtype, "F32");
  EXPECT_EQ(f.tensors.at("b.w").dtype, "BF16");
  EXPECT_EQ(f.tensors.at("a").shape, (Shape{2, 3}));
  Tensor a2 = safetensor_to_f32(f.tensors.at("a"), "a");
  EXPECT_EQ(std::memcmp(a2.raw(), a.raw(), a.nbytes()), 0);
  Tensor b2 = safetensor_to_f32(f.tensors.at("b.w"), "b");
  for (int i = 0; i < 4; i++) EXPECT_EQ(b2.get(i), b.get(i));
  Tensor c2 = safetensor_to_f32(f.tensors.at("c"), "c");
  EXPECT_EQ(c2.get(0), 0.333251953125);
  EXPECT_EQ(c2.get(1), -65504);
  Tensor d2 = safetensor_to_f32(f.tensors.at("d"), "d");
  EXPECT_EQ(d2.data<float>()[0], float(1.0 / 3));
  EXPECT_EQ(d2.data<float>()[1], float(1e30));
  Tensor e2 = safetensor_to_i32(f.tensors.at("e"), "e");
  EXPECT_EQ(e2.get(0), -7);
  EXPECT_EQ(e2.get(1), 123456);
  // The header is padded to 8 bytes, as PyTorch's writer pads it.
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | uint8_t(bytes[size_t(i)]);
  EXPECT_EQ(n % 8, 0u);
}

TEST(Safetensors, a_pytorch_style_header_with_padding_and_an_empty_tensor_reads) {
  const std::string h = R"({"__metadata__":{"format":"pt"},"e":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},)"
                        R"("w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}    )";
  std::string bytes = u64le(h.size()) + h + std::string("\x80\x3f\x00\xc0", 4);  // bf16 1.0, -2.0
  SafetensorsFile f = parse_safetensors(bytes, "w.safetensors");
  EXPECT_EQ(f.tensors.at("e").shape, (Shape{0, 4}));
  Tensor w = safetensor_to_f32(f.tensors.at("w"), "w");
  EXPECT_EQ(w.get(0), 1.0);
  EXPECT_EQ(w.get(1), -2.0);
}

TEST(Safetensors, lies_about_sizes_are_refused_naming_file_and_tensor) {
  expect_refused("short", "fewer than the 8-byte header length");
  expect_refused(u64le(1000) + "{}", "header length is 1000 bytes but the file has only 2");
  expect_refused(u64le(~uint64_t(0)) + "{}", "header length");
  expect_refused(file_with("[1,2]", 0), "not a JSON object");
  expect_refused(file_with("{\"a\":", 0), "invalid JSON");
  // Offsets past the data, reversed, or not the shape's size.
  expect_refused(file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 8), "tensor 'a': data_offsets [4, 12]");
  expect_refused(file_with(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4), "tensor 'a'");
  expect_refused(file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 8), "takes 8");
  // Products that would wrap in 64 bits, and sizes a double cannot hold exactly.
  expect_refused(file_with(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}})", 0),
                 "more elements than the file has bytes");
  expect_refused(file_with(R"({"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})", 0), "tensor 'a'");
  expect_refused(file_with(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0), "whole number");
  expect_refused(file_with(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,0]}})", 0), "whole number");
  expect_refused(file_with(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,1e300]}})", 4), "whole number");
  // Gaps, overlaps, trailing bytes.
  expect_refused(file_with(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[1],"data_offsets":[3,4]}})", 4),
                 "a gap");
  expect_refused(file_with(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", 3),
                 "overlapping");
  expect_refused(file_with(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", 5), "3 bytes after the last tensor");
  // A repeated name: JSON keeps the last entry, so the first one's bytes are a gap.
  expect_refused(file_with(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", 4),
                 "a gap");
  // Types, fields, names.
  expect_refused(file_with(R"({"a":{"dtype":"F12","shape":[1],"data_offsets":[0,0]}})", 0), "unknown dtype 'F12'");
  expect_refused(file_with(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", 4), "unknown field 'x'");
  expect_refused(file_with(R"({"a":{"dtype":"F32","shape":1,"data_offsets":[0,4]}})", 4), "shape must be an array");
  expect_refused(file_with(R"({"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4), "name is empty");
  expect_refused(file_with(R"({"a\u0001":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4), "control characters");
  expect_refused(file_with(R"({"__metadata__":{"k":3}})", 0), "__metadata__.k must be a string");
}

TEST(Safetensors, conversions_refuse_what_they_cannot_represent) {
  Tensor i({2}, DType::i32);
  SafetensorsFile f = parse_safetensors(encode_safetensors({{"i", i}}), "w.safetensors");
  try {
    safetensor_to_f32(f.tensors.at("i"), "w.safetensors: tensor 'i'");
    FAIL() << "an I32 tensor read as real";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'i' is I32"), std::string::npos) << e.what();
  }
  SafeTensor big{"I64", {1}, std::string("\x00\x00\x00\x00\x01\x00\x00\x00", 8)};
  EXPECT_THROW(safetensor_to_i32(big, "big"), std::runtime_error);
}

}  // namespace
}  // namespace golf
