#include "runtime/executor.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <sstream>

#include "runtime/cpu_backend.h"
#include "runtime/device_memory.h"
#include "runtime/precision_pass.h"
#ifdef GOLFRT_WITH_CUDA
#include "kernels/cuda/runtime_api.h"
#include "runtime/cuda_backend.h"
#endif

namespace golf {

namespace {

constexpr size_t kAlign = 64;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

bool is_leaf(Op op) { return op == Op::input || op == Op::param; }
bool is_effect(Op op) { return op == Op::assign || op == Op::accumulate || op == Op::attention_cached; }

// Ops whose CUDA kernels validate data and raise a fault instead of throwing (runtime/cuda_backend.cc
// passes them their node's tag): a plan without one has no fault record to read after a run.
bool may_fault(Op op) {
  return op == Op::embedding || op == Op::scatter_add_rows || op == Op::index_select || op == Op::index_add ||
         op == Op::attention_cached || op == Op::cross_entropy || op == Op::cross_entropy_backward;
}

// The inputs an effect op writes in place.
std::vector<size_t> written_inputs(Op op) {
  if (op == Op::assign || op == Op::accumulate) return {0};
  if (op == Op::attention_cached) return {3, 4};
  return {};
}

constexpr unsigned char kGuardByte = 0xA5;

// First-fit over a sorted free list; the arena grows at its end when nothing fits.
class Arena {
 public:
  size_t alloc(size_t bytes) {
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->second >= bytes) {
        size_t off = it->first;
        if (it->second == bytes) free_.erase(it);
        else *it = {off + bytes, it->second - bytes};
        return off;
      }
    }
    // Extend: reuse a free block touching the end.
    if (!free_.empty() && free_.back().first + free_.back().second == top_) {
      size_t off = free_.back().first;
      free_.pop_back();
      top_ = off + bytes;
      return off;
    }
    size_t off = top_;
    top_ += bytes;
    return off;
  }
  void release(size_t off, size_t bytes) {
    auto it = std::lower_bound(free_.begin(), free_.end(), std::pair<size_t, size_t>{off, 0});
    it = free_.insert(it, {off, bytes});
    if (auto next = it + 1; next != free_.end() && it->first + it->second == next->first) {
      it->second += next->second;
      free_.erase(next);
    }
    if (it != free_.begin()) {
      auto prev = it - 1;
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free_.erase(it);
      }
    }
  }
  size_t top() const { return top_; }

 private:
  std::vector<std::pair<size_t, size_t>> free_;  // (offset, size), sorted by offset
  size_t top_ = 0;
};

// The attention kernel the CUDA backend runs: the bf16 tensor-core one unless ExecOptions or
// GOLFRT_ATTENTION=fp32 asks for the fp32 CUDA-core one (a value other than fp32 or bf16 is an
// error, not a silent default).
bool attention_fp32(const ExecOptions& o) {
  if (o.attention_fp32) return true;
  const char* a = std::getenv("GOLFRT_ATTENTION");
  if (!a || !*a || std::string(a) == "bf16") return false;
  if (std::string(a) == "fp32") return true;
  throw std::runtime_error(std::string("GOLFRT_ATTENTION=") + a + ": expected fp32 or bf16");
}

// GOLFRT_CUDA_MATMUL=fp32 forces the fp32 matmul path everywhere (diagnosing a bf16 difference).
bool matmul_fp32_forced() {
  static const bool forced = [] {
    const char* m = std::getenv("GOLFRT_CUDA_MATMUL");
    return m && std::string(m) == "fp32";
  }();
  return forced;
}

}  // namespace

const char* real_storage_name(RealStorage s) {
  switch (s) {
    case RealStorage::automatic: return "auto";
    case RealStorage::fp32: return "fp32";
    case RealStorage::bf16: return "bf16";
  }
  return "?";
}

RealStorage real_storage_from_name(const std::string& name) {
  if (name == "auto") return RealStorage::automatic;
  if (name == "fp32") return RealStorage::fp32;
  if (name == "bf16") return RealStorage::bf16;
  throw std::invalid_argument("storage '" + name + "': give auto, fp32 or bf16");
}

Executor::Executor(const Graph& g, const std::vector<Var>& outputs, ExecOptions opt) : g_(g), opt_(opt) {
  if (const char* p = std::getenv("GOLFRT_PROFILE"); p && *p && std::string(p) != "0") {
    profile_on_ = true;
    static bool registered = (std::atexit(print_profiles_at_exit), true);
    (void)registered;
  }
  if (opt_.device == Device::cpu && opt_.real != DType::f32 && opt_.real != DType::f64)
    throw std::invalid_argument(std::string("executor: the CPU backend computes in f32 or f64, not ") + dtype_name(opt_.real));
  if (opt_.device == Device::cuda) {
    // Counting needs neither a device nor a CUDA build: it is host logic. The stand-in device
    // (runtime/device_memory.h) needs neither either: it runs the CPU kernels on host memory.
    standin_ = !opt_.count_only && standin_device();
#ifndef GOLFRT_WITH_CUDA
    if (!opt_.count_only && !standin_)
      throw std::runtime_error("executor: this golfrt was built without CUDA (configure with -DGOLFRT_CUDA=ON on a machine with nvcc)");
#endif
    if (opt_.real != DType::f32)
      throw std::invalid_argument(std::string("executor: the CUDA backend computes in f32, not ") + dtype_name(opt_.real));
#ifdef GOLFRT_WITH_CUDA
    if (!opt_.count_only && !standin_) cuda::require_device("executor: --device cuda");
#endif
  }
  matmul_fp32_ = opt_.matmul_fp32 || matmul_fp32_forced();
  bf16_storage_ = opt_.storage == RealStorage::bf16 ||
                  (opt_.storage == RealStorage::automatic && opt_.device == Device::cuda);
  if (opt_.storage == RealStorage::bf16 && opt_.real != DType::f32)
    throw std::invalid_argument(std::string("executor: bf16 storage is for f32 computation, not ") + dtype_name(opt_.real));
  if (opt_.guard_bytes) {
    opt_.reuse_memory = false;  // a reused slot legitimately overwrites an old neighbour's guard
    opt_.guard_bytes = align_up(opt_.guard_bytes);
  }
  for (const Var& o : outputs) {
    if (o.g != &g)
      throw std::invalid_argument("executor: output " + std::to_string(outputs_.size()) + " (node " + std::to_string(o.v.node) +
                                  " there) belongs to another graph");
    outputs_.push_back(o.v);
  }

  // Dead-code elimination: keep what the outputs and effects need.
  std::vector<bool> keep(size_t(g.size()), false);
  for (const Value& o : outputs_) keep[size_t(o.node)] = true;
  for (int i = 0; i < g.size(); i++)
    if (is_effect(g.node(i).op)) keep[size_t(i)] = true;
  for (int i = g.size() - 1; i >= 0; i--)
    if (keep[size_t(i)])
      for (const Value& in : g.node(i).inputs) keep[size_t(in.node)] = true;

  // Liveness: step of definition and of last read for each value.
  std::map<std::pair<int, int>, size_t> slot_of;
  for (int i = 0; i < g.size(); i++) {
    if (!keep[size_t(i)]) continue;
    const Node& n = g.node(i);
    int step = int(plan_.steps.size());
    plan_.steps.push_back(i);
    if (is_leaf(n.op)) leaves_[n.str] = i;
    may_fault_ = may_fault_ || may_fault(n.op);
#ifdef GOLFRT_WITH_CUDA
    if (opt_.device == Device::cuda && !cuda_has_kernel(n.op))
      throw std::runtime_error(g.describe(Value{i, 0}) + ": the CUDA backend has no kernel for op '" + op_info(n.op).name +
                               "' (add one to kernels/cuda/ and runtime/cuda_backend.cc; there is no CPU fallback)");
#endif
    for (size_t w : written_inputs(n.op))
      if (is_leaf(g.node(n.inputs[w].node).op)) written_leaves_.push_back(n.inputs[w].node);
    for (int k = 0; k < int(n.outs.size()); k++) {
      MemoryPlan::Slot s;
      s.value = Value{i, k};
      s.first = s.last = step;
      s.dtype = n.outs[size_t(k)].integer ? DType::i32 : opt_.real;
      s.bytes = size_t(shape_numel(n.outs[size_t(k)].shape)) * dtype_size(s.dtype);
      s.in_arena = !is_leaf(n.op);
      if (opt_.max_bytes && s.in_arena && s.bytes > opt_.max_bytes)  // before the arena sums could wrap
        throw std::runtime_error(g.describe(s.value) + " needs " + std::to_string(s.bytes) +
                                 " bytes, beyond the graph's memory budget of " + std::to_string(opt_.max_bytes) + " bytes");
      if (n.op == Op::reshape) {
        // A view of its input's bytes, no copy, when those belong to the plan (a bound leaf can be
        // rebound between runs, so a reshape of a leaf still copies). Chains resolve to the root.
        const size_t src = slot_of.at({n.inputs[0].node, n.inputs[0].out});
        const size_t root = plan_.slots[src].alias >= 0 ? size_t(plan_.slots[src].alias) : src;
        if (!is_leaf(g.node(plan_.slots[root].value.node).op)) {
          s.alias = int(root);
          s.in_arena = false;
        }
      }
      slot_of[{i, k}] = plan_.slots.size();
      plan_.slots.push_back(s);
    }
    for (const Value& in : n.inputs) {
      MemoryPlan::Slot& s = plan_.slots[slot_of.at({in.node, in.out})];
      s.last = std::max(s.last, step);
      if (s.alias >= 0) plan_.slots[size_t(s.alias)].last = std::max(plan_.slots[size_t(s.alias)].last, step);
    }
  }
  // Requested outputs get tensors of their own (they outlive the run), except under guards, where
  // every value sits between sentinels in the arena and results are copied out.
  // A requested reshape is then a copy again (a view would tie the result to the arena).
  if (!opt_.guard_bytes)
    for (const Value& o : outputs_) {
      plan_.slots[slot_of.at({o.node, o.out})].in_arena = false;
      plan_.slots[slot_of.at({o.node, o.out})].alias = -1;
    }
  viewed_step_.assign(plan_.steps.size(), false);
  for (const MemoryPlan::Slot& s : plan_.slots)
    if (s.alias >= 0) viewed_step_[size_t(s.first)] = true;

  // Storage: the values precision_pass.h's rule stores in bf16 take 2 bytes an element.
  if (bf16_storage_) {
    std::vector<bool> view(size_t(g.size()), false);
    for (const MemoryPlan::Slot& s : plan_.slots)
      if (s.alias >= 0) view[size_t(s.value.node)] = true;
    bf16_values_ = choose_bf16(g, plan_.steps, outputs_, view, PrecisionRule{!matmul_fp32_, !attention_fp32(opt_)});
    for (MemoryPlan::Slot& s : plan_.slots)
      if (bf16_values_.count({s.value.node, s.value.out})) {
        s.dtype = DType::bf16;
        s.bytes = size_t(shape_numel(g.spec(s.value).shape)) * dtype_size(DType::bf16);
      }
  }

  // Assign arena offsets: at each step, outputs are placed before the inputs' slots are freed,
  // so a kernel never writes over what it reads.
  std::vector<std::vector<size_t>> ending(plan_.steps.size());
  for (size_t s = 0; s < plan_.slots.size(); s++)
    if (plan_.slots[s].in_arena) ending[size_t(plan_.slots[s].last)].push_back(s);
  Arena arena;
  size_t next = 0;
  for (size_t step = 0; step < plan_.steps.size(); step++) {
    for (; next < plan_.slots.size() && plan_.slots[next].first == int(step); next++) {
      MemoryPlan::Slot& s = plan_.slots[next];
      if (!s.in_arena) continue;
      size_t bytes = align_up(std::max<size_t>(s.bytes, 1)) + 2 * opt_.guard_bytes;
      plan_.unshared_bytes += bytes;
      s.offset = (opt_.reuse_memory ? arena.alloc(bytes) : plan_.unshared_bytes - bytes) + opt_.guard_bytes;
    }
    if (opt_.reuse_memory)
      for (size_t s : ending[step]) arena.release(plan_.slots[s].offset, align_up(std::max<size_t>(plan_.slots[s].bytes, 1)));
  }
  plan_.arena_bytes = opt_.reuse_memory ? arena.top() : plan_.unshared_bytes;

  if (opt_.max_bytes) {
    // Slot sizes are at most 2^63 (shape_numel caps elements at 2^60), so the sums saturate
    // rather than wrap only if added with care.
    size_t total = plan_.arena_bytes, largest = 0;
    Value biggest;
    for (const MemoryPlan::Slot& s : plan_.slots) {
      if (!s.in_arena && s.alias < 0 && !is_leaf(g.node(s.value.node).op))  // a view holds no bytes of its own
        total = total > SIZE_MAX - s.bytes ? SIZE_MAX : total + s.bytes;
      if (!is_leaf(g.node(s.value.node).op) && s.bytes >= largest) largest = s.bytes, biggest = s.value;
    }
    if (total > opt_.max_bytes)
      throw std::runtime_error("the graph needs " + std::to_string(total) + " bytes of working memory, beyond the budget of " +
                               std::to_string(opt_.max_bytes) + " bytes" +
                               (biggest.valid() ? "; its largest value is " + g.describe(biggest) + " (" +
                                                      std::to_string(largest) + " bytes)"
                                                : std::string()));
  }
  plan_device_costs();
  if (opt_.count_only) return;
  arena_ = Tensor({int64_t(plan_.arena_bytes)}, DType::u8, opt_.device);
  for (const MemoryPlan::Slot& s : plan_.slots) {
    const OutSpec& spec = g.spec(s.value);
    const DType t = s.dtype;
    if (s.alias >= 0) {
      const Value root = plan_.slots[size_t(s.alias)].value;
      values_[{s.value.node, s.value.out}] = values_.at({root.node, root.out}).view(spec.shape);
    }
    else if (s.in_arena) values_[{s.value.node, s.value.out}] = Tensor::over(arena_, s.offset, spec.shape, t);
    else if (!is_leaf(g.node(s.value.node).op)) values_[{s.value.node, s.value.out}] = Tensor(spec.shape, t, opt_.device);
  }
}

void Executor::plan_device_costs() {
  const bool on_cuda = opt_.device == Device::cuda;
  std::vector<Shape> ins, outs;
  bool has_matmul = false;
  for (size_t step = 0; step < plan_.steps.size(); step++) {
    const int id = plan_.steps[step];
    const Node& n = g_.node(id);
    ins.clear();
    outs.clear();
    for (const Value& v : n.inputs) ins.push_back(g_.spec(v).shape);
    for (const OutSpec& o : n.outs) outs.push_back(o.shape);
    if (on_cuda) {
      try {
        // A parameter read by a bf16 matmul comes from the bf16 weight cache: converted once per
        // write (upload or optimizer update), not per use.
        uint32_t cached = 0;
        if ((n.op == Op::matmul || n.op == Op::matmul_add) && !matmul_fp32_)
          for (size_t i = 0; i < n.inputs.size() && i < 2; i++)
            if (g_.node(n.inputs[i].node).op == Op::param) {
              cached |= 1u << i;
              if (std::find(cached_weights_.begin(), cached_weights_.end(), n.inputs[i].node) == cached_weights_.end())
                cached_weights_.push_back(n.inputs[i].node);
            }
        step_cached_.push_back(cached);
        // The node's bf16-stored inputs and outputs: no conversion, no pack (device_ledger.h).
        uint32_t bf16_in = 0, bf16_out = 0;
        for (size_t i = 0; i < n.inputs.size() && i < 32; i++)
          if (bf16_values_.count({n.inputs[i].node, n.inputs[i].out})) bf16_in |= 1u << i;
        for (size_t k = 0; k < n.outs.size() && k < 32; k++)
          if (bf16_values_.count({id, int(k)})) bf16_out |= 1u << k;
        step_cost_.push_back(viewed_step_[step] ? CudaNodeCost{}
                                                : cuda_node_cost(n, ins, outs, !matmul_fp32_, !attention_fp32(opt_), cached,
                                                                 bf16_in, bf16_out));
      } catch (const std::exception& e) {
        throw std::runtime_error(g_.describe(Value{id, 0}) + ": " + e.what());
      }
      has_matmul = has_matmul || n.op == Op::matmul || n.op == Op::matmul_add;
    }
  }
  for (const MemoryPlan::Slot& s : plan_.slots) {
    if (s.in_arena || s.alias >= 0) continue;
    if (is_leaf(g_.node(s.value.node).op)) device_bytes_.leaves += int64_t(s.bytes);
    else device_bytes_.outputs += int64_t(s.bytes);
  }
  device_bytes_.arena = int64_t(plan_.arena_bytes);
  for (int leaf : cached_weights_) device_bytes_.weight_copies += shape_numel(g_.spec(Value{leaf, 0}).shape) * 2;
  if (on_cuda) {
    int64_t cap = 0;
    for (const CudaNodeCost& c : step_cost_) cap = cuda_scratch_after(cap, c.scratch_bytes);
    // kernels/cuda/matmul.cu: cuBLASLt's 32 MiB workspace, allocated at the first matmul.
    lt_workspace_bytes_ = has_matmul ? int64_t(32) << 20 : 0;
    device_bytes_.scratch = cap + lt_workspace_bytes_;
  }
}

int64_t Executor::value_bytes(Value v) const {
  const OutSpec& spec = g_.spec(v);
  return shape_numel(spec.shape) * int64_t(dtype_size(spec.integer ? DType::i32 : opt_.real));
}

bool Executor::host_side(int leaf_node) const {
  if (host_bound_.count(leaf_node)) return true;
  return opt_.count_only && !values_.count({leaf_node, 0}) && !resident_.count(leaf_node);
}

namespace {
std::mutex g_profiles_mu;
std::map<std::string, std::pair<double, int64_t>> g_profiles;  // merged at destruction
DeviceLedger g_ledger;                                         // merged at destruction
}  // namespace

std::string Executor::profile_report() const {
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> rows(profile_.begin(), profile_.end());
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.first > b.second.first; });
  double total = 0;
  for (auto& r : rows) total += r.second.first;
  std::ostringstream o;
  char line[128];
  std::snprintf(line, sizeof line, "%-24s %10s %8s %6s\n", "op", "seconds", "calls", "share");
  o << line;
  for (auto& [op, v] : rows) {
    std::snprintf(line, sizeof line, "%-24s %10.3f %8lld %5.1f%%\n", op.c_str(), v.first, (long long)v.second,
                  total > 0 ? 100 * v.first / total : 0.0);
    o << line;
  }
  if (opt_.device == Device::cuda) o << "device: " << ledger_total_.report() << "\n";
  return o.str();
}

void print_profiles_at_exit() {
  std::lock_guard<std::mutex> lock(g_profiles_mu);
  if (g_ledger.runs > 0) std::fprintf(stderr, "GOLFRT_PROFILE: device ledger over all graphs: %s\n", g_ledger.report().c_str());
  if (g_profiles.empty()) return;
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> rows(g_profiles.begin(), g_profiles.end());
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.first > b.second.first; });
  double total = 0;
  for (auto& r : rows) total += r.second.first;
  std::fprintf(stderr, "GOLFRT_PROFILE: time per op over all graphs\n%-24s %10s %8s %6s\n", "op", "seconds", "calls", "share");
  for (auto& [op, v] : rows)
    std::fprintf(stderr, "%-24s %10.3f %8lld %5.1f%%\n", op.c_str(), v.first, (long long)v.second, 100 * v.first / total);
}

Executor::~Executor() {
#ifdef GOLFRT_WITH_CUDA
  cuda::destroy_graph(exec_graph_);
#endif
  if (!profile_on_) return;
  std::lock_guard<std::mutex> lock(g_profiles_mu);
  if (opt_.device == Device::cuda) g_ledger.add(ledger_total_);
  for (auto& [op, v] : profile_) {
    g_profiles[op].first += v.first;
    g_profiles[op].second += v.second;
  }
}

bool Executor::needs(const std::string& leaf_name) const { return leaves_.count(leaf_name) != 0; }

void Executor::bind(const std::string& name, const Tensor& t) {
  auto it = leaves_.find(name);
  if (it == leaves_.end()) return;  // the planned steps never read it
  const OutSpec& spec = g_.node(it->second).outs[0];
  DType want = spec.integer ? DType::i32 : opt_.real;
  if (t.shape() != spec.shape || t.dtype() != want)
    throw std::invalid_argument("executor: '" + name + "' expects " + shape_str(spec.shape) + " " + dtype_name(want) +
                                ", got " + shape_str(t.shape()) + " " + dtype_name(t.dtype()));
  resident_.erase(it->second);
  if (t.device() == opt_.device) {
    host_bound_.erase(it->second);  // count-only: a device tensor is used in place as well  // the mirror stays allocated for a later host bind
    values_[{it->second, 0}] = t;
    return;
  }
  if (opt_.device == Device::cpu)
    throw std::invalid_argument("executor: '" + name + "' is a " + device_name(t.device()) +
                                " tensor, and this executor runs on the CPU");
  // A host tensor for a device executor: mirrored (uploaded before each run, downloaded after an
  // effect wrote it). The mirror is kept across binds of the same leaf.
  host_bound_[it->second] = t;
  if (opt_.count_only) return;  // no mirror: nothing is allocated when counting
  auto m = mirrors_.find(it->second);
  if (m == mirrors_.end()) m = mirrors_.emplace(it->second, Tensor(spec.shape, want, opt_.device)).first;
  values_[{it->second, 0}] = m->second;
}

void Executor::bind_resident(const std::string& name) {
  if (!opt_.count_only) throw std::logic_error("executor: bind_resident('" + name + "') is for count-only plans");
  auto it = leaves_.find(name);
  if (it == leaves_.end()) return;
  host_bound_.erase(it->second);
  resident_.insert(it->second);
}

void Executor::bind_params(ParamStore& store, const std::string& set) {
  for (const auto& [name, node] : leaves_)
    if (g_.node(node).op == Op::param) bind(name, store.get(name, set));
}

bool Executor::graph_mode() const {
  // Per-op profiling times the launches one by one: it runs them outside a graph.
  return opt_.graph && opt_.device == Device::cuda && !profile_on_;
}

void Executor::run() {
  if (!opt_.count_only)
    for (const auto& [name, node] : leaves_)
      if (!values_.count({node, 0}))
        throw std::runtime_error(std::string("executor: ") + op_info(g_.node(node).op).name + " '" + name +
                                 "' is not bound to a tensor");
  const bool perform = !opt_.count_only;
  DeviceLedger ledger;
  ledger.runs = 1;
  DevicePath dev(ledger, perform);
  int64_t allocs_before = 0, alloc_bytes_before = 0, conversions_before = 0;
  device_allocation_totals(&allocs_before, &alloc_bytes_before);
#ifdef GOLFRT_WITH_CUDA
  if (opt_.device == Device::cuda && perform && !standin_) conversions_before = cuda_weight_conversions();
#endif
  prepare(dev);
  if (!graph_mode() || graph_runs_ == 0) {
    launch(dev, LaunchMode::direct);  // without graphs, or the warm-up run that settles allocations
  } else {
    std::vector<const void*> key = graph_key();
    if (!captured_ || key != graph_key_) {
      captured_ = false;
      launch(dev, LaunchMode::capture);
      graph_key_ = std::move(key);
      captured_ = true;
      ledger.captures++;
    }
    replay(dev);
    ledger.graph_launches++;
  }
  if (graph_mode()) graph_runs_++;
  finish(dev, allocs_before, alloc_bytes_before, conversions_before);
  ledger_ = ledger;
  ledger_total_.add(ledger);
}

bool Executor::standin_weight_stale(int leaf) const {
  // A host-bound weight's mirror was written by this run's upload, so its count moved too.
  auto v = values_.find({leaf, 0});
  if (v == values_.end()) return true;  // counting: the weight's writes are unknown
  auto seen = weight_writes_seen_.find(leaf);
  return seen == weight_writes_seen_.end() || seen->second != v->second.writes();
}

void Executor::convert_standin_weight(int leaf, DevicePath& dev) {
  dev.launched(1);
  auto v = values_.find({leaf, 0});
  if (v != values_.end()) weight_writes_seen_[leaf] = v->second.writes();
}

void Executor::prepare(DevicePath& dev) {
  const bool on_cuda = opt_.device == Device::cuda;
  const bool perform = !opt_.count_only;
  if (on_cuda)
    for (const auto& [name, node] : leaves_)
      if (host_side(node)) {
        auto h = host_bound_.find(node);
        dev.upload(value_bytes(Value{node, 0}), perform ? &values_.at({node, 0}) : nullptr,
                   h == host_bound_.end() ? nullptr : &h->second);
      }
  if (opt_.guard_bytes && perform) {
    // Sentinels everywhere: the values are written by their nodes before being read.
    Tensor pattern({arena_.numel()}, DType::u8);
    std::memset(pattern.raw(), kGuardByte, pattern.nbytes());
    if (on_cuda) dev.upload(int64_t(pattern.nbytes()), &arena_, &pattern);
    else arena_.copy_from(pattern);
  }
  if (!on_cuda || opt_.lazy_weight_conversion) return;
  // The bf16 weight cache's conversions, after the uploads (a host-bound weight's copy is stale
  // once its mirror is written) and before any launch: one per weight written since the last run
  // (an upload, an optimizer's update), none for the others. On a GPU the cache makes them (and
  // the ledger counts the difference in its conversions); counting and on the stand-in, the
  // executor counts them as the cache would make them.
#ifdef GOLFRT_WITH_CUDA
  if (perform && !standin_) {
    weight_copies_.clear();
    if (matmul_fp32_) return;
    for (int leaf : cached_weights_) weight_copies_.push_back(cuda_prepare_weight(values_.at({leaf, 0})));
    return;
  }
#endif
  for (int leaf : cached_weights_)
    if (standin_weight_stale(leaf)) convert_standin_weight(leaf, dev);
}

std::vector<const void*> Executor::graph_key() const {
  std::vector<const void*> key;
  key.reserve(values_.size() + weight_copies_.size() + 2);
  for (const auto& [v, t] : values_) key.push_back(t.raw());
  key.push_back(arena_.raw());
#ifdef GOLFRT_WITH_CUDA
  if (!standin_ && !opt_.count_only) {
    key.push_back(reinterpret_cast<const void*>(uintptr_t(cuda::scratch_generation())));
    key.insert(key.end(), weight_copies_.begin(), weight_copies_.end());
  }
#endif
  return key;
}

void Executor::run_node(int step, const Node& n, std::vector<Tensor>& ins, std::vector<Tensor>& outs, DevicePath& dev) {
#ifdef GOLFRT_WITH_CUDA
  if (opt_.device == Device::cuda && !standin_) {
    CudaRunOptions cuda_opt;
    cuda_opt.matmul_fp32 = matmul_fp32_;
    cuda_opt.attention_fp32 = attention_fp32(opt_);
    cuda_opt.cached_inputs = cuda_opt.matmul_fp32 ? 0 : step_cached_[size_t(step)];
    cuda_run_node(n, ins, outs, step, cuda_opt);
    if (profile_on_) dev.sync();  // per-op times need the kernels finished
    return;
  }
#endif
  (void)step;
  (void)dev;
  // The CPU, or the stand-in device: its tensors are host memory, and the node's launches were
  // counted by launch() as the CUDA backend would make them.
  cpu_run_node(n, ins, outs);
}

namespace {

// What a capture may not do, counted: copies, syncs and allocations, in the run's ledger and in the
// process (runtime/device_memory.h, kernels/cuda/runtime_api's allocation counter).
struct Unrecordable {
  int64_t ledger_copies = 0, ledger_syncs = 0, ledger_allocs = 0, process_copies = 0, process_allocs = 0, device_allocs = 0;
  static Unrecordable now(const DeviceLedger& l) {
    Unrecordable u;
    u.ledger_copies = l.uploads + l.downloads;
    u.ledger_syncs = l.syncs;
    u.ledger_allocs = l.allocations;
    const DeviceTraffic t = device_traffic();
    u.process_copies = t.uploads + t.downloads;
    u.process_allocs = t.allocations;
    int64_t bytes = 0;
    device_allocation_totals(&u.device_allocs, &bytes);
    return u;
  }
  std::string since(const Unrecordable& b) const {
    std::string why;
    auto add = [&](int64_t n, const char* what) {
      if (n) why += (why.empty() ? "" : ", ") + std::to_string(n) + " " + what;
    };
    add(ledger_copies - b.ledger_copies + process_copies - b.process_copies, "host<->device copies");
    add(ledger_syncs - b.ledger_syncs, "stream syncs");
    add(ledger_allocs - b.ledger_allocs + process_allocs - b.process_allocs + device_allocs - b.device_allocs,
        "device allocations");
    return why;
  }
};

}  // namespace

void Executor::launch(DevicePath& dev, LaunchMode mode) {
  const bool on_cuda = opt_.device == Device::cuda;
  const bool perform = !opt_.count_only;
  const bool capture = mode == LaunchMode::capture;
  const bool real_gpu = on_cuda && perform && !standin_;
  (void)real_gpu;
  if (capture) standin_graph_.clear();
#ifdef GOLFRT_WITH_CUDA
  if (capture && real_gpu) {
    cuda::begin_capture();
    cuda_freeze_weight_cache(true);  // every cached weight was made current by prepare
  }
#endif
  std::vector<Tensor> ins, outs;
  for (int step = 0; step < int(plan_.steps.size()); step++) {
    const int id = plan_.steps[size_t(step)];
    const Node& n = g_.node(id);
    if (is_leaf(n.op) || viewed_step_[size_t(step)]) continue;  // a viewed reshape has nothing to run
    // Captured launches are counted once, as the graph launch that replays them.
    if (on_cuda && !capture) dev.launched(step_cost_[size_t(step)].launches);
    if (!perform) {
      if (on_cuda && profile_on_) dev.sync();
      continue;
    }
    ins.clear();
    outs.clear();
    for (const Value& v : n.inputs) ins.push_back(values_.at({v.node, v.out}));
    for (int k = 0; k < int(n.outs.size()); k++) outs.push_back(values_.at({id, k}));
    const Unrecordable before = capture ? Unrecordable::now(dev.ledger()) : Unrecordable{};
    try {
      if (standin_ && step_cached_.size() > size_t(step) && step_cached_[size_t(step)] && !opt_.matmul_fp32) {
        // The stand-in's bf16 weight cache: a weight still stale here (written earlier in this run,
        // or left lazy) would be converted by the matmul; inside a capture that is refused, as the
        // frozen cache refuses it on a GPU.
        for (size_t i = 0; i < 2; i++) {
          if (!(step_cached_[size_t(step)] & (1u << i))) continue;
          const int leaf = n.inputs[i].node;
          if (!standin_weight_stale(leaf)) continue;
          if (capture)
            throw std::logic_error("bf16 weight cache: a miss inside a CUDA graph capture: weight '" + g_.node(leaf).str +
                                   "' was not converted by the run's prepare; its conversion belongs there, before the "
                                   "captured launches");
          convert_standin_weight(leaf, dev);
        }
      }
      if (capture && standin_) {
        standin_graph_.push_back(RecordedStep{step, ins, outs});  // recorded, run at the replay
      } else if (profile_on_) {
        auto t0 = std::chrono::steady_clock::now();
        run_node(step, n, ins, outs, dev);
        auto& p = profile_[op_info(n.op).name];
        p.first += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        p.second++;
      } else {
        run_node(step, n, ins, outs, dev);
      }
      if (capture) {
        const std::string why = Unrecordable::now(dev.ledger()).since(before);
        if (!why.empty()) throw std::logic_error("inside a CUDA graph capture: " + why + " (nothing may be copied, waited for "
                                                 "or allocated among captured launches)");
      }
    } catch (const std::exception& e) {
#ifdef GOLFRT_WITH_CUDA
      if (capture && real_gpu) {
        cuda::abort_capture();
        cuda_freeze_weight_cache(false);
      }
#endif
      if (capture) standin_graph_.clear();
      throw std::runtime_error(g_.describe(Value{id, 0}) + (capture ? ": while capturing a CUDA graph: " : ": ") + e.what());
    }
  }
#ifdef GOLFRT_WITH_CUDA
  if (capture && real_gpu) {
    cuda_freeze_weight_cache(false);
    cuda::ExecGraph* previous = exec_graph_;
    exec_graph_ = nullptr;  // end_capture consumes it: updated in place, or destroyed
    exec_graph_ = cuda::end_capture(previous);
  }
#endif
}

void Executor::replay(DevicePath& dev) {
  (void)dev;
  if (opt_.count_only) return;
#ifdef GOLFRT_WITH_CUDA
  if (!standin_) cuda::launch_graph(exec_graph_);
#endif
  for (RecordedStep& r : standin_graph_) {
    const int id = plan_.steps[size_t(r.step)];
    try {
      cpu_run_node(g_.node(id), r.ins, r.outs);
    } catch (const std::exception& e) {
      throw std::runtime_error(g_.describe(Value{id, 0}) + ": " + e.what());
    }
  }
  // The graph wrote its effects' targets without the host taking their writable pointers: their
  // write counts move here, so a bf16 copy of one (another executor's cached weight, as the
  // optimizers' update writes the weights) is seen stale and converted in that executor's prepare.
  for (int leaf : written_leaves_) values_.at({leaf, 0}).raw();
}

void Executor::finish(DevicePath& dev, int64_t allocs_before, int64_t alloc_bytes_before, int64_t conversions_before) {
  const bool on_cuda = opt_.device == Device::cuda;
  const bool perform = !opt_.count_only;
  (void)conversions_before;
  if (on_cuda) {
#ifdef GOLFRT_WITH_CUDA
    // The cached weights' conversions, on a GPU as the cache made them (in prepare; lazily in a
    // matmul only where a weight was written earlier in the same run, outside a capture).
    if (perform && !standin_) dev.launched(cuda_weight_conversions() - conversions_before);
#endif
    // Kernels cannot throw: a validating kernel raised a fault naming its node's step instead.
    int tag = -1;
    std::string fault = may_fault_ ? dev.take_fault(&tag) : std::string();
    if (!fault.empty()) {
      int id = tag >= 0 && tag < int(plan_.steps.size()) ? plan_.steps[size_t(tag)] : plan_.steps.back();
      throw std::runtime_error(g_.describe(Value{id, 0}) + ": " + op_info(g_.node(id).op).name + ": " + fault);
    }
    for (int node : written_leaves_)
      if (host_side(node)) {
        auto h = host_bound_.find(node);
        dev.download(value_bytes(Value{node, 0}), h == host_bound_.end() ? nullptr : &h->second,
                     perform ? &values_.at({node, 0}) : nullptr);
      }
  }
  if (opt_.guard_bytes && perform) {
    Tensor host_arena = arena_;
    if (on_cuda) {
      host_arena = Tensor({arena_.numel()}, DType::u8);
      dev.download(int64_t(arena_.nbytes()), &host_arena, &arena_);
    }
    check_guards(host_arena);
  }
  results_.clear();
  for (const Value& o : outputs_) {
    if (!perform) {
      if (on_cuda) dev.download(value_bytes(o), nullptr, nullptr);
      continue;
    }
    const Tensor& v = values_.at({o.node, o.out});
    // Host results: a device value is copied down; a guarded one is copied out of the arena.
    if (on_cuda) {
      Tensor host(v.shape(), v.dtype(), Device::cpu);
      dev.download(int64_t(v.nbytes()), &host, &v);
      results_.push_back(host);
    } else {
      results_.push_back(opt_.guard_bytes ? v.to_device(Device::cpu) : v);
    }
  }
  if (on_cuda) {
    if (perform) {
      int64_t allocs = 0, alloc_bytes = 0;
      device_allocation_totals(&allocs, &alloc_bytes);
      dev.allocated(allocs - allocs_before, alloc_bytes - alloc_bytes_before);
    }
    if (!perform || standin_) {
      // What the kernels' scratch and cuBLASLt's workspace would allocate (kernels/cuda/).
      for (const CudaNodeCost& c : step_cost_) {
        int64_t grown = cuda_scratch_after(counted_scratch_, c.scratch_bytes);
        if (grown != counted_scratch_) dev.allocated(1, grown), counted_scratch_ = grown;
      }
      if (!counted_lt_workspace_ && lt_workspace_bytes_ > 0) dev.allocated(1, lt_workspace_bytes_);
      counted_lt_workspace_ = true;
      // The bf16 weight cache's copies, one allocation per weight when first converted.
      if (!counted_weight_copies_ && !cached_weights_.empty())
        dev.allocated(int64_t(cached_weights_.size()), device_bytes_.weight_copies);
      counted_weight_copies_ = true;
    }
  }
}

void Executor::check_guards(const Tensor& bytes) const {
  const unsigned char* a = bytes.data<unsigned char>();
  for (const MemoryPlan::Slot& s : plan_.slots) {
    if (!s.in_arena) continue;
    const size_t data_end = s.offset + align_up(std::max<size_t>(s.bytes, 1));
    auto broken = [&](size_t from, size_t to) {
      for (size_t i = from; i < to; i++)
        if (a[i] != kGuardByte) return true;
      return false;
    };
    // The bytes between the value's end and its aligned end belong to no one: checked too.
    if (broken(s.offset - opt_.guard_bytes, s.offset) || broken(s.offset + s.bytes, data_end + opt_.guard_bytes))
      throw std::runtime_error(g_.describe(s.value) + ": a kernel wrote outside this value's " + std::to_string(s.bytes) +
                               " bytes (guard bytes overwritten)");
  }
}

}  // namespace golf
