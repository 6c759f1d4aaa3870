// Post-training quantization: every encoding decodes bit-exactly to what the quantizer meant,
// values sit on the grid, the packed layout round-trips, the clip rules do what they claim, and
// the script's quant table picks the baseline's encodings.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <regex>

#include "runtime/quant/quantize.h"
#include "runtime/rng.h"
#include "tests/support/errors.h"

namespace golf {
namespace {

// Rows of different magnitudes, one zero row, one row with an outlier: the cases per-row scales
// and clip rules are about.
Tensor test_weights(const Shape& shape, uint64_t seed) {
  Tensor w(shape, DType::f32);
  Rng rng(seed);
  int64_t rows = shape[0], cols = w.numel() / rows;
  float* x = w.data<float>();
  for (int64_t r = 0; r < rows; r++)
    for (int64_t j = 0; j < cols; j++) x[r * cols + j] = float(rng.normal() * 0.02 * (1 + r % 5));
  if (rows > 2) {
    for (int64_t j = 0; j < cols; j++) x[1 * cols + j] = 0.0f;
    x[2 * cols + 3] = 0.5f;
  }
  return w;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

double row_mse(const Tensor& w, const Tensor& d, int64_t r, int64_t cols) {
  double e = 0;
  for (int64_t j = r * cols; j < (r + 1) * cols; j++) e += (w.get(j) - d.get(j)) * (w.get(j) - d.get(j));
  return e / double(cols);
}

TEST(Quantize, integer_encodings_decode_bit_exactly_on_the_grid) {
  Tensor w = test_weights({12, 40}, 1);
  const int64_t rows = 12, cols = 40;
  for (int bits = 2; bits <= 8; bits++) {
    for (bool per_row : {true, false}) {
      SCOPED_TRACE("int" + std::to_string(bits) + (per_row ? " per row" : " per tensor"));
      QuantSpec spec;
      spec.encoding = "int" + std::to_string(bits);
      spec.per_row = per_row;
      QTensor q = quantize("w", w, spec);
      const int qmax = (1 << (bits - 1)) - 1;
      ASSERT_EQ(q.bits, bits);
      ASSERT_EQ(q.scales.size(), size_t(per_row ? rows : 1));
      ASSERT_EQ(q.q.size(), size_t(rows * cols));
      Tensor d = dequantize(q);
      ASSERT_EQ(d.dtype(), DType::f32);
      ASSERT_EQ(d.shape(), w.shape());
      for (int64_t r = 0; r < rows; r++) {
        float s = f16_to_f32(q.scales[per_row ? size_t(r) : 0]);
        int64_t arg = r * cols;
        for (int64_t j = r * cols; j < (r + 1) * cols; j++) {
          int v = q.q[size_t(j)];
          ASSERT_LE(std::abs(v), qmax);
          // The decoder's value is float(q)·scale in f32, bit for bit.
          ASSERT_TRUE(same_bits(d.data<float>()[j], float(v) * s));
          // Re-quantizing a decoded value with the same scale gives the same integer: on the grid.
          ASSERT_EQ(quantize_value(d.get(j), s, qmax), v);
          // With the max clip nothing is clipped: every error is at most half a step.
          ASSERT_LE(std::fabs(w.get(j) - d.get(j)), 0.5 * s * (1 + 1e-6));
          if (std::fabs(w.get(j)) > std::fabs(w.get(arg))) arg = j;
        }
        if (r == 1) {  // the zero row stays exactly zero with a zero scale
          if (per_row) {
            EXPECT_EQ(q.scales[1], 0);
          }
          for (int64_t j = cols; j < 2 * cols; j++) EXPECT_EQ(d.get(j), 0.0);
          continue;
        }
        // The largest |w| of a row is representable: it lands on ±qmax (per row) up to the fp16
        // rounding of the scale.
        if (per_row) {
          EXPECT_EQ(std::abs(q.q[size_t(arg)]), qmax);
          EXPECT_NEAR(d.get(arg), w.get(arg), std::fabs(w.get(arg)) * 2e-3);
        }
      }
      // Deterministic and self-consistent: a second quantization gives the same bytes.
      QTensor again = quantize("w", w, spec);
      EXPECT_EQ(again.q, q.q);
      EXPECT_EQ(again.scales, q.scales);
      EXPECT_EQ(payload_bytes(q), (size_t(rows * cols) * size_t(bits) + 7) / 8 + 2 * q.scales.size());
    }
  }
}

TEST(Quantize, per_tensor_max_element_is_representable) {
  Tensor w = test_weights({12, 40}, 2);
  QuantSpec spec;
  spec.encoding = "int6";
  spec.per_row = false;
  QTensor q = quantize("w", w, spec);
  int64_t arg = 0;
  for (int64_t i = 0; i < w.numel(); i++)
    if (std::fabs(w.get(i)) > std::fabs(w.get(arg))) arg = i;
  EXPECT_EQ(std::abs(q.q[size_t(arg)]), 31);
  EXPECT_NEAR(dequantize(q).get(arg), w.get(arg), std::fabs(w.get(arg)) * 2e-3);
}

TEST(Quantize, higher_rank_tensors_use_dim0_as_rows_and_vectors_one_scale) {
  Tensor w = test_weights({4, 3, 5}, 3);
  QuantSpec spec;
  spec.encoding = "int8";
  QTensor q = quantize("w", w, spec);
  EXPECT_EQ(q.scales.size(), 4u);
  EXPECT_TRUE(q.per_row);
  Tensor v = test_weights({7}, 4);
  QTensor qv = quantize("v", v, spec);
  EXPECT_EQ(qv.scales.size(), 1u);
  EXPECT_FALSE(qv.per_row);
  Tensor d = dequantize(qv);
  for (int64_t i = 0; i < 7; i++) EXPECT_NEAR(d.get(i), v.get(i), 0.5 * f16_to_f32(qv.scales[0]) * (1 + 1e-6));
}

TEST(Quantize, float_encodings_store_the_converted_values) {
  Tensor w = test_weights({6, 9}, 5);
  w.set(0, 1e-7);      // an fp16 subnormal
  w.set(1, 70000.0);   // beyond fp16's range: infinity, as a cast would give
  w.set(2, -3.14159);
  for (std::string enc : {"fp16", "f16", "bf16", "fp32", "f32"}) {
    SCOPED_TRACE(enc);
    QuantSpec spec;
    spec.encoding = enc;
    QTensor q = quantize("w", w, spec);
    EXPECT_TRUE(q.scales.empty() && q.q.empty());
    Tensor d = dequantize(q);
    for (int64_t i = 0; i < w.numel(); i++) {
      float x = w.data<float>()[i], want = x;
      if (q.encoding == "fp16") want = f16_to_f32(f32_to_f16(x));
      if (q.encoding == "bf16") want = bf16_to_f32(f32_to_bf16(x));
      ASSERT_TRUE(same_bits(d.data<float>()[i], want)) << i;
    }
    DType stored = q.encoding == "fp16" ? DType::f16 : q.encoding == "bf16" ? DType::bf16 : DType::f32;
    EXPECT_EQ(q.values.dtype(), stored);
    EXPECT_EQ(payload_bytes(q), size_t(w.numel()) * size_t(q.bits / 8));
  }
  EXPECT_TRUE(std::isinf(dequantize(quantize("w", w, QuantSpec{"fp16"})).get(1)));
}

TEST(Quantize, integer_tensors_are_stored_untouched) {
  Tensor perm({10}, DType::i32);
  for (int64_t i = 0; i < 10; i++) perm.set(i, (i * 7) % 10 - 3);
  QTensor q = quantize("perm", perm, QuantSpec{});
  EXPECT_EQ(q.encoding, "i32");
  Tensor d = dequantize(q);
  ASSERT_EQ(d.dtype(), DType::i32);
  EXPECT_EQ(std::memcmp(d.raw(), perm.raw(), perm.nbytes()), 0);
}

TEST(Quantize, bad_specs_are_refused) {
  Tensor w = test_weights({4, 4}, 6);
  EXPECT_THROW(quantize("w", w, QuantSpec{"int9"}), std::invalid_argument);
  EXPECT_THROW(quantize("w", w, QuantSpec{"int1"}), std::invalid_argument);
  EXPECT_THROW(quantize("w", w, QuantSpec{"i32"}), std::invalid_argument);
  EXPECT_THROW(quantize("w", w, QuantSpec{"int8", true, "median"}), std::invalid_argument);
  EXPECT_THROW(quantize("w", w, QuantSpec{"int8", true, "quantile", 1.5}), std::invalid_argument);
  EXPECT_THROW(quantize("w", w, QuantSpec{"int8", true, "sdclip", 0}), std::invalid_argument);
}

// ---- packing -----------------------------------------------------------------------------------

TEST(PackBits, round_trips_every_width_and_length) {
  Rng rng(7);
  for (int bits = 2; bits <= 8; bits++) {
    for (size_t count : {size_t(0), size_t(1), size_t(7), size_t(8), size_t(9), size_t(1001)}) {
      std::vector<int8_t> q(count);
      int lo = -(1 << (bits - 1)), span = 1 << bits;
      for (auto& v : q) v = int8_t(lo + int(rng.below(uint64_t(span))));
      std::string p = pack_bits(q, bits);
      ASSERT_EQ(p.size(), (count * size_t(bits) + 7) / 8);
      ASSERT_EQ(unpack_bits(p, bits, count), q) << bits << " bits, " << count << " values";
    }
  }
}

TEST(PackBits, layout_is_little_endian_twos_complement) {
  EXPECT_EQ(pack_bits({1, -1}, 4), std::string("\xF1", 1));
  EXPECT_EQ(pack_bits({1, -1, 0, -2}, 2), std::string("\x8D", 1));  // 01 | 11<<2 | 00<<4 | 10<<6
  // int6: 5 = 000101, -3 = 111101 -> bits 0-5 and 6-11: 0b01000101, 0b00001111
  EXPECT_EQ(pack_bits({5, -3}, 6), std::string("\x45\x0F", 2));
  EXPECT_EQ(pack_bits({-128, 127}, 8), std::string("\x80\x7F", 2));
}

TEST(PackBits, refuses_values_that_do_not_fit_and_short_input) {
  EXPECT_THROW(pack_bits({8}, 4), std::invalid_argument);
  EXPECT_THROW(pack_bits({-9}, 4), std::invalid_argument);
  EXPECT_THROW(pack_bits({0}, 9), std::invalid_argument);
  EXPECT_THROW(unpack_bits(std::string(2, '\0'), 6, 3), std::invalid_argument);
  EXPECT_NO_THROW(unpack_bits(std::string(3, '\0'), 6, 4));
}

TEST(PackBits, a_quantized_tensor_survives_packing) {
  Tensor w = test_weights({8, 33}, 8);
  for (int bits = 2; bits <= 8; bits++) {
    QTensor q = quantize("w", w, QuantSpec{"int" + std::to_string(bits)});
    EXPECT_EQ(unpack_bits(pack_bits(q.q, bits), bits, q.q.size()), q.q);
  }
}

// ---- clip rules --------------------------------------------------------------------------------

TEST(Clip, quantile_clips_an_outlier_that_max_keeps) {
  Tensor w({1, 4096}, DType::f32);
  Rng rng(9);
  for (int64_t j = 0; j < 4096; j++) w.set(j, rng.normal() * 0.02);
  w.set(100, 1.0);  // one outlier, 50 sigma
  QuantSpec max_spec{"int8"}, q_spec{"int8", true, "quantile", 0.999};
  uint16_t s_max = quantize("w", w, max_spec).scales[0];
  uint16_t s_q = quantize("w", w, q_spec).scales[0];
  EXPECT_LT(f16_to_f32(s_q), 0.5f * f16_to_f32(s_max));
  EXPECT_EQ(s_max, f32_to_f16(float(1.0 / 127)));
  // The clipped outlier saturates at ±qmax.
  EXPECT_EQ(quantize("w", w, q_spec).q[100], 127);
  // The baseline's quantile (99.99984%) is torch.quantile's linear interpolation: on 4096 values
  // it sits between the two largest.
  QTensor b = quantize("w", w, QuantSpec{"int8", true, "quantile", 0.9999984});
  std::vector<float> a(4096);
  for (int64_t j = 0; j < 4096; j++) a[size_t(j)] = std::fabs(w.data<float>()[j]);
  std::sort(a.begin(), a.end());
  double pos = 0.9999984 * 4095, want = double(a[4094]) + (double(a[4095]) - double(a[4094])) * (pos - 4094);
  EXPECT_EQ(b.scales[0], f32_to_f16(float(want / 127)));
}

TEST(Clip, search_is_never_worse_than_max) {
  Rng rng(10);
  Tensor w({32, 256}, DType::f32);
  for (int64_t i = 0; i < w.numel(); i++) {
    double z = rng.normal();
    w.set(i, z * z * z * 0.01);  // heavy tails, where clipping pays
  }
  for (int bits : {3, 4, 6}) {
    QuantSpec mx{"int" + std::to_string(bits)}, search{"int" + std::to_string(bits), true, "search"};
    Tensor dm = dequantize(quantize("w", w, mx)), ds = dequantize(quantize("w", w, search));
    int better = 0;
    for (int64_t r = 0; r < 32; r++) {
      double em = row_mse(w, dm, r, 256), es = row_mse(w, ds, r, 256);
      EXPECT_LE(es, em) << "row " << r;
      better += es < em;
    }
    EXPECT_GT(better, 0) << "int" << bits << ": the search should help some heavy-tailed row";
  }
}

TEST(Clip, sdclip_is_k_standard_deviations) {
  Tensor w = test_weights({5, 300}, 11);
  QuantSpec spec{"int6", true, "sdclip", 2.5};
  QTensor q = quantize("w", w, spec);
  for (int64_t r = 0; r < 5; r++) {
    if (r == 1) {
      EXPECT_EQ(q.scales[1], 0);
      continue;
    }
    double mean = 0, var = 0, amax = 0;
    for (int64_t j = 0; j < 300; j++) mean += w.get(r * 300 + j);
    mean /= 300;
    for (int64_t j = 0; j < 300; j++) {
      double x = w.get(r * 300 + j);
      var += (x - mean) * (x - mean);
      amax = std::max(amax, std::fabs(x));
    }
    double clip = std::min(2.5 * std::sqrt(var / 299), amax);
    EXPECT_EQ(q.scales[size_t(r)], f32_to_f16(float(clip / 31))) << r;
  }
  // A huge k never clips beyond the largest |w|.
  EXPECT_EQ(quantize("w", w, QuantSpec{"int6", true, "sdclip", 100}).scales, quantize("w", w, QuantSpec{"int6"}).scales);
}

TEST(Clip, min_scale_bounds_the_scale_as_the_baseline_does) {
  Tensor w = test_weights({4, 16}, 12);
  QuantSpec spec{"int8"};
  spec.min_scale = 1.0 / 127;
  QTensor q = quantize("w", w, spec);
  for (int64_t r : {0, 2, 3}) EXPECT_EQ(q.scales[size_t(r)], f32_to_f16(float(1.0 / 127)));
}

// ---- the quant table ---------------------------------------------------------------------------

// Anchored Lua patterns of the simple kind the rules use ("%." is a literal dot).
bool lua_match(const std::string& name, const std::string& pattern) {
  std::string re;
  for (size_t i = 0; i < pattern.size(); i++) {
    if (pattern[i] == '%' && i + 1 < pattern.size()) re += std::string("\\") + pattern[++i];
    else re += pattern[i];
  }
  return std::regex_match(name, std::regex(re));
}

Json baseline_like_table() {
  return Json::parse(R"({
    "default": "int8", "keep_float_below": 65536, "codec": "auto",
    "clip": { "quantile": 0.9999984 },
    "rules": [ { "match": "tok_emb%..*", "encoding": "int8" },
               { "match": "blocks%..*", "encoding": "int6", "clip": "search", "gptq": true } ],
    "control": [ "q_gain", "attn_scale", "mlp_scale", "resid_mix", "skip_weights" ] })");
}

TEST(ChooseSpec, baseline_names_get_the_baseline_encodings) {
  Json t = baseline_like_table();
  QuantSpec emb = choose_spec("tok_emb.weight", {1024, 512}, t, lua_match);
  EXPECT_EQ(emb.encoding, "int8");
  EXPECT_EQ(emb.clip, "quantile");
  EXPECT_DOUBLE_EQ(emb.clip_value, 0.9999984);
  EXPECT_TRUE(emb.per_row);
  EXPECT_FALSE(emb.gptq);

  QuantSpec q = choose_spec("blocks.0.attn.c_q.weight", {512, 512}, t, lua_match);
  EXPECT_EQ(q.encoding, "int6");
  EXPECT_EQ(q.clip, "search");
  EXPECT_TRUE(q.gptq);
  EXPECT_EQ(choose_spec("blocks.8.mlp.proj.weight", {512, 1024}, t, lua_match).encoding, "int6");

  // No rule: the default.
  QuantSpec other = choose_spec("lm_head.weight", {1024, 512}, t, lua_match);
  EXPECT_EQ(other.encoding, "int8");
  EXPECT_EQ(other.clip, "quantile");

  // Small tensors stay float: control tensors fp32, others fp16, rules notwithstanding.
  EXPECT_EQ(choose_spec("blocks.0.attn.q_gain", {8}, t, lua_match).encoding, "fp32");
  EXPECT_EQ(choose_spec("blocks.0.attn_scale", {512}, t, lua_match).encoding, "fp32");
  EXPECT_EQ(choose_spec("blocks.0.resid_mix", {2, 512}, t, lua_match).encoding, "fp32");
  EXPECT_EQ(choose_spec("skip_weights", {4, 512}, t, lua_match).encoding, "fp32");
  EXPECT_EQ(choose_spec("blocks.0.attn.c_k.weight", {128, 512}, t, lua_match).encoding, "fp16");
  EXPECT_EQ(choose_spec("blocks.0.attn.c_k.weight", {256, 256}, t, lua_match).encoding, "fp16");  // = 65536
  EXPECT_EQ(choose_spec("blocks.0.attn.c_k.weight", {257, 256}, t, lua_match).encoding, "int6");
  // A big vector is never integer-quantized.
  EXPECT_EQ(choose_spec("blocks.0.big_bias", {100000}, t, lua_match).encoding, "fp16");
  EXPECT_EQ(choose_spec("blocks.0.attn_scale_big", {100000}, t, lua_match).encoding, "fp32");
}

TEST(ChooseSpec, defaults_and_options) {
  QuantSpec d = choose_spec("x.weight", {512, 512}, Json(), lua_match);
  EXPECT_EQ(d.encoding, "int8");
  EXPECT_EQ(d.clip, "max");
  EXPECT_TRUE(d.per_row);
  // The baseline's default control list applies when the table has none.
  EXPECT_EQ(choose_spec("blocks.3.mlp_scale", {512}, Json(), lua_match).encoding, "fp32");
  EXPECT_EQ(choose_spec("blocks.3.attn_scales", {512}, Json(), lua_match).encoding, "fp32");
  EXPECT_EQ(choose_spec("blocks.3.norm", {512}, Json(), lua_match).encoding, "fp16");

  Json t = Json::parse(R"({ "default": "int5", "small": "bf16", "keep_float_below": 100, "per_row": false,
                            "clip": { "sdclip": 3.0 }, "min_scale": 0.001,
                            "rules": [ { "match": "a%.w", "per_row": true, "clip": "max", "encoding": "f16" } ] })");
  QuantSpec s = choose_spec("b.w", {32, 32}, t, lua_match);
  EXPECT_EQ(s.encoding, "int5");
  EXPECT_FALSE(s.per_row);
  EXPECT_EQ(s.clip, "sdclip");
  EXPECT_DOUBLE_EQ(s.clip_value, 3.0);
  EXPECT_DOUBLE_EQ(s.min_scale, 0.001);
  QuantSpec a = choose_spec("a.w", {32, 32}, t, lua_match);
  EXPECT_EQ(a.encoding, "fp16");
  EXPECT_TRUE(a.per_row);
  EXPECT_EQ(a.clip, "max");
  EXPECT_EQ(choose_spec("c.w", {10, 10}, t, lua_match).encoding, "bf16");
  EXPECT_EQ(choose_spec("c.w", {32, 32}, Json::parse(R"({"clip": "quantile"})"), lua_match).clip_value, 0.9999984);
}

TEST(ChooseSpec, malformed_tables_are_refused_with_the_setting_named) {
  auto fails_with = [](const std::string& json, const std::string& what) {
    try {
      choose_spec("blocks.0.w", {512, 512}, Json::parse(json), lua_match);
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
      return;
    }
    ADD_FAILURE() << "accepted " << json;
  };
  fails_with(R"({"default": "int12"})", "quant.default");
  fails_with(R"({"small": "int8"})", "quant.small");
  fails_with(R"({"clip": "median"})", "quant.clip");
  fails_with(R"({"clip": "sdclip"})", "quant.clip");
  fails_with(R"({"clip": {"quantile": 2}})", "quant.clip");
  fails_with(R"({"rules": [ {"match": "x", "bits": 6} ]})", "quant.rules[1]: unknown key 'bits'");
  fails_with(R"({"rules": [ {"encoding": "int6"} ]})", "quant.rules[1].match");
  fails_with(R"({"rules": [ {"match": "zzz", "encoding": "int6"}, {"match": "x", "encoding": "int99"} ]})",
             "quant.rules[2].encoding");
  fails_with(R"({"control": "q_gain"})", "quant.control");
}

// Messages that once named no value (issue 15): each must carry what it refused.
TEST(Quant, control_and_rules_that_are_not_lists_are_named) {
  std::string e = error_of([] { choose_spec("w", {16, 16}, Json::parse(R"({"control": 5})", "test"), lua_match); });
  EXPECT_NE(e.find("quant.control must be a list of name substrings, got 5"), std::string::npos) << e;
  e = error_of([] { choose_spec("w", {16, 16}, Json::parse(R"({"rules": "int8"})", "test"), lua_match); });
  EXPECT_NE(e.find(R"(quant.rules must be a list of { match = ..., encoding = ... }, got "int8")"), std::string::npos) << e;
}

}  // namespace
}  // namespace golf
