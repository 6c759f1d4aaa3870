#include "runtime/fit/search.h"

#include <algorithm>
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

int64_t default_step(int64_t current) {
  if (current < 8) return 1;
  int64_t step = 1;
  while (current % (step * 2) == 0 && step * 2 <= current / 8) step *= 2;
  return step;
}

SearchOutcome search_largest(const std::vector<int64_t>& values, int64_t budget, const SearchCallbacks& cb) {
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
  // Binary search over indices [lo, hi]; a rejected midpoint is replaced by the accepted index
  // nearest to it within [lo, hi] (below first on a tie), and when none is left the search ends.
  int64_t lo = 0, hi = int64_t(values.size()) - 1;
  while (lo <= hi) {
    int64_t mid = lo + (hi - lo) / 2, probe = -1;
    for (int64_t d = 0; mid - d >= lo || mid + d <= hi; d++) {
      if (mid - d >= lo && accepted(size_t(mid - d))) {
        probe = mid - d;
        break;
      }
      if (d > 0 && mid + d <= hi && accepted(size_t(mid + d))) {
        probe = mid + d;
        break;
      }
    }
    if (probe < 0) break;  // every candidate left is rejected
    int64_t bytes = cb.project(values[size_t(probe)]);
    out.projected.push_back({values[size_t(probe)], bytes});
    if (bytes <= budget) {
      out.best = values[size_t(probe)];
      lo = probe + 1;
    } else {
      hi = probe - 1;
    }
  }
  for (auto& [i, why] : checked)
    if (!why.empty()) out.skipped.push_back({values[i], why});
  return out;
}

}  // namespace golf::fit
