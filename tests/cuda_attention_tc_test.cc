// The tensor-core attention (kernels/cuda/attention_tc.cu) at the training's real shapes, T = 1024
// and batch × heads up to 512, against the CPU reference fed the same bf16-rounded q, k, v and dy.
//
// The tolerance follows from what the kernel still rounds once its inputs are bf16: P (forward,
// dv) and dS (dq, dk) become bf16 operands of the second matmul, each element off by a relative
// δ with |δ| ≤ 2⁻⁹ (RMS 2⁻⁹/√3 ≈ 1.1e-3). An output Σ_j p_j δ_j v_j against Σ_j p_j v_j with δ
// independent of v has a normalized MSE of E[δ²] ≈ 1.3e-6; the emulated kernels
// (attention_tc_emulated_test.cc) measure 0.6–3.5e-6 on these inputs, gradients the higher. The
// limit, 3e-5, leaves a factor 8 over that; a missed mask, a wrong fragment or a wrong head lands
// near 1 (or NaN). The lower bound (1e-9) proves the bf16 path ran: the fp32 kernel (the default
// before this file) sits near 1e-14 and fails it. Written without a GPU: not yet run on one.
//
// Skips without a CUDA device (tests/support/cuda.h); the setting's error needs none.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <ostream>
#include <string>

#include "runtime/autograd.h"
#include "runtime/dtype.h"
#include "runtime/executor.h"
#include "runtime/rng.h"
#include "tests/support/cuda.h"
#include "tests/support/errors.h"
#include "tests/support/op_cases.h"

namespace golf {
namespace {

constexpr double kNmseTc = 3e-5;       // bf16 P and dS against a reference on the same inputs
constexpr double kNmseTcFloor = 1e-9;  // below: no bf16 rounding happened

struct Shape5 {
  int64_t b, t, h, hkv, hd;
  double scale;
  bool xsa;
  std::string name;
};

// Names the case in test listings (CTest's names: gtest would print the struct's bytes otherwise).
void PrintTo(const Shape5& s, std::ostream* os) { *os << s.name; }

// q, k, v and dy rounded to bf16 (the kernel's own rounding is then exact), on the host.
Tensor bf16_normal(const Shape& s, Rng& rng, double sd) {
  Tensor t(s, DType::f32);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); i++) p[i] = bf16_to_f32(f32_to_bf16(float(rng.normal() * sd)));
  return t;
}

struct Problem {
  Graph g;
  std::vector<Var> outs;  // y, lse, dq, dk, dv
  std::map<std::string, Tensor> bound;
  explicit Problem(const Shape5& s) {
    Var q = input(g, "q", {s.b, s.t, s.h, s.hd}), k = input(g, "k", {s.b, s.t, s.hkv, s.hd});
    Var v = input(g, "v", {s.b, s.t, s.hkv, s.hd}), dy = input(g, "dy", {s.b, s.t, s.h, s.hd});
    AttentionOut o = attention(q, k, v, s.scale, s.xsa);
    outs = {o.y, o.lse};
    for (const Gradient& gr : backward_seeded(o.y, dy, {"q", "k", "v"})) outs.push_back(gr.grad);
    Rng rng(uint64_t(s.t * 131 + s.hd));
    // q and k at unit scale: scores of a few units, softmaxes far from uniform and far from one-hot.
    bound["q"] = bf16_normal({s.b, s.t, s.h, s.hd}, rng, 1.0);
    bound["k"] = bf16_normal({s.b, s.t, s.hkv, s.hd}, rng, 1.0);
    bound["v"] = bf16_normal({s.b, s.t, s.hkv, s.hd}, rng, 1.0);
    bound["dy"] = bf16_normal({s.b, s.t, s.h, s.hd}, rng, 1.0);
  }
  std::vector<Tensor> run(ExecOptions o) {
    Executor ex(g, outs, o);
    for (auto& [n, t] : bound) ex.bind(n, t);
    ex.run();
    std::vector<Tensor> r;
    for (size_t i = 0; i < outs.size(); i++) r.push_back(ex.result(i).clone());
    return r;
  }
};

ExecOptions on_cuda(bool attention_fp32) {
  ExecOptions o;
  o.device = Device::cuda;
  o.attention_fp32 = attention_fp32;
  return o;
}

const char* kWhat[] = {"y", "lse", "dq", "dk", "dv"};

class CudaAttentionTc : public ::testing::TestWithParam<Shape5> {};

TEST_P(CudaAttentionTc, matches_the_cpu_on_bf16_rounded_inputs) {
  GOLF_SKIP_WITHOUT_CUDA();
  Problem p(GetParam());
  std::vector<Tensor> want = p.run({});
  std::vector<Tensor> got = p.run(on_cuda(false));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); i++) {
    const double e = nmse(got[i], want[i]);
    if (i == 1) {  // lse: fp32 sums of exact bf16 products, no bf16 rounding on its path
      EXPECT_LT(e, kNmseF32) << kWhat[i] << "; " << describe_diff(got[i], want[i]);
      continue;
    }
    EXPECT_LT(e, kNmseTc) << kWhat[i] << "; " << describe_diff(got[i], want[i]);
    EXPECT_GT(e, kNmseTcFloor) << kWhat[i] << ": no bf16 rounding left a trace (the fp32 kernel ran?)";
  }
}

TEST_P(CudaAttentionTc, reruns_are_bit_identical) {
  GOLF_SKIP_WITHOUT_CUDA();
  Problem p(GetParam());
  std::vector<Tensor> first = p.run(on_cuda(false)), second = p.run(on_cuda(false));
  for (size_t i = 0; i < first.size(); i++)
    ASSERT_EQ(std::memcmp(first[i].raw(), second[i].raw(), first[i].nbytes()), 0) << kWhat[i];
}

// The baseline's shape (heads 8 / KV heads 4, hd 64) at B·H = 512; the seeds' hd 128 with XSA; and
// the edges: T not a multiple of the 64-row tile, head dims padded to 64 and 256, T below a tile,
// one KV head for six query heads.
INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaAttentionTc,
    ::testing::Values(Shape5{64, 1024, 8, 4, 64, 0.125, false, "baseline_bh512"},
                      Shape5{4, 1024, 8, 4, 128, 0.088, true, "hd128_xsa"},
                      Shape5{2, 1000, 6, 1, 40, 0.15, true, "t1000_hd40_mqa"},
                      Shape5{1, 130, 2, 2, 256, 0.0625, false, "hd256"},
                      Shape5{3, 5, 4, 2, 64, 0.5, true, "t5"}),
    [](const ::testing::TestParamInfo<Shape5>& i) { return i.param.name; });

// The op table's attention cases (T 70 with and without XSA, hd 40, hd 256: tests/support/op_cases.h)
// through autograd on the default path, against the CPU on unrounded inputs: within bf16 rounding.
TEST(CudaAttentionTcCases, op_cases_within_bf16_rounding_of_the_cpu) {
  GOLF_SKIP_WITHOUT_CUDA();
  for (const char* name : {"attention", "attention_hd40", "attention_hd256"}) {
    std::unique_ptr<BuiltCase> c = build_op_case(op_cases().at(name), CaseSize::device, 5, DType::f32);
    std::vector<Var> outs = {c->out};
    std::vector<std::string> names = {"output"};
    for (const Gradient& gr : backward(c->loss, c->g.param_names()))
      if (gr.grad.valid()) outs.push_back(gr.grad), names.push_back("gradient of " + gr.name);
    auto run = [&](ExecOptions o) {
      Executor ex(c->g, outs, o);
      ex.bind_params(c->store);
      if (c->probe.defined()) ex.bind("probe", c->probe);
      for (auto& [n, t] : c->ints) ex.bind(n, t);
      ex.run();
      std::vector<Tensor> r;
      for (size_t i = 0; i < outs.size(); i++) r.push_back(ex.result(i).clone());
      return r;
    };
    std::vector<Tensor> want = run({}), got = run(on_cuda(false));
    for (size_t i = 0; i < want.size(); i++)
      EXPECT_LT(nmse(got[i], want[i]), kNmseBf16) << name << " " << names[i] << "; " << describe_diff(got[i], want[i]);
  }
}

// The setting picks the fp32 kernel, which matches the CPU to fp32 rounding.
TEST(CudaAttentionSetting, fp32_selects_the_reference_kernel) {
  GOLF_SKIP_WITHOUT_CUDA();
  Problem p(Shape5{2, 300, 8, 4, 64, 0.125, true, ""});
  std::vector<Tensor> want = p.run({}), got = p.run(on_cuda(true));
  for (size_t i = 0; i < want.size(); i++)
    EXPECT_LT(nmse(got[i], want[i]), kNmseF32) << kWhat[i] << "; " << describe_diff(got[i], want[i]);
}

// An unknown GOLFRT_ATTENTION is an error naming it, at plan time (count-only: no device needed).
TEST(CudaAttentionSetting, unknown_value_is_an_error) {
  Problem p(Shape5{1, 8, 2, 1, 16, 0.25, false, ""});
  ExecOptions o;
  o.device = Device::cuda;
  o.count_only = true;
  ::setenv("GOLFRT_ATTENTION", "fast", 1);
  EXPECT_NE(error_of([&] { Executor ex(p.g, p.outs, o); }).find("GOLFRT_ATTENTION=fast: expected fp32 or bf16"),
            std::string::npos);
  ::setenv("GOLFRT_ATTENTION", "fp32", 1);
  EXPECT_EQ(error_of([&] { Executor ex(p.g, p.outs, o); }), "(no error)");
  ::unsetenv("GOLFRT_ATTENTION");
}

}  // namespace
}  // namespace golf
