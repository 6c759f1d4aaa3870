// `golfrt import` end to end, as a parameter-golf user runs it (docs/import.md):
//   scripts/reference/train_checkpoint.py trains the PyTorch baseline (scripts/reference/baseline.py,
//   the challenge's train_gpt.py architecture) a few steps on CPU with optim_steps.py's optimizers and
//   saves the state_dict the way a compiled train_gpt.py run leaves it (`_orig_mod.` names, the
//   embedding in bfloat16); scripts/import_state_dict.py turns it into safetensors; golfrt imports it
//   into examples/baseline.lua at the tiny preset and scores it with `golfrt decode`.
// The unquantized artifact (--fp32) must give PyTorch's val_loss on the same tokens to 1e-5
// relative; the quantized ones (int8, and GPTQ calibrated on the train split) must decode. These
// need /usr/bin/python3 with torch, and skip without it (fail under CI=true).
// It can fail: reading the bf16 embedding 1% too large moved golfrt's val_loss by 7e-4 relative,
// and the test failed (checked by making that change to safetensor_to_f32).
// The refusals (names missing or left over, shapes, a damaged file, an existing output) need no
// torch: their files are written here from the script's own parameter list.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "dsl/script.h"
#include "runtime/fs.h"
#include "runtime/safetensors.h"
#include "tests/support/golden.h"
#include "tests/support/run_command.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/word_text.h"

namespace golf {
namespace {

namespace fs = std::filesystem;
using test::Result;

const std::string kSource = GOLFRT_SOURCE_DIR;
const std::string kScript = kSource + "/examples/baseline.lua";
// The tiny preset on byte-level data (the reference's --vocab 260 and its other defaults).
const std::vector<std::string> kConfig = {"--preset", "tiny", "--set", "vocab=260"};

ScratchDir* const kScratch = add_scratch_dir("import_test");
const std::string& scratch() { return kScratch->path(); }

Result run(const std::string& program, const std::vector<std::string>& args) {
  static int n = 0;
  return test::wait_for(test::spawn_program(program, args, scratch() + "/cmd" + std::to_string(n++)), 120);
}

Result golfrt(std::vector<std::string> args, bool with_config = true) {
  if (with_config) args.insert(args.end(), kConfig.begin(), kConfig.end());
  return run(GOLFRT_CLI, args);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const std::string& data_dir() {
  static const std::string dir = [] {
    std::ofstream(scratch() + "/text.txt") << test::word_lines(test::plain_words(), 400, 7);
    const std::string d = scratch() + "/data";
    Result r = golfrt({"data", "prepare", "--text", scratch() + "/text.txt", "--out", d, "--bytes", "--quiet"}, false);
    if (!r.ok()) throw std::runtime_error("golfrt data prepare failed: " + r.describe());
    return d;
  }();
  return dir;
}

bool torch_or_skip() {
  if (have_torch()) return true;
  const char* ci = std::getenv("CI");
  if (ci && std::string(ci) == "true") ADD_FAILURE() << "python3-torch is missing (scripts/setup.sh installs it)";
  return false;
}

struct Reference {
  double val_loss = 0;
  int64_t targets = 0;
  std::string weights;  // the safetensors file
};

// The PyTorch side, once per process: train, score, save, export.
const Reference& reference() {
  static const Reference ref = [] {
    Reference r;
    const std::string pt = scratch() + "/final_model.pt";
    Result t = run("/usr/bin/python3", {kSource + "/scripts/reference/train_checkpoint.py", "--data", data_dir(), "--out", pt,
                                        "--vocab", "260", "--steps", "20", "--prefix", "_orig_mod.", "--embed-bf16"});
    if (!t.ok()) throw std::runtime_error("train_checkpoint.py failed: " + t.describe());
    Json j = Json::parse(t.out, "train_checkpoint.py's output");
    r.val_loss = j["val_loss"].number();
    r.targets = j["val_targets"].integer();
    r.weights = scratch() + "/final_model.safetensors";
    Result e = run("/usr/bin/python3", {kSource + "/scripts/import_state_dict.py", pt, r.weights});
    if (!e.ok()) throw std::runtime_error("import_state_dict.py failed: " + e.describe());
    if (!contains(e.out, "1 BF16") || !contains(e.out, "52 names had a prefix stripped"))
      throw std::runtime_error("import_state_dict.py did not see the bf16 embedding and the prefixes: " + e.out);
    return r;
  }();
  return ref;
}

// "... val_loss 2.223708  val_bpb ..." from `golfrt decode`.
double decoded_val_loss(const Result& r) {
  const size_t at = r.out.find("val_loss ");
  if (at == std::string::npos) throw std::runtime_error("no val_loss in: " + r.out);
  return std::stod(r.out.substr(at + 9));
}

TEST(Import, pytorch_checkpoint_scores_its_val_loss_to_1e_5_unquantized_and_decodes_quantized) {
  if (!torch_or_skip()) GTEST_SKIP() << "python3-torch is not installed";
  const Reference& ref = reference();
  const std::string art = scratch() + "/fp32.golf";
  Result imp = golfrt({"import", kScript, ref.weights, "--data", data_dir(), "--out", art, "--fp32"});
  ASSERT_TRUE(imp.ok()) << imp.describe();
  EXPECT_TRUE(contains(imp.out, "52 tensors (1 BF16, 51 F32)")) << imp.out;
  Result dec = golfrt({"decode", art, "--data", data_dir()}, false);
  ASSERT_TRUE(dec.ok()) << dec.describe();
  EXPECT_TRUE(contains(dec.out, "(" + std::to_string(ref.targets) + " targets")) << dec.out;
  const double got = decoded_val_loss(dec);
  std::printf("val_loss: PyTorch %.9f, golfrt (imported, fp32) %.6f: relative difference %.2g\n", ref.val_loss, got,
              std::fabs(got - ref.val_loss) / ref.val_loss);
  // decode prints 6 decimals: at most 5e-7 of rounding, well inside the bound.
  EXPECT_LT(std::fabs(got - ref.val_loss) / ref.val_loss, 1e-5);

  // The quantized artifacts of the same checkpoint (one test, so that CTest, which runs each test
  // in a process of its own, trains the PyTorch model once).
  // int8 rows for every matrix of over 256 values (the tiny model's matrices are all under the
  // default keep_float_below of 65,536, so they would stay fp16).
  const std::string int8 = scratch() + "/int8.golf";
  imp = golfrt({"import", kScript, ref.weights, "--data", data_dir(), "--out", int8, "--set", "quant.keep_float_below=256"});
  ASSERT_TRUE(imp.ok()) << imp.describe();
  dec = golfrt({"decode", int8, "--data", data_dir()}, false);
  ASSERT_TRUE(dec.ok()) << dec.describe();
  const double q8 = decoded_val_loss(dec);
  EXPECT_NE(q8, ref.val_loss);
  EXPECT_LT(std::fabs(q8 - ref.val_loss) / ref.val_loss, 0.02) << "int8 rows moved the loss by more than 2%";
  Result ins = golfrt({"inspect", int8}, false);
  ASSERT_TRUE(ins.ok()) << ins.describe();
  EXPECT_TRUE(contains(ins.out, "int8")) << ins.out;

  // GPTQ, calibrated on the train split: a copy of the script whose quant table asks for it (the
  // name table given with --names, since it no longer sits beside the script).
  std::string src = read_file(kScript);
  const size_t at = src.find("\n  quant = {");
  ASSERT_NE(at, std::string::npos) << "baseline.lua's quant line moved: update this test";
  src.replace(at + 1, src.find('\n', at + 1) - at - 1,
              "  quant = { default = \"int6\", keep_float_below = 256, gptq = true, calibration = { batches = 2 } },");
  const std::string script = scratch() + "/gptq_baseline.lua";
  std::ofstream(script) << src;
  const std::string gptq = scratch() + "/gptq.golf";
  imp = golfrt({"import", script, ref.weights, "--data", data_dir(), "--out", gptq, "--names",
                kSource + "/examples/baseline.state_dict.json"});
  ASSERT_TRUE(imp.ok()) << imp.describe();
  EXPECT_TRUE(contains(imp.out, "GPTQ calibration: 2 batches")) << imp.out;
  dec = golfrt({"decode", gptq, "--data", data_dir()}, false);
  ASSERT_TRUE(dec.ok()) << dec.describe();
  const double q6 = decoded_val_loss(dec);
  EXPECT_LT(std::fabs(q6 - ref.val_loss) / ref.val_loss, 0.05) << "GPTQ int6 moved the loss by more than 5%";
  std::printf("val_loss: PyTorch %.6f, int8 %.6f, GPTQ int6 %.6f\n", ref.val_loss, q8, q6);
}

// ---------------------------------------------------------------------------------------------
// Refusals, on files written from the script's own parameters (no torch needed).

// Every stored tensor of examples/baseline.lua (tiny, vocab 260) under the state_dict's names.
std::map<std::string, Tensor> baseline_state_dict() {
  ModelScript s(kScript, Overrides{"tiny", {{"vocab", "260"}}});
  auto m = s.build("eval", 1, 16);
  m->store.initialize(1, DType::f32);
  std::map<std::string, Tensor> sd;
  for (const ParamSpec& p : m->store.specs())
    sd[p.name == "blocks.skip_weights" ? "skip_weights" : p.name] = m->store.get(p.name).clone();
  return sd;
}

std::string write_weights(const std::string& name, const std::map<std::string, Tensor>& sd) {
  const std::string path = scratch() + "/" + name;
  write_file_atomic(path, encode_safetensors(sd));
  return path;
}

Result import_file(const std::string& weights, const std::string& out_name) {
  return golfrt({"import", kScript, weights, "--data", data_dir(), "--out", scratch() + "/" + out_name});
}

TEST(Import, names_the_script_does_not_have_or_lacks_are_listed) {
  std::map<std::string, Tensor> sd = baseline_state_dict();
  // As written: accepted, by the name table beside the script.
  Result ok = import_file(write_weights("ok.safetensors", sd), "ok.golf");
  ASSERT_TRUE(ok.ok()) << ok.describe();
  EXPECT_TRUE(contains(ok.out, "baseline.state_dict.json")) << ok.out;

  sd.erase("blocks.3.attn.c_q.weight");
  sd.erase("skip_weights");
  sd["lm_head.weight"] = Tensor({260, 32}, DType::f32);
  sd["blocks.0.attn.rotary.inv_freq"] = Tensor({4}, DType::f32);
  Result bad = import_file(write_weights("names.safetensors", sd), "names.golf");
  EXPECT_EQ(bad.exit_code(), 1) << bad.describe();
  EXPECT_TRUE(contains(bad.err, "2 parameters no state_dict name reaches:")) << bad.err;
  EXPECT_TRUE(contains(bad.err, "blocks.3.attn.c_q.weight")) << bad.err;
  EXPECT_TRUE(contains(bad.err, "blocks.skip_weights")) << bad.err;
  EXPECT_TRUE(contains(bad.err, "2 state_dict names that reach no parameter:")) << bad.err;
  EXPECT_TRUE(contains(bad.err, "lm_head.weight")) << bad.err;
  EXPECT_TRUE(contains(bad.err, "blocks.0.attn.rotary.inv_freq")) << bad.err;
  EXPECT_FALSE(fs::exists(scratch() + "/names.golf"));

  // An explicit table that ignores the extra names and renames the skip weights: accepted once the
  // two missing tensors are back.
  sd = baseline_state_dict();
  sd["lm_head.weight"] = Tensor({260, 32}, DType::f32);
  const std::string table = scratch() + "/names.json";
  std::ofstream(table) << R"({"format": "golfrt-state-dict-names", "version": 1, "rename": {"skip_weights": "blocks.skip_weights"},
                              "ignore": ["lm_head.weight"]})";
  Result ign = golfrt({"import", kScript, write_weights("extra.safetensors", sd), "--data", data_dir(), "--out",
                       scratch() + "/extra.golf", "--names", table});
  ASSERT_TRUE(ign.ok()) << ign.describe();
  EXPECT_TRUE(contains(ign.out, "1 state_dict tensors ignored")) << ign.out;
}

TEST(Import, shapes_dtypes_and_values_are_checked) {
  std::map<std::string, Tensor> sd = baseline_state_dict();
  sd["blocks.1.mlp.fc.weight"] = Tensor({32, 64}, DType::f32);  // transposed
  sd["tok_emb.weight"] = Tensor({256, 32}, DType::f32);          // another vocabulary
  Result bad = import_file(write_weights("shapes.safetensors", sd), "shapes.golf");
  EXPECT_EQ(bad.exit_code(), 1) << bad.describe();
  EXPECT_TRUE(contains(bad.err, "2 shapes differ")) << bad.err;
  EXPECT_TRUE(contains(bad.err, "blocks.1.mlp.fc.weight is [32, 64], blocks.1.mlp.fc.weight is [64, 32]")) << bad.err;
  EXPECT_TRUE(contains(bad.err, "tok_emb.weight is [256, 32]")) << bad.err;

  sd = baseline_state_dict();
  sd["blocks.0.attn_scale"] = Tensor({32}, DType::i32);
  bad = import_file(write_weights("int.safetensors", sd), "int.golf");
  EXPECT_TRUE(contains(bad.err, "tensor 'blocks.0.attn_scale' is I32")) << bad.describe();

  sd = baseline_state_dict();
  sd["blocks.2.mlp_scale"].set(5, NAN);
  bad = import_file(write_weights("nan.safetensors", sd), "nan.golf");
  EXPECT_TRUE(contains(bad.err, "tensor 'blocks.2.mlp_scale' holds nan at element 5")) << bad.describe();
}

TEST(Import, a_damaged_file_and_an_existing_output_are_refused) {
  std::string bytes = encode_safetensors(baseline_state_dict());
  write_file_atomic(scratch() + "/cut.safetensors", bytes.substr(0, bytes.size() - 10));
  Result cut = import_file(scratch() + "/cut.safetensors", "cut.golf");
  EXPECT_EQ(cut.exit_code(), 1) << cut.describe();
  EXPECT_TRUE(contains(cut.err, "cut.safetensors: tensor '")) << cut.err;

  const std::string weights = write_weights("twice.safetensors", baseline_state_dict());
  ASSERT_TRUE(import_file(weights, "twice.golf").ok());
  Result again = import_file(weights, "twice.golf");
  EXPECT_EQ(again.exit_code(), 1);
  EXPECT_TRUE(contains(again.err, "twice.golf exists; --overwrite replaces it")) << again.err;
  Result over = golfrt({"import", kScript, weights, "--data", data_dir(), "--out", scratch() + "/twice.golf", "--overwrite"});
  EXPECT_TRUE(over.ok()) << over.describe();
}

}  // namespace
}  // namespace golf
