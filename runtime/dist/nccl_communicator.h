// The NCCL engine: one GPU per rank (only in a CUDA build that found NCCL, GOLFRT_WITH_NCCL).
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "runtime/dist/communicator.h"

namespace golf {

// Every rank calls it; share_id(root's id on rank 0, "" elsewhere) must return rank 0's unique id
// on every rank (runtime/dist/launch.cc: through a file, or through MPI). `bootstrap`, when given,
// stays alive beside NCCL: its barrier and abort (MPI_Abort ends an mpirun job) are used.
// The rank uses the process's current CUDA device (the launcher makes it the rank's own GPU with
// CUDA_VISIBLE_DEVICES).
std::unique_ptr<Communicator> nccl_communicator(int rank, int size,
                                                const std::function<std::string(const std::string&)>& share_id,
                                                std::unique_ptr<Communicator> bootstrap);

}  // namespace golf
