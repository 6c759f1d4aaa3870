#include "runtime/precision_pass.h"

#include <map>

#include "kernels/cuda/attention_layout.h"
#include "runtime/backend_util.h"

namespace golf {

namespace {

// Tensor-core attention reading its operands in place: bf16 kernels, a head dim that is an
// instantiation's width, no XSA (its own fp32 kernel follows the forward).
bool attention_can_be_direct(const Node& n, const std::vector<Shape>& ins, const PrecisionRule& rule) {
  if (!rule.matmul || !rule.attention) return false;
  const AttentionDims d = attention_dims(n, ins.at(0), ins.at(1));
  return !d.xsa && cuda::tc_direct(d.hd);
}

bool is_leaf(Op op) { return op == Op::input || op == Op::param; }

std::vector<Shape> input_shapes(const Graph& g, const Node& n) {
  std::vector<Shape> s;
  for (const Value& v : n.inputs) s.push_back(g.spec(v).shape);
  return s;
}

}  // namespace

bool writes_bf16(const Node& n, int out, const std::vector<Shape>& ins, const PrecisionRule& rule) {
  if (!rule.matmul) return false;
  switch (n.op) {
    case Op::rms_norm: case Op::rms_norm_scaled: case Op::rms_norm_rope: case Op::rms_norm_rope_gain:
    case Op::rms_norm_rope_backward: case Op::rms_norm_rope_gain_backward: case Op::relu2: case Op::relu2_backward:
    case Op::channel_scale_backward: case Op::cross_entropy_backward: case Op::matmul:
      return out == 0;
    // the pre-norm fused into the residual op: the norm (output 1), not the stream
    case Op::mix_rms_norm: case Op::add_scaled_rms_norm: return out == 1;
    case Op::attention: return out == 0 && attention_can_be_direct(n, ins, rule);
    case Op::attention_backward: return out <= 2 && attention_can_be_direct(n, ins, rule);
    default: return false;
  }
}

bool reads_bf16(const Node& n, int in, const std::vector<Shape>& ins, const PrecisionRule& rule) {
  if (!rule.matmul) return false;
  switch (n.op) {
    case Op::matmul: case Op::matmul_add: return in == 0 || in == 1;  // matmul_add's addend: fp32
    // The consumers of matmul outputs (rule (d')): x + s·y's y; the channel scale's u (its
    // gradient's dw = Σ g⊙u reads u); the norm-ropes' x, forward and backward; relu²'s x, forward
    // and backward, and its backward's dy; the logits of the hard-target loss, forward and backward.
    case Op::add_scaled: case Op::add_scaled_rms_norm: return in == 1;
    case Op::channel_scale_backward: case Op::rms_norm_rope: case Op::rms_norm_rope_gain:
    case Op::rms_norm_rope_backward: case Op::rms_norm_rope_gain_backward: case Op::relu2:
    case Op::cross_entropy: case Op::cross_entropy_backward:
      return in == 0;
    case Op::relu2_backward: return in <= 1;  // x, and dy: the down projection's backward matmul output
    case Op::attention: return in <= 2 && attention_can_be_direct(n, ins, rule);
    case Op::attention_backward:
      return (in <= 3 || in == 5) && attention_can_be_direct(n, ins, rule);  // q, k, v, y, dy (not lse)
    default: return false;
  }
}

bool attention_direct(const Node& n, const ValueSet& bf16) {
  for (int i = 0; i < 3; i++)
    if (!bf16.count({n.inputs[size_t(i)].node, n.inputs[size_t(i)].out})) return false;
  return true;
}

ValueSet choose_bf16(const Graph& g, const std::vector<int>& steps, const std::vector<Value>& outputs,
                     const std::vector<bool>& view, const PrecisionRule& rule) {
  ValueSet chosen;
  if (!rule.matmul) return chosen;
  auto is_view = [&](int id) { return size_t(id) < view.size() && view[size_t(id)]; };
  ValueSet requested;
  for (const Value& o : outputs) requested.insert({o.node, o.out});

  // Consumers of each value, views skipped (their readers are their input's readers); and each
  // value's views.
  std::map<std::pair<int, int>, std::vector<std::pair<int, int>>> readers;  // value -> (node, input)
  std::map<std::pair<int, int>, std::vector<int>> views_of;
  for (int id : steps) {
    const Node& n = g.node(id);
    for (size_t i = 0; i < n.inputs.size(); i++) {
      const std::pair<int, int> v{n.inputs[i].node, n.inputs[i].out};
      if (is_view(id)) views_of[v].push_back(id);
      else readers[v].push_back({id, int(i)});
    }
  }
  // A value with its views (a group sharing one storage).
  auto group = [&](std::pair<int, int> root) {
    std::vector<std::pair<int, int>> members{root};
    for (size_t k = 0; k < members.size(); k++) {
      auto it = views_of.find(members[k]);
      if (it != views_of.end())
        for (int vid : it->second) members.push_back({vid, 0});
    }
    return members;
  };

  std::map<std::pair<int, int>, std::vector<std::pair<int, int>>> groups;  // root -> members, candidates only
  for (int id : steps) {
    const Node& n = g.node(id);
    if (is_leaf(n.op) || is_view(id)) continue;
    for (int k = 0; k < int(n.outs.size()); k++) {
      if (n.outs[size_t(k)].integer || !writes_bf16(n, k, input_shapes(g, n), rule)) continue;  // (a), (b)
      const std::vector<std::pair<int, int>> members = group({id, k});
      bool ok = true, operand = false;
      for (const auto& m : members) {
        if (requested.count(m)) ok = false;  // (a)
        auto r = readers.find(m);
        if (r == readers.end()) continue;
        for (const auto& [reader, in] : r->second) {
          const Op op = g.node(reader).op;
          if (!reads_bf16(g.node(reader), in, input_shapes(g, g.node(reader)), rule)) ok = false;  // (c)
          if (op == Op::matmul || op == Op::matmul_add || op == Op::attention || op == Op::attention_backward)
            operand = true;  // (d)
        }
      }
      if (ok && (operand || n.op == Op::matmul)) groups[{id, k}] = members;  // (d), (d')
    }
  }
  for (const auto& [root, members] : groups) chosen.insert(members.begin(), members.end());

  // Attention's q, k, v all-or-none: a node that cannot read all three in bf16 reads and writes
  // nothing in bf16. Dropping a value can undo another node's direct path: repeat to a fixpoint.
  auto root_of = [&](std::pair<int, int> v) {
    while (is_view(v.first)) v = {g.node(v.first).inputs[0].node, g.node(v.first).inputs[0].out};
    return v;
  };
  auto drop = [&](std::pair<int, int> v) {
    auto it = groups.find(root_of(v));
    if (it == groups.end()) return false;
    for (const auto& m : it->second) chosen.erase(m);
    groups.erase(it);
    return true;
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (int id : steps) {
      const Node& n = g.node(id);
      if (n.op != Op::attention && n.op != Op::attention_backward) continue;
      if (attention_direct(n, chosen)) continue;
      for (size_t i = 0; i < n.inputs.size(); i++) changed = drop({n.inputs[i].node, n.inputs[i].out}) || changed;
      for (int k = 0; k < int(n.outs.size()); k++) changed = drop({id, k}) || changed;
    }
  }
  return chosen;
}

}  // namespace golf
