// The Fractal Compressor's folding is causal: changing input token t never changes the logits at
// positions < t (examples/fractal.lua, tiny preset at seq 32 with 7 iterations folding every 2:
// three folds, 32 -> 16 -> 8 -> 4 positions), for odd and even t and at fold boundaries, with
// every parameter random (zero-initialized output projections and position tables would hide
// paths). The logits at position t itself must change, or the test could not fail.
#include <gtest/gtest.h>

#include <cmath>

#include "dsl/script.h"
#include "runtime/executor.h"
#include "runtime/rng.h"

namespace golf {
namespace {

TEST(FoldCausality, a_token_never_changes_earlier_logits) {
  const int64_t T = 32, V = 260;
  Overrides o{"tiny", {{"seq_len", "32"}, {"iterations", "7"}, {"fold_every", "2"}}};
  ModelScript script(std::string(GOLFRT_SOURCE_DIR) + "/examples/fractal.lua", o);
  auto m = script.build("eval", 1, T);
  ASSERT_TRUE(m->logits.valid());
  ASSERT_TRUE(m->store.has("blocks.folds.2.pos")) << "expected three folds";
  m->store.initialize(3, DType::f64);
  Rng rng(11);
  for (const ParamSpec& p : m->store.specs()) {
    if (p.is_buffer()) continue;
    Tensor& w = m->store.get(p.name);
    for (int64_t i = 0; i < w.numel(); i++) w.set(i, w.get(i) + 0.3 * rng.normal());
  }
  Executor ex(m->graph, {reshape(m->logits, {T, -1})}, {DType::f64});
  ex.bind_params(m->store);
  auto run = [&](const Tensor& tokens) {
    ex.bind("tokens", tokens);
    ex.bind("targets", tokens);
    ex.run();
    return ex.result(0).clone();
  };
  Tensor tokens({1, T}, DType::i32);
  for (int64_t i = 0; i < T; i++) tokens.data<int32_t>()[i] = int32_t(4 + rng.below(256));
  const Tensor base = run(tokens);
  for (int64_t t : {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 30, 31}) {
    Tensor changed = tokens.clone();
    changed.data<int32_t>()[t] = 4 + (changed.data<int32_t>()[t] - 4 + 97) % 256;
    const Tensor out = run(changed);
    for (int64_t pos = 0; pos < T; pos++) {
      double diff = 0;
      for (int64_t v = 0; v < V; v++) diff = std::max(diff, std::abs(out.get(pos * V + v) - base.get(pos * V + v)));
      if (pos < t) {
        EXPECT_EQ(diff, 0.0) << "token " << t << " changed the logits at earlier position " << pos;
      } else if (pos == t) {
        EXPECT_GT(diff, 1e-9) << "token " << t << " did not change its own position's logits";
      }
    }
  }
}

}  // namespace
}  // namespace golf
