// How kernels/cuda/reduce.cu splits a sum over axes into work, as plain host code: the CUDA
// kernels follow it, and runtime/device_ledger.cc counts launches and scratch from the same plan.
//
// The input's axes are merged into groups that are all kept or all reduced. Two layouts:
// - inner: the innermost group is reduced (row sums): a warp reads consecutive terms;
// - outer: the innermost group is kept (column sums, bias gradients): a thread per output reads
//   down its column, its neighbours the next columns, so a warp's loads are consecutive.
// Either way each output's terms are split into `chunks` equal ranges when there are too few
// outputs to fill the GPU; the first pass writes one double per (chunk, output) and a second sums
// each output's chunks in order. The split depends on the shapes alone (not on the device), so a
// sum is bit-identical run to run and across GPUs; no atomics.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/dims.h"

namespace golf::kernels {

constexpr int kReduceMaxGroups = 8;

// Work sized for an H100/H200 (132 SMs): 2,048 resident threads (64 warps) per SM.
constexpr int64_t kReduceTargetThreads = 132 * 2048;
constexpr int64_t kReduceTargetWarps = 132 * 64;
// The least terms one thread (outer) or one warp (inner) sums in a chunk, so that a split never
// makes the partials' traffic comparable to the input's.
constexpr int64_t kReduceMinThreadTerms = 32;
constexpr int64_t kReduceMinWarpTerms = 256;

struct ReduceGroup {
  int64_t size, stride;  // stride in input elements
};

struct ReducePlan {
  int64_t out_n = 0, red_n = 0;
  std::vector<ReduceGroup> kept, red;  // outermost first
  bool inner = false;                  // the innermost group is reduced
  int64_t chunks = 1, per_chunk = 0;   // terms per chunk (the last may have fewer)
  int launches() const { return out_n == 0 ? 0 : chunks > 1 ? 2 : 1; }
  int64_t scratch_bytes() const { return chunks > 1 ? chunks * out_n * int64_t(sizeof(double)) : 0; }
};

// in_dims and out_dims have the same rank; each out axis is the input's or 1 (checked by the caller).
inline ReducePlan reduce_plan(const Dims& in_dims, const Dims& out_dims) {
  ReducePlan p;
  p.out_n = numel(out_dims);
  const int64_t in_n = numel(in_dims);
  if (p.out_n == 0) return p;
  p.red_n = in_n / p.out_n;
  if (in_n == 0) return p;  // a fill of zeros, one launch
  // Groups, innermost first while building.
  struct G {
    int64_t size, stride;
    bool reduced;
  };
  std::vector<G> rev;
  int64_t stride = 1;
  for (int r = int(in_dims.size()) - 1; r >= 0; --r) {
    const int64_t d = in_dims[size_t(r)];
    if (d != 1) {
      const bool reduced = out_dims[size_t(r)] == 1;
      if (!rev.empty() && rev.back().reduced == reduced && rev.back().stride * rev.back().size == stride)
        rev.back().size *= d;
      else
        rev.push_back({d, stride, reduced});
    }
    stride *= d;
  }
  for (auto it = rev.rbegin(); it != rev.rend(); ++it) {
    auto& list = it->reduced ? p.red : p.kept;
    if (int(list.size()) == kReduceMaxGroups)
      throw std::invalid_argument(std::string("reduce_sum: more than 8 ") + (it->reduced ? "reduced" : "kept") +
                                  " axis groups in " + dims_str(in_dims) + " -> " + dims_str(out_dims));
    list.push_back({it->size, it->stride});
  }
  p.inner = !rev.empty() && rev.front().reduced;
  const int64_t target = p.inner ? kReduceTargetWarps : kReduceTargetThreads;
  const int64_t min_terms = p.inner ? kReduceMinWarpTerms : kReduceMinThreadTerms;
  int64_t chunks = (target + p.out_n - 1) / p.out_n;
  const int64_t most = p.red_n / min_terms;
  if (chunks > most) chunks = most;
  if (chunks < 1) chunks = 1;
  p.per_chunk = (p.red_n + chunks - 1) / chunks;
  p.chunks = (p.red_n + p.per_chunk - 1) / p.per_chunk;  // no empty chunk
  return p;
}

}  // namespace golf::kernels
