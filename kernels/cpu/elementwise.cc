#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/dims.h"

namespace golf::cpu {
namespace {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 32768;

template <class T> T sigmoid_of(T x) {
  // exp of a positive argument could overflow to inf; only ever exponentiate -|x|.
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  T e = std::exp(x);
  return e / (T(1) + e);
}

template <class T, class F> void map(int64_t n, const T* x, T* y, F f) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

int64_t numel(const Dims& d) {
  int64_t n = 1;
  for (int64_t v : d) n *= v;
  return n;
}

// True when `small` is 1s followed by exactly the trailing dims of `full` (e.g. [1,1,D] against
// [B,T,D]): then the operand repeats with period `numel(small)` over the output.
bool is_trailing_suffix(const Dims& small, const Dims& full) {
  size_t i = small.size();
  while (i > 0 && small[i - 1] == full[i - 1]) --i;
  for (size_t r = 0; r < i; ++r)
    if (small[r] != 1) return false;
  return true;
}

// Broadcasting in canonical form: axes of size 1 in the output are dropped and adjacent axes on
// which each operand is either present or broadcast in the same way are merged, so every
// training shape becomes at most three groups ([B,T,D]⊙[D]: [B·T | D]; [B,T,H,hd]⊙[H,1]:
// [B·T | H | hd]). The innermost group is then a plain loop with the operands' strides fixed at
// 1 (present) or 0 (broadcast), which vectorizes, and the outer groups are walked per row.
struct Collapsed {
  int64_t rank = 0;
  int64_t size[8], sa[8], sb[8];  // per group: extent, element stride of a and b (0 = broadcast)
};

// False when the shape has more than 8 groups (then the caller uses the general walk).
bool collapse(const Dims& out_dims, const Dims& a_dims, const Dims& b_dims, Collapsed& c) {
  int64_t sizes[64];
  bool ab[64], bb[64];
  int64_t ng = 0;
  for (size_t r = 0; r < out_dims.size(); ++r) {
    if (out_dims[r] == 1) continue;
    const bool a_b = a_dims[r] == 1, b_b = b_dims[r] == 1;
    if (ng > 0 && ab[ng - 1] == a_b && bb[ng - 1] == b_b) {
      sizes[ng - 1] *= out_dims[r];
      continue;
    }
    if (ng == 64) return false;
    sizes[ng] = out_dims[r];
    ab[ng] = a_b;
    bb[ng] = b_b;
    ++ng;
  }
  if (ng > 8) return false;
  c.rank = ng;
  int64_t ra = 1, rb = 1;
  for (int64_t g = ng - 1; g >= 0; --g) {
    c.size[g] = sizes[g];
    c.sa[g] = ab[g] ? 0 : ra;
    c.sb[g] = bb[g] ? 0 : rb;
    if (!ab[g]) ra *= sizes[g];
    if (!bb[g]) rb *= sizes[g];
  }
  return true;
}

// The innermost run: out[i] = f(a[i·sa], b[i·sb]) with sa, sb in {0, 1}, one loop per case.
template <class T, class F> inline void run(int64_t n, const T* a, int64_t sa, const T* b, int64_t sb, T* out, F f) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
  } else if (sa == 1) {
    const T s = b[0];
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], s);
  } else {
    const T s = a[0];
    for (int64_t i = 0; i < n; ++i) out[i] = f(s, b[i]);
  }
}

template <class T, class F>
void binary_collapsed(const Collapsed& c, int64_t n, const T* a, const T* b, T* out, F f) {
  const int64_t last = c.rank - 1, inner = c.size[last];
  const int64_t rows = n / inner;
  // Rows in chunks of about 4096 elements; a chunk finds its first row's operand offsets by
  // division (the row index in the mixed radix of the outer groups), then steps an odometer.
  const int64_t chunk = std::max<int64_t>(1, 4096 / inner);
  const int64_t n_chunks = (rows + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t ci = 0; ci < n_chunks; ++ci) {
    const int64_t r0 = ci * chunk, r1 = std::min(rows, r0 + chunk);
    int64_t idx[8] = {}, oa = 0, ob = 0, rem = r0;
    for (int64_t g = last - 1; g >= 0; --g) {
      idx[g] = rem % c.size[g];
      rem /= c.size[g];
      oa += idx[g] * c.sa[g];
      ob += idx[g] * c.sb[g];
    }
    for (int64_t row = r0; row < r1; ++row) {
      run(inner, a + oa, c.sa[last], b + ob, c.sb[last], out + row * inner, f);
      for (int64_t g = last - 1; g >= 0; --g) {  // next row: increment the odometer
        oa += c.sa[g];
        ob += c.sb[g];
        if (++idx[g] < c.size[g]) break;
        oa -= c.size[g] * c.sa[g];
        ob -= c.size[g] * c.sb[g];
        idx[g] = 0;
      }
    }
  }
}

// Walks out in row-major order with per-axis input strides (0 on broadcast axes), one level of
// recursion per axis so that the innermost axis is a plain loop. Only for shapes of more than
// eight collapsed groups.
template <class T, class F>
void walk(const int64_t* out_dims, const int64_t* sa, const int64_t* sb, int64_t rank, const T* a, const T* b,
          T* out, F f) {
  int64_t n = out_dims[0];
  if (rank == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i * sa[0]], b[i * sb[0]]);
    return;
  }
  int64_t out_stride = 1;
  for (int64_t r = 1; r < rank; ++r) out_stride *= out_dims[r];
  for (int64_t i = 0; i < n; ++i)
    walk(out_dims + 1, sa + 1, sb + 1, rank - 1, a + i * sa[0], b + i * sb[0], out + i * out_stride, f);
}

template <class T, class F>
void binary_with(const Dims& out_dims, const Dims& a_dims, const T* a, const Dims& b_dims, const T* b, T* out,
                 F f) {
  const int64_t n = numel(out_dims);
  if (n == 0) return;
  if (a_dims == out_dims && b_dims == out_dims) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
    return;
  }
  const int64_t na = numel(a_dims), nb = numel(b_dims);
  if (a_dims == out_dims && nb == 1) {
    const T s = b[0];
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], s);
    return;
  }
  if (b_dims == out_dims && na == 1) {
    const T s = a[0];
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) out[i] = f(s, b[i]);
    return;
  }
  // One operand repeats with a period of its own size ([B,T,D] ⊙ [D]): a row loop without index
  // arithmetic, the most common broadcast of training (scales, gains, mixes).
  if (a_dims == out_dims && is_trailing_suffix(b_dims, out_dims)) {
    const int64_t outer = n / nb;
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < nb; ++i) out[o * nb + i] = f(a[o * nb + i], b[i]);
    return;
  }
  if (b_dims == out_dims && is_trailing_suffix(a_dims, out_dims)) {
    const int64_t outer = n / na;
#pragma omp parallel for schedule(static) if (n > kParallelMin)
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < na; ++i) out[o * na + i] = f(a[i], b[o * na + i]);
    return;
  }
  Collapsed c;
  if (collapse(out_dims, a_dims, b_dims, c)) {
    if (c.rank == 0) {  // every axis has size 1
      out[0] = f(a[0], b[0]);
      return;
    }
    binary_collapsed(c, n, a, b, out, f);
    return;
  }

  const int64_t rank = static_cast<int64_t>(out_dims.size());
  Dims sa(rank), sb(rank);
  int64_t ra = 1, rb = 1;
  for (int64_t r = rank - 1; r >= 0; --r) {
    sa[r] = a_dims[r] == 1 ? 0 : ra;
    sb[r] = b_dims[r] == 1 ? 0 : rb;
    ra *= a_dims[r];
    rb *= b_dims[r];
  }
  const int64_t out_stride = n / out_dims[0];
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < out_dims[0]; ++i)
    walk(out_dims.data() + 1, sa.data() + 1, sb.data() + 1, rank - 1, a + i * sa[0], b + i * sb[0],
         out + i * out_stride, f);
}

void check_broadcast(const Dims& out_dims, const Dims& a_dims, const Dims& b_dims) {
  if (a_dims.size() != out_dims.size() || b_dims.size() != out_dims.size())
    throw std::invalid_argument("binary: operand ranks must equal the output rank (left-pad with 1s): a has " +
                                std::to_string(a_dims.size()) + " axes, b " + std::to_string(b_dims.size()) + ", the output " +
                                std::to_string(out_dims.size()) + " (a " + kernels::dims_str(a_dims) + ", b " +
                                kernels::dims_str(b_dims) + ", out " + kernels::dims_str(out_dims) + ")");
  for (size_t r = 0; r < out_dims.size(); ++r) {
    bool a_ok = a_dims[r] == out_dims[r] || a_dims[r] == 1;
    bool b_ok = b_dims[r] == out_dims[r] || b_dims[r] == 1;
    if (!a_ok || !b_ok)
      throw std::invalid_argument("binary: axis " + std::to_string(r) + " does not broadcast (a " +
                                  std::to_string(a_dims[r]) + ", b " + std::to_string(b_dims[r]) + ", out " +
                                  std::to_string(out_dims[r]) + ")");
  }
}

}  // namespace

template <class T> void unary(Unary op, int64_t n, const T* x, T* y, double a) {
  const T at = static_cast<T>(a);
  switch (op) {
    case Unary::neg: map(n, x, y, [](T v) { return -v; }); return;
    case Unary::exp: map(n, x, y, [](T v) { return std::exp(v); }); return;
    case Unary::log: map(n, x, y, [](T v) { return std::log(v); }); return;
    case Unary::sqrt: map(n, x, y, [](T v) { return std::sqrt(v); }); return;
    case Unary::rsqrt: map(n, x, y, [](T v) { return T(1) / std::sqrt(v); }); return;
    case Unary::square: map(n, x, y, [](T v) { return v * v; }); return;
    case Unary::tanh: map(n, x, y, [](T v) { return std::tanh(v); }); return;
    case Unary::sigmoid: map(n, x, y, [](T v) { return sigmoid_of(v); }); return;
    case Unary::softplus:
      // log(1 + e^x) rewritten so exp never sees a positive argument.
      map(n, x, y, [](T v) { return std::log1p(std::exp(-std::abs(v))) + std::max(v, T(0)); });
      return;
    case Unary::relu: map(n, x, y, [](T v) { return v > T(0) ? v : T(0); }); return;
    case Unary::step: map(n, x, y, [](T v) { return v > T(0) ? T(1) : T(0); }); return;
    case Unary::gelu: {
      const T inv_sqrt2 = static_cast<T>(0.70710678118654752440);
      map(n, x, y, [=](T v) { return T(0.5) * v * (T(1) + std::erf(v * inv_sqrt2)); });
      return;
    }
    case Unary::gelu_grad: {
      // d/dx x·Φ(x) = Φ(x) + x·φ(x).
      const T inv_sqrt2 = static_cast<T>(0.70710678118654752440);
      const T inv_sqrt_2pi = static_cast<T>(0.39894228040143267794);
      map(n, x, y, [=](T v) {
        T cdf = T(0.5) * (T(1) + std::erf(v * inv_sqrt2));
        T pdf = inv_sqrt_2pi * std::exp(T(-0.5) * v * v);
        return cdf + v * pdf;
      });
      return;
    }
    case Unary::silu: map(n, x, y, [](T v) { return v * sigmoid_of(v); }); return;
    case Unary::elu: map(n, x, y, [=](T v) { return v > T(0) ? v : at * std::expm1(v); }); return;
    case Unary::leaky_relu: map(n, x, y, [=](T v) { return v > T(0) ? v : at * v; }); return;
    case Unary::scale: map(n, x, y, [=](T v) { return at * v; }); return;
    case Unary::add_scalar: map(n, x, y, [=](T v) { return v + at; }); return;
    case Unary::pow_scalar: map(n, x, y, [=](T v) { return std::pow(v, at); }); return;
  }
  throw std::invalid_argument("unary: unknown op " + std::to_string(static_cast<int>(op)));
}

template <class T>
void binary(Binary op, const Dims& out_dims, const Dims& a_dims, const T* a, const Dims& b_dims, const T* b,
            T* out) {
  check_broadcast(out_dims, a_dims, b_dims);
  switch (op) {
    case Binary::add: binary_with(out_dims, a_dims, a, b_dims, b, out, [](T p, T q) { return p + q; }); return;
    case Binary::sub: binary_with(out_dims, a_dims, a, b_dims, b, out, [](T p, T q) { return p - q; }); return;
    case Binary::mul: binary_with(out_dims, a_dims, a, b_dims, b, out, [](T p, T q) { return p * q; }); return;
    case Binary::div: binary_with(out_dims, a_dims, a, b_dims, b, out, [](T p, T q) { return p / q; }); return;
  }
  throw std::invalid_argument("binary: unknown op " + std::to_string(static_cast<int>(op)));
}

template <class T> void copy(int64_t n, const T* x, T* y) {
  if (n > 0) std::copy(x, x + n, y);
}

template <class T> void add_into(int64_t n, const T* x, T* y) {
#pragma omp parallel for schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

#define GOLF_INSTANTIATE(T)                                                                              \
  template void unary<T>(Unary, int64_t, const T*, T*, double);                                          \
  template void binary<T>(Binary, const Dims&, const Dims&, const T*, const Dims&, const T*, T*);        \
  template void copy<T>(int64_t, const T*, T*);                                                          \
  template void add_into<T>(int64_t, const T*, T*);
GOLF_INSTANTIATE(float)
GOLF_INSTANTIATE(double)
#undef GOLF_INSTANTIATE
template void copy<int32_t>(int64_t, const int32_t*, int32_t*);  // reshapes of token ids

}  // namespace golf::cpu
