#include "dsl/script.h"

#include "runtime/quant/quantize.h"

#include <lua.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace golf {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ScriptError(path + ": cannot open the script");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string dir_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string value_string(lua_State* L, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TNUMBER: {
      if (lua_isinteger(L, idx)) return std::to_string(lua_tointeger(L, idx));
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.10g", lua_tonumber(L, idx));
      return buf;
    }
    case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? "true" : "false";
    case LUA_TSTRING: return std::string(1, '"').append(lua_tostring(L, idx)).append(1, '"');
    default: return luaL_typename(L, idx);
  }
}

// Resets the build context however build() leaves (tensors die with their graph).
struct ContextGuard {
  lua_State* L;
  ~ContextGuard() { set_build_context(L, nullptr); }
};

}  // namespace

std::pair<std::string, std::string> parse_set(const std::string& arg) {
  size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0) throw std::invalid_argument("--set '" + arg + "': expected key=value");
  return {arg.substr(0, eq), arg.substr(eq + 1)};
}

ModelScript::ModelScript(const std::string& path, const Overrides& o, SandboxLimits limits)
    : path_(path), source_(read_file(path)), sb_(limits) {
  sb_.set_module_dir(dir_of(path));
  load(o);
}

ModelScript::ModelScript(const std::string& name, const std::string& source,
                         const std::vector<std::pair<std::string, std::string>>& modules, const Overrides& o,
                         SandboxLimits limits)
    : path_(name), source_(source), sb_(limits) {
  for (const auto& [mod, text] : modules) sb_.add_module(mod, text);
  load(o);
}

void ModelScript::load(const Overrides& o) {
  const std::string& path = path_;
  install_golf_core(sb_);
  lua_State* L = sb_.L();
  sb_.run(source_, path, 1);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    throw ScriptError(path + ": the script must return a table { config = ..., build = function(g, cfg, mode) ... }");
  }
  lua_getfield(L, -1, "build");
  bool has_build = lua_isfunction(L, -1);
  lua_pop(L, 1);
  if (!has_build) {
    lua_pop(L, 1);
    throw ScriptError(path + ": the returned table has no build(g, cfg, mode) function");
  }
  module_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);

  // The effective config: a copy of M.config, then the preset, then each --set.
  lua_newtable(L);
  int cfg = lua_gettop(L);
  push_field("config", nullptr);
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_settable(L, cfg);
    }
  } else if (!lua_isnil(L, -1)) {
    throw ScriptError(path + ": 'config' must be a table");
  }
  lua_pop(L, 1);

  config_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);  // pops the copy

  auto known_keys = [&]() {
    std::string keys;
    for (auto& [k, v] : config_items()) keys += (keys.empty() ? "" : ", ") + k;
    return keys;
  };
  if (!o.preset.empty()) {
    push_field("presets", o.preset.c_str());
    if (!lua_istable(L, -1)) {
      std::string names;
      for (const std::string& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
      throw ScriptError(path + ": no preset '" + o.preset + "' (presets: " + (names.empty() ? "none" : names) + ")");
    }
    int preset = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, config_ref_);
    int c = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, preset)) {
      // A preset's `train` (or `quant`) table adjusts the script's settings key by key (a CPU
      // preset needs smaller batches, a shorter calibration, as much as a smaller model).
      std::string field = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
      if ((field == "train" || field == "quant") && lua_istable(L, -1)) {
        push_field(field.c_str(), nullptr);
        if (!lua_istable(L, -1)) throw ScriptError(path + ": preset '" + o.preset + "' adjusts " + field + ", but the script has no " + field + " table");
        lua_pushnil(L);
        while (lua_next(L, -3)) {
          lua_pushvalue(L, -2);
          lua_insert(L, -2);
          lua_settable(L, -4);
        }
        lua_pop(L, 2);
        continue;
      }
      lua_pushvalue(L, -2);
      lua_gettable(L, c);
      bool known = !lua_isnil(L, -1);
      lua_pop(L, 1);
      if (!known)
        throw ScriptError(path + ": preset '" + o.preset + "' sets '" + lua_tostring(L, -2) +
                          "', which is not a config key (" + known_keys() + ")");
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_settable(L, c);
    }
    lua_pop(L, 2);
  }
  for (const auto& [key, text] : o.sets) {
    // `train.KEY` / `quant.KEY` adjust one existing scalar of those tables (after the preset's, as a
    // preset does): e.g. train.micro_batch, which mpirun users need to divide a step among ranks.
    const size_t dot = key.find('.');
    const std::string table = dot == std::string::npos ? "" : key.substr(0, dot);
    const std::string field = table.empty() ? key : key.substr(dot + 1);
    if (table == "train" || table == "quant") {
      push_field(table.c_str(), nullptr);
      if (!lua_istable(L, -1)) throw ScriptError("--set " + key + "=" + text + ": " + path + " has no " + table + " table");
    } else {
      lua_rawgeti(L, LUA_REGISTRYINDEX, config_ref_);
    }
    lua_getfield(L, -1, field.c_str());
    int type = lua_type(L, -1);
    bool was_integer = lua_isinteger(L, -1);
    lua_pop(L, 1);
    // train.micro_batch may be added where the script leaves it out: the trainer then derives it
    // (runtime/train/device_plan.h), and a user must be able to choose another from the command line.
    if (type == LUA_TNIL && table == "train" && field == "micro_batch") {
      type = LUA_TNUMBER;
      was_integer = true;
    }
    if (type == LUA_TNIL) {
      if (table == "train" || table == "quant")
        throw ScriptError("--set " + key + "=" + text + ": '" + field + "' is not set in " + path + "'s " + table +
                          " table (only the keys it has can be changed from the command line)");
      throw ScriptError("--set " + key + "=" + text + ": '" + key + "' is not a config key of " + path + " (" + known_keys() + ")");
    }
    if (type == LUA_TNUMBER) {
      if (!lua_stringtonumber(L, text.c_str()))
        throw ScriptError("--set " + key + "=" + text + ": '" + key + "' is a number");
      const lua_Number v = lua_tonumber(L, -1);
      if (was_integer && v != std::floor(v))
        fraction_note_ += std::string(fraction_note_.empty() ? "" : ", ") + "--set " + key + "=" + text;
    } else if (type == LUA_TBOOLEAN) {
      if (text != "true" && text != "false") throw ScriptError("--set " + key + "=" + text + ": '" + key + "' is true or false");
      lua_pushboolean(L, text == "true");
    } else if (type == LUA_TSTRING) {
      lua_pushstring(L, text.c_str());
    } else {
      throw ScriptError("--set " + key + ": '" + key + "' is a " + lua_typename(L, type) + " and cannot be set from the command line");
    }
    lua_setfield(L, -2, field.c_str());
    lua_pop(L, 1);
  }
}

ModelScript::~ModelScript() = default;

void ModelScript::push_field(const char* table, const char* key) const {
  lua_State* L = sb_.L();
  lua_rawgeti(L, LUA_REGISTRYINDEX, module_ref_);
  lua_getfield(L, -1, table);
  lua_remove(L, -2);
  if (key) {
    if (lua_istable(L, -1)) lua_getfield(L, -1, key);
    else lua_pushnil(L);
    lua_remove(L, -2);
  }
}

std::vector<std::pair<std::string, std::string>> ModelScript::config_items() const {
  lua_State* L = sb_.L();
  std::vector<std::pair<std::string, std::string>> items;
  lua_rawgeti(L, LUA_REGISTRYINDEX, config_ref_);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    if (lua_type(L, -2) == LUA_TSTRING) items.push_back({lua_tostring(L, -2), value_string(L, -1)});
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  std::sort(items.begin(), items.end());
  return items;
}

bool ModelScript::has_config(const std::string& key) const {
  lua_State* L = sb_.L();
  lua_rawgeti(L, LUA_REGISTRYINDEX, config_ref_);
  lua_getfield(L, -1, key.c_str());
  bool has = !lua_isnil(L, -1);
  lua_pop(L, 2);
  return has;
}

double ModelScript::config_number(const std::string& key) const {
  lua_State* L = sb_.L();
  lua_rawgeti(L, LUA_REGISTRYINDEX, config_ref_);
  lua_getfield(L, -1, key.c_str());
  bool ok = lua_type(L, -1) == LUA_TNUMBER;
  double v = lua_tonumber(L, -1);
  lua_pop(L, 2);
  if (!ok) throw ScriptError(path_ + ": config." + key + " is not a number");
  return v;
}

int64_t ModelScript::config_count(const std::string& key) const {
  const double v = config_number(key);
  if (!(v >= 1 && v <= 9007199254740992.0) || v != std::floor(v)) {
    char text[64];
    std::snprintf(text, sizeof text, "%.17g", v);
    throw ScriptError(path_ + ": config." + key + " is " + text + "; it must be a whole number of at least 1");
  }
  return int64_t(v);
}

std::vector<std::string> ModelScript::preset_names() const {
  lua_State* L = sb_.L();
  std::vector<std::string> names;
  push_field("presets", nullptr);
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      if (lua_type(L, -2) == LUA_TSTRING) names.push_back(lua_tostring(L, -2));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  std::sort(names.begin(), names.end());
  return names;
}

std::unique_ptr<BuiltModel> ModelScript::build(const std::string& mode, int64_t batch, int64_t seq) {
  lua_State* L = sb_.L();
  // "prefill" and "think" (the linear combiner's thinking step) are decode graphs over windows of
  // `seq` tokens: caches of seq + 1 rows, prefill feeding the seq tokens, think one row.
  const bool windowed = mode == "prefill" || mode == "think";
  const bool decoding = mode == "decode" || windowed;
  if (decoding) {
    push_field("incremental", nullptr);
    bool refused = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (refused) throw ScriptError(path_ + ": the script sets incremental = false: this model " + kNotIncremental);
  }
  // A decode step feeds one token per row; `seq` is then the number of positions the caches hold.
  const int64_t steps = decoding && mode != "prefill" ? 1 : seq;
  auto m = std::make_unique<BuiltModel>();
  BuildContext ctx;
  ctx.graph = &m->graph;
  ctx.store = &m->store;
  const int64_t context = windowed ? seq + 1 : decoding ? seq : 0;
  DecodeStepBuilder step(m->graph, context);
  ctx.step = &step;
  ctx.max_value_bytes = max_value_bytes_;
  ctx.max_param_bytes = max_param_bytes_;
  Json qat, quant;
  if (mode == "train" || mode == "train_double" || mode == "train_early" || mode == "distill") {
    Json train = table_json("train");
    qat = train["qat"];
    if (!qat.is_null() && !(qat.is_bool() && !qat.boolean())) {
      quant = table_json("quant");
      const int64_t force = qat.is_object() ? qat.get("bits", int64_t(0)) : 0;
      ctx.qat_bits = [this, quant, force](const std::string& name, const Shape& shape) {
        int bits = encoding_bits(choose_spec(name, shape, quant, [this](const std::string& n, const std::string& p) {
                                   return name_matches(n, p);
                                 }).encoding);
        return bits > 0 && force > 0 ? int(force) : bits;
      };
    }
  }
  set_build_context(L, &ctx);
  ContextGuard guard{L};
  int top = lua_gettop(L);

  push_field("build", nullptr);
  lua_createtable(L, 0, 6);
  m->graph.set_location("input");
  push_tensor(L, input(m->graph, "tokens", {batch, steps}, true));
  lua_setfield(L, -2, "tokens");
  push_tensor(L, input(m->graph, "targets", {batch, steps}, true));
  lua_setfield(L, -2, "targets");
  lua_pushinteger(L, batch);
  lua_setfield(L, -2, "batch");
  lua_pushinteger(L, steps);
  lua_setfield(L, -2, "seq");
  lua_pushinteger(L, context > 0 ? context : seq);
  lua_setfield(L, -2, "context");
  lua_pushstring(L, mode.c_str());
  lua_setfield(L, -2, "mode");
  lua_rawgeti(L, LUA_REGISTRYINDEX, config_ref_);
  lua_pushstring(L, mode.c_str());
  try {
    sb_.pcall(3, 2);
  } catch (const ScriptError& e) {
    // The Lua line says where a number was refused, not that it came from the command line.
    if (fraction_note_.empty()) throw;
    std::string what = e.what();
    const size_t eol = std::min(what.find('\n'), what.size());
    what.insert(eol, "\n  (" + fraction_note_ + " made a whole number of the script fractional)");
    throw ScriptError(what);
  }

  if (!luaL_testudata(L, -2, "golf.Tensor")) {
    lua_settop(L, top);
    throw ScriptError(path_ + ": build() must return the per-token loss tensor (golf.nn.cross_entropy's output)");
  }
  m->loss = check_tensor(L, -2);
  if (!lua_isnil(L, -1)) m->logits = check_tensor(L, -1);
  lua_settop(L, top);
  int64_t n = batch * steps;
  if (m->loss.numel() != n)
    throw ScriptError(path_ + ": build() returned a loss of shape " + shape_str(m->loss.shape()) +
                      "; expected the per-token loss [" + std::to_string(n) + "]");
  m->graph.set_location("");
  m->loss = reshape(m->loss, {n});
  m->modules = std::move(ctx.modules);
  m->caches = step.take_caches();
  m->outputs = std::move(ctx.outputs);
  return m;
}

std::vector<std::pair<std::string, std::string>> ModelScript::bundle() const {
  std::map<std::string, std::string> mods(sb_.sources().begin(), sb_.sources().end());
  for (const std::string& name : sb_.library_modules_used()) mods.emplace(name, golf_library().at(name));
  return {mods.begin(), mods.end()};
}

bool ModelScript::name_matches(const std::string& name, const std::string& pattern) {
  lua_State* L = sb_.L();
  lua_getglobal(L, "string");
  lua_getfield(L, -1, "match");
  lua_remove(L, -2);
  lua_pushstring(L, name.c_str());
  lua_pushstring(L, ("^" + pattern + "$").c_str());
  sb_.pcall(2, 1);
  bool m = !lua_isnil(L, -1);
  lua_pop(L, 1);
  return m;
}

namespace {
Json to_json(lua_State* L, int idx, const std::string& where, int depth) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TNIL: return Json();
    case LUA_TBOOLEAN: return Json(bool(lua_toboolean(L, idx)));
    case LUA_TNUMBER: return Json(double(lua_tonumber(L, idx)));
    case LUA_TSTRING: return Json(std::string(lua_tostring(L, idx)));
    case LUA_TTABLE: {
      if (depth > 32) throw ScriptError(where + ": nested too deeply");
      lua_Integer n = luaL_len(L, idx);
      size_t count = 0;
      lua_pushnil(L);
      while (lua_next(L, idx)) count++, lua_pop(L, 1);
      if (n > 0 && size_t(n) == count) {
        Json a = Json::array();
        for (lua_Integer i = 1; i <= n; i++) {
          lua_geti(L, idx, i);
          a.push(to_json(L, -1, where + "[" + std::to_string(i) + "]", depth + 1));
          lua_pop(L, 1);
        }
        return a;
      }
      Json o = Json::object();
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        std::string key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2)
                          : lua_type(L, -2) == LUA_TNUMBER ? std::to_string(lua_tointeger(L, -2)) : "?";
        o.set(key, to_json(L, -1, where + "." + key, depth + 1));
        lua_pop(L, 1);
      }
      return o;
    }
    default:
      throw ScriptError(where + " is a " + std::string(luaL_typename(L, idx)) + "; only numbers, strings, booleans and tables are allowed here");
  }
}
}  // namespace

Json ModelScript::table_json(const std::string& name) {
  lua_State* L = sb_.L();
  push_field(name.c_str(), nullptr);
  Json j;
  try {
    j = to_json(L, -1, path_ + ": " + name, 0);
  } catch (...) {
    lua_pop(L, 1);
    throw;
  }
  lua_pop(L, 1);
  return j;
}

std::vector<std::pair<std::string, std::string>> ModelScript::optim_rules() {
  lua_State* L = sb_.L();
  std::vector<std::pair<std::string, std::string>> rules;
  push_field("train", "optim");
  if (lua_istable(L, -1)) {
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_geti(L, -1, i);
      if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "match");
        std::string match = lua_isstring(L, -1) ? lua_tostring(L, -1) : ".*";
        lua_pop(L, 1);
        std::string kind = "?";
        for (const char* k : {"muon", "adam", "adamw", "sgd"}) {
          lua_getfield(L, -1, k);
          if (!lua_isnil(L, -1)) kind = k;
          lua_pop(L, 1);
        }
        rules.push_back({match, kind});
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return rules;
}

}  // namespace golf
