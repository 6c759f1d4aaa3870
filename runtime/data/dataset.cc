#include "runtime/data/dataset.h"

#include <algorithm>
#include <filesystem>
#include <regex>
#include <stdexcept>

#include "runtime/data/caseops.h"
#include "runtime/data/shard.h"
#include "runtime/fs.h"

namespace golf {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> glob_shards(const std::string& dir, const std::string& split) {
  std::regex pattern("fineweb_" + split + "_[0-9]+\\.bin");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (std::regex_match(name, pattern)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> paths;
  for (const auto& n : names) paths.push_back(path_join(dir, n));
  return paths;
}

void set_tokenizer(DataDir& d, const std::string& tokenizer) {
  Tokenizer t = tokenizer == "bytes260" ? Tokenizer::bytes260() : Tokenizer::sentencepiece_file(tokenizer);
  d.tokenizer_kind = t.kind();
  d.tokenizer_path = t.is_sentencepiece() ? tokenizer : "";
  d.fingerprint = t.fingerprint();
  d.vocab = t.vocab();
  d.table = t.byte_table();
}

// The challenge keeps tokenizers two levels up (datasets/fineweb10B_sp4096 → tokenizers/fineweb_4096_bpe.model)
// and names its byte-level dataset fineweb10B_byte260.
std::string find_challenge_tokenizer(const std::string& dir) {
  std::vector<std::string> models;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".model") models.push_back(e.path().string());
  std::sort(models.begin(), models.end());
  if (models.size() == 1) return models[0];
  if (models.size() > 1)
    throw std::runtime_error(dir + ": holds several .model files (" + models[0] + ", " + models[1] +
                             ", ...); name the tokenizer explicitly");
  std::string name = fs::path(dir).lexically_normal().filename().string();
  if (name.empty()) name = fs::path(dir).lexically_normal().parent_path().filename().string();
  if (name.size() >= 7 && name.compare(name.size() - 7, 7, "byte260") == 0) return "bytes260";
  std::smatch m;
  std::string tried = std::regex_search(name, m, std::regex("_sp([0-9]+)$"))
                          ? path_join(dir, "../../tokenizers/fineweb_" + m[1].str() + "_bpe.model")
                          : path_join(dir, "../../tokenizers/fineweb_1024_bpe.model");
  if (file_exists(tried)) return tried;
  throw std::runtime_error(dir + ": no manifest.json, no .model in the folder and none at " + tried +
                           "; pass the tokenizer explicitly");
}

DataDir open_golfrt_dir(const std::string& dir, const std::string& tokenizer) {
  std::string mpath = path_join(dir, "manifest.json");
  Json m = Json::parse(read_file(mpath), mpath);
  if (m["format"].is_null() || m["format"].str(mpath + ": format") != "golfrt-data")
    throw std::runtime_error(mpath + ": not a golfrt-data manifest");
  if (m["version"].integer(mpath + ": version") != 1)
    throw std::runtime_error(mpath + ": unsupported version " + std::to_string(m["version"].integer()));
  const Json& tj = m["tokenizer"];
  std::string kind = tj["kind"].str(mpath + ": tokenizer.kind");
  std::string want_fp = tj["fingerprint"].str(mpath + ": tokenizer.fingerprint");
  DataDir d;
  d.dir = dir;
  std::string tok = tokenizer;
  if (tok.empty()) {
    if (kind == "bytes260") tok = "bytes260";
    else if (kind == "sentencepiece") tok = path_join(dir, tj["file"].str(mpath + ": tokenizer.file"));
    else throw std::runtime_error(mpath + ": unknown tokenizer kind '" + kind + "'");
  }
  set_tokenizer(d, tok);
  if (d.fingerprint != want_fp)
    throw std::runtime_error(mpath + ": the shards were made with tokenizer " + want_fp + " but " + tok + " is " + d.fingerprint);
  if (m["vocab"].integer(mpath + ": vocab") != d.vocab)
    throw std::runtime_error(mpath + ": vocab " + std::to_string(m["vocab"].integer()) + " but the tokenizer has " +
                             std::to_string(d.vocab));
  if (m.has("byte_table") && !(byte_table_from_json(m["byte_table"], mpath) == d.table))
    throw std::runtime_error(mpath + ": byte_table disagrees with the tokenizer " + tok);
  for (const char* split : {"train", "val"}) {
    const Json& names = m[split]["shards"];
    if (!names.is_array()) throw std::runtime_error(mpath + ": " + split + ".shards must be an array");
    auto& out = std::string(split) == "train" ? d.train : d.val;
    for (size_t i = 0; i < names.size(); i++) {
      std::string p = path_join(dir, names[i].str(mpath + ": " + split + ".shards[" + std::to_string(i) + "]"));
      if (!file_exists(p)) throw std::runtime_error(p + ": listed in " + mpath + " but missing");
      out.push_back(p);
    }
  }
  if (m.has("text_transform")) {
    // CaseOps: scored by the val stream's sidecar of original bytes (ByteTable::target_bytes), and
    // the data's fingerprint names the transform, so a model trained on it is never scored on
    // plain text made with the same tokenizer (or the other way round).
    d.text_transform = m["text_transform"].str(mpath + ": text_transform");
    if (d.text_transform != kCaseOpsName)
      throw std::runtime_error(mpath + ": unknown text_transform '" + d.text_transform + "' (this golfrt knows " + kCaseOpsName + ")");
    auto bytes = std::make_shared<std::vector<uint16_t>>(
        read_token_bytes(path_join(dir, m["val_token_bytes"].str(mpath + ": val_token_bytes"))));
    const int64_t val_tokens = TokenStream(d.val, d.vocab).total_tokens();
    if (int64_t(bytes->size()) != val_tokens)
      throw std::runtime_error(mpath + ": the token byte sidecar has " + std::to_string(bytes->size()) + " entries for " +
                               std::to_string(val_tokens) + " val tokens");
    d.table.token_bytes = std::move(bytes);
    d.fingerprint += "+" + d.text_transform;
  }
  return d;
}

}  // namespace

DataDir open_data_dir(const std::string& dir) { return open_data_dir(dir, ""); }

DataDir open_data_dir(const std::string& dir, const std::string& tokenizer) {
  if (!fs::is_directory(dir)) throw std::runtime_error(dir + ": not a folder");
  if (file_exists(path_join(dir, "manifest.json"))) return open_golfrt_dir(dir, tokenizer);
  DataDir d;
  d.dir = dir;
  d.train = glob_shards(dir, "train");
  d.val = glob_shards(dir, "val");
  if (d.train.empty() && d.val.empty())
    throw std::runtime_error(dir + ": no manifest.json and no fineweb_train_*.bin / fineweb_val_*.bin shards");
  set_tokenizer(d, tokenizer.empty() ? find_challenge_tokenizer(dir) : tokenizer);
  return d;
}

Tokenizer load_tokenizer(const DataDir& d) {
  if (d.tokenizer_kind == "bytes260") return Tokenizer::bytes260();
  Tokenizer t = Tokenizer::sentencepiece_file(d.tokenizer_path);
  // The data's fingerprint names its text transform too; the file is the tokenizer's part.
  const std::string want = split_fingerprint(d.fingerprint, d.dir).tokenizer;
  if (t.fingerprint() != want)
    throw std::runtime_error(d.tokenizer_path + ": changed since " + d.dir + " was opened (fingerprint " + t.fingerprint() +
                             ", expected " + want + ")");
  return t;
}

DataFingerprint split_fingerprint(const std::string& fingerprint, const std::string& source) {
  const size_t plus = fingerprint.find('+');
  if (plus == std::string::npos) return {fingerprint, ""};
  DataFingerprint f{fingerprint.substr(0, plus), fingerprint.substr(plus + 1)};
  if (f.text_transform != kCaseOpsName)
    throw std::runtime_error(source + ": the fingerprint " + fingerprint + " names the text transform '" + f.text_transform +
                             "' (this golfrt knows " + kCaseOpsName + ")");
  return f;
}

std::vector<uint16_t> load_all(const std::vector<std::string>& shards, int vocab) {
  int64_t total = 0;
  for (const auto& s : shards) total += shard_token_count(s);
  std::vector<uint16_t> all;
  all.reserve(size_t(total));
  for (const auto& s : shards) {
    auto t = read_shard(s, vocab);
    all.insert(all.end(), t.begin(), t.end());
  }
  return all;
}

Json cursor_to_json(const StreamCursor& c) {
  Json j = Json::object();
  j.set("shard", Json(c.shard));
  j.set("position", Json(c.position));
  return j;
}

StreamCursor cursor_from_json(const Json& j, const std::string& source) {
  return {j["shard"].integer(source + ": cursor.shard"), j["position"].integer(source + ": cursor.position")};
}

TokenStream::TokenStream(std::vector<std::string> shards, int vocab) : shards_(std::move(shards)), vocab_(vocab) {
  if (shards_.empty()) throw std::invalid_argument("TokenStream: no shards");
  for (const auto& s : shards_) {
    counts_.push_back(shard_token_count(s));
    total_ += counts_.back();
  }
  if (total_ == 0) throw std::runtime_error(shards_[0] + ": this shard list holds no tokens");
}

std::vector<uint16_t> TokenStream::take(int64_t n) {
  std::vector<uint16_t> out(size_t(std::max<int64_t>(n, 0)));
  take(n, out.data());
  return out;
}

void TokenStream::take(int64_t n, uint16_t* out) {
  while (n > 0) {
    if (pos_ >= counts_[size_t(shard_)]) {
      shard_ = (shard_ + 1) % int64_t(shards_.size());
      pos_ = 0;
      continue;
    }
    if (loaded_ != shard_) {
      tokens_ = read_shard(shards_[size_t(shard_)], vocab_);
      loaded_ = shard_;
    }
    int64_t k = std::min(n, counts_[size_t(shard_)] - pos_);
    std::copy_n(tokens_.data() + pos_, k, out);
    out += k;
    pos_ += k;
    n -= k;
  }
}

void TokenStream::seek(const StreamCursor& c) {
  if (c.shard < 0 || c.shard >= int64_t(shards_.size()) || c.position < 0 || c.position > counts_[size_t(c.shard)])
    throw std::out_of_range("TokenStream: cursor {shard " + std::to_string(c.shard) + ", position " + std::to_string(c.position) +
                            "} does not fit " + std::to_string(shards_.size()) + " shards starting with " + shards_[0]);
  shard_ = c.shard;
  pos_ = c.position;
}

}  // namespace golf
