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
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
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

template <int HDP> void run_case(const Case& c) {
  ASSERT_EQ(cuda::tc_head_dim(c.hd), HDP);
  std::mt19937 rng(uint32_t(c.t * 7 + c.hd));
  std::normal_distribution<float> normal;
  auto bf16_normal = [&](int64_t n) {
    Vec x(static_cast<size_t>(n));
    for (float& e : x) e = emu::bf16_value(emu::bf16_bits(normal(rng)));
    return x;
  };
  Vec q = bf16_normal(c.b * c.t * c.h * c.hd), k = bf16_normal(c.b * c.t * c.hkv * c.hd);
  Vec v = bf16_normal(c.b * c.t * c.hkv * c.hd), dy = bf16_normal(c.b * c.t * c.h * c.hd);
  const int64_t tp = cuda::tc_rows(c.t), tiles = tp / cuda::kTcTile;
  // NaN-filled: the pack must write the padding too.
  std::vector<emu::bf16> qp(size_t(c.b * c.h * tp * HDP), emu::bf16{0x7fc0}), kp(size_t(c.b * c.hkv * tp * HDP), emu::bf16{0x7fc0});
  std::vector<emu::bf16> vp(kp), dop(qp);
  emu::Pack p{};
  p.n = 4, p.b = c.b, p.t = c.t, p.tp = tp, p.hd = c.hd, p.hdp = HDP;
  const float* src[4] = {q.data(), k.data(), v.data(), dy.data()};
  emu::bf16* dst[4] = {qp.data(), kp.data(), vp.data(), dop.data()};
  const int64_t heads[4] = {c.h, c.hkv, c.hkv, c.h};
  for (int i = 0; i < 4; i++) p.src[i] = src[i], p.dst[i] = dst[i], p.heads[i] = heads[i];
  emu::launch({3, 4}, 64, 0, [&] { emu::pack_kernel(p); });

  const float scale_log2 = float(c.scale * double(emu::kLog2e));
  Vec y(q.size(), NAN), lse(size_t(c.b * c.h * c.t), NAN);
  const size_t smem = size_t(2 * cuda::kTcTile * (HDP + emu::kPad)) * 2;
  emu::TcFwd f{c.t, tp, c.h, c.hkv, c.hd, scale_log2, qp.data(), kp.data(), vp.data(), y.data(), lse.data()};
  emu::launch({unsigned(tiles), unsigned(c.b * c.h)}, emu::kTcThreads, smem, [&] { emu::tc_forward_kernel<HDP>(f); });
  if (c.xsa) {
    const int64_t rows = c.b * c.t * c.h;
    emu::launch({unsigned((rows + 7) / 8), 1}, 256, 0, [&] { emu::xsa_kernel(rows, c.h, c.hkv, c.hd, v.data(), y.data()); });
  }
  const Reference r = reference(c, q, k, v, dy);
  EXPECT_LT(nmse(y, r.y), kLimit) << "y";
  EXPECT_GT(nmse(y, r.y), 1e-9) << "y: no trace of bf16 P";
  EXPECT_LT(nmse(lse, r.lse), 1e-10) << "lse";
  if (c.xsa) return;  // the XSA backward's own kernels are attention.cu's, checked against the CPU on a device

  // D = dO·o per row, as attention.cu's prep kernel computes it (from the kernel's own y).
  Vec d_row(size_t(c.b * c.h * c.t));
  for (int64_t bi = 0; bi < c.b; bi++)
    for (int64_t i = 0; i < c.t; i++)
      for (int64_t hi = 0; hi < c.h; hi++) {
        double s = 0;
        const int64_t at = ((bi * c.t + i) * c.h + hi) * c.hd;
        for (int64_t d = 0; d < c.hd; d++) s += double(dy[at + d]) * double(y[at + d]);
        d_row[(bi * c.h + hi) * c.t + i] = float(s);
      }
  Vec dq(q.size(), NAN), dk(k.size(), NAN), dv(v.size(), NAN);
  emu::TcBwd w{c.t, tp, c.h, c.hkv, c.hd, float(c.scale), scale_log2, qp.data(), kp.data(), vp.data(), dop.data(),
               lse.data(), d_row.data(), nullptr, dq.data(), dk.data(), dv.data()};
  emu::launch({unsigned(tiles), unsigned(c.b * c.h)}, emu::kTcThreads, smem, [&] { emu::tc_dq_kernel<HDP>(w); });
  emu::launch({unsigned(tiles), unsigned(c.b * c.hkv)}, emu::kTcThreads, smem + 2 * cuda::kTcTile * 4,
              [&] { emu::tc_dkdv_kernel<HDP>(w); });
  for (auto [name, got, want] : {std::tuple{"dq", &dq, &r.dq}, std::tuple{"dk", &dk, &r.dk}, std::tuple{"dv", &dv, &r.dv}}) {
    EXPECT_LT(nmse(*got, *want), kLimit) << name;
    EXPECT_GT(nmse(*got, *want), 1e-9) << name << ": no trace of bf16 P or dS";
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

}  // namespace
}  // namespace golf
