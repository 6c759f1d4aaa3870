// fit's search: the largest candidate value whose projected artifact fits the budget. Sizes grow
// with the value, smoothly (about as a power of it: dim², layers¹), so the search brackets the
// answer and picks each probe by a power law fitted through the projections nearest the budget,
// starting from the script's own value (and e = 2 until there are two points); three probes on one side in a row fall back to bisection,
// so it never takes more than about twice a binary search's probes. Typically 3-4 projections,
// all near the answer (a full binary search would build and project 4x configs first).
// A candidate the script rejects (a width its heads do not divide, ...) is skipped, not fatal:
// before anything is projected a cheap build of the model tells whether the script accepts it,
// and a rejected probe moves to the nearest accepted candidate inside the bracket.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace golf::fit {

// The candidates: lo, lo + step, ..., up to hi.
std::vector<int64_t> candidate_values(int64_t lo, int64_t hi, int64_t step);

// The step fit uses when --step is not given: the smallest divisor d of `current` (d <= current/8,
// tried in increasing order) for which the script accepts current + d — the spacing of the values
// the script's own constraints allow around its value (baseline dim 512: 16, from 8 heads and
// even head dims; Frugendorff's 640 with 10 heads: 20; layers: 1). `accepts` is the cheap build.
// Falls back to the largest such divisor tried when none is accepted.
int64_t default_step(int64_t current, const std::function<bool(int64_t)>& accepts);

struct SearchCallbacks {
  // "" when the script accepts the value, else why not (the cheap build's message).
  std::function<std::string(int64_t)> rejection;
  // The projected bytes of an accepted value.
  std::function<int64_t(int64_t)> project;
};

struct SearchOutcome {
  int64_t best = -1;                                      // the largest value that fits; -1: none
  std::vector<std::pair<int64_t, int64_t>> projected;     // (value, bytes) in probe order
  std::vector<std::pair<int64_t, std::string>> skipped;   // (value, why), each value once, ascending
  int64_t builds = 0;                                     // cheap builds run
};

// `start`: the value to probe first (the script's own); the nearest candidate is used.
SearchOutcome search_largest(const std::vector<int64_t>& values, int64_t budget, const SearchCallbacks& cb,
                             int64_t start);

}  // namespace golf::fit
