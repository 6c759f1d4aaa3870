// NCCL ranks. Host buffers (allreduce_sum: the loss, the evaluation's sums) are staged through one
// device scratch buffer: copy in, ncclAllReduce, copy out, on the rank's own stream. Device
// buffers (allreduce_sum_device: the trainer's resident gradients, Muon's update buffers) are
// reduced in place, all of them in one NCCL group, after golfrt's stream has finished writing them.
//
// No hang: while a collective runs, the host polls the stream and ncclCommGetAsyncError; a peer
// that failed (NCCL reports it) or a collective that takes longer than GOLFRT_DIST_TIMEOUT_S
// (default 300 s) aborts the communicator (ncclCommAbort) and the rank exits non-zero.
#include "runtime/dist/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "kernels/cuda/runtime_api.h"

namespace golf {

namespace {

void cuda_check(cudaError_t e, int rank, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error("NCCL rank " + std::to_string(rank) + ": " + what + ": " + cudaGetErrorString(e));
}

class Nccl final : public Communicator {
 public:
  Nccl(int rank, int size, const std::function<std::string(const std::string&)>& share_id, std::unique_ptr<Communicator> bootstrap)
      : rank_(rank), size_(size), bootstrap_(std::move(bootstrap)) {
    const char* t = std::getenv("GOLFRT_DIST_TIMEOUT_S");
    if (t && *t) timeout_s_ = std::atof(t);
    ncclUniqueId id;
    std::string mine;
    if (rank == 0) {
      nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
      mine.assign(reinterpret_cast<const char*>(&id), sizeof id);
    }
    std::string root = share_id(mine);
    if (root.size() != sizeof id)
      throw std::runtime_error("NCCL rank " + std::to_string(rank) + ": the unique id has " + std::to_string(root.size()) +
                               " bytes, not " + std::to_string(sizeof id));
    std::memcpy(&id, root.data(), sizeof id);
    cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), rank_, "cudaStreamCreate");
    // Non-blocking init, so that a peer that never arrives is a timeout, not a hang.
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    ncclResult_t r = ncclCommInitRankConfig(&comm_, size, id, rank, &cfg);
    if (r != ncclSuccess && r != ncclInProgress) nccl_check(r, "ncclCommInitRankConfig");
    wait_comm("ncclCommInitRank");
  }
  ~Nccl() override {
    if (comm_) ncclCommDestroy(comm_);
    if (scratch_) cudaFree(scratch_);
    if (stream_) cudaStreamDestroy(stream_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string engine() const override { return "nccl"; }
  void allreduce_sum(float* x, int64_t n) override { reduce(x, n, ncclFloat32, sizeof(float)); }
  void allreduce_sum(double* x, int64_t n) override { reduce(x, n, ncclFloat64, sizeof(double)); }
  void barrier() override {
    float one = 1;
    allreduce_sum(&one, 1);
  }
  [[noreturn]] void abort(const std::string& why) override {
    std::fprintf(stderr, "golfrt rank %d: %s (aborting)\n", rank_, why.c_str());
    std::fflush(stderr);
    if (comm_) ncclCommAbort(comm_);
    comm_ = nullptr;
    if (bootstrap_) bootstrap_->abort(why);
    std::_Exit(1);
  }

 private:
  void nccl_check(ncclResult_t r, const char* what) {
    if (r == ncclSuccess) return;
    std::string msg = std::string("NCCL rank ") + std::to_string(rank_) + ": " + what + ": " + ncclGetErrorString(r);
    const char* last = comm_ ? ncclGetLastError(comm_) : nullptr;
    if (last && *last) msg += std::string(" (") + last + ")";
    abort(msg);
  }
  // Polls until the communicator's pending operation is done, failing on an async error or the timeout.
  void wait_comm(const char* what) {
    auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      ncclResult_t state = ncclSuccess;
      ncclCommGetAsyncError(comm_, &state);
      if (state == ncclSuccess) return;
      if (state != ncclInProgress) nccl_check(state, what);
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout_s_)
        abort(std::string(what) + ": no progress for " + std::to_string(int(timeout_s_)) + " s (a peer is gone?)");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  bool allreduce_sum_device(const std::vector<std::pair<void*, int64_t>>& buffers, DType dtype) override {
    if (dtype != DType::f32 && dtype != DType::f64) return false;
    const ncclDataType_t type = dtype == DType::f32 ? ncclFloat32 : ncclFloat64;
    golf::cuda::synchronize();  // the kernels that wrote the buffers ran on golfrt's stream
    ncclResult_t r = ncclGroupStart();
    if (r != ncclSuccess) nccl_check(r, "ncclGroupStart");
    for (const auto& [p, n] : buffers) {
      if (n <= 0) continue;
      r = ncclAllReduce(p, p, size_t(n), type, ncclSum, comm_, stream_);
      if (r != ncclSuccess && r != ncclInProgress) nccl_check(r, "ncclAllReduce (device buffers)");
    }
    r = ncclGroupEnd();
    if (r != ncclSuccess && r != ncclInProgress) nccl_check(r, "ncclGroupEnd");
    wait_comm("ncclAllReduce (device buffers)");
    wait_stream();  // golfrt's next kernels read the sums
    return true;
  }
  void reduce(void* x, int64_t n, ncclDataType_t type, size_t elem) {
    if (n == 0) return;
    const size_t bytes = size_t(n) * elem;
    if (bytes > scratch_bytes_) {
      if (scratch_) cuda_check(cudaFree(scratch_), rank_, "cudaFree");
      cuda_check(cudaMalloc(&scratch_, bytes), rank_, "cudaMalloc (all-reduce buffer)");
      scratch_bytes_ = bytes;
    }
    cuda_check(cudaMemcpyAsync(scratch_, x, bytes, cudaMemcpyHostToDevice, stream_), rank_, "cudaMemcpy to the device");
    ncclResult_t r = ncclAllReduce(scratch_, scratch_, size_t(n), type, ncclSum, comm_, stream_);
    if (r != ncclSuccess && r != ncclInProgress) nccl_check(r, "ncclAllReduce");
    wait_comm("ncclAllReduce");
    cuda_check(cudaMemcpyAsync(x, scratch_, bytes, cudaMemcpyDeviceToHost, stream_), rank_, "cudaMemcpy to the host");
    wait_stream();
  }
  // Polls the rank's stream until the collective's work is done, watching for a failed peer.
  void wait_stream() {
    auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      cudaError_t e = cudaStreamQuery(stream_);
      if (e == cudaSuccess) break;
      if (e != cudaErrorNotReady) cuda_check(e, rank_, "ncclAllReduce stream");
      ncclResult_t state = ncclSuccess;
      ncclCommGetAsyncError(comm_, &state);
      if (state != ncclSuccess && state != ncclInProgress) nccl_check(state, "ncclAllReduce");
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout_s_)
        abort("ncclAllReduce: not finished after " + std::to_string(int(timeout_s_)) + " s (a peer is gone?)");
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  int rank_, size_;
  std::unique_ptr<Communicator> bootstrap_;
  double timeout_s_ = 300;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  void* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> nccl_communicator(int rank, int size,
                                                const std::function<std::string(const std::string&)>& share_id,
                                                std::unique_ptr<Communicator> bootstrap) {
  return std::make_unique<Nccl>(rank, size, share_id, std::move(bootstrap));
}

}  // namespace golf
