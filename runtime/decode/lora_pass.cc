#include "runtime/decode/lora_pass.h"

#include <stdexcept>

#include "runtime/quant/linear_uses.h"

namespace golf {

LoraGraph attach_lora(const ModelGraph& m, const std::vector<std::string>& params, int64_t rank) {
  if (rank <= 0) throw std::invalid_argument("LoRA adapters: the rank must be positive, got " + std::to_string(rank));
  const Graph& g = m.graph;
  const Value tokens = g.find_input("tokens");
  if (!tokens.valid() || g.shape(tokens).size() != 2) throw std::runtime_error("LoRA adapters: the graph has no [B, T] tokens input");
  const int64_t batch = g.shape(tokens)[0];
  const LinearUses found = find_linear_uses(g, params);
  std::vector<int> use_at(size_t(g.size()), -1);
  for (size_t i = 0; i < found.uses.size(); i++)
    if (!found.uses[i].trans_a) use_at[size_t(found.uses[i].matmul)] = int(i);

  LoraGraph r;
  r.model = std::make_unique<ModelGraph>();
  ModelGraph& out = *r.model;
  out.store = m.store;
  Graph& h = out.graph;
  std::vector<int> adapter(found.targets.size(), -1);  // index into r.weights, made on first use
  std::vector<std::vector<Value>> map(size_t(g.size()));
  auto mapped = [&](Value v) { return map[size_t(v.node)][size_t(v.out)]; };
  for (int id = 0; id < g.size(); id++) {
    const Node& n = g.node(id);
    h.set_location(n.loc);
    std::vector<Value> ins;
    for (const Value& v : n.inputs) ins.push_back(mapped(v));
    Value first = h.add(n.op, ins, n.ints, n.floats, n.str, n.inputs.empty() ? n.outs : std::vector<OutSpec>{});
    for (size_t o = 0; o < n.outs.size(); o++) map[size_t(id)].push_back(Value{first.node, int(o)});
    if (use_at[size_t(id)] < 0) continue;
    const LinearUse& u = found.uses[size_t(use_at[size_t(id)])];
    const int64_t in = found.in[size_t(u.target)], outs = found.out[size_t(u.target)];
    Var x(&h, mapped(u.x));
    if (x.numel() % (batch * in) != 0) continue;  // not batch-major rows of `in`: left as it is
    int& k = adapter[size_t(u.target)];
    if (k < 0) {
      const std::string& w = found.targets[size_t(u.target)];
      k = int(r.weights.size());
      r.weights.push_back(w);
      r.a.push_back("lora." + w + ".A");
      r.b.push_back("lora." + w + ".B");
      // The values are the decoder's (reset per document); the inits only make the store whole.
      out.store.declare(r.a.back(), {batch, rank, in}, Init::zeros());
      out.store.declare(r.b.back(), {batch, outs, rank}, Init::zeros());
    }
    h.set_location("lora adapter of " + found.targets[size_t(u.target)]);
    Var y(&h, first);
    Var a = param(h, r.a[size_t(k)], {batch, rank, in}), b = param(h, r.b[size_t(k)], {batch, outs, rank});
    Var rows = reshape(x, {batch, -1, in});
    Var delta = matmul(matmul(rows, a, false, true), b, false, true);
    map[size_t(id)][0] = add(y, reshape(delta, y.shape())).v;
    r.uses++;
  }
  if (r.weights.empty())
    throw std::runtime_error("LoRA adapters: none of the " + std::to_string(params.size()) +
                             " weights chosen is used as a linear layer (x·Wᵀ) in the graph");
  auto remap = [&](const Var& v) { return v.valid() ? Var(&h, mapped(v.v)) : Var(); };
  out.loss = remap(m.loss);
  out.logits = remap(m.logits);
  for (const auto& [name, v] : m.outputs) out.outputs[name] = remap(v);
  out.caches = m.caches;
  h.set_location("");
  return r;
}

}  // namespace golf
