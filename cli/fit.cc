// golfrt fit SCRIPT --vary KEY: the largest value of a config key whose artifact is projected to
// fit the budget, without training.
//
// Projection (runtime/fit/): build the model at the candidate config (cheap: shapes and names,
// no weights), then, per tensor, draw values — Gaussian rows N(0, 1/fan_in) for matrices, or rows
// like a trained artifact's with --like; vectors, control tensors and buffers keep their declared
// values — quantize them with the script's quant table and compress them with its codec. Large
// tensors are estimated from sampled rows and every distinct tensor is projected once, so a whole
// search takes seconds. --exact runs the old whole-model export instead (slow; for checking).
// docs/artifact.md records how far each method lands from artifacts actually trained.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <set>

#include "cli/args.h"
#include "dsl/artifact_model.h"
#include "runtime/artifact/op_set.h"
#include "runtime/fit/artifact_projection.h"
#include "runtime/fit/search.h"
#include "runtime/rng.h"

namespace golf::cli {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// This process's CPU seconds (user + system, every thread): on a shared machine the wall time
// depends on the load, this does not.
double cpu_seconds() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// Plain digits: scripts read "projected N bytes" from the output.
std::string num(int64_t v) { return std::to_string(v); }

std::string first_line(const std::string& s) {
  size_t nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

// The progress bar (stderr, terminals only; the style of runtime/train/progress.cc): which probe
// of the search's expected number, the value, and the tensors projected so far.
class FitBar {
 public:
  FitBar(size_t candidates, bool quiet) : tty_(::isatty(2) && !quiet) {
    while ((size_t(1) << expected_) <= candidates) expected_++;
  }
  void show(int probe, const std::string& what, size_t done, size_t total) {
    if (!tty_) return;
    double frac = std::min(1.0, (double(probe - 1) + (total ? double(done) / double(total) : 0)) / double(expected_));
    const int width = 24;
    int filled = int(frac * width);
    std::fprintf(stderr, "\r[%s%s] probe %d of ~%d  %s  tensor %zu/%zu\x1b[K", std::string(size_t(filled), '#').c_str(),
                 std::string(size_t(width - filled), '.').c_str(), probe, expected_, what.c_str(), done, total);
    std::fflush(stderr);
    shown_ = true;
  }
  void clear() {
    if (shown_) std::fprintf(stderr, "\r\x1b[K");
    std::fflush(stderr);
    shown_ = false;
  }

 private:
  bool tty_, shown_ = false;
  int expected_ = 0;
};

// The codecs `encode_artifact` tries for the quant table's codec setting.
std::vector<artifact_format::Codec> codecs_for(const std::string& codec) {
  using artifact_format::Codec;
  if (codec == "auto") return {Codec::zstd, Codec::brotli};
  if (codec == "zstd") return {Codec::zstd};
  if (codec == "brotli") return {Codec::brotli};
  if (codec == "none") return {Codec::none};
  throw std::invalid_argument("quant.codec: unknown codec '" + codec + "' (expected zstd, brotli, auto or none)");
}

struct Candidate {
  fit::ArtifactPlan plan;
  ArtifactOptions options;  // the script's quant.codec, shuffle, packed
};

int64_t script_seq(ModelScript& script) {
  return script.has_config("seq_len") ? int64_t(script.config_number("seq_len")) : 16;
}

// What export_model records of a model fit never trained: no training, no tokenizer.
ExportInfo untrained_export_info(const std::string& path, const Overrides& o, int64_t seq) {
  ExportInfo info;
  info.script_name = path.substr(path.find_last_of('/') + 1);
  info.overrides = o;
  info.seq_len = seq;
  info.training = Json::object();
  info.tokenizer = Json::object();
  return info;
}

// The cheap build: the model's tensors (names, shapes, quant specs) and the exporter's metadata
// and sources, without a single weight. Throws what the script says when it rejects the config.
Candidate plan_candidate(const std::string& path, Overrides o) {
  ModelScript script(path, o);
  const int64_t seq = script_seq(script);
  auto m = script.build("train", 1, seq);
  Json quant = script.table_json("quant");
  NameMatcher match = [&](const std::string& n, const std::string& p) { return script.name_matches(n, p); };
  Candidate c;
  c.options = artifact_options(quant);
  ParamStore none;  // metadata and sources only: the tensors are planned below
  Artifact shell = export_model(script, none, "live", untrained_export_info(path, o, seq));
  c.plan.op_set = shell.op_set;
  c.plan.meta = shell.meta;
  c.plan.sources = shell.sources;
  for (const ParamSpec& p : m->store.specs()) {
    if (p.is_buffer() && !p.stored) continue;  // as export_model: rebuilt by the script
    fit::TensorPlan t;
    t.name = p.name;
    t.shape = p.shape;
    if (p.is_buffer()) {
      t.drawn = false;
      t.integer = p.integer;
      t.init = p.init;
      t.spec.encoding = "fp32";
    } else {
      t.spec = choose_spec(p.name, p.shape, quant, match);
      t.drawn = p.shape.size() >= 2;
      t.init = p.init;
    }
    c.plan.tensors.push_back(std::move(t));
  }
  fit::plan_lqer(c.plan, read_lqer(quant), c.options.packed);
  c.plan.params = m->store.count();
  return c;
}

// The whole-model projection fit used before runtime/fit/: Gaussian weights for every matrix, the
// real exporter and codec over the whole body. Minutes for a full-size model.
int64_t project_exact(const std::string& path, const Overrides& o, uint64_t seed) {
  ModelScript script(path, o);
  const int64_t seq = script_seq(script);
  auto m = script.build("train", 1, seq);
  ParamStore& store = m->store;
  store.initialize(seed, DType::f32);
  Rng rng(seed);
  for (const ParamSpec& s : store.specs()) {
    if (s.shape.size() < 2 || s.is_buffer()) continue;
    Tensor& w = store.get(s.name);
    double std = 1.0 / std::sqrt(double(s.shape.back()));
    for (int64_t i = 0; i < w.numel(); i++) w.set(i, std * rng.normal());
  }
  Artifact art = export_model(script, store, "live", untrained_export_info(path, o, seq));
  return int64_t(encode_artifact(art, artifact_options(script.table_json("quant"))).size());
}

void print_like(const fit::LikeStats& s) {
  std::printf("--like %s: symbol statistics per class\n", s.source.c_str());
  for (auto& [key, st] : s.by_class)
    std::printf("  %-9s int%d: %lld tensors, %lld rows, %.3f bits/symbol, %zu row buckets\n",
                fit::tensor_class_name(key.first), key.second, (long long)st.tensors, (long long)st.rows,
                st.entropy_bits, st.buckets.size());
}

}  // namespace

int cmd_fit(const std::vector<std::string>& argv) {
  const auto t0 = Clock::now();
  Args a = parse_args(argv, {"budget", "vary", "min", "max", "step", "seed", "margin", "like"}, {"exact", "quiet", "tensors"});
  if (a.positional.size() != 1 || !a.options.count("vary"))
    throw std::invalid_argument("usage: golfrt fit SCRIPT --vary KEY [--budget 16000000] [--min A] [--max B] [--step S] "
                                "[--like ARTIFACT] (golfrt fit --help)");
  const std::string& path = a.positional[0];
  const std::string key = a.get("vary", "");
  const int64_t budget = int_option(a, "budget", 16000000, 1);
  const bool exact = a.options.count("exact") != 0, quiet = a.options.count("quiet") != 0;
  const std::string like_path = a.get("like", "");
  if (exact && !like_path.empty()) throw std::invalid_argument("fit: --exact projects Gaussian weights; it cannot take --like");
  // The default margin is the worst error measured on trained artifacts (docs/artifact.md): +4.5%
  // for the Gaussian projection on int6 seeds; --like measured less, but only on short runs, so
  // it keeps the same default.
  const double margin = real_option(a, "margin", 0.05, 0, 0.9);
  ModelScript base(path, a.overrides);
  if (!base.has_config(key)) throw std::invalid_argument("fit: --vary " + key + ": " + path + " has no config key '" + key + "'");
  const int64_t current = int64_t(base.config_number(key));
  std::map<int64_t, Candidate> planned;
  std::map<int64_t, std::string> verdicts;  // value -> why the script rejects it ("" accepted)
  int64_t builds = 0;
  auto override_for = [&](int64_t v) {
    Overrides o = a.overrides;
    o.sets.push_back({key, std::to_string(v)});
    return o;
  };
  auto rejection = [&](int64_t v) -> std::string {
    auto it = verdicts.find(v);
    if (it != verdicts.end()) return it->second;
    builds++;
    try {
      planned[v] = plan_candidate(path, override_for(v));
      return verdicts[v] = "";
    } catch (const std::exception& e) {
      return verdicts[v] = first_line(e.what());
    }
  };
  const bool auto_step = !a.options.count("step");
  const int64_t step = auto_step ? fit::default_step(current, [&](int64_t v) { return rejection(v).empty(); })
                                 : int_option(a, "step", 1, 1);
  const int64_t lo = int_option(a, "min", step, 1);
  const int64_t hi = int_option(a, "max", std::max<int64_t>(4 * current, lo), lo);
  const uint64_t seed = uint64_t(int_option(a, "seed", 1, 0));
  std::vector<int64_t> values = fit::candidate_values(lo, hi, step);
  std::string step_note = auto_step ? " (the spacing the script accepts around " + std::to_string(current) + "; --step to change)" : "";
  std::printf("fit %s: %s in %lld..%lld by %lld%s (%zu candidates), budget %s bytes\n", path.c_str(), key.c_str(),
              (long long)lo, (long long)hi, (long long)step, step_note.c_str(),
              values.size(), num(budget).c_str());

  std::unique_ptr<fit::LikeStats> like;
  if (!like_path.empty()) {
    like = std::make_unique<fit::LikeStats>(fit::read_like_stats(like_path));
    print_like(*like);
  }

  std::unique_ptr<fit::TensorProjector> projector;
  std::string codec_setting;
  FitBar bar(values.size(), quiet);
  int probe = 0;
  std::map<int64_t, fit::ArtifactProjection> results;
  std::map<std::string, int> fallbacks;  // tensors --like could not serve, by why

  fit::SearchCallbacks cb;
  cb.rejection = rejection;
  cb.project = [&](int64_t v) -> int64_t {
    probe++;
    const Candidate& c = planned.at(v);
    std::string what = key + "=" + std::to_string(v);
    fit::ArtifactProjection p;
    if (exact) {
      bar.show(probe, what + " (exact)", 0, 1);
      p.bytes = project_exact(path, override_for(v), seed);
      p.sources = {"gaussian (whole model)"};
    } else {
      const ArtifactOptions& ao = c.options;
      std::string setting = ao.codec + (ao.shuffle ? "/shuffle" : "") + (ao.packed ? "/packed" : "");
      if (!projector) {
        fit::ProjectionOptions o;
        o.codecs = codecs_for(ao.codec);
        o.shuffle = ao.shuffle;
        o.packed = ao.packed;
        o.like = like.get();
        o.seed = seed;
        projector = std::make_unique<fit::TensorProjector>(o);
        codec_setting = setting;
      } else if (setting != codec_setting) {
        throw std::runtime_error("fit: " + what + " changes the quant table's codec settings (" + codec_setting + " -> " +
                                 setting + "); fit projects one setting per search");
      }
      p = fit::project_artifact(c.plan, *projector, [&](size_t done, size_t total) { bar.show(probe, what, done, total); });
    }
    bar.clear();
    results[v] = p;
    std::printf("  %s: %s parameters, projected %s bytes", what.c_str(), num(c.plan.params).c_str(),
                num(p.bytes).c_str());
    if (p.error > 0) std::printf(" ± %s (sampling)", num(int64_t(std::ceil(p.error))).c_str());
    std::printf("%s\n", p.bytes <= budget ? "" : "  (over)");
    std::fflush(stdout);
    return p.bytes;
  };

  fit::SearchOutcome r = fit::search_largest(values, budget, cb, current);
  bar.clear();
  if (!r.skipped.empty()) {
    std::printf("skipped %zu candidate%s the script rejects (the search went on over the accepted ones):\n",
                r.skipped.size(), r.skipped.size() == 1 ? "" : "s");
    for (auto& [v, why] : r.skipped) std::printf("  %s=%lld: %s\n", key.c_str(), (long long)v, why.c_str());
  }
  if (like) {
    std::set<std::string> used;
    for (auto& [v, p] : results) used.insert(p.sources.begin(), p.sources.end());
    std::string list;
    for (const std::string& s : used) list += (list.empty() ? "" : ", ") + s;
    std::printf("value sources: %s (\"gaussian\": no integer statistics in the artifact at that width; \"init\": "
                "declared values)\n", list.c_str());
  }
  double elapsed = seconds_since(t0);
  std::string tally = std::to_string(r.projected.size()) + " projected, " + std::to_string(r.skipped.size()) +
                      " skipped, " + std::to_string(builds) + " cheap builds";
  if (projector)
    tally += "; " + std::to_string(projector->projected()) + " distinct tensors projected, " +
             std::to_string(projector->cache_hits()) + " from the cache";
  if (r.best < 0) {
    std::printf("no %s in [%lld, %lld] fits %s bytes\n", key.c_str(), (long long)lo, (long long)hi,
                num(budget).c_str());
    std::printf("fit: %s; %.1f s (CPU %.1f s)\n", tally.c_str(), elapsed, cpu_seconds());
    return 1;
  }
  const fit::ArtifactProjection& best = results.at(r.best);
  double spread = double(best.bytes) * margin + best.error;
  double low = double(best.bytes) - spread, high = double(best.bytes) + spread;
  std::printf("largest %s that fits %s bytes: %lld (projected %s bytes, %s parameters; with the projection's "
              "measured error of ±%.0f%%%s: %s..%s bytes%s)\n",
              key.c_str(), num(budget).c_str(), (long long)r.best, num(best.bytes).c_str(),
              num(planned.at(r.best).plan.params).c_str(), 100 * margin,
              best.error > 0 ? " and the sampling error" : "", num(int64_t(low)).c_str(),
              num(int64_t(high)).c_str(), high > double(budget) ? " — may not fit: consider one step less" : "");
  if (a.options.count("tensors") && !best.tensor_bytes.empty()) {
    const fit::ArtifactPlan& plan = planned.at(r.best).plan;
    std::printf("where the projected bytes go (%s=%lld, codec %s):\n  %-40s %10.0f\n", key.c_str(), (long long)r.best,
                artifact_format::codec_name(best.codec), "header, metadata, sources, table", best.prefix_bytes);
    for (size_t i = 0; i < plan.tensors.size(); i++)
      std::printf("  %-40s %10.0f  %s %s\n", plan.tensors[i].name.c_str(), best.tensor_bytes[i],
                  fit::stored_encoding(plan.tensors[i]).c_str(), shape_str(plan.tensors[i].shape).c_str());
  }
  if (r.best == values.back())
    std::printf("(%lld is the top of the range searched: --max to search further)\n", (long long)r.best);
  std::printf("fit: %s; %.1f s (CPU %.1f s)\n", tally.c_str(), elapsed, cpu_seconds());
  return 0;
}

}  // namespace golf::cli
