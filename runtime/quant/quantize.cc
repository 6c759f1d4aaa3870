#include "runtime/quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

namespace golf {

int encoding_bits(const std::string& e) {
  if (e.size() == 4 && e.compare(0, 3, "int") == 0 && e[3] >= '2' && e[3] <= '8') return e[3] - '0';
  if (e == "fp16" || e == "bf16" || e == "fp32" || e == "f16" || e == "f32") return 0;
  throw std::invalid_argument("unknown quant encoding '" + e + "' (expected int2..int8, fp16, bf16 or fp32)");
}

std::string canonical_encoding(const std::string& e) {
  encoding_bits(e);
  if (e == "f16") return "fp16";
  if (e == "f32") return "fp32";
  return e;
}

namespace {

constexpr double kCandidateQuantiles[] = {0.999, 0.9995, 0.9999, 0.99999, 1.0};

// torch.quantile's rule (linear interpolation between order statistics) on sorted values.
double quantile_sorted(const std::vector<float>& a, double q) {
  if (a.empty()) return 0.0;
  double pos = q * double(a.size() - 1);
  size_t lo = size_t(std::floor(pos));
  size_t hi = std::min(lo + 1, a.size() - 1);
  return double(a[lo]) + (double(a[hi]) - double(a[lo])) * (pos - double(lo));
}

// clip / qmax as an fp16 bit pattern. A positive clip never yields a zero scale (it would erase a
// row that is not zero) nor an infinite one (it would make every q zero).
uint16_t scale_bits(double clip, int qmax, double min_scale) {
  if (!(clip > 0)) return 0;
  double s = std::max(clip / qmax, min_scale);
  uint16_t h = f32_to_f16(float(s));
  if ((h & 0x7fffu) == 0) return 0x0001;       // smallest subnormal
  if ((h & 0x7fffu) >= 0x7c00u) return 0x7bff;  // largest finite
  return h;
}

double row_sq_error(const float* w, int64_t n, uint16_t sbits, int qmax) {
  float s = f16_to_f32(sbits);
  double e = 0;
  for (int64_t j = 0; j < n; j++) {
    double d = double(w[j]) - double(dequant_value(quantize_value(w[j], s, qmax), s));
    e += d * d;
  }
  return e;
}

uint16_t choose_row_scale(const float* w, int64_t n, int qmax, const QuantSpec& spec) {
  double amax = 0;
  for (int64_t j = 0; j < n; j++) amax = std::max(amax, std::fabs(double(w[j])));
  if (spec.clip == "max") return scale_bits(amax, qmax, spec.min_scale);
  if (spec.clip == "sdclip") {
    double mean = 0;
    for (int64_t j = 0; j < n; j++) mean += w[j];
    mean /= double(std::max<int64_t>(n, 1));
    double var = 0;
    for (int64_t j = 0; j < n; j++) var += (w[j] - mean) * (w[j] - mean);
    double sd = n > 1 ? std::sqrt(var / double(n - 1)) : 0.0;  // unbiased, as torch.std
    // k·std(row)/qmax as PARAMETER_GOLF.md and the 1.0611 record compute it, even where k·std is
    // above the largest |w|: the coarser grid is the point there (fewer codes in use, a smaller
    // compressed artifact), not an accident to cap.
    return scale_bits(spec.clip_value * sd, qmax, spec.min_scale);
  }
  std::vector<float> a(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; j++) a[size_t(j)] = std::fabs(w[j]);
  std::sort(a.begin(), a.end());
  if (spec.clip == "quantile") return scale_bits(quantile_sorted(a, spec.clip_value), qmax, spec.min_scale);
  // search: the candidate whose reconstruction has the least squared error; 1.0 (max) is among
  // them, so search is never worse than max.
  uint16_t best = 0;
  double best_err = INFINITY;
  for (double q : kCandidateQuantiles) {
    uint16_t s = scale_bits(quantile_sorted(a, q), qmax, spec.min_scale);
    double e = row_sq_error(w, n, s, qmax);
    if (e < best_err) best_err = e, best = s;
  }
  return best;
}

void check_clip(const QuantSpec& spec) {
  if (spec.clip == "max" || spec.clip == "search") return;
  if (spec.clip == "quantile") {
    if (!(spec.clip_value > 0 && spec.clip_value <= 1))
      throw std::invalid_argument("quant clip quantile must be in (0, 1], got " + std::to_string(spec.clip_value));
    return;
  }
  if (spec.clip == "sdclip") {
    if (!(spec.clip_value > 0))
      throw std::invalid_argument("quant clip sdclip k must be > 0, got " + std::to_string(spec.clip_value));
    return;
  }
  throw std::invalid_argument("unknown quant clip '" + spec.clip + "' (expected max, quantile, search or sdclip)");
}

}  // namespace

int8_t quantize_value(double w, float scale, int qmax) {
  if (scale == 0.0f) return 0;
  double r = std::nearbyint(w / double(scale));  // half to even, as torch.round
  return int8_t(std::clamp(r, double(-qmax), double(qmax)));
}

std::vector<uint16_t> choose_scales(const float* w, int64_t rows, int64_t cols, int bits, const QuantSpec& spec) {
  check_clip(spec);
  if (bits < 2 || bits > 8) throw std::invalid_argument("quant: integer width must be 2..8, got " + std::to_string(bits));
  int qmax = (1 << (bits - 1)) - 1;
  std::vector<uint16_t> scales(static_cast<size_t>(rows));
#pragma omp parallel for schedule(dynamic, 16) if (rows * cols > (1 << 16))
  for (int64_t r = 0; r < rows; r++) scales[size_t(r)] = choose_row_scale(w + r * cols, cols, qmax, spec);
  return scales;
}

QTensor quantize(const std::string& name, const Tensor& w_in, const QuantSpec& spec) {
  QTensor t;
  t.name = name;
  t.shape = w_in.shape();
  if (w_in.dtype() == DType::i32) {
    t.encoding = "i32";
    t.bits = 32;
    t.per_row = false;
    t.values = w_in.clone();
    return t;
  }
  if (!dtype_is_float(w_in.dtype()))
    throw std::invalid_argument("quantize '" + name + "': cannot store a " + dtype_name(w_in.dtype()) + " tensor");
  Tensor w = w_in.dtype() == DType::f32 ? w_in : w_in.to(DType::f32);
  const float* x = w.data<float>();
  int64_t n = w.numel();
  t.encoding = canonical_encoding(spec.encoding);
  int bits = encoding_bits(t.encoding);
  if (bits == 0) {
    t.per_row = false;
    if (t.encoding == "fp32") {
      t.bits = 32;
      t.values = w.clone();
    } else {
      t.bits = 16;
      bool half = t.encoding == "fp16";
      t.values = Tensor(t.shape, half ? DType::f16 : DType::bf16);
      uint16_t* y = t.values.data<uint16_t>();
      for (int64_t i = 0; i < n; i++) y[i] = half ? f32_to_f16(x[i]) : f32_to_bf16(x[i]);
    }
    return t;
  }
  t.bits = bits;
  t.per_row = spec.per_row && t.shape.size() >= 2;
  int64_t rows = t.rows(), cols = rows ? n / rows : 0;
  try {
    t.scales = choose_scales(x, rows, cols, bits, spec);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("quantize '" + name + "': " + e.what());
  }
  int qmax = (1 << (bits - 1)) - 1;
  t.q.resize(size_t(n));
  for (int64_t r = 0; r < rows; r++) {
    float s = f16_to_f32(t.scales[size_t(r)]);
    for (int64_t j = r * cols; j < (r + 1) * cols; j++) t.q[size_t(j)] = quantize_value(x[j], s, qmax);
  }
  return t;
}

Tensor dequantize(const QTensor& t) {
  if (t.encoding == "i32") return t.values.clone();
  Tensor out(t.shape, DType::f32);
  float* y = out.data<float>();
  int64_t n = out.numel();
  if (!t.is_int()) {
    if (t.values.numel() != n) throw std::invalid_argument("dequantize '" + t.name + "': values do not match the shape");
    if (t.encoding == "fp32") {
      std::copy_n(t.values.data<float>(), n, y);
    } else {
      const uint16_t* h = t.values.data<uint16_t>();
      bool half = t.encoding == "fp16";
      for (int64_t i = 0; i < n; i++) y[i] = half ? f16_to_f32(h[i]) : bf16_to_f32(h[i]);
    }
    return out;
  }
  int64_t rows = t.scale_count();
  if (int64_t(t.q.size()) != n || int64_t(t.scales.size()) != rows)
    throw std::invalid_argument("dequantize '" + t.name + "': " + std::to_string(t.q.size()) + " values and " +
                                std::to_string(t.scales.size()) + " scales for shape " + shape_str(t.shape));
  // A grouped tensor's "rows" are its groups: `group` consecutive elements, the last one shorter.
  int64_t cols = t.group > 0 ? t.group : rows ? n / rows : 0;
  for (int64_t r = 0; r < rows; r++) {
    float s = f16_to_f32(t.scales[size_t(r)]);
    for (int64_t j = r * cols; j < std::min(n, (r + 1) * cols); j++) y[j] = dequant_value(t.q[size_t(j)], s);
  }
  return out;
}

size_t payload_bytes(const QTensor& t) {
  size_t n = size_t(shape_numel(t.shape));
  if (t.is_int()) return (n * size_t(t.bits) + 7) / 8 + 2 * t.scales.size();
  return n * size_t(t.bits / 8);
}

std::string pack_bits(const std::vector<int8_t>& q, int bits) {
  if (bits < 2 || bits > 8) throw std::invalid_argument("pack_bits: width must be 2..8, got " + std::to_string(bits));
  int lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
  std::string out((q.size() * size_t(bits) + 7) / 8, '\0');
  uint32_t mask = (1u << bits) - 1;
  size_t bit = 0;
  for (size_t i = 0; i < q.size(); i++, bit += size_t(bits)) {
    if (q[i] < lo || q[i] > hi)
      throw std::invalid_argument("pack_bits: value " + std::to_string(q[i]) + " at " + std::to_string(i) +
                                  " does not fit in " + std::to_string(bits) + " bits");
    // A field spans at most two bytes (bits <= 8).
    uint32_t v = (uint32_t(uint8_t(q[i])) & mask) << (bit % 8);
    out[bit / 8] = char(uint8_t(out[bit / 8]) | uint8_t(v));
    if (v >> 8) out[bit / 8 + 1] = char(uint8_t(out[bit / 8 + 1]) | uint8_t(v >> 8));
  }
  return out;
}

std::vector<int8_t> unpack_bits(const std::string& packed, int bits, size_t count) {
  if (bits < 2 || bits > 8) throw std::invalid_argument("unpack_bits: width must be 2..8, got " + std::to_string(bits));
  if (count > packed.size() * 8 / size_t(bits))
    throw std::invalid_argument("unpack_bits: " + std::to_string(packed.size()) + " bytes cannot hold " +
                                std::to_string(count) + " " + std::to_string(bits) + "-bit values");
  std::vector<int8_t> q(count);
  const auto* p = reinterpret_cast<const uint8_t*>(packed.data());
  uint32_t mask = (1u << bits) - 1, sign = 1u << (bits - 1);
  size_t bit = 0;
  for (size_t i = 0; i < count; i++, bit += size_t(bits)) {
    size_t b = bit / 8;
    uint32_t v = p[b];
    if (b + 1 < packed.size()) v |= uint32_t(p[b + 1]) << 8;
    v = (v >> (bit % 8)) & mask;
    q[i] = int8_t(int32_t(v ^ sign) - int32_t(sign));  // sign-extend the field
  }
  return q;
}

// ---- the script's quant table ------------------------------------------------------------------

namespace {

const std::vector<std::string>& default_control() {
  // The baseline's CONTROL_TENSOR_NAME_PATTERNS (substrings: "attn_scale" also covers "attn_scales").
  static const std::vector<std::string> c = {"attn_scale", "mlp_scale", "resid_mix", "q_gain", "skip_weight"};
  return c;
}

void read_clip(const Json& c, QuantSpec& spec, const std::string& what) {
  if (c.is_null()) return;
  if (c.is_string()) {
    spec.clip = c.str(what);
    spec.clip_value = 0;
    if (spec.clip == "quantile") spec.clip_value = 0.9999984;  // the baseline's 99.99984%
    if (spec.clip == "sdclip")
      throw std::invalid_argument(what + " = \"sdclip\" needs its k: write { sdclip = 3.0 }");
  } else if (c.is_object()) {
    if (c.size() != 1)
      throw std::invalid_argument(what + " must have one key: quantile = q or sdclip = k (got " + c.dump() + ")");
    const auto& [key, value] = *c.fields().begin();
    spec.clip = key;
    spec.clip_value = (key == "max" || key == "search") ? 0 : value.number(what + "." + key);
  } else {
    throw std::invalid_argument(what + " must be \"max\", \"search\", { quantile = q } or { sdclip = k }, not " + c.dump());
  }
  try {
    check_clip(spec);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(what + ": " + e.what());
  }
}

std::string read_encoding(const Json& e, const std::string& what) {
  try {
    return canonical_encoding(e.str(what));
  } catch (const std::invalid_argument& err) {
    throw std::invalid_argument(what + ": " + err.what());
  }
}

struct Rule {
  std::string pattern;
  const Json* body;
  std::string what;
};

}  // namespace

QuantSpec choose_spec(const std::string& name, const Shape& shape, const Json& quant,
                      const std::function<bool(const std::string&, const std::string&)>& match) {
  if (!quant.is_null() && !quant.is_object()) throw std::invalid_argument("quant must be a table, not " + quant.dump());
  QuantSpec spec;
  if (quant.has("default")) spec.encoding = read_encoding(quant["default"], "quant.default");
  spec.per_row = quant.get("per_row", true);
  spec.min_scale = quant.get("min_scale", 0.0);
  spec.gptq = quant.get("gptq", false);
  read_clip(quant["clip"], spec, "quant.clip");
  int64_t keep_below = quant.get("keep_float_below", int64_t(65536));
  std::string small = quant.has("small") ? read_encoding(quant["small"], "quant.small") : "fp16";
  if (encoding_bits(small) != 0) throw std::invalid_argument("quant.small must be a float encoding, got " + small);

  std::vector<std::string> control;
  const Json& c = quant["control"];
  if (c.is_null()) {
    control = default_control();
  } else {
    if (!c.is_array() && !(c.is_object() && c.size() == 0))  // an empty Lua table may arrive as {}
      throw std::invalid_argument("quant.control must be a list of name substrings, got " + c.dump());
    for (size_t i = 0; i < c.items().size(); i++) control.push_back(c[i].str("quant.control[" + std::to_string(i + 1) + "]"));
  }

  // Every rule is checked, matched or not, so a typo fails on the first tensor.
  std::vector<Rule> rules;
  const Json& rs = quant["rules"];
  if (!rs.is_null() && !rs.is_array() && !(rs.is_object() && rs.size() == 0))
    throw std::invalid_argument("quant.rules must be a list of { match = ..., encoding = ... }, got " + rs.dump());
  static const std::set<std::string> rule_keys = {"match", "encoding", "clip", "per_row", "min_scale", "gptq"};
  for (size_t i = 0; i < rs.items().size(); i++) {
    std::string what = "quant.rules[" + std::to_string(i + 1) + "]";
    const Json& r = rs[i];
    if (!r.is_object()) throw std::invalid_argument(what + " must be a table");
    for (const auto& [k, v] : r.fields())
      if (!rule_keys.count(k))
        throw std::invalid_argument(what + ": unknown key '" + k + "' (expected match, encoding, clip, per_row, min_scale, gptq)");
    if (!r.has("match")) throw std::invalid_argument(what + ".match is required");
    QuantSpec probe = spec;
    if (r.has("encoding")) read_encoding(r["encoding"], what + ".encoding");
    read_clip(r["clip"], probe, what + ".clip");
    rules.push_back({r["match"].str(what + ".match"), &r, what});
  }

  bool is_control = std::any_of(control.begin(), control.end(),
                                [&](const std::string& p) { return !p.empty() && name.find(p) != std::string::npos; });
  if (shape_numel(shape) <= keep_below) {
    spec.encoding = is_control ? "fp32" : small;
    return spec;
  }
  for (const Rule& rule : rules) {
    if (!match(name, rule.pattern)) continue;
    const Json& r = *rule.body;
    if (r.has("encoding")) spec.encoding = read_encoding(r["encoding"], rule.what + ".encoding");
    read_clip(r["clip"], spec, rule.what + ".clip");
    spec.per_row = r.get("per_row", spec.per_row);
    spec.min_scale = r.get("min_scale", spec.min_scale);
    spec.gptq = r.get("gptq", spec.gptq);
    break;
  }
  if (encoding_bits(spec.encoding) != 0 && shape.size() < 2) spec.encoding = is_control ? "fp32" : small;
  return spec;
}

void check_quant_table(const Json& quant, const std::function<bool(const std::string&, const std::string&)>& match,
                       const std::vector<std::pair<std::string, Shape>>& tensors) {
  // Lua reads a pattern only as far as a subject gets, so a malformed one shows only when a name
  // reaches it: the names export will try are the ones to try.
  auto checked_match = [&](const std::string& name, const std::string& pattern) {
    try {
      return match(name, pattern);
    } catch (const std::exception& e) {
      throw std::invalid_argument("quant.rules match '" + pattern + "' (tried on " + name + "): " + e.what());
    }
  };
  choose_spec("", {1, 1}, quant, checked_match);  // the settings and every rule's keys, even with no tensors
  for (const auto& [name, shape] : tensors) choose_spec(name, shape, quant, checked_match);
}

}  // namespace golf
