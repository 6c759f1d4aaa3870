#include "cli/decode_ttt.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "runtime/decode/ttt.h"
#include "runtime/json.h"

namespace golf::cli {

const std::vector<std::string> kTttOptions = {"ttt",        "ttt-chunk", "ttt-lr",      "ttt-momentum",   "ttt-epochs",
                                              "ttt-batch",  "ttt-grad-clip", "ttt-rank", "ttt-targets", "ttt-lora-chunk",
                                              "ttt-lora-lr", "ttt-docs", "ttt-global-every", "ttt-jsonl", "ttt-seed"};

namespace {

// Defaults, then the script's ttt table, then the command line.
TttSettings settings_from(LoadedModel& m, const Args& a) {
  TttSettings s;
  apply_ttt_table(m.script->table_json("ttt"), s);
  s.scheme = a.get("ttt", s.scheme);
  s.chunk = int_option(a, "ttt-chunk", s.chunk, 1);
  s.lr = real_option(a, "ttt-lr", s.lr, 0, 1e3);
  s.momentum = real_option(a, "ttt-momentum", s.momentum, 0, 0.999999);
  s.epochs = int_option(a, "ttt-epochs", s.epochs, 0, 1000);
  s.batch = int_option(a, "ttt-batch", s.batch, 1, 1 << 16);
  s.grad_clip = real_option(a, "ttt-grad-clip", s.grad_clip, 0, 1e9);
  s.rank = int_option(a, "ttt-rank", s.rank, 1, 4096);
  s.lora_chunk = int_option(a, "ttt-lora-chunk", s.lora_chunk, 1);
  s.lora_lr = real_option(a, "ttt-lora-lr", s.lora_lr, 0, 1e3);
  s.docs = int_option(a, "ttt-docs", s.docs, 1, 4096);
  s.global_every = int_option(a, "ttt-global-every", s.global_every, 0);
  s.seed = uint64_t(int_option(a, "ttt-seed", int64_t(s.seed), 0));
  if (a.options.count("ttt-targets")) {
    s.targets.clear();
    std::stringstream in(a.get("ttt-targets", ""));
    for (std::string t; std::getline(in, t, ',');)
      if (!t.empty()) s.targets.push_back(t);
  }
  check_ttt_settings(s);
  return s;
}

}  // namespace

void check_ttt_flags(const Args& a) {
  const bool ttt = a.options.count("ttt") != 0;
  for (const std::string& o : kTttOptions)
    if (o != "ttt" && a.options.count(o) && !ttt)
      throw std::invalid_argument("--" + o + " sets test-time training, which only --ttt sgd|lora turns on");
  if (!ttt) return;
  if (a.options.count("generate"))
    throw std::invalid_argument("--ttt trains while scoring the validation stream; --generate does not score it");
  const std::string mode = a.get("eval", "blocks");
  if (mode != "blocks" && mode != "sliding")
    throw std::invalid_argument("--ttt composes with --eval blocks or sliding, not '" + mode + "'");
  const std::string device = a.get("device", "cpu");
  if (device != "cpu")
    throw std::invalid_argument("--ttt: test-time training runs on the CPU only so far (drop --device " + device + ")");
}

EvalResult decode_with_ttt(LoadedModel& m, const Args& a, Evaluator& ev, const std::vector<uint16_t>& val,
                           const ByteTable& table, const std::string& mode) {
  TttSettings s = settings_from(m, a);
  Evaluator::Windows w;
  if (mode == "blocks") {
    w = ev.block_windows(int64_t(val.size()));
  } else if (mode == "sliding") {
    s.stride = int_option(a, "stride", 64, 1);
    w = ev.sliding_windows(int64_t(val.size()), s.stride);
  } else {
    throw std::logic_error("decode_with_ttt: --eval '" + mode + "' passed check_ttt_flags");
  }
  std::ofstream jsonl;
  const std::string jsonl_path = a.get("ttt-jsonl", "");
  if (!jsonl_path.empty()) {
    jsonl.open(jsonl_path, std::ios::trunc);
    if (!jsonl) throw std::runtime_error("--ttt-jsonl: cannot write " + jsonl_path);
  }
  const bool tty = isatty(2);
  double last_print = -1;
  auto on_chunk = [&](const TttProgress& p) {
    const double rate = p.seconds > 0 ? double(p.total.targets) / p.seconds : 0;
    const double eta = rate > 0 ? double(p.total_targets - p.total.targets) / rate : 0;
    const bool final = p.total.targets >= p.total_targets;
    if (final || p.seconds - last_print >= 1.0) {
      std::fprintf(stderr, "%sttt %s: %lld/%lld targets scored, running bpb %.6f, %.0f tokens/s, ETA %.0f s%s",
                   tty ? "\r" : "", s.scheme.c_str(), (long long)p.total.targets, (long long)p.total_targets,
                   p.total.bpb(), rate, eta, tty && !final ? "   " : "\n");
      std::fflush(stderr);
      last_print = p.seconds;
    }
    if (jsonl.is_open()) {
      Json j = Json::object();
      j.set("scheme", s.scheme);
      j.set("chunk", p.chunk);
      j.set("targets", p.chunk_score.targets);
      j.set("bpb", p.chunk_score.bpb());
      j.set("loss", p.chunk_score.loss());
      j.set("scored", p.total.targets);
      j.set("running_bpb", p.total.bpb());
      j.set("seconds", p.seconds);
      jsonl << j.dump() << "\n";
      jsonl.flush();
    }
  };
  NameMatcher names = [&m](const std::string& n, const std::string& p) { return m.script->name_matches(n, p); };
  TttResult r = run_ttt(s, m.factory, m.eval_model->store, ev, val, table, w, names, on_chunk);
  if (s.scheme == "lora")
    std::fprintf(stderr, "ttt lora: rank-%lld adapters on %zu weights (%lld matmuls)\n", (long long)s.rank,
                 r.adapted.size(), (long long)r.adapted_uses);
  if (jsonl.is_open() && !jsonl) throw std::runtime_error("--ttt-jsonl: writing " + jsonl_path + " failed");
  return r.score;
}

}  // namespace golf::cli
