// Fitting the linear combiner h' = (1 + α)·h + M·T_1 + β on a frozen base (SEEDS.md §3,
// docs/seeds.md "Linear combiner"), and scoring it.
//
// The script declares the fit as its last training phase:
//   { name = "combiner", fit = "ridge" | "gradient", windows = 512, batch = 32, reserve = 25,
//     lambda = 1e-2 (ridge), lr = 1e-3, steps = 80, weight_decay = 0.01 (gradient),
//     chunk = 2048, eval_chunks = 0 }
// After the base's steps the trainer collects (h, T_1, next token) from `windows` fresh training
// windows of seq_len tokens through the KV cache (WindowThinker), fits α, M, β into the exported
// weight set, and reports the last-position score of the validation split with and without the
// combiner. The fit's seconds count in the training clock; `reserve` keeps them out of the base's.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/data/byte_table.h"
#include "runtime/data/dataset.h"
#include "runtime/decode/kv_decoder.h"
#include "runtime/json.h"
#include "runtime/model_graph.h"
#include "runtime/train/evaluate.h"

namespace golf {

struct CombinerFitSpec {
  std::string name = "combiner";
  std::string method;          // "ridge" | "gradient"
  int64_t windows = 512;       // training windows (rounded down to a multiple of batch)
  int64_t batch = 32;          // windows per feature pass; rows per gradient micro-batch
  double lambda = 1e-2;        // ridge: λ·N on α and M (β is not shrunk)
  double lr = 1e-3, weight_decay = 0.01;
  int64_t steps = 80;          // gradient: full-batch AdamW steps
  double reserve = 0;          // seconds of the time budget kept for the fit
  int64_t chunk = 2048;        // last-position eval after the fit
  int64_t eval_chunks = 0;     // 0: every chunk of the validation split
};

// The fit phase of train.phases, if any (it must be the last phase); throws naming the key.
bool combiner_fit_phase(const Json& train, CombinerFitSpec* spec);

// (h, T_1, next token) per window, h and T_1 [n, d] row-major in double.
struct CombinerFeatures {
  int64_t n = 0, d = 0;
  std::vector<double> h, t1;
  std::vector<int32_t> y;
  double base_nats = 0, combined_nats = 0;  // Σ cross entropy at the last position, as fitted
};
// `rows`: windows × (T + 1) token ids (a window and the token after it); windows a multiple of
// the thinker's batch.
CombinerFeatures collect_combiner_features(WindowThinker& thinker, const std::vector<int32_t>& rows);

// h' = (1 + α)·h + M·T_1 + β, M [d, d] row-major.
struct CombinerParams {
  double alpha = 0;
  std::vector<double> M, beta;
};

// The exact minimizer over (α, M, β) of
//   Σ_n ‖(1 + α)·h_n + M·t_n + β − target_n‖² + λ·(α² + ‖M‖²)
// (float64; the (d+1)² system by LAPACK's dposv). For each α the best [M β] is a ridge regression
// of (target − (1+α)h) on [t, 1], affine in α, so the objective is a quadratic in α minimized in
// closed form.
CombinerParams ridge_solve(const double* h, const double* t1, const double* target, int64_t n, int64_t d, double lambda);

// The ridge fit, onto the target embedding as a residual. For window n at the base (α, M, β = 0),
//   r_n = −∂CE_n/∂h' = Σ_v (1[v = y_n] − p_v)·σ'_v·E[v]   (σ' the softcap's slope)
// is the target's embedding minus the embedding the model currently expects: the direction that
// raises the target's logit against the rest. The solve regresses it on the features,
//   Δ = argmin Σ_n ‖α·h_n + M·T_1,n + β − r_n‖² + λ·n·(α² + ‖M‖²)   (ridge_solve, target h + r),
// so Δ is the least-squares image of the per-window descent directions, and a step c ∈ [0, 8]
// along it sets its size, which a regression cannot know. The last quarter of the windows is held
// out: Δ is solved on the rest for λ, 10λ, 100λ and 1000λ, and the held-out mean cross entropy
// chooses λ and c (golden-section search; c = 0, the base, when nothing beats it). Writes c·Δ into
// the set. Needs at least 2 micro-batches of windows.
struct RidgeReport {
  double residual_rms = 0, direction_alpha = 0, step = 0;
  double loss_base = 0, loss_fitted = 0;  // held-out mean cross entropy, base and fitted
  double lambda = 0;                      // the λ chosen
  int64_t fit_windows = 0, held_windows = 0;
};
CombinerParams ridge_fit(const GraphFactory& factory, ParamStore& store, const std::string& set,
                         const CombinerFeatures& f, double lambda, int64_t batch, DType real = DType::f32,
                         Device device = Device::cpu, RidgeReport* report = nullptr);

// The seed's fit: AdamW (torch's: decoupled decay, bias correction, eps 1e-8, betas 0.9/0.999)
// on α, M, β, full batch over the features in micro-batches of spec.batch rows, cross entropy
// through the frozen head (the script's "combiner_fit" graph). Starts from the set's combiner;
// writes it back; returns the loss before each step and after the last.
std::vector<double> gradient_fit(const GraphFactory& factory, ParamStore& store, const std::string& set,
                                 const CombinerFeatures& f, const CombinerFitSpec& spec, DType real = DType::f32,
                                 Device device = Device::cpu);

CombinerParams read_combiner(const ParamStore& store, const std::string& set);
void write_combiner(ParamStore& store, const std::string& set, const CombinerParams& p);

// Last-position scores (SEEDS.md §3): the stream cut into chunks of `chunk` tokens, each scoring
// the token after it from a window of its last T tokens, with and without the combiner.
// untrusted_memory_budget > 0 (golfrt decode): scored as WindowThinker's untrusted mode does.
struct LastPositionScores {
  EvalResult base, combined;
};
LastPositionScores score_last_combined(const GraphFactory& factory, ParamStore& store, const std::string& set,
                                       const std::vector<uint16_t>& tokens, const ByteTable& table, int64_t window,
                                       int64_t chunk, int64_t batch, int64_t max_chunks = 0, DType real = DType::f32,
                                       Device device = Device::cpu, size_t untrusted_memory_budget = 0);

// The trainer's fit phase: features from fresh windows of `stream`, the fit into `set`, then the
// validation scores. Returns a JSON line for the metrics log (method, windows, fit seconds,
// base/combined fit-window losses, last-position val bpb with and without, ridge scale or the
// gradient fit's first and last loss).
Json run_combiner_phase(const GraphFactory& factory, ParamStore& store, const std::string& set, TokenStream& stream,
                        const std::vector<uint16_t>& val, const ByteTable& table, int64_t seq,
                        const CombinerFitSpec& spec, DType real, Device device, double* fit_seconds);

}  // namespace golf
