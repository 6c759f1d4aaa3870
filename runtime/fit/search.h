// fit's search: the largest candidate value whose projected artifact fits the budget. Sizes grow
// with the value, so it is a binary search; a candidate the script rejects (a width its heads do
// not divide, ...) is skipped, not fatal: before anything is projected a cheap build of the
// model tells whether the script accepts it, and a rejected probe moves to the nearest accepted
// candidate inside the interval still searched.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace golf::fit {

// The candidates: lo, lo + step, ..., up to hi.
std::vector<int64_t> candidate_values(int64_t lo, int64_t hi, int64_t step);

// The step fit uses when --step is not given: the largest power of two that divides `current`,
// at most current / 8 (so a width of 512 is searched in steps of 64, 9 layers in steps of 1), and
// 1 for a current value below 8. Widths then stay multiples of what the script already uses.
int64_t default_step(int64_t current);

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

SearchOutcome search_largest(const std::vector<int64_t>& values, int64_t budget, const SearchCallbacks& cb);

}  // namespace golf::fit
