#include "runtime/fit/artifact_projection.h"

#include <algorithm>
#include <set>

#include "runtime/artifact/byte_io.h"
#include "runtime/artifact/codec.h"

namespace golf::fit {

using namespace artifact_format;

namespace {

uint64_t align_up(uint64_t x) { return (x + kAlignment - 1) / kAlignment * kAlignment; }

// The table's (code, bits) for a stored encoding (docs/artifact.md, "Tensor table").
std::pair<uint8_t, uint8_t> encoding_code(const std::string& enc, int64_t group) {
  if (enc == "fp16") return {uint8_t(Encoding::fp16), 16};
  if (enc == "bf16") return {uint8_t(Encoding::bf16), 16};
  if (enc == "fp32") return {uint8_t(Encoding::fp32), 32};
  if (enc == "i32") return {uint8_t(Encoding::i32), 32};
  return {uint8_t(group > 0 ? Encoding::int_n_grouped : Encoding::int_n), uint8_t(encoding_bits(enc))};
}

}  // namespace

std::string body_prefix(const ArtifactPlan& p, bool shuffle, bool packed) {
  (void)shuffle;  // shuffling changes the arrays' bytes, never their lengths
  std::string meta = p.meta.is_null() ? "{}" : p.meta.dump();
  ByteWriter w;
  w.value<uint32_t>(p.op_set.ops);
  w.value<uint64_t>(p.op_set.fingerprint);
  w.value<uint64_t>(meta.size());
  w.bytes(meta.data(), meta.size());
  w.value<uint32_t>(uint32_t(p.sources.size()));
  for (const auto& [name, text] : p.sources) {
    w.value<uint32_t>(uint32_t(name.size()));
    w.bytes(name.data(), name.size());
    w.value<uint64_t>(text.size());
    w.bytes(text.data(), text.size());
  }
  w.value<uint32_t>(uint32_t(p.tensors.size()));
  uint64_t cursor = 0;
  auto place = [&](uint64_t length) {
    uint64_t offset = align_up(cursor);
    cursor = offset + length;
    return offset;
  };
  for (const TensorPlan& t : p.tensors) {
    std::string enc = stored_encoding(t);
    auto [code, bits] = encoding_code(enc, t.lqer_factor ? t.group : 0);
    bool per_row = code == uint8_t(Encoding::int_n) && t.spec.per_row && t.shape.size() >= 2 && !t.lqer_factor;
    uint64_t scales = 0, values = 0;
    stored_sizes(t, packed, &scales, &values);
    w.value<uint32_t>(uint32_t(t.name.size()));
    w.bytes(t.name.data(), t.name.size());
    w.value<uint8_t>(code);
    w.value<uint8_t>(bits);
    w.value<uint8_t>(per_row ? 1 : 0);
    w.value<uint8_t>(uint8_t(t.shape.size()));
    for (int64_t d : t.shape) w.value<uint64_t>(uint64_t(d));
    if (code == uint8_t(Encoding::int_n_grouped)) w.value<uint64_t>(uint64_t(t.group));
    uint64_t so = place(scales);
    w.value<uint64_t>(so);
    w.value<uint64_t>(scales);
    uint64_t vo = place(values);
    w.value<uint64_t>(vo);
    w.value<uint64_t>(values);
  }
  bool version_2 = !p.corrections.empty();  // as artifact_version(): grouped tensors come with corrections here
  for (const TensorPlan& t : p.tensors) version_2 |= t.lqer_factor && t.group > 0;
  if (version_2) {
    w.value<uint32_t>(uint32_t(p.corrections.size()));
    for (const LowRankCorrection& c : p.corrections) {
      w.value<uint32_t>(c.base);
      w.value<uint32_t>(c.a);
      w.value<uint32_t>(c.b);
    }
  }
  w.value<uint64_t>(cursor);
  w.zeros(align_up(w.size()) - w.size());
  return std::move(w.out());
}

void plan_lqer(ArtifactPlan& p, const LqerSpec& spec, bool packed) {
  if (spec.top <= 0) return;
  struct Choice {
    size_t index;
    TensorPlan a, b;
    uint64_t bytes;
  };
  std::vector<Choice> choices;
  for (size_t i = 0; i < p.tensors.size(); i++) {
    const TensorPlan& t = p.tensors[i];
    if (!t.drawn || t.lqer_factor || t.shape.size() != 2 || stored_encoding(t).compare(0, 3, "int") != 0) continue;
    const int64_t r = std::min<int64_t>(spec.rank, std::min(t.shape[0], t.shape[1]));
    if (r < 1) continue;
    Choice c{i, {}, {}, 0};
    c.a.name = t.name + ".lqer_a";
    c.a.shape = {t.shape[0], r};
    c.a.spec.encoding = "int" + std::to_string(spec.a_bits);
    c.a.spec.per_row = false;
    c.a.lqer_factor = true;
    c.b.name = t.name + ".lqer_b";
    c.b.shape = {r, t.shape[1]};
    c.b.spec.encoding = "int" + std::to_string(spec.b_bits);
    c.b.spec.per_row = false;
    c.b.lqer_factor = true;
    c.b.group = spec.group;
    for (const TensorPlan* f : {&c.a, &c.b}) {
      uint64_t s = 0, v = 0;
      stored_sizes(*f, packed, &s, &v);
      c.bytes += s + v;
    }
    choices.push_back(std::move(c));
  }
  std::stable_sort(choices.begin(), choices.end(), [](const Choice& x, const Choice& y) { return x.bytes > y.bytes; });
  if (choices.size() > size_t(spec.top)) choices.resize(size_t(spec.top));
  for (Choice& c : choices) {
    LowRankCorrection lr;
    lr.base = uint32_t(c.index);
    lr.a = uint32_t(p.tensors.size());
    p.tensors.push_back(std::move(c.a));
    lr.b = uint32_t(p.tensors.size());
    p.tensors.push_back(std::move(c.b));
    p.corrections.push_back(lr);
  }
}

ArtifactProjection project_artifact(const ArtifactPlan& p, TensorProjector& projector,
                                    const std::function<void(size_t, size_t)>& progress) {
  const ProjectionOptions& o = projector.options();
  std::string prefix = body_prefix(p, o.shuffle, o.packed);
  std::vector<double> total(o.codecs.size()), error(o.codecs.size());
  std::vector<std::vector<double>> each(o.codecs.size());
  for (size_t c = 0; c < o.codecs.size(); c++) total[c] = double(kHeaderSize + compress_body(prefix, o.codecs[c]).size());
  ArtifactProjection out;
  std::set<std::string> sources;
  for (size_t i = 0; i < p.tensors.size(); i++) {
    std::vector<TensorEstimate> e = projector.project(p.tensors[i]);
    for (size_t c = 0; c < e.size(); c++) total[c] += e[c].bytes, error[c] += e[c].error, each[c].push_back(e[c].bytes);
    if (e[0].sampled_rows > 0) out.sampled_tensors++;
    sources.insert(e[0].source);
    if (progress) progress(i + 1, p.tensors.size());
  }
  size_t best = 0;  // "auto" keeps the smaller, zstd on a tie (the encoder's rule)
  for (size_t c = 1; c < total.size(); c++)
    if (total[c] < total[best]) best = c;
  out.bytes = int64_t(total[best] + 0.5);
  out.error = error[best];
  out.codec = o.codecs[best];
  out.tensor_bytes = each[best];
  double tensors = 0;
  for (double b : each[best]) tensors += b;
  out.prefix_bytes = total[best] - tensors;
  out.sources.assign(sources.begin(), sources.end());
  return out;
}

}  // namespace golf::fit
