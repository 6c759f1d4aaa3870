#include "runtime/fuse_pass.h"

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "runtime/op_attrs.h"

namespace golf {

namespace {

// A planned replacement: the node `root` becomes `op` over `inputs` (values of the old graph);
// the chain's inner nodes are skipped.
struct Plan {
  Op op = Op::input;
  std::vector<Value> inputs;
  std::vector<int64_t> ints;
  std::vector<double> floats;
};

class Matcher {
 public:
  Matcher(const Graph& g, const std::vector<Value>& results) : g_(g), uses_(size_t(g.size())), claimed_(size_t(g.size())) {
    for (const Node& n : g.nodes())
      for (const Value& v : n.inputs) uses_[size_t(v.node)]++;
    for (const Value& v : results)
      if (v.valid()) uses_[size_t(v.node)] += 2;  // a result is never an inner value
  }

  // The node `id`, if it is `op`, has one output read once (by the chain), and is not yet part of a chain.
  const Node* inner(Value v, Op op) const {
    const Node& n = g_.node(v.node);
    if (n.op != op || n.outs.size() != 1 || uses_[size_t(v.node)] != 1 || claimed_[size_t(v.node)]) return nullptr;
    return &n;
  }
  void claim(int id) { claimed_[size_t(id)] = true; }
  bool claimed(int id) const { return claimed_[size_t(id)]; }
  const Graph& g() const { return g_; }

 private:
  const Graph& g_;
  std::vector<int> uses_;
  std::vector<bool> claimed_;
};

bool real_value(const Graph& g, Value v) { return !g.spec(v).integer; }

// w holds one value per channel of x: [D] or [1, ..., 1, D] with D = x's last dim.
bool per_channel(const Shape& w, const Shape& x) {
  if (x.empty() || w.empty() || w.size() > x.size() || w.back() != x.back()) return false;
  for (size_t i = 0; i + 1 < w.size(); i++)
    if (w[i] != 1) return false;
  return true;
}

// mul(w, u) or mul(u, w) with w per channel of u and the product shaped as u: (u, w).
bool channel_product(const Matcher& m, Value v, Value* u, Value* w) {
  const Node* n = m.inner(v, Op::mul);
  if (!n) return false;
  const Graph& g = m.g();
  const Shape& out = n->outs[0].shape;
  for (int k = 0; k < 2; k++) {
    const Value a = n->inputs[size_t(k)], b = n->inputs[size_t(1 - k)];
    if (g.shape(b) == out && per_channel(g.shape(a), out) && real_value(g, a) && real_value(g, b)) {
      *u = b, *w = a;
      return true;
    }
  }
  return false;
}

// add(mul(wa, a), mul(wb, b)) -> mix;  add(x, mul(s, y)) or add(mul(s, y), x) -> add_scaled
bool match_add(Matcher& m, int id, Plan* p, FuseCounts* c, const FuseKinds& k) {
  const Graph& g = m.g();
  const Node& n = g.node(id);
  const Value l = n.inputs[0], r = n.inputs[1];
  if (g.shape(l) != n.outs[0].shape || g.shape(r) != n.outs[0].shape || !real_value(g, l) || !real_value(g, r)) return false;
  Value a, wa, b, wb;
  const bool lp = channel_product(m, l, &a, &wa), rp = channel_product(m, r, &b, &wb);
  if (lp && rp && k.mix) {
    *p = Plan{Op::mix, {a, b, wa, wb}, {}, {}};
    m.claim(l.node), m.claim(r.node);
    c->mix++;
    return true;
  }
  if (!k.add_scaled) return false;
  if (rp) {
    *p = Plan{Op::add_scaled, {l, b, wb}, {}, {}};
    m.claim(r.node);
    c->add_scaled++;
    return true;
  }
  if (lp) {
    *p = Plan{Op::add_scaled, {r, a, wa}, {}, {}};
    m.claim(l.node);
    c->add_scaled++;
    return true;
  }
  return false;
}

// square(relu(h)) -> relu2(h, 0); square(leaky_relu(h, k)) -> relu2(h, k)
bool match_square(Matcher& m, int id, Plan* p, FuseCounts* c) {
  const Value x = m.g().node(id).inputs[0];
  double slope = 0;
  const Node* a = m.inner(x, Op::relu);
  if (!a && (a = m.inner(x, Op::leaky_relu))) slope = leaky_relu_attrs(*a).slope;
  if (!a) return false;
  *p = Plan{Op::relu2, {a->inputs[0]}, {}, {slope}};
  m.claim(x.node);
  c->relu2++;
  return true;
}

// The attributes of rms_norm_rope from its two nodes (the fields of GOLF_NORM_ROPE_FIELDS).
void norm_rope_attrs(const Node& norm, const Node& rope, Plan* p) {
  const attrs::rope a = rope_attrs(rope);
  p->ints = {a.rot, a.train_len, a.inverse ? 1 : 0};
  p->floats = {rms_norm_attrs(norm).eps, a.base};
}

// mul(rope(rms_norm(x)), gain) (either order) with gain [H, 1] -> rms_norm_rope_gain(x, gain)
bool match_gain(Matcher& m, int id, Plan* p, FuseCounts* c) {
  const Graph& g = m.g();
  const Node& n = g.node(id);
  const Shape& out = n.outs[0].shape;
  if (out.size() != 4) return false;
  for (int k = 0; k < 2; k++) {
    const Value rv = n.inputs[size_t(k)], gain = n.inputs[size_t(1 - k)];
    const Node* rope = m.inner(rv, Op::rope);
    if (!rope || g.shape(rv) != out || !real_value(g, gain)) continue;
    const Node* norm = m.inner(rope->inputs[0], Op::rms_norm);
    if (!norm) continue;
    const Shape& gs = g.shape(gain);
    bool ok = gs.size() >= 2 && gs.size() <= 4 && gs[gs.size() - 1] == 1 && gs[gs.size() - 2] == out[2];
    for (size_t i = 0; ok && i + 2 < gs.size(); i++) ok = gs[i] == 1;
    if (!ok) continue;
    *p = Plan{Op::rms_norm_rope_gain, {norm->inputs[0], gain}, {}, {}};
    norm_rope_attrs(*norm, *rope, p);
    m.claim(rv.node), m.claim(rope->inputs[0].node);
    c->rms_norm_rope_gain++;
    return true;
  }
  return false;
}

// rope(rms_norm(x)) -> rms_norm_rope(x); reached only when no gain took the rope first.
bool match_rope(Matcher& m, int id, Plan* p, FuseCounts* c) {
  const Node& rope = m.g().node(id);
  const Node* norm = m.inner(rope.inputs[0], Op::rms_norm);
  if (!norm) return false;
  *p = Plan{Op::rms_norm_rope, {norm->inputs[0]}, {}, {}};
  norm_rope_attrs(*norm, rope, p);
  m.claim(rope.inputs[0].node);
  c->rms_norm_rope++;
  return true;
}

// scale(rms_norm(x), c) -> rms_norm_scaled(x, c)
bool match_scale(Matcher& m, int id, Plan* p, FuseCounts* c) {
  const Node& s = m.g().node(id);
  const Node* norm = m.inner(s.inputs[0], Op::rms_norm);
  if (!norm) return false;
  *p = Plan{Op::rms_norm_scaled, {norm->inputs[0]}, {}, {rms_norm_attrs(*norm).eps, scale_attrs(s).c}};
  m.claim(s.inputs[0].node);
  c->rms_norm_scaled++;
  return true;
}

}  // namespace

std::string FuseCounts::str() const {
  return "mix " + std::to_string(mix) + ", add_scaled " + std::to_string(add_scaled) + ", relu2 " + std::to_string(relu2) +
         ", rms_norm_rope " + std::to_string(rms_norm_rope) + ", rms_norm_rope_gain " + std::to_string(rms_norm_rope_gain) +
         ", rms_norm_scaled " + std::to_string(rms_norm_scaled) + ", mix_rms_norm " + std::to_string(mix_rms_norm) +
         ", add_scaled_rms_norm " + std::to_string(add_scaled_rms_norm);
}

FuseKinds FuseKinds::parse(const std::string& list) {
  if (list == "all") return {};
  FuseKinds k = none();
  if (list == "none") return k;
  size_t at = 0;
  while (at <= list.size()) {
    const size_t end = std::min(list.find(',', at), list.size());
    const std::string name = list.substr(at, end - at);
    if (name == "mix") k.mix = true;
    else if (name == "add_scaled") k.add_scaled = true;
    else if (name == "relu2") k.relu2 = true;
    else if (name == "norm_rope") k.norm_rope = true;
    else if (name == "rms_norm_scaled") k.rms_norm_scaled = true;
    else if (name == "matmul_add") k.matmul_add = true;
    else if (name == "norm_backward_add") k.norm_backward_add = true;
    else if (name == "scale_backward_add") k.scale_backward_add = true;
    else if (name == "residual_norm") k.residual_norm = true;
    else
      throw std::invalid_argument("fusion kind '" + name + "' is none of all, none, mix, add_scaled, relu2, norm_rope, " +
                                  "rms_norm_scaled, matmul_add, norm_backward_add, scale_backward_add, residual_norm (in '" +
                                  list + "')");
    at = end + 1;
  }
  return k;
}

FusedGraph fuse_graph(const Graph& g, const std::vector<Value>& results, const FuseKinds& kinds) {
  FusedGraph f;
  Matcher m(g, results);
  // Plans from the last node back: a chain's outermost node claims its inner ones before they
  // could start a chain of their own (a rope under a gain is the gain's, not a bare rms_norm_rope).
  std::vector<std::unique_ptr<Plan>> plans(size_t(g.size()));
  for (int id = g.size() - 1; id >= 0; id--) {
    if (m.claimed(id)) continue;
    Plan p;
    bool hit = false;
    switch (g.node(id).op) {
      case Op::add: hit = (kinds.mix || kinds.add_scaled) && match_add(m, id, &p, &f.counts, kinds); break;
      case Op::square: hit = kinds.relu2 && match_square(m, id, &p, &f.counts); break;
      case Op::mul: hit = kinds.norm_rope && match_gain(m, id, &p, &f.counts); break;
      case Op::rope: hit = kinds.norm_rope && match_rope(m, id, &p, &f.counts); break;
      case Op::scale: hit = kinds.rms_norm_scaled && match_scale(m, id, &p, &f.counts); break;
      default: break;
    }
    if (hit) plans[size_t(id)] = std::make_unique<Plan>(std::move(p));
  }

  // The pre-norm: an rms_norm (no chain's inner node) of a value that a mix or add_scaled plan
  // makes becomes that plan's second output. The stream keeps its other readers (the next residual
  // op): it stays output 0. One norm per stream (a second norm of it stays a norm).
  std::vector<int> norm_of(size_t(g.size()), -1);
  std::vector<bool> second(size_t(g.size()), false);
  for (int id = 0; kinds.residual_norm && id < g.size(); id++) {
    const Node& n = g.node(id);
    if (n.op != Op::rms_norm || m.claimed(id) || plans[size_t(id)]) continue;
    const int a = n.inputs[0].node;
    Plan* p = plans[size_t(a)].get();
    if (!p || (p->op != Op::mix && p->op != Op::add_scaled) || norm_of[size_t(a)] >= 0) continue;
    const bool mix = p->op == Op::mix;
    p->op = mix ? Op::mix_rms_norm : Op::add_scaled_rms_norm;
    p->floats = {rms_norm_attrs(n).eps};
    norm_of[size_t(a)] = id;
    second[size_t(id)] = true;
    (mix ? f.counts.mix_rms_norm : f.counts.add_scaled_rms_norm)++;
  }

  f.map.resize(size_t(g.size()));
  auto at = [&](Value v) {
    const Value r = f.at(v);
    if (!r.valid()) throw std::logic_error("fuse_graph: " + g.describe(v) + " was fused away but is still read");
    return r;
  };
  for (int id = 0; id < g.size(); id++) {
    const Node& n = g.node(id);
    if (second[size_t(id)]) continue;  // a pre-norm: output 1 of the residual op before it
    f.map[size_t(id)].assign(n.outs.size(), Value{});
    if (m.claimed(id)) continue;  // inside a chain: its root computes it
    f.graph.set_location(n.loc);
    std::vector<Value> ins;
    if (const Plan* p = plans[size_t(id)].get()) {
      for (const Value& v : p->inputs) ins.push_back(at(v));
      f.map[size_t(id)][0] = f.graph.add(p->op, ins, p->ints, p->floats);
      if (const int norm = norm_of[size_t(id)]; norm >= 0)
        f.map[size_t(norm)] = {Value{f.map[size_t(id)][0].node, 1}};
      continue;
    }
    for (const Value& v : n.inputs) ins.push_back(at(v));
    const bool leaf = op_info(n.op).arity == 0;
    const Value first = f.graph.add(n.op, ins, n.ints, n.floats, n.str, leaf ? n.outs : std::vector<OutSpec>{});
    for (int k = 0; k < int(n.outs.size()); k++) f.map[size_t(id)][size_t(k)] = Value{first.node, k};
  }
  return f;
}

namespace {

// add(channel_scale_backward(u, w, dy).du, acc), either order, with acc made before that
// producer -> the producer rewritten in place as channel_scale_backward_add(u, w, dy, acc), and the
// add as a reshape of its output 0 to the same shape (a view: no copy, no launch), so that every
// reader and every Var of the sum still finds it. Not at the add's place, as matmul_add is: the
// producer's second output (dw) is read by nodes autograd wrote before the sum (the weights'
// gradients), so the two-output op must stay where the producer was, and the running sum must
// reach it there. A chain add(add(p1, p2), p3), p1, p2, p3 in the order autograd made them (the x0
// stream's gradient: one part per block's mix), folds from its innermost add out, in node order:
// p2 reads p1, then p3 reads p2 (through the first add's view). The sums are the adds', in their
// order: the same bits.
void fold_channel_scale_sums(Graph& g, int first, const std::vector<Value>& results, FoldCounts* counts) {
  std::vector<std::vector<int>> uses(size_t(g.size()));
  for (int id = 0; id < g.size(); id++) uses[size_t(id)].assign(g.node(id).outs.size(), 0);
  for (const Node& n : g.nodes())
    for (const Value& v : n.inputs) uses[size_t(v.node)][size_t(v.out)]++;
  for (const Value& v : results)
    if (v.valid()) uses[size_t(v.node)][size_t(v.out)] += 2;  // a result is never folded into
  // Through views: the producer behind a reshape that the fold left (a chain's earlier sum).
  auto through_views = [&](Value v) {
    while (g.node(v.node).op == Op::reshape && g.shape(g.node(v.node).inputs[0]) == g.shape(v))
      v = g.node(v.node).inputs[0];
    return v;
  };
  for (int id = std::max(first, 0); id < g.size(); id++) {
    const Node& n = g.node(id);
    if (n.op != Op::add || n.outs[0].integer) continue;
    const Shape out = n.outs[0].shape;
    const Value l = n.inputs[0], r = n.inputs[1];
    if (g.shape(l) != out || g.shape(r) != out || g.spec(l).integer || g.spec(r).integer) continue;
    // Of two candidate producers, the later one takes the earlier as its addend.
    const Value lp = through_views(l), rp = through_views(r);
    const int order[2] = {lp.node > rp.node ? 0 : 1, lp.node > rp.node ? 1 : 0};
    for (int k : order) {
      const Value v = k ? r : l, acc = k ? lp : rp;
      const Node& p = g.node(v.node);
      if (p.op != Op::channel_scale_backward || v.out != 0 || uses[size_t(v.node)][0] != 1 || acc.node >= v.node ||
          p.outs[0].shape != out)
        continue;
      const Value u = p.inputs[0], w = p.inputs[1], dy = p.inputs[2];
      g.replace(v.node, Op::channel_scale_backward_add, {u, w, dy, acc});
      g.replace(id, Op::reshape, {v}, out);
      counts->channel_scale_backward_add++;
      break;
    }
  }
}

}  // namespace

FoldCounts fold_gradient_sums(Graph& g, int first, const std::vector<Value>& results, const GradientFolds& folds) {
  FoldCounts counts;
  if (!folds.any()) return counts;
  std::vector<int> uses(size_t(g.size()), 0);
  for (const Node& n : g.nodes())
    for (const Value& v : n.inputs) uses[size_t(v.node)]++;
  for (const Value& v : results)
    if (v.valid()) uses[size_t(v.node)] += 2;  // a result is never folded away
  // The producer behind operand v, if `op`, one output read only by this add, shaped as the sum.
  auto producer = [&](Value v, Op op, const Shape& out) -> const Node* {
    const Node& p = g.node(v.node);
    if (p.op != op || p.outs.size() != 1 || uses[size_t(v.node)] != 1 || p.outs[0].shape != out) return nullptr;
    return &p;
  };
  // From the last node back, so that the outermost add of a chain takes its matmul first and the
  // inner add, still read once (now by the matmul_add), folds next.
  for (int id = g.size() - 1; id >= std::max(first, 0); id--) {
    const Node& n = g.node(id);
    if (n.op != Op::add || n.outs[0].integer) continue;
    const Shape out = n.outs[0].shape;
    const Value l = n.inputs[0], r = n.inputs[1];
    if (g.shape(l) != out || g.shape(r) != out || g.spec(l).integer || g.spec(r).integer) continue;
    bool done = false;
    for (int k = 0; k < 2 && !done && folds.rms_norm_backward_add; k++) {
      const Value v = k ? r : l, acc = k ? l : r;
      const Node* p = producer(v, Op::rms_norm_backward, out);
      if (!p) continue;
      const Value x = p->inputs[0], dy = p->inputs[1];
      const double eps = rms_norm_backward_attrs(*p).eps;
      uses[size_t(v.node)] = 0;
      g.replace(id, Op::rms_norm_backward_add, {x, dy, acc}, {}, {eps});
      counts.rms_norm_backward_add++;
      done = true;
    }
    for (int k = 0; k < 2 && !done && folds.matmul_add; k++) {
      const Value v = k ? r : l, c = k ? l : r;
      const Node* p = producer(v, Op::matmul, out);
      if (!p) continue;
      const Value a = p->inputs[0], b = p->inputs[1];
      const attrs::matmul t = matmul_attrs(*p);
      uses[size_t(v.node)] = 0;
      g.replace(id, Op::matmul_add, {a, b, c}, {t.trans_a ? 1 : 0, t.trans_b ? 1 : 0}, {});
      counts.matmul_add++;
      done = true;
    }
  }
  if (folds.channel_scale_backward_add) fold_channel_scale_sums(g, first, results, &counts);
  return counts;
}

FuseCounts fuse_model(ModelGraph& m, const FuseKinds& kinds) {
  std::vector<Value> results;
  if (m.loss.valid()) results.push_back(m.loss.v);
  if (m.logits.valid()) results.push_back(m.logits.v);
  for (const auto& [name, v] : m.outputs) results.push_back(v.v);
  FusedGraph f = fuse_graph(m.graph, results, kinds);
  const Value loss = m.loss.valid() ? f.at(m.loss.v) : Value{};
  const Value logits = m.logits.valid() ? f.at(m.logits.v) : Value{};
  std::map<std::string, Value> outs;
  for (const auto& [name, v] : m.outputs) outs[name] = f.at(v.v);
  m.graph = std::move(f.graph);
  m.graph.set_location("");
  GradientFolds folds;
  folds.matmul_add = kinds.matmul_add, folds.rms_norm_backward_add = kinds.norm_backward_add;
  folds.channel_scale_backward_add = kinds.scale_backward_add;
  m.graph.set_gradient_folds(folds);
  m.loss = m.loss.valid() ? Var(&m.graph, loss) : Var();
  m.logits = m.logits.valid() ? Var(&m.graph, logits) : Var();
  for (auto& [name, v] : m.outputs) v = Var(&m.graph, outs[name]);
  return f.counts;
}

GraphFactory fused_factory(GraphFactory factory, const FuseKinds& kinds) {
  return [factory, kinds](const std::string& mode, int64_t batch, int64_t seq) {
    auto m = factory(mode, batch, seq);
    fuse_model(*m, kinds);
    return m;
  };
}

}  // namespace golf
