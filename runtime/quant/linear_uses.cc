#include "runtime/quant/linear_uses.h"

#include <map>

#include "runtime/op_attrs.h"

namespace golf {

namespace {

// A value that is the parameter W [out, in] seen through reshapes and transposes: `cols_last` says
// whether W's columns (the `in` axis) are still its last axis.
struct View {
  int param = -1;  // index into the target list
  bool cols_last = true;
};

}  // namespace

LinearUses find_linear_uses(const Graph& g, const std::vector<std::string>& params) {
  LinearUses r;
  std::map<std::pair<int, int>, View> views;
  for (const std::string& name : params) {
    Value p = g.find_param(name);
    if (!p.valid() || g.shape(p).size() != 2 || g.is_buffer(p)) continue;  // buffers are never trained or quantized
    bool seen = false;
    for (const std::string& t : r.targets) seen = seen || t == name;
    if (seen) continue;
    views[{p.node, p.out}] = View{int(r.targets.size()), true};
    r.targets.push_back(name);
    r.out.push_back(g.shape(p)[0]);
    r.in.push_back(g.shape(p)[1]);
  }
  // Build order is a topological order, so one forward sweep follows every chain from a parameter.
  for (int id = 0; id < g.size(); id++) {
    const Node& n = g.node(id);
    if (n.inputs.empty()) continue;
    auto it = views.find({n.inputs[0].node, n.inputs[0].out});
    if (n.op == Op::reshape && it != views.end() && it->second.cols_last && !n.outs[0].shape.empty() &&
        n.outs[0].shape.back() == r.in[size_t(it->second.param)]) {
      views[{id, 0}] = it->second;
    } else if (n.op == Op::fake_quant && it != views.end()) {
      views[{id, 0}] = it->second;  // QAT rounds W elementwise; the inputs W sees are the same
    } else if (n.op == Op::permute && it != views.end() && permute_attrs(n).perm == std::vector<int64_t>{1, 0}) {
      views[{id, 0}] = View{it->second.param, !it->second.cols_last};
    } else if (n.op == Op::matmul) {
      auto b = views.find({n.inputs[1].node, n.inputs[1].out});
      if (b == views.end() || g.shape(n.inputs[1]).size() != 2) continue;
      const attrs::matmul t = matmul_attrs(n);
      // The contraction axis of b is its last with trans_b and its first without.
      if (t.trans_b != b->second.cols_last) continue;
      r.uses.push_back({id, b->second.param, n.inputs[0], t.trans_a});
    }
  }
  return r;
}

}  // namespace golf
