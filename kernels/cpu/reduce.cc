#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/dims.h"

namespace golf::cpu {
namespace {

constexpr int64_t kParallelMin = 32768;

using kernels::numel;

// A run of adjacent axes that are all reduced or all kept, merged into one.
struct Group {
  int64_t size;
  bool reduced;
};

// Adds x (the dense block spanned by `groups`) into acc (its kept axes only), in increasing
// input offset order.
template <class T> void accumulate(const Group* groups, int64_t ng, const T* x, double* acc) {
  if (ng == 0) {
    acc[0] += x[0];
    return;
  }
  const Group& g = groups[0];
  if (ng == 1) {
    if (g.reduced) {
      // A local keeps the sum in a register; the sequence of additions is unchanged.
      double s = acc[0];
      for (int64_t i = 0; i < g.size; ++i) s += x[i];
      acc[0] = s;
    } else {
      for (int64_t i = 0; i < g.size; ++i) acc[i] += x[i];
    }
    return;
  }
  int64_t in_stride = 1, out_stride = 1;
  for (int64_t r = 1; r < ng; ++r) {
    in_stride *= groups[r].size;
    if (!groups[r].reduced) out_stride *= groups[r].size;
  }
  for (int64_t i = 0; i < g.size; ++i)
    accumulate(groups + 1, ng - 1, x + i * in_stride, g.reduced ? acc : acc + i * out_stride);
}

template <class T>
void broadcast_walk(const int64_t* out_dims, const int64_t* in_strides, int64_t rank, const T* x, T* out) {
  const int64_t n = out_dims[0];
  if (rank == 1) {
    if (in_strides[0] == 0)
      std::fill(out, out + n, x[0]);
    else
      std::copy(x, x + n, out);
    return;
  }
  int64_t out_stride = 1;
  for (int64_t r = 1; r < rank; ++r) out_stride *= out_dims[r];
  for (int64_t i = 0; i < n; ++i)
    broadcast_walk(out_dims + 1, in_strides + 1, rank - 1, x + i * in_strides[0], out + i * out_stride);
}

}  // namespace

// Every output element sums its inputs in increasing input offset order, and is computed whole
// by one thread in blocks whose size does not depend on the thread count, so the result is the
// same bit for bit however many threads run.
template <class T> void reduce_sum(const Dims& in_dims, const T* x, const Dims& out_dims, T* out) {
  kernels::check_broadcast_dims("reduce_sum", in_dims, out_dims);
  const int64_t out_n = numel(out_dims), in_n = numel(in_dims);
  if (out_n == 0) return;
  if (in_n == 0) {
    std::fill(out, out + out_n, T(0));
    return;
  }
  std::vector<Group> groups;
  for (size_t r = 0; r < in_dims.size(); ++r) {
    if (in_dims[r] == 1) continue;
    bool reduced = out_dims[r] == 1;
    if (!groups.empty() && groups.back().reduced == reduced)
      groups.back().size *= in_dims[r];
    else
      groups.push_back({in_dims[r], reduced});
  }
  if (groups.empty()) {
    out[0] = x[0];
    return;
  }

  // Shape seen as [pre (reduced), par (kept), rest...]: threads split `par`, and each block of
  // `par` reads a contiguous stripe of x for every `pre` index.
  int64_t pre = 1, par = 1;
  size_t first_rest = 0;
  if (!groups[0].reduced) {
    par = groups[0].size;
    first_rest = 1;
  } else if (groups.size() > 1) {
    pre = groups[0].size;
    par = groups[1].size;
    first_rest = 2;
  }
  const Group* rest = groups.data() + first_rest;
  const int64_t n_rest = static_cast<int64_t>(groups.size() - first_rest);
  int64_t rest_in = 1, rest_out = 1;
  for (int64_t r = 0; r < n_rest; ++r) {
    rest_in *= rest[r].size;
    if (!rest[r].reduced) rest_out *= rest[r].size;
  }

  std::vector<double> acc(out_n, 0.0);
  double* accp = acc.data();
  const int64_t block = std::max<int64_t>(1, 4096 / rest_in);
  const int64_t n_blocks = (par + block - 1) / block;
#pragma omp parallel for schedule(static) if (in_n > kParallelMin)
  for (int64_t bi = 0; bi < n_blocks; ++bi) {
    const int64_t p0 = bi * block, p1 = std::min(par, p0 + block);
    for (int64_t q = 0; q < pre; ++q) {
      if (n_rest == 0) {  // e.g. a bias gradient, [N, D] -> [1, D]: a plain vector add per row
        const T* xq = x + q * par;
        for (int64_t p = p0; p < p1; ++p) accp[p] += xq[p];
        continue;
      }
      for (int64_t p = p0; p < p1; ++p)
        accumulate(rest, n_rest, x + (q * par + p) * rest_in, accp + p * rest_out);
    }
  }
#pragma omp parallel for schedule(static) if (out_n > kParallelMin)
  for (int64_t i = 0; i < out_n; ++i) out[i] = static_cast<T>(accp[i]);
}

template <class T> void broadcast(const Dims& in_dims, const T* x, const Dims& out_dims, T* out) {
  kernels::check_broadcast_dims("broadcast", out_dims, in_dims);
  const int64_t out_n = numel(out_dims);
  if (out_n == 0) return;
  const int64_t rank = static_cast<int64_t>(out_dims.size());
  if (rank == 0) {
    out[0] = x[0];
    return;
  }
  Dims strides(rank);
  int64_t s = 1;
  for (int64_t r = rank - 1; r >= 0; --r) {
    strides[r] = in_dims[r] == 1 ? 0 : s;
    s *= in_dims[r];
  }
  if (rank == 1) {
    broadcast_walk(out_dims.data(), strides.data(), 1, x, out);
    return;
  }
  const int64_t out_stride = out_n / out_dims[0];
#pragma omp parallel for schedule(static) if (out_n > kParallelMin)
  for (int64_t i = 0; i < out_dims[0]; ++i)
    broadcast_walk(out_dims.data() + 1, strides.data() + 1, rank - 1, x + i * strides[0], out + i * out_stride);
}

#define GOLF_INSTANTIATE(T)                                                       \
  template void reduce_sum<T>(const Dims&, const T*, const Dims&, T*);            \
  template void broadcast<T>(const Dims&, const T*, const Dims&, T*);
GOLF_INSTANTIATE(float)
GOLF_INSTANTIATE(double)
#undef GOLF_INSTANTIATE

}  // namespace golf::cpu
