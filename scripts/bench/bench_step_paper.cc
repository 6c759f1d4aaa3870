// One training step of a script on the CUDA backend, on paper (issue 16): from count-only
// executors (runtime/train/step_on_paper.h), no GPU needed. Prints bytes moved host↔device per
// step, launches per micro-batch and for the optimizers, device memory, FLOPs on tensor cores
// (matmul; attention once it moves there) and on CUDA cores, and the ms per step those imply at
// stated rates (docs/perf.md, "GPU step on paper"). scripts/bench/step_paper.sh runs it.
//
//   bench_step_paper SCRIPT [--micro N | --free-gb G] [--ranks R] [--fuse KINDS] [--storage fp32|bf16]
//                    [--cuda-graph on|off] [--preset P] [--set KEY=VALUE ...]
// --storage: which values are stored in bf16 (runtime/precision_pass.h); default: the trainer's on
// CUDA (bf16), as the planner counts it.
// --cuda-graph: count the step as the CUDA trainer runs it by default (on: each micro-batch and
// each optimizer update one graph launch, docs/cuda.md "CUDA graphs") or launch by launch (off).
// Either way the launch-by-launch count is printed beside it.
// --fuse: the chains runtime/fuse_pass.h fuses: none (default: the script's graph as built, as the
// micro-batch planner and --plan-only count it), all (the graph the CUDA trainer runs), or a list
// (mix,add_scaled,relu2,norm_rope,rms_norm_scaled,residual_norm, and the gradient folds
// matmul_add,norm_backward_add,scale_backward_add).
#include <cstdio>
#include <cstring>
#include <string>

#include "dsl/script.h"
#include "runtime/fuse_pass.h"
#include "runtime/train/device_plan.h"
#include "runtime/train/micro_batch_plan.h"
#include "runtime/train/step_on_paper.h"

using namespace golf;

namespace {

// The rates the prediction assumes (H100 SXM): stated, not measured.
constexpr double kTensorPeak = 990e12, kTensorShare = 0.70;  // bf16 dense, at 70%
constexpr double kFp32Peak = 67e12, kFp32Share = 0.50;       // CUDA-core fp32 (today's attention), at 50%
constexpr double kAttnTensorShare = 0.50;                    // attention on tensor cores (target), at 50%
constexpr double kHbm = 3.35e12, kHbmShare = 0.80;           // HBM3, at 80%
constexpr double kLaunchS = 3e-6;                            // per launch outside a graph
constexpr double kPcie = 20e9;                               // pageable host copies, bytes/s
constexpr double kSyncS = 10e-6;                             // per synchronous copy's stream wait

void print_graph(const char* what, const GraphOnPaper& g) {
  const DeviceLedger& l = g.ledger;
  // With graphs: "launches" is the graph launch plus what ran outside it; by launch: every node's.
  std::printf("%-12s nodes %5lld | launches %5lld by launch, %lld graph + %lld outside | up %5lld copies %9.3f MB | down "
              "%5lld copies %9.3f MB | syncs %5lld | device %8.3f GB (arena %.3f, leaves %.3f, outputs %.3f, scratch %.3f)\n",
              what, (long long)g.nodes, (long long)g.node_launches, (long long)l.graph_launches,
              (long long)(l.graph_launches ? l.launches : 0), (long long)l.uploads, l.upload_bytes / 1e6,
              (long long)l.downloads, l.download_bytes / 1e6, (long long)l.syncs, g.bytes.total() / 1e9,
              g.bytes.arena / 1e9, g.bytes.leaves / 1e9, g.bytes.outputs / 1e9, g.bytes.scratch / 1e9);
  std::printf("%-12s matmul %.3f TFLOP | attention %.3f TFLOP | other %.3f GFLOP over %.3f GB read+written\n", "",
              g.matmul_flops / 1e12, g.attention_flops / 1e12, g.other_flops / 1e9, g.other_bytes / 1e9);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_step_paper SCRIPT [--micro N | --free-gb G] [--ranks R] [--fuse KINDS] [--storage fp32|bf16] "
                         "[--cuda-graph on|off] [--preset P] [--set KEY=VALUE ...]\n");
    return 2;
  }
  try {
    std::string path = argv[1];
    int64_t micro = 0, ranks = 1;
    double free_gb = 80;
    Overrides overrides;
    FuseKinds fuse = FuseKinds::none();
    bool graphs = true;
    RealStorage storage = RealStorage::automatic;  // what the CUDA trainer runs: bf16
    for (int i = 2; i < argc; i++) {
      std::string a = argv[i];
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      std::string v = argv[++i];
      if (a == "--micro") micro = std::stoll(v);
      else if (a == "--free-gb") free_gb = std::stod(v);
      else if (a == "--ranks") ranks = std::stoll(v);
      else if (a == "--fuse") fuse = FuseKinds::parse(v);
      else if (a == "--cuda-graph") {
        if (v != "on" && v != "off") throw std::invalid_argument("--cuda-graph " + v + ": give on or off");
        graphs = v == "on";
      }
      else if (a == "--storage") {
        if (v != "fp32" && v != "bf16") throw std::invalid_argument("--storage " + v + ": give fp32 or bf16");
        storage = real_storage_from_name(v);
      }
      else if (a == "--set") overrides.sets.push_back(parse_set(v));
      else if (a == "--preset") overrides.preset = v;
      else {
        throw std::invalid_argument("unknown option " + a);
      }
    }
    ModelScript script(path, overrides);
    Json train = script.table_json("train");
    const int64_t seq = int64_t(script.config_number("seq_len"));
    const int64_t step_sequences = train.get("batch_tokens", int64_t(8 * seq)) / seq;
    GraphFactory factory = fused_factory(
        [&](const std::string& mode, int64_t b, int64_t t) -> std::unique_ptr<ModelGraph> { return script.build(mode, b, t); },
        fuse);
    NameMatcher matcher = [&](const std::string& n, const std::string& p) { return script.name_matches(n, p); };
    if (micro == 0) {
      MicroBatchPlan p = plan_micro_batch(step_sequences, ranks, int64_t(free_gb * 1e9), 0,
                                          planned_run_bytes(factory, matcher, train, seq, ranks, storage), seq);
      std::printf("planned for %.1f GB free: %s\n", free_gb, p.describe().c_str());
      micro = p.micro_batch;
    }
    StepOnPaper s = step_on_paper(factory, matcher, train, micro, seq, step_sequences, ranks, true, graphs, storage);
    std::printf("%s: %lld tokens per step = %lld sequences of %lld; %lld rank(s); micro_batch %lld, %lld micro-batches "
                "per rank per step\n",
                path.c_str(), (long long)(step_sequences * seq), (long long)step_sequences, (long long)seq,
                (long long)ranks, (long long)micro, (long long)s.micro_batches);
    std::printf("storage: %s (runtime/precision_pass.h)\n", s.bf16_storage ? "bf16 matmul operands and attention q/k/v/o" : "fp32");
    print_graph("micro-batch", s.micro);
    print_graph("muon", s.muon);
    print_graph("adam", s.adam);
    char eval_name[32];
    std::snprintf(eval_name, sizeof eval_name, "eval (%lld)", (long long)s.eval_batch);
    print_graph(eval_name, s.eval);

    const double k = double(s.micro_batches);
    auto per_step = [&](int64_t DeviceLedger::*f) {
      return k * double(s.micro.ledger.*f) + double(s.muon.ledger.*f) + double(s.adam.ledger.*f);
    };
    const double up = per_step(&DeviceLedger::upload_bytes), down = per_step(&DeviceLedger::download_bytes);
    const double copies = per_step(&DeviceLedger::uploads) + per_step(&DeviceLedger::downloads);
    const double syncs = per_step(&DeviceLedger::syncs);
    // Launch by launch: every node's launches (the bf16 weight conversions among them: counted per
    // micro-batch, the weights taken as host-bound, as before graphs).
    const double node_launches = k * double(s.micro.node_launches) + double(s.muon.node_launches + s.adam.node_launches);
    // As CUDA graphs: one graph launch per micro-batch and per update, plus what prepare launches
    // outside them, the bf16 conversions of the weights the update wrote: once per step (the
    // first micro-batch's; count-only counts them in every run, not knowing the weights' writes).
    const double graph_launches = per_step(&DeviceLedger::graph_launches);
    const double outside = double(s.micro.ledger.launches + s.muon.ledger.launches + s.adam.ledger.launches);
    const double launches = graphs ? graph_launches + outside : node_launches;
    const double mm = k * s.micro.matmul_flops + s.muon.matmul_flops + s.adam.matmul_flops;
    const double attn = k * s.micro.attention_flops;
    const double other_bytes = k * s.micro.other_bytes + s.muon.other_bytes + s.adam.other_bytes;
    const double other_flops = k * s.micro.other_flops + s.muon.other_flops + s.adam.other_flops;
    std::printf("per step: up %.1f MB, down %.1f MB in %.0f synchronous copies (%.0f syncs: %.0f up, %.0f down)\n",
                up / 1e6, down / 1e6, copies, syncs, per_step(&DeviceLedger::uploads), per_step(&DeviceLedger::downloads));
    std::printf("per step launch by launch: %.0f launches (%lld per micro-batch, %lld Muon, %lld Adam)\n", node_launches,
                (long long)s.micro.node_launches, (long long)s.muon.node_launches, (long long)s.adam.node_launches);
    if (graphs)
      std::printf("per step as CUDA graphs: %.0f launches = %.0f graph launches (1 per micro-batch, 1 Muon, 1 Adam) + %.0f "
                  "outside them (bf16 weight conversions in prepare)\n",
                  launches, graph_launches, outside);
    std::printf("per step: device memory %.2f GB; matmul %.1f TFLOP (tensor cores), attention %.1f TFLOP, other %.1f "
                "GFLOP over %.1f GB read+written\n",
                s.device_bytes() / 1e9, mm / 1e12, attn / 1e12, other_flops / 1e9, other_bytes / 1e9);

    // The prediction: terms added (today every copy is synchronous, so nothing overlaps).
    const double t_mm = mm / (kTensorPeak * kTensorShare);
    const double t_attn_now = attn / (kFp32Peak * kFp32Share), t_attn_tc = attn / (kTensorPeak * kAttnTensorShare);
    const double t_mem = other_bytes / (kHbm * kHbmShare);
    const double t_launch = launches * kLaunchS;
    const double t_copy = (up + down) / kPcie + syncs * kSyncS;
    std::printf("predicted ms per step today: %.1f = matmul %.1f + attention (CUDA cores) %.1f + other (HBM) %.1f + "
                "launches %.1f + host copies %.1f\n",
                1e3 * (t_mm + t_attn_now + t_mem + t_launch + t_copy), 1e3 * t_mm, 1e3 * t_attn_now, 1e3 * t_mem,
                1e3 * t_launch, 1e3 * t_copy);
    // The targets: ≤ 4.2 MB + 4 KB up, ≤ 4 KB down, ≤ 900 launches per micro-batch and
    // ≤ 600 for the optimizers outside a graph (or one graph launch); attention on tensor cores.
    const double up_t = double(step_sequences / ranks * seq) * 4 * 2 + 4096, down_t = 4096;
    const double launches_t = 900 * k + 600;
    const double t_copy_t = (up_t + down_t) / kPcie + (2 * k + 2) * kSyncS;
    const double rest_t = t_mm + t_attn_tc + t_mem;
    std::printf("predicted ms per step at the targets: %.1f outside a graph (launches %.1f), %.1f as one graph; "
                "matmul %.1f + attention (tensor cores) %.1f + other %.1f + host copies %.1f\n",
                1e3 * (rest_t + launches_t * kLaunchS + t_copy_t), 1e3 * launches_t * kLaunchS,
                1e3 * (rest_t + kLaunchS + t_copy_t), 1e3 * t_mm, 1e3 * t_attn_tc, 1e3 * t_mem, 1e3 * t_copy_t);
    std::printf("rates assumed: bf16 tensor %.0f TFLOP/s at %.0f%%; fp32 CUDA cores %.0f TFLOP/s at %.0f%%; attention "
                "on tensor cores at %.0f%%; HBM %.2f TB/s at %.0f%%; %.0f us per launch; host copies %.0f GB/s + %.0f "
                "us per sync\n",
                kTensorPeak / 1e12, kTensorShare * 100, kFp32Peak / 1e12, kFp32Share * 100, kAttnTensorShare * 100,
                kHbm / 1e12, kHbmShare * 100, kLaunchS * 1e6, kPcie / 1e9, kSyncS * 1e6);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_step_paper: %s\n", e.what());
    return 1;
  }
  return 0;
}
