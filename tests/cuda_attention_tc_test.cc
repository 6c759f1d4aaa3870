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
// CudaAttentionTcDirect: the direct path (bf16 q, k, v, dy read in place, bf16 y, dq, dk, dv) at
// the baseline's shape B 64, T 1024, H 8, Hkv 4, hd 64 and at T 1000, against the same CPU
// reference with its outputs rounded to bf16; its kernel code also runs on the CPU in
// attention_tc_emulated_test.cc.
//
// Skips without a CUDA device (tests/support/cuda.h); the setting's error needs none.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/dtype.h"
#include "runtime/executor.h"
#include "runtime/rng.h"
#include "tests/support/cuda.h"
#include "tests/support/errors.h"
#include "tests/support/op_cases.h"
#ifdef GOLFRT_WITH_CUDA
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/runtime_api.h"
#endif

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

#ifdef GOLFRT_WITH_CUDA
// ---- the direct path: bf16 storage (DESIGN §3) -------------------------------------------------
// q, k, v, dy stored in bf16 in the graph's [B, T, heads, hd] layout and read in place; y, dq, dk,
// dv stored in bf16 (each the fp32 result rounded once); lse fp32. Called through the kernel entry
// points (the storage pass that gives the backend bf16 values is another helper's). The reference:
// kernels/cpu's attention on the same bf16 values, its outputs rounded to bf16 as the stored ones
// are, its backward fed the bf16-rounded y (the kernel's D = dO·y reads the stored bf16 y). Limits
// as above: kNmseTc over the rounded reference (rounding the output adds ≈ 1.3e-6 on both sides),
// kNmseTcFloor under it, lse within fp32 rounding.

// A host array on the device for the test's lifetime.
struct DeviceBuffer {
  void* p = nullptr;
  size_t bytes = 0;
  explicit DeviceBuffer(size_t n) : p(cuda::device_alloc(n)), bytes(n) {}
  template <class T> explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size() * sizeof(T)) {
    cuda::copy_to_device(p, host.data(), bytes);
  }
  ~DeviceBuffer() { cuda::device_free(p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <class T> std::vector<T> read() const {
    std::vector<T> host(bytes / sizeof(T));
    cuda::copy_to_host(host.data(), p, bytes);
    return host;
  }
};

std::vector<uint16_t> to_bf16_bits(const std::vector<float>& x) {
  std::vector<uint16_t> r(x.size());
  for (size_t i = 0; i < x.size(); i++) r[i] = f32_to_bf16(x[i]);
  return r;
}
std::vector<float> widened(const std::vector<uint16_t>& x) {
  std::vector<float> r(x.size());
  for (size_t i = 0; i < x.size(); i++) r[i] = bf16_to_f32(x[i]);
  return r;
}
std::vector<float> rounded(std::vector<float> x) {
  for (float& e : x) e = bf16_to_f32(f32_to_bf16(e));
  return x;
}
double nmse(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); i++) {
    const double d = double(got[i]) - double(want[i]);
    num += d * d, den += double(want[i]) * double(want[i]);
  }
  return num / std::max(den, 1e-30);
}

struct DirectResult {
  std::vector<uint16_t> y, dq, dk, dv;
  std::vector<float> lse;
};

class CudaAttentionTcDirect : public ::testing::TestWithParam<Shape5> {
 protected:
  void make_inputs() {
    const Shape5& s = GetParam();
    Rng rng(uint64_t(s.t * 977 + s.hd));
    auto normal = [&](int64_t n) {
      std::vector<float> x(static_cast<size_t>(n));
      for (float& e : x) e = bf16_to_f32(f32_to_bf16(float(rng.normal())));
      return x;
    };
    nq = s.b * s.t * s.h * s.hd, nkv = s.b * s.t * s.hkv * s.hd;
    q = normal(nq), k = normal(nkv), v = normal(nkv), dy = normal(nq);
  }
  DirectResult run_direct() const {
    const Shape5& s = GetParam();
    DeviceBuffer qd(to_bf16_bits(q)), kd(to_bf16_bits(k)), vd(to_bf16_bits(v)), dyd(to_bf16_bits(dy));
    DeviceBuffer y(size_t(nq) * 2), lse(size_t(s.b * s.h * s.t) * 4), dq(size_t(nq) * 2), dk(size_t(nkv) * 2),
        dv(size_t(nkv) * 2);
    cuda::attention_tc(s.b, s.t, s.h, s.hkv, s.hd, s.scale, false, {qd.p, true}, {kd.p, true}, {vd.p, true},
                       {y.p, true}, static_cast<float*>(lse.p));
    cuda::attention_tc_backward(s.b, s.t, s.h, s.hkv, s.hd, s.scale, false, {qd.p, true}, {kd.p, true},
                                {vd.p, true}, {y.p, true}, static_cast<const float*>(lse.p), {dyd.p, true},
                                {dq.p, true}, {dk.p, true}, {dv.p, true});
    cuda::synchronize();
    return {y.read<uint16_t>(), dq.read<uint16_t>(), dk.read<uint16_t>(), dv.read<uint16_t>(), lse.read<float>()};
  }
  int64_t nq = 0, nkv = 0;
  std::vector<float> q, k, v, dy;
};

TEST_P(CudaAttentionTcDirect, bf16_storage_matches_the_cpu) {
  GOLF_SKIP_WITHOUT_CUDA();
  make_inputs();
  const Shape5& s = GetParam();
  const DirectResult got = run_direct();
  std::vector<float> y(static_cast<size_t>(nq)), lse(static_cast<size_t>(s.b * s.h * s.t)), dq(y), dk(static_cast<size_t>(nkv)), dv(dk);
  cpu::attention<float>(s.b, s.t, s.h, s.hkv, s.hd, s.scale, false, q.data(), k.data(), v.data(), y.data(),
                        lse.data());
  std::vector<float> y16 = rounded(y);
  cpu::attention_backward<float>(s.b, s.t, s.h, s.hkv, s.hd, s.scale, false, q.data(), k.data(), v.data(),
                                 y16.data(), lse.data(), dy.data(), dq.data(), dk.data(), dv.data());
  EXPECT_LT(nmse(got.lse, lse), kNmseF32) << "lse";
  for (auto [name, g, want] : {std::tuple{"y", &got.y, &y16}, std::tuple{"dq", &got.dq, &dq},
                               std::tuple{"dk", &got.dk, &dk}, std::tuple{"dv", &got.dv, &dv}}) {
    const double e = nmse(widened(*g), rounded(*want));
    EXPECT_LT(e, kNmseTc) << name;
    EXPECT_GT(e, kNmseTcFloor) << name << ": no bf16 rounding left a trace";
  }
}

// The direct forward's y is the pack path's (fp32 inputs of the same values: the same bf16 operands
// and arithmetic) rounded once; reruns of the direct path are bit-identical.
TEST_P(CudaAttentionTcDirect, equals_the_pack_path_rounded_and_reruns_bit_identical) {
  GOLF_SKIP_WITHOUT_CUDA();
  make_inputs();
  const Shape5& s = GetParam();
  const DirectResult first = run_direct(), second = run_direct();
  EXPECT_EQ(first.y, second.y);
  EXPECT_EQ(first.dq, second.dq);
  EXPECT_EQ(first.dk, second.dk);
  EXPECT_EQ(first.dv, second.dv);
  EXPECT_EQ(std::memcmp(first.lse.data(), second.lse.data(), first.lse.size() * 4), 0);
  DeviceBuffer qd(q), kd(k), vd(v), y(size_t(nq) * 4), lse(size_t(s.b * s.h * s.t) * 4);
  cuda::attention_tc(s.b, s.t, s.h, s.hkv, s.hd, s.scale, false, {qd.p, false}, {kd.p, false}, {vd.p, false},
                     {y.p, false}, static_cast<float*>(lse.p));
  const std::vector<float> y32 = y.read<float>();
  EXPECT_EQ(to_bf16_bits(y32), first.y) << "the direct y is not the pack path's rounded once";
  EXPECT_EQ(std::memcmp(lse.read<float>().data(), first.lse.data(), first.lse.size() * 4), 0) << "lse";
}

// The baseline's shape at B·H = 512 (T a multiple of the tile), and T = 1000 (a 40-row tail tile) at
// hd 128 and 32 with GQA 4:1.
INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaAttentionTcDirect,
    ::testing::Values(Shape5{64, 1024, 8, 4, 64, 0.125, false, "baseline_bh512"},
                      Shape5{4, 1000, 8, 2, 128, 0.088, false, "t1000_hd128"},
                      Shape5{3, 1000, 4, 1, 32, 0.18, false, "t1000_hd32_mqa"}),
    [](const ::testing::TestParamInfo<Shape5>& i) { return i.param.name; });
#endif  // GOLFRT_WITH_CUDA

// What the tensor-core entry points refuse, before touching the device (fake pointers, 16-byte
// aligned): mixed storage among q, k, v; bf16 inputs at a head dim that needs the pack; bf16 with
// XSA; a bf16 y with XSA; dy stored unlike q, k, v.
TEST(CudaAttentionTcDirectErrors, refused_combinations_name_the_reason) {
#ifndef GOLFRT_WITH_CUDA
  GTEST_SKIP() << "golfrt was built without CUDA";
#else
  alignas(16) static char fake[64];
  const cuda::Real f32{fake, false}, b16{fake, true};
  const cuda::RealOut o32{fake, false}, o16{fake, true};
  float* lse = reinterpret_cast<float*>(fake);
  auto fwd = [&](int64_t hd, bool xsa, cuda::Real q, cuda::Real k, cuda::Real v, cuda::RealOut y) {
    return error_of([&] { cuda::attention_tc(1, 8, 2, 1, hd, 0.1, xsa, q, k, v, y, lse); });
  };
  auto bwd = [&](bool xsa, cuda::Real qkv, cuda::Real y, cuda::Real dy) {
    return error_of([&] {
      cuda::attention_tc_backward(1, 8, 2, 1, 64, 0.1, xsa, qkv, qkv, qkv, y, lse, dy, o32, o32, o32);
    });
  };
  EXPECT_NE(fwd(64, false, b16, f32, b16, o16).find("q, k, v are stored as bf16, fp32, bf16"), std::string::npos);
  EXPECT_NE(fwd(40, false, b16, b16, b16, o16).find("head dim 40"), std::string::npos);
  EXPECT_NE(fwd(64, true, b16, b16, b16, o32).find("with XSA"), std::string::npos);
  EXPECT_NE(fwd(64, true, f32, f32, f32, o16).find("a bf16 y with XSA"), std::string::npos);
  EXPECT_NE(bwd(false, b16, b16, f32).find("dy is stored as fp32 but q, k, v as bf16"), std::string::npos);
  EXPECT_NE(bwd(false, f32, f32, b16).find("dy is stored as bf16 but q, k, v as fp32"), std::string::npos);
  EXPECT_NE(bwd(true, f32, b16, f32).find("a bf16 y with XSA"), std::string::npos);
  const cuda::Real odd{fake + 2, true};
  EXPECT_NE(fwd(64, false, b16, odd, b16, o16).find("k is not 16-byte aligned"), std::string::npos);
#endif
}

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
