// What both test-time training schemes (runtime/decode/ttt.h) do once a chunk (sgd) or an
// optimizer step (lora) has been scored and trained on: count it, and show run_ttt's on_chunk where
// the run stands.
#pragma once
#include <chrono>
#include <functional>

#include "runtime/decode/ttt.h"

namespace golf {

// Counts one more chunk in r, whose score already holds `part` (the chunk's own targets), and
// calls on_chunk (when given) with the time since `start`. total_targets: what the run will score.
void report_chunk(TttResult& r, const EvalResult& part, int64_t total_targets,
                  std::chrono::steady_clock::time_point start, const std::function<void(const TttProgress&)>& on_chunk);

}  // namespace golf
