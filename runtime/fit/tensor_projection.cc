#include "runtime/fit/tensor_projection.h"

#include "runtime/quant/lqer.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <functional>
#include <sstream>
#include <thread>
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

// f(0) here, f(1..n-1) on their own threads; the first exception is rethrown.
void run_per_codec(size_t n, const std::function<void(size_t)>& f) {
  std::vector<std::exception_ptr> failures(n);
  std::vector<std::thread> threads;
  for (size_t c = 1; c < n; c++)
    threads.emplace_back([&, c] {
      try {
        f(c);
      } catch (...) {
        failures[c] = std::current_exception();
      }
    });
  try {
    f(0);
  } catch (...) {
    failures[0] = std::current_exception();
  }
  for (auto& t : threads) t.join();
  for (auto& e : failures)
    if (e) std::rethrow_exception(e);
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
    bool per_row = t.spec.per_row && t.shape.size() >= 2 && !t.lqer_factor;
    *scales = 2 * uint64_t(per_row ? t.shape[0] : 1);
    if (t.lqer_factor && t.group > 0) *scales = 2 * ((numel + uint64_t(t.group) - 1) / uint64_t(t.group));
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

bool TensorProjector::per_tensor_int(const TensorPlan& t) const {
  return stored_encoding(t).compare(0, 3, "int") == 0 && !(t.spec.per_row && t.shape.size() >= 2);
}

int64_t TensorProjector::sample_rows(const TensorPlan& t) const {
  uint64_t scale_bytes = 0, value_bytes = 0;
  stored_sizes(t, opt_.packed, &scale_bytes, &value_bytes);
  int64_t rows = row_count(t.shape);
  double row_bytes = double(scale_bytes + value_bytes) / double(std::max<int64_t>(rows, 1));
  int64_t k = std::max<int64_t>(2, int64_t(double(opt_.chunk_bytes) / std::max(row_bytes, 1.0)));
  // Float tensors are byte-shuffled over the whole tensor: a sample's planes are shorter than the
  // tensor's, and zstd's block splitting treats them differently (fp16 [512, 128] samples came
  // out 6% high), so they are compressed whole up to float_full_bytes.
  bool is_float = scale_bytes == 0;
  double full = double(is_float ? opt_.float_full_bytes : opt_.full_bytes);
  bool sampled = t.drawn && !t.lqer_factor && t.shape.size() >= 2 && double(scale_bytes + value_bytes) > full && k * opt_.chunks * 2 <= rows;
  return sampled ? k : 0;
}

std::string TensorProjector::cache_key(const TensorPlan& t) const {
  std::ostringstream k;
  // A sampled tensor with per-row scales is cached by its row form alone: its rows are
  // independent draws, so every tensor with rows of this length costs the same per row.
  bool by_row = sample_rows(t) > 0 && !per_tensor_int(t);
  if (by_row) k << "rows of " << shape_str(with_rows(t.shape, 1));
  else k << shape_str(t.shape);
  k << '|' << t.spec.encoding << '|' << t.spec.per_row << '|' << t.spec.clip << '|' << t.spec.clip_value << '|'
    << t.spec.min_scale << '|' << t.drawn << '|' << t.integer << '|' << t.lqer_factor << '|' << t.group;
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

std::vector<TensorEstimate> TensorProjector::scaled(const std::vector<RowFit>& fits, const TensorPlan& t) const {
  std::vector<TensorEstimate> out(fits.size());
  double rows = double(row_count(t.shape));
  for (size_t c = 0; c < fits.size(); c++) {
    const RowFit& f = fits[c];
    out[c].source = f.source;
    if (f.sampled_rows == 0) {
      out[c].bytes = f.whole_bytes;
      continue;
    }
    out[c].bytes = f.overhead + rows * f.rate;
    out[c].error = rows * (f.noise_per_row + f.learning_per_row);
    out[c].sampled_rows = f.sampled_rows;
  }
  return out;
}

std::vector<TensorEstimate> TensorProjector::project(const TensorPlan& t) {
  std::string key = cache_key(t);
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    cache_hits_++;
    return scaled(it->second, t);
  }
  projected_++;
  return scaled(cache_[key] = compute(t, true), t);
}

std::vector<TensorEstimate> TensorProjector::project_whole(const TensorPlan& t) { return scaled(compute(t, false), t); }

std::vector<TensorProjector::RowFit> TensorProjector::compute(const TensorPlan& t, bool allow_sampling) {
  std::vector<RowFit> out(opt_.codecs.size());
  Rng rng(opt_.seed ^ hash_string(cache_key(t)));
  std::string enc = stored_encoding(t);

  if (!t.drawn) {  // the declared values, whole: these tensors are small
    Tensor w(t.shape, t.integer ? DType::i32 : DType::f32);
    init_tensor(w, t.init, rng);
    QTensor q = quantize(t.name, w, t.spec);
    std::string bytes = stored_bytes(q, opt_.shuffle, opt_.packed);
    for (size_t c = 0; c < out.size(); c++) {
      out[c].whole_bytes = bytes.empty() ? 0 : double(compress_body(bytes, opt_.codecs[c]).size());
      out[c].source = "init";
    }
    return out;
  }

  if (t.lqer_factor) {  // small (rows or cols × rank): whole, Gaussian, the factor's own rule
    Tensor w(t.shape, DType::f32);
    for (int64_t i = 0; i < w.numel(); i++) w.data<float>()[i] = float(rng.normal());
    std::string bytes = stored_bytes(quantize_factor(t.name, w, encoding_bits(enc), t.group), opt_.shuffle, opt_.packed);
    for (size_t c = 0; c < out.size(); c++) {
      out[c].whole_bytes = bytes.empty() ? 0 : double(compress_body(bytes, opt_.codecs[c]).size());
      out[c].source = "lqer factor";
    }
    return out;
  }

  const SymbolStats* like = nullptr;
  std::string source = "gaussian";
  if (opt_.like && enc.compare(0, 3, "int") == 0) {
    like = opt_.like->find(tensor_class(t.name), encoding_bits(enc), &source);
    if (!like) source = "gaussian";  // no statistics at this width: the caller lists the sources used
  }
  const bool fixed = per_tensor_int(t) && !like;
  uint16_t fixed_scale = 0;
  if (fixed) fixed_scale = gaussian_rows(t, row_count(t.shape), rng, nullptr).scales.at(0);  // the whole tensor's
  auto draw = [&](int64_t rows) {
    return like ? like_rows(t, rows, *like, rng) : gaussian_rows(t, rows, rng, fixed ? &fixed_scale : nullptr);
  };

  const int64_t k = allow_sampling ? sample_rows(t) : 0;
  if (k == 0) {
    std::string bytes = stored_bytes(draw(row_count(t.shape)), opt_.shuffle, opt_.packed);
    run_per_codec(out.size(), [&](size_t c) {
      out[c].whole_bytes = double(compress_body(bytes, opt_.codecs[c]).size());
      out[c].source = source;
    });
    return out;
  }

  // The sampled estimate. m chunks of k rows, drawn independently, each compressed alone (b_i),
  // its first half alone (h_i), and all m chunks concatenated (B). A codec spends a fixed overhead
  // per stream (headers, entropy tables) that a chunk pays in full but the whole tensor once, so
  // the per-row cost is the marginal one, r = (B − mean b) / ((m − 1)·k), and the overhead
  // o = mean b − k·r is paid once: estimate = o + rows·r.
  // The stated error has two parts. Noise: the chunks are independent draws, so three standard
  // errors of their spread, 3·sd(b)/√m per k rows. Learning: Brotli's context models keep
  // improving with more input, so the marginal cost still falls between the sample and the whole
  // tensor; the fall seen inside the sample, from the half chunks' marginal cost
  // (mean b − mean h)/(k/2) to r, counted twice over every row. zstd shows almost none.
  // (tests/fit_test.cc checks whole projections land inside the stated error.)
  const int m = opt_.chunks;
  const int64_t half = k / 2;
  std::vector<std::string> chunk_bytes;
  std::string all;
  for (int i = 0; i < m; i++) {
    chunk_bytes.push_back(stored_bytes(draw(k), opt_.shuffle, opt_.packed));
    all += chunk_bytes.back();
  }
  // One thread per codec ("auto" projects with zstd and Brotli; Brotli is the slow one).
  auto fit_codec = [&](size_t c) {
    double mean = 0, var = 0, mean_h = 0;
    std::vector<double> b;
    for (const std::string& s : chunk_bytes) {
      b.push_back(double(compress_body(s, opt_.codecs[c]).size()));
      mean += b.back() / m;
      mean_h += double(compress_body(std::string_view(s).substr(0, s.size() * size_t(half) / size_t(k)), opt_.codecs[c]).size()) / m;
    }
    for (double x : b) var += (x - mean) * (x - mean) / (m - 1);
    double big = double(compress_body(all, opt_.codecs[c]).size());
    double r = (big - mean) / double((m - 1) * k);
    double r_half = (mean - mean_h) / double(k - half);
    out[c].overhead = std::max(0.0, mean - double(k) * r);
    out[c].rate = r;
    out[c].noise_per_row = 3 * std::sqrt(var / m) / double(k);
    out[c].learning_per_row = 2 * std::max(0.0, r_half - r);
    out[c].sampled_rows = int64_t(m) * k;
    out[c].source = source;
  };
  run_per_codec(out.size(), fit_codec);
  return out;
}

}  // namespace golf::fit
