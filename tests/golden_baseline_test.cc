// Golden test: examples/baseline.lua (preset "tiny") against the PyTorch reference written from
// PARAMETER_GOLF.md (scripts/reference/baseline.py). Every parameter is randomized by the
// reference (no zero inits), golfrt loads the same weights and batch, and logits, loss and every
// gradient must match to relative norm error < 1e-5 in fp32 (and < 1e-6 in fp64, where only the
// fp32 RoPE tables differ by an ulp between PyTorch and glibc).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>

#include "dsl/script.h"
#include "runtime/autograd.h"
#include "runtime/executor.h"
#include "tests/support/golden.h"
#include "tests/support/tensor_dump.h"

namespace golf {
namespace {

void run_golden(DType dtype, double tol) {
  if (!have_torch()) {
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") FAIL() << "python3-torch is missing (scripts/setup.sh installs it)";
    GTEST_SKIP() << "python3-torch is not installed; the golden test needs it";
  }
  std::string dump = ::testing::TempDir() + "golden_baseline_" + dtype_name(dtype) + ".bin";
  std::string cmd = std::string("/usr/bin/python3 ") + GOLFRT_SOURCE_DIR +
                    "/scripts/reference/baseline.py --vocab 64 --dim 32 --layers 5 --heads 4 --kv-heads 2 "
                    "--mlp-mult 2 --seq 16 --batch 2 --seed 3 --dtype " +
                    (dtype == DType::f64 ? "float64" : "float32") + " --out " + dump + " >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::map<std::string, Tensor> ref;
  for (auto& [name, t] : read_tensor_dump(dump)) ref[name] = t;

  ModelScript script(std::string(GOLFRT_SOURCE_DIR) + "/examples/baseline.lua", {"tiny", {}});
  auto m = script.build("train", 2, 16);
  Var loss = mean_all(m->loss);
  std::vector<Gradient> grads = backward(loss);
  std::vector<Var> outs = {loss, m->logits};
  for (const Gradient& g : grads) outs.push_back(g.grad);

  m->store.initialize(0, dtype);
  size_t params = 0;
  for (const ParamSpec& p : m->store.specs()) {
    auto it = ref.find(reference_name(p.name));
    ASSERT_NE(it, ref.end()) << "the reference has no " << reference_name(p.name);
    ASSERT_EQ(it->second.shape(), p.shape) << p.name;
    m->store.get(p.name) = it->second.to(dtype);
    params++;
  }
  size_t ref_params = 0;
  for (auto& [name, t] : ref) ref_params += name.rfind("grad.", 0) == 0;
  EXPECT_EQ(params, ref_params) << "golfrt and the reference differ in their parameter lists";

  Executor ex(m->graph, outs, {dtype});
  ex.bind_params(m->store);
  ex.bind("tokens", ref.at("tokens"));
  ex.bind("targets", ref.at("targets"));
  ex.run();

  EXPECT_LT(rel_err(ex.result(0), ref.at("loss")), tol) << "loss " << ex.result(0).get(0) << " vs " << ref.at("loss").get(0);
  EXPECT_LT(rel_err(ex.result(1), ref.at("logits")), tol) << "logits";
  double worst = 0;
  std::string worst_name;
  for (size_t i = 0; i < grads.size(); i++) {
    const Tensor& want = ref.at("grad." + reference_name(grads[i].name));
    double e = rel_err(ex.result(i + 2), want);
    EXPECT_LT(e, tol) << "gradient of " << grads[i].name;
    if (e > worst) worst = e, worst_name = grads[i].name;
  }
  std::printf("%s: loss %.9g (reference %.9g); worst gradient error %.3g (%s) over %zu tensors\n", dtype_name(dtype),
              ex.result(0).get(0), ref.at("loss").get(0), worst, worst_name.c_str(), grads.size());
}

TEST(GoldenBaseline, fp32_logits_loss_and_every_gradient_match_pytorch) { run_golden(DType::f32, 1e-5); }
TEST(GoldenBaseline, fp64_logits_loss_and_every_gradient_match_pytorch) { run_golden(DType::f64, 1e-6); }

}  // namespace
}  // namespace golf
