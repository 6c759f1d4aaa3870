// The core without Lua: a one-block transformer built with the C++ API learns to repeat a random
// sequence (tokens t >= T/2 equal token t − T/2), which it can only do by attending back T/2
// positions. Forward+backward and the AdamW update are two graphs; the loss on the repeated half
// falls from ln(V) towards 0. Then the same build function, handed a decode step builder
// (runtime/decode/step_builder.h) as golfrt's Lua scripts are, decodes a sequence one token at a
// time with KV caches (runtime/decode/kv_decoder.h), and its logits are checked against the full
// forward pass.
//
//   demo_copy_task [--steps N] [--seed S] [--check]     --check: exit 1 unless it learned and
//                                                       the cached decode matches the full pass
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "runtime/decode/kv_decoder.h"
#include "runtime/decode/step_builder.h"
#include "runtime/executor.h"
#include "runtime/model_graph.h"
#include "runtime/optim/adamw.h"
#include "runtime/rng.h"
#include "runtime/train_step.h"

using namespace golf;

namespace {

constexpr int64_t kVocab = 8, kSeq = 16, kBatch = 16, kDim = 32, kHeads = 4, kHeadDim = 8;

Var linear(const Scope& s, const std::string& name, Var x, int64_t out, int64_t in, double std) {
  return matmul(x, s.param(name, {out, in}, Init::normal(std)), false, true);
}

// The model for B sequences of T tokens: a full-sequence graph when `step` is not decoding, one
// decode step (T = 1, caches of step.context() positions) when it is. Sets m.loss (per token) and
// m.logits; the attention states go to m.caches.
void build(ModelGraph& m, DecodeStepBuilder& step, int64_t B, int64_t T) {
  Graph& g = m.graph;
  Scope root(m.store, g);
  Var tokens = input(g, "tokens", {B, T}, true);
  Var targets = input(g, "targets", {B, T}, true);
  Var embed = root.param("embed", {kVocab, kDim}, Init::normal(0.1));
  Var x = rms_norm(embedding(embed, tokens));
  Scope blk = root.sub("blocks").sub(0);
  Scope attn = blk.sub("attn");
  Var h = rms_norm(x);
  Var q = reshape(linear(attn, "q", h, kDim, kDim, 0.2), {B, T, kHeads, kHeadDim});
  Var k = reshape(linear(attn, "k", h, kDim, kDim, 0.2), {B, T, kHeads, kHeadDim});
  Var v = reshape(linear(attn, "v", h, kDim, kDim, 0.2), {B, T, kHeads, kHeadDim});
  q = step.rope(rms_norm(q), kHeadDim, 10000.0, 0, false);
  k = step.rope(rms_norm(k), kHeadDim, 10000.0, 0, false);
  Var a = reshape(step.attention(q, k, v, 1.0 / std::sqrt(double(kHeadDim)), false).y, {B, T, kDim});
  x = x + linear(attn, "proj", a, kDim, kDim, 0.1);
  Scope mlp = blk.sub("mlp");
  x = x + linear(mlp, "down", square(relu(linear(mlp, "up", rms_norm(x), 2 * kDim, kDim, 0.2))), kDim, 2 * kDim, 0.1);
  m.logits = matmul(reshape(rms_norm(x), {B * T, kDim}), embed, false, true);
  m.loss = cross_entropy(m.logits, reshape(targets, {B * T}), 30.0);
  m.caches = step.take_caches();
}

// The factory golfrt's decoders ask for graphs: "decode" is one step with caches of `seq`
// positions, every other mode the full sequence.
std::unique_ptr<ModelGraph> make_graph(const std::string& mode, int64_t batch, int64_t seq) {
  auto m = std::make_unique<ModelGraph>();
  const bool decoding = mode == "decode";
  DecodeStepBuilder step(m->graph, decoding ? seq : 0);
  build(*m, step, batch, decoding ? 1 : seq);
  return m;
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
  std::unique_ptr<ModelGraph> m = make_graph("train", kBatch, kSeq);
  Graph& g = m->graph;
  ParamStore& store = m->store;
  // The mean loss over the positions whose next token is a copy.
  Var loss = mean_all(slice(reshape(m->loss, {kBatch, kSeq}), 1, kSeq / 2, kSeq - 1));
  store.initialize(seed);
  std::printf("copy task: %lld parameters, %d graph nodes before autograd\n", (long long)store.count(), g.size());
  TrainStep step(g, loss, store);
  std::vector<std::string> names;
  for (const ParamSpec& p : store.specs()) names.push_back(p.name);
  AdamW opt(store, names, {0.9, 0.95, 1e-8, 0.0});
  std::printf("graph: %d nodes, arena %.1f KiB (%.1f KiB without reuse)\n", g.size(),
              double(step.executor().plan().arena_bytes) / 1024, double(step.executor().plan().unshared_bytes) / 1024);

  Rng data(seed + 1000);
  Tensor tokens({kBatch, kSeq}, DType::i32), targets({kBatch, kSeq}, DType::i32);
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

  // Incremental decoding of one fresh copy sequence with the trained weights, against the full pass.
  Tensor one({1, kSeq}, DType::i32), one_targets({1, kSeq}, DType::i32);
  {
    Rng r(seed + 2000);
    Tensor bt({kBatch, kSeq}, DType::i32), by({kBatch, kSeq}, DType::i32);
    make_batch(r, bt, by);
    for (int64_t t = 0; t < kSeq; t++) one.set(t, bt.get(t)), one_targets.set(t, by.get(t));
  }
  std::unique_ptr<ModelGraph> full = make_graph("eval", 1, kSeq);
  Executor ex(full->graph, {full->logits});
  ex.bind_params(store);
  ex.bind("tokens", one);
  ex.bind("targets", one_targets);
  ex.run();
  KvDecoder dec(make_graph, store, "live", kSeq);
  double worst = 0;
  int copied = 0, right = 0;
  for (int64_t t = 0; t < kSeq; t++) {
    const float* l = dec.step(int(one.get(t)));
    int64_t best = 0;
    for (int64_t v = 0; v < kVocab; v++) {
      worst = std::max(worst, std::fabs(double(l[v]) - ex.result(0).get(t * kVocab + v)));
      if (l[v] > l[best]) best = v;
    }
    if (t >= kSeq / 2 - 1 && t < kSeq - 1) copied++, right += best == int64_t(one_targets.get(t));
  }
  std::printf("cached decode (%zu caches): %d/%d copied tokens predicted; logits within %.2g of the full pass\n",
              dec.cache_count(), right, copied, worst);
  if (check && !(worst < 1e-4)) {
    std::fprintf(stderr, "demo_copy_task: the cached decode's logits differ from the full pass by %g\n", worst);
    return 1;
  }
  return 0;
}
