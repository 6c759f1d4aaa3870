// golfrt's side of scripts/bench/gpu_train.sh: examples/baseline.lua's training step (the trainer's
// own pieces: TrainStep over micro-batches with the loss scaled by 1/micro-batches, then the
// OptimizerSet of the script's train.optim rules, LR multiplier 1), started from the weights and fed
// the batches that scripts/bench/gpu_train_torch.py wrote to a tensor dump (init.<name>,
// tokens.<step>, targets.<step>), so its losses can be compared with PyTorch's step for step.
//
//   bench_gpu_train --dump /tmp/gt.bin --device cuda --steps 10 --warmup 3 [--tiny] [--source DIR]
//
// Prints `golfrt: S steps, ms/step X (steps W..S-1), loss after S steps L` and `golfrt losses: ...`.
// --tiny is the script's preset "tiny", 8 sequences per step in micro-batches of 2 (as the PyTorch
// side's --tiny).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "dsl/script.h"
#include "runtime/optim/optimizer_set.h"
#include "runtime/tensor_file.h"
#include "runtime/train_step.h"
#ifdef GOLFRT_WITH_CUDA
#include "kernels/cuda/runtime_api.h"
#endif

namespace golf {
namespace {

struct Args {
  std::string dump, source = GOLFRT_SOURCE_DIR, device = "cuda";
  int steps = 10, warmup = 3;
  bool tiny = false;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i++) {
    const std::string f = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(f + " needs a value");
      return argv[++i];
    };
    auto number = [&]() {
      const std::string v = value();
      size_t used = 0;
      int n = -1;
      try {
        n = std::stoi(v, &used);
      } catch (const std::exception&) {
      }
      if (used != v.size() || n < 0) throw std::invalid_argument(f + ": '" + v + "' is not a count");
      return n;
    };
    if (f == "--dump") a.dump = value();
    else if (f == "--source") a.source = value();
    else if (f == "--device") a.device = value();
    else if (f == "--steps") a.steps = number();
    else if (f == "--warmup") a.warmup = number();
    else if (f == "--tiny") a.tiny = true;
    else throw std::invalid_argument("unknown flag '" + f + "' (--dump --device --steps --warmup --tiny --source)");
  }
  if (a.dump.empty()) throw std::invalid_argument("--dump FILE is required (written by gpu_train_torch.py)");
  if (a.device != "cuda" && a.device != "cpu") throw std::invalid_argument("--device: '" + a.device + "' (cuda or cpu)");
  if (a.steps <= a.warmup)
    throw std::invalid_argument("--steps " + std::to_string(a.steps) + " must exceed --warmup " + std::to_string(a.warmup));
  return a;
}

// The reference names the U-Net skips without the blocks' prefix (tests/support/golden.h).
std::string reference_name(const std::string& name) { return name == "blocks.skip_weights" ? "skip_weights" : name; }

const Tensor& entry(const std::map<std::string, Tensor>& dump, const std::string& name, const std::string& path) {
  auto it = dump.find(name);
  if (it == dump.end()) throw std::runtime_error(path + ": no entry '" + name + "' (written by gpu_train_torch.py?)");
  return it->second;
}

// Rows [r0, r0 + rows) of an i32 [n, seq] tensor.
Tensor rows_of(const Tensor& t, int64_t r0, int64_t rows) {
  Tensor out({rows, t.dim(1)}, DType::i32);
  std::memcpy(out.raw(), t.data<int32_t>() + r0 * t.dim(1), out.nbytes());
  return out;
}

int run(const Args& a) {
  const Device device = a.device == "cuda" ? Device::cuda : Device::cpu;
  std::map<std::string, Tensor> dump;
  for (auto& [name, t] : read_tensor_dump(a.dump)) dump[name] = t;
  const int64_t batch = a.tiny ? 8 : 512, micro = a.tiny ? 2 : 64;
  const int64_t accum = batch / micro;
  ModelScript script(a.source + "/examples/baseline.lua", Overrides{a.tiny ? "tiny" : "", {}});
  const Tensor& t0 = entry(dump, "tokens.0", a.dump);
  if (t0.rank() != 2 || t0.dim(0) != batch)
    throw std::runtime_error(a.dump + ": tokens.0 is " + shape_str(t0.shape()) + ", expected " + std::to_string(batch) +
                             " sequences (were both sides given the same --tiny?)");
  const int64_t seq = t0.dim(1);
  auto model = script.build("train", micro, seq);
  ParamStore& store = model->store;
  store.initialize(0, DType::f32);
  for (const ParamSpec& p : store.specs()) {
    const Tensor& init = entry(dump, "init." + reference_name(p.name), a.dump);
    if (init.shape() != p.shape)
      throw std::runtime_error(a.dump + ": init." + reference_name(p.name) + " is " + shape_str(init.shape()) + ", golfrt's " +
                               p.name + " is " + shape_str(p.shape));
    store.get(p.name) = init.to(DType::f32);
  }
  ModelScript* s = &script;
  OptimizerSet opt(store, script.table_json("train")["optim"],
                   [s](const std::string& n, const std::string& pat) { return s->name_matches(n, pat); }, DType::f32,
                   device);
  TrainStep step(model->graph, mean_all(model->loss), store, ExecOptions{DType::f32, true, device}, 1.0 / double(accum));
  std::vector<double> losses;
  std::chrono::steady_clock::time_point t_start;
  for (int k = 0; k < a.steps; k++) {
    if (k == a.warmup) {
#ifdef GOLFRT_WITH_CUDA
      if (device == Device::cuda) cuda::synchronize();
#endif
      t_start = std::chrono::steady_clock::now();
    }
    const Tensor& tokens = entry(dump, "tokens." + std::to_string(k), a.dump);
    const Tensor& targets = entry(dump, "targets." + std::to_string(k), a.dump);
    step.zero_grad();
    double loss = 0;
    for (int64_t j = 0; j < accum; j++)
      loss += step.run({{"tokens", rows_of(tokens, j * micro, micro)}, {"targets", rows_of(targets, j * micro, micro)}}) /
              double(accum);
    opt.step(step.grads(), 1.0);
    losses.push_back(loss);
  }
#ifdef GOLFRT_WITH_CUDA
  if (device == Device::cuda) cuda::synchronize();
#endif
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  std::printf("golfrt: %d steps, ms/step %.1f (steps %d..%d), loss after %d steps %.6f; %lld tokens per step; %s\n",
              a.steps, 1000 * seconds / (a.steps - a.warmup), a.warmup, a.steps - 1, a.steps, losses.back(),
              (long long)(batch * seq), a.device.c_str());
  std::printf("golfrt losses:");
  for (double l : losses) std::printf(" %.6f", l);
  std::printf("\n");
  return 0;
}

}  // namespace
}  // namespace golf

int main(int argc, char** argv) {
  try {
    return golf::run(golf::parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpu_train: %s\n", e.what());
    return 1;
  }
}
