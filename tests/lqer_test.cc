// LQER (runtime/quant/lqer.h) against its PyTorch reference of the 1.0611 record's rule
// (scripts/reference/lqer.py): which tensors are corrected, every factor code and scale, and the
// decoder's corrected weight; then the same through an artifact (format version 2) and the quant
// table's `lqer` key.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>

#include "dsl/artifact_model.h"
#include "runtime/artifact/artifact.h"
#include "runtime/fit/like_stats.h"
#include "runtime/dtype.h"
#include "runtime/quant/lqer.h"
#include "runtime/quant/quantize.h"
#include "tests/support/errors.h"
#include "tests/support/golden.h"
#include "tests/support/hostile_artifact.h"
#include "tests/support/tensor_dump.h"

namespace golf {
namespace {

std::map<std::string, Tensor> reference() {
  std::string dump = ::testing::TempDir() + "lqer_ref_" + std::to_string(::getpid()) + ".bin";
  std::string cmd = std::string("/usr/bin/python3 ") + GOLFRT_SOURCE_DIR + "/scripts/reference/lqer.py --out " + dump + " >/dev/null";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  std::map<std::string, Tensor> ref;
  for (auto& [name, t] : read_tensor_dump(dump)) ref[name] = t;
  std::remove(dump.c_str());
  return ref;
}

double frobenius(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); i++) s += (a.get(i) - b.get(i)) * (a.get(i) - b.get(i));
  return std::sqrt(s);
}

TEST(Lqer, factors_and_corrected_weights_match_the_reference) {
  if (!have_torch()) {
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") FAIL() << "python3-torch is missing (scripts/setup.sh installs it)";
    GTEST_SKIP() << "python3-torch is not installed";
  }
  std::map<std::string, Tensor> ref = reference();
  Artifact a;
  std::vector<std::pair<size_t, Tensor>> originals;
  QuantSpec spec{"int6", true, "sdclip", 12.85};
  for (int i = 0; ref.count("w" + std::to_string(i)); i++) {
    const Tensor& w = ref.at("w" + std::to_string(i));
    a.tensors.push_back(quantize("w" + std::to_string(i), w, spec));
    originals.push_back({a.tensors.size() - 1, w});
  }
  LqerSpec lqer;
  lqer.top = 3;
  std::vector<std::string> chosen = add_lqer(a, originals, lqer);
  const Tensor& order = ref.at("order");
  ASSERT_EQ(int64_t(chosen.size()), order.numel());
  ASSERT_EQ(a.corrections.size(), chosen.size());
  for (int64_t c = 0; c < order.numel(); c++) {
    std::string name = "w" + std::to_string(int(order.get(c)));
    SCOPED_TRACE(name);
    EXPECT_EQ(chosen[size_t(c)], name);
    const LowRankCorrection& lr = a.corrections[size_t(c)];
    const QTensor &fa = a.tensors[lr.a], &fb = a.tensors[lr.b];
    EXPECT_EQ(fa.name, name + ".lqer_a");
    EXPECT_EQ(fa.encoding, "int2");
    EXPECT_EQ(fb.encoding, "int4");
    EXPECT_EQ(fb.group, 64);
    int64_t diffs = 0;
    const Tensor &qa = ref.at(name + ".qa"), &qb = ref.at(name + ".qb"), &sa = ref.at(name + ".sa"), &sb = ref.at(name + ".sb");
    ASSERT_EQ(int64_t(fa.q.size()), qa.numel());
    ASSERT_EQ(int64_t(fb.q.size()), qb.numel());
    ASSERT_EQ(int64_t(fb.scales.size()), sb.numel());
    for (int64_t i = 0; i < qa.numel(); i++) diffs += fa.q[size_t(i)] != int8_t(qa.get(i));
    for (int64_t i = 0; i < qb.numel(); i++) diffs += fb.q[size_t(i)] != int8_t(qb.get(i));
    for (int64_t i = 0; i < sb.numel(); i++) diffs += f16_to_f32(fb.scales[size_t(i)]) != float(sb.get(i));
    diffs += f16_to_f32(fa.scales.at(0)) != float(sa.get(0));
    EXPECT_EQ(diffs, 0);
    // The decoder's weight: the reference's up to float32 summation order in A·B.
    Tensor got = dequantize_corrected(a, lr.base);
    const Tensor& want = ref.at(name + ".corrected");
    double worst = 0;
    for (int64_t i = 0; i < want.numel(); i++) worst = std::max(worst, std::fabs(got.get(i) - want.get(i)));
    EXPECT_LT(worst, 1e-6);
    // And it is a correction: closer to W than Ŵ alone.
    const Tensor& w = ref.at(name);
    EXPECT_LT(frobenius(w, got), 0.97 * frobenius(w, dequantize(a.tensors[lr.base])));
  }
  // The uncorrected tensor decodes as before.
  for (int i = 0; i < 4; i++) {
    bool corrected = false;
    for (const LowRankCorrection& lr : a.corrections) corrected |= lr.base == uint32_t(i);
    if (!corrected) {
      EXPECT_EQ(frobenius(dequantize_corrected(a, size_t(i)), dequantize(a.tensors[size_t(i)])), 0.0);
    }
  }
  // Through an artifact: version 2, and the decoder's weights bit for bit.
  std::string bytes = encode_artifact(a, {"brotli", true, false});
  Artifact back = decode_artifact(bytes, "lqer.golf");
  EXPECT_EQ(decode_artifact_header(bytes, "lqer.golf").version, 2);
  ASSERT_EQ(back.corrections, a.corrections);
  for (size_t i = 0; i < 4; i++) EXPECT_EQ(frobenius(dequantize_corrected(back, i), dequantize_corrected(a, i)), 0.0);
}

TEST(Lqer, quant_table_key_is_checked) {
  auto spec = [](const std::string& json) { return read_lqer(Json::parse(json)); };
  EXPECT_EQ(spec("{}").top, 0);
  EXPECT_EQ(spec("{\"lqer\": false}").top, 0);
  LqerSpec s = spec("{\"lqer\": {}}");
  EXPECT_EQ(s.top, 3);
  EXPECT_EQ(s.rank, 4);
  EXPECT_EQ(s.a_bits, 2);
  EXPECT_EQ(s.b_bits, 4);
  EXPECT_EQ(s.group, 64);
  EXPECT_NE(error_of([&] { spec("{\"lqer\": {\"rank\": 65}}"); }).find("quant.lqer.rank must be a whole number in 1..64, got 65"),
            std::string::npos);
  EXPECT_NE(error_of([&] { spec("{\"lqer\": {\"bits\": 4}}"); }).find("quant.lqer: unknown key 'bits'"), std::string::npos);
  EXPECT_NE(error_of([&] { spec("{\"lqer\": {\"top\": 1.5}}"); }).find("quant.lqer.top must be a whole number"), std::string::npos);
  EXPECT_NE(error_of([&] { spec("{\"lqer\": true}"); }).find("quant.lqer must be a table"), std::string::npos);
}

// A tensor whose quantization is exact has a zero error: no NaN from a zero scale, A zero (B is
// some unit vector, as the SVD of zero gives), the correction zero.
TEST(Lqer, a_zero_error_gives_zero_factors) {
  Tensor e({8, 64}, DType::f32);
  LqerSpec s;
  s.top = 1;
  LqerFactors f = lqer_factors("z", e, s);
  for (int8_t q : f.a.q) EXPECT_EQ(q, 0);
  Tensor w({8, 64}, DType::f32);
  add_low_rank(w, f.a, f.b);
  for (int64_t i = 0; i < w.numel(); i++) EXPECT_EQ(w.get(i), 0.0);
}

}  // namespace
}  // namespace golf

namespace golf {
namespace {

// End to end: examples/record.lua's quant table (its `lqer`) through the real exporter and loader.
// At the tiny preset every matrix is under keep_float_below, so it is lowered to 0 to make them
// int6 candidates; the loaded weights are the corrected ones, not Ŵ alone.
TEST(Lqer, the_record_script_exports_corrections_and_the_loader_applies_them) {
  hostile::RealModel r = hostile::example_model("record", Overrides{"tiny", {{"quant.keep_float_below", "0"}}});
  ASSERT_EQ(r.artifact.corrections.size(), 3u);
  std::string path = ::testing::TempDir() + "lqer_record_" + std::to_string(::getpid()) + ".golf";
  write_artifact(path, r.artifact);
  LoadedModel m = load_model(path);
  std::remove(path.c_str());
  ASSERT_EQ(m.artifact.corrections, r.artifact.corrections);
  for (const LowRankCorrection& c : m.artifact.corrections) {
    const QTensor& base = m.artifact.tensors[c.base];
    SCOPED_TRACE(base.name);
    const Tensor& loaded = m.eval_model->store.get(base.name);
    Tensor want = dequantize_corrected(m.artifact, c.base), plain = dequantize(base);
    EXPECT_EQ(frobenius(loaded, want), 0.0);
    EXPECT_GT(frobenius(loaded, plain), 0.0);
    // Closer to the exported weights than Ŵ alone.
    const Tensor& w = r.model->store.get(base.name);
    EXPECT_LT(frobenius(w, loaded), frobenius(w, plain));
  }
  // fit --like reads weight rows: the factors (int2, int4 in groups) are not among them.
  fit::LikeStats stats = fit::like_stats(r.artifact, "record");
  EXPECT_EQ(stats.pooled.count(2), 0u);
  EXPECT_EQ(stats.pooled.count(4), 0u);
  EXPECT_EQ(stats.pooled.count(6), 1u);
}

}  // namespace
}  // namespace golf
