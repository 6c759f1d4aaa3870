#include "runtime/decode/ttt.h"

#include <cmath>
#include <stdexcept>

#include "runtime/decode/ttt_sgd.h"

namespace golf {

namespace {

void need(bool ok, const std::string& flag, const std::string& what) {
  if (!ok) throw std::invalid_argument(flag + ": " + what);
}

}  // namespace

void apply_ttt_table(const Json& t, TttSettings& s) {
  if (t.is_null()) return;
  if (!t.is_object()) throw std::invalid_argument("the script's ttt table must be a table of settings");
  for (const auto& [key, v] : t.fields()) {
    const std::string what = "ttt." + key;
    if (key == "scheme") s.scheme = v.str(what);
    else if (key == "chunk") s.chunk = v.integer(what);
    else if (key == "lr") s.lr = v.number(what);
    else if (key == "momentum") s.momentum = v.number(what);
    else if (key == "epochs") s.epochs = v.integer(what);
    else if (key == "batch") s.batch = v.integer(what);
    else if (key == "grad_clip") s.grad_clip = v.number(what);
    else if (key == "lora") {
      if (!v.is_object()) throw std::invalid_argument("ttt.lora must be a table of settings");
      for (const auto& [k, x] : v.fields()) {
        const std::string w = "ttt.lora." + k;
        if (k == "rank") s.rank = x.integer(w);
        else if (k == "chunk") s.lora_chunk = x.integer(w);
        else if (k == "lr") s.lora_lr = x.number(w);
        else if (k == "docs") s.docs = x.integer(w);
        else if (k == "global_every") s.global_every = x.integer(w);
        else if (k == "targets") {
          s.targets.clear();
          for (const Json& n : x.items()) s.targets.push_back(n.str(w));
        } else if (k == "patterns") {
          if (!x.is_object()) throw std::invalid_argument(w + " must map target names to Lua patterns");
          for (const auto& [name, p] : x.fields()) {
            std::vector<std::string>& list = s.patterns[name];
            list.clear();
            if (p.is_array())
              for (const Json& one : p.items()) list.push_back(one.str(w + "." + name));
            else
              list.push_back(p.str(w + "." + name));
          }
        } else {
          throw std::invalid_argument("the script's ttt.lora table has an unknown key '" + k +
                                      "' (rank, chunk, lr, docs, global_every, targets, patterns)");
        }
      }
    } else {
      throw std::invalid_argument("the script's ttt table has an unknown key '" + key +
                                  "' (scheme, chunk, lr, momentum, epochs, batch, grad_clip, lora)");
    }
  }
}

void check_ttt_settings(const TttSettings& s) {
  need(s.scheme == "sgd" || s.scheme == "lora", "--ttt", "the scheme must be sgd or lora, not '" + s.scheme + "'");
  need(s.chunk >= 1, "--ttt-chunk", "must be at least 1 token");
  need(std::isfinite(s.lr) && s.lr >= 0, "--ttt-lr", "must be a finite number >= 0");
  need(std::isfinite(s.momentum) && s.momentum >= 0 && s.momentum < 1, "--ttt-momentum", "must be in [0, 1)");
  need(s.epochs >= 0 && s.epochs <= 1000, "--ttt-epochs", "must be in 0..1000");
  need(s.batch >= 1, "--ttt-batch", "must be at least 1 window");
  need(std::isfinite(s.grad_clip) && s.grad_clip >= 0, "--ttt-grad-clip", "must be a finite number >= 0");
  need(s.rank >= 1 && s.rank <= 4096, "--ttt-rank", "must be in 1..4096");
  need(s.lora_chunk >= 1, "--ttt-lora-chunk", "must be at least 1 target");
  need(std::isfinite(s.lora_lr) && s.lora_lr >= 0, "--ttt-lora-lr", "must be a finite number >= 0");
  need(s.docs >= 1 && s.docs <= 4096, "--ttt-docs", "must be in 1..4096");
  need(s.global_every >= 0, "--ttt-global-every", "must be >= 0 documents");
  need(!s.targets.empty(), "--ttt-targets", "names no target");
  for (const std::string& t : s.targets)
    need(s.patterns.count(t) != 0, "--ttt-targets",
         "'" + t + "' is not a target (q, k, v, o, mlp, head, or a name the script's ttt.lora.patterns adds)");
}

TttResult run_ttt(const TttSettings& s, const GraphFactory& factory, ParamStore& store, Evaluator& ev,
                  const std::vector<uint16_t>& tokens, const ByteTable& table, const Evaluator::Windows& w,
                  const NameMatcher& names, const std::function<void(const TttProgress&)>& on_chunk) {
  check_ttt_settings(s);
  // What the artifact holds comes back when the run ends, whatever happens in between.
  const std::string saved = "ttt.saved";
  store.copy_set("live", saved);
  struct Restore {
    ParamStore& st;
    const std::string& from;
    ~Restore() { st.copy_set(from, "live"); }
  } restore{store, saved};
  if (s.scheme == "sgd") return run_ttt_sgd(s, factory, store, ev, tokens, table, w, on_chunk);
  return run_ttt_lora(s, factory, store, ev.seq(), tokens, table, w, names, on_chunk);
}

}  // namespace golf
