#include "runtime/fit/search.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

namespace golf::fit {

std::vector<int64_t> candidate_values(int64_t lo, int64_t hi, int64_t step) {
  if (step <= 0) throw std::invalid_argument("fit: --step must be positive, not " + std::to_string(step));
  if (lo > hi)
    throw std::invalid_argument("fit: --min " + std::to_string(lo) + " is above --max " + std::to_string(hi));
  std::vector<int64_t> out;
  for (int64_t v = lo; v <= hi; v += step) out.push_back(v);
  return out;
}

int64_t default_step(int64_t current, const std::function<bool(int64_t)>& accepts) {
  int64_t last = 1;
  for (int64_t d = 1; d <= std::max<int64_t>(1, current / 8); d++) {
    if (current % d != 0 && current >= 8) continue;
    last = d;
    if (accepts(current + d)) return d;
  }
  return last;
}

SearchOutcome search_largest(const std::vector<int64_t>& values, int64_t budget, const SearchCallbacks& cb,
                             int64_t start) {
  SearchOutcome out;
  std::map<size_t, std::string> checked;  // index -> rejection ("" accepted)
  auto accepted = [&](size_t i) {
    auto it = checked.find(i);
    if (it == checked.end()) {
      out.builds++;
      it = checked.emplace(i, cb.rejection(values[i])).first;
    }
    return it->second.empty();
  };
  const int64_t n = int64_t(values.size());
  // The bracket: `fits` is the largest index known to fit (-1: none), `over` the smallest known
  // over the budget (n: none); the answer lies in [fits, over).
  int64_t fits = -1, over = n;
  std::vector<std::pair<double, double>> points;  // (value, bytes) projected
  int same_side = 0;
  bool last_fit = false;
  auto index_at_or_below = [&](double v) {
    int64_t i = int64_t(std::upper_bound(values.begin(), values.end(), int64_t(std::floor(v))) - values.begin()) - 1;
    return i;
  };
  while (over - fits > 1) {
    int64_t lo = fits + 1, hi = over - 1, target;
    if (points.empty()) {
      target = std::clamp<int64_t>(index_at_or_below(double(start)), lo, hi);
    } else {
      // The power law b = a·v^e through the two points nearest the budget. With one point, e = 2
      // (widths): for a key that grows sizes linearly (layers) that undershoots, and a smaller
      // config is the cheaper one to build and project.
      std::vector<std::pair<double, double>> near = points;
      std::sort(near.begin(), near.end(), [&](auto& x, auto& y) {
        return std::abs(std::log(x.second / double(budget))) < std::abs(std::log(y.second / double(budget)));
      });
      double e = 2;
      if (near.size() >= 2 && near[0].first != near[1].first && near[0].second > 0 && near[1].second > 0)
        e = std::log(near[1].second / near[0].second) / std::log(near[1].first / near[0].first);
      double v = near[0].first * std::pow(double(budget) / near[0].second, 1 / e);
      target = std::isfinite(v) && e > 0 ? std::clamp<int64_t>(index_at_or_below(v), lo, hi) : lo + (hi - lo) / 2;
      // The guesses keep landing on one side: bisect, unless the guess is the probe that closes
      // the bracket (the candidate just past the last one on that side).
      int64_t closing = last_fit ? lo : hi;
      if (same_side >= 3 && target != closing) target = lo + (hi - lo) / 2;
    }
    int64_t probe = -1;
    for (int64_t d = 0; target - d >= lo || target + d <= hi; d++) {
      if (target - d >= lo && accepted(size_t(target - d))) {
        probe = target - d;
        break;
      }
      if (d > 0 && target + d <= hi && accepted(size_t(target + d))) {
        probe = target + d;
        break;
      }
    }
    if (probe < 0) break;  // every candidate left in the bracket is rejected
    int64_t bytes = cb.project(values[size_t(probe)]);
    out.projected.push_back({values[size_t(probe)], bytes});
    points.push_back({double(values[size_t(probe)]), double(bytes)});
    bool fit = bytes <= budget;
    same_side = out.projected.size() > 1 && fit == last_fit ? same_side + 1 : 1;
    last_fit = fit;
    if (fit) {
      out.best = values[size_t(probe)];
      fits = probe;
    } else {
      over = probe;
    }
  }
  for (auto& [i, why] : checked)
    if (!why.empty()) out.skipped.push_back({values[i], why});
  return out;
}

}  // namespace golf::fit
