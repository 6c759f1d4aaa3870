// The one table of op test cases (as ggml's test-backend-ops serves every backend): each case
// builds a small graph around one op, at three sizes, and serves
//   tests/grad_check_test.cc      finite differences in fp64 at CaseSize::grad (small: one
//                                 forward run per input element)
//   tests/cuda_ops_test.cc        CUDA against the CPU at CaseSize::device (shapes that cross the
//                                 kernels' tile and block edges)
//   scripts/bench/bench_cuda.cc   kernel timings at CaseSize::bench (the baseline model's shapes
//                                 where a case gives them, the device shapes otherwise)
// A case is named after its op; variants add a suffix ("attention_hd40") or name what they cover
// ("integer_layout"). tests/op_table_test.cc fails for an op of ops.def that no case uses.
#pragma once
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/autograd.h"
#include "runtime/params.h"
#include "runtime/rng.h"

namespace golf {

enum class CaseSize { grad, device, bench };

// Domains for a case's random real inputs.
inline double any_value(double x) { return x; }
inline double positive(double x) { return std::fabs(x) + 0.5; }
inline double off_zero(double x) { return x >= 0 ? x + 0.2 : x - 0.2; }  // away from kinks

// What a case's builder sees: the graph, its size, and makers of its inputs.
class CaseInputs {
 public:
  CaseInputs(Graph& g, CaseSize size, std::function<Var(const std::string&, Shape)> real,
             std::map<std::string, Tensor>& ints)
      : g(g), size(size), real_(std::move(real)), ints_(ints) {}
  Graph& g;
  const CaseSize size;
  // A real input: a parameter, so that the gradient checks reach it; random in the case's domain.
  Var real(const std::string& name, Shape s) const { return real_(name, std::move(s)); }
  // An integer input with the given values, or random ids in [0, limit) (seeded by the name).
  Var ids(const std::string& name, Shape s, std::vector<int32_t> values) const {
    Tensor t(s, DType::i32);
    for (size_t i = 0; i < values.size(); i++) t.set(int64_t(i), values[i]);
    ints_[name] = t;
    return input(g, name, s, true);
  }
  Var random_ids(const std::string& name, Shape s, int32_t limit) const {
    uint64_t seed = 1469598103934665603ULL;  // FNV-1a of the name: the same ids on every platform
    for (char ch : name) seed = (seed ^ uint8_t(ch)) * 1099511628211ULL;
    Rng rng(seed);
    std::vector<int32_t> v(size_t(shape_numel(s)));
    for (int32_t& x : v) x = int32_t(rng.below(uint64_t(limit)));
    return ids(name, std::move(s), std::move(v));
  }
  // A dimension per size; without a bench value the bench runs the device size.
  int64_t pick(int64_t grad, int64_t device) const { return size == CaseSize::grad ? grad : device; }
  int64_t pick(int64_t grad, int64_t device, int64_t bench) const { return size == CaseSize::bench ? bench : pick(grad, device); }
  double pick_real(double grad, double device) const { return size == CaseSize::grad ? grad : device; }

 private:
  std::function<Var(const std::string&, Shape)> real_;
  std::map<std::string, Tensor>& ints_;
};

struct OpCase {
  std::function<Var(const CaseInputs&)> build;
  std::function<double(double)> domain = any_value;
  bool zero_gradient = false;  // piecewise constant: its gradient rule emits nothing at all
};

inline std::map<std::string, OpCase> make_op_cases() {
  std::map<std::string, OpCase> c;
  using In = const CaseInputs&;
  auto un = [&](const std::string& op, std::function<Var(Var)> f, std::function<double(double)> dom = any_value) {
    c[op] = OpCase{[f](In in) { return f(in.real("x", {in.pick(3, 37, 4096), in.pick(4, 129, 1024)})); }, dom};
  };
  un("neg", [](Var x) { return neg(x); });
  un("exp", [](Var x) { return exp(x); });
  un("log", [](Var x) { return log(x); }, positive);
  un("sqrt", [](Var x) { return sqrt(x); }, positive);
  un("rsqrt", [](Var x) { return rsqrt(x); }, positive);
  un("square", [](Var x) { return square(x); });
  un("tanh", [](Var x) { return tanh(x); });
  un("sigmoid", [](Var x) { return sigmoid(x); });
  un("softplus", [](Var x) { return softplus(x); });
  un("relu", [](Var x) { return relu(x); }, off_zero);
  un("step", [](Var x) { return step(x); }, off_zero);
  c["step"].zero_gradient = true;
  un("gelu", [](Var x) { return gelu(x); });  // its backward runs gelu_grad
  un("silu", [](Var x) { return silu(x); });
  un("elu", [](Var x) { return elu(x, 1.3); }, off_zero);
  un("leaky_relu", [](Var x) { return leaky_relu(x, 0.1); }, off_zero);
  un("scale", [](Var x) { return scale(x, 2.5); });
  un("add_scalar", [](Var x) { return add_scalar(x, 0.7); });
  un("pow_scalar", [](Var x) { return pow_scalar(x, 2.5); }, positive);
  // straight-through (grad_check_test has its own STE check)
  un("fake_quant", [](Var x) { return concat({fake_quant(x, 4), fake_quant(x, 8)}, 0); });

  // Binary ops over broadcasts both ways, the same shape, and a vector against a batch.
  auto bin = [&](const std::string& op, std::function<Var(Var, Var)> f, std::function<double(double)> dom = any_value) {
    c[op] = OpCase{[f](In in) {
                     const int64_t B = in.pick(2, 4), R = in.pick(3, 33), C = in.pick(4, 65);
                     Var a = in.real("a", {B, R, C}), b = in.real("b", {R, 1}), d = in.real("d", {B, R, C});
                     Var e = in.real("e", {C});
                     return concat({reshape(f(a, b), {-1}), reshape(f(b, a), {-1}), reshape(f(a, d), {-1}),
                                    reshape(f(e, a), {-1})},
                                   0);
                   },
                   dom};
  };
  bin("add", [](Var a, Var b) { return add(a, b); });
  bin("sub", [](Var a, Var b) { return sub(a, b); });
  bin("mul", [](Var a, Var b) { return mul(a, b); });
  bin("div", [](Var a, Var b) { return div(a, b); }, positive);

  // Short reductions (a CUDA thread per output) and long ones (a block per output).
  c["sum"] = {[](In in) {
    Var x = in.real("x", {in.pick(2, 8), in.pick(3, 300), in.pick(4, 5)});
    return concat({reshape(sum(x, {0, 2}), {-1}), reshape(sum(x, {0, 1}), {-1}), reshape(sum(x, {2}), {-1})}, 0);
  }};
  c["mean"] = {[](In in) { return mean(in.real("x", {in.pick(2, 6), in.pick(3, 700)}), {-1}); }};
  c["sum_to"] = {[](In in) { return sum_to(in.real("x", {in.pick(2, 4), in.pick(3, 33), in.pick(4, 65)}), {in.pick(3, 33), 1}); }};
  c["expand"] = {[](In in) { return expand(in.real("x", {in.pick(3, 33), 1}), {in.pick(2, 4), in.pick(3, 33), in.pick(4, 65)}); }};
  c["full"] = {[](In in) {
    const Shape s{in.pick(3, 37), in.pick(4, 129)};
    return in.real("x", s) + full(in.g, s, 0.5);
  }};
  c["reshape"] = {[](In in) { return square(reshape(in.real("x", {in.pick(2, 3), 5, in.pick(1, 7), in.pick(3, 9)}), {5 * in.pick(2, 3), -1})); }};
  c["permute"] = {[](In in) { return permute(in.real("x", {in.pick(2, 3), 5, in.pick(3, 7), in.pick(2, 9)}), {2, 0, 3, 1}); }};
  c["slice"] = {[](In in) { return slice(in.real("x", {in.pick(2, 6), in.pick(5, 50), in.pick(3, 7)}), 1, in.pick(1, 13), in.pick(4, 41)); }};
  c["pad"] = {[](In in) { return pad(in.real("x", {in.pick(2, 6), in.pick(3, 30), in.pick(2, 7)}), 1, in.pick(1, 5), in.pick(2, 9)); }};
  c["concat"] = {[](In in) {
    const int64_t B = in.pick(2, 5), D = in.pick(3, 33);
    return concat({in.real("a", {B, 1, D}), in.real("b", {B, in.pick(4, 40), D}), in.real("c", {B, in.pick(2, 7), D})}, 1);
  }};

  c["embedding"] = {[](In in) {
    const int32_t V = int32_t(in.pick(5, 50));
    return embedding(in.real("table", {V, in.pick(3, 24)}), in.random_ids("ids", {in.pick(2, 4), in.pick(4, 37)}, V));
  }};
  // Many duplicates: each row sums several sources, in source order.
  c["scatter_add_rows"] = {[](In in) {
    const int64_t N = in.pick(6, 300), V = in.pick(4, 20);
    return scatter_add_rows(in.random_ids("ids", {N}, int32_t(V)), in.real("src", {N, in.pick(3, 40)}), V);
  }};
  c["index_select"] = {[](In in) {
    const int64_t C = in.pick(5, 30);
    return index_select(in.real("x", {in.pick(2, 6), in.pick(3, 7), C}), in.random_ids("idx", {in.pick(4, 45)}, int32_t(C)));
  }};
  c["index_add"] = {[](In in) {
    const int64_t K = in.pick(4, 45), C = in.pick(5, 30);
    return index_add(in.real("g", {in.pick(2, 6), K}), in.random_ids("idx", {K}, int32_t(C)), C);
  }};
  c["token_shift"] = {[](In in) {
    Var x = in.real("x", {in.pick(2, 3), in.pick(4, 17), in.pick(3, 10)});
    return concat({token_shift(x, 1), token_shift(x, -2), token_shift(x, 0), token_shift(x, in.pick(5, 20))}, 0);
  }};

  // Every transpose combination, batched and with a 2-D B shared by the batch. At bench size, the
  // baseline's largest product: [4096, 512] x [512, 1536].
  c["matmul"] = {[](In in) {
    if (in.size == CaseSize::bench) return matmul(in.real("a", {4096, 512}), in.real("w", {512, 1536}));
    const int64_t B = in.pick(2, 3), M = in.pick(3, 33), K = in.pick(4, 70), N = in.pick(5, 45);
    Var a = in.real("a", {B, M, K}), at = in.real("at", {B, K, M}), b = in.real("b", {B, K, N}), bt = in.real("bt", {B, N, K});
    Var w = in.real("w", {K, N}), wt = in.real("wt", {N, K});
    std::vector<Var> outs = {matmul(a, b), matmul(at, b, true, false), matmul(a, bt, false, true),
                             matmul(at, bt, true, true), matmul(a, w), matmul(a, wt, false, true),
                             matmul(at, w, true, false), matmul(at, wt, true, true)};
    for (Var& o : outs) o = reshape(o, {-1});
    return concat(outs, 0);
  }};

  c["rms_norm"] = {[](In in) { return rms_norm(in.real("x", {in.pick(3, 37, 8192), in.pick(6, 700, 512)}), 1e-6); }};
  c["rope"] = {[](In in) {
    const int64_t hd = in.pick(8, 64);
    Var x = in.real("x", {2, in.pick(5, 40), in.pick(2, 3), hd});
    return concat({rope(x, hd / 2, 10000.0), rope(x, hd, 100.0, in.pick(3, 16)), rope(x, hd * 3 / 4, 500.0, 0, true)}, 0);
  }};
  // Positions pos.. with an NTK length beyond the training length, forward and inverse.
  c["rope_at"] = {[](In in) {
    const int64_t hd = in.pick(8, 64);
    Var x = in.real("x", {2, in.pick(3, 5), in.pick(2, 3), hd});
    Var pos = in.ids("pos", {1}, {int32_t(in.pick(3, 17))});
    return concat({rope_at(x, pos, hd / 2, 10000.0, 0, in.pick(3, 40)), rope_at(x, pos, hd, 100.0, in.pick(4, 16), in.pick(9, 90)),
                   rope_at(x, pos, hd * 3 / 4, 500.0, 0, in.pick(3, 40), true)},
                  0);
  }};
  // Several key tiles with a partial last one, GQA groups of 2, with and without XSA; its
  // backward runs attention_backward. At bench size the baseline's B 8, T 1024, H 8/4, hd 64.
  c["attention"] = {[](In in) {
    const int64_t B = in.pick(2, 2, 8), T = in.pick(5, 70, 1024), H = in.pick(4, 4, 8), Hkv = in.pick(2, 2, 4), hd = in.pick(4, 64, 64);
    Var q = in.real("q", {B, T, H, hd}), k = in.real("k", {B, T, Hkv, hd}), v = in.real("v", {B, T, Hkv, hd});
    if (in.size == CaseSize::bench) return attention(q, k, v, 0.125).y;
    return concat({attention(q, k, v, in.pick_real(0.5, 0.125)).y, attention(q, k, v, in.pick_real(0.5, 0.125), true).y}, 0);
  }};
  // A head dim that is no multiple of 32, and the largest the CUDA kernel takes.
  c["attention_hd40"] = {[](In in) {
    const int64_t hd = in.pick(5, 40);
    Var q = in.real("q", {1, in.pick(4, 45), 3, hd}), k = in.real("k", {1, in.pick(4, 45), 1, hd}), v = in.real("v", {1, in.pick(4, 45), 1, hd});
    return concat({attention(q, k, v, 0.15).y, attention(q, k, v, 0.15, true).y}, 0);
  }};
  c["attention_hd256"] = {[](In in) {
    const int64_t T = in.pick(3, 40), hd = in.pick(6, 256);
    Var q = in.real("q", {1, T, 2, hd}), k = in.real("k", {1, T, 2, hd}), v = in.real("v", {1, T, 2, hd});
    return attention(q, k, v, 0.0625, true).y;
  }};
  c["cross_entropy"] = {[](In in) {
    const int64_t N = in.pick(6, 37, 8192), V = in.pick(7, 1000, 1024);
    Var x = scale(in.real("x", {N, V}), 3.0);
    Var t = in.random_ids("t", {N}, int32_t(V));
    return concat({cross_entropy(x, t), cross_entropy(x, t, in.pick_real(5.0, 30.0))}, 0);
  }};  // backward: cross_entropy_backward
  // Soft targets (distillation): gradients reach both the logits and the (unnormalized) probabilities.
  c["soft_cross_entropy"] = {[](In in) {
                               const Shape s{in.pick(4, 37), in.pick(5, 1000)};
                               return soft_cross_entropy(scale(in.real("x", s), 3.0), in.real("p", s));
                             },
                             positive};
  c["to_real"] = {[](In in) {
    const Shape s{in.pick(2, 4), in.pick(3, 37)};
    return to_real(in.random_ids("ids", s, 1000)) * in.real("x", s);
  }};
  // Both hash kinds, bigrams and trigrams; an integer output compares exactly.
  c["ngram_hash"] = {[](In in) {
    Var tok = in.random_ids("tok", {3, in.pick(7, 50)}, 1024);
    std::vector<Var> outs;
    for (NgramKind kind : {NgramKind::multiply_xor, NgramKind::xxh3})
      for (int n : {2, 3}) {
        NgramHash h;
        h.n = n, h.kind = kind, h.buckets = 4096, h.seed = 0x9E3779B97F4A7C15ULL;
        outs.push_back(ngram_hash(tok, h));
      }
    return concat(outs, 0);
  }};
  // One decode step's bucket from a window of the last n ids, at a position past the start.
  c["ngram_hash_at"] = {[](In in) {
    Var w = in.random_ids("w", {3, 3}, 1024);
    Var pos = in.ids("pos", {1}, {7});
    std::vector<Var> outs;
    for (NgramKind kind : {NgramKind::multiply_xor, NgramKind::xxh3})
      for (int n : {2, 3}) {
        NgramHash h;
        h.n = n, h.kind = kind, h.buckets = 4096, h.seed = 0x9E3779B97F4A7C15ULL;
        outs.push_back(ngram_hash_at(n == 3 ? w : slice(w, 1, 1, 3), pos, h));
      }
    return concat(outs, 0);
  }};
  // Layout ops on integer tensors (token ids reshaped, sliced, permuted, concatenated), seen
  // through an embedding.
  c["integer_layout"] = {[](In in) {
    Var ids = in.random_ids("ids", {4, 6}, 50);
    Var moved = concat({reshape(slice(ids, 1, 2, 5), {-1}), reshape(permute(ids, {1, 0}), {-1})}, 0);
    return embedding(in.real("table", {50, in.pick(3, 8)}), moved);
  }};
  // Rank-0 operands, as the optimizers' schedule scalars: broadcast forward, a full sum backward.
  c["scalar_operand"] = {[](In in) { return in.real("x", {in.pick(3, 37), in.pick(4, 129)}) * in.real("s", {}) + in.real("c", {}); }};

  // ---- the fused chains of runtime/fuse_pass.cc (their unfused twins: tests/fuse_pass_test.cc)
  // Per-channel weights as [D] and as [1, D] (golf.Block's resid_mix rows); at bench size the
  // baseline's residual stream, 8 × 1024 tokens of d 512.
  c["add_scaled"] = {[](In in) {
    const Shape s{in.pick(2, 3, 8), in.pick(3, 37, 1024), in.pick(5, 700, 512)};
    Var x = in.real("x", s), y = in.real("y", s);
    if (in.size == CaseSize::bench) return add_scaled(x, y, in.real("s", {s[2]}));
    return concat({add_scaled(x, y, in.real("s", {s[2]})), add_scaled(x, y, in.real("s1", {1, s[2]}))}, 0);
  }};  // backward: channel_scale_backward
  c["mix"] = {[](In in) {
    const Shape s{in.pick(2, 3, 8), in.pick(3, 37, 1024), in.pick(5, 700, 512)};
    return mix(in.real("a", s), in.real("b", s), in.real("wa", {1, s[2]}), in.real("wb", {s[2]}));
  }};
  // relu² and leaky relu² (the MLP's hidden units: 8 × 1024 × 1024 at bench size).
  c["relu2"] = {[](In in) {
                  Var x = in.real("x", {in.pick(3, 37, 8192), in.pick(4, 700, 1024)});
                  if (in.size == CaseSize::bench) return relu2(x);
                  return concat({relu2(x), relu2(x, 0.5)}, 0);
                },
                off_zero};  // backward: relu2_backward
  // As rope's case: half and full rotation, the NTK rescale past train_len, the inverse; hd 64
  // and 8 heads of the baseline's q at bench size.
  c["rms_norm_rope"] = {[](In in) {
    const int64_t hd = in.pick(8, 64, 64);
    Var x = in.real("x", {in.pick(2, 2, 8), in.pick(5, 40, 1024), in.pick(2, 3, 8), hd});
    if (in.size == CaseSize::bench) return rms_norm_rope(x, 1e-6, hd, 10000.0);
    return concat({rms_norm_rope(x, 1e-6, hd / 2, 10000.0), rms_norm_rope(x, 1e-6, hd, 100.0, in.pick(3, 16)),
                   rms_norm_rope(x, 1e-6, hd * 3 / 4, 500.0, 0, true)},
                  0);
  }};  // backward: rms_norm_rope_backward
  c["rms_norm_rope_gain"] = {[](In in) {
    const int64_t hd = in.pick(8, 64, 64), H = in.pick(2, 3, 8);
    Var x = in.real("x", {in.pick(2, 2, 8), in.pick(5, 40, 1024), H, hd});
    Var gain = in.real("gain", {H, 1});
    if (in.size == CaseSize::bench) return rms_norm_rope_gain(x, gain, 1e-6, hd, 10000.0);
    return concat({rms_norm_rope_gain(x, gain, 1e-6, hd, 10000.0, in.pick(3, 16)),
                   rms_norm_rope_gain(x, gain, 1e-6, hd / 2, 500.0, 0, true)},
                  0);
  }};  // backward: rms_norm_rope_gain_backward
  c["rms_norm_scaled"] = {
      [](In in) { return rms_norm_scaled(in.real("x", {in.pick(3, 37, 8192), in.pick(6, 700, 512)}), 1e-6, 0.57735); }};

  // ---- the gradient sums of fold_gradient_sums (runtime/fuse_pass.h; their unfused twins:
  // tests/fuse_pass_test.cc). matmul_add: a batched A against a shared B transposed (the q/k/v
  // input gradients: dy·W summed into the running gradient) and the other transposes; at bench
  // size the baseline's, 8 × 1024 tokens of d 512 against W [512, 512].
  c["matmul_add"] = {[](In in) {
    const int64_t B = in.pick(2, 3, 8), M = in.pick(3, 33, 1024), K = in.pick(4, 70, 512), N = in.pick(5, 45, 512);
    Var a = in.real("a", {B, M, K}), wt = in.real("wt", {N, K});
    Var y = matmul_add(a, wt, in.real("c", {B, M, N}), false, true);
    if (in.size == CaseSize::bench) return y;
    Var at = in.real("at", {B, K, M}), b = in.real("b", {B, K, N}), w = in.real("w", {K, N});
    std::vector<Var> outs = {y, matmul_add(at, b, in.real("c1", {B, M, N}), true, false),
                             matmul_add(at, wt, in.real("c2", {B, M, N}), true, true), matmul_add(a, w, in.real("c3", {B, M, N}))};
    for (Var& o : outs) o = reshape(o, {-1});
    return concat(outs, 0);
  }};
  // A backward op built directly (its check, by finite differences through the fold:
  // tests/grad_check_test.cc); rows of the model's 512 and of a head's 64.
  c["rms_norm_backward_add"] = {[](In in) {
    const Shape s{in.pick(3, 37, 8192), in.pick(6, 700, 512)};
    Var y = rms_norm_backward_add(in.real("x", s), in.real("dy", s), in.real("acc", s), 1e-6);
    if (in.size == CaseSize::bench) return y;
    const Shape h{in.pick(4, 300), in.pick(8, 64)};
    Var yh = rms_norm_backward_add(in.real("xh", h), in.real("dyh", h), in.real("acch", h), 1e-6);
    return concat({reshape(y, {-1}), reshape(yh, {-1})}, 0);
  }};
  // The x0 stream's gradient sum (its check: tests/grad_check_test.cc, through the fold); both
  // outputs, w as [D] (add_scaled's scales) and as [1, D] (resid_mix's rows); at bench size the
  // baseline's 8 × 1024 tokens of d 512.
  c["channel_scale_backward_add"] = {[](In in) {
    const Shape s{in.pick(2, 3, 8), in.pick(3, 37, 1024), in.pick(5, 700, 512)};
    Var u = in.real("u", s), g = in.real("g", s), acc = in.real("acc", s);
    Var d = channel_scale_backward_add(u, in.real("w", {1, s[2]}), g, acc);
    std::vector<Var> outs = {reshape(d, {-1}), reshape(output(d, 1), {-1})};
    if (in.size != CaseSize::bench) {
      Var d1 = channel_scale_backward_add(u, in.real("w1", {s[2]}), g, acc);
      outs.push_back(reshape(d1, {-1}));
      outs.push_back(reshape(output(d1, 1), {-1}));
    }
    return concat(outs, 0);
  }};
  // The pre-norm fused into the residual op (fuse_graph): both outputs, so that the FD check
  // covers the stream's own gradient and the norm's; rows of the model's 512 at bench size.
  c["mix_rms_norm"] = {[](In in) {
    const Shape s{in.pick(2, 3, 8), in.pick(3, 37, 1024), in.pick(5, 700, 512)};
    Var m = mix_rms_norm(in.real("a", s), in.real("b", s), in.real("wa", {1, s[2]}), in.real("wb", {s[2]}), 1e-6);
    return concat({reshape(m, {-1}), reshape(output(m, 1), {-1})}, 0);
  }};  // backward: rms_norm_backward (+ add), channel_scale_backward
  c["add_scaled_rms_norm"] = {[](In in) {
    const Shape s{in.pick(2, 3, 8), in.pick(3, 37, 1024), in.pick(5, 700, 512)};
    Var m = add_scaled_rms_norm(in.real("x", s), in.real("y", s), in.real("s", {s[2]}), 1e-6);
    return concat({reshape(m, {-1}), reshape(output(m, 1), {-1})}, 0);
  }};
  return c;
}

inline const std::map<std::string, OpCase>& op_cases() {
  static const std::map<std::string, OpCase> c = make_op_cases();
  return c;
}

// A case instantiated: its graph, its real inputs (parameters of `store`, initialized in `dtype`),
// its integer inputs, and a random probe R for the scalar Σ out·R that gradients start from (none
// when the output is integer).
struct BuiltCase {
  Graph g;
  ParamStore store;
  Var out, loss;
  std::map<std::string, Tensor> ints;
  Tensor probe;
};

inline std::unique_ptr<BuiltCase> build_op_case(const OpCase& cs, CaseSize size, uint64_t seed, DType dtype) {
  auto b = std::make_unique<BuiltCase>();
  Rng rng(seed);
  Scope scope(b->store, b->g);
  auto real = [&](const std::string& name, Shape s) {
    std::vector<double> vals(size_t(shape_numel(s)));
    for (double& v : vals) v = cs.domain(rng.normal());
    return scope.param(name, s, Init::from_values(vals));
  };
  CaseInputs in(b->g, size, real, b->ints);
  b->out = cs.build(in);
  if (!b->out.integer()) {
    Var probe = input(b->g, "probe", b->out.shape());
    b->loss = sum_all(b->out * probe);
    b->probe = Tensor(b->out.shape(), dtype);
    for (int64_t i = 0; i < b->probe.numel(); i++) b->probe.set(i, rng.normal());
  }
  b->store.initialize(0, dtype);
  return b;
}

}  // namespace golf
