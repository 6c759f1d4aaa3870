// What an executor run costs on a device, counted: host↔device copies (count and bytes, by
// direction), kernel launches, device allocations made inside run(), stream syncs (issue 16).
//
// Every copy, allocation and sync of the executor's device path goes through DevicePath, which
// counts it and (unless counting only) performs it. Launches are not observed on the device: they
// are derived per node by cuda_node_cost(), which mirrors runtime/cuda_backend.cc's dispatch and
// the kernels it calls. Keep the two in step: a new kernel call there is a new launch here.
//
// Count-only mode (ExecOptions::count_only) plans and counts through the same calls but moves no
// bytes and allocates nothing, so a shape too big for this machine, or a machine without a GPU (or
// a build without CUDA), can still say what a run would move, launch and hold.
#pragma once
#include <cstdint>
#include <string>

#include "runtime/graph.h"
#include "runtime/tensor.h"

namespace golf {

struct DeviceLedger {
  int64_t runs = 0;
  int64_t uploads = 0, upload_bytes = 0;      // host -> device
  int64_t downloads = 0, download_bytes = 0;  // device -> host
  int64_t launches = 0;                       // kernels and device-side copies/memsets on the stream
  int64_t allocations = 0, allocation_bytes = 0;  // device allocations made inside run()
  int64_t syncs = 0;                              // the host waiting for the stream
  // CUDA graphs (ExecOptions::graph): a replayed run is one graph launch and no node launches
  // (`launches` then counts only what ran outside the graph: the bf16 weight conversions of
  // prepare); `captures` counts the runs that recorded the graph (the first, and each recapture).
  int64_t graph_launches = 0, captures = 0;
  void add(const DeviceLedger& o);
  std::string report() const;  // one line, for GOLFRT_PROFILE and the benchmarks
};

// Device memory a plan holds while it runs (bytes).
struct DeviceBytes {
  int64_t arena = 0;    // the intermediates' arena
  int64_t leaves = 0;   // every bound leaf (parameters, gradients, state, data) on the device
  int64_t outputs = 0;  // requested outputs with their own buffers
  int64_t scratch = 0;  // the kernels' grow-only scratch at its largest request (plus its growth)
  int64_t weight_copies = 0;  // bf16 copies of the weights that matmuls read (runtime/bf16_weight_cache.h)
  int64_t total() const { return arena + leaves + outputs + scratch + weight_copies; }
};

// What one node costs on the CUDA backend: stream launches (kernels, device copies and memsets)
// and the scratch bytes its kernels ask for. Throws for an op with no CUDA kernel.
struct CudaNodeCost {
  int64_t launches = 0;
  int64_t scratch_bytes = 0;
};
// attention_bf16: attention and its backward on the tensor-core kernel (the default), else fp32.
// cached_inputs: bit i set when input i is a weight whose bf16 copy comes from the weight cache
// (CudaRunOptions::cached_inputs): its conversion is not the node's, it is counted once per write.
// bf16_inputs / bf16_outputs: bit i set when that value is stored in bf16 (runtime/precision_pass.h):
// a matmul reads such an operand as it is (no conversion launch, no scratch for it), and attention
// whose q, k, v are stored in bf16 reads them in place (the direct path: no pack, no pack scratch).
CudaNodeCost cuda_node_cost(const Node& n, const std::vector<Shape>& ins, const std::vector<Shape>& outs,
                            bool matmul_bf16, bool attention_bf16 = true, uint32_t cached_inputs = 0,
                            uint32_t bf16_inputs = 0, uint32_t bf16_outputs = 0);
// The scratch buffer's capacity after a request of `bytes` to one of `capacity` (it grows by half
// again, as kernels/cuda/runtime_api.cu does): the same value when no allocation is needed.
int64_t cuda_scratch_after(int64_t capacity, int64_t bytes);

// The counted door to the device. `perform` false: count only.
class DevicePath {
 public:
  DevicePath(DeviceLedger& ledger, bool perform) : l_(ledger), perform_(perform) {}
  // Synchronous copies (one sync each, as kernels/cuda/runtime_api does them). The tensors are
  // only touched when performing: a count-only caller passes null.
  void upload(int64_t bytes, Tensor* device_dst, const Tensor* host_src);
  void download(int64_t bytes, Tensor* host_dst, const Tensor* device_src);
  void sync();
  void launched(int64_t n) { l_.launches += n; }
  // Reads the kernels' fault record (a download of the record and a sync); returns its message
  // ("" when none) and the node tag that raised it.
  std::string take_fault(int* tag);
  void allocated(int64_t count, int64_t bytes) { l_.allocations += count, l_.allocation_bytes += bytes; }
  const DeviceLedger& ledger() const { return l_; }

 private:
  DeviceLedger& l_;
  bool perform_;
};

// Every device allocation this process has made so far (cudaMalloc calls and their bytes, scratch
// growth included, from kernels/cuda/runtime_api); zeros in a build without CUDA.
void device_allocation_totals(int64_t* count, int64_t* bytes);

// Bytes of the kernels' fault record (one download per CUDA run).
int64_t cuda_fault_record_bytes();

}  // namespace golf
