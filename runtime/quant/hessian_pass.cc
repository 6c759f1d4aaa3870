#include "runtime/quant/hessian_pass.h"

#include <stdexcept>

#include "runtime/executor.h"
#include "runtime/op_attrs.h"

namespace golf {

namespace {

// A value that is the parameter W [out, in] seen through reshapes and transposes: `cols_last` says
// whether W's columns (the `in` axis) are still its last axis.
struct View {
  int param = -1;  // index into the target list
  bool cols_last = true;
};

struct Use {
  int param;
  Value x;  // the matmul's left operand
  bool trans_a;
};

}  // namespace

std::vector<std::string> add_hessian_accumulators(Graph& g, const std::vector<std::string>& params) {
  std::vector<std::string> targets;
  std::vector<int64_t> in_dim;
  std::map<std::pair<int, int>, View> views;
  for (const std::string& name : params) {
    Value p = g.find_param(name);
    if (!p.valid() || g.shape(p).size() != 2 || g.is_buffer(p)) continue;  // buffers are not GPTQ targets
    bool seen = false;
    for (const std::string& t : targets) seen = seen || t == name;
    if (seen) continue;
    views[{p.node, p.out}] = View{int(targets.size()), true};
    targets.push_back(name);
    in_dim.push_back(g.shape(p)[1]);
  }

  // Build order is a topological order, so one forward sweep follows every chain from a parameter.
  std::vector<Use> uses;
  const int original = g.size();
  for (int id = 0; id < original; id++) {
    const Node& n = g.node(id);
    if (n.inputs.empty()) continue;
    auto it = views.find({n.inputs[0].node, n.inputs[0].out});
    if (n.op == Op::reshape && it != views.end() && it->second.cols_last && !n.outs[0].shape.empty() &&
        n.outs[0].shape.back() == in_dim[size_t(it->second.param)]) {
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
      uses.push_back({b->second.param, n.inputs[0], t.trans_a});
    }
  }

  std::string saved_loc = g.location();
  g.set_location("gptq hessian pass");
  std::vector<bool> used(targets.size(), false);
  for (const Use& u : uses) {
    int64_t in = in_dim[size_t(u.param)];
    Var x(&g, u.x);
    if (u.trans_a) x = transpose(x, x.rank() - 2, x.rank() - 1);
    x = reshape(x, {-1, in});
    Var h = input(g, "hessian." + targets[size_t(u.param)], {in, in});
    accumulate(h, matmul(x, x, true, false));
    used[size_t(u.param)] = true;
  }
  g.set_location(saved_loc);

  std::vector<std::string> out;
  for (size_t i = 0; i < targets.size(); i++)
    if (used[i]) out.push_back(targets[i]);
  return out;
}

std::map<std::string, Tensor> collect_hessians(ModelGraph& model, ParamStore& weights, const std::string& set,
                                               const std::vector<std::pair<Tensor, Tensor>>& batches,
                                               const std::vector<std::string>& params, DType real, double* mean_loss) {
  std::vector<std::string> names = add_hessian_accumulators(model.graph, params);
  std::vector<Var> outputs;
  if (mean_loss) {
    if (!model.loss.valid()) throw std::invalid_argument("collect_hessians: the model has no loss to report");
    outputs.push_back(mean_all(model.loss));
  }
  ExecOptions opt;
  opt.real = real;
  Executor ex(model.graph, outputs, opt);

  std::map<std::string, Tensor> converted;  // kept alive while the executor holds them
  std::vector<std::string> leaves = model.graph.param_names();
  for (const std::string& b : model.graph.buffer_names()) leaves.push_back(b);  // bound, never targets
  for (const std::string& p : leaves) {
    if (!ex.needs(p)) continue;
    Tensor t = weights.get(p, set);
    if (t.dtype() != real && t.dtype() != DType::i32) t = converted[p] = t.to(real);
    ex.bind(p, t);
  }
  std::map<std::string, Tensor> buffers, totals;
  for (const std::string& name : names) {
    int64_t in = model.graph.shape(model.graph.find_param(name))[1];
    buffers[name] = Tensor({in, in}, real);
    totals[name] = Tensor({in, in}, DType::f64);
    ex.bind("hessian." + name, buffers[name]);
  }

  double loss_sum = 0;
  for (const auto& [tokens, targets] : batches) {
    for (auto& [name, b] : buffers) b.fill(0.0);
    ex.bind("tokens", tokens);
    ex.bind("targets", targets);
    ex.run();
    if (mean_loss) loss_sum += ex.result(0).get(0);
    for (auto& [name, b] : buffers) {
      double* acc = totals[name].data<double>();
      int64_t n = b.numel();
      if (real == DType::f64) {
        const double* x = b.data<double>();
        for (int64_t i = 0; i < n; i++) acc[i] += x[i];
      } else {
        for (int64_t i = 0; i < n; i++) acc[i] += b.get(i);
      }
    }
  }
  if (mean_loss) *mean_loss = batches.empty() ? 0.0 : loss_sum / double(batches.size());
  return totals;
}

}  // namespace golf
