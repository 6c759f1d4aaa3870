// The training path on CUDA against the CPU, on examples/baseline.lua --preset tiny: the loss and
// every gradient of one step (every parameter randomized first, so no gradient is vacuously zero),
// a few optimizer steps (AdamW and Muon as the script's rules assign them) comparing the weights,
// and two identical CUDA runs giving bit-identical losses. Skips without a CUDA device or in a
// build without CUDA.
#include <gtest/gtest.h>

#include <cmath>

#include "dsl/script.h"
#include "runtime/autograd.h"
#include "runtime/executor.h"
#include "runtime/optim/optimizer_set.h"
#include "runtime/rng.h"
#include "runtime/train_step.h"
#include "tests/support/cuda.h"

namespace golf {
namespace {

constexpr int64_t kBatch = 2, kSeq = 32;

struct Tiny {
  ModelScript script{std::string(GOLFRT_SOURCE_DIR) + "/examples/baseline.lua", {"tiny", {}}};
  std::unique_ptr<BuiltModel> m = script.build("train", kBatch, kSeq);
  Tensor tokens{{kBatch, kSeq}, DType::i32}, targets{{kBatch, kSeq}, DType::i32};

  explicit Tiny(uint64_t seed) {
    m->store.initialize(seed, DType::f32);
    // Zero-initialized projections would make many gradients vacuously equal: randomize all.
    Rng rng(seed + 100);
    for (const ParamSpec& p : m->store.specs()) {
      Tensor& t = m->store.get(p.name);
      for (int64_t i = 0; i < t.numel(); i++) t.set(i, 0.05 * rng.normal());
    }
    const int64_t vocab = m->logits.dim(-1);
    for (int64_t i = 0; i < tokens.numel(); i++) {
      tokens.set(i, double(rng.below(uint64_t(vocab))));
      targets.set(i, double(rng.below(uint64_t(vocab))));
    }
  }
};

std::vector<Tensor> loss_and_grads(Tiny& t, ExecOptions opt, std::vector<std::string>* names) {
  Var loss = mean_all(t.m->loss);
  std::vector<Gradient> grads = backward(loss);
  std::vector<Var> outs = {loss};
  for (const Gradient& g : grads)
    if (g.grad.valid()) outs.push_back(g.grad), names->push_back(g.name);
  Executor ex(t.m->graph, outs, opt);
  ex.bind_params(t.m->store);
  ex.bind("tokens", t.tokens);
  ex.bind("targets", t.targets);
  ex.run();
  std::vector<Tensor> r;
  for (size_t i = 0; i < outs.size(); i++) r.push_back(ex.result(i).clone());
  return r;
}

ExecOptions on_cuda(bool fp32_matmul) {
  ExecOptions o;
  o.device = Device::cuda;
  o.matmul_fp32 = fp32_matmul;
  o.attention_fp32 = fp32_matmul;  // "fp32" is every fp32 path; bf16 includes the tensor-core attention
  return o;
}

TEST(CudaTrain, tiny_baseline_loss_and_every_gradient_match_the_cpu) {
  GOLF_SKIP_WITHOUT_CUDA();
  std::vector<std::string> names, names_gpu, names_bf16;
  Tiny a(3), b(3), c(3);
  std::vector<Tensor> want = loss_and_grads(a, {}, &names);
  std::vector<Tensor> got = loss_and_grads(b, on_cuda(true), &names_gpu);
  std::vector<Tensor> bf16 = loss_and_grads(c, on_cuda(false), &names_bf16);
  ASSERT_EQ(names, names_gpu);
  ASSERT_GT(names.size(), 10u);
  EXPECT_LT(nmse(got[0], want[0]), kNmseF32) << "loss " << got[0].get(0) << " vs " << want[0].get(0);
  for (size_t i = 1; i < want.size(); i++)
    EXPECT_LT(nmse(got[i], want[i]), 1e-8) << "fp32 gradient of " << names[i - 1] << "; " << describe_diff(got[i], want[i]);
  // bf16 matmul inputs: the loss within bf16 rounding, gradients within a few bf16 ulps.
  EXPECT_LT(nmse(bf16[0], want[0]), kNmseBf16) << "bf16 loss " << bf16[0].get(0) << " vs " << want[0].get(0);
  for (size_t i = 1; i < want.size(); i++)
    EXPECT_LT(nmse(bf16[i], want[i]), 1e-3) << "bf16 gradient of " << names[i - 1] << "; " << describe_diff(bf16[i], want[i]);
}

// Steps of forward+backward and the script's optimizers (Muon for matrices, AdamW for the rest);
// returns the losses and leaves the weights in t.
std::vector<double> train_steps(Tiny& t, Device device, int steps, bool fp32_matmul) {
  ExecOptions o{DType::f32, true, device};
  o.matmul_fp32 = fp32_matmul;
  o.attention_fp32 = fp32_matmul;
  TrainStep step(t.m->graph, mean_all(t.m->loss), t.m->store, o);
  Json rules = t.script.table_json("train")["optim"];
  OptimizerSet optim(t.m->store, rules, [&](const std::string& n, const std::string& p) { return t.script.name_matches(n, p); },
                     DType::f32, device);
  std::vector<double> losses;
  for (int s = 0; s < steps; s++) {
    step.zero_grad();
    losses.push_back(step.run({{"tokens", t.tokens}, {"targets", t.targets}}));
    optim.step(step.grads(), 1.0);
  }
  return losses;
}

TEST(CudaTrain, optimizer_steps_move_the_weights_as_on_the_cpu) {
  GOLF_SKIP_WITHOUT_CUDA();
  Tiny cpu(5), gpu(5);
  // The step graph's matmuls in fp32: AdamW's first updates are ±lr wherever a gradient is not
  // tiny, so bf16-rounded gradients would flip the sign of the smallest ones and the comparison
  // would measure that, not the backend. Muon's Newton–Schulz matmuls stay bf16 (its update is an
  // orthogonalized direction; bf16 moves it by about 1%).
  std::vector<double> lc = train_steps(cpu, Device::cpu, 3, true), lg = train_steps(gpu, Device::cuda, 3, true);
  for (size_t i = 0; i < lc.size(); i++) EXPECT_NEAR(lg[i], lc[i], 1e-2 * std::fabs(lc[i])) << "loss at step " << i;
  for (const ParamSpec& p : cpu.m->store.specs())
    EXPECT_LT(nmse(gpu.m->store.get(p.name), cpu.m->store.get(p.name)), 1e-3) << p.name;
}

TEST(CudaTrain, two_identical_cuda_runs_give_identical_losses) {
  GOLF_SKIP_WITHOUT_CUDA();
  Tiny a(7), b(7);
  std::vector<double> la = train_steps(a, Device::cuda, 4, false), lb = train_steps(b, Device::cuda, 4, false);
  for (size_t i = 0; i < la.size(); i++) EXPECT_EQ(la[i], lb[i]) << "step " << i;
  for (const ParamSpec& p : a.m->store.specs()) EXPECT_EQ(nmse(a.m->store.get(p.name), b.m->store.get(p.name)), 0.0) << p.name;
}

}  // namespace
}  // namespace golf
