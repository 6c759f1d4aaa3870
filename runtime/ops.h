// The C++ model-building API: symbolic values (Var) and one function per op. Each call appends a
// node to the Var's graph and returns its output; nothing is computed until an Executor runs the
// graph. The Lua DSL is a thin layer over these same functions.
#pragma once
#include <string>
#include <vector>

#include "runtime/graph.h"
#include "runtime/op_attrs.h"

namespace golf {

struct Var {
  Graph* g = nullptr;
  Value v;

  Var() = default;
  Var(Graph* graph, Value value) : g(graph), v(value) {}
  bool valid() const { return g != nullptr && v.valid(); }
  const Shape& shape() const { return g->shape(v); }
  int rank() const { return int(shape().size()); }
  int64_t dim(int i) const { return shape()[size_t(i < 0 ? i + rank() : i)]; }
  int64_t numel() const { return shape_numel(shape()); }
  bool integer() const { return g->spec(v).integer; }
};

// Appends a node of `attrs`' op (runtime/op_attrs.def names its attributes):
// make_op(attrs::slice{.axis = 1, .start = 0, .end = 4}, {x}).
template <class A>
Var make_op(const A& a, const std::vector<Var>& inputs);
// The same with the attributes as Graph::add stores them (checked against the declaration there).
Var make_op(Op op, const std::vector<Var>& inputs, std::vector<int64_t> ints = {}, std::vector<double> floats = {});
Var output(Var multi, int index);  // the index-th output of a multi-output node

Var input(Graph& g, const std::string& name, const Shape& shape, bool integer = false);
Var param(Graph& g, const std::string& name, const Shape& shape);
Var buffer(Graph& g, const std::string& name, const Shape& shape, bool integer);
Var full(Graph& g, const Shape& shape, double value);

// elementwise
Var neg(Var x);
Var exp(Var x);
Var log(Var x);
Var sqrt(Var x);
Var rsqrt(Var x);
Var square(Var x);
Var tanh(Var x);
Var sigmoid(Var x);
Var softplus(Var x);
Var relu(Var x);
Var step(Var x);
Var gelu(Var x);
Var silu(Var x);
Var elu(Var x, double alpha = 1.0);
Var leaky_relu(Var x, double slope);
Var scale(Var x, double c);
Var add_scalar(Var x, double c);
Var pow_scalar(Var x, double p);
Var add(Var a, Var b);
Var sub(Var a, Var b);
Var mul(Var a, Var b);
Var div(Var a, Var b);
inline Var operator+(Var a, Var b) { return add(a, b); }
inline Var operator-(Var a, Var b) { return sub(a, b); }
inline Var operator*(Var a, Var b) { return mul(a, b); }
inline Var operator/(Var a, Var b) { return div(a, b); }
inline Var operator-(Var a) { return neg(a); }
inline Var operator*(Var a, double c) { return scale(a, c); }
inline Var operator*(double c, Var a) { return scale(a, c); }
inline Var operator+(Var a, double c) { return add_scalar(a, c); }

// reductions (axes may be negative; dims are kept as size 1)
Var sum(Var x, std::vector<int64_t> axes);
Var mean(Var x, std::vector<int64_t> axes);
Var sum_all(Var x);   // -> shape []
Var mean_all(Var x);  // -> shape []
Var sum_to(Var x, const Shape& shape);
Var expand(Var x, const Shape& shape);

// layout
Var reshape(Var x, const Shape& shape);  // one dim may be -1
Var permute(Var x, std::vector<int64_t> perm);
Var transpose(Var x, int a, int b);
Var slice(Var x, int axis, int64_t start, int64_t end);
Var pad(Var x, int axis, int64_t before, int64_t after);
Var concat(const std::vector<Var>& xs, int axis);

// gather / scatter
Var embedding(Var table, Var ids);
Var scatter_add_rows(Var ids, Var src, int64_t rows);
Var index_select(Var x, Var idx);           // along the last axis
Var index_add(Var g, Var idx, int64_t channels);
Var token_shift(Var x, int64_t k = 1);
Var to_real(Var ids);  // integer -> real, same values
// Hashed n-gram bucket ids (PARAMETER_GOLF.md, BigramHash/TrigramHash): multiply_xor with primes
// p0 (current token), p1 (previous), p2 (the one before), or XXH3-64 with `seed` over the n-gram's
// ids as little-endian uint32 (oldest first). Both mod K-1;
// bucket K-1 is reserved for position 0; a trigram at position 1 uses the bigram hash.
struct NgramHash {
  int n = 2;
  int64_t buckets = 2048;
  NgramKind kind = NgramKind::multiply_xor;
  uint32_t p0 = 36313, p1 = 27191, p2 = 51647;
  uint64_t seed = 0;
};
Var ngram_hash(Var tokens, const NgramHash& h);
// Decode steps: the bucket of the last id of window [B, n] (its n−1 predecessors before it) at
// absolute position pos [1], as ngram_hash would give it inside the whole sequence.
Var ngram_hash_at(Var window, Var pos, const NgramHash& h);

// matmul: a[..., M, K] @ b[..., K, N] (b may be 2-D and is then shared by every batch)
Var matmul(Var a, Var b, bool trans_a = false, bool trans_b = false);

// fused
Var rms_norm(Var x, double eps = 1e-6);
Var rope(Var x, int64_t rot_dims, double base = 10000.0, int64_t train_len = 0, bool inverse = false);
struct AttentionOut {
  Var y;    // [B, T, H, hd]
  Var lse;  // [B, H, T] log-sum-exp of each query row, kept for the backward pass
};
AttentionOut attention(Var q, Var k, Var v, double scale, bool xsa = false);
// Incremental decoding (docs/decoding.md). rope_at rotates x[B, T, H, hd] as positions
// pos..pos+T-1 (pos: integer [1]), with the NTK rescale computed for a sequence of ntk_len.
Var rope_at(Var x, Var pos, int64_t rot_dims, double base, int64_t train_len, int64_t ntk_len, bool inverse = false);
// Writes k, v [B, T, Hkv, hd] into the bound caches [B, C, Hkv, hd] at rows pos..pos+T-1, then
// returns causal attention of q [B, T, H, hd] (absolute positions pos..) over rows 0..pos+T-1.
Var attention_cached(Var q, Var k, Var v, Var k_cache, Var v_cache, Var pos, double scale, bool xsa = false);
Var cross_entropy(Var logits, Var targets, double softcap = 0.0);  // per-token loss [N]
Var fake_quant(Var x, int bits);
// −Σ_v probs·log_softmax(logits) per row: logits, probs [N, V] -> [N] (distillation)
Var soft_cross_entropy(Var logits, Var probs);

// fused elementwise chains (runtime/fuse_pass.cc introduces them; scripts never need to). A
// per-channel weight has one value per element of x's last dim, shaped [D] or [1, ..., 1, D].
Var add_scaled(Var x, Var y, Var s);        // x + s⊙y
Var mix(Var a, Var b, Var wa, Var wb);      // wa⊙a + wb⊙b
Var relu2(Var x, double slope = 0.0);       // leaky_relu(x, slope)²
// RMSNorm over each head's hd values, then rope (the arguments of rope), then, with a gain of
// shape [H, 1], times the head's gain: q's and k's path in golf.Attention.
Var rms_norm_rope(Var x, double eps, int64_t rot_dims, double base, int64_t train_len = 0, bool inverse = false);
Var rms_norm_rope_gain(Var x, Var gain, double eps, int64_t rot_dims, double base, int64_t train_len = 0,
                       bool inverse = false);
Var rms_norm_scaled(Var x, double eps, double c);  // c·rms_norm(x) (the blocks' LN scale)

// gradient sums folded into their producers (fold_gradient_sums in runtime/fuse_pass.h introduces
// them after autograd; scripts never need to): c + matmul(a, b), c shaped as the product; and
// acc + the rms_norm backward of (x, dy), acc shaped as x.
Var matmul_add(Var a, Var b, Var c, bool trans_a = false, bool trans_b = false);
Var rms_norm_backward_add(Var x, Var dy, Var acc, double eps);
// (acc + w⊙g, Σ_rows g⊙u): channel_scale_backward (mix's and add_scaled's backward) with its
// first output summed into acc; output 1 is a Var of node output 1 (output(d, 1)).
Var channel_scale_backward_add(Var u, Var w, Var g, Var acc);

// the pre-norm fused into the residual op before it (fuse_graph introduces them): output 0 the
// stream value (mix's or add_scaled's), output 1 its rms_norm (output(v, 1)).
Var mix_rms_norm(Var a, Var b, Var wa, Var wb, double eps);
Var add_scaled_rms_norm(Var x, Var y, Var s, double eps);

// effects: write into the tensor bound to the `target` input when the graph runs
void assign(Var target, Var value);
void accumulate(Var target, Var value);

template <class A>
Var make_op(const A& a, const std::vector<Var>& inputs) {
  AttrValues v = pack(a);
  return make_op(A::op, inputs, std::move(v.ints), std::move(v.floats));
}

}  // namespace golf
