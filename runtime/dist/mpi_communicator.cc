// MPI ranks (mpirun -np N golfrt train ...): MPI_Allreduce on host buffers. Errors are fatal (MPI's
// default handler), and abort() is MPI_Abort, which makes mpirun end every rank; mpirun also ends
// the job when a rank dies (a signal) or exits non-zero without finalizing.
#include "runtime/dist/mpi_communicator.h"

// The C API only (OpenMPI's C++ bindings do not compile warning-free).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace golf {

namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw std::runtime_error(std::string(what) + ": " + std::string(msg, size_t(len)));
}

class Mpi final : public Communicator {
 public:
  Mpi() {
    int ready = 0;
    MPI_Initialized(&ready);
    if (!ready) check(MPI_Init(nullptr, nullptr), "MPI_Init");
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~Mpi() override {
    int done = 0;
    MPI_Finalized(&done);
    if (!done) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string engine() const override { return "mpi"; }
  // MPI counts are int: large buffers go in pieces.
  void allreduce_sum(float* x, int64_t n) override { reduce(x, n, MPI_FLOAT); }
  void allreduce_sum(double* x, int64_t n) override { reduce(x, n, MPI_DOUBLE); }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
  [[noreturn]] void abort(const std::string& why) override {
    std::fprintf(stderr, "golfrt rank %d: %s (aborting every rank)\n", rank_, why.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);  // MPI_Abort does not return; in case an implementation does
  }

 private:
  template <class T>
  void reduce(T* x, int64_t n, MPI_Datatype type) {
    const int64_t chunk = int64_t(1) << 30;
    for (int64_t off = 0; off < n; off += chunk) {
      int k = int(std::min(chunk, n - off));
      check(MPI_Allreduce(MPI_IN_PLACE, x + off, k, type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    }
  }
  int rank_ = 0, size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> mpi_communicator() { return std::make_unique<Mpi>(); }

}  // namespace golf
