// A sandboxed Lua state for model scripts. An artifact carries its script, so decoding runs code
// from a file: the state opens only base, table, string, math and utf8; it has no io, os, debug,
// dofile/loadfile, string.dump or bytecode loading; `require` resolves only modules bundled with
// the script and the built-in golf library; an instruction budget, a wall-clock deadline and a
// memory ceiling stop runaway scripts with a clear error. The pattern functions (string.find,
// match, gmatch, gsub) are golfrt's own (dsl/lua_pattern.h), which watch the deadline while they
// backtrack: Lua's run in C, where no hook fires.
#pragma once
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

struct lua_State;
struct lua_Debug;

namespace golf {

// A Lua error (or a C++ error raised inside Lua) with the script's file:line in its message.
struct ScriptError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct SandboxLimits {
  int64_t max_instructions = 1'000'000'000;  // per call into the script (build, a config read)
  size_t max_memory = size_t(1) << 30;        // bytes held by the Lua heap
  // Wall-clock seconds per call into the script, checked in Lua code and inside the pattern
  // functions; 0: none. An artifact's script (load_model) runs under ModelLimits' deadline.
  double max_seconds = 0;
};

class Sandbox {
 public:
  explicit Sandbox(SandboxLimits limits = {});
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  lua_State* L() const { return L_; }

  // Modules `require` can load besides the built-in library: bundled sources (an artifact's, or
  // files beside a script). Bundled modules take precedence over built-in ones.
  void add_module(const std::string& name, const std::string& source);
  // Lets `require` read "<dir>/<name>.lua" for names of [A-Za-z0-9_] parts (files beside the
  // script); what it reads is recorded as bundled.
  void set_module_dir(const std::string& dir) { module_dir_ = dir; }
  // Every module source `require` loaded from a bundle or the module dir, and every script run:
  // what an artifact must carry to rebuild the model.
  const std::map<std::string, std::string>& sources() const { return sources_; }
  // The golf library modules that were required (their names).
  const std::vector<std::string>& library_modules_used() const { return library_used_; }

  // Runs a chunk of Lua text (never bytecode) named `chunkname` (shown in errors as is) and leaves
  // its results on the stack (count returned). Throws ScriptError.
  int run(const std::string& source, const std::string& chunkname, int nresults = 1);
  // lua_pcall with a traceback handler and fresh limits; throws ScriptError.
  void pcall(int nargs, int nresults);

  size_t memory_in_use() const { return mem_used_; }
  // Raises a Lua error (naming `where`) when the current call has run past its deadline.
  void check_deadline(lua_State* L, const char* where);
  // "script.lua:12": the last line run in code outside the golf library. Lua's tail calls
  // (`return m.head(x)`) remove the caller's frame from the stack, so node locations fall back
  // to this when no script frame is left.
  const std::string& last_script_line() const { return last_script_line_; }
  static Sandbox* of(lua_State* L);

 private:
  static void* alloc(void* ud, void* ptr, size_t osize, size_t nsize);
  static void hook(lua_State* L, ::lua_Debug* ar);
  static int require(lua_State* L);
  void open_libs();

  lua_State* L_ = nullptr;
  SandboxLimits limits_;
  size_t mem_used_ = 0;
  int64_t instructions_ = 0;
  int depth_ = 0;             // calls into the script in progress (the C++ side may call back in)
  int64_t deadline_ns_ = 0;   // steady-clock time the outermost call must end by
  bool memory_exceeded_ = false;
  std::string last_script_line_;
  std::string module_dir_;
  std::map<std::string, std::string> bundled_;
  std::map<std::string, std::string> sources_;
  std::vector<std::string> library_used_;
  friend int sandbox_require(lua_State* L);
};

// The built-in golf library (dsl/lib/golf/*.lua, embedded at build time): name -> source.
const std::map<std::string, std::string>& golf_library();

}  // namespace golf
