// golfrt data prepare: text files → tokenizer + challenge-format shards + manifest.json.
#include <cstdio>
#include <stdexcept>

#include "cli/args.h"
#include "runtime/data/prepare.h"

namespace golf::cli {

extern const char* const kDataUsage =
    "golfrt data prepare --text FILE [--text FILE2 ...] --out DIR [options]\n"
    "\n"
    "  --text FILE         UTF-8 text (repeatable; documents are taken in file order, then shuffled)\n"
    "  --out DIR           output folder: fineweb_{train,val}_NNNNNN.bin, manifest.json, tokenizer.model\n"
    "  --vocab N           SentencePiece vocabulary to train (default 1024)\n"
    "  --tokenizer MODEL   use this SentencePiece .model instead of training one\n"
    "  --bytes             byte260 tokens (id = byte + 4) instead of SentencePiece\n"
    "  --caseops           CaseOps: lowercase with case markers before tokenizing (the 1.0611 record's\n"
    "                      transform), markers as pieces of their own, and val_token_bytes.bin: each val\n"
    "                      token's original UTF-8 bytes, which val_bpb then charges (docs/decoding.md)\n"
    "  --docs lines|blank  one document per non-empty line (default), or blank-line separated\n"
    "  --val-docs N        validation = the first N documents of the shuffle\n"
    "  --val-fraction F    ... or that fraction of them (default 0.05)\n"
    "  --seed S            shuffle seed (default 1337)\n"
    "  --shard-tokens N    tokens per shard (default 100000000)\n"
    "  --quiet             no progress lines on stderr\n"
    "\n"
    "The tokenizer is trained on the train split only, with the challenge's settings (BPE, no byte\n"
    "fallback, split digits, nmt_nfkc, no dummy prefix, pad/bos/eos/unk = 0/1/2/3). Each document is\n"
    "BOS (id 1) followed by its tokens, no EOS.";

namespace {

int cmd_prepare(const std::vector<std::string>& argv) {
  // --text repeats, which the option map of parse_args cannot hold: take those out first.
  PrepareOptions opt;
  std::vector<std::string> rest;
  for (size_t i = 0; i < argv.size(); i++) {
    if (argv[i] == "--text") {
      if (i + 1 >= argv.size()) throw std::invalid_argument("--text needs a value");
      opt.texts.push_back(argv[++i]);
    } else if (argv[i].rfind("--text=", 0) == 0) {
      opt.texts.push_back(argv[i].substr(7));
    } else {
      rest.push_back(argv[i]);
    }
  }
  Args a = parse_args(rest, {"out", "vocab", "tokenizer", "docs", "val-docs", "val-fraction", "seed", "shard-tokens"},
                      {"bytes", "quiet", "caseops"});
  if (!a.positional.empty()) throw std::invalid_argument("unexpected argument '" + a.positional[0] + "'\nusage: " + kDataUsage);
  if (!a.overrides.sets.empty() || !a.overrides.preset.empty())
    throw std::invalid_argument("data prepare takes no --set or --preset");
  opt.out = a.get("out", "");
  if (a.options.count("vocab")) {
    opt.vocab = int(int_option(a, "vocab", 0, 8, 65536));
    opt.vocab_given = true;
  }
  opt.tokenizer_model = a.get("tokenizer", "");
  opt.bytes = a.options.count("bytes") != 0;
  opt.caseops = a.options.count("caseops") != 0;
  std::string docs = a.get("docs", "lines");
  if (docs == "lines") opt.docs = DocMode::lines;
  else if (docs == "blank") opt.docs = DocMode::blank;
  else throw std::invalid_argument("--docs must be lines or blank, got '" + docs + "'");
  if (a.options.count("val-docs") && a.options.count("val-fraction"))
    throw std::invalid_argument("--val-docs and --val-fraction exclude each other");
  if (a.options.count("val-docs")) opt.val_docs = int_option(a, "val-docs", 0, 1);
  if (a.options.count("val-fraction")) opt.val_fraction = real_option(a, "val-fraction", 0, 0, 1);
  if (a.options.count("seed")) opt.seed = uint64_t(int_option(a, "seed", 0, 0));
  if (a.options.count("shard-tokens")) opt.shard_tokens = int_option(a, "shard-tokens", 0, 1, INT32_MAX);
  if (opt.texts.empty() || opt.out.empty()) throw std::invalid_argument(std::string("usage: ") + kDataUsage);
  if (a.options.count("quiet") == 0)
    opt.log = [](const std::string& line) { std::fprintf(stderr, "data prepare: %s\n", line.c_str()); };
  prepare_data(opt);
  return 0;
}

}  // namespace

int cmd_data(const std::vector<std::string>& argv) {
  if (argv.empty()) throw std::invalid_argument(std::string("which data command?\nusage: ") + kDataUsage);
  if (argv[0] == "prepare") return cmd_prepare(std::vector<std::string>(argv.begin() + 1, argv.end()));
  throw std::invalid_argument("unknown data command '" + argv[0] + "' (golfrt data --help)");
}

}  // namespace golf::cli
