#include "runtime/train/step_on_paper.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <set>

#include "kernels/cuda/attention_layout.h"
#include "runtime/backend_util.h"
#include "runtime/executor.h"
#include "runtime/optim/optimizer_set.h"
#include "runtime/train_step.h"

namespace golf {

namespace {

ExecOptions counting(bool graphs, RealStorage storage) {
  ExecOptions o;
  o.device = Device::cuda;
  o.count_only = true;
  o.graph = graphs;
  o.storage = storage;
  return o;
}

// FLOPs and bytes of the planned nodes, by where they run.
void add_work(const Graph& g, const Executor& ex, GraphOnPaper* p) {
  std::set<int> views;  // reshapes planned as views: no work
  std::map<std::pair<int, int>, DType> stored;  // each value's element type as the plan stores it
  for (const MemoryPlan::Slot& s : ex.plan().slots) {
    if (s.alias >= 0) views.insert(s.value.node);
    stored[{s.value.node, s.value.out}] = s.dtype;
  }
  auto is_bf16 = [&](Value v) {
    auto it = stored.find({v.node, v.out});
    return it != stored.end() && it->second == DType::bf16;
  };
  auto value_bytes = [&](const Graph& gr, Value v) {
    auto it = stored.find({v.node, v.out});
    return shape_numel(gr.spec(v).shape) * int64_t(it == stored.end() ? 4 : dtype_size(it->second));
  };
  const ExecOptions& opt = ex.options();
  const bool matmul_bf16 = !opt.matmul_fp32;
  const char* a = std::getenv("GOLFRT_ATTENTION");
  const bool attention_tc = !opt.attention_fp32 && !(a && std::string(a) == "fp32");
  for (int id : ex.plan().steps) {
    const Node& n = g.node(id);
    if (n.op == Op::input || n.op == Op::param || views.count(id)) continue;
    p->nodes++;
    const Shape& out = n.outs[0].shape;
    GraphOnPaper::OpTally& tally = p->by_op[op_info(n.op).name];
    tally.nodes++;
    for (const Value& v : n.inputs) tally.bytes += double(value_bytes(g, v));
    for (int k = 0; k < int(n.outs.size()); k++) tally.bytes += double(value_bytes(g, Value{id, k}));
    if (n.op == Op::matmul || n.op == Op::matmul_add) {  // matmul_add's addend is read in the GEMM's epilogue
      const MatmulDims d = matmul_dims(n, g.spec(n.inputs[0]).shape, g.spec(n.inputs[1]).shape, out);
      p->matmul_flops += 2.0 * double(shape_numel(out)) * double(d.k);
      // kernels/cuda/matmul.cu converts an fp32 operand into bf16 scratch per call, unless it is a
      // weight with a cached bf16 copy (converted once per write, not per call: not counted here).
      if (matmul_bf16 && d.k > 0 && shape_numel(out) > 0)
        for (size_t i = 0; i < 2; i++) {
          const Value v = n.inputs[i];
          if (is_bf16(v) || g.node(v.node).op == Op::param) continue;
          const double conv = 6.0 * double(shape_numel(g.spec(v).shape));
          p->conversion_bytes += conv;
          p->other_bytes += conv;
          GraphOnPaper::OpTally& t = p->by_op["matmul operand conversion"];
          t.nodes++;
          t.bytes += conv;
        }
      continue;
    }
    if (n.op == Op::attention || n.op == Op::attention_backward) {
      // q [B, T, H, hd], k [B, Tk, Hkv, hd]: QKᵀ and PV are 2·B·H·T·Tk·hd FLOPs each, causal half.
      const Shape& q = g.spec(n.inputs[0]).shape;
      const Shape& k = g.spec(n.inputs[1]).shape;
      const double fwd = 2.0 * 2.0 * double(q[0] * q[2] * q[1] * k[1] * q[3]) / 2.0;
      // The backward (both CUDA kernels) computes S and dP in its dq pass and again in its dk/dv
      // pass, so that no two threads add into one dq: 7 matmuls of the forward's 2, 3.5
      // forwards; XSA recomputes the pre-XSA forward first. On tensor cores by default
      // (kernels/cuda/attention_tc.cu), on CUDA cores with GOLFRT_ATTENTION=fp32.
      const bool xsa = attention_dims(n, q, k).xsa;
      p->attention_flops += n.op == Op::attention ? fwd : 3.5 * fwd + (xsa ? fwd : 0.0);
      // Tensor cores without q, k, v stored in bf16: kernels/cuda/attention_tc.cu packs q, k, v
      // (and the backward's dO) into padded bf16 scratch per call, reading them in fp32.
      if (attention_tc && !(is_bf16(n.inputs[0]) && is_bf16(n.inputs[1]) && is_bf16(n.inputs[2]))) {
        const bool bwd = n.op == Op::attention_backward;
        double read = 0;
        for (size_t i : {size_t(0), size_t(1), size_t(2)}) read += double(value_bytes(g, n.inputs[i]));
        if (bwd) read += double(value_bytes(g, n.inputs[5]));
        const double pack = read + double(cuda::tc_packed_bytes(q[0], q[1], q[2], k[2], q[3], bwd));
        p->pack_bytes += pack;
        p->other_bytes += pack;
        GraphOnPaper::OpTally& t = p->by_op["attention pack"];
        t.nodes++;
        t.bytes += pack;
      }
      continue;
    }
    int64_t bytes = 0, largest = 0;
    if (n.op == Op::slice) {
      // A slice reads only the part it copies, not its whole input.
      bytes = 2 * value_bytes(g, Value{id, 0});
      p->other_bytes += double(bytes);
      p->other_flops += double(shape_numel(out));
      continue;
    }
    for (const Value& v : n.inputs) bytes += value_bytes(g, v), largest = std::max(largest, shape_numel(g.spec(v).shape));
    for (int k = 0; k < int(n.outs.size()); k++)
      bytes += value_bytes(g, Value{id, k}), largest = std::max(largest, shape_numel(n.outs[size_t(k)].shape));
    p->other_bytes += double(bytes);
    p->other_flops += double(largest);
  }
}

// The optimizers' state lives on the device (docs/cuda.md "Residency"), and so do the schedule
// scalars ("<optimizer>_lr.", "_mu.", "_bias1.", "_bias2."): views of one buffer per optimizer,
// uploaded once per step (runtime/optim/schedule_scalars.h; add_schedule_upload counts it).
void bind_state_resident(Executor& ex, const ParamStore& store) {
  for (const ParamSpec& p : store.specs())
    for (const std::string& prefix : {"", "grad.", "muon_buf.", "adam_m.", "adam_v.", "muon_lr.", "muon_mu.", "adam_lr.",
                                      "adam_bias1.", "adam_bias2."})
      ex.bind_resident(prefix + p.name);
}
void add_schedule_upload(int64_t scalars, GraphOnPaper* p) {
  p->ledger.uploads++, p->ledger.upload_bytes += scalars * 4, p->ledger.syncs++;
}

// Runs a count-only executor twice and keeps the second (steady) run's ledger.
void count(const Graph& g, Executor& ex, GraphOnPaper* p) {
  ex.run();
  p->node_launches = ex.ledger().launches;
  ex.run();
  p->ledger = ex.ledger();
  p->bytes = ex.device_bytes();
  add_work(g, ex, p);
}

}  // namespace

int64_t StepOnPaper::device_bytes() const {
  int64_t b = micro.bytes.total();
  for (const GraphOnPaper* o : {&muon, &adam, &eval}) b += o->bytes.total() - o->bytes.scratch;
  // Scratch is one buffer for the process: the largest request of any graph.
  b += std::max({muon.bytes.scratch, adam.bytes.scratch, eval.bytes.scratch, micro.bytes.scratch}) -
       micro.bytes.scratch;
  return b;
}

StepOnPaper step_on_paper(GraphFactory factory, NameMatcher matcher, const Json& train, int64_t micro_batch,
                          int64_t seq, int64_t step_sequences, int64_t ranks, bool optimizers, bool graphs,
                          RealStorage storage) {
  if (micro_batch <= 0 || step_sequences % micro_batch || (step_sequences / micro_batch) % ranks)
    throw std::invalid_argument("step_on_paper: micro_batch " + std::to_string(micro_batch) + " does not divide " +
                                std::to_string(step_sequences) + " sequences over " + std::to_string(ranks) + " ranks");
  StepOnPaper s;
  s.micro_batch = micro_batch;
  s.seq = seq;
  s.micro_batches = step_sequences / micro_batch / ranks;
  auto model = factory("train", micro_batch, seq);
  model->store.initialize(1, DType::f32);
  // As the trainer builds it (runtime/train/trainer.cc): the mean loss, scaled by 1/micro-batches.
  TrainStep step(model->graph, mean_all(model->loss), model->store, counting(graphs, storage),
                 1.0 / double(step_sequences / micro_batch));
  count(model->graph, step.executor(), &s.micro);
  s.bf16_storage = step.executor().bf16_storage();
  // The evaluator's graph as runtime/train/evaluate.cc compiles it: the loss, forward only.
  s.eval_batch = train.get("eval_batch", micro_batch);
  {
    auto eval_model = factory("eval", s.eval_batch, seq);
    eval_model->store.initialize(1, DType::f32);
    Executor ex(eval_model->graph, {eval_model->loss}, counting(false, storage));  // the evaluator runs launch by launch
    count(eval_model->graph, ex, &s.eval);
  }
  if (!optimizers) return s;

  // The update graphs the OptimizerSet builds, counted on graphs of our own (its executors run
  // where it is told, here the CPU, which only plans them).
  OptimizerSet optim(model->store, train["optim"], matcher, DType::f32, Device::cpu);
  if (optim.muon()) {
    Graph g;
    build_muon_update(g, model->store, optim.muon()->params());
    Executor ex(g, {}, counting(graphs, storage));
    bind_state_resident(ex, model->store);
    count(g, ex, &s.muon);
    add_schedule_upload(2 * int64_t(optim.muon()->params().size()), &s.muon);  // lr and μ each
  }
  if (optim.adamw()) {
    Graph g;
    build_adamw_update(g, model->store, optim.adamw()->params());
    Executor ex(g, {}, counting(graphs, storage));
    bind_state_resident(ex, model->store);
    count(g, ex, &s.adam);
    add_schedule_upload(3 * int64_t(optim.adamw()->params().size()), &s.adam);  // lr and both bias corrections
  }
  return s;
}

}  // namespace golf
