// Unstored buffers (nn.Buffer(shape, values, { stored = false })): real constants the script
// rebuilds on every run, such as the Fractal Compressor's spectral bases. Every weight set holds
// them, but the artifact and checkpoints do not; loading an artifact rebuilds them by running its
// script, so a decoded model computes exactly what the exported one did.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "dsl/artifact_model.h"
#include "runtime/executor.h"
#include "runtime/fs.h"
#include "runtime/train/checkpoint.h"
#include "tests/support/errors.h"

namespace golf {
namespace {

#define EXPECT_HAS(text, piece) EXPECT_NE(std::string(text).find(piece), std::string::npos) << text

TEST(UnstoredBuffers, store_declares_them_and_refuses_integer_ones) {
  ParamStore s;
  s.declare_buffer("basis", {2}, {0.5, -0.5}, false, false);
  EXPECT_FALSE(s.spec("basis").stored);
  EXPECT_TRUE(s.spec("basis").is_buffer());
  EXPECT_NO_THROW(s.declare_buffer("basis", {2}, {0.5, -0.5}, false, false));
  EXPECT_HAS(error_of([&] { s.declare_buffer("basis", {2}, {0.5, -0.5}, false, true); }), "declared twice");
  EXPECT_HAS(error_of([&] { s.declare_buffer("idx", {2}, {0, 1}, true, false); }), "integer buffers are always stored");
  s.initialize(0, DType::f32);
  EXPECT_EQ(s.get("basis").get(1), -0.5);
}

// y = w · basis, with a stored buffer beside it for contrast.
const char* kScript =
    "local nn = require 'golf.nn'\n"
    "local M = { config = { seq_len = 4 } }\n"
    "function M.build(g, cfg, mode)\n"
    "  local m = nn.Model()\n"
    "  m.w = nn.Parameter({ 4 }, nn.init.fill(function(i) return 0.25 * i end))\n"
    "  m.basis = nn.Buffer({ 4 }, function(i) return math.cos(i) end, { stored = false })\n"
    "  m.kept = nn.Buffer({ 4 }, { 1, 2, 3, 4 })\n"
    "  local y = (m.w * m.basis * m.kept):reshape(1, 1, 4) + nn.to_real(g.tokens):reshape(1, 4, 1)\n"
    "  return y:sum(3):reshape(4), y\n"
    "end\nreturn M\n";

TEST(UnstoredBuffers, the_artifact_leaves_them_out_and_decode_rebuilds_them) {
  std::string path = ::testing::TempDir() + "unstored.lua";
  std::ofstream(path) << kScript;
  ModelScript script(path);
  auto m = script.build("eval", 1, 4);
  m->store.initialize(0, DType::f32);
  EXPECT_FALSE(m->store.spec("basis").stored);
  EXPECT_TRUE(m->store.spec("kept").stored);

  ExportInfo info;
  info.script_name = "unstored.lua";
  info.seq_len = 4;
  info.training = Json::object();
  info.tokenizer = Json::object();
  Artifact art = export_model(script, m->store, "live", info);
  for (const QTensor& t : art.tensors) EXPECT_NE(t.name, "basis") << "an unstored buffer went into the artifact";
  bool kept = false;
  for (const QTensor& t : art.tensors) kept = kept || t.name == "kept";
  EXPECT_TRUE(kept);
  std::string file = ::testing::TempDir() + "unstored.bin";
  write_artifact(file, art);

  LoadedModel lm = load_model(file);
  ParamStore& s = lm.eval_model->store;
  for (int64_t i = 0; i < 4; i++) EXPECT_EQ(s.get("basis").get(i), m->store.get("basis").get(i));
  Tensor tokens({1, 4}, DType::i32);
  for (int i = 0; i < 4; i++) tokens.data<int32_t>()[i] = i;
  auto run = [&](ModelGraph& g, ParamStore& store) {
    Executor ex(g.graph, {g.loss}, {DType::f32});
    ex.bind_params(store);
    ex.bind("tokens", tokens);
    ex.bind("targets", tokens);
    ex.run();
    return ex.result(0).clone();
  };
  Tensor a = run(*m, m->store), b = run(*lm.eval_model, s);
  for (int64_t i = 0; i < 4; i++) EXPECT_EQ(a.get(i), b.get(i)) << "decoded output " << i;
  EXPECT_NE(a.get(0), 0.0);

  // An artifact that holds a tensor the model declares as unstored is refused.
  Artifact bad = art;
  QTensor extra = bad.tensors.back();
  extra.name = "basis";
  bad.tensors.push_back(extra);
  write_artifact(file, bad);
  EXPECT_HAS(error_of([&] { load_model(file); }), "declares as not stored");
}

// examples/fractal.lua (tiny) trained a few steps, resumed, exported and decoded through the CLI:
// its spectral bases are in no checkpoint and not in the artifact, and decode reproduces the
// round-trip val_bpb from the artifact alone.
TEST(UnstoredBuffers, fractal_checkpoint_resume_and_decode) {
  namespace fs = std::filesystem;
  const std::string dir = ::testing::TempDir() + "unstored_fractal";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string text;
  for (int i = 0; i < 400; i++) text += "line " + std::to_string(i * 7919 % 1000) + " of the fractal test text, folded twice.\n";
  std::ofstream(dir + "/text.txt") << text;
  const std::string cli = GOLFRT_CLI, script = std::string(GOLFRT_SOURCE_DIR) + "/examples/fractal.lua";
  auto sh = [&](const std::string& args) {
    std::string cmd = cli + " " + args + " > " + dir + "/out.txt 2>&1";
    int rc = std::system(cmd.c_str());
    std::string out = read_file(dir + "/out.txt");
    EXPECT_EQ(rc, 0) << cmd << "\n" << out;
    return out;
  };
  sh("data prepare --text " + dir + "/text.txt --out " + dir + "/data --bytes --val-docs 20 --quiet");
  const std::string run = " --preset tiny --data " + dir + "/data --out " + dir + "/run --quiet";
  sh("train " + script + run + " --steps 4 --no-artifact");
  Checkpoint c = read_checkpoint(dir + "/run/checkpoint.bin");
  bool coef = false;
  for (const auto& [name, t] : c.tensors) {
    EXPECT_EQ(name.find("spectral."), std::string::npos) << "an unstored basis is in the checkpoint: " << name;
    coef = coef || name == "w/live/blocks.block.shared.coef";
  }
  EXPECT_TRUE(coef) << "the checkpoint lacks the trained coefficients";
  std::string out = sh("train " + script + run + " --steps 8 --resume");
  auto at = out.find("after the artifact round trip ");
  ASSERT_NE(at, std::string::npos) << out;
  const std::string roundtrip = out.substr(at + 30, 8);
  Artifact art = read_artifact(dir + "/run/artifact.bin");
  for (const QTensor& t : art.tensors) EXPECT_EQ(t.name.find("spectral."), std::string::npos) << t.name;
  std::string dec = sh("decode " + dir + "/run/artifact.bin --data " + dir + "/data");
  EXPECT_NE(dec.find("val_bpb " + roundtrip), std::string::npos) << "round trip " << roundtrip << ", decode: " << dec;
}

}  // namespace
}  // namespace golf
