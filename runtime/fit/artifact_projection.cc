#include "runtime/fit/artifact_projection.h"

#include <set>

#include "runtime/artifact/byte_io.h"
#include "runtime/artifact/codec.h"

namespace golf::fit {

using namespace artifact_format;

namespace {

uint64_t align_up(uint64_t x) { return (x + kAlignment - 1) / kAlignment * kAlignment; }

// The table's (code, bits) for a stored encoding (docs/artifact.md, "Tensor table").
std::pair<uint8_t, uint8_t> encoding_code(const std::string& enc) {
  if (enc == "fp16") return {uint8_t(Encoding::fp16), 16};
  if (enc == "bf16") return {uint8_t(Encoding::bf16), 16};
  if (enc == "fp32") return {uint8_t(Encoding::fp32), 32};
  if (enc == "i32") return {uint8_t(Encoding::i32), 32};
  return {uint8_t(Encoding::int_n), uint8_t(encoding_bits(enc))};
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
    auto [code, bits] = encoding_code(enc);
    bool per_row = code == uint8_t(Encoding::int_n) && t.spec.per_row && t.shape.size() >= 2;
    uint64_t scales = 0, values = 0;
    stored_sizes(t, packed, &scales, &values);
    w.value<uint32_t>(uint32_t(t.name.size()));
    w.bytes(t.name.data(), t.name.size());
    w.value<uint8_t>(code);
    w.value<uint8_t>(bits);
    w.value<uint8_t>(per_row ? 1 : 0);
    w.value<uint8_t>(uint8_t(t.shape.size()));
    for (int64_t d : t.shape) w.value<uint64_t>(uint64_t(d));
    uint64_t so = place(scales);
    w.value<uint64_t>(so);
    w.value<uint64_t>(scales);
    uint64_t vo = place(values);
    w.value<uint64_t>(vo);
    w.value<uint64_t>(values);
  }
  w.value<uint64_t>(cursor);
  w.zeros(align_up(w.size()) - w.size());
  return std::move(w.out());
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
