// Every case of the shared op table (tests/support/op_cases.h) on CUDA against the CPU kernels:
// random inputs, forward outputs and (for differentiable ops) every input gradient through
// autograd's backward graph, compared by
// normalized MSE (tests/support/cuda.h), with guard bytes around every intermediate value to catch
// a kernel writing past its output. Shapes are chosen to cross the kernels' tile and block edges
// (32-key tiles, 8-row blocks, 256-thread rows, the short/long reduction switch).
//
// Skips (GTEST_SKIP) without a CUDA device or in a build without CUDA; the tests that need no
// device (guard bytes on the CPU, the error of a build without CUDA) always run. That every op has
// a case and a CUDA kernel is tests/op_table_test.cc's check.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "runtime/autograd.h"
#include "runtime/executor.h"
#include "runtime/params.h"
#include "runtime/rng.h"
#include "tests/support/cuda.h"
#include "tests/support/errors.h"
#include "tests/support/op_cases.h"

namespace golf {
namespace {

// A case of the shared table (tests/support/op_cases.h) at CaseSize::device, with the graph's
// outputs: the op's output, then each real input's gradient (none for an integer output or a
// piecewise-constant op).
struct Built {
  std::unique_ptr<BuiltCase> c;
  std::vector<Var> outs;
  std::vector<std::string> names;
};

Built build_case(const std::string& name, uint64_t seed) {
  const OpCase& cs = op_cases().at(name);
  Built b{build_op_case(cs, CaseSize::device, seed, DType::f32), {}, {}};
  b.outs = {b.c->out};
  if (b.c->loss.valid() && !cs.zero_gradient)
    for (const Gradient& gr : backward(b.c->loss, b.c->g.param_names()))
      if (gr.grad.valid()) b.outs.push_back(gr.grad), b.names.push_back(gr.name);
  return b;
}

std::vector<Tensor> run_on(Built& b, ExecOptions opt) {
  Executor ex(b.c->g, b.outs, opt);
  ex.bind_params(b.c->store);
  if (b.c->probe.defined()) ex.bind("probe", b.c->probe);
  for (auto& [name, t] : b.c->ints) ex.bind(name, t);
  ex.run();
  std::vector<Tensor> r;
  for (size_t i = 0; i < b.outs.size(); i++) r.push_back(ex.result(i).clone());
  return r;
}

ExecOptions cuda_options(bool fp32_matmul = true) {
  ExecOptions o;
  o.device = Device::cuda;
  o.matmul_fp32 = fp32_matmul;
  o.attention_fp32 = fp32_matmul;  // the tight comparisons run every fp32 path
  o.guard_bytes = 256;
  return o;
}

class CudaOp : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaOp, forward_and_gradients_match_the_cpu) {
  GOLF_SKIP_WITHOUT_CUDA();
  Built b = build_case(GetParam(), 7);
  std::vector<Tensor> want = run_on(b, {});
  std::vector<Tensor> got = run_on(b, cuda_options());
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); i++) {
    const std::string what = i == 0 ? "output" : "gradient of " + b.names[i - 1];
    if (want[i].dtype() == DType::i32) {
      EXPECT_EQ(nmse(got[i], want[i]), 0.0) << GetParam() << ": " << what << " (integers must match exactly); "
                                            << describe_diff(got[i], want[i]);
      continue;
    }
    EXPECT_LT(nmse(got[i], want[i]), kNmseF32) << GetParam() << ": " << what << "; " << describe_diff(got[i], want[i]);
  }
}

std::vector<std::string> case_names() {
  std::vector<std::string> v;
  for (const auto& [name, cs] : op_cases()) v.push_back(name);
  return v;
}
INSTANTIATE_TEST_SUITE_P(AllOps, CudaOp, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(CudaOps, bf16_matmul_is_within_bf16_rounding_of_the_cpu) {
  GOLF_SKIP_WITHOUT_CUDA();
  Built b = build_case("matmul", 9);
  std::vector<Tensor> want = run_on(b, {});
  std::vector<Tensor> got = run_on(b, cuda_options(false));
  for (size_t i = 0; i < want.size(); i++) {
    const double e = nmse(got[i], want[i]);
    EXPECT_LT(e, kNmseBf16) << "output " << i << "; " << describe_diff(got[i], want[i]);
    EXPECT_GT(e, 0.0) << "bf16 rounding left no trace: the fp32 path ran instead";
  }
}

TEST(CudaOps, reruns_are_bit_identical) {
  GOLF_SKIP_WITHOUT_CUDA();
  for (const char* name : {"attention", "scatter_add_rows", "index_add", "sum", "cross_entropy"}) {
    Built b = build_case(name, 11);
    std::vector<Tensor> first = run_on(b, cuda_options(false));
    std::vector<Tensor> second = run_on(b, cuda_options(false));
    for (size_t i = 0; i < first.size(); i++)
      for (int64_t j = 0; j < first[i].numel(); j++)
        ASSERT_EQ(first[i].get(j), second[i].get(j)) << name << " output " << i << " element " << j;
  }
}

// assign and accumulate write host-bound targets through the device mirror and back.
TEST(CudaOps, effects_write_their_targets) {
  GOLF_SKIP_WITHOUT_CUDA();
  for (const char* op : {"assign", "accumulate"}) {
    Graph g;
    Var target = input(g, "target", {1000}), value = input(g, "value", {1000});
    if (std::string(op) == "assign") assign(target, value * value);
    else accumulate(target, value * value);
    Tensor tc({1000}, DType::f32), v({1000}, DType::f32);
    Rng rng(3);
    for (int64_t i = 0; i < 1000; i++) tc.set(i, rng.normal()), v.set(i, rng.normal());
    Tensor tg = tc.clone();
    for (auto [t, opt] : {std::pair{&tc, ExecOptions{}}, std::pair{&tg, cuda_options()}}) {
      Executor ex(g, {}, opt);
      ex.bind("target", *t);
      ex.bind("value", v);
      ex.run();
      ex.run();  // twice: accumulate must add twice, from the downloaded state
    }
    EXPECT_LT(nmse(tg, tc), kNmseF32) << op << "; " << describe_diff(tg, tc);
  }
}

// The KV-cache op against the CPU: y, both caches (the rows written and the rows left alone), at
// positions that span several key tiles; then a cache overflow is an error naming the op.
TEST(CudaOps, attention_cached_matches_the_cpu_and_refuses_a_full_cache) {
  GOLF_SKIP_WITHOUT_CUDA();
  for (bool xsa : {false, true}) {
    const int64_t B = 2, T = 3, H = 4, Hkv = 2, hd = 64, C = 80, p0 = 70;
    Rng rng(13);
    auto rand = [&](Shape s) {
      Tensor t(s, DType::f32);
      for (int64_t i = 0; i < t.numel(); i++) t.set(i, rng.normal());
      return t;
    };
    Tensor q = rand({B, T, H, hd}), k = rand({B, T, Hkv, hd}), v = rand({B, T, Hkv, hd});
    Tensor kc = rand({B, C, Hkv, hd}), vc = rand({B, C, Hkv, hd});
    Tensor pos({1}, DType::i32);
    pos.set(0, double(p0));
    Graph g;
    Var y = attention_cached(input(g, "q", {B, T, H, hd}), input(g, "k", {B, T, Hkv, hd}), input(g, "v", {B, T, Hkv, hd}),
                             input(g, "kc", {B, C, Hkv, hd}), input(g, "vc", {B, C, Hkv, hd}), input(g, "pos", {1}, true),
                             0.125, xsa);
    std::map<std::string, Tensor> cpu_caches{{"kc", kc.clone()}, {"vc", vc.clone()}};
    std::map<std::string, Tensor> gpu_caches{{"kc", kc.clone()}, {"vc", vc.clone()}};
    std::vector<Tensor> ys;
    for (auto* caches : {&cpu_caches, &gpu_caches}) {
      Executor ex(g, {y}, caches == &cpu_caches ? ExecOptions{} : cuda_options());
      for (auto& [name, t] : std::map<std::string, Tensor>{{"q", q}, {"k", k}, {"v", v}, {"pos", pos}}) ex.bind(name, t);
      for (auto& [name, t] : *caches) ex.bind(name, t);
      ex.run();
      ys.push_back(ex.result(0).clone());
      if (caches == &gpu_caches) {
        pos.set(0, double(C - T + 1));  // one row past the end
        std::string e = error_of([&] { ex.run(); });
        EXPECT_NE(e.find("attention_cached"), std::string::npos) << e;
        EXPECT_NE(e.find("KV cache of 80"), std::string::npos) << e;
        pos.set(0, double(p0));
      }
    }
    EXPECT_LT(nmse(ys[1], ys[0]), kNmseF32) << "y, xsa " << xsa << "; " << describe_diff(ys[1], ys[0]);
    EXPECT_EQ(nmse(gpu_caches["kc"], cpu_caches["kc"]), 0.0) << "k cache; " << describe_diff(gpu_caches["kc"], cpu_caches["kc"]);
    EXPECT_EQ(nmse(gpu_caches["vc"], cpu_caches["vc"]), 0.0) << "v cache; " << describe_diff(gpu_caches["vc"], cpu_caches["vc"]);
  }
}

TEST(CudaOps, an_id_out_of_range_is_an_error_naming_the_op_and_the_id) {
  GOLF_SKIP_WITHOUT_CUDA();
  Graph g;
  Var table = input(g, "table", {5, 3});
  Var y = embedding(table, input(g, "ids", {4}, true));
  Executor ex(g, {y}, cuda_options());
  Tensor t({5, 3}, DType::f32), ids({4}, DType::i32);
  ids.set(2, 9);
  ex.bind("table", t);
  ex.bind("ids", ids);
  std::string e = error_of([&] { ex.run(); });
  EXPECT_NE(e.find("embedding"), std::string::npos) << e;
  EXPECT_NE(e.find("id 9 at position 2"), std::string::npos) << e;
}

// ---- no device needed --------------------------------------------------------------------------

// Guard mode itself, on the CPU: it must change nothing in the results, and find nothing broken.
TEST(GuardBytes, cpu_results_are_unchanged_and_no_guard_is_broken) {
  for (const char* name : {"attention", "matmul", "scatter_add_rows", "concat"}) {
    Built b = build_case(name, 5);
    ExecOptions guarded;
    guarded.guard_bytes = 256;
    std::vector<Tensor> plain = run_on(b, {}), checked = run_on(b, guarded);
    for (size_t i = 0; i < plain.size(); i++) EXPECT_EQ(nmse(checked[i], plain[i]), 0.0) << name << " output " << i;
  }
}

TEST(CudaOps, asking_for_cuda_without_it_says_why) {
  if (cuda_unavailable().empty()) GTEST_SKIP() << "a CUDA device is present";
  Graph g;
  Var x = input(g, "x", {2});
  std::string e = error_of([&] { Executor ex(g, {square(x)}, {DType::f32, true, Device::cuda}); });
  std::string t = error_of([] { Tensor x({2}, DType::f32, Device::cuda); });
#ifdef GOLFRT_WITH_CUDA
  EXPECT_NE(e.find("needs a CUDA device"), std::string::npos) << e;
  EXPECT_NE(t.find("needs a CUDA device"), std::string::npos) << t;
#else
  EXPECT_NE(e.find("built without CUDA"), std::string::npos) << e;
  EXPECT_NE(t.find("built without CUDA"), std::string::npos) << t;
#endif
}

}  // namespace
}  // namespace golf
