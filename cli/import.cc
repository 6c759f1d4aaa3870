// golfrt import SCRIPT WEIGHTS.safetensors --data DIR --out ARTIFACT: a model trained elsewhere
// (the challenge's train_gpt.py writes a PyTorch state_dict; scripts/import_state_dict.py turns it
// into safetensors) packed into an artifact exactly as `golfrt train` packs its own: the script's
// quant table, GPTQ calibrated on DIR's train split when the table asks for it, the tokenizer
// recorded from DIR. docs/import.md.
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli/args.h"
#include "cli/train_checks.h"
#include "dsl/artifact_model.h"
#include "runtime/fs.h"
#include "runtime/import/state_dict_import.h"
#include "runtime/safetensors.h"
#include "runtime/train/calibration.h"

namespace golf::cli {

namespace {

std::string base_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "examples/baseline.lua" -> "examples/baseline" (the name table sits beside the script).
std::string without_lua(const std::string& path) {
  return path.size() > 4 && path.compare(path.size() - 4, 4, ".lua") == 0 ? path.substr(0, path.size() - 4) : path;
}

}  // namespace

const char* const kImportUsage =
    "golfrt import SCRIPT WEIGHTS.safetensors --out ARTIFACT [--data DIR] [--names FILE] [--fp32] [--overwrite]\n"
    "                     [--set key=value ...] [--preset NAME]\n\n"
    "  WEIGHTS        a state_dict as safetensors (scripts/import_state_dict.py writes one from a PyTorch\n"
    "                 checkpoint such as train_gpt.py's final_model.pt); F32, BF16, F16 (and F64) tensors\n"
    "  --out FILE     the artifact to write (an existing file is refused unless --overwrite)\n"
    "  --data DIR     the data the model was trained on: its tokenizer is recorded (decode checks it) and\n"
    "                 GPTQ calibrates on its train split when the quant table asks (quant.calibration.batches)\n"
    "                 (default data/nlp-corpus-sp1024)\n"
    "  --names FILE   the name table mapping state_dict names to the script's parameters (default\n"
    "                 SCRIPT.state_dict.json beside the script, when it exists; else names must match as\n"
    "                 they are). Missing and left-over names are refused with the list; shapes are checked.\n"
    "  --fp32         store every tensor as fp32, uncompressed, bypassing the quant table: an unquantized\n"
    "                 artifact that `golfrt decode` scores with exactly the imported weights (to check\n"
    "                 golfrt against PyTorch; not a submission)\n"
    "  --set, --preset  the script's config, as the checkpoint's model was built (the artifact keeps them)";

int cmd_import(const std::vector<std::string>& argv) {
  Args a = parse_args(argv, {"data", "out", "names"}, {"fp32", "overwrite"});
  if (a.positional.size() != 2)
    throw std::invalid_argument("usage: golfrt import SCRIPT WEIGHTS.safetensors --out ARTIFACT (golfrt import --help)");
  const std::string& path = a.positional[0];
  const std::string& weights = a.positional[1];
  const std::string out = a.get("out", "");
  if (out.empty()) throw std::invalid_argument("--out ARTIFACT is required: the artifact file to write");
  if (file_exists(out) && !a.options.count("overwrite"))
    throw std::invalid_argument(out + " exists; --overwrite replaces it");
  const bool fp32 = a.options.count("fp32") != 0;

  ModelScript script(path, a.overrides);
  Json train = script.table_json("train");
  if (!train.is_object()) train = Json::object();
  const int64_t seq = script.has_config("seq_len") ? script.config_count("seq_len") : train.get("seq_len", int64_t(0));
  if (seq <= 0) throw std::invalid_argument(path + ": set config.seq_len (or train.seq_len)");
  check_quant_settings(script, train, seq);
  const Json quant = script.table_json("quant");

  const std::string data_dir = a.get("data", "data/nlp-corpus-sp1024");
  DataDir data = open_data_dir(data_dir);
  if (script.has_config("vocab") && script.config_count("vocab") != data.vocab)
    throw std::invalid_argument(path + ": config.vocab is " + std::to_string(script.config_count("vocab")) + " but " + data_dir +
                                " has a vocabulary of " + std::to_string(data.vocab) + " (use --set vocab=" +
                                std::to_string(data.vocab) + ")");

  std::string names_path = a.get("names", "");
  if (names_path.empty() && file_exists(without_lua(path) + ".state_dict.json")) names_path = without_lua(path) + ".state_dict.json";
  const StateDictNames names = names_path.empty() ? StateDictNames{} : read_state_dict_names(names_path);

  const SafetensorsFile file = read_safetensors(weights);
  auto model = script.build("eval", 1, seq);
  ParamStore& store = model->store;
  store.initialize(0, DType::f32);
  const ImportReport rep = import_state_dict(store, file, names, weights);
  std::string dtypes;
  for (const auto& [d, n] : rep.dtypes) dtypes += (dtypes.empty() ? "" : ", ") + std::to_string(n) + " " + d;
  std::printf("golfrt import %s: %lld tensors (%s), %lld values, into %s%s%s\n", weights.c_str(), (long long)rep.tensors,
              dtypes.c_str(), (long long)rep.values, path.c_str(), names_path.empty() ? "" : " by the names of ",
              names_path.c_str());
  if (rep.ignored > 0) std::printf("%lld state_dict tensors ignored, as %s lists them\n", (long long)rep.ignored, names_path.c_str());
  std::fflush(stdout);

  // GPTQ as `golfrt train` calibrates: the quant table's batch count, the train table's micro-batch,
  // here from the start of the train split (the weights came from elsewhere; no stream position).
  std::map<std::string, Tensor> hessians;
  const int64_t batches = quant["calibration"].get("batches", int64_t(0));
  if (!fp32 && batches > 0) {
    const int64_t micro = train.get("micro_batch", int64_t(8));
    if (micro <= 0) throw std::invalid_argument(path + ": train.micro_batch must be positive");
    TokenStream stream(data.train, data.vocab);
    GraphFactory factory = [&](const std::string& mode, int64_t batch, int64_t t) { return script.build(mode, batch, t); };
    hessians = calibration_hessians(factory, store, "live", stream, batches, micro, seq, DType::f32);
    std::printf("GPTQ calibration: %lld batches of %lld x %lld tokens from %s's train split, %zu matrices\n", (long long)batches,
                (long long)micro, (long long)seq, data_dir.c_str(), hessians.size());
  }

  ExportInfo info;
  info.script_name = base_name(without_lua(path)) + ".lua";
  info.overrides = a.overrides;
  info.seq_len = seq;
  info.unquantized = fp32;
  info.training = Json::object();
  info.training.set("imported_from", base_name(weights));
  info.training.set("tensors", rep.tensors);
  if (file.metadata.count("source")) info.training.set("source", file.metadata.at("source"));
  info.tokenizer = tokenizer_record(data);
  Artifact art = export_model(script, store, "live", info, hessians);
  ArtifactOptions ao = artifact_options(quant);
  // A check, never a submission: compressing a full model's fp32 floats at brotli-11 / zstd-22
  // takes minutes and saves little.
  if (fp32) ao.codec = "none";
  write_artifact(out, art, ao);
  const int64_t bytes = int64_t(std::filesystem::file_size(out));
  std::printf("artifact %s: %lld bytes%s (%s the 16,000,000-byte budget by %lld)\n", out.c_str(), (long long)bytes,
              fp32 ? ", every tensor fp32, uncompressed (--fp32)" : "", bytes <= int64_t(kArtifactBudget) ? "under" : "OVER",
              (long long)std::llabs(int64_t(kArtifactBudget) - bytes));
  std::printf("score it with: %s\n",
              shell_command({program_name(), "decode", out, "--data", data_dir}).c_str());
  return 0;
}

}  // namespace golf::cli
