// Legal score-first test-time training (docs/decoding.md, "Test-time training"; PARAMETER_GOLF.md,
// "Evaluation-time rules"): the model trains on validation tokens only after every one of them has
// been scored, and never trains on a token before scoring one that comes earlier in the stream. Two
// schemes, the records':
//   sgd   the stream in chunks; each chunk is scored with the weights as they stand, then the whole
//         model trains on it (SGD with momentum, a few epochs, cosine decay over the chunks);
//   lora  per-document LoRA adapters (runtime/decode/lora_pass.h) reset at each document's BOS; each
//         short chunk of a document is scored, then one Adam step on that chunk trains its adapter;
//         optionally the whole model trains on already-scored documents every N documents.
// Every score is golfrt's cross-entropy of the model's logits (golfrt_scored_loss) and every
// scored target is counted by count_target (runtime/train/evaluate.h), as decode without TTT.
// Weights change in memory only, and are restored when the run ends.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "runtime/data/byte_table.h"
#include "runtime/json.h"
#include "runtime/model_graph.h"
#include "runtime/train/evaluate.h"

namespace golf {

struct TttSettings {
  std::string scheme;  // "sgd" or "lora"
  // sgd, and the lora scheme's global passes
  int64_t chunk = 32768;  // stream tokens per chunk
  double lr = 0.002;
  double momentum = 0.9;
  int64_t epochs = 3;
  int64_t batch = 8;       // windows per optimizer step
  double grad_clip = 1.0;  // on the global L2 norm of the gradient (0: none)
  // lora
  int64_t rank = 8;
  std::vector<std::string> targets = {"q", "k", "v", "o", "mlp", "head"};
  // Target name -> Lua patterns of the weights it adapts (the script's ttt.lora.patterns may
  // replace any, or add targets).
  std::map<std::string, std::vector<std::string>> patterns = {
      {"q", {".*attn%.c_q%.weight"}},  {"k", {".*attn%.c_k%.weight"}},  {"v", {".*attn%.c_v%.weight"}},
      {"o", {".*attn%.proj%.weight"}}, {"mlp", {".*mlp%..*%.weight"}}, {"head", {"lm_head%.weight", "tok_emb%.weight"}}};
  int64_t lora_chunk = 64;  // targets scored between steps in blocks mode (sliding: the stride)
  double lora_lr = 0.01;    // Adam
  int64_t docs = 8;         // documents trained side by side (one adapter each)
  int64_t global_every = 0;  // documents between global passes over the scored ones (0: none)
  int bos = 1;
  uint64_t seed = 1;  // the adapters' initial A
  // The scoring mode it composes with (decode's --eval): 0 for blocks, else sliding's stride.
  int64_t stride = 0;
};

// Reads the script's `ttt` table ({chunk = ..., lr = ..., lora = {rank = ..., patterns = {...}}, ...})
// into s; unknown keys and values of the wrong kind are refused, naming them.
void apply_ttt_table(const Json& table, TttSettings& s);
// Checks every setting's range, naming the flag that sets it.
void check_ttt_settings(const TttSettings& s);

struct TttProgress {
  int64_t chunk = 0;          // chunks (sgd) or optimizer steps (lora) done
  EvalResult chunk_score;     // the last chunk's (sgd) or step's (lora) targets
  EvalResult total;           // everything scored so far
  int64_t total_targets = 0;  // what the run will score
  double seconds = 0;
};

struct TttResult {
  EvalResult score;
  // The loss of every target by its stream position (NaN where nothing was scored): the causality
  // test compares these bit for bit.
  std::vector<double> loss_at;
  int64_t chunks = 0, steps = 0;
  // lora: the weights that got adapters and the matmuls corrected (a shared weight counts each use).
  std::vector<std::string> adapted;
  int64_t adapted_uses = 0;
};

// Scores the windows `w` (Evaluator::block_windows or sliding_windows; for lora only their span of
// targets and, with sliding windows, the stride are used) of `tokens` with test-time training on
// the weights of `store`'s set "live" (restored afterwards). `names` matches weight names against
// the lora patterns; `on_chunk` (may be empty) sees each chunk's score.
TttResult run_ttt(const TttSettings& s, const GraphFactory& factory, ParamStore& store, Evaluator& ev,
                  const std::vector<uint16_t>& tokens, const ByteTable& table, const Evaluator::Windows& w,
                  const NameMatcher& names, const std::function<void(const TttProgress&)>& on_chunk);

}  // namespace golf
