#include "cli/train_checks.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "runtime/artifact/codec.h"
#include "runtime/params.h"
#include "runtime/quant/lqer.h"
#include "runtime/quant/quantize.h"

namespace golf::cli {

namespace fs = std::filesystem;

namespace {

// The files `golfrt train` writes into its run folder.
const char* const kRunFiles[] = {"checkpoint.bin", "metrics.jsonl", "schedule.json", "artifact.bin"};

constexpr double kInf = INFINITY;
constexpr double kMaxWhole = 9007199254740992.0;  // 2^53: every whole number below is exact

std::string number_text(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

// train.KEY, when set: a number in [min, max] (whole when `whole`), finite.
void check_number(const Json& table, const std::string& where, const std::string& key, double min, double max, bool whole) {
  const Json& v = table[key];
  if (v.is_null()) return;
  const std::string name = where + "." + key;
  const double n = v.number(name);
  if (!std::isfinite(n)) throw std::invalid_argument(name + " is " + number_text(n) + "; it must be a finite number");
  if (whole && n != std::floor(n)) throw std::invalid_argument(name + " is " + number_text(n) + "; it must be a whole number");
  if (n < min || n > max) {
    std::string range = max >= kMaxWhole ? "at least " + number_text(min) : "from " + number_text(min) + " to " + number_text(max);
    throw std::invalid_argument(name + " is " + number_text(n) + "; it must be " + range);
  }
}

}  // namespace

void check_run_folder(const std::string& dir, bool resume, bool overwrite) {
  if (resume && overwrite) throw std::invalid_argument("--resume and --overwrite exclude each other");
  if (resume) return;  // the trainer reads the checkpoint and says so if there is none
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  if (!fs::is_directory(dir, ec)) throw std::invalid_argument("--out " + dir + " is a file, not a folder");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename().string());
  if (ec) throw std::runtime_error("--out " + dir + ": cannot list it: " + ec.message());
  if (names.empty()) return;
  if (!overwrite) {
    std::string listed;
    for (size_t i = 0; i < names.size() && i < 4; i++) listed += (i ? ", " : "") + names[i];
    if (names.size() > 4) listed += " and " + std::to_string(names.size() - 4) + " more";
    throw std::invalid_argument("the run folder " + dir + " is not empty (" + listed +
                                "): add --resume to continue its run from its checkpoint, or --overwrite to replace "
                                "it (or choose another --out)");
  }
}

void clear_run_folder(const std::string& dir) {
  std::error_code ec;
  bool removed = false;
  for (const char* f : kRunFiles) {
    const fs::path p = fs::path(dir) / f;
    if (!fs::exists(p, ec)) continue;
    if (!fs::remove(p, ec)) throw std::runtime_error("--overwrite: cannot remove " + p.string() + ": " + ec.message());
    removed = true;
  }
  if (removed) {
    std::printf("--overwrite: replacing the run in %s\n", dir.c_str());
    std::fflush(stdout);
  }
}

void check_train_numbers(const Json& train) {
  for (const char* key : {"steps", "checkpoint_every", "eval_every", "eval_windows", "log_every"})
    check_number(train, "train", key, 0, kMaxWhole, true);
  for (const char* key : {"batch_tokens", "micro_batch", "eval_batch", "seq_len"}) check_number(train, "train", key, 1, kMaxWhole, true);
  for (const char* key : {"time_budget", "grad_clip"}) check_number(train, "train", key, 0, kInf, false);
  if (train["ema"].is_object()) check_number(train["ema"], "train.ema", "decay", 0, 1, false);
  if (train["swa"].is_object()) check_number(train["swa"], "train.swa", "every", 0, kMaxWhole, true);
}

void check_quant_settings(ModelScript& script, const Json& train, int64_t seq) {
  const Json quant = script.table_json("quant");
  if (!quant.is_null() && !quant.is_object()) throw std::invalid_argument(script.path() + ": quant must be a table");
  try {
    // The tensors export will quantize: the model's parameters, from a build of its graph (which
    // declares them without allocating anything).
    std::vector<std::pair<std::string, Shape>> tensors;
    const auto model = script.build("train", 1, seq);
    for (const ParamSpec& p : model->store.specs())
      if (!p.is_buffer()) tensors.push_back({p.name, p.shape});
    check_quant_table(quant, [&](const std::string& n, const std::string& p) { return script.name_matches(n, p); }, tensors);
    read_lqer(quant);
    try {
      codecs_for_setting(quant.get("codec", "auto"));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("quant.codec: ") + e.what());
    }
    quant.get("shuffle", true);
    quant.get("packed", true);
    const std::string weights = quant.get("weights", "live");
    const bool ema = train["ema"].is_object() && train["ema"].get("decay", 0.0) > 0;
    const bool swa = train["swa"].is_object() && train["swa"].get("every", int64_t(0)) > 0;
    if (weights == "ema" && !ema) throw std::invalid_argument("quant.weights = \"ema\", but train.ema sets no decay");
    if (weights == "swa" && !swa) throw std::invalid_argument("quant.weights = \"swa\", but train.swa sets no interval (every)");
    if (weights != "live" && weights != "ema" && weights != "swa")
      throw std::invalid_argument("quant.weights must be \"live\", \"ema\" or \"swa\", not '" + weights + "'");
    const Json& cal = quant["calibration"];
    if (!cal.is_null()) {
      check_number(cal, "quant.calibration", "batches", 0, kMaxWhole, true);
      check_number(cal, "quant.calibration", "reserve_s", 0, kInf, false);
      check_number(cal, "quant.calibration", "damp", 0, kInf, false);
    }
  } catch (const std::invalid_argument& e) {
    std::string what = e.what();
    if (what.rfind("quant", 0) != 0) what = "quant: " + what;
    throw std::invalid_argument(script.path() + ": " + what);
  }
}

}  // namespace golf::cli
