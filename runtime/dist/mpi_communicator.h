// The MPI engine (only in a build with GOLFRT_MPI; runtime/dist/launch.h decides when to use it).
#pragma once
#include <memory>

#include "runtime/dist/communicator.h"

namespace golf {

// MPI_Init (once per process) and MPI_COMM_WORLD; MPI_Finalize when destroyed.
std::unique_ptr<Communicator> mpi_communicator();

}  // namespace golf
