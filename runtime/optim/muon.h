// Muon (the baseline's optimizer for block matrices) as an update graph: momentum, then the
// update orthogonalized by a quintic Newton–Schulz iteration, all nodes of one graph that reads
// each parameter, its gradient and its momentum buffer and assigns the new values in place. The
// learning rate and the momentum μ are scalar graph inputs, set by the host every step.
//
// Per parameter W [rows, cols] (a tensor of higher rank is treated as [dim0, rest]):
//   buf ← μ·buf + g;  U = g + μ·buf (Nesterov) or buf;
//   U ← U with each row divided by max(‖row‖, 1e-7) (row_normalize, "MuonEq-R", the record's form);
//   X = U / (‖U‖_F + 1e-7), transposed when rows > cols so X·Xᵀ is the small Gram matrix;
//   ns_steps × { A = X·Xᵀ; B = b·A + c·A·A; X = a·X + B·X }, (a, b, c) = (3.4445, −4.7750, 2.0315),
//     or with ns = "polar_express" iteration i's own tuple (the record's five minimax tuples,
//     kPolarExpress below; at most 5 iterations);
//   transposed back, times √max(1, rows/cols);  W ← W − lr·(X + wd·W).
//
// Precision: Newton–Schulz runs in the executor's float type (fp32 on CPU; fp64 in checks). The
// baseline runs it in bf16 on GPU, and the CUDA backend will do the same there; a golden test must
// fix one precision on both sides.
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "runtime/dist/communicator.h"
#include "runtime/executor.h"
#include "runtime/optim/schedule_scalars.h"

namespace golf {

struct MuonConfig {
  double lr = 0.02;
  double momentum = 0.95;
  // μ warms up linearly from warmup_from to momentum over warmup_steps updates (0: no warmup).
  double warmup_from = 0.85;
  int64_t warmup_steps = 0;
  bool nesterov = true;
  int ns_steps = 5;
  double weight_decay = 0.0;  // decoupled: W ← W − lr·(update + wd·W)
  bool row_normalize = false;
  bool polar_express = false;  // per-iteration coefficients (kPolarExpress) instead of one tuple
};

// The Newton–Schulz coefficients (a, b, c): the baseline's one tuple, used for every iteration,
// and Polar Express's per-iteration minimax tuples as the challenge's 1.0611 record uses them
// (parameter-golf PR #1344), iteration i using tuple i.
struct NsCoeffs {
  double a, b, c;
};
constexpr NsCoeffs kNsQuintic = {3.4445, -4.7750, 2.0315};
constexpr NsCoeffs kPolarExpress[5] = {
    {8.156554524902461, -22.48329292557795, 15.878769915207462},
    {4.042929935166739, -2.808917465908714, 0.5000178451051316},
    {3.8916678022926607, -2.772484153217685, 0.5060648178503393},
    {3.285753657755655, -2.3681294933425376, 0.46449024233003106},
    {2.3465413258596377, -1.7097828382687081, 0.42323551169305323},
};
constexpr int kPolarExpressSteps = 5;

// μ for an update preceded by `step` updates: (1−f)·from + f·momentum, f = min(step/warmup, 1),
// as the baseline computes it.
double muon_momentum(const MuonConfig& cfg, int64_t step);

// `steps` quintic Newton–Schulz iterations on x [m, n] with m <= n and ‖x‖_F <= 1: pushes every
// singular value towards 1 (to roughly [0.68, 1.13], not exactly: the coefficients trade
// accuracy for speed).
Var newton_schulz(Var x, int steps, bool polar_express = false);
// U [rows, cols] -> the orthogonalized, shape-scaled update (everything after the momentum).
Var muon_orthogonalize(Var u, const MuonConfig& cfg);
// muon_orthogonalize of each U with its config, the Newton–Schulz iterations of matrices with the
// same (wide-orientation) shape and the same iterations run once on their stack [n, rows, cols]
// with batched matmuls: the baseline's 54 matrices make 4 stacks, so its ~810 Newton–Schulz
// matmuls become 60 launches (docs/perf.md, "GPU step on paper"). The normalization before and the
// scaling after stay per matrix. On the CPU each stacked problem is the same BLAS call as a
// single one (kernels/cpu/matmul.cc), so the results are bit for bit muon_orthogonalize's
// (tests/optim_test.cc checks it).
std::vector<Var> muon_orthogonalize_all(const std::vector<Var>& us, const std::vector<MuonConfig>& cfgs);

// Inputs per parameter: "<name>", "grad.<name>", "muon_buf.<name>" and the scalars
// "muon_lr.<name>" and "muon_mu.<name>" (per parameter: a frozen parameter's step count stops).
// batched: orthogonalize with muon_orthogonalize_all (false: one matrix at a time, for the test
// that compares the two).
void build_muon_update(Graph& g, const ParamStore& store, const std::vector<std::pair<std::string, MuonConfig>>& params,
                       bool batched = true);

class Muon {
 public:
  // Every parameter must have rank >= 2 (throws naming it otherwise).
  // `device`: where the update graph runs and the state lives (docs/cuda.md "Residency"): the
  // parameters are used where the store keeps them; the schedule scalars are host tensors
  // uploaded by each run (a few bytes each); state() and load_state() copy through the host.
  // graphs: on a CUDA device, the update runs as a CUDA graph (ExecOptions::graph).
  Muon(ParamStore& store, std::vector<std::pair<std::string, MuonConfig>> params, DType real = DType::f32,
       Device device = Device::cpu, bool graphs = false);

  // One update of the "live" weights; each active parameter moves with learning rate
  // cfg.lr × lr_multiplier and μ = muon_momentum(cfg, updates it has received so far).
  void step(const std::map<std::string, Tensor>& grads, double lr_multiplier);
  // Frozen parameters get no update; their buffers and step counts stay as they are. Replaces
  // the previous frozen set; names this optimizer does not hold are ignored.
  void set_frozen(const std::set<std::string>& names);
  // Data-parallel ranks (identical gradients on every rank): the Newton–Schulz work is split, the
  // i-th active matrix orthogonalized by rank i mod N into a zeroed flat buffer, then one
  // all-reduce gives every rank every update (as the baseline does). null or the "single"
  // engine: all here, in one graph.
  void set_communicator(Communicator* comm);

  int64_t steps_taken(const std::string& name) const;
  // The device work of the last step() (its executors' last runs; zeros on the CPU).
  DeviceLedger ledger() const;
  const Tensor& buffer(const std::string& name) const { return buf_.at(name); }
  const std::vector<std::pair<std::string, MuonConfig>>& params() const { return params_; }

  // "muon.buf.<name>" and "muon.t.<name>" (an f64 scalar); copies. load_state reads exactly
  // these names and throws naming a missing or mis-shaped one.
  std::map<std::string, Tensor> state() const;
  void load_state(const std::map<std::string, Tensor>& state);

 private:
  void rebuild();
  void step_split();
  ExecOptions update_options() const;

  Communicator* comm_ = nullptr;
  // Split mode: g_ updates the buffers and writes this rank's share of the updates into upd_ (the
  // others zeroed, on the optimizer's device); allreduce_sum sums them over ranks; apply_ reads
  // every update ("muon_upd.<name>") and moves the weights.
  std::vector<std::string> active_, mine_;
  std::unique_ptr<Graph> apply_g_;
  std::unique_ptr<Executor> apply_ex_;
  std::map<std::string, Tensor> upd_;

  ParamStore& store_;
  std::vector<std::pair<std::string, MuonConfig>> params_;
  DType real_;
  Device device_;
  std::set<std::string> frozen_;
  std::unique_ptr<Graph> g_;
  std::unique_ptr<Executor> ex_;
  bool graphs_ = false;
  std::map<std::string, Tensor> buf_, lr_, mu_;  // lr_, mu_: host slots of sched_
  std::map<std::string, Tensor> lr_bound_, mu_bound_;  // the same slots as the graphs read them
  std::unique_ptr<ScheduleScalars> sched_;
  std::map<std::string, int64_t> t_;
};

}  // namespace golf
