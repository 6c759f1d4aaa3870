// One golden comparison against a PyTorch reference in scripts/reference/: run the reference
// (tiny config, every parameter randomized) into a tensor dump, build the golfrt script with the
// same weights and batch, and compare loss, logits and every gradient by relative norm error.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>

#include "dsl/script.h"
#include "runtime/autograd.h"
#include "runtime/executor.h"
#include "tests/support/golden.h"
#include "tests/support/tensor_dump.h"

namespace golf {

struct GoldenCase {
  std::string reference;  // scripts/reference/NAME.py and its arguments (without --dtype/--out)
  std::string script;     // examples/NAME.lua (relative to the source tree)
  Overrides overrides;    // the script's preset and --set values matching the reference's config
  std::string mode = "train";
  int64_t batch = 2, seq = 16;
  // golfrt's name -> the reference's (identity by default)
  std::function<std::string(const std::string&)> ref_name = [](const std::string& n) { return n; };
  // fp32 only: a gradient over `tol` from the fp32 reference also passes when it is within
  // max(noise_tol, 4 × the reference's own fp32 error) of the reference's fp64 value. For
  // ill-conditioned gradients (tiny per-layer gain vectors deep in a shared stack, whose values
  // are sums with heavy cancellation) fp32 itself is the limit: the reference's fp32 run is up to
  // 1.1e-4 from its fp64 one (PRISM adapt, blend_bias), and golfrt's fp32 kernels measure 1–2.2e-5
  // from fp64 on PRISM's q_gain adapters. Runs the reference a second time, in float64.
  bool fp32_noise_floor = false;
  double noise_tol = 3e-5;
};

inline std::map<std::string, Tensor> run_reference(const GoldenCase& c, DType dtype) {
  // The process id too: two test runs at once (CTest -j, or two checkouts on one machine) would
  // otherwise read each other's half-written dumps.
  std::string dump = ::testing::TempDir() + "golden_" + std::to_string(std::hash<std::string>()(c.reference)) + "_" +
                     dtype_name(dtype) + "_" + std::to_string(::getpid()) + ".bin";
  std::string cmd = std::string("/usr/bin/python3 ") + GOLFRT_SOURCE_DIR + "/scripts/reference/" + c.reference +
                    " --dtype " + (dtype == DType::f64 ? "float64" : "float32") + " --out " + dump + " >/dev/null";
  std::map<std::string, Tensor> ref;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  for (auto& [name, t] : read_tensor_dump(dump)) ref[name] = t;
  std::remove(dump.c_str());
  return ref;
}

inline void run_golden_case(const GoldenCase& c, DType dtype, double tol) {
  if (!have_torch()) {
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") FAIL() << "python3-torch is missing (scripts/setup.sh installs it)";
    GTEST_SKIP() << "python3-torch is not installed; the golden test needs it";
  }
  std::map<std::string, Tensor> ref = run_reference(c, dtype);
  ASSERT_FALSE(ref.empty());
  std::map<std::string, Tensor> ref64;
  if (c.fp32_noise_floor && dtype == DType::f32) ref64 = run_reference(c, DType::f64);

  ModelScript script(std::string(GOLFRT_SOURCE_DIR) + "/" + c.script, c.overrides);
  auto m = script.build(c.mode, c.batch, c.seq);
  Var loss = mean_all(m->loss);
  std::vector<Gradient> grads = backward(loss);
  std::vector<Var> outs = {loss, reshape(m->logits, {c.batch * c.seq, -1})};
  for (const Gradient& g : grads) outs.push_back(g.grad);

  m->store.initialize(0, dtype);
  size_t params = 0;
  for (const ParamSpec& p : m->store.specs()) {
    if (p.is_buffer() && !p.stored) continue;  // constants the script builds (spectral bases): its own values
    auto it = ref.find(c.ref_name(p.name));
    ASSERT_NE(it, ref.end()) << "the reference has no " << c.ref_name(p.name);
    ASSERT_EQ(it->second.shape(), p.shape) << p.name;
    if (p.is_buffer()) {  // permutation tables and other inputs the reference dumps by name
      ASSERT_EQ(it->second.dtype() == DType::i32, p.integer) << p.name;
      m->store.get(p.name) = p.integer ? it->second.clone() : it->second.to(dtype);
      continue;
    }
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
    const std::string key = "grad." + c.ref_name(grads[i].name);
    const Tensor& want = ref.at(key);
    double e = rel_err(ex.result(i + 2), want);
    if (!ref64.empty() && e >= tol) {
      double floor = 4 * rel_err(want, ref64.at(key)), e64 = rel_err(ex.result(i + 2), ref64.at(key));
      std::printf("  %s: %.3g from the fp32 reference; %.3g from the fp64 one, whose fp32 run is %.3g from it\n",
                  grads[i].name.c_str(), e, e64, floor / 4);
      EXPECT_LT(e64, std::max(c.noise_tol, floor)) << "gradient of " << grads[i].name << " (against the fp64 reference)";
      continue;
    }
    EXPECT_LT(e, tol) << "gradient of " << grads[i].name;
    if (e > worst) worst = e, worst_name = grads[i].name;
  }
  std::printf("%s %s: loss %.9g (reference %.9g); worst gradient error %.3g (%s) over %zu tensors\n", c.script.c_str(),
              dtype_name(dtype), ex.result(0).get(0), ref.at("loss").get(0), worst, worst_name.c_str(), grads.size());
}

}  // namespace golf
