// kernels/reduce_plan.h on the CPU: the CUDA sums (kernels/cuda/reduce.cu) walk exactly these
// groups, strides and chunks, so a sum computed here the way the kernels index it must equal the
// CPU kernel's, for every layout the plan distinguishes. The kernels themselves run only on a GPU
// (tests/cuda_real_shapes_test.cc); this pins the index arithmetic they share with the ledger.
#include "kernels/reduce_plan.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"

namespace golf::kernels {
namespace {

int64_t offset_of(int64_t i, const std::vector<ReduceGroup>& groups) {
  int64_t off = 0;
  for (int g = int(groups.size()) - 1; g >= 0; --g) {
    off += (i % groups[size_t(g)].size) * groups[size_t(g)].stride;
    i /= groups[size_t(g)].size;
  }
  return off;
}

// The kernels' two passes, sequentially: partials per (chunk, output), then each output's chunks.
std::vector<double> planned_sum(const ReducePlan& p, const std::vector<double>& x) {
  std::vector<double> part(size_t(p.chunks * p.out_n)), out(size_t(p.out_n));
  for (int64_t c = 0; c < p.chunks; c++)
    for (int64_t o = 0; o < p.out_n; o++) {
      const int64_t base = offset_of(o, p.kept), lo = c * p.per_chunk, hi = std::min(lo + p.per_chunk, p.red_n);
      double s = 0;
      for (int64_t r = lo; r < hi; r++) s += x[size_t(base + offset_of(r, p.red))];
      part[size_t(c * p.out_n + o)] = s;
    }
  for (int64_t o = 0; o < p.out_n; o++)
    for (int64_t c = 0; c < p.chunks; c++) out[size_t(o)] += part[size_t(c * p.out_n + o)];
  return out;
}

TEST(ReducePlan, the_kernels_indexing_sums_what_the_cpu_sums) {
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{4096, 24}, {1, 24}},          // column sums: outer, split
      {{24, 4096}, {24, 1}},          // row sums: inner, split (24 outputs cannot fill the GPU)
      {{300000}, {1}},                // everything into one: inner, split
      {{6, 50, 7, 9}, {1, 1, 7, 1}},  // kept middle axis: inner (the last axis is reduced)
      {{6, 50, 7, 9}, {6, 1, 7, 1}},  // alternating groups
      {{6, 50, 7, 9}, {1, 50, 1, 9}}, // alternating, outer
      {{5, 1, 3}, {5, 1, 1}},         // a size-1 axis merged away
      {{70001, 3}, {1, 3}},           // a ragged last chunk
  };
  for (const auto& [in, out] : cases) {
    const ReducePlan p = reduce_plan(in, out);
    std::vector<double> x(size_t(numel(in)));
    for (size_t i = 0; i < x.size(); i++) x[i] = std::sin(double(i) * 0.37) + double(i % 7);
    std::vector<double> want(size_t(numel(out)));
    cpu::reduce_sum<double>(in, x.data(), out, want.data());
    const std::vector<double> got = planned_sum(p, x);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); i++)
      ASSERT_NEAR(got[i], want[i], 1e-9 * std::max(1.0, std::abs(want[i]))) << dims_str(in) << " -> " << dims_str(out) << " output " << i;
    EXPECT_GE(p.chunks, 1);
    EXPECT_LE((p.chunks - 1) * p.per_chunk, p.red_n - 1) << "no empty chunk";
    EXPECT_GE(p.chunks * p.per_chunk, p.red_n) << "every term in a chunk";
  }
}

TEST(ReducePlan, few_outputs_are_split_to_fill_the_gpu_and_many_are_not) {
  const ReducePlan col = reduce_plan({65536, 512}, {1, 512});
  EXPECT_FALSE(col.inner);
  EXPECT_GE(col.out_n * col.chunks * 100, kReduceTargetThreads * 95) << "within rounding of the chunk size";
  EXPECT_EQ(col.launches(), 2);
  const ReducePlan rows = reduce_plan({65536, 512}, {65536, 1});
  EXPECT_TRUE(rows.inner);
  EXPECT_EQ(rows.chunks, 1);
  EXPECT_EQ(rows.launches(), 1);
  EXPECT_EQ(rows.scratch_bytes(), 0);
  // Short sums are never split below the least terms per thread or warp.
  const ReducePlan tiny = reduce_plan({40, 8}, {1, 8});
  EXPECT_EQ(tiny.chunks, 1);
  EXPECT_EQ(reduce_plan({0, 8}, {1, 8}).launches(), 1) << "an empty input is a fill";
  EXPECT_EQ(reduce_plan({4, 0}, {4, 0}).launches(), 0) << "no outputs, nothing launched";
}

}  // namespace
}  // namespace golf::kernels
