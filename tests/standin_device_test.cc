// The device path of the executor, the train step and the optimizers on the stand-in device
// (runtime/device_memory.h, docs/cuda.md): Device::cuda tensors in host memory, the CPU kernels,
// every copy, launch and allocation counted as on a GPU. It runs in every build, with or without
// CUDA and a GPU. On examples/baseline.lua --preset tiny (fp32), with the weights, gradients and
// optimizer state device-resident as the trainer keeps them:
//   - after the first step a micro-batch uploads only its tokens and targets and downloads only its
//     loss and the fault record; the optimizers upload at most 4 KB of schedule scalars and copy
//     nothing else; nothing else in the process crosses (the process-wide count);
//   - no device allocation inside run(), nor anywhere in the process, after the first step;
//   - the losses over 10 steps, and the weights and state after them, equal the CPU path's bit for
//     bit;
//   - the optimizer state and weights taken down at step k and loaded into a fresh run continue it
//     bit for bit (the CLI's kill-and-resume on this device is in train_test.cc).
// The ledger checks fail with the state kept on the host as before residency (checked once: this
// file against main's (ee6c6a8) train_step.cc and host-allocated Muon/Adam state, the store left on
// the host): a micro-batch then made 106 uploads (309,152 bytes) instead of 2 (256) and 54
// downloads (154,484 bytes) instead of 2 (36), and the optimizers 126 downloads instead of none.
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

struct Tiny {
  ModelScript script{std::string(GOLFRT_SOURCE_DIR) + "/examples/baseline.lua", {"tiny", {}}};
  std::unique_ptr<BuiltModel> m = script.build("train", kBatch, kSeq);
  int64_t vocab = 0;
  explicit Tiny(uint64_t seed) {
    m->store.initialize(seed, DType::f32);
    vocab = m->logits.dim(-1);
  }
};

// A different batch every step, the same on both paths.
std::pair<Tensor, Tensor> batch(int64_t vocab, int step) {
  Rng rng(1000 + uint64_t(step));
  Tensor x({kBatch, kSeq}, DType::i32), y({kBatch, kSeq}, DType::i32);
  for (int64_t i = 0; i < x.numel(); i++) {
    x.set(i, double(rng.below(uint64_t(vocab))));
    y.set(i, double(rng.below(uint64_t(vocab))));
  }
  return {x, y};
}

// One run of the tiny baseline's training: TrainStep and the script's optimizers (Muon and Adam)
// on `device`, the weights moved there first as the trainer does.
struct Training {
  Tiny t;
  Device device;
  std::unique_ptr<TrainStep> step;
  std::unique_ptr<OptimizerSet> optim;
  // storage: the train step's (automatic: bf16 on the device, fp32 on the CPU).
  Training(uint64_t seed, Device d, RealStorage storage = RealStorage::automatic) : t(seed), device(d) {
    if (d != Device::cpu) t.m->store.move_to(d);
    ExecOptions o{DType::f32, true, d};
    o.storage = storage;
    step = std::make_unique<TrainStep>(t.m->graph, mean_all(t.m->loss), t.m->store, o);
    optim = std::make_unique<OptimizerSet>(
        t.m->store, t.script.table_json("train")["optim"],
        [this](const std::string& n, const std::string& p) { return t.script.name_matches(n, p); }, DType::f32, d);
  }
  // Step `s` (0-based): a changing LR multiplier, so the schedule scalars change every step.
  double train_step(int s) {
    auto [x, y] = batch(t.vocab, s);
    step->zero_grad();
    const double loss = step->run({{"tokens", x}, {"targets", y}});
    optim->step(step->grads(), 1.0 - 0.05 * s);
    return loss;
  }
  Tensor host(const std::string& name) const { return t.m->store.get(name).to_device(Device::cpu); }
};

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

class StandinDevice : public ::testing::Test {
 protected:
  void SetUp() override { set_standin_device(true); }
};

TEST_F(StandinDevice, tensors_live_in_counted_host_memory_and_refuse_element_access) {
  const DeviceTraffic before = device_traffic();
  Tensor h({3}, DType::f32);
  h.set(0, 1.5), h.set(1, -2), h.set(2, 4);
  Tensor d = h.to_device(Device::cuda);
  EXPECT_EQ(d.device(), Device::cuda);
  EXPECT_THROW(d.get(0), std::runtime_error) << "device memory is not read on the host, here as on a GPU";
  Tensor back = d.to_device(Device::cpu);
  EXPECT_TRUE(same_bits(back, h));
  const DeviceTraffic after = device_traffic();
  EXPECT_EQ(after.uploads - before.uploads, 1);
  EXPECT_EQ(after.upload_bytes - before.upload_bytes, 12);
  EXPECT_EQ(after.downloads - before.downloads, 1);
  EXPECT_EQ(after.allocations - before.allocations, 1);
  EXPECT_THROW(set_standin_device(false), std::logic_error) << "a stand-in tensor is alive";
}

TEST_F(StandinDevice, executor_runs_the_cpu_kernels_and_counts_the_cuda_launches) {
  Graph g;
  Var x = input(g, "x", {4, 6});
  Var y = relu(x) + scale(x, 2.0);
  Tensor xv({4, 6}, DType::f32);
  for (int64_t i = 0; i < 24; i++) xv.set(i, double(i % 7) - 3.0);
  Executor cpu(g, {y});
  cpu.bind("x", xv);
  cpu.run();
  ExecOptions o;
  o.device = Device::cuda;
  Executor dev(g, {y}, o);
  dev.bind("x", xv.to_device(Device::cuda));  // resident: used in place
  dev.run();
  EXPECT_TRUE(same_bits(dev.result(0), cpu.result(0)));
  EXPECT_EQ(dev.ledger().launches, 3);  // relu, scale, add: as cuda_node_cost says
  EXPECT_EQ(dev.ledger().uploads, 0);
  EXPECT_EQ(dev.ledger().downloads, 1) << "the result; no fault record (no kernel here can raise one)";
  EXPECT_EQ(dev.ledger().download_bytes, 24 * 4);
}

// Like with like: the device's default storage (bf16 matmul operands, runtime/precision_pass.h)
// against the CPU told to store the same values in bf16, and fp32 storage on both sides.
void expect_ten_steps_equal(RealStorage cpu_storage, RealStorage dev_storage) {
  Training cpu(5, Device::cpu, cpu_storage), dev(5, Device::cuda, dev_storage);
  EXPECT_EQ(cpu.step->executor().bf16_storage(), dev.step->executor().bf16_storage());
  for (int s = 0; s < 10; s++) {
    const double lc = cpu.train_step(s), ld = dev.train_step(s);
    EXPECT_EQ(ld, lc) << "loss at step " << s;
  }
  for (const ParamSpec& p : cpu.t.m->store.specs())
    EXPECT_TRUE(same_bits(dev.host(p.name), cpu.t.m->store.get(p.name))) << p.name;
  const std::map<std::string, Tensor> sc = cpu.optim->state(), sd = dev.optim->state();
  ASSERT_EQ(sc.size(), sd.size());
  for (const auto& [k, v] : sc) EXPECT_TRUE(same_bits(sd.at(k), v)) << k;
}

TEST_F(StandinDevice, ten_steps_equal_the_cpu_path_bit_for_bit) {
  expect_ten_steps_equal(RealStorage::bf16, RealStorage::automatic);
  expect_ten_steps_equal(RealStorage::fp32, RealStorage::fp32);
}

TEST_F(StandinDevice, after_the_first_step_only_data_loss_and_schedule_scalars_cross) {
  Training dev(5, Device::cuda);
  dev.train_step(0);  // the first step: mirrors and scratch are made here
  const int64_t data_bytes = 2 * kBatch * kSeq * 4;
  for (int s = 1; s < 10; s++) {
    const DeviceTraffic before = device_traffic();
    dev.train_step(s);
    const DeviceTraffic after = device_traffic();
    const DeviceLedger& mb = dev.step->executor().ledger();
    EXPECT_EQ(mb.uploads, 2) << "tokens and targets only, step " << s;
    EXPECT_EQ(mb.upload_bytes, data_bytes);
    EXPECT_EQ(mb.downloads, 2) << "the loss and the fault record";
    EXPECT_EQ(mb.download_bytes, 4 + cuda_fault_record_bytes());
    EXPECT_EQ(mb.allocations, 0) << "no allocation inside run() after the first step";
    EXPECT_GT(mb.launches, 100);
    const DeviceLedger opt = dev.optim->ledger();
    EXPECT_GT(opt.uploads, 0) << "the learning rates, momenta and bias corrections";
    EXPECT_LE(opt.upload_bytes, 4096) << "schedule scalars only";
    EXPECT_EQ(opt.downloads, 0) << "the optimizers copy nothing down";
    EXPECT_EQ(opt.allocations, 0);
    // The whole process: nothing but the above crossed, nothing was allocated, nothing cloned.
    EXPECT_EQ(after.upload_bytes - before.upload_bytes, data_bytes + opt.upload_bytes) << "step " << s;
    EXPECT_EQ(after.uploads - before.uploads, 2 + opt.uploads);
    EXPECT_EQ(after.download_bytes - before.download_bytes, 4 + cuda_fault_record_bytes());
    EXPECT_EQ(after.device_copies - before.device_copies, 0);
    EXPECT_EQ(after.allocations - before.allocations, 0) << "no device allocation in the step, step " << s;
  }
}

// What a checkpoint holds (the weights and the optimizer state, copied down), loaded into a fresh
// run on the device, continues the uninterrupted run bit for bit.
TEST_F(StandinDevice, state_taken_down_at_step_k_resumes_bit_exactly) {
  Training full(9, Device::cuda);
  std::vector<double> want;
  for (int s = 0; s < 8; s++) want.push_back(full.train_step(s));

  Training first(9, Device::cuda);
  for (int s = 0; s < 4; s++) EXPECT_EQ(first.train_step(s), want[size_t(s)]);
  std::map<std::string, Tensor> weights;
  for (const ParamSpec& p : first.t.m->store.specs()) weights[p.name] = first.host(p.name);
  const std::map<std::string, Tensor> state = first.optim->state();
  for (const auto& [k, v] : state) EXPECT_EQ(v.device(), Device::cpu) << k << ": state() hands the host copies";

  Training resumed(123, Device::cuda);  // another seed: every weight must come from the saved state
  for (const ParamSpec& p : resumed.t.m->store.specs()) resumed.t.m->store.get(p.name).copy_from(weights.at(p.name));
  resumed.optim->load_state(state);
  for (int s = 4; s < 8; s++) EXPECT_EQ(resumed.train_step(s), want[size_t(s)]) << "step " << s;
  for (const ParamSpec& p : full.t.m->store.specs())
    EXPECT_TRUE(same_bits(resumed.host(p.name), full.host(p.name))) << p.name;
}

TEST_F(StandinDevice, host_loops_refuse_device_state) {
  Training dev(5, Device::cuda);
  std::map<std::string, Tensor> grads = dev.step->grads();
  EXPECT_THROW(clip_grad_norm(grads, 1.0), std::invalid_argument);
  dev.t.m->store.copy_set("live", "ema");
  EXPECT_THROW(ema_update(dev.t.m->store, "ema", 0.9), std::invalid_argument);
}

}  // namespace
}  // namespace golf
