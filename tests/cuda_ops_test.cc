// Every op of runtime/ops.def on CUDA against the CPU kernels: random inputs, forward outputs and
// (for differentiable ops) every input gradient through autograd's backward graph, compared by
// normalized MSE (tests/support/cuda.h), with guard bytes around every intermediate value to catch
// a kernel writing past its output. Shapes are chosen to cross the kernels' tile and block edges
// (32-key tiles, 8-row blocks, 256-thread rows, the short/long reduction switch).
//
// Skips (GTEST_SKIP) without a CUDA device or in a build without CUDA; the tests that need no
// device (coverage of the op table, guard bytes on the CPU, the error of a build without CUDA)
// always run.
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

namespace golf {
namespace {

double any(double x) { return x; }
double positive(double x) { return std::fabs(x) + 0.5; }
double off_zero(double x) { return x >= 0 ? x + 0.2 : x - 0.2; }

using R = std::function<Var(const std::string&, Shape)>;
struct Case {
  using Build = std::function<Var(Graph&, R)>;
  Case() = default;
  Case(Build b, std::function<double(double)> d = any) : build(std::move(b)), domain(std::move(d)) {}
  Build build;
  std::function<double(double)> domain = any;
  std::map<std::string, std::pair<Shape, std::vector<int32_t>>> ints;
  bool gradients = true;  // compare the input gradients too
};

std::vector<int32_t> random_ids(int64_t n, int32_t limit, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> v(size_t(n), 0);
  for (auto& x : v) x = int32_t(std::min<double>(limit - 1, std::floor(rng.uniform() * limit)));
  return v;
}

std::map<std::string, Case> make_cases() {
  std::map<std::string, Case> c;
  auto un = [&](const std::string& op, std::function<Var(Var)> f, std::function<double(double)> dom = any) {
    c[op] = Case{[f](Graph&, R r) { return f(r("x", {37, 129})); }, dom};
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
  c["step"].gradients = false;  // piecewise constant: no gradient graph at all
  un("gelu", [](Var x) { return gelu(x); });  // its backward runs gelu_grad
  un("silu", [](Var x) { return silu(x); });
  un("elu", [](Var x) { return elu(x, 1.3); }, off_zero);
  un("leaky_relu", [](Var x) { return leaky_relu(x, 0.1); }, off_zero);
  un("scale", [](Var x) { return scale(x, 2.5); });
  un("add_scalar", [](Var x) { return add_scalar(x, 0.7); });
  un("pow_scalar", [](Var x) { return pow_scalar(x, 2.5); }, positive);
  un("fake_quant", [](Var x) { return concat({fake_quant(x, 4), fake_quant(x, 8)}, 0); });

  auto bin = [&](const std::string& op, std::function<Var(Var, Var)> f, std::function<double(double)> dom = any) {
    c[op] = Case{[f](Graph&, R r) {
                   Var a = r("a", {4, 33, 65}), b = r("b", {33, 1}), d = r("d", {4, 33, 65}), e = r("e", {65});
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

  // Short reductions (a thread per output) and long ones (a block per output).
  c["sum"] = Case{[](Graph&, R r) {
    Var x = r("x", {8, 300, 5});
    return concat({reshape(sum(x, {0, 2}), {-1}), reshape(sum(x, {0, 1}), {-1}), reshape(sum(x, {2}), {-1})}, 0);
  }};
  c["mean"] = Case{[](Graph&, R r) { return mean(r("x", {6, 700}), {-1}); }};
  c["sum_to"] = Case{[](Graph&, R r) { return sum_to(r("x", {4, 33, 65}), {33, 1}); }};
  c["expand"] = Case{[](Graph&, R r) { return expand(r("x", {33, 1}), {4, 33, 65}); }};
  c["full"] = Case{[](Graph& g, R r) { return r("x", {37, 129}) + full(g, {37, 129}, 0.5); }};
  c["reshape"] = Case{[](Graph&, R r) { return square(reshape(r("x", {3, 5, 7, 9}), {15, -1})); }};
  c["permute"] = Case{[](Graph&, R r) { return permute(r("x", {3, 5, 7, 9}), {2, 0, 3, 1}); }};
  c["slice"] = Case{[](Graph&, R r) { return slice(r("x", {6, 50, 7}), 1, 13, 41); }};
  c["pad"] = Case{[](Graph&, R r) { return pad(r("x", {6, 30, 7}), 1, 5, 9); }};
  c["concat"] = Case{[](Graph&, R r) { return concat({r("a", {5, 1, 33}), r("b", {5, 40, 33}), r("c", {5, 7, 33})}, 1); }};

  c["embedding"] = Case{[](Graph& g, R r) { return embedding(r("table", {50, 24}), input(g, "ids", {4, 37}, true)); }};
  c["embedding"].ints["ids"] = {{4, 37}, random_ids(4 * 37, 50, 1)};
  // Many duplicates: each row sums dozens of sources, in source order.
  c["scatter_add_rows"] = Case{[](Graph& g, R r) { return scatter_add_rows(input(g, "ids", {300}, true), r("src", {300, 40}), 20); }};
  c["scatter_add_rows"].ints["ids"] = {{300}, random_ids(300, 20, 2)};
  c["index_select"] = Case{[](Graph& g, R r) { return index_select(r("x", {6, 7, 30}), input(g, "idx", {45}, true)); }};
  c["index_select"].ints["idx"] = {{45}, random_ids(45, 30, 3)};
  c["index_add"] = Case{[](Graph& g, R r) { return index_add(r("g", {6, 45}), input(g, "idx", {45}, true), 30); }};
  c["index_add"].ints["idx"] = {{45}, random_ids(45, 30, 4)};
  c["token_shift"] = Case{[](Graph&, R r) {
    Var x = r("x", {3, 17, 10});
    return concat({token_shift(x, 1), token_shift(x, -2), token_shift(x, 0), token_shift(x, 20)}, 0);
  }};

  // Every transpose combination, batched and with a 2-D B shared by the batch; the fp32 path
  // (the bf16 one has its own test below).
  c["matmul"] = Case{[](Graph&, R r) {
    const int64_t B = 3, M = 33, K = 70, N = 45;
    Var a = r("a", {B, M, K}), at = r("at", {B, K, M}), b = r("b", {B, K, N}), bt = r("bt", {B, N, K});
    Var w = r("w", {K, N}), wt = r("wt", {N, K});
    std::vector<Var> outs = {matmul(a, b), matmul(at, b, true, false), matmul(a, bt, false, true),
                             matmul(at, bt, true, true), matmul(a, w), matmul(a, wt, false, true),
                             matmul(at, w, true, false), matmul(at, wt, true, true)};
    for (Var& o : outs) o = reshape(o, {-1});
    return concat(outs, 0);
  }};

  c["rms_norm"] = Case{[](Graph&, R r) { return rms_norm(r("x", {37, 700}), 1e-6); }};  // backward: rms_norm_backward
  c["rope"] = Case{[](Graph&, R r) {
    Var x = r("x", {2, 40, 3, 64});
    return concat({rope(x, 32, 10000.0), rope(x, 64, 100.0, 16), rope(x, 48, 500.0, 0, true)}, 0);
  }};
  c["rope_at"] = Case{[](Graph& g, R r) {
    Var x = r("x", {2, 5, 3, 64});
    Var pos = input(g, "pos", {1}, true);
    return concat({rope_at(x, pos, 32, 10000.0, 0, 40), rope_at(x, pos, 64, 100.0, 16, 90),
                   rope_at(x, pos, 48, 500.0, 0, 40, true)},
                  0);
  }};
  c["rope_at"].ints["pos"] = {{1}, {17}};
  // Several key tiles with a partial last one, GQA groups of 2, with and without XSA; its
  // backward runs attention_backward.
  c["attention"] = Case{[](Graph&, R r) {
    Var q = r("q", {2, 70, 4, 64}), k = r("k", {2, 70, 2, 64}), v = r("v", {2, 70, 2, 64});
    return concat({attention(q, k, v, 0.125).y, attention(q, k, v, 0.125, true).y}, 0);
  }};
  // A head dim that is no multiple of 32, and the largest the kernel takes.
  c["attention_hd40"] = Case{[](Graph&, R r) {
    Var q = r("q", {1, 45, 3, 40}), k = r("k", {1, 45, 1, 40}), v = r("v", {1, 45, 1, 40});
    return concat({attention(q, k, v, 0.15).y, attention(q, k, v, 0.15, true).y}, 0);
  }};
  c["attention_hd256"] = Case{[](Graph&, R r) {
    Var q = r("q", {1, 40, 2, 256}), k = r("k", {1, 40, 2, 256}), v = r("v", {1, 40, 2, 256});
    return attention(q, k, v, 0.0625, true).y;
  }};
  c["cross_entropy"] = Case{[](Graph& g, R r) {
    Var x = scale(r("x", {37, 1000}), 3.0);
    Var t = input(g, "t", {37}, true);
    return concat({cross_entropy(x, t), cross_entropy(x, t, 30.0)}, 0);
  }};  // backward: cross_entropy_backward
  c["cross_entropy"].ints["t"] = {{37}, random_ids(37, 1000, 5)};
  // Soft targets (distillation): gradients reach both the logits and the probabilities.
  c["soft_cross_entropy"] = Case{[](Graph&, R r) { return soft_cross_entropy(scale(r("x", {37, 1000}), 3.0), r("p", {37, 1000})); },
                                 positive};
  c["to_real"] = Case{[](Graph& g, R r) { return to_real(input(g, "ids", {4, 37}, true)) * r("x", {4, 37}); }};
  c["to_real"].ints["ids"] = {{4, 37}, random_ids(4 * 37, 1000, 7)};
  // Both hash kinds, bigrams and trigrams, bit for bit (an integer output compares exactly).
  c["ngram_hash"] = Case{[](Graph& g, R) {
    Var tok = input(g, "tok", {3, 50}, true);
    std::vector<Var> outs;
    for (int kind : {0, 1})
      for (int n : {2, 3}) {
        NgramHash h;
        h.n = n, h.kind = kind, h.buckets = 4096, h.seed = 0x9E3779B97F4A7C15ULL;
        outs.push_back(ngram_hash(tok, h));
      }
    return concat(outs, 0);
  }};
  c["ngram_hash"].gradients = false;
  // One decode step's bucket from a window of the last n ids, at a position past the start.
  c["ngram_hash_at"] = Case{[](Graph& g, R) {
    Var w = input(g, "w", {3, 3}, true);
    Var pos = input(g, "pos", {1}, true);
    std::vector<Var> outs;
    for (int kind : {0, 1})
      for (int n : {2, 3}) {
        NgramHash h;
        h.n = n, h.kind = kind, h.buckets = 4096, h.seed = 0x9E3779B97F4A7C15ULL;
        outs.push_back(ngram_hash_at(n == 3 ? w : slice(w, 1, 1, 3), pos, h));
      }
    return concat(outs, 0);
  }};
  c["ngram_hash_at"].gradients = false;
  c["ngram_hash_at"].ints["w"] = {{3, 3}, random_ids(9, 1024, 9)};
  c["ngram_hash_at"].ints["pos"] = {{1}, {7}};
  c["ngram_hash"].ints["tok"] = {{3, 50}, random_ids(150, 1024, 8)};
  // Layout ops on integer tensors (token ids reshaped, sliced, permuted, concatenated), seen
  // through an embedding.
  c["integer_layout"] = Case{[](Graph& g, R r) {
    Var ids = input(g, "ids", {4, 6}, true);
    Var moved = concat({reshape(slice(ids, 1, 2, 5), {-1}), reshape(permute(ids, {1, 0}), {-1})}, 0);
    return embedding(r("table", {50, 8}), moved);
  }};
  c["integer_layout"].ints["ids"] = {{4, 6}, random_ids(24, 50, 6)};
  // Rank-0 operands, as the optimizers' schedule scalars: broadcast forward, a full sum backward.
  c["scalar_operand"] = Case{[](Graph&, R r) { return r("x", {37, 129}) * r("s", {}) + r("c", {}); }};
  return c;
}

const std::map<std::string, Case>& cases() {
  static const std::map<std::string, Case> c = make_cases();
  return c;
}

struct Built {
  Graph g;
  ParamStore store;
  Var out;
  std::vector<Var> outs;  // out, then each input's gradient
  std::vector<std::string> names;
  std::map<std::string, Tensor> ints;
  Tensor probe;
};

std::unique_ptr<Built> build_case(const Case& cs, uint64_t seed) {
  auto b = std::make_unique<Built>();
  Rng rng(seed);
  Scope scope(b->store, b->g);
  auto real = [&](const std::string& name, Shape s) {
    std::vector<double> vals(size_t(shape_numel(s)));
    for (double& v : vals) v = cs.domain(rng.normal());
    return scope.param(name, s, Init::from_values(vals));
  };
  b->out = cs.build(b->g, real);
  b->outs = {b->out};
  if (cs.gradients) {
    Var probe = input(b->g, "probe", b->out.shape());
    b->probe = Tensor(b->out.shape(), DType::f32);
    for (int64_t i = 0; i < b->probe.numel(); i++) b->probe.set(i, rng.normal());
    for (const Gradient& gr : backward(sum_all(b->out * probe), b->g.param_names()))
      if (gr.grad.valid()) b->outs.push_back(gr.grad), b->names.push_back(gr.name);
  }
  for (const auto& [name, spec] : cs.ints) {
    Tensor t(spec.first, DType::i32);
    for (size_t i = 0; i < spec.second.size(); i++) t.set(int64_t(i), spec.second[i]);
    b->ints[name] = t;
  }
  b->store.initialize(0, DType::f32);
  return b;
}

std::vector<Tensor> run_on(Built& b, ExecOptions opt) {
  Executor ex(b.g, b.outs, opt);
  ex.bind_params(b.store);
  if (b.probe.defined()) ex.bind("probe", b.probe);
  for (auto& [name, t] : b.ints) ex.bind(name, t);
  ex.run();
  std::vector<Tensor> r;
  for (size_t i = 0; i < b.outs.size(); i++) r.push_back(ex.result(i).clone());
  return r;
}

ExecOptions cuda_options(bool fp32_matmul = true) {
  ExecOptions o;
  o.device = Device::cuda;
  o.matmul_fp32 = fp32_matmul;
  o.guard_bytes = 256;
  return o;
}

// Every op of the table appears in some case's graph (forward or backward), so a new op without a
// CUDA comparison fails here, on any machine.
TEST(CudaOps, every_op_of_the_table_is_covered) {
  std::set<Op> seen;
  for (const auto& [name, cs] : cases()) {
    auto b = build_case(cs, 1);
    for (const Node& n : b->g.nodes()) seen.insert(n.op);
  }
  // Effects have their own tests below.
  for (const char* effect : {"assign", "accumulate", "attention_cached"}) seen.insert(op_by_name(effect));
  for (int i = 0; i < op_count(); i++)
    EXPECT_TRUE(seen.count(Op(i))) << "op '" << op_info(Op(i)).name << "' has no CUDA comparison case";
}

class CudaOp : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaOp, forward_and_gradients_match_the_cpu) {
  GOLF_SKIP_WITHOUT_CUDA();
  const Case& cs = cases().at(GetParam());
  auto b = build_case(cs, 7);
  std::vector<Tensor> want = run_on(*b, {});
  std::vector<Tensor> got = run_on(*b, cuda_options());
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); i++) {
    const std::string what = i == 0 ? "output" : "gradient of " + b->names[i - 1];
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
  for (const auto& [name, cs] : cases()) v.push_back(name);
  return v;
}
INSTANTIATE_TEST_SUITE_P(AllOps, CudaOp, ::testing::ValuesIn(case_names()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(CudaOps, bf16_matmul_is_within_bf16_rounding_of_the_cpu) {
  GOLF_SKIP_WITHOUT_CUDA();
  auto b = build_case(cases().at("matmul"), 9);
  std::vector<Tensor> want = run_on(*b, {});
  std::vector<Tensor> got = run_on(*b, cuda_options(false));
  for (size_t i = 0; i < want.size(); i++) {
    const double e = nmse(got[i], want[i]);
    EXPECT_LT(e, kNmseBf16) << "output " << i << "; " << describe_diff(got[i], want[i]);
    EXPECT_GT(e, 0.0) << "bf16 rounding left no trace: the fp32 path ran instead";
  }
}

TEST(CudaOps, reruns_are_bit_identical) {
  GOLF_SKIP_WITHOUT_CUDA();
  for (const char* name : {"attention", "scatter_add_rows", "index_add", "sum", "cross_entropy"}) {
    auto b = build_case(cases().at(name), 11);
    std::vector<Tensor> first = run_on(*b, cuda_options(false));
    std::vector<Tensor> second = run_on(*b, cuda_options(false));
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
    auto b = build_case(cases().at(name), 5);
    ExecOptions guarded;
    guarded.guard_bytes = 256;
    std::vector<Tensor> plain = run_on(*b, {}), checked = run_on(*b, guarded);
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
