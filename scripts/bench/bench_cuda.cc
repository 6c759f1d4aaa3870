// A quick CUDA benchmark (a program, not a test; scripts/gpu/run.sh runs it on the GPU machine).
// The op graphs come from the shared case table (tests/support/op_cases.h):
//   matmul      the matmul case at bench size ([4096, 512] x [512, 1536]), bf16 and fp32 paths:
//               ms and TFLOP/s
//   attention   the attention case at bench size (B 8, T 1024, H 8, Hkv 4, hd 64: the baseline's
//               shape), forward and backward: ms, TFLOP/s (causal: half the square), for the
//               tensor-core kernel (the default), the fp32 CUDA-core one, and the CPU once for
//               scale, through the graph; and the tensor-core kernels alone on bf16 tensors (the
//               direct path); the rows cuda_attention_torch.py prints for PyTorch's SDPA line up
//               with them
//   ops         every case of the table at its device size, forward+backward: ms on CUDA (a
//               regression table, not a speed claim: the shapes are the tests')
//   train step  examples/baseline.lua, default config, 8 × 1024 tokens: ms per forward+backward on
//               CUDA (parameters and gradients mirrored from the host every step: the executor's
//               host-bound path) and on the CPU
// Numbers only; the decisions they feed are written in docs/cuda.md and docs/perf.md.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "dsl/script.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/runtime_api.h"
#include "runtime/autograd.h"
#include "runtime/dtype.h"
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

// The tensor-core kernels alone on bf16 q, k, v, dy in the graph's [B, T, heads, hd] layout with
// bf16 y, dq, dk, dv (kernels/cuda/attention_tc.cu's direct path: no pack, scratch only D), as
// SDPA's rows see bf16 tensors. Best of `reps`, each ending in a synchronization.
void bench_attention_direct(int64_t B, int64_t T, int64_t H, int64_t Hkv, int64_t hd, double fwd_flops, int reps) {
  const int64_t nq = B * T * H * hd, nkv = B * T * Hkv * hd;
  Rng rng(5);
  auto upload = [&](int64_t n) {
    std::vector<uint16_t> host(static_cast<size_t>(n));
    for (uint16_t& e : host) e = f32_to_bf16(float(rng.normal()));
    void* p = cuda::device_alloc(size_t(n) * 2);
    cuda::copy_to_device(p, host.data(), size_t(n) * 2);
    return p;
  };
  void *q = upload(nq), *k = upload(nkv), *v = upload(nkv), *dy = upload(nq);
  void *y = cuda::device_alloc(size_t(nq) * 2), *dq = cuda::device_alloc(size_t(nq) * 2);
  void *dk = cuda::device_alloc(size_t(nkv) * 2), *dv = cuda::device_alloc(size_t(nkv) * 2);
  auto* lse = static_cast<float*>(cuda::device_alloc(size_t(B * H * T) * 4));
  const double scale = 1.0 / std::sqrt(double(hd));
  auto forward = [&] { cuda::attention_tc(B, T, H, Hkv, hd, scale, false, {q, true}, {k, true}, {v, true}, {y, true}, lse); };
  const double fwd = time_ms([&] { forward(), cuda::synchronize(); }, reps);
  const double both = time_ms(
      [&] {
        forward();
        cuda::attention_tc_backward(B, T, H, Hkv, hd, scale, false, {q, true}, {k, true}, {v, true}, {y, true}, lse,
                                    {dy, true}, {dq, true}, {dk, true}, {dv, true});
        cuda::synchronize();
      },
      reps);
  std::printf("attention %s B%lld T%lld H%lld/%lld hd%lld: forward %.2f ms (%.1f TFLOP/s), forward+backward %.2f ms "
              "(%.1f TFLOP/s at 3.5x the forward's FLOPs)\n",
              "golfrt/tensor-cores bf16 direct", (long long)B, (long long)T, (long long)H, (long long)Hkv,
              (long long)hd, fwd, fwd_flops / fwd / 1e9, both, 3.5 * fwd_flops / both / 1e9);
  for (void* p : {q, k, v, dy, y, dq, dk, dv, static_cast<void*>(lse)}) cuda::device_free(p);
}

// Rows comparable with scripts/bench/cuda_attention_torch.py's (PyTorch SDPA's backends at the
// same shape, printed by run.sh right after): the same FLOP counts, best of the same reps. The
// graph rows' times include what the graph's storage costs the kernel (with fp32 q, k, v: the bf16
// pack of q, k, v and dy, and fp32 outputs); the direct row has none of it, as SDPA's bf16 tensors.
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
  bench_attention_direct(B, T, H, Hkv, hd, fwd_flops, 10);
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
