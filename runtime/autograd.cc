#include "runtime/autograd.h"

#include <map>

#include "runtime/grad_rules.h"

namespace golf {

namespace {

struct Contributions {
  std::vector<Var> parts;
  Var total() const {
    Var t = parts[0];
    for (size_t i = 1; i < parts.size(); i++) t = add(t, parts[i]);
    return t;
  }
};

}  // namespace

std::vector<Gradient> backward_seeded(Var output, Var seed, std::vector<std::string> wrt) {
  Graph& g = *output.g;
  if (seed.shape() != output.shape())
    throw ShapeError("backward: seed shape " + shape_str(seed.shape()) + " differs from " + g.describe(output.v));
  if (wrt.empty()) wrt = g.param_names();
  std::vector<Value> targets;
  for (const std::string& name : wrt) {
    Value v = g.find_param(name);
    if (!v.valid()) v = g.find_input(name);
    if (!v.valid()) throw ShapeError("backward: no parameter or input named '" + name + "' in the graph");
    if (v.node >= 0 && g.is_buffer(v)) throw ShapeError("backward: '" + name + "' is a buffer and has no gradient");
    if (g.spec(v).integer) throw ShapeError("backward: '" + name + "' is an integer input and has no gradient");
    targets.push_back(v);
  }

  // Which nodes lie on a path from a target to the output: only those get gradients.
  int end = output.v.node;
  std::vector<bool> depends(size_t(end) + 1, false);
  for (const Value& t : targets)
    if (t.node <= end) depends[size_t(t.node)] = true;
  for (int i = 0; i <= end; i++)
    for (const Value& in : g.node(i).inputs)
      if (depends[size_t(in.node)]) depends[size_t(i)] = true;

  std::map<std::pair<int, int>, Contributions> grads;
  grads[{output.v.node, output.v.out}].parts.push_back(seed);
  std::string saved_loc = g.location();
  for (int i = end; i >= 0; i--) {
    if (!depends[size_t(i)]) continue;
    const Node& n = g.node(i);
    if (n.op == Op::input || n.op == Op::param) continue;
    std::vector<Var> gouts(n.outs.size());
    bool any = false;
    for (int k = 0; k < int(n.outs.size()); k++) {
      auto it = grads.find({i, k});
      if (it != grads.end()) {
        gouts[size_t(k)] = it->second.total();
        any = true;
        grads.erase(it);
      }
    }
    if (!any) continue;
    std::string loc = g.node(i).loc;
    g.set_location("backward of " + std::string(op_info(g.node(i).op).name) + (loc.empty() ? "" : " at " + loc));
    std::vector<Var> gins;
    apply_grad_rule(g, i, gouts, gins);
    const Node& fwd = g.node(i);  // re-fetch: the rule appended nodes
    for (size_t k = 0; k < fwd.inputs.size(); k++) {
      const Value& in = fwd.inputs[k];
      if (!gins[k].valid() || !depends[size_t(in.node)]) continue;
      if (gins[k].shape() != g.shape(in))
        throw ShapeError("internal: gradient rule of '" + std::string(op_info(fwd.op).name) + "' gave " +
                         shape_str(gins[k].shape()) + " for input " + g.describe(in));
      grads[{in.node, in.out}].parts.push_back(gins[k]);
    }
  }
  g.set_location(saved_loc);

  std::vector<Gradient> out;
  for (size_t k = 0; k < wrt.size(); k++) {
    auto it = grads.find({targets[k].node, targets[k].out});
    out.push_back({wrt[k], it == grads.end() ? Var() : it->second.total()});
  }
  return out;
}

std::vector<Gradient> backward(Var loss, std::vector<std::string> wrt) {
  if (!loss.shape().empty())
    throw ShapeError("backward: the loss must be a scalar (shape []), got " + loss.g->describe(loss.v));
  Graph& g = *loss.g;
  return backward_seeded(loss, full(g, {}, 1.0), std::move(wrt));
}

}  // namespace golf

