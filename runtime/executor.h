// The executor: plans memory for a graph once and runs it many times.
//
// Planning keeps only the nodes the requested outputs and the effects need (dead code is
// dropped), gives every intermediate value a slot in one arena by liveness (a slot is reused once
// its value's last reader has run, never while it is live; a node's outputs never share bytes
// with its inputs, except a reshape of an intermediate: a view of its input's bytes that runs
// nothing, its input kept live while the view is read), and checks every op against the backend
// before anything runs: an op the backend lacks is an error at plan time, never a silent fallback.
//
// On Device::cuda the arena and every intermediate live in device memory. A leaf may be bound to a
// device tensor (used in place: the trainer keeps parameters, gradients and optimizer state there,
// docs/cuda.md "Residency") or to a host tensor: then the executor keeps a device mirror, uploads
// it before each run and, when an effect writes it (assign, accumulate, a KV cache), downloads it
// after the run (data, schedule scalars, callers that keep their state on the host). Results are
// always host tensors. The fault record is read after a run only when the plan has a kernel that
// can raise one (ids, targets, cache positions). On the stand-in device (runtime/device_memory.h)
// every node runs on the CPU kernels over host memory and is counted as the CUDA backend's.
//
// A device run is prepare (host-bound leaves uploaded, stale bf16 weight copies converted), launch
// (the nodes' kernels, nothing else: capturable as a CUDA graph with ExecOptions::graph) and
// finish (fault record, downloads, results); docs/cuda.md "CUDA graphs".
//
// Every copy, allocation and sync of the device path is counted (runtime/device_ledger.h):
// ledger() is the last run's, ledger_total() every run's; GOLFRT_PROFILE prints them. With
// ExecOptions::count_only the executor plans and counts but allocates nothing and runs no kernel.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "runtime/device_ledger.h"
#include "runtime/ops.h"
#include "runtime/params.h"

namespace golf {

namespace cuda {
struct ExecGraph;  // kernels/cuda/runtime_api.h: an instantiated CUDA graph
}

// Where real intermediate values are stored in bf16 (runtime/precision_pass.h: DESIGN §3's rule,
// matmul operands and attention's Q/K/V/O). automatic: the rule on Device::cuda (the GPU and the
// stand-in device), fp32 on the CPU (its golden numbers); bf16: the rule on any device, so the
// CPU reproduces the stand-in's numbers; fp32: nothing in bf16. Leaves and results are never bf16.
enum class RealStorage { automatic, fp32, bf16 };
const char* real_storage_name(RealStorage s);
RealStorage real_storage_from_name(const std::string& name);  // auto, fp32, bf16; throws otherwise

struct ExecOptions {
  DType real = DType::f32;  // element type of real values (f32 or f64 on CPU; f32 on CUDA)
  bool reuse_memory = true;
  Device device = Device::cpu;
  bool matmul_fp32 = false;  // CUDA: fp32 matmul inputs instead of bf16 (DESIGN §3); tests use it
  // CUDA: attention on the fp32 CUDA-core kernel instead of the bf16 tensor-core one (DESIGN §3);
  // tests use it. GOLFRT_ATTENTION=fp32 sets it for every executor.
  bool attention_fp32 = false;
  // Tests: surround every intermediate value with this many sentinel bytes and check them after
  // each run, so a kernel writing past its output is caught and named. Turns reuse off.
  size_t guard_bytes = 0;
  // Plan and count only: no device allocation, no copy, no kernel; run() fills the ledger with what
  // a run would do and leaves no results. Works without a GPU and in builds without CUDA, so a
  // shape too big for this machine can still be planned. A leaf left unbound counts as bound to a
  // host tensor (uploaded each run, downloaded when written), as the trainer binds its state today.
  bool count_only = false;
  // An untrusted graph's memory budget (0: none): the arena plus the requested outputs' own
  // tensors. Checked once the plan is made, before any of it is allocated; the error names the
  // largest value and the script line that built it.
  size_t max_bytes = 0;
  // Device::cuda (and the stand-in device): run the plan's launches as one CUDA graph. The first
  // run is a plain warm-up (allocations, scratch growth, cuBLASLt's workspace and plans settle);
  // the second captures launch() on the one stream and instantiates it; every later run is prepare,
  // one graph launch and finish. What the captured launches point at (every bound tensor, the
  // arena, the kernels' scratch buffer, the bf16 weight copies) is checked before each run, and a
  // change recaptures: a graph is never replayed stale. Off while profiling (per-op times need
  // the launches one by one). docs/cuda.md "CUDA graphs".
  bool graph = false;
  // Tests: leave the bf16 weight conversions to the matmuls inside the launches (lazily, as before
  // prepare made them), to show that a capture refuses a conversion among its launches.
  bool lazy_weight_conversion = false;

  RealStorage storage = RealStorage::automatic;
};

struct MemoryPlan {
  struct Slot {
    Value value;
    size_t offset = 0, bytes = 0;
    int first = 0, last = 0;  // steps (indices into `steps`) where it is written and last read
    bool in_arena = false;    // false: a leaf (bound tensor), a requested output (own tensor) or a view
    int alias = -1;           // a reshape viewing this slot's bytes (no copy): the slot it views
    DType dtype = DType::f32; // its element type: i32, the real type, or bf16 (precision_pass.h)
  };
  std::vector<int> steps;  // node ids, in execution order
  std::vector<Slot> slots;
  size_t arena_bytes = 0;
  size_t unshared_bytes = 0;  // what the arena values would need without reuse
};

class Executor {
 public:
  Executor(const Graph& g, const std::vector<Var>& outputs, ExecOptions opt = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Binds a leaf (input or parameter) by name to a tensor; effects write into it in place.
  void bind(const std::string& name, const Tensor& t);
  void bind_params(ParamStore& store, const std::string& set = "live");
  // Count-only plans: the leaf lives on the device (as the trainer keeps parameters, gradients and
  // optimizer state), so it is counted as neither uploaded nor downloaded. A later bind() undoes it.
  void bind_resident(const std::string& name);
  bool needs(const std::string& leaf_name) const;  // is the leaf read by the planned steps?

  void run();
  const Tensor& result(size_t i) const { return results_.at(i); }
  const MemoryPlan& plan() const { return plan_; }

  // Per-op wall time, summed over runs, when GOLFRT_PROFILE is set in the environment (or
  // enable_profile() is called); profile_report() prints the table, slowest first.
  void enable_profile() { profile_on_ = true; }
  std::string profile_report() const;
  const ExecOptions& options() const { return opt_; }
  // Whether this plan stores any value in bf16 (ExecOptions::storage resolved for its device).
  bool bf16_storage() const { return bf16_storage_; }

  // The device work of the last run() and of all runs (zeros but `runs` on the CPU).
  const DeviceLedger& ledger() const { return ledger_; }
  const DeviceLedger& ledger_total() const { return ledger_total_; }
  // Device memory this plan holds while it runs (on the CPU: the same host bytes, no scratch).
  const DeviceBytes& device_bytes() const { return device_bytes_; }
  // ExecOptions::graph: the runs that captured the launches so far (1 once settled; one more per
  // change of what they point at).
  int64_t captures() const { return ledger_total_.captures; }

 private:
  const Graph& g_;
  ExecOptions opt_;
  std::vector<Value> outputs_;
  MemoryPlan plan_;
  Tensor arena_;
  std::map<std::pair<int, int>, Tensor> values_;  // every value the steps read or write
  std::map<std::string, int> leaves_;             // leaf name -> node id
  std::vector<Tensor> results_;
  std::map<int, Tensor> host_bound_;  // CUDA: leaves bound to host tensors (node -> host tensor)
  std::map<int, Tensor> mirrors_;     // and their device copies
  std::vector<int> written_leaves_;   // leaves an effect writes (downloaded after a CUDA run)
  std::set<int> resident_;            // count-only: leaves marked device-resident (bind_resident)
  bool standin_ = false;              // Device::cuda on the stand-in device (CPU kernels, counted)
  bool may_fault_ = false;            // the plan has a kernel that can raise a fault
  std::vector<bool> viewed_step_;     // per step: a reshape planned as a view (nothing runs)
  void check_guards(const Tensor& arena_bytes) const;
  // The ledger's side of the plan: per-step CUDA launches and scratch, and the device bytes.
  void plan_device_costs();
  int64_t value_bytes(Value v) const;
  bool host_side(int leaf_node) const;  // uploaded before a run (bound to a host tensor, or unbound when counting)
  DeviceLedger ledger_, ledger_total_;
  DeviceBytes device_bytes_;
  std::vector<CudaNodeCost> step_cost_;  // CUDA: per step of the plan
  std::vector<uint32_t> step_cached_;    // CUDA: per step, the inputs read through the bf16 weight cache
  std::vector<int> cached_weights_;      // CUDA: the parameter leaves those are (each once)
  bool counted_weight_copies_ = false;   // count-only: their copies' allocations counted once
  std::map<int, uint64_t> weight_writes_seen_;  // count-only, stand-in: each weight's write count at the last run
  int64_t counted_scratch_ = 0;          // count-only: the scratch capacity the runs so far reached
  bool counted_lt_workspace_ = false;    // count-only: cuBLASLt's workspace allocated by a run
  int64_t lt_workspace_bytes_ = 0;       // CUDA: cuBLASLt's workspace, when the plan has a matmul
  std::set<std::pair<int, int>> bf16_values_;  // the values stored in bf16 (views included)
  bool bf16_storage_ = false;            // the bf16 rule applies (ExecOptions::storage, the device)
  bool matmul_fp32_ = false;             // fp32 matmuls (the option or GOLFRT_CUDA_MATMUL=fp32)
  bool profile_on_ = false;
  std::map<std::string, std::pair<double, int64_t>> profile_;  // op -> (seconds, calls)

  // A run in three parts (docs/cuda.md "CUDA graphs"): prepare makes every host-side decision and
  // copy (uploads of host-bound leaves, the bf16 weight conversions), launch only enqueues the
  // nodes' kernels (so it can be captured), finish reads the fault record and downloads.
  enum class LaunchMode { direct, capture };
  void prepare(DevicePath& dev);
  void launch(DevicePath& dev, LaunchMode mode);
  void replay(DevicePath& dev);
  void finish(DevicePath& dev, int64_t allocs_before, int64_t alloc_bytes_before, int64_t conversions_before);
  void run_node(int step, const Node& n, std::vector<Tensor>& ins, std::vector<Tensor>& outs, DevicePath& dev);
  // The stand-in's picture of the bf16 weight cache: is the leaf's copy stale (written since it
  // was converted, or never converted)? convert_standin_weight counts the conversion as it would be.
  bool standin_weight_stale(int leaf) const;
  void convert_standin_weight(int leaf, DevicePath& dev);
  // Everything a captured graph points at; a different key means the graph is stale.
  std::vector<const void*> graph_key() const;
  bool graph_mode() const;
  int64_t graph_runs_ = 0;        // performed runs in graph mode (the first is the warm-up)
  bool captured_ = false;         // a graph for graph_key_ exists
  std::vector<const void*> graph_key_;
  cuda::ExecGraph* exec_graph_ = nullptr;  // CUDA: the instantiated graph
  struct RecordedStep {           // the stand-in's graph: the nodes and the tensors they were given
    int step = 0;
    std::vector<Tensor> ins, outs;
  };
  std::vector<RecordedStep> standin_graph_;
  std::vector<const void*> weight_copies_;  // CUDA: the bf16 copies prepare made current, per cached weight
};

// Prints every profiling executor's table at exit (GOLFRT_PROFILE=1).
void print_profiles_at_exit();

}  // namespace golf
