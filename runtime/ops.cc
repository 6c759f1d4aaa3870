#include "runtime/ops.h"

namespace golf {

namespace {
Graph* graph_of(const std::vector<Var>& xs) {
  Graph* g = nullptr;
  for (const Var& x : xs) {
    if (!x.valid()) throw ShapeError("an op was given an undefined value");
    if (g && x.g != g) throw ShapeError("an op mixes values of two different graphs");
    g = x.g;
  }
  if (!g) throw ShapeError("an op needs at least one input to know its graph");
  return g;
}
Var unary(Op op, Var x, std::vector<double> floats = {}) { return make_op(op, {x}, {}, std::move(floats)); }
}  // namespace

Var make_op(Op op, const std::vector<Var>& inputs, std::vector<int64_t> ints, std::vector<double> floats) {
  Graph* g = graph_of(inputs);
  std::vector<Value> vs;
  for (const Var& x : inputs) vs.push_back(x.v);
  return Var(g, g->add(op, std::move(vs), std::move(ints), std::move(floats)));
}

Var output(Var multi, int index) {
  const Node& n = multi.g->node(multi.v.node);
  if (index < 0 || index >= int(n.outs.size()))
    throw ShapeError(multi.g->describe(multi.v) + " has no output " + std::to_string(index));
  return Var(multi.g, Value{multi.v.node, index});
}

Var input(Graph& g, const std::string& name, const Shape& shape, bool integer) {
  return Var(&g, g.input(name, shape, integer));
}
Var param(Graph& g, const std::string& name, const Shape& shape) { return Var(&g, g.param(name, shape)); }
Var buffer(Graph& g, const std::string& name, const Shape& shape, bool integer) {
  return Var(&g, g.buffer(name, shape, integer));
}
Var full(Graph& g, const Shape& shape, double value) {
  return Var(&g, g.add(Op::full, {}, std::vector<int64_t>(shape.begin(), shape.end()), {value}));
}

Var neg(Var x) { return unary(Op::neg, x); }
Var exp(Var x) { return unary(Op::exp, x); }
Var log(Var x) { return unary(Op::log, x); }
Var sqrt(Var x) { return unary(Op::sqrt, x); }
Var rsqrt(Var x) { return unary(Op::rsqrt, x); }
Var square(Var x) { return unary(Op::square, x); }
Var tanh(Var x) { return unary(Op::tanh, x); }
Var sigmoid(Var x) { return unary(Op::sigmoid, x); }
Var softplus(Var x) { return unary(Op::softplus, x); }
Var relu(Var x) { return unary(Op::relu, x); }
Var step(Var x) { return unary(Op::step, x); }
Var gelu(Var x) { return unary(Op::gelu, x); }
Var silu(Var x) { return unary(Op::silu, x); }
Var elu(Var x, double alpha) { return unary(Op::elu, x, {alpha}); }
Var leaky_relu(Var x, double slope) { return unary(Op::leaky_relu, x, {slope}); }
Var scale(Var x, double c) { return unary(Op::scale, x, {c}); }
Var add_scalar(Var x, double c) { return unary(Op::add_scalar, x, {c}); }
Var pow_scalar(Var x, double p) { return unary(Op::pow_scalar, x, {p}); }
Var add(Var a, Var b) { return make_op(Op::add, {a, b}); }
Var sub(Var a, Var b) { return make_op(Op::sub, {a, b}); }
Var mul(Var a, Var b) { return make_op(Op::mul, {a, b}); }
Var div(Var a, Var b) { return make_op(Op::div, {a, b}); }

Var sum(Var x, std::vector<int64_t> axes) { return make_op(Op::sum, {x}, std::move(axes)); }
Var mean(Var x, std::vector<int64_t> axes) { return make_op(Op::mean, {x}, std::move(axes)); }
Var sum_all(Var x) {
  std::vector<int64_t> axes;
  for (int i = 0; i < x.rank(); i++) axes.push_back(i);
  return reshape(sum(x, axes), {});
}
Var mean_all(Var x) {
  std::vector<int64_t> axes;
  for (int i = 0; i < x.rank(); i++) axes.push_back(i);
  return reshape(mean(x, axes), {});
}
Var sum_to(Var x, const Shape& shape) {
  if (x.shape() == shape) return x;
  return make_op(Op::sum_to, {x}, std::vector<int64_t>(shape.begin(), shape.end()));
}
Var expand(Var x, const Shape& shape) {
  if (x.shape() == shape) return x;
  return make_op(Op::expand, {x}, std::vector<int64_t>(shape.begin(), shape.end()));
}

Var reshape(Var x, const Shape& shape) {
  if (x.shape() == shape) return x;
  return make_op(Op::reshape, {x}, std::vector<int64_t>(shape.begin(), shape.end()));
}
Var permute(Var x, std::vector<int64_t> perm) { return make_op(Op::permute, {x}, std::move(perm)); }
Var transpose(Var x, int a, int b) {
  std::vector<int64_t> perm;
  for (int i = 0; i < x.rank(); i++) perm.push_back(i);
  int r = x.rank();
  std::swap(perm[size_t(a < 0 ? a + r : a)], perm[size_t(b < 0 ? b + r : b)]);
  return permute(x, perm);
}
Var slice(Var x, int axis, int64_t start, int64_t end) { return make_op(Op::slice, {x}, {axis, start, end}); }
Var pad(Var x, int axis, int64_t before, int64_t after) { return make_op(Op::pad, {x}, {axis, before, after}); }
Var concat(const std::vector<Var>& xs, int axis) { return make_op(Op::concat, xs, {axis}); }

Var embedding(Var table, Var ids) { return make_op(Op::embedding, {table, ids}); }
Var scatter_add_rows(Var ids, Var src, int64_t rows) { return make_op(Op::scatter_add_rows, {ids, src}, {rows}); }
Var index_select(Var x, Var idx) { return make_op(Op::index_select, {x, idx}); }
Var index_add(Var g, Var idx, int64_t channels) { return make_op(Op::index_add, {g, idx}, {channels}); }
Var token_shift(Var x, int64_t k) { return make_op(Op::token_shift, {x}, {k}); }
Var to_real(Var ids) { return make_op(Op::to_real, {ids}); }
Var ngram_hash_at(Var window, Var pos, const NgramHash& h) {
  return make_op(Op::ngram_hash_at, {window, pos},
                 {h.n, h.buckets, h.kind, int64_t(h.p0), int64_t(h.p1), int64_t(h.p2), int64_t(h.seed)});
}
Var ngram_hash(Var tokens, const NgramHash& h) {
  // The seed travels as an int64 attribute bit for bit.
  return make_op(Op::ngram_hash, {tokens},
                 {h.n, h.buckets, h.kind, int64_t(h.p0), int64_t(h.p1), int64_t(h.p2), int64_t(h.seed)});
}

Var matmul(Var a, Var b, bool trans_a, bool trans_b) {
  return make_op(Op::matmul, {a, b}, {trans_a ? 1 : 0, trans_b ? 1 : 0});
}

Var rms_norm(Var x, double eps) { return make_op(Op::rms_norm, {x}, {}, {eps}); }
Var rope(Var x, int64_t rot_dims, double base, int64_t train_len, bool inverse) {
  return make_op(Op::rope, {x}, {rot_dims, train_len, inverse ? 1 : 0}, {base});
}
Var rope_at(Var x, Var pos, int64_t rot_dims, double base, int64_t train_len, int64_t ntk_len, bool inverse) {
  return make_op(Op::rope_at, {x, pos}, {rot_dims, train_len, ntk_len, inverse ? 1 : 0}, {base});
}
Var attention_cached(Var q, Var k, Var v, Var k_cache, Var v_cache, Var pos, double scale, bool xsa) {
  return make_op(Op::attention_cached, {q, k, v, k_cache, v_cache, pos}, {xsa ? 1 : 0}, {scale});
}
AttentionOut attention(Var q, Var k, Var v, double scale, bool xsa) {
  Var y = make_op(Op::attention, {q, k, v}, {xsa ? 1 : 0}, {scale});
  return {y, output(y, 1)};
}
Var cross_entropy(Var logits, Var targets, double softcap) {
  return make_op(Op::cross_entropy, {logits, targets}, {}, {softcap});
}
Var fake_quant(Var x, int bits) { return make_op(Op::fake_quant, {x}, {bits}); }
Var soft_cross_entropy(Var logits, Var probs) { return make_op(Op::soft_cross_entropy, {logits, probs}); }

namespace {
void effect(Op op, Var target, Var value) {
  if (!target.valid() || target.g->node(target.v.node).op != Op::input)
    throw ShapeError(std::string(op_info(op).name) + ": the target must be a bound input of the graph");
  make_op(op, {target, value});
}
}  // namespace

void assign(Var target, Var value) { effect(Op::assign, target, value); }
void accumulate(Var target, Var value) { effect(Op::accumulate, target, value); }

}  // namespace golf
