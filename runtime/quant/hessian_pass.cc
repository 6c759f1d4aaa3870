#include "runtime/quant/hessian_pass.h"

#include <stdexcept>

#include "runtime/executor.h"
#include "runtime/quant/linear_uses.h"

namespace golf {

std::vector<std::string> add_hessian_accumulators(Graph& g, const std::vector<std::string>& params) {
  const LinearUses found = find_linear_uses(g, params);
  const std::vector<std::string>& targets = found.targets;
  std::string saved_loc = g.location();
  g.set_location("gptq hessian pass");
  std::vector<bool> used(targets.size(), false);
  for (const LinearUse& u : found.uses) {
    int64_t in = found.in[size_t(u.target)];
    Var x(&g, u.x);
    if (u.trans_a) x = transpose(x, x.rank() - 2, x.rank() - 1);
    x = reshape(x, {-1, in});
    Var h = input(g, "hessian." + targets[size_t(u.target)], {in, in});
    accumulate(h, matmul(x, x, true, false));
    used[size_t(u.target)] = true;
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
