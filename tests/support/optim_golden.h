// What the optimizer golden tests share (tests/optim_golden_test.cc: baseline.lua against
// scripts/reference/optim_steps.py; tests/optim_record_test.cc: record.lua against
// record_optim.py). The reference (scripts/reference/optim_harness.py, run_steps) dumps the
// initial weights, every batch, the LR multipliers, the Muon momenta, the losses, the final weights
// and, when asked, every step's gradients. golfrt builds the script's model at the reference's
// initial weights with the optimizers its train.optim rules ask for (the Muon momentum warm-up
// shortened as the reference's is), then either trains on the same batches or applies the
// reference's gradients, and compares the final weights.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "dsl/script.h"
#include "runtime/optim/optimizer_set.h"
#include "runtime/train_step.h"
#include "tests/support/golden.h"
#include "tests/support/tensor_dump.h"

namespace golf {

struct OptimReference {
  std::string script;   // under the source tree, built with preset "tiny" at batch 2, seq 16
  std::string command;  // the reference script and its model's arguments, under the source tree
  std::string dump;     // the dump's file name prefix in the test's temp folder
  int steps = 0;
  int64_t muon_warmup_steps = 0;
  // golfrt's parameter name as the reference spells it.
  std::function<std::string(const std::string&)> name = [](const std::string& n) { return n; };
  double moved = 0;  // the least relative change every final parameter must show
};

// The script's optim rules with the Muon momentum warm-up shortened to `steps`, as the reference runs.
inline Json with_muon_warmup(const Json& rules, int64_t steps) {
  Json out = Json::array();
  for (const Json& r : rules.items()) {
    Json rule = r;
    if (r["muon"].has("momentum_warmup")) {
      Json muon = r["muon"], warmup = r["muon"]["momentum_warmup"];
      warmup.set("steps", steps);
      muon.set("momentum_warmup", warmup);
      rule.set("muon", muon);
    }
    out.push(rule);
  }
  return out;
}

// Runs the reference into `ref`; without torch it skips the test, or fails it under CI=true
// (callers return when reference_missing()).
inline void run_reference(const OptimReference& c, DType dtype, bool grads, std::map<std::string, Tensor>& ref) {
  if (!have_torch()) {
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") FAIL() << "python3-torch is missing (scripts/setup.sh installs it)";
    GTEST_SKIP() << "python3-torch is not installed; the golden test needs it";
  }
  std::string dump = ::testing::TempDir() + c.dump + "_" + dtype_name(dtype) + (grads ? "_grads" : "") + ".bin";
  std::string cmd = std::string("/usr/bin/python3 ") + GOLFRT_SOURCE_DIR + "/" + c.command + " --steps " +
                    std::to_string(c.steps) + " --muon-warmup-steps " + std::to_string(c.muon_warmup_steps) + " --dtype " +
                    (dtype == DType::f64 ? "float64" : "float32") + (grads ? " --dump-grads" : "") + " --out " + dump +
                    " >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  for (auto& [name, t] : read_tensor_dump(dump)) ref[name] = t;
}

inline bool reference_missing() { return ::testing::Test::IsSkipped() || ::testing::Test::HasFailure(); }

// The script's tiny model at the reference's initial weights, and its optimizers from its rules.
struct OptimModel {
  std::unique_ptr<ModelScript> script;
  std::unique_ptr<BuiltModel> model;
  std::unique_ptr<OptimizerSet> opt;

  OptimModel(const OptimReference& c, DType dtype, const std::map<std::string, Tensor>& ref) {
    script = std::make_unique<ModelScript>(std::string(GOLFRT_SOURCE_DIR) + "/" + c.script, Overrides{"tiny", {}});
    model = script->build("train", 2, 16);
    ParamStore& store = model->store;
    store.initialize(0, dtype);
    for (const ParamSpec& p : store.specs()) {
      const Tensor& init = ref.at("init." + c.name(p.name));
      if (init.shape() != p.shape) throw std::runtime_error(p.name + ": the reference's shape differs");
      store.get(p.name) = init.to(dtype);
    }
    Json rules = with_muon_warmup(script->table_json("train")["optim"], c.muon_warmup_steps);
    ModelScript* s = script.get();
    opt = std::make_unique<OptimizerSet>(
        store, rules, [s](const std::string& n, const std::string& p) { return s->name_matches(n, p); }, dtype);
  }
};

// Relative norm error of every final parameter; returns the worst.
inline double compare_final(const OptimReference& c, ParamStore& store, const std::map<std::string, Tensor>& ref, double tol,
                            std::string& worst_name) {
  double worst = 0;
  for (const ParamSpec& p : store.specs()) {
    const Tensor& want = ref.at("final." + c.name(p.name));
    double e = rel_err(store.get(p.name), want);
    EXPECT_LT(e, tol) << "final " << p.name;
    if (e > worst) worst = e, worst_name = p.name;
    // The weights must actually have moved, or matching them would prove nothing.
    EXPECT_GT(rel_err(store.get(p.name), ref.at("init." + c.name(p.name))), c.moved) << p.name << " never moved";
  }
  return worst;
}

// Trains m on the reference's batches, step k with LR multiplier lr_mult(k): the Muon momentum,
// every loss (within loss_tol, relative) and the final parameters (within param_tol) against it.
inline void train_against_reference(const OptimReference& c, OptimModel& m, const std::map<std::string, Tensor>& ref,
                                    DType dtype, const std::function<double(int)>& lr_mult, double loss_tol,
                                    double param_tol) {
  TrainStep train(m.model->graph, mean_all(m.model->loss), m.model->store, {dtype});
  MuonConfig muon_cfg = m.opt->muon()->params().front().second;
  double worst_loss = 0;
  for (int k = 0; k < c.steps; k++) {
    EXPECT_NEAR(muon_momentum(muon_cfg, k), ref.at("muon_momentum").get(k), 1e-15) << "step " << k;
    train.zero_grad();
    double loss = train.run({{"tokens", ref.at("tokens." + std::to_string(k))},
                             {"targets", ref.at("targets." + std::to_string(k))}});
    m.opt->step(train.grads(), lr_mult(k));
    double want = ref.at("loss").get(k), e = std::abs(loss - want) / std::abs(want);
    worst_loss = std::max(worst_loss, e);
    EXPECT_LT(e, loss_tol) << "step " << k << ": loss " << loss << " vs " << want;
  }
  std::string worst_name;
  double worst = compare_final(c, m.model->store, ref, param_tol, worst_name);
  std::printf("%s: %d steps, losses %.6f -> %.6f; worst loss error %.3g; worst final parameter error %.3g (%s)\n",
              dtype_name(dtype), c.steps, ref.at("loss").get(0), ref.at("loss").get(c.steps - 1), worst_loss, worst,
              worst_name.c_str());
}

// The optimizers alone: each step applies the reference's own gradients, so the trajectory does
// not inherit the model's rounding differences and only the optimizer arithmetic is compared.
inline void replay_reference_gradients(const OptimReference& c, OptimModel& m, const std::map<std::string, Tensor>& ref,
                                       DType dtype, const std::function<double(int)>& lr_mult, double param_tol) {
  for (int k = 0; k < c.steps; k++) {
    std::map<std::string, Tensor> grads;
    for (const ParamSpec& p : m.model->store.specs())
      grads[p.name] = ref.at("grad." + std::to_string(k) + "." + c.name(p.name)).to(dtype);
    m.opt->step(grads, lr_mult(k));
  }
  std::string worst_name;
  double worst = compare_final(c, m.model->store, ref, param_tol, worst_name);
  std::printf("%s, reference gradients: worst final parameter error %.3g (%s)\n", dtype_name(dtype), worst,
              worst_name.c_str());
}

}  // namespace golf
