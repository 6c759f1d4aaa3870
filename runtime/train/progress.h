// What a long run shows: a progress bar on a terminal (step, loss, tokens/s, ETA), plain lines
// otherwise; and one JSON line of metrics per log step in metrics.jsonl.
#pragma once
#include <cstdio>
#include <string>

#include "runtime/json.h"

namespace golf {

class MetricsLog {
 public:
  // Opens `path` for appending. With keep_until_step >= 0 (a resumed run), lines of later steps
  // (written after the checkpoint by the run that died) are dropped first, so the file reads as
  // one uninterrupted run.
  MetricsLog(const std::string& path, int64_t keep_until_step = -1);
  ~MetricsLog();
  void write(const Json& line);

 private:
  FILE* f_ = nullptr;
};

class Progress {
 public:
  Progress(int64_t total_steps, double budget_s, bool quiet);
  void update(int64_t step, double loss, double tokens_per_s, double elapsed_s, double lr_mult);
  void message(const std::string& text);  // a line that does not disturb the bar
  void finish();

 private:
  bool tty_, quiet_;
  int64_t total_;
  double budget_;
  bool bar_shown_ = false;
};

}  // namespace golf
