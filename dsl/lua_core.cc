#include "dsl/lua_core.h"

#include <lua.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <utility>

#include "runtime/rng.h"

namespace golf {

namespace {

const char* kTensorMeta = "golf.Tensor";
const char* kContextKey = "golf.build_context";

struct LuaTensor {
  Graph* g;
  Value v;
};

BuildContext* context(lua_State* L) {
  lua_getfield(L, LUA_REGISTRYINDEX, kContextKey);
  auto* ctx = static_cast<BuildContext*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  if (!ctx || !ctx->graph) luaL_error(L, "golf ops can only be used while a script's build() runs");
  return ctx;
}

// "baseline.lua:23" — the innermost script frame, with the library frame that built the node when
// it differs ("baseline.lua:23 > golf/attention.lua:40"), so errors point at the user's line.
std::string location(lua_State* L) {
  std::string inner, user;
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0) continue;
    std::string where = std::string(ar.short_src) + ":" + std::to_string(ar.currentline);
    if (inner.empty()) inner = where;
    if (std::strncmp(ar.source, "@golf/", 6) != 0) {
      user = where;
      break;
    }
  }
  if (user.empty()) user = Sandbox::of(L)->last_script_line();  // the script's frame was a tail call
  if (user.empty()) return inner;
  return user == inner || inner.empty() ? user : user + " > " + inner;
}

Graph& graph_for_op(lua_State* L) {
  BuildContext* ctx = context(L);
  ctx->graph->set_location(location(L));
  return *ctx->graph;
}

// C++ errors become Lua errors. Shape errors already carry the node's location; others get the
// calling line from luaL_error. The message is copied out before raising, since lua_error unwinds.
template <int (*F)(lua_State*)>
int guarded(lua_State* L) {
  std::string err;
  bool located = false;
  try {
    return F(L);
  } catch (const ShapeError& e) {
    err = e.what();
    located = true;
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (located) {
    lua_pushstring(L, err.c_str());
    return lua_error(L);
  }
  return luaL_error(L, "%s", err.c_str());
}

bool is_tensor(lua_State* L, int idx) { return luaL_testudata(L, idx, kTensorMeta) != nullptr; }

int64_t check_int(lua_State* L, int idx) {
  lua_Number n = luaL_checknumber(L, idx);
  if (!std::isfinite(n) || n != std::floor(n) || !(n >= -0x1p62 && n <= 0x1p62)) {
    char msg[96];
    std::snprintf(msg, sizeof msg, "a whole number in -2^62 .. 2^62 expected, got %.17g", double(n));
    luaL_argerror(L, idx, msg);
  }
  return int64_t(n);
}

// Dims are 1-based as in Torch7 and Lua; negative dims count from the end (-1: the last).
int64_t check_dim(lua_State* L, int idx, int rank) {
  int64_t d = check_int(L, idx);
  if (d == 0 || d > rank || d < -rank)
    luaL_argerror(L, idx, ("dim " + std::to_string(d) + " out of range for rank " + std::to_string(rank) +
                           " (dims are 1-based; -1 is the last)").c_str());
  return d > 0 ? d - 1 : d + rank;
}

// A shape given as a table {2, 3} or as the remaining integer arguments.
Shape check_shape(lua_State* L, int idx) {
  Shape s;
  if (lua_istable(L, idx)) {
    lua_Integer n = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_geti(L, idx, i);
      lua_Number v = luaL_checknumber(L, -1);
      lua_pop(L, 1);
      // A double outside int64 (or NaN) has no defined conversion; -1 stays (reshape's "the rest").
      // A fraction was once cut silently (--set dim=64.5 built a 64-wide model). (The graph
      // refuses a shape of more than 2^60 elements, naming the op; this keeps the conversion defined.)
      if (!(v >= -1 && v <= 0x1p62) || v != std::floor(v))
        luaL_error(L, "shape entry %d is %f, not a whole number in 0 .. 2^62", int(i), double(v));
      s.push_back(int64_t(v));
    }
    return s;
  }
  for (int i = idx; i <= lua_gettop(L); i++) s.push_back(check_int(L, i));
  return s;
}

double opt_field(lua_State* L, int idx, const char* key, double def) {
  if (!lua_istable(L, idx)) return def;
  lua_getfield(L, idx, key);
  double v = lua_isnil(L, -1) ? def : luaL_checknumber(L, -1);
  lua_pop(L, 1);
  return v;
}
bool opt_bool_field(lua_State* L, int idx, const char* key, bool def) {
  if (!lua_istable(L, idx)) return def;
  lua_getfield(L, idx, key);
  bool v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

int ret(lua_State* L, Var v) {
  push_tensor(L, v);
  return 1;
}

// ---- leaves ---------------------------------------------------------------------------------

Init check_init(lua_State* L, int idx) {
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_getfield(L, idx, "kind");
  std::string kind = luaL_optstring(L, -1, "");
  lua_pop(L, 1);
  if (kind == "normal") return Init::normal(opt_field(L, idx, "std", 1.0));
  if (kind == "uniform") return Init::uniform(opt_field(L, idx, "bound", 1.0));
  if (kind == "zeros") return Init::zeros();
  if (kind == "ones") return Init::ones();
  if (kind == "orthogonal") return Init::orthogonal(opt_field(L, idx, "gain", 1.0));
  if (kind == "constant") return Init::constant(opt_field(L, idx, "value", 0.0));
  if (kind == "values") {
    lua_getfield(L, idx, "values");
    luaL_checktype(L, -1, LUA_TTABLE);
    std::vector<double> v(size_t(luaL_len(L, -1)));
    for (size_t i = 0; i < v.size(); i++) {
      lua_geti(L, -1, lua_Integer(i + 1));
      v[i] = luaL_checknumber(L, -1);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return Init::from_values(std::move(v));
  }
  luaL_error(L, "unknown init kind '%s' (normal, uniform, zeros, ones, orthogonal, constant, values)", kind.c_str());
  return Init::zeros();
}

// The allocation budget (BuildContext::max_*_bytes): refused at the script's line, before the
// C++ side allocates. A shape past 2^60 elements was refused by check_shape already.
void check_budget(lua_State* L, const char* what, const std::string& name, const Shape& shape, int64_t limit,
                  int64_t already = 0) {
  if (limit <= 0) return;
  if (!shape_size_error(shape).empty()) return;  // the declaration itself refuses it, naming why
  const int64_t bytes = shape_numel(shape) * 4;
  if (bytes > limit - already)
    luaL_error(L, "%s '%s' %s needs %I bytes, beyond the allocation budget of %I bytes%s", what, name.c_str(),
               shape_str(shape).c_str(), (lua_Integer)bytes, (lua_Integer)limit,
               already ? " (with the parameters and buffers declared before it)" : "");
}

int l_param(lua_State* L) {
  std::string name = luaL_checkstring(L, 1);
  Shape shape = check_shape(L, 2);
  Init init = check_init(L, 3);
  BuildContext* ctx = context(L);
  if (!ctx->store->has(name)) {
    check_budget(L, "parameter", name, shape, ctx->max_param_bytes, ctx->param_bytes);
    if (ctx->max_param_bytes > 0 && shape_size_error(shape).empty()) ctx->param_bytes += shape_numel(shape) * 4;
  }
  ctx->graph->set_location(location(L));
  ctx->store->declare(name, shape, init);
  Var w = param(*ctx->graph, name, shape);
  if (!ctx->qat_bits) return ret(L, w);
  auto it = ctx->qat_weights.find(name);
  if (it != ctx->qat_weights.end()) return ret(L, it->second);
  int bits = ctx->qat_bits(name, shape);
  if (bits >= 2 && bits <= 8) {
    if (!ctx->qat_switch.valid()) ctx->qat_switch = input(*ctx->graph, "qat_switch", {1});
    w = w + ctx->qat_switch * (fake_quant(w, bits) - w);
  }
  ctx->qat_weights[name] = w;
  return ret(L, w);
}

// buffer(name, shape, values, integer, stored): a named non-trainable tensor (ParamStore buffer)
// holding `values` (a flat row-major list); never quantized, never QAT'd, never differentiated.
// stored = false (default true): rebuilt by the script, never written to checkpoints or artifacts.
int l_buffer(lua_State* L) {
  std::string name = luaL_checkstring(L, 1);
  Shape shape = check_shape(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  std::vector<double> values(size_t(luaL_len(L, 3)));
  for (size_t i = 0; i < values.size(); i++) {
    lua_geti(L, 3, lua_Integer(i + 1));
    values[i] = luaL_checknumber(L, -1);
    lua_pop(L, 1);
  }
  bool integer = lua_toboolean(L, 4);
  bool stored = lua_isnoneornil(L, 5) ? true : lua_toboolean(L, 5);
  BuildContext* ctx = context(L);
  if (!ctx->store->has(name)) {
    if (stored) {
      check_budget(L, "buffer", name, shape, ctx->max_param_bytes, ctx->param_bytes);
      if (ctx->max_param_bytes > 0 && shape_size_error(shape).empty()) ctx->param_bytes += shape_numel(shape) * 4;
    } else {
      check_budget(L, "buffer", name, shape, ctx->max_value_bytes);
    }
  }
  ctx->graph->set_location(location(L));
  ctx->store->declare_buffer(name, shape, std::move(values), integer, stored);
  return ret(L, buffer(*ctx->graph, name, shape, integer));
}

// permutation(n, seed): a permutation of 0 .. n-1 as a Lua list. Fisher–Yates over golfrt's Rng
// seeded with `seed` (for i = n-1 down to 1: swap a[i] with a[rng.below(i + 1)]). Stable: the same
// (n, seed) gives the same table on every machine and in every golfrt version, since artifacts
// and checkpoints depend on it.
int l_permutation(lua_State* L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  lua_Integer seed = luaL_checkinteger(L, 2);
  if (n < 0 || n > (lua_Integer(1) << 26)) return luaL_argerror(L, 1, "permutation size must be in 0 .. 2^26");
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (lua_Integer i = 0; i < n; i++) p[size_t(i)] = i;
  Rng rng{static_cast<uint64_t>(seed)};
  for (lua_Integer i = n - 1; i > 0; i--) std::swap(p[size_t(i)], p[size_t(rng.below(uint64_t(i + 1)))]);
  lua_createtable(L, int(n), 0);
  for (lua_Integer i = 0; i < n; i++) {
    lua_pushinteger(L, p[size_t(i)]);
    lua_seti(L, -2, i + 1);
  }
  return 1;
}

int l_full(lua_State* L) {
  Shape shape = check_shape(L, 1);
  check_budget(L, "full", "value", shape, context(L)->max_value_bytes);
  return ret(L, full(graph_for_op(L), shape, luaL_checknumber(L, 2)));
}

// input(name, shape): a real input the caller binds by name (the combiner's features, the
// thinking step's embedding). Names the runtime owns are refused.
int l_input(lua_State* L) {
  std::string name = luaL_checkstring(L, 1);
  Shape shape = check_shape(L, 2);
  if (name == "tokens" || name == "targets" || name == "pos" || name == "qat_switch" || name.rfind("kv.", 0) == 0 ||
      name.rfind("shift.", 0) == 0 || name.rfind("ngram.", 0) == 0 || name.rfind("grad.", 0) == 0)
    return luaL_argerror(L, 1, "this input name is the runtime's own");
  Graph& g = graph_for_op(L);
  return ret(L, input(g, name, shape));
}

// output(name, x): declares x a named result of the graph (ModelGraph::outputs), once per name.
int l_output(lua_State* L) {
  std::string name = luaL_checkstring(L, 1);
  Var x = check_tensor(L, 2);
  BuildContext* ctx = context(L);
  if (!ctx->outputs.emplace(name, x).second) return luaL_argerror(L, 1, "this output is already declared");
  return 0;
}

int l_module(lua_State* L) {
  context(L)->modules.push_back({luaL_checkstring(L, 1), luaL_checkstring(L, 2)});
  return 0;
}

// ---- elementwise ----------------------------------------------------------------------------

template <Var (*F)(Var)>
int l_unary(lua_State* L) {
  graph_for_op(L);
  return ret(L, F(check_tensor(L, 1)));
}
int l_elu(lua_State* L) {
  graph_for_op(L);
  return ret(L, elu(check_tensor(L, 1), luaL_optnumber(L, 2, 1.0)));
}
int l_leaky_relu(lua_State* L) {
  graph_for_op(L);
  return ret(L, leaky_relu(check_tensor(L, 1), luaL_optnumber(L, 2, 0.01)));
}

// a op b where either side may be a number.
int arith(lua_State* L, char op) {
  graph_for_op(L);
  bool ta = is_tensor(L, 1), tb = is_tensor(L, 2);
  if (ta && tb) {
    Var a = check_tensor(L, 1), b = check_tensor(L, 2);
    switch (op) {
      case '+': return ret(L, add(a, b));
      case '-': return ret(L, sub(a, b));
      case '*': return ret(L, mul(a, b));
      case '/': return ret(L, div(a, b));
    }
  }
  if (ta) {
    Var a = check_tensor(L, 1);
    double n = luaL_checknumber(L, 2);
    switch (op) {
      case '+': return ret(L, add_scalar(a, n));
      case '-': return ret(L, add_scalar(a, -n));
      case '*': return ret(L, scale(a, n));
      case '/': return ret(L, scale(a, 1.0 / n));
      case '^': return ret(L, pow_scalar(a, n));
    }
  }
  if (tb && op != '^') {
    double n = luaL_checknumber(L, 1);
    Var b = check_tensor(L, 2);
    switch (op) {
      case '+': return ret(L, add_scalar(b, n));
      case '-': return ret(L, add_scalar(neg(b), n));
      case '*': return ret(L, scale(b, n));
      case '/': return ret(L, scale(pow_scalar(b, -1.0), n));
    }
  }
  return luaL_error(L, "arithmetic '%c' needs a tensor and a tensor or number", op);
}
int l_add(lua_State* L) { return arith(L, '+'); }
int l_sub(lua_State* L) { return arith(L, '-'); }
int l_mul(lua_State* L) { return arith(L, '*'); }
int l_div(lua_State* L) { return arith(L, '/'); }
int l_pow(lua_State* L) { return arith(L, '^'); }
int l_scale(lua_State* L) {
  graph_for_op(L);
  return ret(L, scale(check_tensor(L, 1), luaL_checknumber(L, 2)));
}

// ---- reductions and layout ------------------------------------------------------------------

std::vector<int64_t> check_dims(lua_State* L, int idx, int rank) {
  std::vector<int64_t> dims;
  if (lua_istable(L, idx)) {
    lua_Integer n = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
      lua_geti(L, idx, i);
      int top = lua_gettop(L);
      dims.push_back(check_dim(L, top, rank));
      lua_pop(L, 1);
    }
  } else {
    for (int i = idx; i <= lua_gettop(L); i++) dims.push_back(check_dim(L, i, rank));
  }
  if (dims.empty())
    for (int i = 0; i < rank; i++) dims.push_back(i);
  return dims;
}

// sum(x [, dims...]): over the given dims (kept as size 1), or over everything (a scalar).
template <bool Mean>
int l_reduce(lua_State* L) {
  graph_for_op(L);
  Var x = check_tensor(L, 1);
  bool all = lua_gettop(L) < 2;
  std::vector<int64_t> dims = check_dims(L, 2, x.rank());
  if (all) return ret(L, Mean ? mean_all(x) : sum_all(x));
  return ret(L, Mean ? mean(x, dims) : sum(x, dims));
}

int l_reshape(lua_State* L) {
  graph_for_op(L);
  Var x = check_tensor(L, 1);
  return ret(L, reshape(x, check_shape(L, 2)));
}
int l_expand(lua_State* L) {
  graph_for_op(L);
  return ret(L, expand(check_tensor(L, 1), check_shape(L, 2)));
}
int l_sum_to(lua_State* L) {
  graph_for_op(L);
  return ret(L, sum_to(check_tensor(L, 1), check_shape(L, 2)));
}
int l_permute(lua_State* L) {
  graph_for_op(L);
  Var x = check_tensor(L, 1);
  return ret(L, permute(x, check_dims(L, 2, x.rank())));
}
int l_transpose(lua_State* L) {
  graph_for_op(L);
  Var x = check_tensor(L, 1);
  return ret(L, transpose(x, int(check_dim(L, 2, x.rank())), int(check_dim(L, 3, x.rank()))));
}
// narrow(x, dim, first, length): Torch7's, 1-based first
int l_narrow(lua_State* L) {
  graph_for_op(L);
  Var x = check_tensor(L, 1);
  int d = int(check_dim(L, 2, x.rank()));
  int64_t first = check_int(L, 3), len = check_int(L, 4);
  return ret(L, slice(x, d, first - 1, first - 1 + len));
}
// slice(x, dim, first, last): 1-based and inclusive, as string.sub
int l_slice(lua_State* L) {
  graph_for_op(L);
  Var x = check_tensor(L, 1);
  int d = int(check_dim(L, 2, x.rank()));
  int64_t first = check_int(L, 3), last = check_int(L, 4);
  if (last < 0) last += x.dim(d) + 1;
  return ret(L, slice(x, d, first - 1, last));
}
int l_pad(lua_State* L) {
  graph_for_op(L);
  Var x = check_tensor(L, 1);
  return ret(L, pad(x, int(check_dim(L, 2, x.rank())), check_int(L, 3), check_int(L, 4)));
}
int l_cat(lua_State* L) {
  graph_for_op(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  std::vector<Var> xs;
  lua_Integer n = luaL_len(L, 1);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 1, i);
    xs.push_back(check_tensor(L, -1));
    lua_pop(L, 1);
  }
  if (xs.empty()) return luaL_argerror(L, 1, "cat needs at least one tensor");
  return ret(L, concat(xs, int(check_dim(L, 2, xs[0].rank()))));
}

// ---- gather, matmul, fused ----------------------------------------------------------------

int l_embedding(lua_State* L) {
  graph_for_op(L);
  return ret(L, embedding(check_tensor(L, 1), check_tensor(L, 2)));
}
int l_index_select(lua_State* L) {
  graph_for_op(L);
  return ret(L, index_select(check_tensor(L, 1), check_tensor(L, 2)));
}
// The decode step's state (and every other decode-time choice) is the step builder's.
int l_token_shift(lua_State* L) {
  graph_for_op(L);
  Var x = check_tensor(L, 1);
  const int64_t k = lua_isnoneornil(L, 2) ? 1 : check_int(L, 2);
  return ret(L, context(L)->step->token_shift(x, k));
}
int l_to_real(lua_State* L) {
  graph_for_op(L);
  return ret(L, to_real(check_tensor(L, 1)));
}
// ngram_hash(tokens [B, T], {n = 2, buckets = 2048, hash = "mult" | "xxh3", primes = {p0, p1, p2}, seed = 0})
int l_ngram_hash(lua_State* L) {
  graph_for_op(L);
  Var tokens = check_tensor(L, 1);
  NgramHash h;
  h.n = int(opt_field(L, 2, "n", 2));
  h.buckets = int64_t(opt_field(L, 2, "buckets", 2048));
  std::string kind = "mult";
  if (lua_istable(L, 2)) {
    lua_getfield(L, 2, "hash");
    if (!lua_isnil(L, -1)) kind = luaL_checkstring(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 2, "primes");
    if (lua_istable(L, -1)) {
      uint32_t* p[3] = {&h.p0, &h.p1, &h.p2};
      for (int i = 0; i < 3; i++) {
        lua_geti(L, -1, i + 1);
        if (!lua_isnil(L, -1)) {
          lua_Integer v = luaL_checkinteger(L, -1);
          if (v < 0 || v > lua_Integer(UINT32_MAX)) return luaL_error(L, "ngram_hash: primes are unsigned 32-bit numbers");
          *p[i] = uint32_t(v);
        }
        lua_pop(L, 1);
      }
    }
    lua_pop(L, 1);
    lua_getfield(L, 2, "seed");
    if (!lua_isnil(L, -1)) h.seed = uint64_t(luaL_checkinteger(L, -1));
    lua_pop(L, 1);
  }
  if (kind != "mult" && kind != "xxh3") return luaL_error(L, "ngram_hash: hash must be \"mult\" or \"xxh3\", not \"%s\"", kind.c_str());
  h.kind = kind == "xxh3" ? NgramKind::xxh3 : NgramKind::multiply_xor;
  return ret(L, context(L)->step->ngram_hash(tokens, h));
}
int l_matmul(lua_State* L) {
  graph_for_op(L);
  return ret(L, matmul(check_tensor(L, 1), check_tensor(L, 2), lua_toboolean(L, 3), lua_toboolean(L, 4)));
}
int l_linear(lua_State* L) {  // x·Wᵀ with W [out, in], as torch.nn.functional.linear
  graph_for_op(L);
  return ret(L, matmul(check_tensor(L, 1), check_tensor(L, 2), false, true));
}
int l_rms_norm(lua_State* L) {
  graph_for_op(L);
  return ret(L, rms_norm(check_tensor(L, 1), luaL_optnumber(L, 2, 1e-6)));
}
// rope(x [B, T, H, hd], {dims = hd, base = 10000, train_len = 0, inverse = false})
int l_rope(lua_State* L) {
  graph_for_op(L);
  Var x = check_tensor(L, 1);
  int64_t dims = int64_t(opt_field(L, 2, "dims", x.rank() == 4 ? double(x.dim(3)) : 0.0));
  double base = opt_field(L, 2, "base", 10000.0);
  int64_t train_len = int64_t(opt_field(L, 2, "train_len", 0));
  bool inverse = opt_bool_field(L, 2, "inverse", false);
  return ret(L, context(L)->step->rope(x, dims, base, train_len, inverse));
}
// attention(q, k, v, {scale = 1/sqrt(hd), xsa = false}) -> y, lse
// In a decode step lse is nil (each call is one attention use with its own KV cache).
int l_attention(lua_State* L) {
  graph_for_op(L);
  Var q = check_tensor(L, 1);
  double scale = opt_field(L, 4, "scale", q.rank() == 4 ? 1.0 / std::sqrt(double(q.dim(3))) : 1.0);
  bool xsa = opt_bool_field(L, 4, "xsa", false);
  AttentionOut o = context(L)->step->attention(q, check_tensor(L, 2), check_tensor(L, 3), scale, xsa);
  push_tensor(L, o.y);
  if (o.lse.valid()) push_tensor(L, o.lse);
  else lua_pushnil(L);
  return 2;
}
int l_cross_entropy(lua_State* L) {
  graph_for_op(L);
  return ret(L, cross_entropy(check_tensor(L, 1), check_tensor(L, 2), luaL_optnumber(L, 3, 0.0)));
}
int l_fake_quant(lua_State* L) {
  graph_for_op(L);
  return ret(L, fake_quant(check_tensor(L, 1), int(check_int(L, 2))));
}

// ---- introspection --------------------------------------------------------------------------

int l_shape(lua_State* L) {
  Var x = check_tensor(L, 1);
  lua_createtable(L, x.rank(), 0);
  for (int i = 0; i < x.rank(); i++) {
    lua_pushinteger(L, x.dim(i));
    lua_seti(L, -2, i + 1);
  }
  return 1;
}
int l_size(lua_State* L) {
  Var x = check_tensor(L, 1);
  if (lua_isnoneornil(L, 2)) {  // all dims as multiple results: local B, T, D = x:size()
    for (int i = 0; i < x.rank(); i++) lua_pushinteger(L, x.dim(i));
    return x.rank();
  }
  lua_pushinteger(L, x.dim(int(check_dim(L, 2, x.rank()))));
  return 1;
}
int l_dim(lua_State* L) {
  lua_pushinteger(L, check_tensor(L, 1).rank());
  return 1;
}
int l_numel(lua_State* L) {
  lua_pushinteger(L, check_tensor(L, 1).numel());
  return 1;
}
int l_tostring(lua_State* L) {
  Var x = check_tensor(L, 1);
  lua_pushstring(L, ("Tensor(" + x.g->describe(x.v) + ")").c_str());
  return 1;
}
int l_is_tensor(lua_State* L) {
  lua_pushboolean(L, is_tensor(L, 1));
  return 1;
}

#define G(f) guarded<f>
const luaL_Reg kCoreFunctions[] = {
    {"param", G(l_param)},
    {"buffer", G(l_buffer)},
    {"permutation", G(l_permutation)},
    {"full", G(l_full)},
    {"module", G(l_module)},
    {"input", G(l_input)},
    {"output", G(l_output)},
    {"neg", G(l_unary<neg>)},
    {"exp", G(l_unary<exp>)},
    {"log", G(l_unary<log>)},
    {"sqrt", G(l_unary<sqrt>)},
    {"rsqrt", G(l_unary<rsqrt>)},
    {"square", G(l_unary<square>)},
    {"tanh", G(l_unary<tanh>)},
    {"sigmoid", G(l_unary<sigmoid>)},
    {"softplus", G(l_unary<softplus>)},
    {"relu", G(l_unary<relu>)},
    {"step", G(l_unary<step>)},
    {"gelu", G(l_unary<gelu>)},
    {"silu", G(l_unary<silu>)},
    {"elu", G(l_elu)},
    {"leaky_relu", G(l_leaky_relu)},
    {"scale", G(l_scale)},
    {"add", G(l_add)},
    {"sub", G(l_sub)},
    {"mul", G(l_mul)},
    {"div", G(l_div)},
    {"pow", G(l_pow)},
    {"sum", G(l_reduce<false>)},
    {"mean", G(l_reduce<true>)},
    {"expand", G(l_expand)},
    {"sum_to", G(l_sum_to)},
    {"reshape", G(l_reshape)},
    {"permute", G(l_permute)},
    {"transpose", G(l_transpose)},
    {"narrow", G(l_narrow)},
    {"slice", G(l_slice)},
    {"pad", G(l_pad)},
    {"cat", G(l_cat)},
    {"embedding", G(l_embedding)},
    {"index_select", G(l_index_select)},
    {"token_shift", G(l_token_shift)},
    {"to_real", G(l_to_real)},
    {"ngram_hash", G(l_ngram_hash)},
    {"matmul", G(l_matmul)},
    {"linear", G(l_linear)},
    {"rms_norm", G(l_rms_norm)},
    {"rope", G(l_rope)},
    {"attention", G(l_attention)},
    {"cross_entropy", G(l_cross_entropy)},
    {"fake_quant", G(l_fake_quant)},
    {"shape", G(l_shape)},
    {"size", G(l_size)},
    {"dim", G(l_dim)},
    {"numel", G(l_numel)},
    {"is_tensor", l_is_tensor},
    {nullptr, nullptr},
};

// Tensor methods: x:reshape(...), x:sum(2), x:size(), ...
const luaL_Reg kTensorMethods[] = {
    {"reshape", G(l_reshape)}, {"view", G(l_reshape)},     {"permute", G(l_permute)},
    {"transpose", G(l_transpose)}, {"narrow", G(l_narrow)}, {"slice", G(l_slice)},
    {"sum", G(l_reduce<false>)}, {"mean", G(l_reduce<true>)}, {"expand", G(l_expand)},
    {"mm", G(l_matmul)},         {"shape", G(l_shape)},     {"size", G(l_size)},
    {"dim", G(l_dim)},           {"numel", G(l_numel)},     {nullptr, nullptr},
};

const luaL_Reg kTensorMeta_[] = {
    {"__add", G(l_add)}, {"__sub", G(l_sub)}, {"__mul", G(l_mul)}, {"__div", G(l_div)},
    {"__pow", G(l_pow)}, {"__unm", G(l_unary<neg>)}, {"__tostring", G(l_tostring)}, {nullptr, nullptr},
};
#undef G

int open_core(lua_State* L) {
  luaL_newlib(L, kCoreFunctions);
  return 1;
}

}  // namespace

void push_tensor(lua_State* L, Var v) {
  auto* t = static_cast<LuaTensor*>(lua_newuserdatauv(L, sizeof(LuaTensor), 0));
  t->g = v.g;
  t->v = v.v;
  luaL_setmetatable(L, kTensorMeta);
}

Var check_tensor(lua_State* L, int idx) {
  auto* t = static_cast<LuaTensor*>(luaL_checkudata(L, idx, kTensorMeta));
  BuildContext* ctx = context(L);
  if (t->g != ctx->graph) luaL_argerror(L, idx, "tensor belongs to another build");
  return Var(t->g, t->v);
}

void install_golf_core(Sandbox& sb) {
  lua_State* L = sb.L();
  luaL_newmetatable(L, kTensorMeta);
  luaL_setfuncs(L, kTensorMeta_, 0);
  luaL_newlib(L, kTensorMethods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, "golf.preload");
  lua_pushcfunction(L, open_core);
  lua_setfield(L, -2, "golf.core");
  lua_pop(L, 1);
}

void set_build_context(lua_State* L, BuildContext* ctx) {
  lua_pushlightuserdata(L, ctx);
  lua_setfield(L, LUA_REGISTRYINDEX, kContextKey);
}

}  // namespace golf
