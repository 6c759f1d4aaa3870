#include "runtime/train/combiner_fit.h"

#include <cblas.h>

#include <chrono>
#include <cmath>
#include <set>
#include <stdexcept>

#include "runtime/autograd.h"

extern "C" void dposv_(const char* uplo, const int* n, const int* nrhs, double* a, const int* lda, double* b,
                       const int* ldb, int* info);

namespace golf {

namespace {

const char* const kAlpha = "combiner.alpha";
const char* const kM = "combiner.M";
const char* const kBeta = "combiner.beta";

double dot(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

}  // namespace

bool combiner_fit_phase(const Json& train, CombinerFitSpec* spec) {
  const Json& ps = train["phases"];
  if (!ps.is_array()) return false;
  bool found = false;
  for (size_t i = 0; i < ps.size(); i++) {
    const Json& p = ps[i];
    if (!p.has("fit")) continue;
    const std::string where = "train.phases[" + std::to_string(i + 1) + "]";
    if (i + 1 != ps.size()) throw std::invalid_argument(where + ": a combiner fit (fit = ...) must be the last phase");
    static const std::set<std::string> keys = {"name", "fit", "windows", "batch", "lambda", "lr", "steps",
                                               "weight_decay", "reserve", "chunk", "eval_chunks"};
    for (const auto& [k, v] : p.fields())
      if (!keys.count(k)) throw std::invalid_argument(where + ": unknown key '" + k + "' in a combiner fit phase");
    CombinerFitSpec s;
    s.name = p.get("name", "combiner");
    s.method = p["fit"].str(where + ".fit");
    if (s.method != "ridge" && s.method != "gradient")
      throw std::invalid_argument(where + ".fit must be \"ridge\" or \"gradient\", not '" + s.method + "'");
    s.windows = p.get("windows", s.windows);
    s.batch = p.get("batch", s.batch);
    s.lambda = p.get("lambda", s.lambda);
    s.lr = p.get("lr", s.lr);
    s.steps = p.get("steps", s.steps);
    s.weight_decay = p.get("weight_decay", s.weight_decay);
    s.reserve = p.get("reserve", s.reserve);
    s.chunk = p.get("chunk", s.chunk);
    s.eval_chunks = p.get("eval_chunks", s.eval_chunks);
    if (s.batch <= 0 || s.windows < s.batch)
      throw std::invalid_argument(where + ": windows (" + std::to_string(s.windows) + ") must be at least batch (" +
                                  std::to_string(s.batch) + ") > 0");
    if (s.lambda < 0 || s.lr <= 0 || s.steps <= 0 || s.reserve < 0 || s.chunk <= 0 || s.eval_chunks < 0)
      throw std::invalid_argument(where + ": lambda ≥ 0, lr > 0, steps > 0, reserve ≥ 0, chunk > 0, eval_chunks ≥ 0");
    *spec = s;
    found = true;
  }
  return found;
}

CombinerFeatures collect_combiner_features(WindowThinker& th, const std::vector<int32_t>& rows) {
  const int64_t B = th.batch(), T = th.window(), D = th.dim(), row = T + 1;
  if (rows.empty() || int64_t(rows.size()) % (B * row))
    throw std::invalid_argument("combiner features: " + std::to_string(rows.size()) + " ids are not whole batches of " +
                                std::to_string(B) + " windows of " + std::to_string(row) + " tokens");
  CombinerFeatures f;
  f.n = int64_t(rows.size()) / row;
  f.d = D;
  f.h.resize(size_t(f.n * D));
  f.t1.resize(size_t(f.n * D));
  f.y.resize(size_t(f.n));
  for (int64_t w0 = 0; w0 < f.n; w0 += B) {
    th.run(std::vector<int32_t>(rows.begin() + w0 * row, rows.begin() + (w0 + B) * row));
    for (int64_t b = 0; b < B; b++) {
      f.y[size_t(w0 + b)] = rows[size_t((w0 + b) * row + T)];
      f.base_nats += th.base_loss().get(b);
      f.combined_nats += th.combined_loss().get(b);
      for (int64_t j = 0; j < D; j++) {
        f.h[size_t((w0 + b) * D + j)] = th.h().get(b * D + j);
        f.t1[size_t((w0 + b) * D + j)] = th.t1().get(b * D + j);
      }
    }
  }
  return f;
}

CombinerParams ridge_solve(const double* h, const double* t1, const double* target, int64_t n, int64_t d, double lambda) {
  if (n <= 0 || d <= 0)
    throw std::invalid_argument("ridge: no features (" + std::to_string(n) + " rows of width " + std::to_string(d) + ")");
  const int64_t k = d + 1;  // [t, 1]
  // X = [t1, 1] (n × k); Y = [R, H] (n × 2d), R = target − h: the residual the combiner fits.
  std::vector<double> X(size_t(n * k)), Y(size_t(n * 2 * d));
  for (int64_t i = 0; i < n; i++) {
    for (int64_t j = 0; j < d; j++) {
      X[size_t(i * k + j)] = t1[i * d + j];
      Y[size_t(i * 2 * d + j)] = target[i * d + j] - h[i * d + j];
      Y[size_t(i * 2 * d + d + j)] = h[i * d + j];
    }
    X[size_t(i * k + d)] = 1.0;
  }
  // G = XᵀX + λ on M's diagonal; W = G⁻¹·XᵀY, stored as LAPACK's column-major k × 2d, which is
  // row-major (2d × k) = YᵀX.
  std::vector<double> G(size_t(k * k)), W(size_t(2 * d * k));
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(k), int(k), int(n), 1.0, X.data(), int(k), X.data(), int(k),
              0.0, G.data(), int(k));
  for (int64_t j = 0; j < d; j++) G[size_t(j * k + j)] += lambda;
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(2 * d), int(k), int(n), 1.0, Y.data(), int(2 * d), X.data(),
              int(k), 0.0, W.data(), int(k));
  const int kn = int(k), nrhs = int(2 * d);
  int info = 0;
  dposv_("U", &kn, &nrhs, G.data(), &kn, W.data(), &kn, &info);
  if (info != 0)
    throw std::runtime_error("ridge: the Gram matrix of [T_1, 1] is not positive definite (LAPACK dposv info " +
                             std::to_string(info) + "): too few windows or λ = 0 with collinear features");
  // W(α) = W0 − α·W1; residual E(α) = E0 − α·E1 with E0 = R − X·W0, E1 = H − X·W1.
  std::vector<double> P(size_t(n * 2 * d));
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(n), int(2 * d), int(k), 1.0, X.data(), int(k), W.data(),
              int(k), 0.0, P.data(), int(2 * d));
  double e01 = 0, e11 = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < d; j++) {
      const double e0 = Y[size_t(i * 2 * d + j)] - P[size_t(i * 2 * d + j)];
      const double e1 = Y[size_t(i * 2 * d + d + j)] - P[size_t(i * 2 * d + d + j)];
      e01 += e0 * e1;
      e11 += e1 * e1;
    }
  double m01 = 0, m11 = 0;  // over M's entries only (β is not shrunk)
  for (int64_t j = 0; j < d; j++) {
    m01 += dot(&W[size_t(j * k)], &W[size_t((d + j) * k)], d);
    m11 += dot(&W[size_t((d + j) * k)], &W[size_t((d + j) * k)], d);
  }
  const double den = e11 + lambda * m11 + lambda;
  CombinerParams p;
  p.alpha = den > 0 ? (e01 + lambda * m01) / den : 0.0;
  p.M.resize(size_t(d * d));
  p.beta.resize(size_t(d));
  for (int64_t j = 0; j < d; j++) {
    for (int64_t c = 0; c < d; c++) p.M[size_t(j * d + c)] = W[size_t(j * k + c)] - p.alpha * W[size_t((d + j) * k + c)];
    p.beta[size_t(j)] = W[size_t(j * k + d)] - p.alpha * W[size_t((d + j) * k + d)];
  }
  return p;
}

CombinerParams read_combiner(const ParamStore& store, const std::string& set) {
  const Tensor& a = store.get(kAlpha, set);
  const Tensor& m = store.get(kM, set);
  const Tensor& b = store.get(kBeta, set);
  CombinerParams p;
  p.alpha = a.get(0);
  for (int64_t i = 0; i < m.numel(); i++) p.M.push_back(m.get(i));
  for (int64_t i = 0; i < b.numel(); i++) p.beta.push_back(b.get(i));
  return p;
}

void write_combiner(ParamStore& store, const std::string& set, const CombinerParams& p) {
  Tensor& a = store.get(kAlpha, set);
  Tensor& m = store.get(kM, set);
  Tensor& b = store.get(kBeta, set);
  if (a.numel() != 1 || m.numel() != int64_t(p.M.size()) || b.numel() != int64_t(p.beta.size()))
    throw std::runtime_error("combiner: the model's combiner.alpha/M/beta are " + shape_str(a.shape()) + ", " +
                             shape_str(m.shape()) + ", " + shape_str(b.shape()) + "; the fit has d = " +
                             std::to_string(p.beta.size()));
  a.set(0, p.alpha);
  for (size_t i = 0; i < p.M.size(); i++) m.set(int64_t(i), p.M[i]);
  for (size_t i = 0; i < p.beta.size(); i++) b.set(int64_t(i), p.beta[i]);
}

namespace {

// Results read on the host (one copy per tensor from a device, not one per element).
Tensor host(const Tensor& t) { return t.device() == Device::cpu ? t : t.to_device(Device::cpu); }

// The mean cross entropy (and its gradient) of the combined prediction over all features: the
// script's "combiner_fit" graph run over micro-batches of `batch` rows with the parameters given.
class FitLoss {
 public:
  FitLoss(const GraphFactory& factory, ParamStore& store, const std::string& set, const CombinerFeatures& f,
          int64_t batch, DType real, Device device)
      : store_(store), set_(set), device_(device), d_(f.d) {
    if (f.n < batch || f.n % batch)
      throw std::invalid_argument("combiner fit: " + std::to_string(f.n) + " features are not whole micro-batches of " +
                                  std::to_string(batch));
    model_ = factory("combiner_fit", batch, 1);
    std::vector<std::string> wrt = names_;
    wrt.push_back("h");  // the ridge fit's residual target
    std::vector<Gradient> grads = backward(mean_all(model_->loss), wrt);
    std::vector<Var> outs = {mean_all(model_->loss)};
    for (const Gradient& g : grads) {
      if (!g.grad.valid()) throw std::runtime_error("combiner fit: the combiner_fit graph's loss does not depend on " + g.name);
      outs.push_back(g.grad);
    }
    ex_ = std::make_unique<Executor>(model_->graph, outs, ExecOptions{real, true, device});
    for (const std::string& n : names_)
      if (!model_->store.has(n)) throw std::runtime_error("combiner fit: the combiner_fit graph has no parameter " + n);
    std::set<std::string> fitted(names_.begin(), names_.end());
    for (const ParamSpec& p : model_->store.specs()) {
      if (fitted.count(p.name)) continue;  // bound on every pass, as they change
      const Tensor& t = store.get(p.name, set);
      if (t.shape() != p.shape)
        throw std::runtime_error("combiner fit: parameter '" + p.name + "' is " + shape_str(t.shape()) +
                                 " in the weights, " + shape_str(p.shape) + " in the graph");
      ex_->bind(p.name, device == Device::cpu ? t : t.to_device(device));
    }
    const int64_t D = f.d;
    for (int64_t r0 = 0; r0 < f.n; r0 += batch) {
      Tensor h({batch, 1, D}, real), t1({batch, 1, D}, real), y({batch, 1}, DType::i32);
      for (int64_t i = 0; i < batch * D; i++) h.set(i, f.h[size_t(r0 * D + i)]), t1.set(i, f.t1[size_t(r0 * D + i)]);
      for (int64_t i = 0; i < batch; i++) y.set(i, f.y[size_t(r0 + i)]);
      batches_.push_back({{"h", h}, {"t1", t1}, {"targets", y}, {"tokens", y}});
    }
  }

  // −∂CE_n/∂h'_n per feature [n, d] at the combiner p: the direction in which each window's h'
  // raises its target's logit against the model's current distribution (the mean loss's input
  // gradient times the micro-batch size).
  std::vector<double> residual(const CombinerParams& p) {
    (*this)(p);
    std::vector<double> r;
    for (auto& in : batches_) {
      for (auto& [name, t] : in) ex_->bind(name, t);
      ex_->run();
      Tensor g = host(ex_->result(names_.size() + 1)).to(DType::f64);
      const double b = double(g.dim(0));
      for (int64_t i = 0; i < g.numel(); i++) r.push_back(-b * g.data<double>()[i]);
    }
    return r;
  }

  // Writes p into the set and returns the mean loss; grad (α, M, β flattened) when asked.
  double operator()(const CombinerParams& p, std::vector<double>* grad = nullptr) {
    write_combiner(store_, set_, p);
    for (const std::string& n : names_) {
      const Tensor& t = store_.get(n, set_);
      ex_->bind(n, device_ == Device::cpu ? t : t.to_device(device_));
    }
    if (grad) grad->assign(size_t(1 + d_ * d_ + d_), 0.0);
    double l = 0;
    const double w = 1.0 / double(batches_.size());
    for (auto& in : batches_) {
      for (auto& [name, t] : in) ex_->bind(name, t);
      ex_->run();
      l += host(ex_->result(0)).get(0) * w;
      if (!grad) continue;
      size_t off = 0;
      for (size_t i = 0; i < names_.size(); i++) {
        Tensor g = host(ex_->result(i + 1)).to(DType::f64);
        const double* gp = g.data<double>();
        for (int64_t j = 0; j < g.numel(); j++) (*grad)[off + size_t(j)] += gp[j] * w;
        off += size_t(g.numel());
      }
    }
    return l;
  }

 private:
  const std::vector<std::string> names_ = {kAlpha, kM, kBeta};
  ParamStore& store_;
  std::string set_;
  Device device_;
  int64_t d_;
  std::unique_ptr<ModelGraph> model_;
  std::unique_ptr<Executor> ex_;
  std::vector<std::map<std::string, Tensor>> batches_;
};

CombinerParams scaled(const CombinerParams& p, double c) {
  CombinerParams q = p;
  q.alpha *= c;
  for (double& v : q.M) v *= c;
  for (double& v : q.beta) v *= c;
  return q;
}

}  // namespace

std::vector<double> gradient_fit(const GraphFactory& factory, ParamStore& store, const std::string& set,
                                 const CombinerFeatures& f, const CombinerFitSpec& spec, DType real, Device device) {
  FitLoss loss(factory, store, set, f, spec.batch, real, device);
  CombinerParams p = read_combiner(store, set);
  const int64_t D = f.d, n = 1 + D * D + D;
  std::vector<double> mom(size_t(n), 0.0), vel(size_t(n), 0.0), grad;
  auto at = [&](int64_t j) -> double& { return j == 0 ? p.alpha : j <= D * D ? p.M[size_t(j - 1)] : p.beta[size_t(j - 1 - D * D)]; };
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  std::vector<double> losses;
  for (int64_t s = 1; s <= spec.steps; s++) {
    const double l = loss(p, &grad);
    if (!std::isfinite(l)) throw std::runtime_error("gradient fit: the loss is " + std::to_string(l) + " at step " + std::to_string(s));
    losses.push_back(l);
    const double c1 = 1 - std::pow(b1, double(s)), c2 = 1 - std::pow(b2, double(s));
    for (int64_t j = 0; j < n; j++) {
      double& x = at(j);
      const double g = grad[size_t(j)];
      x -= spec.lr * spec.weight_decay * x;
      mom[size_t(j)] = b1 * mom[size_t(j)] + (1 - b1) * g;
      vel[size_t(j)] = b2 * vel[size_t(j)] + (1 - b2) * g * g;
      x -= spec.lr * (mom[size_t(j)] / c1) / (std::sqrt(vel[size_t(j)] / c2) + eps);
    }
  }
  losses.push_back(loss(p));  // also writes the final parameters
  return losses;
}

namespace {

// Windows [from, to) of f (whole micro-batches).
CombinerFeatures feature_rows(const CombinerFeatures& f, int64_t from, int64_t to) {
  CombinerFeatures r;
  r.n = to - from;
  r.d = f.d;
  r.h.assign(f.h.begin() + from * f.d, f.h.begin() + to * f.d);
  r.t1.assign(f.t1.begin() + from * f.d, f.t1.begin() + to * f.d);
  r.y.assign(f.y.begin() + from, f.y.begin() + to);
  return r;
}

}  // namespace

CombinerParams ridge_fit(const GraphFactory& factory, ParamStore& store, const std::string& set,
                         const CombinerFeatures& f, double lambda, int64_t batch, DType real, Device device,
                         RidgeReport* report) {
  // The regression has d + 1 unknowns per output dimension, so a few hundred windows over-fit it
  // easily: on a 188-step cpu run an in-sample step search took the fit windows' loss from 3.77 to
  // 2.01 nats while the validation chunks went from 2.08 to 3.39 bpb. The last quarter of the
  // windows is therefore held out, and it alone chooses the shrinkage and the step.
  const int64_t batches = f.n / batch;
  if (batches < 2 || f.n % batch)
    throw std::invalid_argument("ridge fit: needs at least 2 whole micro-batches of windows (a quarter is held out to choose "
                                "λ and the step), got " + std::to_string(f.n) + " windows in micro-batches of " +
                                std::to_string(batch));
  const int64_t held = std::max<int64_t>(1, batches / 4) * batch, fitted = f.n - held;
  const CombinerFeatures fit = feature_rows(f, 0, fitted), hold = feature_rows(f, fitted, f.n);
  FitLoss fit_loss(factory, store, set, fit, batch, real, device);
  FitLoss hold_loss(factory, store, set, hold, batch, real, device);
  const int64_t d = f.d;
  const CombinerParams zero{0, std::vector<double>(size_t(d * d), 0.0), std::vector<double>(size_t(d), 0.0)};
  std::vector<double> target = fit_loss.residual(zero);
  double r2 = 0;
  for (size_t i = 0; i < target.size(); i++) r2 += target[i] * target[i], target[i] += fit.h[i];
  const double base = hold_loss(zero);
  RidgeReport best{std::sqrt(r2 / double(fit.n)), 0, 0, base, base, lambda, fitted, held};
  CombinerParams best_dir = zero;
  // λ from {1, 10, 100, 1000}·λ and, for each, the step along the direction by golden-section search
  // on [0, 8] of the held-out mean cross entropy; c = 0 (the base) wins unless something beats it.
  for (double scale : {1.0, 10.0, 100.0, 1000.0}) {
    const double lam = lambda * scale;
    const CombinerParams dir = ridge_solve(fit.h.data(), fit.t1.data(), target.data(), fit.n, d, lam * double(fit.n));
    const double phi = (std::sqrt(5.0) - 1) / 2;
    double a = 0, b = 8, x1 = b - phi * (b - a), x2 = a + phi * (b - a);
    double f1 = hold_loss(scaled(dir, x1)), f2 = hold_loss(scaled(dir, x2));
    for (int i = 0; i < 24; i++) {
      if (f1 <= f2) b = x2, x2 = x1, f2 = f1, x1 = b - phi * (b - a), f1 = hold_loss(scaled(dir, x1));
      else a = x1, x1 = x2, f1 = f2, x2 = a + phi * (b - a), f2 = hold_loss(scaled(dir, x2));
    }
    const double c = f1 <= f2 ? x1 : x2, l = std::min(f1, f2);
    if (l < best.loss_fitted) best.loss_fitted = l, best.step = c, best.lambda = lam, best.direction_alpha = dir.alpha, best_dir = dir;
  }
  const CombinerParams p = scaled(best_dir, best.step);
  hold_loss(p);  // leaves the fitted combiner in the set
  if (report) *report = best;
  return p;
}

LastPositionScores score_last_combined(const GraphFactory& factory, ParamStore& store, const std::string& set,
                                       const std::vector<uint16_t>& tokens, const ByteTable& table, int64_t window,
                                       int64_t chunk, int64_t batch, int64_t max_chunks, DType real, Device device,
                                       size_t untrusted_memory_budget) {
  if (chunk < window)
    throw std::invalid_argument("last-position evaluation: the chunk (" + std::to_string(chunk) +
                                ") must be at least the window length (" + std::to_string(window) + ")");
  std::vector<int64_t> ends;  // chunk c's last token is ends[c] − 1; its target tokens[ends[c]]
  for (int64_t end = chunk; end < int64_t(tokens.size()); end += chunk) {
    ends.push_back(end);
    if (max_chunks > 0 && int64_t(ends.size()) >= max_chunks) break;
  }
  LastPositionScores r;
  if (ends.empty()) return r;
  const int64_t B = std::min<int64_t>(batch, int64_t(ends.size()));
  WindowThinker th(factory, store, set, B, window, real, device, untrusted_memory_budget);
  for (size_t c0 = 0; c0 < ends.size(); c0 += size_t(B)) {
    std::vector<int32_t> rows;
    for (int64_t b = 0; b < B; b++) {
      const int64_t end = ends[std::min(c0 + size_t(b), ends.size() - 1)];  // the last batch repeats its last chunk
      for (int64_t i = end - window; i <= end; i++) rows.push_back(tokens[size_t(i)]);
    }
    th.run(rows);
    for (int64_t b = 0; b < B && c0 + size_t(b) < ends.size(); b++) {
      const int64_t end = ends[c0 + size_t(b)];
      const double bytes = table.target_bytes(tokens.data(), int64_t(tokens.size()), end);
      r.base.nats += th.base_loss().get(b);
      r.combined.nats += th.combined_loss().get(b);
      if (!std::isfinite(th.base_loss().get(b)) && r.base.first_nonfinite < 0) r.base.first_nonfinite = end;
      if (!std::isfinite(th.combined_loss().get(b)) && r.combined.first_nonfinite < 0) r.combined.first_nonfinite = end;
      r.base.bytes += bytes;
      r.combined.bytes += bytes;
      r.base.targets++;
      r.combined.targets++;
    }
  }
  return r;
}

Json run_combiner_phase(const GraphFactory& factory, ParamStore& store, const std::string& set, TokenStream& stream,
                        const std::vector<uint16_t>& val, const ByteTable& table, int64_t seq,
                        const CombinerFitSpec& spec, DType real, Device device, double* fit_seconds) {
  auto t0 = std::chrono::steady_clock::now();
  const int64_t n = spec.windows / spec.batch * spec.batch;
  std::vector<int32_t> rows;
  rows.reserve(size_t(n * (seq + 1)));
  for (int64_t w = 0; w < n; w++)
    for (uint16_t t : stream.take(seq + 1)) rows.push_back(t);
  CombinerFeatures f;
  {
    WindowThinker th(factory, store, set, spec.batch, seq, real, device);
    f = collect_combiner_features(th, rows);
  }
  Json line = Json::object();
  line.set("phase", spec.name);
  line.set("combiner_fit", spec.method);
  line.set("fit_windows", f.n);
  line.set("fit_base_loss", f.base_nats / double(f.n));
  if (spec.method == "ridge") {
    RidgeReport r;
    CombinerParams p = ridge_fit(factory, store, set, f, spec.lambda, spec.batch, real, device, &r);
    line.set("ridge_residual_rms", r.residual_rms);
    line.set("ridge_step", r.step);
    line.set("ridge_lambda", r.lambda);
    line.set("held_windows", r.held_windows);
    line.set("held_loss_base", r.loss_base);
    line.set("held_loss_fitted", r.loss_fitted);
    line.set("alpha", p.alpha);
  } else {
    std::vector<double> losses = gradient_fit(factory, store, set, f, spec, real, device);
    line.set("fit_loss_first", losses.front());
    line.set("fit_loss_last", losses.back());
    line.set("alpha", read_combiner(store, set).alpha);
  }
  *fit_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  line.set("fit_s", *fit_seconds);
  // The fitted combiner on the fit windows themselves (in-sample), then the validation split.
  {
    WindowThinker th(factory, store, set, spec.batch, seq, real, device);
    line.set("fit_combined_loss", collect_combiner_features(th, rows).combined_nats / double(f.n));
  }
  LastPositionScores s = score_last_combined(factory, store, set, val, table, seq, spec.chunk, spec.batch,
                                             spec.eval_chunks, real, device);
  line.set("last_chunk", spec.chunk);
  line.set("last_targets", s.base.targets);
  line.set("last_base_bpb", s.base.bpb());
  line.set("last_combined_bpb", s.combined.bpb());
  return line;
}

}  // namespace golf
