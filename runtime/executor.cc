#include "runtime/executor.h"

#include <algorithm>
#include <limits>

#include "runtime/cpu_backend.h"

namespace golf {

namespace {

constexpr size_t kAlign = 64;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

bool is_leaf(Op op) { return op == Op::input || op == Op::param; }
bool is_effect(Op op) { return op == Op::assign || op == Op::accumulate; }

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

}  // namespace

Executor::Executor(const Graph& g, const std::vector<Var>& outputs, ExecOptions opt) : g_(g), opt_(opt) {
  if (opt_.real != DType::f32 && opt_.real != DType::f64)
    throw std::invalid_argument(std::string("executor: the CPU backend computes in f32 or f64, not ") + dtype_name(opt_.real));
  if (opt_.device != Device::cpu) {
#ifdef GOLFRT_WITH_CUDA
    throw std::runtime_error("executor: the CUDA backend has no graph executor yet; run with --device cpu");
#else
    throw std::runtime_error("executor: this golfrt was built without CUDA (configure with -DGOLFRT_CUDA=ON on a machine with nvcc)");
#endif
  }
  for (const Var& o : outputs) {
    if (o.g != &g) throw std::invalid_argument("executor: an output belongs to another graph");
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
    for (int k = 0; k < int(n.outs.size()); k++) {
      MemoryPlan::Slot s;
      s.value = Value{i, k};
      s.first = s.last = step;
      s.bytes = size_t(shape_numel(n.outs[size_t(k)].shape)) * dtype_size(n.outs[size_t(k)].integer ? DType::i32 : opt_.real);
      s.in_arena = !is_leaf(n.op);
      slot_of[{i, k}] = plan_.slots.size();
      plan_.slots.push_back(s);
    }
    for (const Value& in : n.inputs) {
      MemoryPlan::Slot& s = plan_.slots[slot_of.at({in.node, in.out})];
      s.last = std::max(s.last, step);
    }
  }
  for (const Value& o : outputs_) plan_.slots[slot_of.at({o.node, o.out})].in_arena = false;

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
      size_t bytes = align_up(std::max<size_t>(s.bytes, 1));
      plan_.unshared_bytes += bytes;
      s.offset = opt_.reuse_memory ? arena.alloc(bytes) : plan_.unshared_bytes - bytes;
    }
    if (opt_.reuse_memory)
      for (size_t s : ending[step]) arena.release(plan_.slots[s].offset, align_up(std::max<size_t>(plan_.slots[s].bytes, 1)));
  }
  plan_.arena_bytes = opt_.reuse_memory ? arena.top() : plan_.unshared_bytes;

  arena_ = Tensor({int64_t(plan_.arena_bytes)}, DType::u8);
  for (const MemoryPlan::Slot& s : plan_.slots) {
    const OutSpec& spec = g.spec(s.value);
    DType t = spec.integer ? DType::i32 : opt_.real;
    if (s.in_arena) values_[{s.value.node, s.value.out}] = Tensor::over(arena_, s.offset, spec.shape, t);
    else if (!is_leaf(g.node(s.value.node).op)) values_[{s.value.node, s.value.out}] = Tensor(spec.shape, t);
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
  values_[{it->second, 0}] = t;
}

void Executor::bind_params(ParamStore& store, const std::string& set) {
  for (const auto& [name, node] : leaves_)
    if (g_.node(node).op == Op::param) bind(name, store.get(name, set));
}

void Executor::run() {
  for (const auto& [name, node] : leaves_)
    if (!values_.count({node, 0}))
      throw std::runtime_error(std::string("executor: ") + op_info(g_.node(node).op).name + " '" + name +
                               "' is not bound to a tensor");
  std::vector<Tensor> ins, outs;
  for (int id : plan_.steps) {
    const Node& n = g_.node(id);
    if (is_leaf(n.op)) continue;
    ins.clear();
    outs.clear();
    for (const Value& v : n.inputs) ins.push_back(values_.at({v.node, v.out}));
    for (int k = 0; k < int(n.outs.size()); k++) outs.push_back(values_.at({id, k}));
    try {
      cpu_run_node(n, ins, outs);
    } catch (const std::exception& e) {
      throw std::runtime_error(g_.describe(Value{id, 0}) + ": " + e.what());
    }
  }
  results_.clear();
  for (const Value& o : outputs_) results_.push_back(values_.at({o.node, o.out}));
}

}  // namespace golf
