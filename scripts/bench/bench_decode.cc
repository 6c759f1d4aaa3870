// Per-token cost of generation at a given position: one KV-cached decode step (runtime/decode)
// against recomputing the full window of position+1 tokens, on the same model and weights.
//
//   build/scripts/bench/bench_decode [SCRIPT] [--preset P] [--position 512] [--context 1024] [--tokens 32]
//
// The model's weights are random (timing does not depend on them). Prints one JSON line.
#include <chrono>
#include <cstdio>
#include <string>

#include "dsl/script.h"
#include "runtime/decode/kv_decoder.h"
#include "runtime/rng.h"

using namespace golf;

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

int main(int argc, char** argv) {
  std::string path = "examples/baseline.lua", preset;
  int64_t position = 512, context = 1024, tokens = 32;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--preset") preset = val();
    else if (a == "--position") position = std::stoll(val());
    else if (a == "--context") context = std::stoll(val());
    else if (a == "--tokens") tokens = std::stoll(val());
    else if (a == "--help") {
      std::puts("bench_decode [SCRIPT] [--preset P] [--position 512] [--context 1024] [--tokens 32]");
      return 0;
    } else path = a;
  }
  if (position + tokens > context) {
    std::fprintf(stderr, "bench_decode: position + tokens must fit the context\n");
    return 2;
  }
  ModelScript script(path, Overrides{preset, {}});
  GraphFactory factory = [&](const std::string& mode, int64_t b, int64_t t) -> std::unique_ptr<ModelGraph> {
    return script.build(mode, b, t);
  };
  const int64_t window = position + 1;
  auto full = factory("generate", 1, window);
  full->store.initialize(1);
  Rng rng(2);
  Tensor x({1, window}, DType::i32);
  const int64_t V = full->logits.dim(-1);
  for (int64_t i = 0; i < window; i++) x.set(i, double(rng.below(uint64_t(V))));

  // Full recomputation: the whole window for one new token.
  Executor ex(full->graph, {full->logits});
  ex.bind_params(full->store);
  ex.bind("tokens", x);
  ex.bind("targets", x);
  ex.run();  // warm-up
  const int64_t full_runs = std::max<int64_t>(3, tokens / 8);
  double t0 = now();
  for (int64_t r = 0; r < full_runs; r++) ex.run();
  const double full_ms = (now() - t0) / double(full_runs) * 1e3;

  // Cached: fill the cache up to `position`, then time `tokens` steps from there.
  KvDecoder dec(factory, full->store, "live", context);
  for (int64_t i = 0; i < position; i++) dec.step(int(x.get(i)));
  t0 = now();
  for (int64_t i = 0; i < tokens; i++) dec.step(int(rng.below(uint64_t(V))));
  const double cached_ms = (now() - t0) / double(tokens) * 1e3;

  std::printf("{\"script\": \"%s\", \"preset\": \"%s\", \"params\": %lld, \"position\": %lld, \"context\": %lld, "
              "\"full_ms_per_token\": %.3f, \"cached_ms_per_token\": %.3f, \"speedup\": %.1f}\n",
              path.c_str(), preset.c_str(), (long long)full->store.count(), (long long)position, (long long)context,
              full_ms, cached_ms, full_ms / cached_ms);
  return 0;
}
