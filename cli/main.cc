// golfrt: the command line. Each subcommand has --help; a subcommand whose machinery is not built
// yet says so plainly and exits non-zero.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/args.h"
#include "runtime/dist/launch.h"
#include "runtime/graph.h"
#ifdef GOLFRT_WITH_CUDA
#include "kernels/cuda/device.h"
#include "runtime/cuda_backend.h"
#endif

namespace {

const char* kVersion = "0.1.0";

struct Command {
  const char* name;
  const char* summary;
  const char* usage;
  int (*run)(const std::vector<std::string>& args);  // nullptr: not built yet
  const char* pending;                               // what will provide it
};

int cmd_ops(const std::vector<std::string>&) {
  std::printf("%-24s %-6s %-9s %s\n", "op", "arity", "grad", "backends");
  for (int i = 0; i < golf::op_count(); i++) {
    const golf::OpInfo& info = golf::op_info(golf::Op(i));
    std::string arity = info.arity < 0 ? "n" : std::to_string(info.arity);
#ifdef GOLFRT_WITH_CUDA
    const char* backends = golf::cuda_has_kernel(golf::Op(i)) ? "cpu cuda" : "cpu";
#else
    const char* backends = "cpu";
#endif
    std::printf("%-24s %-6s %-9s %s\n", info.name, arity.c_str(), golf::grad_check_name(info.check), backends);
  }
  std::printf("%d ops; CUDA kernels: %s\n", golf::op_count(),
#ifdef GOLFRT_WITH_CUDA
              "built (unverified until run on a GPU: docs/cuda.md)"
#else
              "not built"
#endif
  );
  return 0;
}

int cmd_version(const std::vector<std::string>&) {
#ifdef GOLFRT_WITH_CUDA
  std::printf("golfrt %s (ops %d, CUDA compiled)\n", kVersion, golf::op_count());
  std::string why;
  int n = golf::cuda::device_count(&why);
  if (n == 0) std::printf("no usable CUDA device: %s\n", why.empty() ? "none found" : why.c_str());
  for (int i = 0; i < n; i++) std::printf("cuda:%d %s\n", i, golf::cuda::device_description(i).c_str());
#else
  std::printf("golfrt %s (ops %d, CUDA not compiled)\n", kVersion, golf::op_count());
#endif
  const std::string engines = golf::distributed_engines();
  std::printf("data-parallel ranks: %s\n", engines.empty() ? "none (built without MPI and NCCL)" : engines.c_str());
  return 0;
}

const Command kCommands[] = {
    {"train", "train a model script on a data folder and score it (val_bpb)",
     "golfrt train SCRIPT [--data DIR] [--set key=value ...] [--preset NAME] [--time-budget S] [--steps N]\n"
     "                    [--seed S] [--out DIR] [--resume | --overwrite] [--checkpoint-every N] [--replay-schedule FILE]\n"
     "                    [--dtype f32|f64] [--device cpu|cuda|standin] [--fuse auto|on|off] [--storage auto|fp32|bf16]\n"
     "                    [--cuda-graph on|off]\n"
     "                    [--nproc N] [--quiet]\n"
     "       golfrt train SCRIPT --device cuda --plan-only [--set ...] [--nproc N] [--resume --out DIR]\n"
     "       mpirun -np N golfrt train SCRIPT ...   (N data-parallel ranks; docs/distributed.md)\n\n"
     "  --data DIR             a folder from `golfrt data prepare` or a challenge folder (default data/nlp-corpus-sp1024)\n"
     "  --set key=value        a config key, or train.KEY / quant.KEY (a setting the script's table has)\n"
     "  --time-budget S        wall-clock seconds of training (evaluation and checkpoints are not counted)\n"
     "  --steps N              stop after N optimizer steps\n"
     "  --out DIR              metrics.jsonl, checkpoint.bin and schedule.json go here (default runs/<script>);\n"
     "                         a folder that holds files is refused unless --resume or --overwrite is given\n"
     "  --resume               continue exactly from DIR/checkpoint.bin\n"
     "  --overwrite            replace the run in DIR (its checkpoint, metrics, schedule and artifact)\n"
     "  --checkpoint-every N   save every N steps (0: at the end only; default the script's)\n"
     "  --replay-schedule FILE replay the LR multipliers an earlier run recorded (its schedule.json)\n"
     "  --device cpu|cuda      where the graphs run (default cpu; cuda needs a CUDA build and a GPU)\n"
     "  --device standin       the CUDA path on the stand-in device: host memory, CPU kernels, every copy\n"
     "                         and launch counted (any build, no GPU; docs/cuda.md)\n"
     "  --fuse auto|on|off     run the graphs through the fused kernels (runtime/fuse_pass.h); auto: on for\n"
     "                         cuda and standin, off for cpu (the CPU's golden numbers are the unfused graph's)\n"
     "  --cuda-graph on|off    with cuda or standin: run each step's micro-batches, optimizer updates, clip and\n"
     "                         weight averages as CUDA graphs, one launch each (default on; docs/cuda.md)\n"
     "  --storage auto|fp32|bf16  store matmul operands and attention's q, k, v, o in bf16 (DESIGN §3,\n"
     "                         runtime/precision_pass.h); auto: bf16 on cuda and standin, fp32 on cpu\n"
     "  --nproc N              with --device cuda: start N local ranks, one GPU each, NCCL all-reduce\n"
     "  --plan-only            with --device cuda: print the micro-batch the run would use and exit (no data,\n"
     "                         no training); without train.micro_batch it is derived from count-only plans\n"
     "                         and the device's free memory (GOLFRT_DEVICE_FREE_BYTES=N plans for N bytes)\n\n"
     "Ctrl-C (SIGINT) or SIGTERM: the step under way finishes, the checkpoint is saved, the command that\n"
     "resumes is printed, and golfrt exits 130 (SIGINT) or 143 (SIGTERM); a second signal stops at once.\n"
     "--steps 0 and --time-budget 0 mean none, as in the train table.",
     golf::cli::cmd_train, nullptr},
    {"decode", "score or sample from an artifact, with nothing but the artifact and the data",
     "golfrt decode ARTIFACT [--data DIR] [--eval blocks|sliding|last] [--stride 64] [--chunk 2048] [--seq N]\n"
     "                       [--max-tokens N] [--batch B] [--device cpu|cuda] [--ttt sgd|lora ...]\n"
     "       golfrt decode ARTIFACT --generate TEXT [--tokens N] [--temperature T] [--top-k K] [--seed S]\n"
     "                             [--seq N] [--no-cache] [--data DIR | --tokenizer MODEL]\n\n"
     "  --eval blocks    non-overlapping windows of seq_len (the challenge's score; default)\n"
     "  --eval sliding   windows moved by --stride, each scoring only its last stride tokens\n"
     "  --eval last      non-overlapping chunks of --chunk tokens; scores only the token after each\n"
     "                   chunk, from a window of the chunk's last seq_len tokens\n"
     "                   (a model with a linear combiner prints it without and with the combiner)\n"
     "  --seq N          evaluate at another length (RoPE is NTK-rescaled beyond the training length);\n"
     "                   with --generate, the KV cache's length\n"
     "  --max-tokens N   score only the first N validation tokens\n"
     "  --generate TEXT  continue TEXT, one decode step per token against a KV cache per attention use\n"
     "                   (a model that cannot decode incrementally says so and recomputes its window)\n"
     "  --no-cache       recompute the whole window for every generated token\n"
     "  --temperature T  0 picks the most likely token; --top-k 0 samples from the whole vocabulary\n"
     "  --device D       cpu (default) or cuda\n"
     "  The artifact is untrusted (docs/artifact.md): it is scored from its logits with golfrt's own\n"
     "  cross-entropy, and refused if it reads the targets or sees later tokens.\n"
     "  --check-causal N windows checked for later tokens moving earlier scores (default 2; 0: off)\n"
     "  --script-seconds S  wall-clock limit per call into the artifact's script (default 30)\n"
     "  --memory-budget G   GiB one graph or script-made value may take (default 4)\n"
     "  --any-tokenizer  score data whose tokenizer differs from (or is missing in) the artifact's\n"
     "  --ttt sgd|lora   score-first test-time training (docs/decoding.md); with blocks or sliding\n"
     "    sgd: --ttt-chunk N (32768 tokens) --ttt-lr (0.002) --ttt-momentum (0.9) --ttt-epochs (3)\n"
     "         --ttt-batch B (8 windows a step) --ttt-grad-clip (1.0); cosine decay over the chunks\n"
     "    lora: --ttt-rank (8) --ttt-targets q,k,v,o,mlp,head --ttt-lora-chunk N (64 targets a step;\n"
     "         sliding: the stride) --ttt-lora-lr (0.01, Adam) --ttt-docs (8 side by side)\n"
     "         --ttt-global-every N (documents between sgd passes over scored ones; 0: none) --ttt-seed\n"
     "    --ttt-jsonl FILE  each chunk's (lora: step's) bpb; the script's ttt table sets defaults",
     golf::cli::cmd_decode, nullptr},
    {"import", "pack a PyTorch state_dict (as safetensors) into an artifact, as train packs its own",
     golf::cli::kImportUsage, golf::cli::cmd_import, nullptr},
    {"inspect", "show an artifact's size budget tensor by tensor", golf::cli::kInspectUsage, golf::cli::cmd_inspect,
     nullptr},
    {"data", "prepare tokenized shards from text", golf::cli::kDataUsage, golf::cli::cmd_data, nullptr},
    {"summary", "print a script's module tree, tensor shapes and parameter counts",
     "golfrt summary SCRIPT [--set key=value ...] [--preset NAME] [--seq T]", golf::cli::cmd_summary, nullptr},
    {"fit", "the largest value of a config key whose projected artifact fits the budget (no training)",
     "golfrt fit SCRIPT --vary KEY [--budget 16000000] [--min A] [--max B] [--step S] [--like ARTIFACT]\n"
     "                  [--set key=value ...] [--preset NAME] [--margin M] [--seed N] [--exact] [--tensors] [--quiet]\n\n"
     "Searches --min..--max by --step for the largest KEY whose artifact is projected to fit, starting\n"
     "at the script's own value and guided by the sizes projected so far (a few projections).\n"
     "Each candidate is built first (cheap: shapes, no weights); values the script rejects are skipped\n"
     "and listed once. Each distinct tensor (shape, quant spec, codec) is projected once: its values are\n"
     "drawn, quantized by the script's quant table and compressed by its codec; large tensors from a\n"
     "sample of rows, with the sampling error printed. docs/artifact.md: the method and its measured error.\n\n"
     "  --vary KEY        the config key to search (dim, layers, ...)\n"
     "  --step S          candidate spacing; default: the largest power of two dividing KEY's current\n"
     "                    value, at most a eighth of it (dim 512 -> 64, layers 9 -> 1)\n"
     "  --min A --max B   the range (default: one step .. 4x the current value)\n"
     "  --like ARTIFACT   project integer matrices from this trained artifact's quantized symbols, per\n"
     "                    class (embedding, attention, mlp, other), instead of Gaussian rows\n"
     "  --margin M        the relative error quoted with the answer (default 0.05: the worst measured)\n"
     "  --exact           the whole-model export per candidate (Gaussian weights, minutes; for checks)\n"
     "  --tensors         list each tensor's projected bytes for the answer\n"
     "  --quiet           no progress bar",
     golf::cli::cmd_fit, nullptr},
    {"ops", "list the op table: arity, gradient check and backends", "golfrt ops", cmd_ops, nullptr},
    {"version", "print the version and build features", "golfrt version", cmd_version, nullptr},
};

void usage(FILE* out) {
  std::fprintf(out, "golfrt %s: train, quantize and decode parameter-golf models written in Lua\n\n", kVersion);
  std::fprintf(out, "usage: golfrt <command> [options]     golfrt <command> --help\n\ncommands:\n");
  for (const Command& c : kCommands)
    std::fprintf(out, "  %-9s %s%s\n", c.name, c.summary, c.run ? "" : "  [not built yet]");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (argc > 0) golf::cli::set_program_name(argv[0]);
  if (args.empty()) {
    usage(stderr);
    return 2;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    usage(stdout);
    return 0;
  }
  if (args[0] == "--version") return cmd_version({});
  for (const Command& c : kCommands) {
    if (args[0] != c.name) continue;
    bool help = false;
    for (size_t i = 1; i < args.size(); i++) help = help || args[i] == "--help" || args[i] == "-h";
    if (help) {
      std::printf("%s\n\n%s\n", c.usage, c.summary);
      if (!c.run) std::printf("\nnot built yet: this command arrives with %s.\n", c.pending);
      return 0;
    }
    if (!c.run) {
      std::fprintf(stderr, "golfrt %s: not built yet; this command arrives with %s.\n", c.name, c.pending);
      return 3;
    }
    try {
      return c.run(std::vector<std::string>(args.begin() + 1, args.end()));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "golfrt %s: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "golfrt: unknown command '%s' (golfrt --help lists them)\n", args[0].c_str());
  return 2;
}
