// Scoring exactly as the challenge does: val_bpb = Σ cross-entropy (nats) / (ln 2 · Σ bytes) over
// floor((N−1)/L)·L target tokens of the validation stream, in non-overlapping windows of L, no
// attention masking at document boundaries; sums in float64; bytes per target from the
// tokenizer's byte table (runtime/data/byte_table.h).
#pragma once
#include <map>
#include <memory>
#include <vector>

#include "runtime/data/byte_table.h"
#include "runtime/dist/communicator.h"
#include "runtime/executor.h"
#include "runtime/model_graph.h"

namespace golf {

struct EvalResult {
  double nats = 0;   // Σ cross entropy
  double bytes = 0;  // Σ bytes of the scored targets
  int64_t targets = 0;
  int64_t first_nonfinite = -1;  // stream position of the first target whose loss is NaN or ±inf
  double loss() const { return targets ? nats / double(targets) : 0.0; }
  double bpb() const;
};

class Evaluator {
 public:
  // storage: ExecOptions::storage of its executors (automatic: bf16 on CUDA, fp32 on the CPU).
  Evaluator(GraphFactory factory, int64_t seq, int64_t batch, DType real, Device device = Device::cpu,
            RealStorage storage = RealStorage::automatic);
  // Data-parallel ranks: every run below must then be called by every rank with the same
  // arguments; each scores a contiguous share of the windows and the sums are reduced in float64,
  // so every rank returns the whole result.
  void set_communicator(Communicator* comm) { comm_ = comm; }
  // An artifact someone else made (golfrt decode): score the logits the script returns with
  // golfrt's own cross-entropy against golfrt's targets, never a loss the script computes; refuse
  // a graph whose logits read the targets input; plan every graph within `memory_budget` bytes
  // (0: no budget). Off by default: train evaluates the user's own script.
  void set_untrusted(size_t memory_budget) {
    untrusted_ = true;
    memory_budget_ = memory_budget;
  }
  // The causality rule (PARAMETER_GOLF.md: p_t may depend only on the artifact and x_<=t), tested:
  // in `windows` windows spread over the stream, the tokens after a position t are replaced and
  // the scores at positions 0..t must not move. Throws naming the first position that moved.
  void check_causal(ParamStore& store, const std::string& set, const std::vector<uint16_t>& tokens, int vocab,
                    int64_t windows);
  // Scores the first `max_windows` windows (0: all) with the weights of `set` in `store`.
  EvalResult run(ParamStore& store, const std::string& set, const std::vector<uint16_t>& tokens, const ByteTable& table,
                 int64_t max_windows = 0);
  // Sliding windows of length L moved by `stride`: the first window scores all its targets, each
  // later one only its last `stride` (more context per scored token, as the leaderboard's eval).
  // max_targets > 0 stops once that many targets are scored.
  EvalResult run_sliding(ParamStore& store, const std::string& set, const std::vector<uint16_t>& tokens,
                         const ByteTable& table, int64_t stride, int64_t max_targets = 0);
  // Last-position scoring (SEEDS.md §3): the stream cut into non-overlapping chunks of `chunk`
  // tokens; each scores only the token after it, predicted from a window of the chunk's last L
  // tokens (chunk >= L). max_targets > 0 stops after that many chunks.
  EvalResult run_last(ParamStore& store, const std::string& set, const std::vector<uint16_t>& tokens,
                      const ByteTable& table, int64_t chunk, int64_t max_targets = 0);
  // The windows run, run_sliding and run_last score, without scoring them: starts[i] is where
  // window i begins in the stream, from[i] the first of its positions that is scored.
  struct Windows {
    std::vector<int64_t> starts, from;
  };
  Windows block_windows(int64_t n_tokens, int64_t max_windows = 0) const;
  Windows sliding_windows(int64_t n_tokens, int64_t stride, int64_t max_targets = 0) const;
  // Scores the given windows (test-time training scores a stream piecewise, between updates).
  // `losses`, when given, receives each scored target's loss in scoring order.
  EvalResult run_windows(ParamStore& store, const std::string& set, const std::vector<uint16_t>& tokens,
                         const ByteTable& table, const Windows& w, std::vector<double>* losses = nullptr);
  int64_t seq() const { return seq_; }

 private:
  struct Compiled {
    std::unique_ptr<ModelGraph> model;
    std::unique_ptr<Executor> exec;
  };
  Compiled& compiled(int64_t batch);
  void bind_weights(Compiled& c, ParamStore& store, const std::string& set, std::map<std::string, Tensor>& on_device);
  // Per-position losses of one window (inputs x, targets y, both seq_ long).
  std::vector<double> window_losses(ParamStore& store, const std::string& set, const std::vector<int32_t>& x,
                                    const std::vector<int32_t>& y);
  // Scores windows starting at `starts`, each from position `from[i]` of the window on.
  void score(ParamStore& store, const std::string& set, const std::vector<uint16_t>& tokens, const ByteTable& table,
             const std::vector<int64_t>& starts, const std::vector<int64_t>& from, EvalResult& r,
             std::vector<double>* losses = nullptr);

  GraphFactory factory_;
  int64_t seq_, batch_;
  DType real_;
  Device device_;
  RealStorage storage_ = RealStorage::automatic;
  std::map<int64_t, Compiled> graphs_;
  Communicator* comm_ = nullptr;
  bool untrusted_ = false;
  size_t memory_budget_ = 0;
};

// The scored loss of an untrusted model's graph: golfrt's cross-entropy of the logits the script
// returned, against the graph's "targets" input. Throws when the graph has no logits or when the
// logits depend on the targets.
Var golfrt_scored_loss(ModelGraph& m);

// Adds one scored target to r: its loss `nats`, predicting tokens[position]; its bytes from
// ByteTable::target_bytes. Every scoring path of decode, test-time training's included, counts here.
void count_target(EvalResult& r, double nats, const std::vector<uint16_t>& tokens, int64_t position,
                  const ByteTable& table);

// decode's refusals of a result that scores nothing or scores NaN (`what` names the run).
void require_scored(const EvalResult& r, const std::string& what);

// The windows the challenge scores: floor((N − 1) / L).
int64_t scored_windows(int64_t n_tokens, int64_t seq);

// A unigram model's bpb on the same targets: token frequencies counted on `train` with add-one
// smoothing, scored on the first `windows`·L targets of `val` with the same byte table.
double unigram_bpb(const std::vector<uint16_t>& train, const std::vector<uint16_t>& val, int64_t seq,
                   const ByteTable& table);

}  // namespace golf
