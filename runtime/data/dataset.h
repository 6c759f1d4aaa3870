// Reading prepared data: a folder written by `golfrt data prepare` (manifest.json) or a challenge
// folder as downloaded (datasets/fineweb10B_sp1024/fineweb_{train,val}_*.bin with the tokenizer in
// ../../tokenizers/), and a deterministic sequential token stream whose position can be saved in a
// checkpoint and restored exactly.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/data/byte_table.h"
#include "runtime/data/tokenizer.h"
#include "runtime/json.h"

namespace golf {

struct DataDir {
  std::string dir;
  std::vector<std::string> train, val;  // shard paths, in stream order
  ByteTable table;
  std::string tokenizer_kind;  // "sentencepiece" or "bytes260"
  std::string tokenizer_path;  // the .model; empty for bytes260
  std::string fingerprint;  // the tokenizer's, with "+caseops_v1" for CaseOps data
  std::string text_transform;  // "" or "caseops_v1" (table.token_bytes then holds the val sidecar)
  int vocab = 0;
};

DataDir open_data_dir(const std::string& dir);
// With an explicit tokenizer (.model path, or "bytes260"). For a golfrt folder it must be the one
// the manifest names (same fingerprint).
DataDir open_data_dir(const std::string& dir, const std::string& tokenizer);

// The folder's tokenizer; throws when its file changed since the folder was opened.
Tokenizer load_tokenizer(const DataDir& d);

// A data fingerprint (DataDir::fingerprint, and an artifact's meta.tokenizer.fingerprint) is the
// tokenizer's, followed for transformed data by "+" and the transform ("+caseops_v1").
struct DataFingerprint {
  std::string tokenizer;
  std::string text_transform;  // "" or kCaseOpsName
};
// Throws naming `source` on a transform this golfrt does not know.
DataFingerprint split_fingerprint(const std::string& fingerprint, const std::string& source);

// Every token of the shards, concatenated; vocab > 0 checks each token.
std::vector<uint16_t> load_all(const std::vector<std::string>& shards, int vocab);

struct StreamCursor {
  int64_t shard = 0;     // index into the shard list
  int64_t position = 0;  // next token within that shard
  bool operator==(const StreamCursor&) const = default;
};
Json cursor_to_json(const StreamCursor& c);
StreamCursor cursor_from_json(const Json& j, const std::string& source);

// Reads the shards in order and starts again at the first after the last. One shard is held in
// memory at a time.
class TokenStream {
 public:
  TokenStream(std::vector<std::string> shards, int vocab);  // checks every header up front

  std::vector<uint16_t> take(int64_t n);
  void take(int64_t n, uint16_t* out);

  StreamCursor cursor() const { return {shard_, pos_}; }
  void seek(const StreamCursor& c);  // throws when the cursor does not fit these shards

  const std::vector<std::string>& shards() const { return shards_; }
  int64_t total_tokens() const { return total_; }

 private:
  std::vector<std::string> shards_;
  std::vector<int64_t> counts_;
  int vocab_;
  int64_t total_ = 0;
  int64_t shard_ = 0, pos_ = 0;
  int64_t loaded_ = -1;
  std::vector<uint16_t> tokens_;
};

}  // namespace golf
