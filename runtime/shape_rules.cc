#include "runtime/shape_rules.h"

#include <algorithm>
#include <cstdint>
#include <sstream>

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
void need_ints(const Node& n, const Ins& in, size_t count) {
  if (n.ints.size() < count) fail(n, in, "needs " + std::to_string(count) + " integer attributes");
}
void need_floats(const Node& n, const Ins& in, size_t count) {
  if (n.floats.size() < count) fail(n, in, "needs " + std::to_string(count) + " float attributes");
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
  need_floats(n, in, 1);
  for (int64_t d : n.ints)
    if (d < 0) fail(n, in, "negative dimension in " + shape_str(Shape(n.ints.begin(), n.ints.end())));
  out1(n, Shape(n.ints.begin(), n.ints.end()));
}

void shape_same(Node& n, const Ins& in) {
  need_real(n, in, 0);
  switch (n.op) {
    case Op::elu: case Op::leaky_relu: case Op::scale: case Op::add_scalar: case Op::pow_scalar:
      need_floats(n, in, 1);
      break;
    case Op::rms_norm:
      need_floats(n, in, 1);
      if (in[0]->shape.empty()) fail(n, in, "needs rank >= 1");
      break;
    case Op::token_shift:
      need_ints(n, in, 1);
      if (in[0]->shape.size() < 2) fail(n, in, "expects [B, T, ...]");
      break;
    case Op::fake_quant:
      need_ints(n, in, 1);
      if (n.ints[0] < 2 || n.ints[0] > 8) fail(n, in, "bits must be in 2..8, got " + std::to_string(n.ints[0]));
      if (in[0]->shape.empty()) fail(n, in, "needs rank >= 1");
      break;
    default: break;
  }
  out1(n, in[0]->shape);
}

void shape_first(Node& n, const Ins& in) {
  if (n.op == Op::rms_norm_backward) {
    need_floats(n, in, 1);
    if (in[0]->shape != in[1]->shape) fail(n, in, "x and dy shapes differ");
  } else if (n.op == Op::cross_entropy_backward) {
    need_floats(n, in, 1);
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
  std::vector<int64_t> axes;
  for (int64_t a : n.ints) axes.push_back(norm_axis(n, in, a, s.size()));
  std::sort(axes.begin(), axes.end());
  if (std::adjacent_find(axes.begin(), axes.end()) != axes.end()) fail(n, in, "repeated axis");
  for (int64_t a : axes) s[size_t(a)] = 1;
  n.ints = axes;
  out1(n, s);
}

void shape_to(Node& n, const Ins& in) {
  need_real(n, in, 0);
  Shape target(n.ints.begin(), n.ints.end());
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
  Shape s(n.ints.begin(), n.ints.end());
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
  n.ints = std::vector<int64_t>(s.begin(), s.end());
  out1(n, s, in[0]->integer);
}

void shape_permute(Node& n, const Ins& in) {
  const Shape& x = in[0]->shape;
  if (n.ints.size() != x.size()) fail(n, in, "permutation has " + std::to_string(n.ints.size()) + " axes for rank " + std::to_string(x.size()));
  std::vector<bool> seen(x.size());
  Shape s(x.size());
  for (size_t i = 0; i < x.size(); i++) {
    int64_t a = norm_axis(n, in, n.ints[i], x.size());
    if (seen[size_t(a)]) fail(n, in, "not a permutation");
    seen[size_t(a)] = true;
    n.ints[i] = a;
    s[i] = x[size_t(a)];
  }
  out1(n, s, in[0]->integer);
}

void shape_slice(Node& n, const Ins& in) {
  need_ints(n, in, 3);
  Shape s = in[0]->shape;
  int64_t a = norm_axis(n, in, n.ints[0], s.size());
  int64_t start = n.ints[1], end = n.ints[2];
  if (start < 0 || end > s[size_t(a)] || start > end)
    fail(n, in, "slice [" + std::to_string(start) + ", " + std::to_string(end) + ") out of range for axis " +
                    std::to_string(a) + " of size " + std::to_string(s[size_t(a)]));
  n.ints[0] = a;
  s[size_t(a)] = end - start;
  out1(n, s, in[0]->integer);
}

void shape_pad(Node& n, const Ins& in) {
  need_ints(n, in, 3);
  need_real(n, in, 0);
  Shape s = in[0]->shape;
  int64_t a = norm_axis(n, in, n.ints[0], s.size());
  if (n.ints[1] < 0 || n.ints[2] < 0) fail(n, in, "negative padding");
  n.ints[0] = a;
  s[size_t(a)] += n.ints[1] + n.ints[2];
  out1(n, s);
}

void shape_concat(Node& n, const Ins& in) {
  need_ints(n, in, 1);
  Shape s = in[0]->shape;
  int64_t a = norm_axis(n, in, n.ints[0], s.size());
  n.ints[0] = a;
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
  need_ints(n, in, 1);
  Shape want = in[0]->shape;
  if (in[1]->shape.empty()) fail(n, in, "src must be ids.shape + [D]");
  want.push_back(in[1]->shape.back());
  if (want != in[1]->shape) fail(n, in, "src must be ids.shape + [D]");
  out1(n, {n.ints[0], in[1]->shape.back()});
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
  need_ints(n, in, 1);
  if (in[0]->shape.empty() || in[1]->shape.size() != 1 || in[0]->shape.back() != in[1]->shape[0])
    fail(n, in, "expects g[..., K] and idx[K]");
  Shape s = in[0]->shape;
  s.back() = n.ints[0];
  out1(n, s);
}

void shape_matmul(Node& n, const Ins& in) {
  need_real(n, in, 0);
  need_real(n, in, 1);
  need_ints(n, in, 2);
  const Shape& a = in[0]->shape;
  const Shape& b = in[1]->shape;
  if (a.size() < 2 || b.size() < 2) fail(n, in, "operands must have rank >= 2");
  bool ta = n.ints[0] != 0, tb = n.ints[1] != 0;
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
  out1(n, s);
}

void shape_rope(Node& n, const Ins& in) {
  need_real(n, in, 0);
  need_ints(n, in, 3);
  need_floats(n, in, 1);
  const Shape& x = in[0]->shape;
  if (x.size() != 4) fail(n, in, "expects [B, T, H, head_dim]");
  int64_t r = n.ints[0];
  if (r < 2 || r % 2 || r > x[3]) fail(n, in, "rotary dims " + std::to_string(r) + " must be even and in [2, head_dim]");
  if (n.ints[1] > 0 && x[1] > n.ints[1] && r <= 2) fail(n, in, "NTK rescale needs rotary dims > 2");
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

void shape_ngram_hash(Node& n, const Ins& in) {
  need_int(n, in, 0);
  need_ints(n, in, 7);
  if (in[0]->shape.size() != 2) fail(n, in, "expects token ids [B, T]");
  if (n.ints[0] != 2 && n.ints[0] != 3) fail(n, in, "n must be 2 (bigram) or 3 (trigram)");
  if (n.ints[1] < 2 || n.ints[1] > (int64_t(1) << 31)) fail(n, in, "buckets must be in [2, 2^31]");
  if (n.ints[2] != 0 && n.ints[2] != 1) fail(n, in, "kind must be 0 (multiply-xor) or 1 (xxh3)");
  for (int i = 3; i < 6; i++)
    if (n.ints[i] < 0 || n.ints[i] > int64_t(UINT32_MAX)) fail(n, in, "primes are unsigned 32-bit numbers");
  out1(n, in[0]->shape, true);
}

void shape_ngram_hash_at(Node& n, const Ins& in) {
  shape_ngram_hash(n, in);
  need_position(n, in, 1);
  if (in[0]->shape[1] != n.ints[0]) fail(n, in, "expects a window of the last n ids [B, n]");
  out1(n, {in[0]->shape[0], 1}, true);
}

void shape_rope_at(Node& n, const Ins& in) {
  need_real(n, in, 0);
  need_position(n, in, 1);
  need_ints(n, in, 4);
  need_floats(n, in, 1);
  const Shape& x = in[0]->shape;
  if (x.size() != 4) fail(n, in, "expects [B, T, H, head_dim]");
  int64_t r = n.ints[0];
  if (r < 2 || r % 2 || r > x[3]) fail(n, in, "rotary dims " + std::to_string(r) + " must be even and in [2, head_dim]");
  if (n.ints[1] > 0 && n.ints[2] > n.ints[1] && r <= 2) fail(n, in, "NTK rescale needs rotary dims > 2");
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
  need_ints(n, in, 1);
  need_floats(n, in, 1);
  check_qkv(n, in);
  const Shape& q = in[0]->shape;
  n.outs = {OutSpec{q, false}, OutSpec{{q[0], q[2], q[1]}, false}};
}

void shape_attention_backward(Node& n, const Ins& in) {
  need_ints(n, in, 1);
  need_floats(n, in, 1);
  check_qkv(n, in);
  const Shape& q = in[0]->shape;
  if (in[3]->shape != q || in[5]->shape != q || in[4]->shape != Shape{q[0], q[2], q[1]})
    fail(n, in, "expects y and dy like q, lse [B, H, T]");
  n.outs = {OutSpec{q, false}, OutSpec{in[1]->shape, false}, OutSpec{in[2]->shape, false}};
}

void shape_attention_cached(Node& n, const Ins& in) {
  need_ints(n, in, 1);
  need_floats(n, in, 1);
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
  need_floats(n, in, 1);
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
