#include "dsl/sandbox.h"

#include <lua.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "dsl/lua_pattern.h"

namespace golf {

namespace {

const char* kLoadedKey = "golf.loaded";
const char* kPreloadKey = "golf.preload";

Sandbox* sandbox_of(lua_State* L) {
  void* ud = nullptr;
  lua_getallocf(L, &ud);
  return static_cast<Sandbox*>(ud);
}

bool safe_module_name(const std::string& n) {
  if (n.empty() || n.front() == '.' || n.back() == '.' || n.find("..") != std::string::npos) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.')) return false;
  return true;
}

// load(chunk [, chunkname [, mode [, env]]]) with the mode forced to text: bytecode can break
// the VM's invariants, so it never loads.
int text_only_load(lua_State* L) {
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));  // the original load
  lua_pushvalue(L, 1);
  if (n >= 2) lua_pushvalue(L, 2);
  else lua_pushnil(L);
  lua_pushliteral(L, "t");
  if (n >= 4) lua_pushvalue(L, 4);
  else lua_pushglobaltable(L);
  lua_call(L, 4, LUA_MULTRET);
  return lua_gettop(L) - n;
}

int traceback(lua_State* L) {
  const char* msg = lua_tostring(L, 1);
  if (!msg) msg = luaL_typename(L, 1);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

}  // namespace

void* Sandbox::alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* s = static_cast<Sandbox*>(ud);
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    std::free(ptr);
    s->mem_used_ -= old;
    return nullptr;
  }
  if (nsize > old && s->mem_used_ + (nsize - old) > s->limits_.max_memory) {
    s->memory_exceeded_ = true;
    return nullptr;  // Lua raises "not enough memory"; pcall() names the limit
  }
  void* p = std::realloc(ptr, nsize);
  if (p) s->mem_used_ = s->mem_used_ - old + nsize;
  return p;
}

Sandbox* Sandbox::of(lua_State* L) { return sandbox_of(L); }

namespace {
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

void Sandbox::check_deadline(lua_State* L, const char* where) {
  if (limits_.max_seconds <= 0 || depth_ == 0 || now_ns() <= deadline_ns_) return;
  luaL_error(L, "script time limit exceeded: %s ran past the %f-second deadline", where, limits_.max_seconds);
}

void Sandbox::hook(lua_State* L, lua_Debug* ar) {
  Sandbox* s = sandbox_of(L);
  if (ar->event == LUA_HOOKLINE) {
    if (lua_getinfo(L, "S", ar) && std::strncmp(ar->source, "@golf/", 6) != 0)
      s->last_script_line_ = std::string(ar->short_src) + ":" + std::to_string(ar->currentline);
    return;
  }
  s->check_deadline(L, "the script");
  s->instructions_ += 1000;
  if (s->instructions_ > s->limits_.max_instructions)
    luaL_error(L, "instruction limit exceeded (%I instructions): is there a runaway loop?",
               (lua_Integer)s->limits_.max_instructions);
}

int sandbox_require(lua_State* L) {
  Sandbox* s = sandbox_of(L);
  std::string name = luaL_checkstring(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, kLoadedKey);
  lua_getfield(L, -1, name.c_str());
  if (!lua_isnil(L, -1)) return 1;
  lua_pop(L, 1);

  // C modules (golf.core) registered by the binding
  lua_getfield(L, LUA_REGISTRYINDEX, kPreloadKey);
  lua_getfield(L, -1, name.c_str());
  if (lua_isfunction(L, -1)) {
    lua_pushstring(L, name.c_str());
    lua_call(L, 1, 1);
    lua_remove(L, 3);  // the preload table: the module's value is now at 3
  } else {
    lua_pop(L, 2);
    std::string source, chunk;
    if (auto b = s->bundled_.find(name); b != s->bundled_.end()) {
      source = b->second;
      chunk = "@" + name + ".lua";
      s->sources_[name] = source;
    } else if (auto lib = golf_library().find(name); lib != golf_library().end()) {
      source = lib->second;
      std::string file = name;
      for (char& c : file) if (c == '.') c = '/';
      chunk = "@" + file + ".lua";
      s->library_used_.push_back(name);
    } else if (!s->module_dir_.empty() && safe_module_name(name) && name.rfind("golf.", 0) != 0) {
      std::string file = name;
      for (char& c : file) if (c == '.') c = '/';
      std::ifstream in(s->module_dir_ + "/" + file + ".lua", std::ios::binary);
      if (!in) return luaL_error(L, "module '%s' not found (looked in the bundle, the golf library and %s/)", name.c_str(), s->module_dir_.c_str());
      std::stringstream ss;
      ss << in.rdbuf();
      source = ss.str();
      chunk = "@" + s->module_dir_ + "/" + file + ".lua";
      s->sources_[name] = source;
    } else {
      return luaL_error(L, "module '%s' not found: scripts may require only the golf library and modules bundled with them", name.c_str());
    }
    if (luaL_loadbufferx(L, source.data(), source.size(), chunk.c_str(), "t") != LUA_OK) return lua_error(L);
    lua_pushstring(L, name.c_str());
    lua_call(L, 1, 1);
  }
  // stack: name, loaded, value
  if (lua_isnil(L, 3)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  lua_pushvalue(L, 3);
  lua_setfield(L, 2, name.c_str());
  return 1;
}

Sandbox::Sandbox(SandboxLimits limits) : limits_(limits) {
  L_ = lua_newstate(&Sandbox::alloc, this);
  if (!L_) throw std::runtime_error("cannot create a Lua state");
  open_libs();
}

Sandbox::~Sandbox() {
  if (L_) lua_close(L_);
}

void Sandbox::open_libs() {
  luaL_requiref(L_, LUA_GNAME, luaopen_base, 1);
  luaL_requiref(L_, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L_, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L_, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L_, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  lua_settop(L_, 0);

  lua_pushglobaltable(L_);
  for (const char* name : {"dofile", "loadfile", "collectgarbage"}) {
    lua_pushnil(L_);
    lua_setfield(L_, -2, name);
  }
  lua_getfield(L_, -1, "load");
  lua_pushcclosure(L_, text_only_load, 1);
  lua_setfield(L_, -2, "load");
  lua_pushcfunction(L_, sandbox_require);
  lua_setfield(L_, -2, "require");
  lua_getfield(L_, -1, LUA_STRLIBNAME);
  lua_pushnil(L_);
  lua_setfield(L_, -2, "dump");  // string.dump would hand out bytecode
  lua_settop(L_, 0);
  install_bounded_patterns(L_);

  lua_newtable(L_);
  lua_setfield(L_, LUA_REGISTRYINDEX, kLoadedKey);
  lua_newtable(L_);
  lua_setfield(L_, LUA_REGISTRYINDEX, kPreloadKey);
  lua_sethook(L_, &Sandbox::hook, LUA_MASKCOUNT | LUA_MASKLINE, 1000);
}

void Sandbox::add_module(const std::string& name, const std::string& source) { bundled_[name] = source; }

void Sandbox::pcall(int nargs, int nresults) {
  int base = lua_gettop(L_) - nargs;  // the function's index
  lua_pushcfunction(L_, traceback);
  lua_insert(L_, base);
  // A call from C++ made while the script runs (a quant rule's name match during build()) shares
  // the outer call's budget and deadline rather than restarting them.
  if (depth_ == 0) {
    instructions_ = 0;
    deadline_ns_ = now_ns() + int64_t(std::min(limits_.max_seconds, 1e9) * 1e9);  // a billion seconds: none
  }
  memory_exceeded_ = false;
  depth_++;
  int status = lua_pcall(L_, nargs, nresults, base);
  depth_--;
  lua_remove(L_, base);
  if (status != LUA_OK) {
    std::string msg = lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "(error object is not a string)";
    lua_pop(L_, 1);
    if (memory_exceeded_ || status == LUA_ERRMEM)
      msg = "script exceeded the memory limit of " + std::to_string(limits_.max_memory >> 20) + " MiB (" + msg + ")";
    throw ScriptError(msg);
  }
}

int Sandbox::run(const std::string& source, const std::string& chunkname, int nresults) {
  int top = lua_gettop(L_);
  if (luaL_loadbufferx(L_, source.data(), source.size(), ("@" + chunkname).c_str(), "t") != LUA_OK) {
    std::string msg = lua_tostring(L_, -1);
    lua_pop(L_, 1);
    throw ScriptError(msg);
  }
  pcall(0, nresults);
  return lua_gettop(L_) - top;
}

}  // namespace golf
