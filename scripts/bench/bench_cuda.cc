// A quick CUDA benchmark (a program, not a test; scripts/gpu/run.sh runs it on the GPU machine).
// The op graphs come from the shared case table (tests/support/op_cases.h):
//   matmul      the matmul case at bench size ([4096, 512] x [512, 1536]), bf16 and fp32 paths:
//               ms and TFLOP/s
//   attention   the attention case at bench size (B 8, T 1024, H 8, Hkv 4, hd 64: the baseline's
//               shape), forward and backward: ms, TFLOP/s (causal: half the square), for the
//               tensor-core kernel (the default), the fp32 CUDA-core one, and the CPU once for
//               scale; the rows cuda_attention_torch.py prints for PyTorch's SDPA line up with them
//   ops         every case of the table at its device size, forward+backward: ms on CUDA (a
//               regression table, not a speed claim: the shapes are the tests')
//   train step  examples/baseline.lua, default config, 8 × 1024 tokens: ms per forward+backward on
//               CUDA (parameters and gradients mirrored from the host every step: the executor's
//               host-bound path) and on the CPU
// Numbers only; the decisions they feed are written in docs/cuda.md and docs/perf.md.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

#include "dsl/script.h"
#include "runtime/autograd.h"
#include "runtime/executor.h"
#include "runtime/rng.h"
#include "runtime/train_step.h"
#include "tests/support/op_cases.h"

using namespace golf;

namespace {

// Best of `reps` runs after one warm-up, in ms.
double time_ms(const std::function<void()>& f, int reps) {
  f();
  double best = 1e30;
  for (int i = 0; i < reps; i++) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

// A case of the table with every input bound on the device and its outputs (the op's output, and
// with `gradients` each real input's gradient) assigned into bound device buffers, so a run
// uploads and downloads nothing and the time is the kernels' (plus one synchronization).
struct Bench {
  std::unique_ptr<BuiltCase> c;
  std::map<std::string, Tensor> bound;
  Bench(const std::string& name, CaseSize size, bool gradients, Device d) {
    const OpCase& cs = op_cases().at(name);
    c = build_op_case(cs, size, 1, DType::f32);
    std::vector<std::pair<std::string, Var>> outs = {{"out", c->out}};
    if (gradients && c->loss.valid() && !cs.zero_gradient)
      for (const Gradient& g : backward(c->loss, c->g.param_names()))
        if (g.grad.valid()) outs.push_back({"d" + g.name, g.grad});
    auto on = [d](const Tensor& t) { return d == Device::cpu ? t : t.to_device(d); };
    for (const std::string& p : c->g.param_names()) bound[p] = on(c->store.get(p));
    for (auto& [n, t] : c->ints) bound[n] = on(t);
    if (c->probe.defined()) bound["probe"] = on(c->probe);
    for (auto& [n, v] : outs) {
      Var target = input(c->g, "sink." + n, v.shape(), v.integer());
      assign(target, v);
      bound["sink." + n] = Tensor(v.shape(), v.integer() ? DType::i32 : DType::f32, d);
    }
  }
  double run(Device d, bool fp32, int reps, bool attention_fp32 = false) {
    ExecOptions o;
    o.device = d;
    o.matmul_fp32 = fp32;
    o.attention_fp32 = attention_fp32;
    Executor ex(c->g, {}, o);
    for (auto& [name, t] : bound) ex.bind(name, t);
    return time_ms([&] { ex.run(); }, reps);
  }
};

void bench_matmul() {
  const int64_t M = 4096, K = 512, N = 1536;  // the matmul case at bench size
  for (bool fp32 : {false, true}) {
    Bench b("matmul", CaseSize::bench, false, Device::cuda);
    double ms = b.run(Device::cuda, fp32, 20);
    std::printf("matmul %lldx%lldx%lld %s: %.3f ms, %.1f TFLOP/s\n", (long long)M, (long long)K, (long long)N,
                fp32 ? "fp32" : "bf16", ms, 2.0 * M * K * N / ms / 1e9);
  }
}

// Rows comparable with scripts/bench/cuda_attention_torch.py's (PyTorch SDPA's backends at the
// same shape, printed by run.sh right after): the same FLOP counts, best of the same reps. golfrt's
// times include its bf16 pack of fp32 q, k, v (and dy) and fp32 outputs, which SDPA's bf16 tensors
// do not pay.
void bench_attention() {
  const int64_t B = 8, T = 1024, H = 8, Hkv = 4, hd = 64;  // the attention case at bench size
  const double fwd_flops = 4.0 * B * H * T * T * hd / 2;  // QKᵀ and PV, causal half
  struct Row {
    const char* name;
    Device d;
    bool fp32;
  };
  for (const Row& r : {Row{"golfrt/tensor-cores bf16", Device::cuda, false}, Row{"golfrt/cuda-cores fp32", Device::cuda, true},
                       Row{"golfrt/cpu fp32", Device::cpu, true}}) {
    const int reps = r.d == Device::cuda ? 10 : 1;
    double fwd = Bench("attention", CaseSize::bench, false, r.d).run(r.d, false, reps, r.fp32);
    double both = Bench("attention", CaseSize::bench, true, r.d).run(r.d, false, reps, r.fp32);
    std::printf("attention %s B%lld T%lld H%lld/%lld hd%lld: forward %.2f ms (%.1f TFLOP/s), forward+backward %.2f ms "
                "(%.1f TFLOP/s at 3.5x the forward's FLOPs)\n",
                r.name, (long long)B, (long long)T, (long long)H, (long long)Hkv, (long long)hd, fwd,
                fwd_flops / fwd / 1e9, both, 3.5 * fwd_flops / both / 1e9);
  }
}

void bench_ops() {
  for (const auto& [name, cs] : op_cases()) {
    double ms = Bench(name, CaseSize::device, true, Device::cuda).run(Device::cuda, false, 5);
    std::printf("op %-22s device size, forward+backward: %.3f ms\n", name.c_str(), ms);
  }
}

void bench_train_step(const std::string& source) {
  const int64_t B = 8, T = 1024;
  for (Device d : {Device::cuda, Device::cpu}) {
    ModelScript script(source + "/examples/baseline.lua");
    auto m = script.build("train", B, T);
    m->store.initialize(1, DType::f32);
    TrainStep step(m->graph, mean_all(m->loss), m->store, {DType::f32, true, d});
    Tensor tokens({B, T}, DType::i32), targets({B, T}, DType::i32);
    Rng rng(9);
    for (int64_t i = 0; i < tokens.numel(); i++) tokens.set(i, double(rng.below(1024))), targets.set(i, double(rng.below(1024)));
    double loss = 0;
    double ms = time_ms([&] { loss = step.run({{"tokens", tokens}, {"targets", targets}}); }, d == Device::cuda ? 5 : 1);
    std::printf("train step baseline %s, %lld tokens: %.1f ms (%.0f tokens/s), loss %.4f\n", device_name(d),
                (long long)(B * T), ms, double(B * T) / ms * 1e3, loss);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string source = GOLFRT_SOURCE_DIR;
  for (int i = 1; i + 1 < argc; i++)
    if (std::strcmp(argv[i], "--source") == 0) source = argv[i + 1];
  try {
    bench_matmul();
    bench_attention();
    bench_ops();
    bench_train_step(source);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda: %s\n", e.what());
    return 1;
  }
  return 0;
}
