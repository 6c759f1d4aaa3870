// CUDA graphs on a GPU (ExecOptions::graph, docs/cuda.md "CUDA graphs"): a forward and backward
// with bf16 matmuls reading weights through the bf16 weight cache, tensor-core attention and
// reductions, and an update graph that writes one of those weights in place between runs, as the
// trainer's optimizers do. Run as CUDA graphs (warm-up, capture, replays), every result equals the
// launch-by-launch run's bit for bit: a replay that left the weight's write count alone would have
// the forward read a stale bf16 copy, and a graph replayed against moved buffers would read the old
// ones. After the capture each run is one graph launch. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <cstring>

#include "runtime/autograd.h"
#include "runtime/executor.h"
#include "runtime/rng.h"
#include "tests/support/cuda.h"

namespace golf {
namespace {

constexpr int64_t B = 2, T = 64, D = 64, H = 2, HD = 64;

Tensor random(const Shape& s, uint64_t seed, double scale) {
  Tensor t(s, DType::f32);
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); i++) t.set(i, scale * rng.normal());
  return t;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// The forward+backward graph and the update graph, over weights of their own on the device.
struct Model {
  Graph fwd, upd;
  std::vector<Var> outs;
  size_t dwq_out = 0;  // which output is wq's gradient
  std::map<std::string, Tensor> w;  // device tensors, shared by both executors
  std::unique_ptr<Executor> f, u;
  Model(bool graphs) {
    Var x = input(fwd, "x", {B * T, D});
    auto proj = [&](const char* name) { return reshape(matmul(x, param(fwd, name, {D, H * HD})), {B, T, H, HD}); };
    Var q = proj("wq");
    Var k = proj("wk");
    Var v = proj("wv");
    Var y = attention(q, k, v, 0.125).y;
    Var flat = reshape(y, {B * T, H * HD});
    Var loss = mean_all(square(flat));
    outs = {loss, sum(flat, {1})};
    for (const Gradient& g : backward(loss)) {
      if (g.name == "wq") dwq_out = outs.size();
      outs.push_back(g.grad);
    }
    // The update: wq ← wq − 0.5·dwq, in place, as an optimizer writes a weight.
    Var wq = input(upd, "wq", {D, H * HD}), dwq = input(upd, "dwq", {D, H * HD});
    assign(wq, wq - scale(dwq, 0.5));
    uint64_t seed = 11;
    for (const char* name : {"wq", "wk", "wv"}) w[name] = random({D, H * HD}, seed++, 0.1).to_device(Device::cuda);
    ExecOptions o;
    o.device = Device::cuda;
    o.graph = graphs;
    f = std::make_unique<Executor>(fwd, outs, o);
    u = std::make_unique<Executor>(upd, std::vector<Var>{}, o);
    for (auto& [name, t] : w) f->bind(name, t);
    u->bind("wq", w["wq"]);
  }
  // One step: forward+backward on batch `i`, then the update from wq's gradient (a host tensor,
  // uploaded by the update's prepare).
  std::vector<Tensor> step(int i) {
    f->bind("x", random({B * T, D}, 100 + uint64_t(i), 1.0));
    f->run();
    std::vector<Tensor> r;
    for (size_t k = 0; k < outs.size(); k++) r.push_back(f->result(k).clone());
    u->bind("dwq", r.at(dwq_out));
    u->run();
    return r;
  }
};

TEST(CudaGraph, replays_equal_launch_by_launch_runs_bit_for_bit) {
  GOLF_SKIP_WITHOUT_CUDA();
  Model plain(false), graphs(true);
  for (int i = 0; i < 6; i++) {
    const std::vector<Tensor> want = plain.step(i), got = graphs.step(i);
    ASSERT_EQ(want.size(), got.size());
    for (size_t k = 0; k < want.size(); k++)
      EXPECT_TRUE(same_bits(got[k], want[k])) << "step " << i << ", output " << k << ": " << describe_diff(got[k], want[k]);
    if (i >= 1) {
      EXPECT_EQ(graphs.f->ledger().graph_launches, 1) << "step " << i;
      EXPECT_EQ(graphs.u->ledger().graph_launches, 1) << "step " << i;
      EXPECT_EQ(graphs.f->ledger().launches, 1) << "wq's bf16 conversion in prepare, the rest inside the graph";
    }
  }
  EXPECT_EQ(graphs.f->captures(), 1);
  EXPECT_EQ(graphs.u->captures(), 1);
  for (const char* name : {"wq", "wk", "wv"})
    EXPECT_TRUE(same_bits(graphs.w[name].to_device(Device::cpu), plain.w[name].to_device(Device::cpu))) << name;
}

TEST(CudaGraph, a_rebound_weight_recaptures) {
  GOLF_SKIP_WITHOUT_CUDA();
  Model plain(false), graphs(true);
  for (int i = 0; i < 3; i++) plain.step(i), graphs.step(i);
  // Another tensor for wk (its values the same on both sides): the graph must not read the old one.
  Tensor wk = random({D, H * HD}, 77, 0.1);
  plain.f->bind("wk", wk.to_device(Device::cuda));
  graphs.f->bind("wk", wk.to_device(Device::cuda));
  const std::vector<Tensor> want = plain.step(3), got = graphs.step(3);
  for (size_t k = 0; k < want.size(); k++) EXPECT_TRUE(same_bits(got[k], want[k])) << "output " << k;
  EXPECT_EQ(graphs.f->captures(), 2);
}

}  // namespace
}  // namespace golf
