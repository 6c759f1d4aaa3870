#include "runtime/ops.h"

namespace golf {

namespace {
Graph* graph_of(Op op, const std::vector<Var>& xs) {
  const std::string name = "op '" + std::string(op_info(op).name) + "'";
  Graph* g = nullptr;
  for (size_t i = 0; i < xs.size(); i++) {
    const Var& x = xs[i];
    if (!x.valid()) throw ShapeError(name + ": input " + std::to_string(i) + " is an undefined value");
    if (g && x.g != g)
      throw ShapeError(name + ": input " + std::to_string(i) + " (" + x.g->describe(x.v) +
                       ") belongs to another graph than input 0 (" + xs[0].g->describe(xs[0].v) + ")");
    g = x.g;
  }
  if (!g) throw ShapeError(name + " needs at least one input to know its graph");
  return g;
}
template <class A>
Var unary(Var x) { return make_op(A{}, {x}); }
}  // namespace

Var make_op(Op op, const std::vector<Var>& inputs, std::vector<int64_t> ints, std::vector<double> floats) {
  Graph* g = graph_of(op, inputs);
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
  AttrValues v = pack(attrs::full{.shape = shape, .value = value});
  return Var(&g, g.add(Op::full, {}, std::move(v.ints), std::move(v.floats)));
}

Var neg(Var x) { return unary<attrs::neg>(x); }
Var exp(Var x) { return unary<attrs::exp>(x); }
Var log(Var x) { return unary<attrs::log>(x); }
Var sqrt(Var x) { return unary<attrs::sqrt>(x); }
Var rsqrt(Var x) { return unary<attrs::rsqrt>(x); }
Var square(Var x) { return unary<attrs::square>(x); }
Var tanh(Var x) { return unary<attrs::tanh>(x); }
Var sigmoid(Var x) { return unary<attrs::sigmoid>(x); }
Var softplus(Var x) { return unary<attrs::softplus>(x); }
Var relu(Var x) { return unary<attrs::relu>(x); }
Var step(Var x) { return unary<attrs::step>(x); }
Var gelu(Var x) { return unary<attrs::gelu>(x); }
Var silu(Var x) { return unary<attrs::silu>(x); }
Var elu(Var x, double alpha) { return make_op(attrs::elu{.alpha = alpha}, {x}); }
Var leaky_relu(Var x, double slope) { return make_op(attrs::leaky_relu{.slope = slope}, {x}); }
Var scale(Var x, double c) { return make_op(attrs::scale{.c = c}, {x}); }
Var add_scalar(Var x, double c) { return make_op(attrs::add_scalar{.c = c}, {x}); }
Var pow_scalar(Var x, double p) { return make_op(attrs::pow_scalar{.p = p}, {x}); }
Var add(Var a, Var b) { return make_op(attrs::add{}, {a, b}); }
Var sub(Var a, Var b) { return make_op(attrs::sub{}, {a, b}); }
Var mul(Var a, Var b) { return make_op(attrs::mul{}, {a, b}); }
Var div(Var a, Var b) { return make_op(attrs::div{}, {a, b}); }

Var sum(Var x, std::vector<int64_t> axes) { return make_op(attrs::sum{.axes = std::move(axes)}, {x}); }
Var mean(Var x, std::vector<int64_t> axes) { return make_op(attrs::mean{.axes = std::move(axes)}, {x}); }
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
  return make_op(attrs::sum_to{.shape = shape}, {x});
}
Var expand(Var x, const Shape& shape) {
  if (x.shape() == shape) return x;
  return make_op(attrs::expand{.shape = shape}, {x});
}

Var reshape(Var x, const Shape& shape) {
  if (x.shape() == shape) return x;
  return make_op(attrs::reshape{.shape = shape}, {x});
}
Var permute(Var x, std::vector<int64_t> perm) { return make_op(attrs::permute{.perm = std::move(perm)}, {x}); }
Var transpose(Var x, int a, int b) {
  std::vector<int64_t> perm;
  for (int i = 0; i < x.rank(); i++) perm.push_back(i);
  int r = x.rank();
  std::swap(perm[size_t(a < 0 ? a + r : a)], perm[size_t(b < 0 ? b + r : b)]);
  return permute(x, perm);
}
Var slice(Var x, int axis, int64_t start, int64_t end) {
  return make_op(attrs::slice{.axis = axis, .start = start, .end = end}, {x});
}
Var pad(Var x, int axis, int64_t before, int64_t after) {
  return make_op(attrs::pad{.axis = axis, .before = before, .after = after}, {x});
}
Var concat(const std::vector<Var>& xs, int axis) { return make_op(attrs::concat{.axis = axis}, xs); }

Var embedding(Var table, Var ids) { return make_op(attrs::embedding{}, {table, ids}); }
Var scatter_add_rows(Var ids, Var src, int64_t rows) { return make_op(attrs::scatter_add_rows{.rows = rows}, {ids, src}); }
Var index_select(Var x, Var idx) { return make_op(attrs::index_select{}, {x, idx}); }
Var index_add(Var g, Var idx, int64_t channels) { return make_op(attrs::index_add{.channels = channels}, {g, idx}); }
Var token_shift(Var x, int64_t k) { return make_op(attrs::token_shift{.k = k}, {x}); }
Var to_real(Var ids) { return make_op(attrs::to_real{}, {ids}); }
Var ngram_hash_at(Var window, Var pos, const NgramHash& h) {
  return make_op(attrs::ngram_hash_at{.n = h.n, .buckets = h.buckets, .kind = h.kind, .p0 = h.p0, .p1 = h.p1, .p2 = h.p2,
                                      .seed = h.seed},
                 {window, pos});
}
Var ngram_hash(Var tokens, const NgramHash& h) {
  // The seed travels as an int64 attribute bit for bit.
  return make_op(attrs::ngram_hash{.n = h.n, .buckets = h.buckets, .kind = h.kind, .p0 = h.p0, .p1 = h.p1, .p2 = h.p2,
                                   .seed = h.seed},
                 {tokens});
}

Var matmul(Var a, Var b, bool trans_a, bool trans_b) {
  return make_op(attrs::matmul{.trans_a = trans_a, .trans_b = trans_b}, {a, b});
}

Var rms_norm(Var x, double eps) { return make_op(attrs::rms_norm{.eps = eps}, {x}); }
Var rope(Var x, int64_t rot_dims, double base, int64_t train_len, bool inverse) {
  return make_op(attrs::rope{.rot = rot_dims, .train_len = train_len, .inverse = inverse, .base = base}, {x});
}
Var rope_at(Var x, Var pos, int64_t rot_dims, double base, int64_t train_len, int64_t ntk_len, bool inverse) {
  return make_op(attrs::rope_at{.rot = rot_dims, .train_len = train_len, .ntk_len = ntk_len, .inverse = inverse, .base = base},
                 {x, pos});
}
Var attention_cached(Var q, Var k, Var v, Var k_cache, Var v_cache, Var pos, double scale, bool xsa) {
  return make_op(attrs::attention_cached{.xsa = xsa, .scale = scale}, {q, k, v, k_cache, v_cache, pos});
}
AttentionOut attention(Var q, Var k, Var v, double scale, bool xsa) {
  Var y = make_op(attrs::attention{.xsa = xsa, .scale = scale}, {q, k, v});
  return {y, output(y, 1)};
}
Var cross_entropy(Var logits, Var targets, double softcap) {
  return make_op(attrs::cross_entropy{.softcap = softcap}, {logits, targets});
}
Var fake_quant(Var x, int bits) { return make_op(attrs::fake_quant{.bits = bits}, {x}); }
Var soft_cross_entropy(Var logits, Var probs) { return make_op(attrs::soft_cross_entropy{}, {logits, probs}); }

Var add_scaled(Var x, Var y, Var s) { return make_op(attrs::add_scaled{}, {x, y, s}); }
Var mix(Var a, Var b, Var wa, Var wb) { return make_op(attrs::mix{}, {a, b, wa, wb}); }
Var relu2(Var x, double slope) { return make_op(attrs::relu2{.slope = slope}, {x}); }
Var rms_norm_rope(Var x, double eps, int64_t rot_dims, double base, int64_t train_len, bool inverse) {
  return make_op(attrs::rms_norm_rope{.rot = rot_dims, .train_len = train_len, .inverse = inverse, .eps = eps, .base = base},
                 {x});
}
Var rms_norm_rope_gain(Var x, Var gain, double eps, int64_t rot_dims, double base, int64_t train_len, bool inverse) {
  return make_op(
      attrs::rms_norm_rope_gain{.rot = rot_dims, .train_len = train_len, .inverse = inverse, .eps = eps, .base = base},
      {x, gain});
}
Var rms_norm_scaled(Var x, double eps, double c) { return make_op(attrs::rms_norm_scaled{.eps = eps, .c = c}, {x}); }
Var matmul_add(Var a, Var b, Var c, bool trans_a, bool trans_b) {
  return make_op(attrs::matmul_add{.trans_a = trans_a, .trans_b = trans_b}, {a, b, c});
}
Var rms_norm_backward_add(Var x, Var dy, Var acc, double eps) {
  return make_op(attrs::rms_norm_backward_add{.eps = eps}, {x, dy, acc});
}
Var channel_scale_backward_add(Var u, Var w, Var g, Var acc) {
  return make_op(attrs::channel_scale_backward_add{}, {u, w, g, acc});
}
Var mix_rms_norm(Var a, Var b, Var wa, Var wb, double eps) {
  return make_op(attrs::mix_rms_norm{.eps = eps}, {a, b, wa, wb});
}
Var add_scaled_rms_norm(Var x, Var y, Var s, double eps) {
  return make_op(attrs::add_scaled_rms_norm{.eps = eps}, {x, y, s});
}

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
