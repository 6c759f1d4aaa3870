// Buffers: named, non-trainable tensors beside the parameters (ParamSpec kind buffer), declared
// from Lua with nn.Buffer, and nn.permutation, the stable generator of permutation tables.
//   - the store keeps them apart: not counted as parameters, integer ones i32 in every dtype,
//     declaration conflicts are errors;
//   - in the graph a buffer is a `param` leaf that autograd, TrainStep and the optimizer never see;
//   - the optimizer gives them no state, EMA/SWA leave them as declared, GPTQ calibration binds
//     them without making them targets, `golfrt summary` lists them apart;
//   - nn.permutation is a permutation, deterministic, and pinned to fixed values (artifacts and
//     checkpoints depend on it never changing).
// Checkpoint resume and the artifact round trip: tests/train_test.cc (Train.buffers_*).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <numeric>

#include "dsl/script.h"
#include "runtime/autograd.h"
#include "runtime/executor.h"
#include "runtime/json.h"
#include "runtime/optim/optimizer_set.h"
#include "runtime/quant/hessian_pass.h"
#include "tests/support/errors.h"

namespace golf {
namespace {

#define EXPECT_HAS(text, piece) EXPECT_NE(std::string(text).find(piece), std::string::npos) << text

std::string write_script(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

std::string model(const std::string& name, const std::string& body) {
  return write_script(name, "local nn = require 'golf.nn'\nlocal M = { config = { dim = 8 } }\n"
                            "function M.build(g, cfg, mode)\n" + body + "\nend\nreturn M\n");
}

std::vector<double> values_of(const Tensor& t) {
  std::vector<double> v(size_t(t.numel()));
  for (int64_t i = 0; i < t.numel(); i++) v[size_t(i)] = t.get(i);
  return v;
}

TEST(Buffers, store_keeps_them_apart_from_parameters) {
  ParamStore s;
  s.declare("w", {2, 3}, Init::normal(1.0));
  s.declare_buffer("perm", {3}, {2, 0, 1}, true);
  s.declare_buffer("scale", {2}, {0.5, 1.5}, false);
  EXPECT_EQ(s.count(), 6);
  EXPECT_EQ(s.buffer_count(), 5);
  EXPECT_TRUE(s.spec("perm").is_buffer());
  EXPECT_FALSE(s.spec("w").is_buffer());
  s.initialize(1, DType::f64);
  EXPECT_EQ(s.get("perm").dtype(), DType::i32);
  EXPECT_EQ(values_of(s.get("perm")), (std::vector<double>{2, 0, 1}));
  EXPECT_EQ(s.get("scale").dtype(), DType::f64);
  EXPECT_EQ(values_of(s.get("scale")), (std::vector<double>{0.5, 1.5}));
  s.copy_set("live", "ema");
  EXPECT_EQ(s.get("perm", "ema").dtype(), DType::i32);

  EXPECT_NO_THROW(s.declare_buffer("perm", {3}, {2, 0, 1}, true));  // the same again: shared
  EXPECT_HAS(error_of([&] { s.declare_buffer("perm", {3}, {0, 1, 2}, true); }), "declared twice");
  EXPECT_HAS(error_of([&] { s.declare_buffer("perm", {3}, {2, 0, 1}, false); }), "declared twice");
  EXPECT_HAS(error_of([&] { s.declare("perm", {3}, Init::zeros()); }), "is a buffer");
  EXPECT_HAS(error_of([&] { s.declare_buffer("w", {2, 3}, {0, 0, 0, 0, 0, 0}, false); }), "is a parameter");
  EXPECT_HAS(error_of([&] { s.declare_buffer("odd", {2}, {1, 2.5}, true); }), "not a 32-bit integer");
  EXPECT_HAS(error_of([&] { s.declare_buffer("short", {3}, {1, 2}, true); }), "2 values for shape [3]");
}

// x [1, 1, 8] holding 0..7 (through a parameter), gathered by an integer buffer.
const char* kGather =
    "  local m = nn.Model()\n"
    "  m.w = nn.Parameter({ 8 }, nn.init.fill(function(i) return i - 1 end))\n"
    "  m.sub = nn.class('Sub')()\n"
    "  m.sub.perm = nn.Buffer({ 8 }, { 3, 1, 4, 0, 5, 2, 7, 6 }, { integer = true })\n"
    "  m.sub.gain = nn.Buffer({ 8 }, function(i) return 2 end)\n"
    "  local y = nn.index_select(m.w:reshape(1, 1, 8), m.sub.perm) * m.sub.gain\n"
    "  return y:reshape(8), y\n";

TEST(Buffers, graph_leaf_without_gradient) {
  auto m = ModelScript(model("buf_gather.lua", kGather)).build("train", 1, 8);
  EXPECT_TRUE(m->store.spec("sub.perm").is_buffer());
  EXPECT_TRUE(m->store.spec("sub.perm").integer);
  EXPECT_FALSE(m->store.spec("sub.gain").integer);
  EXPECT_EQ(m->graph.param_names(), (std::vector<std::string>{"w"}));
  EXPECT_EQ(m->graph.buffer_names(), (std::vector<std::string>{"sub.perm", "sub.gain"}));
  EXPECT_TRUE(m->graph.spec(m->graph.find_param("sub.perm")).integer);

  Var loss = mean_all(m->loss);
  std::vector<Gradient> grads = backward(loss);
  ASSERT_EQ(grads.size(), 1u);
  EXPECT_EQ(grads[0].name, "w");
  EXPECT_HAS(error_of([&] { backward(loss, {"sub.gain"}); }), "is a buffer");

  m->store.initialize(0, DType::f64);
  Executor ex(m->graph, {m->loss, grads[0].grad}, {DType::f64});
  ex.bind_params(m->store);
  ex.run();
  EXPECT_EQ(values_of(ex.result(0)), (std::vector<double>{6, 2, 8, 0, 10, 4, 14, 12}));
  EXPECT_EQ(values_of(ex.result(1)), (std::vector<double>(8, 0.25)));  // d mean(2·w[perm]) / dw
}

TEST(Buffers, optimizer_and_weight_averages_leave_them_alone) {
  ParamStore s;
  s.declare("w", {4}, Init::ones());
  s.declare_buffer("table", {4}, {7, 8, 9, 10}, true);
  s.declare_buffer("fixed", {2}, {0.25, 0.75}, false);
  s.initialize(0, DType::f32);
  Json rules = Json::parse(R"([{"match": ".*", "adam": {"lr": 0.1}}])");
  OptimizerSet opt(s, rules, [](const std::string&, const std::string&) { return true; });
  ASSERT_EQ(opt.assignment().size(), 1u);
  EXPECT_EQ(opt.assignment()[0].first, "w");
  for (const auto& [name, t] : opt.state())
    EXPECT_TRUE(name.find("table") == std::string::npos && name.find("fixed") == std::string::npos) << name;
  Tensor g({4}, DType::f32);
  g.fill(1.0);
  ema_update(s, "ema", 0.9);
  for (int i = 0; i < 3; i++) {
    opt.step({{"w", g}}, 1.0);
    ema_update(s, "ema", 0.9);
    swa_update(s, "swa", i + 1);
  }
  EXPECT_NE(s.get("w").get(0), 1.0);
  for (const char* set : {"live", "ema", "swa"}) {
    EXPECT_EQ(s.get("table", set).dtype(), DType::i32) << set;
    EXPECT_EQ(values_of(s.get("table", set)), (std::vector<double>{7, 8, 9, 10})) << set;
    EXPECT_EQ(values_of(s.get("fixed", set)), (std::vector<double>{0.25, 0.75})) << set;
  }
  EXPECT_NE(s.get("w", "ema").get(0), s.get("w").get(0));  // the averages do move the parameter
}

// A script's permutation tables from nn.permutation, read back from its buffers.
std::vector<double> permutation(int64_t n, int64_t seed) {
  std::string body = "  local m = nn.Model()\n  m.p = nn.Buffer({ " + std::to_string(n) + " }, nn.permutation(" +
                     std::to_string(n) + ", " + std::to_string(seed) +
                     "), { integer = true })\n  local x = nn.full({ 1, 1, " + std::to_string(std::max<int64_t>(n, 1)) +
                     " }, 1)\n  return nn.index_select(x, m.p):sum():reshape(1)\n";
  auto m = ModelScript(model("perm_" + std::to_string(n) + "_" + std::to_string(seed) + ".lua", body)).build("train", 1, 1);
  return m->store.spec("p").init.values;
}

TEST(Buffers, permutation_is_deterministic_and_stable) {
  std::vector<double> a = permutation(10, 1729);
  EXPECT_EQ(a, permutation(10, 1729));
  EXPECT_NE(a, permutation(10, 1730));
  // Pinned: nn.permutation promises the same table in every golfrt version (docs/dsl.md).
  EXPECT_EQ(a, (std::vector<double>{9, 8, 6, 4, 1, 0, 3, 5, 2, 7}));
  for (int64_t n : {1, 2, 7, 1000}) {
    std::vector<double> p = permutation(n, 3), sorted = p;
    std::sort(sorted.begin(), sorted.end());
    std::vector<double> want(static_cast<size_t>(n));
    std::iota(want.begin(), want.end(), 0.0);
    EXPECT_EQ(sorted, want) << "not a permutation of 0.." << n - 1;
  }
  std::vector<double> big = permutation(1000, 3);
  int fixed_points = 0;
  for (size_t i = 0; i < big.size(); i++) fixed_points += big[i] == double(i);
  EXPECT_LT(fixed_points, 10) << "a shuffle of 1000 leaves about one element in place";
}

// The tiny trainer model with its buffers (tests/data/tiny_train.lua --preset buffer).
const std::string kTiny = std::string(GOLFRT_SOURCE_DIR) + "/tests/data/tiny_train.lua";

TEST(Buffers, calibration_binds_them_without_hessians) {
  ModelScript script(kTiny, {"buffer", {}});
  auto train = script.build("train", 1, 8);
  train->store.initialize(3, DType::f32);
  auto calib = script.build("calibrate", 1, 8);
  std::vector<std::string> names;
  for (const ParamSpec& p : train->store.specs())
    if (p.shape.size() == 2) names.push_back(p.name);  // includes the 2-D buffer "table"
  Tensor tokens({1, 8}, DType::i32), targets({1, 8}, DType::i32);
  for (int i = 0; i < 8; i++) tokens.set(i, 65 + i), targets.set(i, 66 + i);
  auto h = collect_hessians(*calib, train->store, "live", {{tokens, targets}}, names, DType::f32);
  EXPECT_FALSE(h.empty());
  EXPECT_EQ(h.count("table"), 0u);
  EXPECT_EQ(h.count("blocks.0.mlp.fc.weight"), 1u);
}

std::string run_cli(const std::string& args) {
  std::string cmd = std::string(GOLFRT_CLI) + " " + args + " 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(f), 0) << cmd << "\n" << out;
  return out;
}

TEST(Buffers, summary_lists_them_apart_from_the_parameter_count) {
  std::string plain = run_cli("summary " + kTiny), with = run_cli("summary " + kTiny + " --preset buffer");
  auto count = [](const std::string& s) {
    size_t at = s.find("\nparameters: ");
    return s.substr(at, s.find('\n', at + 1) - at);
  };
  EXPECT_EQ(count(plain), count(with)) << "buffers must not count as parameters";
  EXPECT_HAS(with, "buffers (not trained, not counted as parameters):");
  EXPECT_HAS(with, "table                                             512  [16, 32] i32");
  EXPECT_HAS(with, "buffers: 3 tensors, 576 values");
  EXPECT_EQ(plain.find("buffers ("), std::string::npos);
  EXPECT_EQ(plain.find("buffers:"), std::string::npos);
}

}  // namespace
}  // namespace golf
