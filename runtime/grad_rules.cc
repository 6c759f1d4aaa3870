#include "runtime/grad_rules.h"

#include "runtime/op_attrs.h"

namespace golf {

namespace {

// What a rule sees: the forward node (a copy: building gradient nodes grows the node vector),
// its inputs x, its outputs y, and dy for the first output.
struct Ctx {
  Graph& g;
  Node n;
  std::vector<Var> x, y, gy;
  std::vector<Var>& gx;
  Var dy() const { return gy[0]; }
};

Var ones_minus(Var a) { return add_scalar(neg(a), 1.0); }

void grad_none(Ctx&) {}
void grad_neg(Ctx& c) { c.gx[0] = neg(c.dy()); }
void grad_exp(Ctx& c) { c.gx[0] = c.dy() * c.y[0]; }
void grad_log(Ctx& c) { c.gx[0] = c.dy() / c.x[0]; }
void grad_sqrt(Ctx& c) { c.gx[0] = scale(c.dy() / c.y[0], 0.5); }
void grad_rsqrt(Ctx& c) { c.gx[0] = c.dy() * scale(pow_scalar(c.y[0], 3.0), -0.5); }
void grad_square(Ctx& c) { c.gx[0] = c.dy() * scale(c.x[0], 2.0); }
void grad_tanh(Ctx& c) { c.gx[0] = c.dy() * ones_minus(square(c.y[0])); }
void grad_sigmoid(Ctx& c) { c.gx[0] = c.dy() * (c.y[0] * ones_minus(c.y[0])); }
void grad_softplus(Ctx& c) { c.gx[0] = c.dy() * sigmoid(c.x[0]); }
void grad_relu(Ctx& c) { c.gx[0] = c.dy() * step(c.x[0]); }
void grad_gelu(Ctx& c) { c.gx[0] = c.dy() * make_op(attrs::gelu_grad{}, {c.x[0]}); }
void grad_silu(Ctx& c) {
  Var s = sigmoid(c.x[0]);
  c.gx[0] = c.dy() * (s + c.x[0] * (s * ones_minus(s)));
}
void grad_elu(Ctx& c) {
  // x > 0: 1; otherwise α·eˣ = y + α
  Var pos = step(c.x[0]);
  c.gx[0] = c.dy() * (pos + ones_minus(pos) * add_scalar(c.y[0], elu_attrs(c.n).alpha));
}
void grad_leaky_relu(Ctx& c) {
  const double slope = leaky_relu_attrs(c.n).slope;
  c.gx[0] = c.dy() * add_scalar(scale(step(c.x[0]), 1.0 - slope), slope);
}
void grad_scale(Ctx& c) { c.gx[0] = scale(c.dy(), scale_attrs(c.n).c); }
void grad_add_scalar(Ctx& c) { c.gx[0] = c.dy(); }
void grad_pow_scalar(Ctx& c) {
  const double p = pow_scalar_attrs(c.n).p;
  c.gx[0] = c.dy() * scale(pow_scalar(c.x[0], p - 1.0), p);
}

void grad_add(Ctx& c) {
  c.gx[0] = sum_to(c.dy(), c.x[0].shape());
  c.gx[1] = sum_to(c.dy(), c.x[1].shape());
}
void grad_sub(Ctx& c) {
  c.gx[0] = sum_to(c.dy(), c.x[0].shape());
  c.gx[1] = sum_to(neg(c.dy()), c.x[1].shape());
}
void grad_mul(Ctx& c) {
  c.gx[0] = sum_to(c.dy() * c.x[1], c.x[0].shape());
  c.gx[1] = sum_to(c.dy() * c.x[0], c.x[1].shape());
}
void grad_div(Ctx& c) {
  Var ga = c.dy() / c.x[1];
  c.gx[0] = sum_to(ga, c.x[0].shape());
  c.gx[1] = sum_to(neg(ga * c.y[0]), c.x[1].shape());  // −dy·a/b² = −(dy/b)·y
}

void grad_sum(Ctx& c) { c.gx[0] = expand(c.dy(), c.x[0].shape()); }
void grad_mean(Ctx& c) {
  int64_t count = 1;
  for (int64_t a : mean_attrs(c.n).axes) count *= c.x[0].dim(int(a));
  c.gx[0] = expand(scale(c.dy(), 1.0 / double(count)), c.x[0].shape());
}
void grad_sum_to(Ctx& c) { c.gx[0] = expand(c.dy(), c.x[0].shape()); }
void grad_expand(Ctx& c) { c.gx[0] = sum_to(c.dy(), c.x[0].shape()); }

void grad_reshape(Ctx& c) { c.gx[0] = reshape(c.dy(), c.x[0].shape()); }
void grad_permute(Ctx& c) {
  const std::vector<int64_t> perm = permute_attrs(c.n).perm;
  std::vector<int64_t> inv(perm.size());
  for (size_t i = 0; i < inv.size(); i++) inv[size_t(perm[i])] = int64_t(i);
  c.gx[0] = permute(c.dy(), inv);
}
void grad_slice(Ctx& c) {
  const attrs::slice a = slice_attrs(c.n);
  const int axis = int(a.axis);
  c.gx[0] = pad(c.dy(), axis, a.start, c.x[0].dim(axis) - a.end);
}
void grad_pad(Ctx& c) {
  const attrs::pad a = pad_attrs(c.n);
  const int axis = int(a.axis);
  c.gx[0] = slice(c.dy(), axis, a.before, a.before + c.x[0].dim(axis));
}
void grad_concat(Ctx& c) {
  const int axis = int(concat_attrs(c.n).axis);
  int64_t at = 0;
  for (size_t k = 0; k < c.x.size(); k++) {
    int64_t len = c.x[k].dim(axis);
    if (!c.x[k].integer()) c.gx[k] = slice(c.dy(), axis, at, at + len);
    at += len;
  }
}

void grad_embedding(Ctx& c) { c.gx[0] = scatter_add_rows(c.x[1], c.dy(), c.x[0].dim(0)); }
void grad_scatter_add_rows(Ctx& c) { c.gx[1] = embedding(c.dy(), c.x[0]); }
void grad_index_select(Ctx& c) { c.gx[0] = index_add(c.dy(), c.x[1], c.x[0].dim(-1)); }
void grad_index_add(Ctx& c) { c.gx[0] = index_select(c.dy(), c.x[1]); }
void grad_token_shift(Ctx& c) { c.gx[0] = token_shift(c.dy(), -token_shift_attrs(c.n).k); }

// matmul's gradients for a and b (matmul_add's too, whose c gets dy as it is).
void matmul_grads(Ctx& c, bool ta, bool tb) {
  Var a = c.x[0], b = c.x[1], g = c.dy();
  // dA: d op(A) = dC · op(B)ᵀ
  Var da = matmul(g, b, false, !tb);
  c.gx[0] = ta ? transpose(da, -1, -2) : da;
  // dB: d op(B) = op(A)ᵀ · dC. A shared 2-D B sums over the batch: fold the batch into the
  // rows when A is not transposed (one GEMM), otherwise reduce a batched product.
  if (b.rank() == 2 && a.rank() > 2) {
    if (!ta) {
      a = reshape(a, {-1, a.dim(-1)});
      g = reshape(g, {-1, g.dim(-1)});
    } else {
      Var db = tb ? matmul(g, a, true, true) : matmul(a, g, false, false);
      std::vector<int64_t> batch_axes;
      for (int k = 0; k < db.rank() - 2; k++) batch_axes.push_back(k);
      c.gx[1] = reshape(sum(db, batch_axes), b.shape());
      return;
    }
  }
  c.gx[1] = tb ? matmul(g, a, true, ta) : matmul(a, g, !ta, false);
}
void grad_matmul(Ctx& c) {
  const attrs::matmul t = matmul_attrs(c.n);
  matmul_grads(c, t.trans_a, t.trans_b);
}
void grad_matmul_add(Ctx& c) {
  const attrs::matmul_add t = matmul_add_attrs(c.n);
  matmul_grads(c, t.trans_a, t.trans_b);
  c.gx[2] = c.dy();
}

void grad_rms_norm(Ctx& c) {
  c.gx[0] = make_op(attrs::rms_norm_backward{.eps = rms_norm_attrs(c.n).eps}, {c.x[0], c.dy()});
}
// The inverse rotation undoes the forward one.
void grad_rope(Ctx& c) {
  const attrs::rope a = rope_attrs(c.n);
  c.gx[0] = rope(c.dy(), a.rot, a.base, a.train_len, !a.inverse);
}
void grad_rope_at(Ctx& c) {
  const attrs::rope_at a = rope_at_attrs(c.n);
  c.gx[0] = rope_at(c.dy(), c.x[1], a.rot, a.base, a.train_len, a.ntk_len, !a.inverse);
}
void grad_attention(Ctx& c) {
  if (c.gy[1].valid())
    throw ShapeError("attention" + (c.n.loc.empty() ? std::string() : " at " + c.n.loc) +
                     ": its log-sum-exp output is not differentiable");
  if (!c.dy().valid()) return;
  const attrs::attention a = attention_attrs(c.n);
  Var d = make_op(attrs::attention_backward{.xsa = a.xsa, .scale = a.scale}, {c.x[0], c.x[1], c.x[2], c.y[0], c.y[1], c.dy()});
  c.gx[0] = output(d, 0);
  c.gx[1] = output(d, 1);
  c.gx[2] = output(d, 2);
}

void grad_soft_cross_entropy(Ctx& c) {
  Var d = make_op(attrs::soft_cross_entropy_backward{}, {c.x[0], c.x[1], c.dy()});
  c.gx[0] = d;
  c.gx[1] = output(d, 1);
}
void grad_cross_entropy(Ctx& c) {
  c.gx[0] = make_op(attrs::cross_entropy_backward{.softcap = cross_entropy_attrs(c.n).softcap}, {c.x[0], c.x[1], c.dy()});
}
void grad_fake_quant(Ctx& c) { c.gx[0] = c.dy(); }  // straight-through


// The fused ops of runtime/fuse_pass.cc: each backward in one op where the unfused chain took several.
void grad_add_scaled(Ctx& c) {
  c.gx[0] = c.dy();
  Var d = make_op(attrs::channel_scale_backward{}, {c.x[1], c.x[2], c.dy()});
  c.gx[1] = d;
  c.gx[2] = output(d, 1);
}
void grad_mix(Ctx& c) {
  Var da = make_op(attrs::channel_scale_backward{}, {c.x[0], c.x[2], c.dy()});
  Var db = make_op(attrs::channel_scale_backward{}, {c.x[1], c.x[3], c.dy()});
  c.gx[0] = da;
  c.gx[1] = db;
  c.gx[2] = output(da, 1);
  c.gx[3] = output(db, 1);
}
// The pre-norm fused into the residual op: the stream's gradient is what its other readers sent
// (output 0's) plus the norm's backward of output 1's, summed by an add that fold_gradient_sums
// folds into rms_norm_backward_add, as it folds the unfused graph's; then mix's or add_scaled's
// backward. The ops are those of the unfused graph, so its gradients are theirs.
Var residual_norm_stream_grad(Ctx& c, double eps) {
  Var norm = c.gy[1].valid() ? make_op(attrs::rms_norm_backward{.eps = eps}, {c.y[0], c.gy[1]}) : Var();
  if (!norm.valid()) return c.gy[0];
  return c.gy[0].valid() ? add(norm, c.gy[0]) : norm;
}
void grad_mix_rms_norm(Ctx& c) {
  Var ds = residual_norm_stream_grad(c, mix_rms_norm_attrs(c.n).eps);
  Var da = make_op(attrs::channel_scale_backward{}, {c.x[0], c.x[2], ds});
  Var db = make_op(attrs::channel_scale_backward{}, {c.x[1], c.x[3], ds});
  c.gx[0] = da;
  c.gx[1] = db;
  c.gx[2] = output(da, 1);
  c.gx[3] = output(db, 1);
}
void grad_add_scaled_rms_norm(Ctx& c) {
  Var ds = residual_norm_stream_grad(c, add_scaled_rms_norm_attrs(c.n).eps);
  c.gx[0] = ds;
  Var d = make_op(attrs::channel_scale_backward{}, {c.x[1], c.x[2], ds});
  c.gx[1] = d;
  c.gx[2] = output(d, 1);
}
void grad_relu2(Ctx& c) { c.gx[0] = make_op(attrs::relu2_backward{.slope = relu2_attrs(c.n).slope}, {c.x[0], c.dy()}); }
void grad_rms_norm_rope(Ctx& c) {
  const attrs::rms_norm_rope a = rms_norm_rope_attrs(c.n);
  c.gx[0] = make_op(attrs::rms_norm_rope_backward{.rot = a.rot, .train_len = a.train_len, .inverse = a.inverse, .eps = a.eps,
                                                  .base = a.base},
                    {c.x[0], c.dy()});
}
void grad_rms_norm_rope_gain(Ctx& c) {
  const attrs::rms_norm_rope_gain a = rms_norm_rope_gain_attrs(c.n);
  Var d = make_op(attrs::rms_norm_rope_gain_backward{.rot = a.rot, .train_len = a.train_len, .inverse = a.inverse,
                                                     .eps = a.eps, .base = a.base},
                  {c.x[0], c.x[1], c.dy()});
  c.gx[0] = d;
  c.gx[1] = sum_to(output(d, 1), c.x[1].shape());
}
void grad_rms_norm_scaled(Ctx& c) {
  const attrs::rms_norm_scaled a = rms_norm_scaled_attrs(c.n);
  c.gx[0] = make_op(attrs::rms_norm_scaled_backward{.eps = a.eps, .c = a.c}, {c.x[0], c.dy()});
}

}  // namespace

void apply_grad_rule(Graph& g, int node, const std::vector<Var>& gouts, std::vector<Var>& gins) {
  Ctx c{g, g.node(node), {}, {}, gouts, gins};
  for (const Value& v : c.n.inputs) c.x.push_back(Var(&g, v));
  for (int k = 0; k < int(c.n.outs.size()); k++) c.y.push_back(Var(&g, Value{node, k}));
  gins.assign(c.n.inputs.size(), Var());
  // Only attention's and the pre-norm ops' rules read gy[1] (the norm's gradient, where the stream
  // itself may have none); the other rules need gy[0].
  const bool reads_second = c.n.op == Op::attention || c.n.op == Op::mix_rms_norm || c.n.op == Op::add_scaled_rms_norm;
  if (c.gy.empty() || (!c.gy[0].valid() && !reads_second)) return;
  switch (c.n.op) {
#define OP(name, arity, shape_rule, grad_rule, check) \
  case Op::name: grad_rule(c); break;
#include "runtime/ops.def"
#undef OP
  }
}

}  // namespace golf
