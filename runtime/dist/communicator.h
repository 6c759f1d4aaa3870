// Data-parallel ranks (DESIGN.md §8: the field's engines, not a home-made transport). The trainer
// and the evaluator see only this interface; which engine moves the bytes is chosen at start-up
// (runtime/dist/launch.h):
//   single  one process, every collective is the identity;
//   mpi     ranks started by mpirun, MPI_Allreduce on host buffers (built with GOLFRT_MPI);
//   nccl    one GPU per rank, ncclAllReduce (a CUDA build with NCCL), its unique id handed over
//           by MPI or by the file of `golfrt train --nproc N`.
// Every collective is called by every rank in the same order with the same n; a rank that cannot
// go on calls abort(), which ends the whole job instead of leaving the others waiting.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

namespace golf {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string engine() const = 0;  // "single", "mpi", "nccl"

  // In place, on host memory: x ← Σ over ranks of x.
  virtual void allreduce_sum(float* x, int64_t n) = 0;
  virtual void allreduce_sum(double* x, int64_t n) = 0;
  // In place, on device memory (each pair a device buffer and its element count, f32 or f64):
  // every buffer summed over ranks, in one collective. False when this engine reduces host
  // memory only (the caller then stages through the host); NCCL does it.
  virtual bool allreduce_sum_device(const std::vector<std::pair<void*, int64_t>>& buffers, DType dtype) {
    (void)buffers, (void)dtype;
    return false;
  }
  virtual void barrier() = 0;
  // Ends every rank of the job with a non-zero status; prints `why` first.
  [[noreturn]] virtual void abort(const std::string& why) = 0;

  bool is_root() const { return rank() == 0; }
};

// True for every engine but "single", even with one rank (`--nproc 1` runs the NCCL path).
inline bool distributed(const Communicator* c) { return c && c->engine() != "single"; }

std::unique_ptr<Communicator> single_process_communicator();

// Σ over ranks of every tensor of `ts` (tensors of one float type, f32 or f64), flattened into one
// buffer in name order: one collective per call, however many tensors. Device tensors: on the
// stand-in device reduced in its (host) memory; on a GPU in place when the engine can
// (allreduce_sum_device: NCCL), else staged through host copies (counted).
void allreduce_sum(Communicator& comm, std::map<std::string, Tensor>& ts);
// Rank 0's value on every rank (a sum in which the others contribute zero).
double broadcast_from_root(Communicator& comm, double x);

}  // namespace golf
