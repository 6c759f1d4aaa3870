// A model script: the Lua file that describes an architecture. It returns a table
//   { config = {...}, presets = {...}, train = {...}, quant = {...}, build = function(g, cfg, mode) }
// build() receives g (tokens, targets: [B, T] integer inputs; batch, seq, mode) and the config,
// and returns the per-token loss [B·T] (golf.nn.cross_entropy's output), optionally followed by
// the logits [B·T, V].
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dsl/lua_core.h"
#include "dsl/sandbox.h"
#include "runtime/json.h"
#include "runtime/model_graph.h"

namespace golf {

struct Overrides {
  std::string preset;                                      // --preset NAME ("" for none)
  std::vector<std::pair<std::string, std::string>> sets;  // --set key=value, in order
};

// Parses "key=value"; throws naming the argument.
std::pair<std::string, std::string> parse_set(const std::string& arg);

struct BuiltModel : ModelGraph {
  std::vector<ModuleRecord> modules;
};

class ModelScript {
 public:
  // Reads and runs the script file in a fresh sandbox; applies the preset, then each --set, to
  // its config (unknown keys, presets and ill-typed values are errors naming them).
  ModelScript(const std::string& path, const Overrides& overrides = {}, SandboxLimits limits = {});
  // A script carried by an artifact: its text under `name`, and the modules bundled with it
  // (which take precedence over the built-in golf library). Nothing is read from disk.
  ModelScript(const std::string& name, const std::string& source,
              const std::vector<std::pair<std::string, std::string>>& modules, const Overrides& overrides,
              SandboxLimits limits = {});
  ~ModelScript();

  const std::string& path() const { return path_; }
  const std::string& source() const { return source_; }
  // The config as (key, value as written), sorted by key.
  std::vector<std::pair<std::string, std::string>> config_items() const;
  bool has_config(const std::string& key) const;
  double config_number(const std::string& key) const;
  // A config number used as a count or a size (seq_len, vocab): refused, naming the key and its
  // value, unless it is a whole number from 1 to 2^53 (a fraction would be cut without a word).
  int64_t config_count(const std::string& key) const;
  std::vector<std::string> preset_names() const;

  std::unique_ptr<BuiltModel> build(const std::string& mode, int64_t batch, int64_t seq);

  // Calls string.match(name, "^" .. pattern .. "$") in the sandbox (Lua patterns, as the
  // script's optimizer and quant rules use them).
  bool name_matches(const std::string& name, const std::string& pattern);
  // The script's train.optim rules as (match pattern, optimizer kind), in order; empty if none.
  std::vector<std::pair<std::string, std::string>> optim_rules();

  // M[name] (train, quant, ...) as JSON: tables with 1..n keys become arrays, others objects;
  // functions are refused with the key's path. Null when the script has no such field.
  Json table_json(const std::string& name);

  // Everything an artifact must carry to rebuild this model: the modules the script required
  // (bundled ones and the golf library modules, by name). The script itself is source().
  std::vector<std::pair<std::string, std::string>> bundle() const;

  Sandbox& sandbox() { return sb_; }
  // An untrusted script's allocation budget for every later build() (BuildContext::max_*_bytes;
  // 0: none): bytes per nn.full value or unstored buffer, and for all parameters and stored
  // buffers together.
  void set_allocation_budget(int64_t value_bytes, int64_t param_bytes) {
    max_value_bytes_ = value_bytes;
    max_param_bytes_ = param_bytes;
  }

 private:
  void push_field(const char* table, const char* key) const;  // pushes M[table][key] (or nil)
  void load(const Overrides& o);

  std::string path_, source_;
  Sandbox sb_;
  int module_ref_ = -1;  // registry reference to the returned table
  int config_ref_ = -1;  // the effective config (a copy with the overrides applied)
  int64_t max_value_bytes_ = 0, max_param_bytes_ = 0;
  std::string fraction_note_;  // "--set k=v, ...": whole-number values the command line made fractional
};

}  // namespace golf
