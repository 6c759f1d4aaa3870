#include "runtime/quant/lqer.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <numeric>
#include <set>
#include <stdexcept>

extern "C" {
// LAPACK through OpenBLAS (the Fortran interface, trailing hidden string lengths included).
void dgesvd_(const char* jobu, const char* jobvt, const int* m, const int* n, double* a, const int* lda, double* s,
             double* u, const int* ldu, double* vt, const int* ldvt, double* work, const int* lwork, int* info,
             size_t jobu_len, size_t jobvt_len);
}

namespace golf {

namespace {

int lapack_int(int64_t v, const std::string& name) {
  if (v > INT_MAX) throw std::length_error("lqer '" + name + "': " + std::to_string(v) + " exceeds the LAPACK int range");
  return int(v);
}

int64_t whole(const Json& t, const char* key, int64_t def, int64_t lo, int64_t hi) {
  std::string what = std::string("quant.lqer.") + key;
  if (!t.has(key)) return def;
  double v = t[key].number(what);
  if (!(v >= double(lo) && v <= double(hi)) || v != std::floor(v))
    throw std::invalid_argument(what + " must be a whole number in " + std::to_string(lo) + ".." + std::to_string(hi) +
                                ", got " + t[key].dump());
  return int64_t(v);
}

}  // namespace

LqerSpec read_lqer(const Json& quant) {
  LqerSpec s;
  if (!quant.is_object() || !quant.has("lqer")) return s;
  const Json& t = quant["lqer"];
  if (t.is_bool() && !t.boolean()) return s;
  if (!t.is_object())
    throw std::invalid_argument("quant.lqer must be a table { top, rank, a_bits, b_bits, group } or false, not " + t.dump());
  static const std::set<std::string> keys = {"top", "rank", "a_bits", "b_bits", "group"};
  for (const auto& [k, v] : t.fields())
    if (!keys.count(k)) throw std::invalid_argument("quant.lqer: unknown key '" + k + "' (expected top, rank, a_bits, b_bits, group)");
  s.top = int(whole(t, "top", 3, 1, 1 << 20));
  s.rank = int(whole(t, "rank", 4, 1, int64_t(artifact_format::kMaxCorrectionRank)));
  s.a_bits = int(whole(t, "a_bits", 2, 2, 8));
  s.b_bits = int(whole(t, "b_bits", 4, 2, 8));
  s.group = whole(t, "group", 64, 0, int64_t(1) << 40);
  return s;
}

QTensor quantize_factor(const std::string& name, const Tensor& x_in, int bits, int64_t group) {
  if (bits < 2 || bits > 8) throw std::invalid_argument("lqer '" + name + "': factor width must be 2..8, got " + std::to_string(bits));
  Tensor x = x_in.dtype() == DType::f32 ? x_in : x_in.to(DType::f32);
  QTensor t;
  t.name = name;
  t.shape = x.shape();
  t.encoding = "int" + std::to_string(bits);
  t.bits = bits;
  t.per_row = false;
  t.group = group;
  const int64_t n = x.numel();
  const float* v = x.data<float>();
  const int64_t g = group > 0 ? group : std::max<int64_t>(n, 1);
  const int lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
  const float divisor = float(1 << (bits - 1)) - 0.5f;  // 1.5 for int2, 7.5 for int4
  t.q.resize(size_t(n));
  for (int64_t start = 0; start < n || (start == 0 && group == 0); start += g) {
    const int64_t end = std::min(n, start + g);
    float amax = 0;
    for (int64_t i = start; i < end; i++) amax = std::max(amax, std::fabs(v[i]));
    // In f32 as the record's torch code: max(amax, 1e-10) / divisor, then to fp16.
    uint16_t sb = f32_to_f16(std::max(amax, 1e-10f) / divisor);
    if ((sb & 0x7fffu) >= 0x7c00u) sb = 0x7bff;  // largest finite: a factor beyond fp16 is clamped
    t.scales.push_back(sb);
    const float s = f16_to_f32(sb);
    for (int64_t i = start; i < end; i++) {
      float r = s == 0.0f ? 0.0f : std::nearbyint(v[i] / s);  // half to even, in f32 as torch.round
      t.q[size_t(i)] = int8_t(std::clamp(r, float(lo), float(hi)));
    }
    if (n == 0) break;
  }
  return t;
}

LqerFactors lqer_factors(const std::string& name, const Tensor& error, const LqerSpec& spec) {
  if (error.shape().size() != 2) throw std::invalid_argument("lqer '" + name + "': the error must be a matrix, not " + shape_str(error.shape()));
  const int64_t rows = error.shape()[0], cols = error.shape()[1], k = std::min(rows, cols);
  const int64_t r = std::min<int64_t>(spec.rank, k);
  if (r < 1) throw std::invalid_argument("lqer '" + name + "': no rank-" + std::to_string(spec.rank) + " factors of " + shape_str(error.shape()));
  // Row-major E [rows, cols] is column-major Eᵀ [cols, rows]; its SVD Eᵀ = V·S·Uᵀ gives, in
  // column-major, U_M [cols, k] = V (row-major: Vᵀ, i.e. B's rows) and VT_M [k, rows] = Uᵀ
  // (row-major: U [rows, k] with row stride k).
  Tensor e32 = error.dtype() == DType::f32 ? error : error.to(DType::f32);
  std::vector<double> m(size_t(rows * cols));
  for (int64_t i = 0; i < rows * cols; i++) m[size_t(i)] = double(e32.data<float>()[i]);
  const int mm = lapack_int(cols, name), nn = lapack_int(rows, name), kk = lapack_int(k, name);
  std::vector<double> s(static_cast<size_t>(k)), um(static_cast<size_t>(cols * k)), vtm(static_cast<size_t>(k * rows));
  int info = 0, lwork = -1;
  double query = 0;
  dgesvd_("S", "S", &mm, &nn, m.data(), &mm, s.data(), um.data(), &mm, vtm.data(), &kk, &query, &lwork, &info, 1, 1);
  lwork = lapack_int(int64_t(query) + 1, name);
  std::vector<double> work(static_cast<size_t>(lwork));
  dgesvd_("S", "S", &mm, &nn, m.data(), &mm, s.data(), um.data(), &mm, vtm.data(), &kk, work.data(), &lwork, &info, 1, 1);
  if (info != 0) throw std::runtime_error("lqer '" + name + "': the SVD did not converge (LAPACK info " + std::to_string(info) + ")");

  Tensor a({rows, r}, DType::f32), b({r, cols}, DType::f32);
  for (int64_t j = 0; j < r; j++) {
    // u_j = row-major U[:, j] = vtm[j + i·k]; v_j = B row j = um[j·cols + c].
    int64_t arg = 0;
    for (int64_t i = 1; i < rows; i++)
      if (std::fabs(vtm[size_t(j + i * k)]) > std::fabs(vtm[size_t(j + arg * k)])) arg = i;
    const double sign = vtm[size_t(j + arg * k)] < 0 ? -1.0 : 1.0;
    for (int64_t i = 0; i < rows; i++) a.data<float>()[i * r + j] = float(sign * vtm[size_t(j + i * k)] * s[size_t(j)]);
    for (int64_t c = 0; c < cols; c++) b.data<float>()[j * cols + c] = float(sign * um[size_t(j * cols + c)]);
  }
  return {quantize_factor(name + ".lqer_a", a, spec.a_bits, 0), quantize_factor(name + ".lqer_b", b, spec.b_bits, spec.group)};
}

std::vector<std::string> add_lqer(Artifact& art, const std::vector<std::pair<size_t, Tensor>>& originals, const LqerSpec& spec) {
  std::vector<std::string> done;
  if (spec.top <= 0) return done;
  struct Candidate {
    size_t index;
    Tensor error;
    double norm;
  };
  std::vector<Candidate> cands;
  for (const auto& [index, w] : originals) {
    const QTensor& t = art.tensors.at(index);
    if (!t.is_int() || t.shape.size() != 2 || t.group != 0) continue;
    Tensor e = dequantize(t);  // Ŵ, then E = W − Ŵ in f32 as the record's torch code
    const float* x = w.data<float>();
    float* y = e.data<float>();
    double sq = 0;
    for (int64_t i = 0; i < e.numel(); i++) {
      y[i] = x[i] - y[i];
      sq += double(y[i]) * double(y[i]);
    }
    cands.push_back({index, std::move(e), std::sqrt(sq)});
  }
  std::stable_sort(cands.begin(), cands.end(), [](const Candidate& p, const Candidate& q) { return p.norm > q.norm; });
  if (cands.size() > size_t(spec.top)) cands.resize(size_t(spec.top));
  std::set<std::string> names;
  for (const QTensor& t : art.tensors) names.insert(t.name);
  for (Candidate& c : cands) {
    const std::string base = art.tensors[c.index].name;
    LqerFactors f = lqer_factors(base, c.error, spec);
    for (const QTensor* t : {&f.a, &f.b})
      if (names.count(t->name))
        throw std::invalid_argument("lqer: the correction of '" + base + "' would be named '" + t->name + "', which the model already uses");
    LowRankCorrection lr;
    lr.base = uint32_t(c.index);
    lr.a = uint32_t(art.tensors.size());
    art.tensors.push_back(std::move(f.a));
    lr.b = uint32_t(art.tensors.size());
    art.tensors.push_back(std::move(f.b));
    art.corrections.push_back(lr);
    done.push_back(base);
  }
  return done;
}

void add_low_rank(Tensor& w, const QTensor& fa, const QTensor& fb) {
  Tensor a = dequantize(fa), b = dequantize(fb);
  const int64_t rows = w.shape().at(0), cols = w.shape().at(1), r = a.shape().at(1);
  float* y = w.data<float>();
  const float *pa = a.data<float>(), *pb = b.data<float>();
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) {
      float acc = 0;
      for (int64_t k = 0; k < r; k++) acc += pa[i * r + k] * pb[k * cols + j];
      y[i * cols + j] += acc;
    }
}

Tensor dequantize_corrected(const Artifact& a, size_t index) {
  const QTensor& t = a.tensors.at(index);
  Tensor w = dequantize(t);
  for (const LowRankCorrection& c : a.corrections)
    if (c.base == index) add_low_rank(w, a.tensors.at(c.a), a.tensors.at(c.b));
  return w;
}

}  // namespace golf
