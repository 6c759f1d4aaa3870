#include "runtime/train/progress.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include "runtime/fs.h"

namespace golf {

MetricsLog::MetricsLog(const std::string& path, int64_t keep_until_step) {
  if (keep_until_step >= 0 && file_exists(path)) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) lines.push_back(line);
    std::string kept;
    for (size_t i = 0; i < lines.size(); i++) {
      Json j;
      try {
        j = Json::parse(lines[i], path);
      } catch (const std::exception&) {
        // The run that died may have been killed while writing its last line (a write that
        // crosses a page boundary can stop part-way on SIGKILL; a crash loses the unsynced
        // tail). That line is past the checkpoint (lines are written before the checkpoint of
        // their step), so it is dropped; a bad line anywhere else is still an error.
        if (i + 1 == lines.size()) break;
        throw;
      }
      if (j.get("step", int64_t(0)) <= keep_until_step) kept += lines[i] + "\n";
    }
    write_file_atomic(path, kept);
  } else if (keep_until_step < 0) {
    write_file_atomic(path, "");
  }
  f_ = std::fopen(path.c_str(), "a");
  if (!f_) throw std::runtime_error(path + ": cannot open for appending");
}

MetricsLog::~MetricsLog() {
  if (f_) std::fclose(f_);
}

void MetricsLog::write(const Json& line) {
  std::string s = line.dump() + "\n";
  std::fwrite(s.data(), 1, s.size(), f_);
  std::fflush(f_);
}

namespace {
std::string duration(double s) {
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%.0fs", s);
  return buf;
}
}  // namespace

Progress::Progress(int64_t total_steps, double budget_s, bool quiet)
    : tty_(::isatty(2)), quiet_(quiet), total_(total_steps), budget_(budget_s) {}

void Progress::update(int64_t step, double loss, double tokens_per_s, double elapsed_s, double lr_mult) {
  if (quiet_) return;
  double frac = 0;
  if (total_ > 0) frac = double(step) / double(total_);
  if (budget_ > 0) frac = std::max(frac, elapsed_s / budget_);
  frac = std::min(frac, 1.0);
  double eta = frac > 0 ? elapsed_s * (1 - frac) / frac : 0;
  char line[256];
  std::snprintf(line, sizeof line, "step %6lld  loss %.4f  lr×%.3f  %7.0f tok/s  %s elapsed  ETA %s", (long long)step,
                loss, lr_mult, tokens_per_s, duration(elapsed_s).c_str(), duration(eta).c_str());
  if (tty_) {
    const int width = 24;
    int filled = int(frac * width);
    std::string bar = "[" + std::string(size_t(filled), '#') + std::string(size_t(width - filled), '.') + "]";
    std::fprintf(stderr, "\r%s %3.0f%% %s\x1b[K", bar.c_str(), 100 * frac, line);
    bar_shown_ = true;
  } else {
    std::fprintf(stderr, "%s\n", line);
  }
  std::fflush(stderr);
}

void Progress::message(const std::string& text) {
  if (quiet_) return;
  if (bar_shown_) std::fprintf(stderr, "\r\x1b[K");
  std::fprintf(stderr, "%s\n", text.c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (bar_shown_ && !quiet_) std::fprintf(stderr, "\n");
  bar_shown_ = false;
}

}  // namespace golf
