#include "runtime/fit/tensor_projection.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "runtime/artifact/codec.h"
#include "runtime/artifact/shuffle.h"
#include "runtime/rng.h"

namespace golf::fit {

namespace {

int64_t row_count(const Shape& s) { return s.empty() ? 1 : s[0]; }
int64_t cols_of(const Shape& s) {
  int64_t c = 1;
  for (size_t i = 1; i < s.size(); i++) c *= s[i];
  return c;
}

Shape with_rows(const Shape& s, int64_t rows) {
  Shape out = s;
  if (!out.empty()) out[0] = rows;
  return out;
}

uint64_t hash_string(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: only to give each cache key its own stream
  for (char c : s) h = (h ^ uint8_t(c)) * 1099511628211ull;
  return h;
}

// Rows drawn like a trained artifact's: each row picks a bucket, a scale from it, and symbols
// i.i.d. from the bucket's histogram.
QTensor like_rows(const TensorPlan& t, int64_t rows, const SymbolStats& s, Rng& rng) {
  QTensor q;
  q.name = t.name;
  q.shape = with_rows(t.shape, rows);
  q.encoding = canonical_encoding(t.spec.encoding);
  q.bits = s.bits;
  q.per_row = t.spec.per_row;
  const int lo = -(1 << (s.bits - 1));
  int64_t cols = cols_of(t.shape);
  q.q.resize(size_t(rows * cols));
  uint16_t tensor_scale = 0;
  for (int64_t r = 0; r < rows; r++) {
    const SymbolBucket& b = s.buckets[size_t(rng.below(s.buckets.size()))];
    uint16_t scale = b.scales[size_t(rng.below(b.scales.size()))];
    if (r == 0) tensor_scale = scale;
    if (q.per_row) q.scales.push_back(scale);
    int8_t* out = q.q.data() + r * cols;
    for (int64_t j = 0; j < cols; j++) {
      double u = rng.uniform();
      size_t k = size_t(std::upper_bound(b.cdf.begin(), b.cdf.end(), u) - b.cdf.begin());
      out[j] = int8_t(lo + int(std::min(k, b.cdf.size() - 1)));
    }
  }
  if (!q.per_row) q.scales.push_back(tensor_scale);
  return q;
}

// Gaussian rows N(0, 1/fan_in) quantized by the spec. A per-tensor integer scale is the whole
// tensor's (fixed_scale), not the sample's: a quantile or max over fewer values is smaller.
QTensor gaussian_rows(const TensorPlan& t, int64_t rows, Rng& rng, const uint16_t* fixed_scale) {
  Tensor w(with_rows(t.shape, rows), DType::f32);
  double std = 1.0 / std::sqrt(double(t.shape.back()));
  float* x = w.data<float>();
  for (int64_t i = 0; i < w.numel(); i++) x[i] = float(std * rng.normal());
  if (!fixed_scale) return quantize(t.name, w, t.spec);
  QTensor q;
  q.name = t.name;
  q.shape = w.shape();
  q.encoding = canonical_encoding(t.spec.encoding);
  q.bits = encoding_bits(q.encoding);
  q.per_row = false;
  q.scales = {*fixed_scale};
  int qmax = (1 << (q.bits - 1)) - 1;
  float s = f16_to_f32(*fixed_scale);
  q.q.resize(size_t(w.numel()));
  for (int64_t i = 0; i < w.numel(); i++) q.q[size_t(i)] = quantize_value(x[i], s, qmax);
  return q;
}

}  // namespace

std::string stored_encoding(const TensorPlan& t) {
  if (!t.drawn && t.integer) return "i32";
  return canonical_encoding(t.spec.encoding);
}

void stored_sizes(const TensorPlan& t, bool packed, uint64_t* scales, uint64_t* values) {
  std::string enc = stored_encoding(t);
  uint64_t numel = uint64_t(shape_numel(t.shape));
  if (enc == "i32" || enc == "fp32") *scales = 0, *values = numel * 4;
  else if (enc == "fp16" || enc == "bf16") *scales = 0, *values = numel * 2;
  else {
    int bits = encoding_bits(enc);
    bool per_row = t.spec.per_row && t.shape.size() >= 2;
    *scales = 2 * uint64_t(per_row ? t.shape[0] : 1);
    *values = packed && bits < 8 ? (numel * uint64_t(bits) + 7) / 8 : numel;
  }
}

std::string stored_bytes(const QTensor& t, bool shuffle, bool packed) {
  std::string out;
  if (t.is_int()) {
    std::string scales(reinterpret_cast<const char*>(t.scales.data()), t.scales.size() * 2);
    out = shuffle ? shuffle_bytes(scales, 2) : scales;
    if (packed && t.bits < 8) out += pack_bits(t.q, t.bits);
    else out.append(reinterpret_cast<const char*>(t.q.data()), t.q.size());
    return out;
  }
  std::string_view raw(static_cast<const char*>(t.values.raw()), t.values.nbytes());
  size_t width = dtype_size(t.values.dtype());
  return shuffle ? shuffle_bytes(raw, width) : std::string(raw);
}

TensorProjector::TensorProjector(ProjectionOptions o) : opt_(std::move(o)) {
  if (opt_.codecs.empty()) throw std::invalid_argument("fit: no codec to project with");
  if (opt_.chunks < 2) throw std::invalid_argument("fit: the sampled estimate needs at least 2 chunks");
}

std::string TensorProjector::cache_key(const TensorPlan& t) const {
  std::ostringstream k;
  k << shape_str(t.shape) << '|' << t.spec.encoding << '|' << t.spec.per_row << '|' << t.spec.clip << '|'
    << t.spec.clip_value << '|' << t.spec.min_scale << '|' << t.drawn << '|' << t.integer;
  if (!t.drawn) {
    k << '|' << t.init.describe() << '|' << t.init.values.size();
    std::ostringstream v;
    for (double x : t.init.values) v << x << ',';
    k << '|' << hash_string(v.str());
  } else if (opt_.like && stored_encoding(t).compare(0, 3, "int") == 0) {
    k << "|like:" << tensor_class_name(tensor_class(t.name));
  }
  return k.str();
}

const std::vector<TensorEstimate>& TensorProjector::project(const TensorPlan& t) {
  std::string key = cache_key(t);
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    cache_hits_++;
    return it->second;
  }
  projected_++;
  return cache_[key] = compute(t, true);
}

std::vector<TensorEstimate> TensorProjector::project_whole(const TensorPlan& t) { return compute(t, false); }

std::vector<TensorEstimate> TensorProjector::compute(const TensorPlan& t, bool allow_sampling) {
  std::vector<TensorEstimate> out(opt_.codecs.size());
  Rng rng(opt_.seed ^ hash_string(cache_key(t)));
  std::string enc = stored_encoding(t);

  if (!t.drawn) {  // the declared values, whole: these tensors are small
    Tensor w(t.shape, t.integer ? DType::i32 : DType::f32);
    init_tensor(w, t.init, rng);
    QuantSpec spec = t.spec;
    QTensor q = quantize(t.name, w, spec);
    std::string bytes = stored_bytes(q, opt_.shuffle, opt_.packed);
    for (size_t c = 0; c < out.size(); c++) {
      out[c].bytes = bytes.empty() ? 0 : double(compress_body(bytes, opt_.codecs[c]).size());
      out[c].source = "init";
    }
    return out;
  }

  const SymbolStats* like = nullptr;
  std::string source = "gaussian";
  if (opt_.like && enc.compare(0, 3, "int") == 0) {
    like = opt_.like->find(tensor_class(t.name), encoding_bits(enc), &source);
    if (!like) source = "gaussian";  // the artifact has no statistics at this width: reported by the caller
  }
  bool per_tensor_int = enc.compare(0, 3, "int") == 0 && !(t.spec.per_row && t.shape.size() >= 2);
  uint16_t fixed_scale = 0;
  if (per_tensor_int && !like) {  // the whole tensor's scale, from a whole draw
    QTensor whole = gaussian_rows(t, row_count(t.shape), rng, nullptr);
    fixed_scale = whole.scales.at(0);
  }
  auto draw = [&](int64_t rows) {
    return like ? like_rows(t, rows, *like, rng) : gaussian_rows(t, rows, rng, per_tensor_int ? &fixed_scale : nullptr);
  };

  uint64_t scale_bytes = 0, value_bytes = 0;
  stored_sizes(t, opt_.packed, &scale_bytes, &value_bytes);
  const int64_t rows = row_count(t.shape);
  const double row_bytes = double(scale_bytes + value_bytes) / double(std::max<int64_t>(rows, 1));
  const int64_t k = std::max<int64_t>(1, int64_t(double(opt_.chunk_bytes) / std::max(row_bytes, 1.0)));
  const int m = opt_.chunks;
  if (!allow_sampling || t.shape.size() < 2 || double(scale_bytes + value_bytes) <= double(opt_.full_bytes) ||
      k * m * 2 > rows) {
    std::string bytes = stored_bytes(draw(rows), opt_.shuffle, opt_.packed);
    for (size_t c = 0; c < out.size(); c++) {
      out[c].bytes = double(compress_body(bytes, opt_.codecs[c]).size());
      out[c].source = source;
    }
    return out;
  }

  // The sampled estimate. m chunks of k rows, drawn independently, each compressed alone (b_i),
  // and their concatenation compressed once (B). A codec spends a fixed overhead per stream
  // (headers, entropy tables) that a chunk pays in full but the whole tensor only once, so the
  // per-row cost is the marginal one, r = (B − mean b) / ((m − 1)·k), and the overhead
  // o = mean b − k·r is paid once: estimate = o + rows·r. The stated error is three standard
  // errors of the chunks' spread scaled to the whole tensor, 3·sd(b)/√m · rows/k: the chunks are
  // independent draws, so their spread is the sampling noise (tests/fit_test.cc checks a full
  // projection lands inside it).
  std::vector<std::string> chunk_bytes;
  std::string all;
  for (int i = 0; i < m; i++) {
    chunk_bytes.push_back(stored_bytes(draw(k), opt_.shuffle, opt_.packed));
    all += chunk_bytes.back();
  }
  for (size_t c = 0; c < out.size(); c++) {
    std::vector<double> b;
    for (const std::string& s : chunk_bytes) b.push_back(double(compress_body(s, opt_.codecs[c]).size()));
    double big = double(compress_body(all, opt_.codecs[c]).size());
    double mean = 0, var = 0;
    for (double x : b) mean += x / m;
    for (double x : b) var += (x - mean) * (x - mean) / (m - 1);
    double r = (big - mean) / double((m - 1) * k);
    double overhead = std::max(0.0, mean - double(k) * r);
    out[c].bytes = overhead + double(rows) * r;
    out[c].error = 3 * std::sqrt(var / m) * double(rows) / double(k);
    out[c].sampled_rows = int64_t(m) * k;
    out[c].source = source;
  }
  return out;
}

}  // namespace golf::fit
