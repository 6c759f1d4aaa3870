#include "runtime/data/prepare.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "runtime/data/byte_table.h"
#include "runtime/data/caseops.h"
#include "runtime/data/shard.h"
#include "runtime/data/tokenizer.h"
#include "runtime/fs.h"
#include "runtime/rng.h"

namespace golf {

namespace {

// Offset of the first byte that is not part of valid UTF-8 (overlong forms, surrogates and code
// points past U+10FFFF included), or npos.
size_t invalid_utf8_at(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    int len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
    else return i;
    if (i + len > s.size()) return i;
    for (int k = 1; k < len; k++) {
      unsigned char d = s[i + k];
      if ((d & 0xC0) != 0x80) return i;
      cp = cp << 6 | (d & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return i;
    i += len;
  }
  return std::string_view::npos;
}

bool blank(std::string_view line) {
  for (char c : line)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') return false;
  return true;
}

class DocIterator : public sentencepiece::SentenceIterator {
 public:
  DocIterator(const std::vector<std::string>& docs, const std::vector<size_t>& order, size_t begin)
      : docs_(docs), order_(order), i_(begin) {}
  bool done() const override { return i_ >= order_.size(); }
  void Next() override { i_++; }
  const std::string& value() const override { return docs_[order_[i_]]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& docs_;
  const std::vector<size_t>& order_;
  size_t i_;
};

// Packs one split's BOS-prefixed documents into shards of `shard_tokens`, documents running
// across shard boundaries as in the challenge.
class SplitWriter {
 public:
  SplitWriter(std::string dir, std::string split, int64_t shard_tokens, const ByteTable& table, SplitSummary& sum)
      : dir_(std::move(dir)), split_(std::move(split)), shard_tokens_(shard_tokens), table_(table), sum_(sum) {}

  void add_document(const std::vector<int>& ids) {
    sum_.documents++;
    push(Tokenizer::kBos);
    for (int id : ids) push(id);
  }

  // CaseOps val: each token's original bytes go to the sidecar and make the split's target bytes
  // (BOS 0, as the table rule gives a BOS target).
  void add_document(const std::vector<int>& ids, const std::vector<uint16_t>& bytes) {
    sum_.documents++;
    push(Tokenizer::kBos, 0);
    for (size_t i = 0; i < ids.size(); i++) push(ids[i], bytes[i]);
  }

  const std::vector<uint16_t>& token_bytes() const { return token_bytes_; }

  void finish() {
    if (!buf_.empty()) flush();
  }

 private:
  void push(int id, int original_bytes = -1) {
    if (id < 0 || id >= table_.vocab)
      throw std::runtime_error("tokenizer produced id " + std::to_string(id) + " outside its vocabulary of " + std::to_string(table_.vocab));
    if (original_bytes >= 0) token_bytes_.push_back(uint16_t(original_bytes));
    if (sum_.tokens > 0) sum_.target_bytes += original_bytes >= 0 ? double(original_bytes) : table_.bytes(prev_, id);
    prev_ = id;
    sum_.tokens++;
    buf_.push_back(uint16_t(id));
    if (int64_t(buf_.size()) == shard_tokens_) flush();
  }

  void flush() {
    char name[64];
    std::snprintf(name, sizeof name, "fineweb_%s_%06d.bin", split_.c_str(), int(sum_.shards.size()));
    write_shard(path_join(dir_, name), buf_);
    sum_.shards.push_back(name);
    buf_.clear();
  }

  std::string dir_, split_;
  int64_t shard_tokens_;
  const ByteTable& table_;
  SplitSummary& sum_;
  std::vector<uint16_t> buf_, token_bytes_;
  int prev_ = 0;
};

Json split_json(const SplitSummary& s) {
  Json j = Json::object();
  j.set("documents", Json(s.documents));
  j.set("tokens", Json(s.tokens));
  j.set("target_bytes", Json(s.target_bytes));
  Json shards = Json::array();
  for (const auto& n : s.shards) shards.push(Json(n));
  j.set("shards", std::move(shards));
  return j;
}

void say(const PrepareOptions& opt, const std::string& line) {
  if (opt.log) opt.log(line);
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> sentencepiece_train_settings(int vocab) {
  return {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(vocab)},
      {"character_coverage", "0.999"},
      {"byte_fallback", "false"},
      {"split_digits", "true"},
      {"normalization_rule_name", "nmt_nfkc"},
      {"add_dummy_prefix", "false"},
      {"pad_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"unk_id", "3"},
      {"hard_vocab_limit", "false"},
      {"num_threads", "1"},  // one thread: the learned merges do not depend on scheduling
  };
}

std::vector<std::string> split_documents(std::string_view text, DocMode mode, const std::string& source) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a UTF-8 byte order mark is not text
  size_t bad = invalid_utf8_at(text);
  if (bad != std::string_view::npos) {
    size_t line = 1;
    for (size_t i = 0; i < bad; i++) line += text[i] == '\n';
    throw std::runtime_error(source + ":" + std::to_string(line) + ": invalid UTF-8 (byte offset " + std::to_string(bad) + ")");
  }
  std::vector<std::string> docs;
  std::string current;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = end + 1;
    // A whitespace-only line would become a lone BOS after normalization: not a document.
    if (mode == DocMode::lines) {
      if (!blank(line)) docs.emplace_back(line);
    } else if (blank(line)) {
      if (!current.empty()) docs.push_back(std::move(current));
      current.clear();
    } else {
      if (!current.empty()) current += '\n';
      current += line;
    }
  }
  if (!current.empty()) docs.push_back(std::move(current));
  return docs;
}

PrepareSummary prepare_data(const PrepareOptions& opt) {
  using clock = std::chrono::steady_clock;
  auto seconds_since = [](clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); };
  if (opt.texts.empty()) throw std::invalid_argument("no --text file given");
  if (opt.out.empty()) throw std::invalid_argument("no --out folder given");
  if (opt.bytes && !opt.tokenizer_model.empty()) throw std::invalid_argument("--bytes and --tokenizer exclude each other");
  if (opt.shard_tokens <= 0 || opt.shard_tokens > INT32_MAX)
    throw std::invalid_argument("--shard-tokens must be in [1, 2^31-1], got " + std::to_string(opt.shard_tokens));
  if (opt.seed > (uint64_t(1) << 53))
    throw std::invalid_argument("--seed must be at most 2^53 so manifest.json records it exactly, got " + std::to_string(opt.seed));
  if (opt.vocab < 8 || opt.vocab > 65536) throw std::invalid_argument("--vocab must be in [8, 65536], got " + std::to_string(opt.vocab));

  // 1. Documents, in file order, then one fixed shuffle.
  std::vector<std::string> docs;
  Json sources = Json::array();
  for (const auto& path : opt.texts) {
    std::string text = read_file(path);
    auto d = split_documents(text, opt.docs, path);
    say(opt, path + ": " + std::to_string(text.size()) + " bytes, " + std::to_string(d.size()) + " documents");
    Json s = Json::object();
    s.set("path", Json(path));
    s.set("bytes", Json(int64_t(text.size())));
    s.set("documents", Json(int64_t(d.size())));
    s.set("xxh64", Json(xxh64_hex(text)));
    sources.push(std::move(s));
    for (auto& doc : d) docs.push_back(std::move(doc));
  }
  std::vector<uint64_t> original_bytes(docs.size());
  for (size_t i = 0; i < docs.size(); i++) original_bytes[i] = docs[i].size();
  if (opt.caseops) {
    if (opt.bytes) throw std::invalid_argument("--caseops needs SentencePiece pieces (its byte sidecar counts per piece), not --bytes");
    for (auto& doc : docs) doc = caseops_encode(doc);
    say(opt, "CaseOps: documents lowercased with case markers (caseops_v1)");
  }
  const int64_t n_docs = int64_t(docs.size());
  if (n_docs < 2) throw std::invalid_argument("need at least 2 documents (one val, one train), found " + std::to_string(n_docs));

  std::vector<size_t> order(docs.size());
  for (size_t i = 0; i < order.size(); i++) order[i] = i;
  Rng rng(opt.seed);
  for (size_t i = order.size() - 1; i > 0; i--) std::swap(order[i], order[rng.below(i + 1)]);

  int64_t n_val = opt.val_docs;
  if (n_val < 0) {
    if (!(opt.val_fraction > 0 && opt.val_fraction < 1))
      throw std::invalid_argument("--val-fraction must be in (0, 1), got " + fmt("%g", opt.val_fraction));
    n_val = std::max<int64_t>(1, std::llround(opt.val_fraction * double(n_docs)));
  }
  if (n_val < 1 || n_val >= n_docs)
    throw std::invalid_argument("validation needs between 1 and " + std::to_string(n_docs - 1) + " documents (of " +
                                std::to_string(n_docs) + "), asked for " + std::to_string(n_val));
  say(opt, "split: " + std::to_string(n_val) + " val / " + std::to_string(n_docs - n_val) + " train documents (seed " +
               std::to_string(opt.seed) + ")");

  // 2. Tokenizer.
  PrepareSummary sum;
  Tokenizer tok = Tokenizer::bytes260();
  Json tok_json = Json::object();
  if (opt.bytes) {
    if (opt.vocab_given && opt.vocab != 260) throw std::invalid_argument("--bytes has a vocabulary of 260, not " + std::to_string(opt.vocab));
    tok_json.set("source", Json("bytes260"));
  } else if (!opt.tokenizer_model.empty()) {
    tok = Tokenizer::sentencepiece_file(opt.tokenizer_model);
    if (opt.vocab_given && opt.vocab != tok.vocab())
      throw std::invalid_argument(opt.tokenizer_model + ": has a vocabulary of " + std::to_string(tok.vocab()) + ", not --vocab " +
                                  std::to_string(opt.vocab));
    tok_json.set("source", Json(opt.tokenizer_model));
  } else {
    say(opt, "training SentencePiece BPE, vocab " + std::to_string(opt.vocab) + ", on " + std::to_string(n_docs - n_val) +
                 " train documents");
    std::unordered_map<std::string, std::string> kwargs;
    Json settings = Json::object();
    for (auto& [k, v] : sentencepiece_train_settings(opt.vocab)) {
      kwargs[k] = v;
      settings.set(k, Json(v));
    }
    kwargs["minloglevel"] = "2";  // SentencePiece's INFO lines and per-document warnings drown the progress
    if (opt.caseops) {
      // Each case marker one piece of its own, never merged into a word (as the record's reserved
      // tokenizer). Comma-separated, as SentencePiece reads the flag.
      std::string symbols = std::string(kCaseOpsTitle) + "," + kCaseOpsAllCaps + "," + kCaseOpsCapNext + "," + kCaseOpsEsc;
      kwargs["user_defined_symbols"] = symbols;
      settings.set("user_defined_symbols", Json(symbols));
    }
    // Like the challenge, keep SentencePiece's default max_sentence_length: longer documents are
    // tokenized like any other but do not take part in training. Say how many, since it is silent.
    int64_t too_long = 0;
    for (size_t i = size_t(n_val); i < order.size(); i++) too_long += docs[order[i]].size() > 4192;
    if (too_long > 0)
      say(opt, std::to_string(too_long) + " train documents are longer than 4192 bytes and sit out tokenizer training");
    DocIterator it(docs, order, size_t(n_val));
    std::string model;
    auto t0 = clock::now();
    auto status = sentencepiece::SentencePieceTrainer::Train(kwargs, &it, &model);
    sum.tokenizer_seconds = seconds_since(t0);
    if (!status.ok()) throw std::runtime_error("SentencePiece training failed: " + status.ToString());
    tok = Tokenizer::sentencepiece_bytes(std::move(model), "trained tokenizer");
    say(opt, "trained " + std::to_string(tok.vocab()) + " pieces in " + fmt("%.1f", sum.tokenizer_seconds) + " s");
    tok_json.set("source", Json("trained"));
    tok_json.set("settings", std::move(settings));
  }
  if (tok.is_sentencepiece()) {
    // The byte rule needs "▁" as a piece of its own, or a space between, say, a digit and a word
    // has no token to count it. BPE keeps every covered character as a piece, so any corpus with
    // spaces yields it; forcing it through user_defined_symbols would stop "▁the"-style merges.
    const auto& sp = tok.processor();
    int id = sp.PieceToId("\xE2\x96\x81");
    if (id == sp.unk_id())
      throw std::runtime_error((opt.tokenizer_model.empty() ? std::string("trained tokenizer") : opt.tokenizer_model) +
                               ": has no standalone \"\xE2\x96\x81\" piece, so byte counts would be wrong");
  }
  if (opt.caseops)
    for (const char* c : {kCaseOpsTitle, kCaseOpsAllCaps, kCaseOpsCapNext, kCaseOpsEsc}) {
      std::vector<int> ids = tok.encode(c);
      if (ids.size() != 1 || ids[0] == Tokenizer::kUnk)
        throw std::runtime_error((opt.tokenizer_model.empty() ? std::string("trained tokenizer") : opt.tokenizer_model) +
                                 ": a CaseOps marker is not one piece of its own (train it with --caseops)");
    }
  sum.vocab = tok.vocab();
  sum.tokenizer_kind = tok.kind();
  sum.fingerprint = tok.fingerprint();

  // 3. Shards. Any manifest from an earlier run goes first, so an interrupted run is not taken
  // for a complete one; the new manifest is written last.
  make_dirs(opt.out);
  std::string manifest_path = path_join(opt.out, "manifest.json");
  if (file_exists(manifest_path)) std::filesystem::remove(manifest_path);
  const ByteTable& table = tok.byte_table();
  auto t0 = clock::now();
  for (int s = 0; s < 2; s++) {
    bool val = s == 0;
    SplitSummary& split = val ? sum.val : sum.train;
    SplitWriter w(opt.out, val ? "val" : "train", opt.shard_tokens, table, split);
    size_t begin = val ? 0 : size_t(n_val), end = val ? size_t(n_val) : order.size();
    size_t step = std::max<size_t>(1, (end - begin) / 10);
    for (size_t i = begin; i < end; i++) {
      split.original_bytes += original_bytes[order[i]];
      if (val && opt.caseops) {
        std::vector<size_t> begins;
        std::vector<int> ids = tok.encode_with_offsets(docs[order[i]], &begins);
        w.add_document(ids, caseops_token_bytes(docs[order[i]], begins));
      } else {
        w.add_document(tok.encode(docs[order[i]]));
      }
      if ((i - begin + 1) % step == 0 || i + 1 == end)
        say(opt, std::string(val ? "val" : "train") + ": " + std::to_string(i - begin + 1) + "/" + std::to_string(end - begin) +
                     " documents, " + std::to_string(split.tokens) + " tokens");
    }
    w.finish();
    if (val && opt.caseops) write_token_bytes(path_join(opt.out, "val_token_bytes.bin"), w.token_bytes());
  }
  if (!opt.caseops && file_exists(path_join(opt.out, "val_token_bytes.bin")))
    std::filesystem::remove(path_join(opt.out, "val_token_bytes.bin"));  // an earlier CaseOps run's
  say(opt, "encoded and wrote shards in " + fmt("%.1f", seconds_since(t0)) + " s");

  // Shards of an earlier, larger run would otherwise be picked up by readers that glob.
  std::set<std::string> keep(sum.train.shards.begin(), sum.train.shards.end());
  keep.insert(sum.val.shards.begin(), sum.val.shards.end());
  static const std::regex shard_name("fineweb_(train|val)_[0-9]{6}\\.bin");
  for (const auto& e : std::filesystem::directory_iterator(opt.out)) {
    std::string name = e.path().filename().string();
    if (std::regex_match(name, shard_name) && !keep.count(name)) {
      std::filesystem::remove(e.path());
      say(opt, "removed stale " + name);
    }
  }

  // 4. Tokenizer copy and manifest.
  tok_json.set("kind", Json(tok.kind()));
  tok_json.set("fingerprint", Json(tok.fingerprint()));
  if (tok.is_sentencepiece()) {
    write_file_atomic(path_join(opt.out, "tokenizer.model"), tok.model_bytes());
    tok_json.set("file", Json("tokenizer.model"));
  } else {
    tok_json.set("file", Json(nullptr));
  }
  Json m = Json::object();
  m.set("format", Json("golfrt-data"));
  m.set("version", Json(1));
  m.set("tokenizer", std::move(tok_json));
  m.set("vocab", Json(tok.vocab()));
  m.set("bos_id", Json(Tokenizer::kBos));
  m.set("seed", Json(opt.seed));
  m.set("doc_mode", Json(opt.docs == DocMode::lines ? "lines" : "blank"));
  m.set("shard_tokens", Json(opt.shard_tokens));
  m.set("sources", std::move(sources));
  m.set("train", split_json(sum.train));
  m.set("val", split_json(sum.val));
  m.set("byte_table", byte_table_to_json(table));
  if (opt.caseops) {
    // Scoring reads the val sidecar instead of the table rule (ByteTable::target_bytes).
    m.set("text_transform", Json(kCaseOpsName));
    m.set("val_token_bytes", Json("val_token_bytes.bin"));
    m.set("val_original_bytes", Json(int64_t(sum.val.original_bytes)));
  }
  write_file_atomic(manifest_path, m.dump() + "\n");
  sum.manifest = std::move(m);
  say(opt, "wrote " + manifest_path + ": train " + std::to_string(sum.train.documents) + " documents / " +
               std::to_string(sum.train.tokens) + " tokens in " + std::to_string(sum.train.shards.size()) + " shards, val " +
               std::to_string(sum.val.documents) + " documents / " + std::to_string(sum.val.tokens) + " tokens (" +
               fmt("%.0f", sum.val.target_bytes) + " target bytes)");
  return sum;
}

}  // namespace golf
