// Issue 18's prediction of the baseline's training step with fixed rates, from the step program
// (runtime/train/step_on_paper.h; no GPU needed): matmuls at 70% of the measured bf16 rate (790
// TFLOP/s H200, 660 H100), attention at 50% of it, memory traffic at 80% of the bandwidth (4.3 TB/s
// H200, 3.35 H100), 3 us per kernel launch outside a CUDA graph; nothing else (host copies are
// taken as issue 16's residency leaves them: a few MB per step). Prints the terms and their sum for
// both GPUs, and the bytes by op so that a fused or narrowed op's effect can be worked out
// (docs/perf.md, "The prediction with fixed rates").
//
//   bench_step_predict SCRIPT [--micro N] [--fuse KINDS] [--storage fp32|bf16] [--set KEY=VALUE ...] [--nodes 1]
// --fuse: as bench_step_paper's (none, all: the graph the CUDA trainer runs, or a list).
// --storage: which values are stored in bf16 (runtime/precision_pass.h); default: what the CUDA
// trainer runs (bf16). Bytes are counted as stored, and the memory term includes the matmul's
// per-call conversions of fp32 operands and the attention's packs (step_on_paper.h).
//
// --nodes 1 also lists the micro-batch graph's nodes by script line (op, line, count, GB), to see
// which lines a fused op would replace.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <map>
#include <set>

#include "dsl/script.h"
#include "runtime/fuse_pass.h"
#include "runtime/train/step_on_paper.h"
#include "runtime/train_step.h"

using namespace golf;

namespace {

struct Gpu {
  const char* name;
  double tensor, hbm;  // bf16 dense FLOP/s as measured; bytes/s
};
constexpr Gpu kGpus[] = {{"H100", 660e12, 3.35e12}, {"H200", 790e12, 4.3e12}};
constexpr double kMatmulShare = 0.70, kAttentionShare = 0.50, kHbmShare = 0.80, kLaunchS = 3e-6;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_step_predict SCRIPT [--micro N] [--fuse KINDS] [--storage fp32|bf16] [--set KEY=VALUE ...] [--nodes 1]\n");
    return 2;
  }
  try {
    int64_t micro = 64;
    bool nodes = false;
    FuseKinds fuse = FuseKinds::none();
    RealStorage storage = RealStorage::automatic;
    Overrides overrides;
    for (int i = 2; i < argc; i++) {
      const std::string a = argv[i];
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      const std::string v = argv[++i];
      if (a == "--micro") micro = std::stoll(v);
      else if (a == "--set") overrides.sets.push_back(parse_set(v));
      else if (a == "--nodes") nodes = v == "1";
      else if (a == "--fuse") fuse = FuseKinds::parse(v);
      else if (a == "--storage") {
        if (v != "fp32" && v != "bf16") throw std::invalid_argument("--storage " + v + ": give fp32 or bf16");
        storage = real_storage_from_name(v);
      } else throw std::invalid_argument("unknown option " + a + " (--micro N, --fuse KINDS, --storage fp32|bf16, --set KEY=VALUE, --nodes 1)");
    }
    ModelScript script(argv[1], overrides);
    Json train = script.table_json("train");
    const int64_t seq = int64_t(script.config_number("seq_len"));
    const int64_t step_sequences = train.get("batch_tokens", int64_t(8 * seq)) / seq;
    GraphFactory factory = fused_factory(
        [&](const std::string& mode, int64_t b, int64_t t) -> std::unique_ptr<ModelGraph> { return script.build(mode, b, t); },
        fuse);
    NameMatcher matcher = [&](const std::string& n, const std::string& p) { return script.name_matches(n, p); };
    // Counted as the CUDA trainer runs the step (CUDA graphs); node_launches is launch by launch.
    const StepOnPaper s = step_on_paper(factory, matcher, train, micro, seq, step_sequences, 1, true, true, storage);
    const double k = double(s.micro_batches);
    const double mm = k * s.micro.matmul_flops + s.muon.matmul_flops + s.adam.matmul_flops;
    const double attn = k * s.micro.attention_flops;
    const double bytes = k * s.micro.other_bytes + s.muon.other_bytes + s.adam.other_bytes;
    const double launches = k * double(s.micro.node_launches) + double(s.muon.node_launches + s.adam.node_launches);
    // As CUDA graphs (docs/cuda.md): a graph launch per micro-batch and per update, and the bf16
    // weight conversions prepare launches once per step, after the update wrote the weights.
    const double graph_launches = k * double(s.micro.ledger.graph_launches) + double(s.muon.ledger.graph_launches) +
                                  double(s.adam.ledger.graph_launches) +
                                  double(s.micro.ledger.launches + s.muon.ledger.launches + s.adam.ledger.launches);
    std::printf("%s: %lld tokens per step, %lld micro-batches of %lld x %lld\n", argv[1],
                (long long)(step_sequences * seq), (long long)s.micro_batches, (long long)micro, (long long)seq);
    std::printf("storage: %s (matmul operands and attention's q, k, v, o %s)\n", s.bf16_storage ? "bf16" : "fp32",
                s.bf16_storage ? "stored in bf16 where runtime/precision_pass.h's rule allows" : "all fp32");
    std::printf("per step: matmul operand conversions %.1f GB, attention packs %.1f GB (in the memory term)\n",
                (k * s.micro.conversion_bytes + s.muon.conversion_bytes + s.adam.conversion_bytes) / 1e9,
                k * s.micro.pack_bytes / 1e9);
    std::printf("per step: matmul %.2f TFLOP, attention %.2f TFLOP, memory-bound ops %.1f GB read+written, launches %.0f "
                "(%lld per micro-batch, %lld Muon, %lld Adam)\n",
                mm / 1e12, attn / 1e12, bytes / 1e9, launches, (long long)s.micro.node_launches,
                (long long)s.muon.node_launches, (long long)s.adam.node_launches);
    std::printf("per step as CUDA graphs: %.0f launches (a graph launch per micro-batch and per update, and the bf16 "
                "weight conversions outside them)\n",
                graph_launches);

    // Bytes by op, one micro-batch, largest first (matmul and attention listed for their traffic,
    // which is not in the memory term: they are counted by their FLOPs).
    std::vector<std::pair<std::string, GraphOnPaper::OpTally>> rows(s.micro.by_op.begin(), s.micro.by_op.end());
    std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.bytes > b.second.bytes; });
    std::printf("one micro-batch by op (nodes, GB its inputs and outputs hold as stored: 2 bytes an element in bf16, 4 "
                "in fp32; and the conversions and packs):\n");
    for (const auto& [op, t] : rows)
      std::printf("  %-28s %5lld nodes %9.3f GB\n", op.c_str(), (long long)t.nodes, t.bytes / 1e9);

    if (nodes) {
      auto model = factory("train", micro, seq);
      model->store.initialize(1, DType::f32);
      ExecOptions o;
      o.device = Device::cuda;
      o.count_only = true;
      o.storage = storage;
      TrainStep step(model->graph, mean_all(model->loss), model->store, o, 1.0 / k);
      const Graph& gr = model->graph;
      std::map<std::string, std::pair<int64_t, double>> by_line;
      std::set<int> views;  // reshapes planned as views do no work (as step_on_paper counts)
      std::map<std::pair<int, int>, double> elem;  // bytes an element as stored
      for (const MemoryPlan::Slot& sl : step.executor().plan().slots) {
        if (sl.alias >= 0) views.insert(sl.value.node);
        elem[{sl.value.node, sl.value.out}] = double(dtype_size(sl.dtype));
      }
      for (int id : step.executor().plan().steps) {
        const Node& n = gr.node(id);
        if (n.op == Op::input || n.op == Op::param || views.count(id)) continue;
        double b = 0;
        for (const Value& v : n.inputs) b += elem.at({v.node, v.out}) * double(shape_numel(gr.spec(v).shape));
        for (int o2 = 0; o2 < int(n.outs.size()); o2++)
          b += elem.at({id, o2}) * double(shape_numel(n.outs[size_t(o2)].shape));
        const std::string d = n.outs.empty() ? std::string() : gr.describe(Value{id, 0});
        const size_t at = d.find(" at ");
        auto& e = by_line[std::string(op_info(n.op).name) + (at == std::string::npos ? "" : d.substr(at))];
        e.first++;
        e.second += b;
      }
      std::vector<std::pair<std::string, std::pair<int64_t, double>>> lines(by_line.begin(), by_line.end());
      std::sort(lines.begin(), lines.end(), [](auto& a, auto& b) { return a.second.second > b.second.second; });
      std::printf("one micro-batch by op and script line:\n");
      for (const auto& [what, e] : lines)
        std::printf("  %-70s %4lld %8.3f GB\n", what.c_str(), (long long)e.first, e.second / 1e9);
    }

    for (const Gpu& g : kGpus) {
      const double r_mm = g.tensor * kMatmulShare, r_attn = g.tensor * kAttentionShare, r_mem = g.hbm * kHbmShare;
      const double t_mm = mm / r_mm, t_attn = attn / r_attn, t_mem = bytes / r_mem, t_launch = launches * kLaunchS;
      std::printf("%s: matmul %.2f TFLOP / %.0f TFLOP/s = %.1f ms; attention %.2f TFLOP / %.0f TFLOP/s = %.1f ms; memory "
                  "%.1f GB / %.2f TB/s = %.1f ms; launches %.0f x 3 us = %.1f ms\n",
                  g.name, mm / 1e12, r_mm / 1e12, 1e3 * t_mm, attn / 1e12, r_attn / 1e12, 1e3 * t_attn, bytes / 1e9,
                  r_mem / 1e12, 1e3 * t_mem, launches, 1e3 * t_launch);
      std::printf("%s: predicted %.1f ms per step outside a graph, %.1f ms as one graph, %.1f ms as the trainer's CUDA "
                  "graphs (%.0f launches x 3 us = %.2f ms)\n",
                  g.name, 1e3 * (t_mm + t_attn + t_mem + t_launch), 1e3 * (t_mm + t_attn + t_mem + kLaunchS),
                  1e3 * (t_mm + t_attn + t_mem + graph_launches * kLaunchS), graph_launches, 1e3 * graph_launches * kLaunchS);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_step_predict: %s\n", e.what());
    return 1;
  }
  return 0;
}
