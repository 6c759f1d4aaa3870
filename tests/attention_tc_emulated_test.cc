// The tensor-core attention's kernels (kernels/cuda/attention_tc_kernels.cuh), compiled for the
// host against tests/support/cuda_emulation.h and run on the CPU: pack, forward, XSA, dq and dk/dv
// against a naive double-precision reference on the same bf16-rounded inputs. Needs no GPU, so the
// kernels' tiling, masks, padding (T and hd off the tile sizes), GQA head mapping, online softmax
// and fragment bookkeeping are checked on every machine; cuda_attention_tc_test.cc checks the
// compiled kernels on a device at the real shapes.
//
// Limits as cuda_attention_tc_test.cc: bf16 P and dS put the normalized MSE near 1e-6 (measured
// 0.6–3.5e-6 here), the limit is 3e-5, and an indexing or mask error lands near 1. A changed mask
// (key ≥ row instead of key > row in the forward) fails it: checked by hand when it was written.
//
// The direct path (bf16 q, k, v, dy read in place from the graph's layout, bf16 outputs: the
// direct_bf16_* cases) was checked by hand to fail on each of: the tile loads' row mask removed,
// the fragment loads' row mask removed, the forward's tail-row store guard removed (each a read or
// write into the page after a tensor: the test crashes), a bf16 pair stored in swapped order
// (thousands of elements not the fp32 result rounded once), and the prep widening bf16 wrongly
// (dq, dk differ from the pack path; normalized MSE 0.19).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cuda/attention_layout.h"
#include "tests/support/cuda_emulation.h"

#define GOLF_UNROLL

namespace golf::cuda_emulation {
namespace {
using golf::cuda::kTcTile;
#include "kernels/cuda/attention_tc_kernels.cuh"
}  // namespace
}  // namespace golf::cuda_emulation

namespace golf {
namespace {

namespace emu = cuda_emulation;
using Vec = std::vector<float>;
using Dbl = std::vector<double>;

constexpr double kLimit = 3e-5;

struct Case {
  int64_t b, t, h, hkv, hd;
  double scale;
  bool xsa;
  std::string name;
};

struct Reference {
  Dbl y, lse, dq, dk, dv;
};

// Causal GQA attention by its definition, in double ([B, T, heads, hd]); the backward without XSA.
Reference reference(const Case& c, const Vec& q, const Vec& k, const Vec& v, const Vec& dy) {
  Reference r;
  const int64_t b = c.b, t = c.t, h = c.h, hkv = c.hkv, hd = c.hd, grp = h / hkv;
  r.y.assign(q.size(), 0), r.lse.assign(b * h * t, 0), r.dq.assign(q.size(), 0);
  r.dk.assign(k.size(), 0), r.dv.assign(v.size(), 0);
  for (int64_t bi = 0; bi < b; bi++)
    for (int64_t hi = 0; hi < h; hi++) {
      const int64_t g = hi / grp;
      auto at_q = [&](int64_t i) { return ((bi * t + i) * h + hi) * hd; };
      auto at_kv = [&](int64_t j) { return ((bi * t + j) * hkv + g) * hd; };
      for (int64_t i = 0; i < t; i++) {
        Dbl s(size_t(i + 1)), o(size_t(hd), 0.0);
        double m = -INFINITY, l = 0;
        for (int64_t j = 0; j <= i; j++) {
          double a = 0;
          for (int64_t d = 0; d < hd; d++) a += double(q[at_q(i) + d]) * double(k[at_kv(j) + d]);
          s[j] = a * c.scale, m = std::max(m, s[j]);
        }
        for (int64_t j = 0; j <= i; j++) l += s[j] = std::exp(s[j] - m);
        for (int64_t j = 0; j <= i; j++) {
          s[j] /= l;
          for (int64_t d = 0; d < hd; d++) o[d] += s[j] * double(v[at_kv(j) + d]);
        }
        r.lse[(bi * h + hi) * t + i] = m + std::log(l);
        for (int64_t d = 0; d < hd; d++) r.y[at_q(i) + d] = o[d];
        if (c.xsa) {
          double nn = 0, ov = 0;
          for (int64_t d = 0; d < hd; d++) nn += double(v[at_kv(i) + d]) * double(v[at_kv(i) + d]);
          nn = std::max(std::sqrt(nn), 1e-12);
          for (int64_t d = 0; d < hd; d++) ov += o[d] * double(v[at_kv(i) + d]) / nn;
          for (int64_t d = 0; d < hd; d++) r.y[at_q(i) + d] = o[d] - ov * double(v[at_kv(i) + d]) / nn;
          continue;
        }
        double D = 0;
        for (int64_t d = 0; d < hd; d++) D += double(dy[at_q(i) + d]) * o[d];
        for (int64_t j = 0; j <= i; j++) {
          double dp = 0;
          for (int64_t d = 0; d < hd; d++) dp += double(dy[at_q(i) + d]) * double(v[at_kv(j) + d]);
          const double ds = s[j] * (dp - D);
          for (int64_t d = 0; d < hd; d++) {
            r.dq[at_q(i) + d] += c.scale * ds * double(k[at_kv(j) + d]);
            r.dk[at_kv(j) + d] += c.scale * ds * double(q[at_q(i) + d]);
            r.dv[at_kv(j) + d] += s[j] * double(dy[at_q(i) + d]);
          }
        }
      }
    }
  return r;
}

double nmse(const Vec& got, const Dbl& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); i++) {
    const double d = double(got[i]) - want[i];
    num += d * d, den += want[i] * want[i];
  }
  return num / std::max(den, 1e-30);
}

// The reference as a bf16 output would hold it: each element rounded once.
Dbl rounded(const Dbl& x) {
  Dbl r(x.size());
  for (size_t i = 0; i < x.size(); i++) r[i] = emu::bf16_value(emu::bf16_bits(float(x[i])));
  return r;
}

// n elements that end where an inaccessible page begins: a read or write past the graph's tensor
// (a row at or past T of the last batch that a mask or a store guard let through) crashes the
// test instead of touching whatever follows.
template <class T> class Guarded {
 public:
  Guarded(size_t n, T fill) : n_(n) {
    const size_t page = size_t(sysconf(_SC_PAGESIZE)), bytes = n * sizeof(T);
    len_ = (bytes + page - 1) / page * page + page;
    map_ = mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map_ == MAP_FAILED) throw std::runtime_error("mmap failed");
    char* end = static_cast<char*>(map_) + len_ - page;
    if (mprotect(end, page, PROT_NONE) != 0) throw std::runtime_error("mprotect failed");
    data_ = reinterpret_cast<T*>(end - bytes);
    std::fill(data_, data_ + n, fill);
  }
  ~Guarded() { munmap(map_, len_); }
  Guarded(const Guarded&) = delete;
  Guarded& operator=(const Guarded&) = delete;
  T* data() const { return data_; }
  size_t size() const { return n_; }

 private:
  size_t n_, len_ = 0;
  void* map_ = nullptr;
  T* data_ = nullptr;
};

// bf16 values in the graph's layout, guarded.
struct GuardedBf16 : Guarded<emu::bf16> {
  explicit GuardedBf16(const Vec& x) : Guarded<emu::bf16>(x.size(), emu::bf16{0}) {
    for (size_t i = 0; i < x.size(); i++) data()[i] = emu::bf16{emu::bf16_bits(x[i])};
  }
};

// One output array, fp32 or bf16, guarded and NaN-filled so an element left unwritten shows.
struct OutArray {
  bool bf16;
  Guarded<float> f;
  Guarded<emu::bf16> h;
  OutArray(size_t n, bool as_bf16) : bf16(as_bf16), f(as_bf16 ? 0 : n, NAN), h(as_bf16 ? n : 0, emu::bf16{0x7fc0}) {}
  emu::TcOut out() { return emu::TcOut{bf16 ? static_cast<void*>(h.data()) : static_cast<void*>(f.data()), bf16}; }
  const void* p() const { return bf16 ? static_cast<const void*>(h.data()) : static_cast<const void*>(f.data()); }
  Vec values() const {
    if (!bf16) return Vec(f.data(), f.data() + f.size());
    Vec r(h.size());
    for (size_t i = 0; i < h.size(); i++) r[i] = emu::bf16_value(h.data()[i].bits);
    return r;
  }
};

struct Outputs {
  Vec y, lse, dq, dk, dv;
};

// Operands as the kernels read them, and where the backward's dO comes from.
struct Operands {
  emu::TcOperand q, k, v, dout;
  const void* dy;  // the prep's dO: fp32 (pack path) or bf16 (direct path) in [B, T, H, hd]
  bool dy_bf16;
};

// The forward, then (without XSA) the prep, dq and dk/dv, as attention_tc.cu launches them.
template <int HDP>
Outputs run_kernels(const Case& c, const Operands& in, const Vec& v_fp32, bool y_bf16, bool grads_bf16) {
  const int64_t tiles = cuda::tc_rows(c.t) / cuda::kTcTile, nq = c.b * c.t * c.h * c.hd, nkv = c.b * c.t * c.hkv * c.hd;
  const float scale_log2 = float(c.scale * double(emu::kLog2e));
  OutArray y(size_t(nq), y_bf16);
  Vec lse(size_t(c.b * c.h * c.t), NAN);
  const size_t smem = size_t(2 * cuda::kTcTile * (HDP + emu::kPad)) * 2;
  emu::TcFwd f{c.t, c.h, c.hkv, c.hd, scale_log2, in.q, in.k, in.v, y.out(), lse.data()};
  emu::launch({unsigned(tiles), unsigned(c.b * c.h)}, emu::kTcThreads, smem, [&] { emu::tc_forward_kernel<HDP>(f); });
  const int64_t rows = c.b * c.t * c.h;
  if (c.xsa)
    emu::launch({unsigned((rows + 7) / 8), 1}, 256, 0, [&] { emu::xsa_kernel(rows, c.h, c.hkv, c.hd, v_fp32.data(), y.f.data()); });
  Outputs r{y.values(), lse, {}, {}, {}};
  if (c.xsa) return r;  // the XSA backward's own kernels are attention.cu's, checked against the CPU on a device

  Vec d_row(size_t(c.b * c.h * c.t), NAN);
  // A few blocks: the prep strides over the rows (a CUDA thread costs a std::thread here).
  emu::launch({3, 1}, 256, 0,
              [&] { emu::tc_prep_kernel(rows, c.t, c.h, c.hd, y.p(), y.bf16, in.dy, in.dy_bf16, d_row.data()); });
  OutArray dq(size_t(nq), grads_bf16), dk(size_t(nkv), grads_bf16), dv(size_t(nkv), grads_bf16);
  emu::TcBwd w{c.t, c.h, c.hkv, c.hd, float(c.scale), scale_log2, in.q, in.k, in.v, in.dout,
               lse.data(), d_row.data(), nullptr, dq.out(), dk.out(), dv.out()};
  emu::launch({unsigned(tiles), unsigned(c.b * c.h)}, emu::kTcThreads, smem, [&] { emu::tc_dq_kernel<HDP>(w); });
  emu::launch({unsigned(tiles), unsigned(c.b * c.hkv)}, emu::kTcThreads, smem + 2 * cuda::kTcTile * 4,
              [&] { emu::tc_dkdv_kernel<HDP>(w); });
  r.dq = dq.values(), r.dk = dk.values(), r.dv = dv.values();
  return r;
}

struct Inputs {
  Vec q, k, v, dy;  // bf16 values, [B, T, heads, hd]
};
Inputs bf16_inputs(const Case& c) {
  std::mt19937 rng(uint32_t(c.t * 7 + c.hd));
  std::normal_distribution<float> normal;
  auto bf16_normal = [&](int64_t n) {
    Vec x(static_cast<size_t>(n));
    for (float& e : x) e = emu::bf16_value(emu::bf16_bits(normal(rng)));
    return x;
  };
  Inputs in;
  in.q = bf16_normal(c.b * c.t * c.h * c.hd), in.k = bf16_normal(c.b * c.t * c.hkv * c.hd);
  in.v = bf16_normal(c.b * c.t * c.hkv * c.hd), in.dy = bf16_normal(c.b * c.t * c.h * c.hd);
  return in;
}

// The pack path: fp32 inputs packed to bf16 [B, heads, Tp, HDP] (NaN-filled first: the pack must
// write its padding too), then the kernels.
template <int HDP> Outputs run_packed(const Case& c, const Inputs& in, bool y_bf16 = false, bool grads_bf16 = false) {
  const int64_t tp = cuda::tc_rows(c.t);
  std::vector<emu::bf16> qp(size_t(c.b * c.h * tp * HDP), emu::bf16{0x7fc0}), kp(size_t(c.b * c.hkv * tp * HDP), emu::bf16{0x7fc0});
  std::vector<emu::bf16> vp(kp), dop(qp);
  emu::Pack p{};
  p.n = 4, p.b = c.b, p.t = c.t, p.tp = tp, p.hd = c.hd, p.hdp = HDP;
  const float* src[4] = {in.q.data(), in.k.data(), in.v.data(), in.dy.data()};
  emu::bf16* dst[4] = {qp.data(), kp.data(), vp.data(), dop.data()};
  const int64_t heads[4] = {c.h, c.hkv, c.hkv, c.h};
  for (int i = 0; i < 4; i++) p.src[i] = src[i], p.dst[i] = dst[i], p.heads[i] = heads[i];
  emu::launch({3, 4}, 64, 0, [&] { emu::pack_kernel(p); });
  // attention_tc.cu's packed(): [B, heads, Tp, HDP]
  auto packed = [&](const emu::bf16* x, int64_t n) { return emu::TcOperand{x, n * tp * HDP, tp * HDP, HDP}; };
  Operands ops{packed(qp.data(), c.h), packed(kp.data(), c.hkv), packed(vp.data(), c.hkv), packed(dop.data(), c.h),
               in.dy.data(), false};
  return run_kernels<HDP>(c, ops, in.v, y_bf16, grads_bf16);
}

// The direct path: bf16 q, k, v, dy read in place from [B, T, heads, hd] (attention_tc.cu's
// direct()), each ending at an inaccessible page.
template <int HDP> Outputs run_direct(const Case& c, const Inputs& in, bool y_bf16, bool grads_bf16) {
  GuardedBf16 q(in.q), k(in.k), v(in.v), dy(in.dy);
  auto direct = [&](const GuardedBf16& x, int64_t n) {
    return emu::TcOperand{x.data(), c.t * n * c.hd, c.hd, n * c.hd};
  };
  Operands ops{direct(q, c.h), direct(k, c.hkv), direct(v, c.hkv), direct(dy, c.h), dy.data(), true};
  return run_kernels<HDP>(c, ops, in.v, y_bf16, grads_bf16);
}

template <int HDP> void run_case(const Case& c) {
  ASSERT_EQ(cuda::tc_head_dim(c.hd), HDP);
  const Inputs in = bf16_inputs(c);
  const Outputs got = run_packed<HDP>(c, in);
  const Reference r = reference(c, in.q, in.k, in.v, in.dy);
  EXPECT_LT(nmse(got.y, r.y), kLimit) << "y";
  EXPECT_GT(nmse(got.y, r.y), 1e-9) << "y: no trace of bf16 P";
  EXPECT_LT(nmse(got.lse, r.lse), 1e-10) << "lse";
  if (c.xsa) return;
  for (auto [name, g, want] : {std::tuple{"dq", &got.dq, &r.dq}, std::tuple{"dk", &got.dk, &r.dk}, std::tuple{"dv", &got.dv, &r.dv}}) {
    EXPECT_LT(nmse(*g, *want), kLimit) << name;
    EXPECT_GT(nmse(*g, *want), 1e-9) << name << ": no trace of bf16 P or dS";
  }
}

bool same_bits(const Vec& a, const Vec& b) { return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0; }
// Every element of `got` (bf16 values) is `want` (fp32) rounded once to nearest even.
int64_t not_rounded_once(const Vec& got, const Vec& want) {
  int64_t bad = 0;
  for (size_t i = 0; i < want.size(); i++) bad += got[i] != emu::bf16_value(emu::bf16_bits(want[i]));
  return bad + int64_t(got.size() != want.size());
}

// The direct path (what the bf16-storage pass feeds the kernel): bf16 q, k, v, dy in the graph's
// layout read in place, with
//   fp32 outputs: bit for bit the pack path's (same bf16 operand values, same arithmetic), so the
//                 strides, masks and zero fill of the direct loads change nothing;
//   bf16 grads:   each the fp32 result rounded once (D from the fp32 y, as the pack path's);
//   bf16 y, grads: the training's storage (D from the bf16 y), against the double reference
//                 rounded to bf16, within the pack path's limit.
// T off the tile (a masked tail whose rows in the graph's layout belong to the next batch, or lie
// past the end: an inaccessible page there), GQA, two batches.
template <int HDP> void run_direct_case(const Case& c) {
  ASSERT_TRUE(cuda::tc_direct(c.hd));
  ASSERT_FALSE(c.xsa);
  const Inputs in = bf16_inputs(c);
  const Outputs packed = run_packed<HDP>(c, in);
  const Outputs f32 = run_direct<HDP>(c, in, false, false);
  for (auto [name, a, b] : {std::tuple{"y", &f32.y, &packed.y}, std::tuple{"lse", &f32.lse, &packed.lse},
                            std::tuple{"dq", &f32.dq, &packed.dq}, std::tuple{"dk", &f32.dk, &packed.dk},
                            std::tuple{"dv", &f32.dv, &packed.dv}})
    EXPECT_TRUE(same_bits(*a, *b)) << name << ": the direct path differs from the pack path";
  const Outputs grads16 = run_direct<HDP>(c, in, false, true);
  EXPECT_EQ(not_rounded_once(grads16.dq, f32.dq), 0) << "dq";
  EXPECT_EQ(not_rounded_once(grads16.dk, f32.dk), 0) << "dk";
  EXPECT_EQ(not_rounded_once(grads16.dv, f32.dv), 0) << "dv";

  const Outputs all16 = run_direct<HDP>(c, in, true, true);
  EXPECT_EQ(not_rounded_once(all16.y, f32.y), 0) << "y";
  EXPECT_TRUE(same_bits(all16.lse, f32.lse)) << "lse";
  const Reference r = reference(c, in.q, in.k, in.v, in.dy);
  EXPECT_LT(nmse(all16.lse, r.lse), 1e-10) << "lse";
  for (auto [name, g, want] : {std::tuple{"y", &all16.y, &r.y}, std::tuple{"dq", &all16.dq, &r.dq},
                               std::tuple{"dk", &all16.dk, &r.dk}, std::tuple{"dv", &all16.dv, &r.dv}}) {
    const double e = nmse(*g, rounded(*want));
    EXPECT_LT(e, kLimit) << name;
    EXPECT_GT(e, 1e-9) << name << ": no trace of bf16 P or dS";
  }
}

// bf16 outputs on the pack path (fp32 q, k, v; hd 40 padded to 64, so the stores stop at hd):
// y the fp32 y rounded once, and the gradients (D from that bf16 y) within the limit of the double
// reference rounded to bf16.
TEST(AttentionTcEmulated, pack_path_bf16_outputs_hd40) {
  const Case c{2, 70, 4, 2, 40, 0.3, false, ""};
  const Inputs in = bf16_inputs(c);
  const Outputs f32 = run_packed<64>(c, in), b16 = run_packed<64>(c, in, true, true);
  EXPECT_EQ(not_rounded_once(b16.y, f32.y), 0) << "y";
  const Reference r = reference(c, in.q, in.k, in.v, in.dy);
  for (auto [name, g, want] : {std::tuple{"dq", &b16.dq, &r.dq}, std::tuple{"dk", &b16.dk, &r.dk},
                               std::tuple{"dv", &b16.dv, &r.dv}}) {
    const double e = nmse(*g, rounded(*want));
    EXPECT_LT(e, kLimit) << name;
    EXPECT_GT(e, 1e-9) << name;
  }
}

// Three key tiles with a ragged last one, GQA 2:1 (the baseline's hd 64).
TEST(AttentionTcEmulated, ragged_tiles_gqa_hd64) { run_case<64>({1, 130, 2, 1, 64, 0.125, false, ""}); }
// T below one tile, two batches, KV heads shared by pairs.
TEST(AttentionTcEmulated, short_sequence_two_batches) { run_case<64>({2, 5, 4, 2, 64, 0.5, false, ""}); }
// hd 40 padded to 64, with and without XSA.
TEST(AttentionTcEmulated, hd40_padded) { run_case<64>({1, 70, 4, 2, 40, 0.3, false, ""}); }
TEST(AttentionTcEmulated, hd40_xsa_forward) { run_case<64>({1, 70, 4, 2, 40, 0.3, true, ""}); }
// The other instantiations: 32 (hd 20), 128 (hd 96 padded, and 128 exact), 256.
TEST(AttentionTcEmulated, hd20_in_the_32_kernel) { run_case<32>({1, 100, 2, 2, 20, 0.25, false, ""}); }
TEST(AttentionTcEmulated, hd128) { run_case<128>({1, 64, 2, 1, 128, 0.088, false, ""}); }
TEST(AttentionTcEmulated, hd96_xsa_forward) { run_case<128>({1, 100, 2, 2, 96, 0.1, true, ""}); }
TEST(AttentionTcEmulated, hd256) { run_case<256>({1, 40, 1, 1, 256, 0.0625, false, ""}); }

// The direct path at the baseline's hd 64 and GQA 2:1, T = 70 (a tail tile of 6 rows), two batches.
TEST(AttentionTcEmulated, direct_bf16_hd64_ragged_gqa) { run_direct_case<64>({2, 70, 4, 2, 64, 0.125, false, ""}); }
// T below one tile; one KV head for four query heads; the 32 kernel.
TEST(AttentionTcEmulated, direct_bf16_hd32_short_mqa) { run_direct_case<32>({2, 37, 4, 1, 32, 0.2, false, ""}); }
// The 128 kernel, T = 100 (tail 36 rows), GQA 2:1.
TEST(AttentionTcEmulated, direct_bf16_hd128) { run_direct_case<128>({1, 100, 2, 1, 128, 0.088, false, ""}); }

}  // namespace
}  // namespace golf
