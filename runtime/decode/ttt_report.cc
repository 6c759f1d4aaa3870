#include "runtime/decode/ttt_report.h"

namespace golf {

void report_chunk(TttResult& r, const EvalResult& part, int64_t total_targets,
                  std::chrono::steady_clock::time_point start, const std::function<void(const TttProgress&)>& on_chunk) {
  r.chunks++;
  if (!on_chunk) return;
  TttProgress p;
  p.chunk = r.chunks;
  p.chunk_score = part;
  p.total = r.score;
  p.total_targets = total_targets;
  p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  on_chunk(p);
}

}  // namespace golf
