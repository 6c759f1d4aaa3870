// golf.core: the Lua face of the C++ graph-building API (runtime/ops.h). Symbolic tensors are
// userdata with operators; every node they build records the Lua file:line that built it.
// Modeled on Lua's liolib.c: a luaL_Reg table of functions, a named metatable, check helpers.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "dsl/sandbox.h"
#include "runtime/decode/step_builder.h"
#include "runtime/model_graph.h"
#include "runtime/params.h"

namespace golf {

struct ModuleRecord {
  std::string path;  // "blocks.0.attn"
  std::string type;  // "Attention"
};

// What golf.core builds into while a script's build() runs.
struct BuildContext {
  Graph* graph = nullptr;
  ParamStore* store = nullptr;
  std::vector<ModuleRecord> modules;  // in attach order
  // Decides the graph of the ops that differ in a decode step (runtime/decode/step_builder.h);
  // set for every build, a full-sequence one included.
  DecodeStepBuilder* step = nullptr;
  std::map<std::string, Var> outputs;  // core.output(name, x)
  // Late QAT (train graphs of a script with train.qat): the bits each parameter is quantized to
  // in the artifact (0: kept as float). Such a weight enters the graph as
  //   w + s·(fake_quant(w, bits) − w)
  // with s the real input "qat_switch" [1]: the trainer flips it to 1 once the LR multiplier
  // falls below train.qat.below, without rebuilding the graph. The gradient is w's either way
  // (fake_quant is straight-through).
  std::function<int(const std::string&, const Shape&)> qat_bits;
  // An untrusted script's allocation budget (0: none): the bytes (at 4 an element) one nn.full
  // value or one buffer may take, and all parameters with stored buffers together (the artifact's
  // own tensors bound those). Checked when the script declares them, before anything is allocated.
  int64_t max_value_bytes = 0;
  int64_t max_param_bytes = 0;
  int64_t param_bytes = 0;  // declared so far in this build
  Var qat_switch;
  std::map<std::string, Var> qat_weights;
};

// Registers golf.core with the sandbox's `require`.
void install_golf_core(Sandbox& sb);
// Points golf.core at a build (nullptr: no build is running; ops then raise an error).
void set_build_context(lua_State* L, BuildContext* ctx);

void push_tensor(lua_State* L, Var v);
Var check_tensor(lua_State* L, int idx);

}  // namespace golf
