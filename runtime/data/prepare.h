// `golfrt data prepare`: text files → documents → a fixed shuffle → val/train split → tokenizer
// (trained on train only, loaded, or byte260) → BOS-prefixed documents packed into challenge
// shards, plus manifest.json and tokenizer.model beside them. Same inputs and seed, same bytes.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/json.h"

namespace golf {

enum class DocMode { lines, blank };  // one document per non-empty line, or blank-line separated

struct PrepareOptions {
  std::vector<std::string> texts;
  std::string out;
  int vocab = 1024;            // for training; with --tokenizer/--bytes it must agree when given
  bool vocab_given = false;
  std::string tokenizer_model;  // a .model to use instead of training one
  bool bytes = false;           // byte260 instead of SentencePiece
  bool caseops = false;         // CaseOps text (runtime/data/caseops.h) and the val byte sidecar
  DocMode docs = DocMode::lines;
  int64_t val_docs = -1;        // < 0: val_fraction decides
  double val_fraction = 0.05;
  uint64_t seed = 1337;
  int64_t shard_tokens = 100'000'000;
  std::function<void(const std::string&)> log;  // progress lines; empty: silent
};

struct SplitSummary {
  int64_t documents = 0, tokens = 0;
  double target_bytes = 0;  // count_target_bytes over the split's whole token stream (CaseOps val: the sidecar's)
  uint64_t original_bytes = 0;  // UTF-8 bytes of the split's documents as read (before any transform)
  std::vector<std::string> shards;  // file names inside `out`
};

struct PrepareSummary {
  SplitSummary train, val;
  int vocab = 0;
  std::string tokenizer_kind, fingerprint;
  double tokenizer_seconds = 0;  // SentencePiece training time (0 when not trained)
  Json manifest;
};

PrepareSummary prepare_data(const PrepareOptions& opt);

// The document rules of prepare, exposed for tests. `source` names the text in errors;
// invalid UTF-8 is refused with the line number.
std::vector<std::string> split_documents(std::string_view text, DocMode mode, const std::string& source);

// The SentencePiece trainer settings prepare uses (the challenge's, see PARAMETER_GOLF.md).
std::vector<std::pair<std::string, std::string>> sentencepiece_train_settings(int vocab);

}  // namespace golf
