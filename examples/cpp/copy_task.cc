// The core without Lua: a one-block transformer built with the C++ API learns to repeat a random
// sequence (tokens t >= T/2 equal token t − T/2), which it can only do by attending back T/2
// positions. Forward+backward and the AdamW update are two graphs; the loss on the repeated half
// falls from ln(V) towards 0.
//
//   demo_copy_task [--steps N] [--seed S] [--check]     --check: exit 1 unless it learned
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "runtime/optim/adamw.h"
#include "runtime/rng.h"
#include "runtime/train_step.h"

using namespace golf;

namespace {

constexpr int64_t kVocab = 8, kSeq = 16, kBatch = 16, kDim = 32, kHeads = 4, kHeadDim = 8;

Var linear(const Scope& s, const std::string& name, Var x, int64_t out, int64_t in, double std) {
  return matmul(x, s.param(name, {out, in}, Init::normal(std)), false, true);
}

// Returns the mean loss over the second (predictable) half of every sequence.
Var build(Graph& g, ParamStore& store) {
  Scope root(store, g);
  Var tokens = input(g, "tokens", {kBatch, kSeq}, true);
  Var targets = input(g, "targets", {kBatch * kSeq}, true);
  Var embed = root.param("embed", {kVocab, kDim}, Init::normal(0.1));
  Var x = rms_norm(embedding(embed, tokens));
  Scope blk = root.sub("blocks").sub(0);
  Scope attn = blk.sub("attn");
  Var h = rms_norm(x);
  Var q = reshape(linear(attn, "q", h, kDim, kDim, 0.2), {kBatch, kSeq, kHeads, kHeadDim});
  Var k = reshape(linear(attn, "k", h, kDim, kDim, 0.2), {kBatch, kSeq, kHeads, kHeadDim});
  Var v = reshape(linear(attn, "v", h, kDim, kDim, 0.2), {kBatch, kSeq, kHeads, kHeadDim});
  q = rope(rms_norm(q), kHeadDim);
  k = rope(rms_norm(k), kHeadDim);
  Var a = reshape(attention(q, k, v, 1.0 / std::sqrt(double(kHeadDim))).y, {kBatch, kSeq, kDim});
  x = x + linear(attn, "proj", a, kDim, kDim, 0.1);
  Scope mlp = blk.sub("mlp");
  x = x + linear(mlp, "down", square(relu(linear(mlp, "up", rms_norm(x), 2 * kDim, kDim, 0.2))), kDim, 2 * kDim, 0.1);
  Var logits = matmul(reshape(rms_norm(x), {kBatch * kSeq, kDim}), embed, false, true);
  Var per_token = reshape(cross_entropy(logits, targets, 30.0), {kBatch, kSeq});
  return mean_all(slice(per_token, 1, kSeq / 2, kSeq - 1));  // positions whose next token is a copy
}

void make_batch(Rng& rng, Tensor& tokens, Tensor& targets) {
  for (int64_t b = 0; b < kBatch; b++) {
    int32_t seq[kSeq + 1];
    for (int64_t t = 0; t < kSeq / 2; t++) seq[t] = int32_t(rng.below(kVocab));
    for (int64_t t = kSeq / 2; t <= kSeq; t++) seq[t] = seq[t - kSeq / 2];
    for (int64_t t = 0; t < kSeq; t++) {
      tokens.set(b * kSeq + t, seq[t]);
      targets.set(b * kSeq + t, seq[t + 1]);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 300;
  uint64_t seed = 1;
  bool check = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--steps" && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (a == "--seed" && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--check") check = true;
    else if (a == "--help" || a == "-h") {
      std::printf("usage: demo_copy_task [--steps N] [--seed S] [--check]\n"
                  "Trains a one-block transformer on a copy task with the C++ API (no Lua).\n");
      return 0;
    } else {
      std::fprintf(stderr, "demo_copy_task: unknown argument '%s'\n", argv[i]);
      return 2;
    }
  }
  Graph g;
  ParamStore store;
  Var loss = build(g, store);
  store.initialize(seed);
  std::printf("copy task: %lld parameters, %d graph nodes before autograd\n", (long long)store.count(), g.size());
  TrainStep step(g, loss, store);
  std::vector<std::string> names;
  for (const ParamSpec& p : store.specs()) names.push_back(p.name);
  AdamW opt(store, names, {0.9, 0.95, 1e-8, 0.0});
  std::printf("graph: %d nodes, arena %.1f KiB (%.1f KiB without reuse)\n", g.size(),
              double(step.executor().plan().arena_bytes) / 1024, double(step.executor().plan().unshared_bytes) / 1024);

  Rng data(seed + 1000);
  Tensor tokens({kBatch, kSeq}, DType::i32), targets({kBatch * kSeq}, DType::i32);
  double first = 0, recent = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int it = 1; it <= steps; it++) {
    make_batch(data, tokens, targets);
    step.zero_grad();
    double l = step.run({{"tokens", tokens}, {"targets", targets}});
    double lr = 1e-2 * std::min(1.0, double(it) / 20.0);
    opt.step(step.grads(), lr);
    if (it == 1) first = l;
    recent = it == 1 ? l : 0.9 * recent + 0.1 * l;
    if (it == 1 || it % 25 == 0 || it == steps)
      std::printf("step %4d  loss %.4f  (smoothed %.4f)\n", it, l, recent);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%d steps in %.2f s (%.1f ms/step); copy loss %.3f -> %.3f (ln V = %.3f)\n", steps, secs,
              1000 * secs / steps, first, recent, std::log(double(kVocab)));
  // Chance on the copied half is ln V; a model that attends back T/2 positions goes far below it.
  if (check && !(recent < 0.25 * std::log(double(kVocab)))) {
    std::fprintf(stderr, "demo_copy_task: the copy loss did not fall below ln(V)/4\n");
    return 1;
  }
  return 0;
}
