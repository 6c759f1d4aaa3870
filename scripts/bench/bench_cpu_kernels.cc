// CPU kernel throughput at the baseline's shapes (d=512, 8 heads of 64, 4 KV heads), per
// sequence of 256 tokens: GFLOP/s for matmul and attention, GB/s for the memory-bound ops.
// The side-by-side with PyTorch is scripts/bench/cpu_kernels_torch.py on the same machine.
#include <benchmark/benchmark.h>

#include <vector>

#include "kernels/cpu/cpu_kernels.h"

namespace {

std::vector<float> filled(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; i++) v[i] = float((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
  return v;
}

void bm_matmul(benchmark::State& st) {
  int64_t m = st.range(0), n = st.range(1), k = st.range(2);
  auto a = filled(size_t(m * k)), b = filled(size_t(n * k)), c = filled(size_t(m * n));
  for (auto _ : st) golf::cpu::matmul<float>(1, m, n, k, a.data(), false, b.data(), true, 0, c.data());
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(m * n * k), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(bm_matmul)->Args({256, 512, 512})->Args({256, 1024, 512})->Args({256, 512, 1024})->Unit(benchmark::kMillisecond);

void bm_attention(benchmark::State& st) {
  int64_t t = st.range(0), h = 8, hkv = 4, hd = 64;
  auto q = filled(size_t(t * h * hd)), k = filled(size_t(t * hkv * hd)), v = filled(size_t(t * hkv * hd));
  std::vector<float> y(size_t(t * h * hd)), lse(size_t(h * t));
  for (auto _ : st) golf::cpu::attention<float>(1, t, h, hkv, hd, 0.125, false, q.data(), k.data(), v.data(), y.data(), lse.data());
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(t * t * h * hd), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(bm_attention)->Arg(256)->Unit(benchmark::kMillisecond);

void bm_attention_backward(benchmark::State& st) {
  int64_t t = st.range(0), h = 8, hkv = 4, hd = 64;
  auto q = filled(size_t(t * h * hd)), k = filled(size_t(t * hkv * hd)), v = filled(size_t(t * hkv * hd));
  auto dy = filled(size_t(t * h * hd));
  std::vector<float> y(size_t(t * h * hd)), lse(size_t(h * t)), dq(q.size()), dk(k.size()), dv(v.size());
  golf::cpu::attention<float>(1, t, h, hkv, hd, 0.125, false, q.data(), k.data(), v.data(), y.data(), lse.data());
  for (auto _ : st)
    golf::cpu::attention_backward<float>(1, t, h, hkv, hd, 0.125, false, q.data(), k.data(), v.data(), y.data(),
                                         lse.data(), dy.data(), dq.data(), dk.data(), dv.data());
  st.counters["GFLOP/s"] = benchmark::Counter(4.0 * double(t * t * h * hd), benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(bm_attention_backward)->Arg(256)->Unit(benchmark::kMillisecond);

void bm_rms_norm(benchmark::State& st) {
  int64_t rows = 256, d = 512;
  auto x = filled(size_t(rows * d));
  std::vector<float> y(x.size());
  for (auto _ : st) golf::cpu::rms_norm<float>(rows, d, 1e-6, x.data(), y.data());
  st.SetBytesProcessed(int64_t(st.iterations()) * rows * d * 8);
}
BENCHMARK(bm_rms_norm);

void bm_cross_entropy(benchmark::State& st) {
  int64_t n = 256, v = 1024;
  auto x = filled(size_t(n * v));
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) t[size_t(i)] = int32_t((i * 37) % v);
  std::vector<float> loss(static_cast<size_t>(n));
  for (auto _ : st) golf::cpu::cross_entropy<float>(n, v, 30.0, x.data(), t.data(), loss.data());
  st.SetBytesProcessed(int64_t(st.iterations()) * n * v * 4);
}
BENCHMARK(bm_cross_entropy);

}  // namespace

BENCHMARK_MAIN();
