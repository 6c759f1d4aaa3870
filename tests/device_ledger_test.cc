// The device ledger (issue 16): what a CUDA run copies, launches, allocates and waits for, counted
// in count-only mode, so these tests run on machines without a GPU and in builds without CUDA.
// They pin the counts of the host-mirrored path (leaves bound to host tensors) and of the
// device-resident train step (issue 16's target at the end, which failed before residency).
#include <gtest/gtest.h>

#include "runtime/autograd.h"
#include "runtime/executor.h"
#include "runtime/params.h"
#include "runtime/train_step.h"
#include "tests/support/cuda.h"

namespace golf {
namespace {

const Node& last_node_of(const Graph& g, Op op) {
  for (int i = g.size() - 1; i >= 0; i--)
    if (g.node(i).op == op) return g.node(i);
  throw std::logic_error("no such node");
}

CudaNodeCost cost_of(const Graph& g, const Node& n, bool bf16 = true, bool attention_bf16 = true) {
  std::vector<Shape> ins, outs;
  for (const Value& v : n.inputs) ins.push_back(g.spec(v).shape);
  for (const OutSpec& o : n.outs) outs.push_back(o.shape);
  return cuda_node_cost(n, ins, outs, bf16, attention_bf16);
}

// Kept in step with runtime/cuda_backend.cc and kernels/cuda/*.cu by reading them: a kernel call
// added there must show here.
TEST(DeviceLedger, cuda_launches_per_op_follow_the_backend_dispatch) {
  Graph g;
  Var a = input(g, "a", {8, 16}), w = input(g, "w", {16, 4});
  Var y = matmul(a, w);
  const Node& mm = last_node_of(g, Op::matmul);
  EXPECT_EQ(cost_of(g, mm, true).launches, 3) << "bf16: both operands converted, then one cuBLASLt call";
  EXPECT_EQ(cost_of(g, mm, true).scratch_bytes, (128 + 64) * 2);
  EXPECT_EQ(cost_of(g, mm, false).launches, 1) << "fp32: the cuBLASLt call alone";

  // A transposed A against a shared B: one cuBLASLt call per problem (kernels/cuda/matmul.cu).
  Var at = input(g, "at", {3, 16, 8});
  matmul(at, w, true, false);
  EXPECT_EQ(cost_of(g, last_node_of(g, Op::matmul), true).launches, 3 + 2);

  // Reshape is a device copy today; concat copies each part; elementwise ops are one kernel.
  reshape(y, {32});
  EXPECT_EQ(cost_of(g, last_node_of(g, Op::reshape)).launches, 1);
  concat({a, a, a}, 0);
  EXPECT_EQ(cost_of(g, last_node_of(g, Op::concat)).launches, 3);
  Var z = y + y;
  EXPECT_EQ(cost_of(g, last_node_of(g, Op::add)).launches, 1);
  (void)z;

  // Gathers check their ids first; a scatter sorts them (iota + CUB, one tile for 5 ids).
  Var table = input(g, "table", {10, 4});
  Var ids = input(g, "ids", {5}, true);
  Var e = embedding(table, ids);
  EXPECT_EQ(cost_of(g, last_node_of(g, Op::embedding)).launches, 2);
  backward_seeded(e, input(g, "de", {5, 4}), {"table"});
  EXPECT_EQ(cost_of(g, last_node_of(g, Op::scatter_add_rows)).launches, 1 + 1 + 1 + 1);

  // Attention on tensor cores (kernels/cuda/attention_tc.cu): the bf16 pack, the forward, XSA's
  // own kernel; the backward packs (twice with XSA, around the pre-XSA forward), prep, dq, dk/dv.
  // The fp32 kernel (attention.cu): one forward; prep, dq, dk/dv and XSA's recomputed forward.
  for (bool xsa : {false, true}) {
    Graph ga;
    Var q = input(ga, "q", {2, 8, 4, 8}), k = input(ga, "k", {2, 8, 2, 8}), v = input(ga, "v", {2, 8, 2, 8});
    AttentionOut o = attention(q, k, v, 0.35, xsa);
    const Node& fwd = last_node_of(ga, Op::attention);
    EXPECT_EQ(cost_of(ga, fwd).launches, xsa ? 3 : 2);
    // q, k, v as bf16 [B, heads, 64 rows, 32 dims]: (2·4 + 2·2·2)·64·32·2 bytes.
    EXPECT_EQ(cost_of(ga, fwd).scratch_bytes, 16 * 64 * 32 * 2);
    EXPECT_EQ(cost_of(ga, fwd, true, false).launches, 1);
    EXPECT_EQ(cost_of(ga, fwd, true, false).scratch_bytes, 0);
    backward_seeded(o.y, input(ga, "dy", {2, 8, 4, 8}), {"q", "k", "v"});
    const Node& bwd = last_node_of(ga, Op::attention_backward);
    EXPECT_EQ(cost_of(ga, bwd).launches, xsa ? 6 : 4) << "xsa " << xsa;
    // And dO; then fp32 D per row (64 rows padded: 64) and with XSA three [B, T, H, hd] buffers.
    EXPECT_EQ(cost_of(ga, bwd).scratch_bytes, 24 * 64 * 32 * 2 + (64 + (xsa ? 3 * 512 : 0)) * 4) << "xsa " << xsa;
    EXPECT_EQ(cost_of(ga, bwd, true, false).launches, xsa ? 4 : 3) << "xsa " << xsa;
  }

  // Sums follow kernels/reduce_plan.h: a bias gradient over a micro-batch's 65,536 rows has 512
  // outputs, too few to fill 132 SMs, so it is split (525 chunks of 125 rows: partials in scratch,
  // then a second pass); per-row sums of 65,536 rows fill the GPU in one pass; a loss mean over
  // 65,536 numbers splits into 256 warp-sized chunks.
  Graph gr;
  Var rows = input(gr, "rows", {65536, 512});
  sum_to(rows, {512});
  EXPECT_EQ(cost_of(gr, last_node_of(gr, Op::sum_to)).launches, 2);
  EXPECT_EQ(cost_of(gr, last_node_of(gr, Op::sum_to)).scratch_bytes, 525 * 512 * 8);
  sum(rows, {1});
  EXPECT_EQ(cost_of(gr, last_node_of(gr, Op::sum)).launches, 1);
  EXPECT_EQ(cost_of(gr, last_node_of(gr, Op::sum)).scratch_bytes, 0);
  mean(input(gr, "losses", {65536}), {0});
  EXPECT_EQ(cost_of(gr, last_node_of(gr, Op::mean)).launches, 2);
  EXPECT_EQ(cost_of(gr, last_node_of(gr, Op::mean)).scratch_bytes, 256 * 8);
}

// A one-layer model with its gradients accumulated into "grad.*" leaves, as TrainStep builds it.
struct Tiny {
  Graph g;
  ParamStore store;
  Var loss;
  Tensor tokens, targets;
  static constexpr int64_t B = 2, T = 4, D = 8, V = 11;
};

std::unique_ptr<Tiny> make_tiny() {
  auto m = std::make_unique<Tiny>();
  Scope s(m->store, m->g);
  Var ids = input(m->g, "tokens", {Tiny::B, Tiny::T}, true);
  Var tgt = input(m->g, "targets", {Tiny::B * Tiny::T}, true);
  Var emb = s.param("embed", {Tiny::V, Tiny::D}, Init::normal(0.5));
  Var x = rms_norm(embedding(emb, ids));
  Var h = relu(matmul(x, s.param("up", {2 * Tiny::D, Tiny::D}, Init::normal(0.3)), false, true));
  x = x + matmul(h, s.param("down", {Tiny::D, 2 * Tiny::D}, Init::normal(0.3)), false, true);
  Var logits = matmul(reshape(x, {Tiny::B * Tiny::T, Tiny::D}), emb, false, true);
  m->loss = mean_all(cross_entropy(logits, tgt, 30.0));
  m->store.initialize(7);
  m->tokens = Tensor({Tiny::B, Tiny::T}, DType::i32);
  m->targets = Tensor({Tiny::B * Tiny::T}, DType::i32);
  for (int64_t i = 0; i < Tiny::B * Tiny::T; i++) m->tokens.set(i, (i * 3) % Tiny::V), m->targets.set(i, (i * 5) % Tiny::V);
  return m;
}

ExecOptions counting() {
  ExecOptions o;
  o.device = Device::cuda;
  o.count_only = true;
  return o;
}

int64_t bytes_of(const ParamStore& store, const std::vector<std::string>& names) {
  int64_t b = 0;
  for (const std::string& n : names) b += shape_numel(store.spec(n).shape) * 4;
  return b;
}

// today: every run uploads every leaf (3 parameters, tokens, targets) and downloads the loss and
// the fault record, each copy followed by a sync; the arena is planned, nothing allocated.
TEST(DeviceLedger, count_only_forward_uploads_every_leaf_each_run_today) {
  auto m = make_tiny();
  Executor ex(m->g, {m->loss}, counting());
  ex.bind_params(m->store);
  ex.bind("tokens", m->tokens);
  ex.bind("targets", m->targets);
  ex.run();
  const DeviceLedger& l = ex.ledger();
  const int64_t params = bytes_of(m->store, {"embed", "up", "down"});
  EXPECT_EQ(l.runs, 1);
  EXPECT_EQ(l.uploads, 5);
  EXPECT_EQ(l.upload_bytes, params + 2 * Tiny::B * Tiny::T * 4);
  EXPECT_EQ(l.downloads, 2);
  EXPECT_EQ(l.download_bytes, 4 + cuda_fault_record_bytes());
  EXPECT_EQ(l.syncs, l.uploads + l.downloads);
  int64_t launches = 0, views = 0;
  for (const MemoryPlan::Slot& s : ex.plan().slots) views += s.alias >= 0 ? 1 : 0;
  for (int id : ex.plan().steps) {
    const Node& n = m->g.node(id);
    if (n.op != Op::input && n.op != Op::param) launches += cost_of(m->g, n).launches;
  }
  EXPECT_EQ(views, 1) << "the reshape of x is a view";
  launches -= views;  // a view runs nothing (it would be one device copy)
  // cost_of counts each matmul converting both operands; a weight's bf16 copy comes from the
  // weight cache instead, converted once per run for a host-bound (uploaded) weight. The forward
  // reads each of its 3 weights in one matmul: 3 conversions fewer, 3 more.
  EXPECT_EQ(l.launches, launches - 3 + 3);
  EXPECT_GT(l.launches, 10);
  // The first run grows the kernels' scratch (bf16 operands) and cuBLASLt's workspace, and makes
  // the bf16 copies of the 3 weights (the weight cache); later runs allocate nothing.
  EXPECT_EQ(l.allocations, 2 + 3);
  ex.run();
  EXPECT_EQ(ex.ledger().allocations, 0);
  EXPECT_EQ(ex.ledger().uploads, 5);
  EXPECT_EQ(ex.ledger_total().runs, 2);
  EXPECT_EQ(ex.ledger_total().uploads, 10);
  EXPECT_THROW(ex.result(0), std::out_of_range) << "count-only runs leave no results";

  const DeviceBytes& b = ex.device_bytes();
  EXPECT_EQ(b.arena, int64_t(ex.plan().arena_bytes));
  EXPECT_EQ(b.leaves, params + 2 * Tiny::B * Tiny::T * 4);
  EXPECT_EQ(b.outputs, 4);
  EXPECT_GE(b.scratch, int64_t(32) << 20);
  EXPECT_EQ(b.weight_copies, params / 2) << "a bf16 copy of each weight a matmul reads";
  EXPECT_EQ(b.total(), b.arena + b.leaves + b.outputs + b.scratch + b.weight_copies);
  EXPECT_NE(ex.profile_report().find("device: runs 2"), std::string::npos) << ex.profile_report();
}

// Parameters and gradient buffers bound to host tensors (what the train step did before
// residency, and what a caller keeping its state on the host still gets): per run every parameter,
// every gradient buffer, tokens and targets go up, and every gradient (accumulate writes it) and
// the loss come down: 2·P + data bytes up and P + loss down, 3 + 3 + 2 copies up.
TEST(DeviceLedger, host_bound_parameters_and_gradients_are_mirrored_each_run) {
  auto m = make_tiny();
  TrainStep step(m->g, m->loss, m->store, counting());
  Executor& ex = step.executor();
  ex.bind_params(m->store);
  std::vector<Tensor> host_grads;
  for (const std::string& n : {"embed", "up", "down"}) {
    host_grads.emplace_back(m->store.spec(n).shape, DType::f32);
    ex.bind("grad." + n, host_grads.back());
  }
  ex.bind("tokens", m->tokens);
  ex.bind("targets", m->targets);
  ex.run();
  ex.run();
  const DeviceLedger& l = ex.ledger();
  const int64_t params = bytes_of(m->store, {"embed", "up", "down"});
  EXPECT_EQ(l.uploads, 3 + 3 + 2);
  EXPECT_EQ(l.upload_bytes, 2 * params + 2 * Tiny::B * Tiny::T * 4);
  EXPECT_EQ(l.downloads, 3 + 1 + 1);
  EXPECT_EQ(l.download_bytes, params + 4 + cuda_fault_record_bytes());
  EXPECT_EQ(l.allocations, 0);
}

// The bf16 weight cache (runtime/bf16_weight_cache.h): a micro-batch's forward and backward read
// each weight in two matmuls (x·Wᵀ and dy·W), and before the cache each read converted it. Now a
// weight is converted once per run while it is uploaded each run, and not at all once it stays on
// the device (its copy is remade after the optimizer writes it, outside the micro-batch's run).
// Fails on the code before the cache: 2 conversions per matmul, whatever its operands.
TEST(DeviceLedger, a_weight_is_converted_to_bf16_once_per_write_not_per_matmul) {
  auto m = make_tiny();
  // fp32 storage: every activation operand converted per call, as cost_of counts it (bf16-stored
  // operands, which convert nothing, are precision_pass_test.cc's).
  ExecOptions o = counting();
  o.storage = RealStorage::fp32;
  TrainStep step(m->g, m->loss, m->store, o);
  Executor& ex = step.executor();
  ex.bind("tokens", m->tokens);
  ex.bind("targets", m->targets);
  ex.run();
  int64_t uncached = 0, weight_reads = 0, matmuls = 0;
  for (int id : ex.plan().steps) {
    const Node& n = m->g.node(id);
    if (n.op == Op::input || n.op == Op::param) continue;
    uncached += cost_of(m->g, n).launches;
    if (n.op != Op::matmul) continue;
    matmuls++;
    for (const Value& v : n.inputs) weight_reads += m->g.node(v.node).op == Op::param ? 1 : 0;
  }
  int64_t views = 0;
  for (const MemoryPlan::Slot& s : ex.plan().slots) views += s.alias >= 0 ? 1 : 0;
  EXPECT_GE(weight_reads, 6) << "forward and backward read the 3 weights";
  EXPECT_GT(matmuls, weight_reads);
  EXPECT_EQ(ex.ledger().launches, uncached - views - weight_reads + 3) << "one conversion per uploaded weight";
}

TEST(DeviceLedger, cpu_runs_touch_no_device) {
  auto m = make_tiny();
  Executor ex(m->g, {m->loss});
  ex.bind_params(m->store);
  ex.bind("tokens", m->tokens);
  ex.bind("targets", m->targets);
  ex.run();
  const DeviceLedger& l = ex.ledger();
  EXPECT_EQ(l.runs, 1);
  EXPECT_EQ(l.uploads + l.downloads + l.launches + l.allocations + l.syncs, 0);
  EXPECT_EQ(ex.device_bytes().scratch, 0);
}

// Count-only mode is host logic: it plans for a CUDA device on a machine (or a build) without one,
// where a performing executor is refused.
TEST(DeviceLedger, count_only_needs_no_device) {
  auto m = make_tiny();
  EXPECT_NO_THROW(Executor(m->g, {m->loss}, counting()));
  if (!cuda_unavailable().empty()) {
    ExecOptions o = counting();
    o.count_only = false;
    EXPECT_THROW(Executor(m->g, {m->loss}, o), std::runtime_error);
  }
}

// A reshape of an intermediate is a view of its input's bytes: no copy, no launch (before this,
// every reshape was a device copy: this graph launched 7, and its reshapes were copies on the CPU
// too). Its input stays live while the view is read, so the values equal the copying path's.
TEST(DeviceLedger, reshape_of_an_intermediate_is_a_view_not_a_copy) {
  Graph g;
  Var x = input(g, "x", {4, 6});
  Var r = reshape(relu(x), {24});
  Var later = scale(relu(x), 2.0);  // placed while the view is live: must not reuse its bytes
  Var y = relu(r) + reshape(later, {24});
  Executor counted(g, {y}, counting());
  counted.run();
  // relu(x) twice, scale, relu(r), add; the two reshapes run nothing (today: 7).
  EXPECT_EQ(counted.ledger().launches, 5);

  Executor ex(g, {y});
  Tensor xv({4, 6}, DType::f32);
  for (int64_t i = 0; i < 24; i++) xv.set(i, double(i % 7) - 3.0);
  ex.bind("x", xv);
  ex.run();
  for (int64_t i = 0; i < 24; i++) {
    const double v = xv.get(i) > 0 ? xv.get(i) : 0.0;
    EXPECT_EQ(ex.result(0).get(i), v + 2.0 * v) << i;
  }
  const MemoryPlan& p = ex.plan();
  int views = 0;
  for (const MemoryPlan::Slot& s : p.slots)
    if (s.alias >= 0) {
      views++;
      EXPECT_GE(p.slots[size_t(s.alias)].last, s.last) << "the viewed bytes outlive the view's last reader";
    }
  EXPECT_EQ(views, 2);

  // A reshape of a bound leaf (it may be rebound) or a requested reshape (results own their bytes)
  // is still a copy.
  Graph h;
  Var a = input(h, "a", {2, 3});
  Var b = reshape(a, {6});
  Var c = reshape(relu(a), {3, 2});
  Executor leafy(h, {b, c}, counting());
  leafy.run();
  EXPECT_EQ(leafy.ledger().launches, 3);  // two copies and the relu
}

// ---- Issue 16's target: after the first step a micro-batch uploads only its tokens and targets
// and downloads only its loss and the fault record, the train step keeping parameters and
// gradients on the device. Failed on the code before residency (main at ee6c6a8, run with
// --gtest_also_run_disabled_tests: 8 uploads of 2·P + 64 bytes, 5 downloads); passes since.
// tests/standin_device_test.cc checks the same on performed runs of the tiny baseline.
TEST(DeviceLedger, target_micro_batch_uploads_only_its_data) {
  auto m = make_tiny();
  TrainStep step(m->g, m->loss, m->store, counting());
  Executor& ex = step.executor();
  ex.bind("tokens", m->tokens);
  ex.bind("targets", m->targets);
  ex.run();
  ex.run();
  EXPECT_EQ(ex.ledger().uploads, 2);
  EXPECT_EQ(ex.ledger().upload_bytes, 2 * Tiny::B * Tiny::T * 4);
  EXPECT_EQ(ex.ledger().download_bytes, 4 + cuda_fault_record_bytes());
}

}  // namespace
}  // namespace golf
