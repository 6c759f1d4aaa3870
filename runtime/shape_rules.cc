#include "runtime/shape_rules.h"

#include <algorithm>
#include <cstdint>
#include <sstream>

#include "runtime/op_attrs.h"

namespace golf {

namespace {

using Ins = std::vector<const OutSpec*>;

[[noreturn]] void fail(const Node& n, const Ins& in, const std::string& why) {
  std::ostringstream o;
  o << "op '" << op_info(n.op).name << "'";
  if (!n.loc.empty()) o << " at " << n.loc;
  o << ": " << why << " (input shapes:";
  for (size_t i = 0; i < in.size(); i++) o << (i ? ", " : " ") << shape_str(in[i]->shape) << (in[i]->integer ? " i32" : "");
  o << ")";
  throw ShapeError(o.str());
}

void need_real(const Node& n, const Ins& in, size_t i) {
  if (in[i]->integer) fail(n, in, "input " + std::to_string(i) + " must be real, got an integer tensor");
}
void need_int(const Node& n, const Ins& in, size_t i) {
  if (!in[i]->integer) fail(n, in, "input " + std::to_string(i) + " must be an integer (i32) tensor");
}
int64_t norm_axis(const Node& n, const Ins& in, int64_t axis, size_t rank) {
  int64_t r = int64_t(rank);
  if (axis < -r || axis >= r) fail(n, in, "axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + r : axis;
}
void out1(Node& n, Shape s, bool integer = false) { n.outs = {OutSpec{std::move(s), integer}}; }

void shape_leaf(Node& n, const Ins& in) {
  if (n.outs.size() != 1) fail(n, in, "a leaf needs exactly one output spec");
  if (n.str.empty()) fail(n, in, "a leaf needs a name");
}

void shape_full(Node& n, const Ins& in) {
  const Shape shape = full_attrs(n).shape;
  for (int64_t d : shape)
    if (d < 0) fail(n, in, "negative dimension in " + shape_str(shape));
  out1(n, shape);
}

void shape_same(Node& n, const Ins& in) {
  need_real(n, in, 0);
  switch (n.op) {
    case Op::rms_norm:
    case Op::rms_norm_scaled:
      if (in[0]->shape.empty()) fail(n, in, "needs rank >= 1");
      break;
    case Op::token_shift:
      if (in[0]->shape.size() < 2) fail(n, in, "expects [B, T, ...]");
      break;
    case Op::fake_quant: {
      const int64_t bits = fake_quant_attrs(n).bits;
      if (bits < 2 || bits > 8) fail(n, in, "bits must be in 2..8, got " + std::to_string(bits));
      if (in[0]->shape.empty()) fail(n, in, "needs rank >= 1");
      break;
    }
    default: break;
  }
  out1(n, in[0]->shape);
}

void shape_first(Node& n, const Ins& in) {
  if (n.op == Op::rms_norm_backward || n.op == Op::relu2_backward || n.op == Op::rms_norm_scaled_backward ||
      n.op == Op::rms_norm_backward_add) {
    need_real(n, in, 1);
    if (in[0]->shape != in[1]->shape) fail(n, in, "x and dy shapes differ");
    if (n.op == Op::rms_norm_backward_add) {
      need_real(n, in, 2);
      if (in[2]->shape != in[0]->shape) fail(n, in, "acc and x shapes differ");
    }
  } else if (n.op == Op::cross_entropy_backward) {
    need_int(n, in, 1);
    const Shape& l = in[0]->shape;
    if (l.size() != 2 || in[1]->shape != Shape{l[0]} || in[2]->shape != Shape{l[0]})
      fail(n, in, "expects logits [N, V], targets [N], dloss [N]");
  }
  need_real(n, in, 0);
  out1(n, in[0]->shape);
}

}  // namespace

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; i++) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      throw std::invalid_argument("shapes " + shape_str(a) + " and " + shape_str(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {

void shape_broadcast(Node& n, const Ins& in) {
  need_real(n, in, 0);
  need_real(n, in, 1);
  try {
    out1(n, broadcast_shapes(in[0]->shape, in[1]->shape));
  } catch (const std::invalid_argument&) {
    fail(n, in, "shapes " + shape_str(in[0]->shape) + " and " + shape_str(in[1]->shape) + " do not broadcast");
  }
}

void shape_reduce(Node& n, const Ins& in) {
  need_real(n, in, 0);
  Shape s = in[0]->shape;
  // sum and mean share the field `axes`; the rule writes them back sorted and non-negative
  std::vector<int64_t> given = n.op == Op::sum ? sum_attrs(n).axes : mean_attrs(n).axes;
  std::vector<int64_t> axes;
  for (int64_t a : given) axes.push_back(norm_axis(n, in, a, s.size()));
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end())
    fail(n, in, "repeated axis in " + shape_str(Shape(given.begin(), given.end())));
  for (int64_t a : axes) s[size_t(a)] = 1;
  if (n.op == Op::sum) set_attrs(n, attrs::sum{.axes = axes});
  else set_attrs(n, attrs::mean{.axes = axes});
  out1(n, s);
}

void shape_to(Node& n, const Ins& in) {
  need_real(n, in, 0);
  const Shape target = n.op == Op::sum_to ? sum_to_attrs(n).shape : expand_attrs(n).shape;
  const Shape& from = n.op == Op::sum_to ? target : in[0]->shape;  // the smaller side
  const Shape& to = n.op == Op::sum_to ? in[0]->shape : target;
  if (from.size() > to.size()) fail(n, in, "cannot " + std::string(n.op == Op::sum_to ? "sum " : "expand ") + "to " + shape_str(target));
  size_t off = to.size() - from.size();
  for (size_t i = 0; i < from.size(); i++)
    if (from[i] != to[i + off] && from[i] != 1)
      fail(n, in, "shape " + shape_str(from) + " does not broadcast to " + shape_str(to));
  out1(n, target);
}

void shape_reshape(Node& n, const Ins& in) {
  Shape s = reshape_attrs(n).shape;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == -1) {
      if (infer >= 0) fail(n, in, "more than one -1 in " + shape_str(s));
      infer = int(i);
    } else if (s[i] < 0) {
      fail(n, in, "negative dimension in " + shape_str(s));
    } else {
      known *= s[i];
    }
  }
  int64_t total = shape_numel(in[0]->shape);
  if (infer >= 0) {
    if (known == 0 || total % known) fail(n, in, "cannot infer -1 in " + shape_str(s));
    s[size_t(infer)] = total / known;
  }
  if (shape_numel(s) != total) fail(n, in, "cannot reshape to " + shape_str(s) + ": element counts differ");
  set_attrs(n, attrs::reshape{.shape = s});
  out1(n, s, in[0]->integer);
}

void shape_permute(Node& n, const Ins& in) {
  const Shape& x = in[0]->shape;
  attrs::permute a = permute_attrs(n);
  const std::string given = shape_str(Shape(a.perm.begin(), a.perm.end()));
  if (a.perm.size() != x.size())
    fail(n, in, "permutation " + given + " has " + std::to_string(a.perm.size()) + " axes for rank " + std::to_string(x.size()));
  std::vector<bool> seen(x.size());
  Shape s(x.size());
  for (size_t i = 0; i < x.size(); i++) {
    int64_t axis = norm_axis(n, in, a.perm[i], x.size());
    if (seen[size_t(axis)]) fail(n, in, given + " is not a permutation");
    seen[size_t(axis)] = true;
    a.perm[i] = axis;
    s[i] = x[size_t(axis)];
  }
  set_attrs(n, a);
  out1(n, s, in[0]->integer);
}

void shape_slice(Node& n, const Ins& in) {
  Shape s = in[0]->shape;
  attrs::slice a = slice_attrs(n);
  a.axis = norm_axis(n, in, a.axis, s.size());
  const int64_t dim = s[size_t(a.axis)];
  if (a.start < 0 || a.end > dim || a.start > a.end)
    fail(n, in, "slice [" + std::to_string(a.start) + ", " + std::to_string(a.end) + ") out of range for axis " +
                    std::to_string(a.axis) + " of size " + std::to_string(dim));
  set_attrs(n, a);
  s[size_t(a.axis)] = a.end - a.start;
  out1(n, s, in[0]->integer);
}

void shape_pad(Node& n, const Ins& in) {
  need_real(n, in, 0);
  Shape s = in[0]->shape;
  attrs::pad a = pad_attrs(n);
  a.axis = norm_axis(n, in, a.axis, s.size());
  if (a.before < 0 || a.after < 0)
    fail(n, in, "negative padding (before " + std::to_string(a.before) + ", after " + std::to_string(a.after) + ")");
  set_attrs(n, a);
  s[size_t(a.axis)] += a.before + a.after;
  out1(n, s);
}

void shape_concat(Node& n, const Ins& in) {
  Shape s = in[0]->shape;
  const int64_t a = norm_axis(n, in, concat_attrs(n).axis, s.size());
  set_attrs(n, attrs::concat{.axis = a});
  for (size_t i = 1; i < in.size(); i++) {
    const Shape& o = in[i]->shape;
    bool ok = o.size() == s.size() && in[i]->integer == in[0]->integer;
    for (size_t d = 0; ok && d < s.size(); d++) ok = d == size_t(a) || o[d] == s[d];
    if (!ok) fail(n, in, "input " + std::to_string(i) + " does not match input 0 outside axis " + std::to_string(a));
    s[size_t(a)] += o[size_t(a)];
  }
  out1(n, s, in[0]->integer);
}

void shape_embedding(Node& n, const Ins& in) {
  need_real(n, in, 0);
  need_int(n, in, 1);
  if (in[0]->shape.size() != 2) fail(n, in, "table must be [V, D]");
  Shape s = in[1]->shape;
  s.push_back(in[0]->shape[1]);
  out1(n, s);
}

void shape_scatter_add(Node& n, const Ins& in) {
  need_int(n, in, 0);
  need_real(n, in, 1);
  Shape want = in[0]->shape;
  if (in[1]->shape.empty()) fail(n, in, "src must be ids.shape + [D]");
  want.push_back(in[1]->shape.back());
  if (want != in[1]->shape) fail(n, in, "src must be ids.shape + [D]");
  out1(n, {scatter_add_rows_attrs(n).rows, in[1]->shape.back()});
}

void shape_index_select(Node& n, const Ins& in) {
  need_real(n, in, 0);
  need_int(n, in, 1);
  if (in[0]->shape.empty() || in[1]->shape.size() != 1) fail(n, in, "expects x[..., C] and idx[K]");
  Shape s = in[0]->shape;
  s.back() = in[1]->shape[0];
  out1(n, s);
}

void shape_index_add(Node& n, const Ins& in) {
  need_real(n, in, 0);
  need_int(n, in, 1);
  if (in[0]->shape.empty() || in[1]->shape.size() != 1 || in[0]->shape.back() != in[1]->shape[0])
    fail(n, in, "expects g[..., K] and idx[K]");
  Shape s = in[0]->shape;
  s.back() = index_add_attrs(n).channels;
  out1(n, s);
}

void shape_matmul(Node& n, const Ins& in) {
  need_real(n, in, 0);
  need_real(n, in, 1);
  const Shape& a = in[0]->shape;
  const Shape& b = in[1]->shape;
  if (a.size() < 2 || b.size() < 2) fail(n, in, "operands must have rank >= 2");
  // matmul_add (a, b, c) is matmul's product plus c, shaped as the product.
  const bool ta = n.op == Op::matmul_add ? matmul_add_attrs(n).trans_a : matmul_attrs(n).trans_a;
  const bool tb = n.op == Op::matmul_add ? matmul_add_attrs(n).trans_b : matmul_attrs(n).trans_b;
  int64_t m = ta ? a[a.size() - 1] : a[a.size() - 2];
  int64_t ka = ta ? a[a.size() - 2] : a[a.size() - 1];
  int64_t kb = tb ? b[b.size() - 1] : b[b.size() - 2];
  int64_t nn = tb ? b[b.size() - 2] : b[b.size() - 1];
  if (ka != kb) fail(n, in, "inner dimensions differ: " + std::to_string(ka) + " vs " + std::to_string(kb));
  if (b.size() != 2 && Shape(a.begin(), a.end() - 2) != Shape(b.begin(), b.end() - 2))
    fail(n, in, "batch dimensions differ (b must be 2-D or have a's batch dimensions)");
  Shape s(a.begin(), a.end() - 2);
  s.push_back(m);
  s.push_back(nn);
  if (n.op == Op::matmul_add) {
    need_real(n, in, 2);
    if (in[2]->shape != s) fail(n, in, "the addend " + shape_str(in[2]->shape) + " must have the product's shape " + shape_str(s));
  }
  out1(n, s);
}

void shape_rope(Node& n, const Ins& in) {
  need_real(n, in, 0);
  const attrs::rope a = rope_attrs(n);
  const Shape& x = in[0]->shape;
  if (x.size() != 4) fail(n, in, "expects [B, T, H, head_dim]");
  const int64_t r = a.rot;
  if (r < 2 || r % 2 || r > x[3]) fail(n, in, "rotary dims " + std::to_string(r) + " must be even and in [2, head_dim]");
  if (a.train_len > 0 && x[1] > a.train_len && r <= 2) fail(n, in, "NTK rescale needs rotary dims > 2, got " + std::to_string(r));
  out1(n, x);
}

void need_position(const Node& n, const Ins& in, size_t i) {
  need_int(n, in, i);
  if (in[i]->shape != Shape{1}) fail(n, in, "expects the position as an integer tensor of shape [1]");
}

void shape_to_real(Node& n, const Ins& in) {
  need_int(n, in, 0);
  out1(n, in[0]->shape);
}

// ngram_hash and ngram_hash_at share their fields (runtime/op_attrs.def).
template <class A>
void check_ngram_fields(const Node& n, const Ins& in, const A& a) {
  need_int(n, in, 0);
  if (in[0]->shape.size() != 2) fail(n, in, "expects token ids [B, T]");
  if (a.n != 2 && a.n != 3) fail(n, in, "n must be 2 (bigram) or 3 (trigram), got " + std::to_string(a.n));
  const int64_t buckets = a.buckets;  // a plain name: `a.buckets < 2` would parse as a template here
  if (buckets < 2 || buckets > (int64_t(1) << 31)) fail(n, in, "buckets must be in [2, 2^31], got " + std::to_string(buckets));
  if (a.kind != NgramKind::multiply_xor && a.kind != NgramKind::xxh3)
    fail(n, in, "kind must be 0 (multiply-xor) or 1 (xxh3), got " + std::to_string(int64_t(a.kind)));
  for (int64_t p : {a.p0, a.p1, a.p2})
    if (p < 0 || p > int64_t(UINT32_MAX)) fail(n, in, "primes are unsigned 32-bit numbers, got " + std::to_string(p));
}

void shape_ngram_hash(Node& n, const Ins& in) {
  check_ngram_fields(n, in, ngram_hash_attrs(n));
  out1(n, in[0]->shape, true);
}

void shape_ngram_hash_at(Node& n, const Ins& in) {
  const attrs::ngram_hash_at a = ngram_hash_at_attrs(n);
  check_ngram_fields(n, in, a);
  need_position(n, in, 1);
  if (in[0]->shape[1] != a.n)
    fail(n, in, "expects a window of the last n = " + std::to_string(a.n) + " ids [B, n]");
  out1(n, {in[0]->shape[0], 1}, true);
}

void shape_rope_at(Node& n, const Ins& in) {
  need_real(n, in, 0);
  need_position(n, in, 1);
  const attrs::rope_at a = rope_at_attrs(n);
  const Shape& x = in[0]->shape;
  if (x.size() != 4) fail(n, in, "expects [B, T, H, head_dim]");
  const int64_t r = a.rot;
  if (r < 2 || r % 2 || r > x[3]) fail(n, in, "rotary dims " + std::to_string(r) + " must be even and in [2, head_dim]");
  if (a.train_len > 0 && a.ntk_len > a.train_len && r <= 2)
    fail(n, in, "NTK rescale needs rotary dims > 2, got " + std::to_string(r));
  out1(n, x);
}

void check_qkv(const Node& n, const Ins& in) {
  const Shape& q = in[0]->shape;
  const Shape& k = in[1]->shape;
  const Shape& v = in[2]->shape;
  if (q.size() != 4 || k.size() != 4 || k != v) fail(n, in, "expects q[B, T, H, hd], k and v [B, T, Hkv, hd]");
  if (q[0] != k[0] || q[1] != k[1] || q[3] != k[3]) fail(n, in, "q and k/v differ in B, T or head_dim");
  if (k[2] == 0 || q[2] % k[2]) fail(n, in, "KV heads (" + std::to_string(k[2]) + ") must divide heads (" + std::to_string(q[2]) + ")");
  for (int i = 0; i < 3; i++) need_real(n, in, size_t(i));
}

void shape_attention(Node& n, const Ins& in) {
  check_qkv(n, in);
  const Shape& q = in[0]->shape;
  n.outs = {OutSpec{q, false}, OutSpec{{q[0], q[2], q[1]}, false}};
}

void shape_attention_backward(Node& n, const Ins& in) {
  check_qkv(n, in);
  const Shape& q = in[0]->shape;
  if (in[3]->shape != q || in[5]->shape != q || in[4]->shape != Shape{q[0], q[2], q[1]})
    fail(n, in, "expects y and dy like q, lse [B, H, T]");
  n.outs = {OutSpec{q, false}, OutSpec{in[1]->shape, false}, OutSpec{in[2]->shape, false}};
}

void shape_attention_cached(Node& n, const Ins& in) {
  check_qkv(n, in);
  for (size_t i : {size_t(3), size_t(4)}) need_real(n, in, i);
  need_position(n, in, 5);
  const Shape& q = in[0]->shape;
  const Shape& k = in[1]->shape;
  const Shape& kc = in[3]->shape;
  if (kc.size() != 4 || kc != in[4]->shape || kc[0] != k[0] || kc[2] != k[2] || kc[3] != k[3])
    fail(n, in, "expects k_cache and v_cache [B, C, Hkv, hd] matching k");
  if (kc[1] < k[1]) fail(n, in, "the cache holds fewer positions than one step writes");
  out1(n, q);
}

void shape_cross_entropy(Node& n, const Ins& in) {
  need_real(n, in, 0);
  need_int(n, in, 1);
  const Shape& l = in[0]->shape;
  if (l.size() != 2 || in[1]->shape != Shape{l[0]}) fail(n, in, "expects logits [N, V] and targets [N]");
  out1(n, {l[0]});
}

void shape_soft_cross_entropy(Node& n, const Ins& in) {
  need_real(n, in, 0);
  need_real(n, in, 1);
  const Shape& l = in[0]->shape;
  if (l.size() != 2 || in[1]->shape != l) fail(n, in, "expects logits [N, V] and probabilities [N, V]");
  out1(n, {l[0]});
}

void shape_soft_cross_entropy_backward(Node& n, const Ins& in) {
  for (size_t i = 0; i < 3; i++) need_real(n, in, i);
  const Shape& l = in[0]->shape;
  if (l.size() != 2 || in[1]->shape != l || in[2]->shape != Shape{l[0]})
    fail(n, in, "expects logits and probabilities [N, V] and dloss [N]");
  n.outs = {OutSpec{l, false}, OutSpec{l, false}};
}

// A per-channel weight of x: one value per element of x's last dim, as [D] or [1, ..., 1, D].
void need_per_channel(const Node& n, const Ins& in, size_t w, const Shape& x) {
  need_real(n, in, w);
  const Shape& s = in[w]->shape;
  bool ok = !x.empty() && !s.empty() && s.size() <= x.size() && s.back() == x.back();
  for (size_t i = 0; ok && i + 1 < s.size(); i++) ok = s[i] == 1;
  if (!ok)
    fail(n, in, "input " + std::to_string(w) + " " + shape_str(s) + " must hold one value per channel of " + shape_str(x) +
                    " ([D] or [1, ..., 1, D])");
}

void need_same(const Node& n, const Ins& in, size_t i, size_t j) {
  need_real(n, in, i);
  need_real(n, in, j);
  if (in[i]->shape != in[j]->shape)
    fail(n, in, "inputs " + std::to_string(i) + " and " + std::to_string(j) + " must have the same shape");
}

void shape_add_scaled(Node& n, const Ins& in) {  // (x, y, s)
  need_same(n, in, 0, 1);
  need_per_channel(n, in, 2, in[0]->shape);
  out1(n, in[0]->shape);
}

void shape_mix(Node& n, const Ins& in) {  // (a, b, wa, wb)
  need_same(n, in, 0, 1);
  need_per_channel(n, in, 2, in[0]->shape);
  need_per_channel(n, in, 3, in[0]->shape);
  out1(n, in[0]->shape);
}

// mix_rms_norm (a, b, wa, wb) and add_scaled_rms_norm (x, y, s): mix's and add_scaled's checks, two
// outputs shaped as the stream.
void shape_residual_norm(Node& n, const Ins& in) {
  if (n.op == Op::mix_rms_norm) shape_mix(n, in);
  else shape_add_scaled(n, in);
  n.outs = {OutSpec{in[0]->shape, false}, OutSpec{in[0]->shape, false}};
}

void shape_channel_scale_backward(Node& n, const Ins& in) {  // (u, w, g[, acc]) -> (du, dw)
  need_same(n, in, 0, 2);
  if (n.op == Op::channel_scale_backward_add) need_same(n, in, 0, 3);
  need_per_channel(n, in, 1, in[0]->shape);
  n.outs = {OutSpec{in[0]->shape, false}, OutSpec{in[1]->shape, false}};
}

// x [B, T, H, hd] with rope's rules; the gain (input 1 of the _gain ops) is [H, 1] (or with leading 1s).
void check_norm_rope(const Node& n, const Ins& in, int64_t rot, int64_t train_len, bool with_gain) {
  need_real(n, in, 0);
  const Shape& x = in[0]->shape;
  if (x.size() != 4) fail(n, in, "expects x [B, T, H, head_dim]");
  if (rot < 2 || rot % 2 || rot > x[3]) fail(n, in, "rotary dims " + std::to_string(rot) + " must be even and in [2, head_dim]");
  if (train_len > 0 && x[1] > train_len && rot <= 2) fail(n, in, "NTK rescale needs rotary dims > 2, got " + std::to_string(rot));
  if (!with_gain) return;
  need_real(n, in, 1);
  const Shape& gs = in[1]->shape;
  bool ok = gs.size() >= 2 && gs.size() <= 4 && gs[gs.size() - 1] == 1 && gs[gs.size() - 2] == x[2];
  for (size_t i = 0; ok && i + 2 < gs.size(); i++) ok = gs[i] == 1;
  if (!ok) fail(n, in, "the gain " + shape_str(gs) + " must be [H, 1] with H = " + std::to_string(x[2]));
}

void shape_rms_norm_rope(Node& n, const Ins& in) {
  if (n.op == Op::rms_norm_rope) {
    const attrs::rms_norm_rope a = rms_norm_rope_attrs(n);
    check_norm_rope(n, in, a.rot, a.train_len, false);
  } else {
    const attrs::rms_norm_rope_gain a = rms_norm_rope_gain_attrs(n);
    check_norm_rope(n, in, a.rot, a.train_len, true);
  }
  out1(n, in[0]->shape);
}

void shape_rms_norm_rope_backward(Node& n, const Ins& in) {
  const Shape& x = in[0]->shape;
  if (n.op == Op::rms_norm_rope_backward) {
    const attrs::rms_norm_rope_backward a = rms_norm_rope_backward_attrs(n);
    check_norm_rope(n, in, a.rot, a.train_len, false);
    need_same(n, in, 0, 1);
    out1(n, x);
    return;
  }
  const attrs::rms_norm_rope_gain_backward a = rms_norm_rope_gain_backward_attrs(n);
  check_norm_rope(n, in, a.rot, a.train_len, true);
  need_same(n, in, 0, 2);
  n.outs = {OutSpec{x, false}, OutSpec{{x[0], x[1], x[2], 1}, false}};
}

void shape_effect(Node& n, const Ins& in) {
  if (in[0]->shape != in[1]->shape || in[0]->integer != in[1]->integer) fail(n, in, "target and value differ");
  n.outs.clear();
}

}  // namespace

void infer_shape(Node& n, const std::vector<const OutSpec*>& in) {
  switch (n.op) {
#define OP(name, arity, shape_rule, grad_rule, check) \
  case Op::name: shape_rule(n, in); break;
#include "runtime/ops.def"
#undef OP
  }
}

}  // namespace golf
