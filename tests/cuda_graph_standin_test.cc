// CUDA graphs (ExecOptions::graph, docs/cuda.md "CUDA graphs") on the stand-in device: the logic
// the GPU path runs, tested in CI. A capture records the nodes' launches (here: the nodes and the
// tensors they were handed) and checks that nothing among them copies, waits or allocates; a
// replay runs the recorded steps' CPU kernels over the recorded tensors, so a graph replayed after
// its tensors changed would compute on the old ones, as a stale CUDA graph would.
//   - 10 training steps of the tiny baseline (fp32 matmuls) with graphs equal those without and
//     the CPU's, bit for bit; after the capture a micro-batch is 1 graph launch and 0 node
//     launches, each optimizer 1 graph launch and 1 upload (its packed schedule scalars);
//   - rebinding a leaf to another tensor recaptures, and the result is the new tensor's (with the
//     key check removed from Executor::run, the replay returns the old tensor's result: checked
//     once by hand, and it fails `rebinding_a_leaf_recaptures`);
//   - a weight written between runs is converted in prepare (one launch outside the graph); left
//     lazy (ExecOptions::lazy_weight_conversion, the behaviour before prepare existed), the capture
//     refuses the conversion and names the matmul.
#include <gtest/gtest.h>

#include <cstring>

#include "dsl/script.h"
#include "runtime/autograd.h"
#include "runtime/device_memory.h"
#include "runtime/executor.h"
#include "runtime/optim/optimizer_set.h"
#include "runtime/rng.h"
#include "runtime/train_step.h"

namespace golf {
namespace {

constexpr int64_t kBatch = 2, kSeq = 16;

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

Tensor host_values(const Shape& s, int seed) {
  Tensor t(s, DType::f32);
  Rng rng{uint64_t(seed)};
  for (int64_t i = 0; i < t.numel(); i++) t.set(i, double(int64_t(rng.below(200))) / 50.0 - 2.0);
  return t;
}

class CudaGraphStandin : public ::testing::Test {
 protected:
  void SetUp() override { set_standin_device(true); }
};

// The tiny baseline's training (TrainStep and the script's Muon and Adam), on `device`, with or
// without graphs; fp32 matmuls, so no bf16 weight conversion runs outside the graphs.
struct Training {
  ModelScript script{std::string(GOLFRT_SOURCE_DIR) + "/examples/baseline.lua", {"tiny", {}}};
  std::unique_ptr<BuiltModel> m = script.build("train", kBatch, kSeq);
  std::unique_ptr<TrainStep> step;
  std::unique_ptr<OptimizerSet> optim;
  int64_t vocab = 0;
  Training(Device d, bool graphs) {
    m->store.initialize(5, DType::f32);
    vocab = m->logits.dim(-1);
    if (d != Device::cpu) m->store.move_to(d);
    ExecOptions o{DType::f32, true, d};
    o.matmul_fp32 = true;
    o.graph = graphs;
    step = std::make_unique<TrainStep>(m->graph, mean_all(m->loss), m->store, o);
    optim = std::make_unique<OptimizerSet>(
        m->store, script.table_json("train")["optim"],
        [this](const std::string& n, const std::string& p) { return script.name_matches(n, p); }, DType::f32, d, graphs);
  }
  double train_step(int s) {
    Rng rng(1000 + uint64_t(s));
    Tensor x({kBatch, kSeq}, DType::i32), y({kBatch, kSeq}, DType::i32);
    for (int64_t i = 0; i < x.numel(); i++) {
      x.set(i, double(rng.below(uint64_t(vocab))));
      y.set(i, double(rng.below(uint64_t(vocab))));
    }
    step->zero_grad();
    const double loss = step->run({{"tokens", x}, {"targets", y}});
    optim->step(step->grads(), 1.0 - 0.05 * s);  // the schedule scalars change every step
    return loss;
  }
  Tensor host(const std::string& name) const { return m->store.get(name).to_device(Device::cpu); }
};

TEST_F(CudaGraphStandin, ten_steps_with_graphs_equal_without_and_the_cpu_bit_for_bit) {
  Training cpu(Device::cpu, false), plain(Device::cuda, false), graphs(Device::cuda, true);
  for (int s = 0; s < 10; s++) {
    const double lc = cpu.train_step(s), lp = plain.train_step(s);
    const DeviceTraffic before = device_traffic();
    const double lg = graphs.train_step(s);
    const DeviceTraffic after = device_traffic();
    EXPECT_EQ(lg, lc) << "step " << s;
    EXPECT_EQ(lp, lc) << "step " << s;
    const DeviceLedger& mb = graphs.step->executor().ledger();
    const DeviceLedger opt = graphs.optim->ledger();
    if (s == 0) {  // the warm-up: launch by launch
      EXPECT_GT(mb.launches, 100);
      EXPECT_EQ(mb.graph_launches, 0);
      continue;
    }
    EXPECT_EQ(mb.captures, s == 1 ? 1 : 0) << "captured once, at the second run; step " << s;
    EXPECT_EQ(mb.graph_launches, 1) << "step " << s;
    EXPECT_EQ(mb.launches, 0) << "every node launch is inside the graph; step " << s;
    EXPECT_EQ(mb.uploads, 2) << "tokens and targets";
    EXPECT_EQ(mb.downloads, 2) << "the loss and the fault record";
    EXPECT_EQ(mb.allocations, 0);
    EXPECT_EQ(opt.graph_launches, 2) << "Muon's update and Adam's, one graph each";
    EXPECT_EQ(opt.launches, 0);
    EXPECT_EQ(opt.uploads, 2) << "one packed buffer of schedule scalars per optimizer";
    EXPECT_EQ(opt.downloads, 0);
    // The whole process: tokens, targets, two schedule buffers up; loss and fault record down.
    EXPECT_EQ(after.uploads - before.uploads, 4) << "step " << s;
    EXPECT_EQ(after.downloads - before.downloads, 2) << "step " << s;
    EXPECT_EQ(after.allocations - before.allocations, 0) << "step " << s;
  }
  EXPECT_EQ(graphs.step->executor().captures(), 1) << "nothing the graph points at changed over 10 steps";
  for (const ParamSpec& p : cpu.m->store.specs()) {
    EXPECT_TRUE(same_bits(graphs.host(p.name), cpu.m->store.get(p.name))) << p.name;
    EXPECT_TRUE(same_bits(plain.host(p.name), cpu.m->store.get(p.name))) << p.name;
  }
  const std::map<std::string, Tensor> sc = cpu.optim->state(), sg = graphs.optim->state();
  ASSERT_EQ(sc.size(), sg.size());
  for (const auto& [k, v] : sc) EXPECT_TRUE(same_bits(sg.at(k), v)) << k;
}

// Before packing, every schedule scalar was its own host-bound leaf: one upload each per step.
TEST_F(CudaGraphStandin, schedule_scalars_are_one_upload_per_optimizer_without_graphs_too) {
  Training plain(Device::cuda, false);
  plain.train_step(0);
  plain.train_step(1);
  const DeviceLedger opt = plain.optim->ledger();
  EXPECT_EQ(opt.uploads, 2);
  EXPECT_GT(opt.upload_bytes, 8) << "more than one scalar in each";
  EXPECT_EQ(opt.graph_launches, 0);
  EXPECT_GT(opt.launches, 0);
}

struct Small {
  Graph g;
  Var y;
  Small() {
    Var x = input(g, "x", {4, 6});
    Var b = input(g, "b", {1, 6});
    y = sum(relu(x) + scale(x, 2.0) * b, {1});
  }
  Tensor cpu_result(const Tensor& x, const Tensor& b) {
    Executor e(g, {y});
    e.bind("x", x);
    e.bind("b", b);
    e.run();
    return e.result(0);
  }
};

TEST_F(CudaGraphStandin, rebinding_a_leaf_recaptures_and_the_results_stay_right) {
  Small s;
  const Tensor x1 = host_values({4, 6}, 1), x2 = host_values({4, 6}, 2), b = host_values({1, 6}, 3);
  ExecOptions o;
  o.device = Device::cuda;
  o.graph = true;
  Executor dev(s.g, {s.y}, o);
  Tensor d1 = x1.to_device(Device::cuda), d2 = x2.to_device(Device::cuda);
  dev.bind("x", d1);
  dev.bind("b", b);  // host-bound: its mirror is what the graph reads, refilled by prepare
  for (int r = 0; r < 3; r++) {
    dev.run();
    EXPECT_TRUE(same_bits(dev.result(0), s.cpu_result(x1, b))) << "run " << r;
  }
  EXPECT_EQ(dev.captures(), 1);
  EXPECT_EQ(dev.ledger().graph_launches, 1);
  EXPECT_EQ(dev.ledger().launches, 0);

  dev.bind("x", d1);  // the same tensor: nothing the graph reads moved
  dev.run();
  EXPECT_EQ(dev.captures(), 1);

  dev.bind("x", d2);  // another tensor: the graph would read d1
  dev.run();
  EXPECT_EQ(dev.captures(), 2) << "a rebound leaf recaptures";
  EXPECT_EQ(dev.ledger().captures, 1);
  EXPECT_TRUE(same_bits(dev.result(0), s.cpu_result(x2, b)));

  // New bytes in the same tensors: the graph reads them where they are, no recapture needed.
  const Tensor x3 = host_values({4, 6}, 4), b2 = host_values({1, 6}, 5);
  d2.copy_from(x3);
  dev.bind("b", b2);
  dev.run();
  EXPECT_EQ(dev.captures(), 2);
  EXPECT_TRUE(same_bits(dev.result(0), s.cpu_result(x3, b2)));
}

TEST_F(CudaGraphStandin, without_the_option_or_while_counting_nothing_else_changes) {
  Small s;
  const Tensor x = host_values({4, 6}, 1), b = host_values({1, 6}, 3);
  ExecOptions o;
  o.device = Device::cuda;
  Executor plain(s.g, {s.y}, o);
  plain.bind("x", x);
  plain.bind("b", b);
  for (int r = 0; r < 3; r++) plain.run();
  EXPECT_EQ(plain.captures(), 0);
  EXPECT_EQ(plain.ledger().graph_launches, 0);
  EXPECT_GT(plain.ledger().launches, 0);
  // Count-only with graphs: the second run counts its capture and one graph launch, no node launch.
  o.count_only = true;
  o.graph = true;
  Executor counted(s.g, {s.y}, o);
  counted.run();
  const int64_t node_launches = counted.ledger().launches;
  EXPECT_EQ(node_launches, plain.ledger().launches);
  counted.run();
  EXPECT_EQ(counted.ledger().launches, 0);
  EXPECT_EQ(counted.ledger().graph_launches, 1);
  EXPECT_EQ(counted.ledger().captures, 1);
  EXPECT_EQ(counted.ledger().uploads, plain.ledger().uploads) << "prepare's uploads are outside the graph";
  counted.run();
  EXPECT_EQ(counted.ledger().captures, 0);
}

// A matmul reading a weight (a parameter) through the bf16 weight cache, as the CUDA trainer's
// micro-batch does; the stand-in counts the cache's conversions as launches.
struct WithWeight {
  Graph g;
  Var y;
  WithWeight() {
    Var x = input(g, "x", {3, 8});
    Var w = param(g, "w", {8, 5});
    y = matmul(x, w);
  }
};

TEST_F(CudaGraphStandin, a_weight_written_between_runs_is_converted_in_prepare) {
  WithWeight m;
  const Tensor x = host_values({3, 8}, 1), w1 = host_values({8, 5}, 2), w2 = host_values({8, 5}, 3);
  ExecOptions o;
  o.device = Device::cuda;
  o.graph = true;
  Executor dev(m.g, {m.y}, o);
  Tensor w = w1.to_device(Device::cuda);
  dev.bind("x", x);
  dev.bind("w", w);
  dev.run();  // warm-up: the conversion (in prepare) and the matmul's launch
  dev.run();  // capture
  dev.run();  // replay
  EXPECT_EQ(dev.ledger().launches, 0) << "nothing to convert: the weight is as it was";
  EXPECT_EQ(dev.ledger().graph_launches, 1);
  w.copy_from(w2);  // as an optimizer's update writes it between micro-batches
  dev.run();
  EXPECT_EQ(dev.ledger().launches, 1) << "one conversion, in prepare, before the graph launch";
  EXPECT_EQ(dev.ledger().graph_launches, 1);
  EXPECT_EQ(dev.captures(), 1) << "the weight was written in place: the graph still holds";
  Executor cpu(m.g, {m.y});
  cpu.bind("x", x);
  cpu.bind("w", w2);
  cpu.run();
  EXPECT_TRUE(same_bits(dev.result(0), cpu.result(0)));
}

// A host-bound weight (as the evaluator and the tests bind them) is uploaded by every prepare, so
// its copy is converted there every run, and the capture finds it current.
TEST_F(CudaGraphStandin, a_host_bound_weight_is_converted_in_every_prepare) {
  WithWeight m;
  const Tensor x = host_values({3, 8}, 1);
  ExecOptions o;
  o.device = Device::cuda;
  o.graph = true;
  Executor dev(m.g, {m.y}, o);
  dev.bind("x", x);
  for (int r = 0; r < 4; r++) {
    const Tensor w = host_values({8, 5}, 10 + r);
    dev.bind("w", w);
    dev.run();
    EXPECT_EQ(dev.ledger().launches, r == 0 ? 3 : 1) << "run " << r << ": w's conversion (and, launch by launch, the matmul's two)";
    Executor cpu(m.g, {m.y});
    cpu.bind("x", x);
    cpu.bind("w", w);
    cpu.run();
    EXPECT_TRUE(same_bits(dev.result(0), cpu.result(0))) << "run " << r;
  }
  EXPECT_EQ(dev.captures(), 1) << "the mirror stays where it is";
}

TEST_F(CudaGraphStandin, a_conversion_left_lazy_is_refused_by_the_capture_naming_the_matmul) {
  WithWeight m;
  ExecOptions o;
  o.device = Device::cuda;
  o.graph = true;
  o.lazy_weight_conversion = true;  // the matmul converts, as before prepare did it
  Executor dev(m.g, {m.y}, o);
  Tensor w = host_values({8, 5}, 2).to_device(Device::cuda);
  dev.bind("x", host_values({3, 8}, 1));
  dev.bind("w", w);
  dev.run();  // warm-up: converted lazily by the matmul, outside any capture
  EXPECT_EQ(dev.ledger().launches, 3) << "x's conversion and the cuBLASLt call (the matmul's), w's conversion (lazy)";
  w.copy_from(host_values({8, 5}, 3));
  try {
    dev.run();
    FAIL() << "the capture converted a weight among its launches";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("matmul"), std::string::npos) << what;
    EXPECT_NE(what.find("while capturing a CUDA graph"), std::string::npos) << what;
    EXPECT_NE(what.find("bf16 weight cache"), std::string::npos) << what;
    EXPECT_NE(what.find("'w'"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace golf
