// The CUDA backend: maps one graph node onto the kernels of kernels/cuda/. Built only with
// GOLFRT_WITH_CUDA. Tensors are device tensors (Device::cuda), fp32 for real values, or bf16 where
// runtime/precision_pass.h's rule stored them so (checked per call against its capability table).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/graph.h"

namespace golf {

struct CudaRunOptions {
  bool matmul_fp32 = false;  // fp32 inputs and compute instead of bf16 inputs (DESIGN §3)
  // Bit i: the node's input i is a weight (a parameter leaf) whose bf16 copy the matmul takes from
  // the process's bf16 weight cache (runtime/bf16_weight_cache.h) instead of converting it per call.
  uint32_t cached_inputs = 0;
  // attention and attention_backward on the fp32 CUDA-core kernel (kernels/cuda/attention.cu)
  // instead of the bf16 tensor-core one (attention_tc.cu); attention_cached always runs fp32.
  bool attention_fp32 = false;
};

// bf16 conversions of cached-weight operands so far (the cache's misses, plus the conversions of
// flagged operands that could not be cached: a part of a larger buffer). The executor's ledger
// counts the difference over a run as launches.
int64_t cuda_weight_conversions();

// The executor's prepare (runtime/executor.h): the bf16 copy of a weight that matmuls read through
// the weight cache, converted now when stale, so no conversion happens among the launches; null
// for a tensor the cache does not hold (the matmul converts it into scratch, a launch of its own).
const void* cuda_prepare_weight(const Tensor& t);
// While frozen, a weight cache miss throws (a CUDA graph capture: nothing may convert inside it).
void cuda_freeze_weight_cache(bool frozen);

// True when kernels/cuda/ has a kernel for the op. The executor asks at plan time, so a missing
// kernel is an error before anything runs, never a silent CPU fallback.
bool cuda_has_kernel(Op op);

// Launches the node's kernels on the CUDA stream (asynchronously). `tag` identifies the node in a
// fault a kernel raises (ids or targets out of range, a full KV cache); see cuda_take_fault.
void cuda_run_node(const Node& n, const std::vector<Tensor>& ins, std::vector<Tensor>& outs, int tag,
                   const CudaRunOptions& opt);

// Waits for the stream; when a kernel raised a fault, returns its message (with the tag it
// carried in *tag) and clears it; "" when there was none.
std::string cuda_take_fault(int* tag);

}  // namespace golf
