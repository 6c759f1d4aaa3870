// The Lua DSL: errors name the script's file:line, shape errors also both shapes; the sandbox
// refuses every escape; runaway loops and memory bombs stop; config overrides; module naming.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/errors.h"
#include "dsl/script.h"

namespace golf {
namespace {

std::string write_script(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

// A script whose build() body is `body` (line 4 of the file is its first line).
std::string model(const std::string& name, const std::string& body, const std::string& config = "dim = 8") {
  return write_script(name, "local nn = require 'golf.nn'\nlocal M = { config = { " + config +
                                " } }\nfunction M.build(g, cfg, mode)\n" + body + "\nend\nreturn M\n");
}

#define EXPECT_HAS(text, piece) EXPECT_NE(std::string(text).find(piece), std::string::npos) << text

TEST(Dsl, script_error_names_file_and_line) {
  std::string p = model("err_line.lua", "  local x = 1\n  error('boom')");
  std::string e = error_of([&] { ModelScript(p).build("train", 1, 4); });
  EXPECT_HAS(e, "err_line.lua:5: boom");
  std::string p2 = write_script("syntax.lua", "return {\n  config = {,\n}\n");
  EXPECT_HAS(error_of([&] { ModelScript s(p2); }), "syntax.lua:2:");
  std::string p3 = model("nil_call.lua", "  local t = nil\n  return t.x");
  EXPECT_HAS(error_of([&] { ModelScript(p3).build("train", 1, 4); }), "nil_call.lua:5:");
}

TEST(Dsl, shape_mismatch_names_file_line_and_both_shapes) {
  std::string p = model("shape_err.lua",
                        "  local m = nn.Model()\n"
                        "  m.a = nn.Linear(8, 3)\n"
                        "  local x = nn.full({2, 5}, 1.0)\n"
                        "  return m.a(x)");
  std::string e = error_of([&] { ModelScript(p).build("train", 1, 4); });
  EXPECT_HAS(e, "shape_err.lua:7");
  EXPECT_HAS(e, "'matmul'");
  EXPECT_HAS(e, "[2, 5]");
  EXPECT_HAS(e, "[3, 8]");
  std::string p2 = model("shape_err2.lua", "  local a = nn.full({2, 3}, 1)\n  local b = nn.full({4}, 1)\n  return a + b");
  std::string e2 = error_of([&] { ModelScript(p2).build("train", 1, 4); });
  EXPECT_HAS(e2, "shape_err2.lua:6");
  EXPECT_HAS(e2, "[2, 3] and [4]");
}

TEST(Dsl, library_errors_point_at_the_users_line) {
  std::string p = model("lib_err.lua",
                        "  local m = nn.Model()\n"
                        "  m.att = nn.Attention{ dim = 8, heads = 2 }\n"
                        "  return m.att(nn.full({1, 4, 6}, 1.0))");
  std::string e = error_of([&] { ModelScript(p).build("train", 1, 4); });
  EXPECT_HAS(e, "lib_err.lua:6 > golf/linear.lua:");
}

// Each escape is refused, and says so.
TEST(Sandbox, refuses_every_escape) {
  const std::vector<std::pair<std::string, std::string>> escapes = {
      {"return io.open('/etc/passwd')", "global 'io'"},
      {"return os.execute('true')", "global 'os'"},
      {"return debug.getinfo(1)", "global 'debug'"},
      {"return dofile('/etc/passwd')", "global 'dofile'"},
      {"return loadfile('/etc/passwd')", "global 'loadfile'"},
      {"return string.dump(function() end)", "field 'dump'"},
      {"return ('').dump(function() end)", "field 'dump'"},
      {"return require('os')", "module 'os' not found"},
      {"return require('io')", "module 'io' not found"},
      {"return require('../../etc/passwd')", "not found"},
      {"return package.loadlib('libc.so.6', 'system')", "global 'package'"},
      {"return collectgarbage('stop')", "global 'collectgarbage'"},
  };
  for (const auto& [code, why] : escapes) {
    std::string p = write_script("escape.lua", code + "\n");
    std::string e = error_of([&] { ModelScript s(p); });
    EXPECT_HAS(e, why) << " for: " << code;
  }
  // a binary chunk returned by load() is an error value, not a function: make it raise
  std::string p = write_script("bytecode.lua", "local f, err = load(string.char(27) .. 'LuaT')\nassert(f, err)\n");
  EXPECT_HAS(error_of([&] { ModelScript s(p); }), "attempt to load a binary chunk");
}

TEST(Sandbox, stops_a_runaway_loop) {
  std::string p = write_script("loop.lua", "while true do end\n");
  SandboxLimits lim;
  lim.max_instructions = 50'000'000;
  std::string e = error_of([&] { ModelScript s(p, {}, lim); });
  EXPECT_HAS(e, "instruction limit exceeded");
  EXPECT_HAS(e, "loop.lua:1");
}

TEST(Sandbox, stops_a_memory_bomb) {
  std::string p = write_script("bomb.lua", "local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end\n");
  SandboxLimits lim;
  lim.max_memory = size_t(64) << 20;
  std::string e = error_of([&] { ModelScript s(p, {}, lim); });
  EXPECT_HAS(e, "memory limit of 64 MiB");
}

TEST(Sandbox, requires_bundled_modules_beside_the_script) {
  write_script("helper_mod.lua", "return { twice = function(x) return 2 * x end }\n");
  std::string p = write_script("uses_helper.lua",
                               "local h = require 'helper_mod'\nlocal nn = require 'golf.nn'\n"
                               "return { config = { dim = h.twice(4) }, build = function() end }\n");
  ModelScript s(p);
  EXPECT_EQ(s.config_number("dim"), 8);
  EXPECT_TRUE(s.sandbox().sources().count("helper_mod"));
  auto used = s.sandbox().library_modules_used();
  EXPECT_NE(std::find(used.begin(), used.end(), "golf.nn"), used.end());
}

TEST(Script, config_overrides) {
  std::string p = write_script("cfg.lua",
                               "return { config = { dim = 8, name = 'a', flag = false },\n"
                               "  presets = { big = { dim = 16 } }, build = function() end }\n");
  EXPECT_EQ(ModelScript(p, {"big", {}}).config_number("dim"), 16);
  EXPECT_EQ(ModelScript(p, {"big", {{"dim", "32"}}}).config_number("dim"), 32);
  EXPECT_HAS(error_of([&] { ModelScript(p, {"", {{"dimm", "3"}}}); }), "'dimm' is not a config key");
  EXPECT_HAS(error_of([&] { ModelScript(p, {"", {{"dim", "x"}}}); }), "'dim' is a number");
  EXPECT_HAS(error_of([&] { ModelScript(p, {"", {{"flag", "yes"}}}); }), "true or false");
  EXPECT_HAS(error_of([&] { ModelScript(p, {"huge", {}}); }), "no preset 'huge' (presets: big)");
  EXPECT_HAS(error_of([] { parse_set("novalue"); }), "expected key=value");
  auto items = ModelScript(p, {"", {{"name", "b"}, {"flag", "true"}}}).config_items();
  EXPECT_EQ(items[0].second, "8");
  EXPECT_EQ(items[1].second, "true");
  EXPECT_EQ(items[2].second, "\"b\"");
}

TEST(Script, train_and_quant_keys_can_be_set) {
  std::string p = write_script("cfg_train.lua",
                               "return { config = { dim = 8 }, train = { micro_batch = 32, steps = 5, optim = {} },\n"
                               "  quant = { default = 'int8' },\n"
                               "  presets = { cpu = { train = { micro_batch = 16 } } }, build = function() end }\n");
  EXPECT_EQ(ModelScript(p, {"cpu", {}}).table_json("train")["micro_batch"].integer(), 16);
  // --set applies after the preset.
  EXPECT_EQ(ModelScript(p, {"cpu", {{"train.micro_batch", "8"}}}).table_json("train")["micro_batch"].integer(), 8);
  EXPECT_EQ(ModelScript(p, {"", {{"quant.default", "int6"}}}).table_json("quant")["default"].str(), "int6");
  EXPECT_HAS(error_of([&] { ModelScript(p, {"", {{"train.micro", "8"}}}); }), "'micro' is not set in");
  EXPECT_HAS(error_of([&] { ModelScript(p, {"", {{"train.steps", "x"}}}); }), "is a number");
  EXPECT_HAS(error_of([&] { ModelScript(p, {"", {{"train.optim", "x"}}}); }), "cannot be set from the command line");
  EXPECT_HAS(error_of([&] { ModelScript(p, {"", {{"eval.x", "1"}}}); }), "is not a config key");
}

TEST(Script, module_names_follow_the_tree) {
  std::string p = model("names.lua",
                        "  local m = nn.Model()\n"
                        "  m.emb = nn.Embedding(10, 8, { std = 0.1 })\n"
                        "  m.layers = nn.List(2, function(i) return nn.Linear(8, 8, { zero_init = i == 1 }) end)\n"
                        "  m.table = nn.Parameter({2, 3}, nn.init.fill(function(i, j) return 10 * i + j end))\n"
                        "  local x = m.emb(g.tokens)\n"
                        "  for _, l in ipairs(m.layers) do x = l(x) end\n"
                        "  x = x + m.layers[1](x) + m.table:sum()\n"
                        "  return nn.cross_entropy(m.emb:tied_head(x), g.targets)");
  auto b = ModelScript(p).build("train", 2, 3);
  std::vector<std::string> names;
  for (const ParamSpec& s : b->store.specs()) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"emb.weight", "layers.0.weight", "layers.1.weight", "table"}));
  EXPECT_EQ(b->store.spec("table").init.values, (std::vector<double>{11, 12, 13, 21, 22, 23}));
  EXPECT_EQ(b->store.spec("layers.1.weight").init.kind, Init::Kind::zeros);
  EXPECT_EQ(b->modules.size(), 4u);  // emb, layers, layers.0, layers.1
  EXPECT_EQ(b->loss.shape(), (Shape{6}));
  bool located = false;
  for (const Node& n : b->graph.nodes()) located = located || n.loc.find("names.lua:") != std::string::npos;
  EXPECT_TRUE(located);
}

TEST(Script, parameter_before_attach_is_a_clear_error) {
  std::string p = model("detached.lua", "  local l = nn.Linear(8, 8)\n  return l(nn.full({1, 8}, 1))");
  EXPECT_HAS(error_of([&] { ModelScript(p).build("train", 1, 4); }), "used before its module is part of a model");
}

TEST(Script, must_return_a_table_with_build) {
  EXPECT_HAS(error_of([] { ModelScript(write_script("nothing.lua", "return 3\n")); }), "must return a table");
  EXPECT_HAS(error_of([] { ModelScript(write_script("nobuild.lua", "return {}\n")); }), "no build(g, cfg, mode)");
  EXPECT_HAS(error_of([] { ModelScript("/nonexistent/x.lua"); }), "/nonexistent/x.lua: cannot open");
}

TEST(Baseline, parameter_counts) {
  std::string path = std::string(GOLFRT_SOURCE_DIR) + "/examples/baseline.lua";
  EXPECT_EQ(ModelScript(path).build("train", 1, 8)->store.count(), 17059912);
  EXPECT_EQ(ModelScript(path, {"", {{"dim", "640"}}}).build("train", 1, 8)->store.count(), 26485832);
}

}  // namespace
}  // namespace golf
