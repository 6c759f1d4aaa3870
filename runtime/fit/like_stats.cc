#include "runtime/fit/like_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <stdexcept>

namespace golf::fit {

namespace {

struct RowRef {
  const QTensor* t;
  int64_t row;
  double mean_abs_q;
};

SymbolStats build_stats(int bits, const std::vector<RowRef>& rows, int64_t tensors, int n_buckets) {
  SymbolStats s;
  s.bits = bits;
  s.tensors = tensors;
  s.rows = int64_t(rows.size());
  const int lo = -(1 << (bits - 1)), n_sym = 1 << bits;
  std::vector<RowRef> sorted = rows;
  std::stable_sort(sorted.begin(), sorted.end(), [](const RowRef& a, const RowRef& b) { return a.mean_abs_q < b.mean_abs_q; });
  int nb = int(std::min<int64_t>(n_buckets, s.rows));
  std::vector<double> pooled(size_t(n_sym), 0);
  for (int b = 0; b < nb; b++) {
    size_t first = size_t(s.rows * b / nb), last = size_t(s.rows * (b + 1) / nb);
    std::vector<double> hist(size_t(n_sym), 0);
    SymbolBucket bucket;
    double abs_sum = 0, count = 0;
    for (size_t i = first; i < last; i++) {
      const QTensor& t = *sorted[i].t;
      int64_t cols = int64_t(t.q.size()) / t.shape[0];
      const int8_t* q = t.q.data() + sorted[i].row * cols;
      for (int64_t j = 0; j < cols; j++) hist[size_t(q[j] - lo)] += 1;
      bucket.scales.push_back(t.scales.size() == 1 ? t.scales[0] : t.scales[size_t(sorted[i].row)]);
      abs_sum += sorted[i].mean_abs_q * double(cols);
      count += double(cols);
    }
    double total = std::accumulate(hist.begin(), hist.end(), 0.0);
    bucket.cdf.resize(size_t(n_sym));
    double run = 0;
    for (int k = 0; k < n_sym; k++) {
      pooled[size_t(k)] += hist[size_t(k)];
      run += hist[size_t(k)];
      bucket.cdf[size_t(k)] = total > 0 ? run / total : double(k + 1) / n_sym;
    }
    bucket.cdf.back() = 1.0;
    bucket.mean_abs_q = count > 0 ? abs_sum / count : 0;
    s.buckets.push_back(std::move(bucket));
  }
  double total = std::accumulate(pooled.begin(), pooled.end(), 0.0);
  s.values = int64_t(total);
  for (double c : pooled)
    if (c > 0) s.entropy_bits -= c / total * std::log2(c / total);
  return s;
}

}  // namespace

const SymbolStats* LikeStats::find(TensorClass cls, int bits, std::string* from) const {
  auto it = by_class.find({cls, bits});
  if (it != by_class.end()) {
    if (from) *from = std::string(tensor_class_name(cls)) + " int" + std::to_string(bits);
    return &it->second;
  }
  auto p = pooled.find(bits);
  if (p != pooled.end()) {
    if (from) *from = "pooled int" + std::to_string(bits);
    return &p->second;
  }
  return nullptr;
}

LikeStats like_stats(const Artifact& a, const std::string& name, int buckets) {
  LikeStats out;
  out.source = name;
  std::map<std::pair<TensorClass, int>, std::vector<RowRef>> rows;
  std::map<std::pair<TensorClass, int>, int64_t> tensors;
  // LQER factors and grouped tensors (one scale per group, not per row) are not weight rows.
  std::set<const QTensor*> factors;
  for (const LowRankCorrection& c : a.corrections) factors.insert(&a.tensors.at(c.a)), factors.insert(&a.tensors.at(c.b));
  for (const QTensor& t : a.tensors) {
    if (!t.is_int() || t.shape.size() < 2 || t.q.empty() || t.shape[0] <= 0 || t.group != 0 || factors.count(&t)) continue;
    int64_t cols = int64_t(t.q.size()) / t.shape[0];
    auto key = std::make_pair(tensor_class(t.name), t.bits);
    tensors[key]++;
    for (int64_t r = 0; r < t.shape[0]; r++) {
      double abs_sum = 0;
      for (int64_t j = 0; j < cols; j++) abs_sum += std::abs(double(t.q[size_t(r * cols + j)]));
      rows[key].push_back({&t, r, cols > 0 ? abs_sum / double(cols) : 0});
    }
  }
  if (rows.empty())
    throw std::runtime_error(name + ": --like needs integer-quantized matrices, and this artifact has none "
                                    "(every tensor is stored as floats)");
  std::map<int, std::vector<RowRef>> by_bits;
  std::map<int, int64_t> tensors_by_bits;
  for (auto& [key, list] : rows) {
    out.by_class[key] = build_stats(key.second, list, tensors[key], buckets);
    by_bits[key.second].insert(by_bits[key.second].end(), list.begin(), list.end());
    tensors_by_bits[key.second] += tensors[key];
  }
  for (auto& [bits, list] : by_bits) out.pooled[bits] = build_stats(bits, list, tensors_by_bits[bits], buckets);
  return out;
}

LikeStats read_like_stats(const std::string& path) { return like_stats(read_artifact(path), path); }

}  // namespace golf::fit
