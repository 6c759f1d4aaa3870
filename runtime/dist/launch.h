// How a `golfrt train` process learns it is one rank of several, and the local launcher.
//
//   mpirun -np N golfrt train ...        OpenMPI's environment (OMPI_COMM_WORLD_SIZE, ...): MPI
//                                         ranks; with --device cuda, NCCL on one GPU per local
//                                         rank, its unique id broadcast over MPI
//   golfrt train --nproc N ...           this process starts N ranks of itself (GOLFRT_RANK,
//                                         GOLFRT_WORLD_SIZE, GOLFRT_LOCAL_RANK, GOLFRT_NCCL_ID_FILE):
//                                         NCCL only (--device cuda), the unique id through a file
//   otherwise                            one process
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "runtime/dist/communicator.h"

namespace golf {

// What this build can run: "mpi", "nccl" (comma-separated, "" for neither).
std::string distributed_engines();

// The communicator for this process, from its environment. `cuda`: the rank trains on a GPU (NCCL);
// then, under mpirun, CUDA_VISIBLE_DEVICES is narrowed to the local rank's GPU, so call this before
// anything touches CUDA. Throws plainly when the environment asks for an engine this build lacks.
std::unique_ptr<Communicator> make_communicator(bool cuda);

// `golfrt train --nproc N`: runs N copies of this executable with `args` (the command line after
// the executable, without --nproc), one GPU each (CUDA_VISIBLE_DEVICES), and waits. When a rank
// exits non-zero or dies, the others get SIGTERM (SIGKILL 10 s later) and this returns non-zero.
int run_local_ranks(int nproc, const std::vector<std::string>& args);

}  // namespace golf
